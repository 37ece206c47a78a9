import json

from hodgnn.expressivity.report import main, render


def _write(folder, name, **record):
    (folder / name).write_text(json.dumps(record))


def test_render_groups_records_by_benchmark_in_section_order(tmp_path):
    _write(
        tmp_path,
        "b.json",
        benchmark="substructure counting (x)",
        date="2026-01-02",
        command="c",
        machine="m",
        markdown="| counting |",
    )
    _write(
        tmp_path,
        "a.json",
        benchmark="BREC (RPC protocol)",
        date="2026-01-03",
        command="hodgnn brec",
        machine="m",
        complete=False,
        markdown="| brec |",
    )
    _write(
        tmp_path,
        "c.json",
        benchmark="BREC (RPC protocol)",
        date="2026-01-01",
        command="hodgnn brec 2",
        machine="m",
        complete=True,
        markdown="| brec 2 |",
    )
    _write(tmp_path, "no_table.json", benchmark="BREC (RPC protocol)", date="2026-01-01")
    page = render(tmp_path, "# Title\n")
    assert page.startswith("# Title\n")
    # BREC before counting; inside BREC, the older record first; the record without a table is skipped
    assert page.index("| brec 2 |") < page.index("| brec |") < page.index("| counting |")
    assert page.count("## ") == 2 and "no_table" not in page
    assert "`hodgnn brec` **(interrupted: partial record)**" in page
    assert "record [`c.json`](expressivity/c.json)" in page


def test_main_writes_the_page(tmp_path):
    _write(
        tmp_path,
        "s.json",
        benchmark="separation of EXP / SR25",
        date="d",
        command="c",
        machine="m",
        markdown="| sep |",
    )
    output = tmp_path / "page.md"
    assert main(["--folder", str(tmp_path), "--output", str(output), "--intro", str(tmp_path / "none")]) == 0
    assert "## EXP and SR25" in output.read_text() and "| sep |" in output.read_text()


def _brec_record(pairs: dict[str, list], lr: float = 1e-4) -> dict:
    from dataclasses import asdict

    from hodgnn.expressivity.brec import PairResult, RPCConfig, summarize
    from hodgnn.expressivity.brec_cli import markdown_table

    models = {}
    for name, results in pairs.items():
        records = [PairResult(*r) for r in results]
        models[name] = {
            "model": name,
            "options": {},
            "description": "",
            "pairs": [asdict(r) for r in records],
            "summary": summarize(records),
            "wall_s": sum(r.seconds for r in records),
        }
    return {
        "benchmark": "BREC (RPC protocol)",
        "date": "2026-01-01",
        "machine": "m",
        "command": "hodgnn brec",
        "complete": True,
        "config": asdict(RPCConfig(lr=lr)),
        "pair_ids": sorted({r[0] for results in pairs.values() for r in results}),
        "category_titles": {},
        "models": models,
        "markdown": markdown_table(models),
    }


def test_brec_section_starts_with_the_records_combined_per_model(tmp_path):
    nan = float("nan")
    counted = (True, True, True, 3, 0.1)
    not_run = (nan, nan, False, False, False, 0, nan, 1.0, "over budget")
    first = _brec_record({"gin": [(0, "basic", 1.0, 1.0, False, True, False, 3, 0.1, 2.0)]})
    second_pairs = {
        "gin": [(110, "strongly_regular", 500.0, 1.0, *counted, 4.0)],
        "hod2": [(110, "strongly_regular", *not_run)],
    }
    second = _brec_record(second_pairs)
    third_pairs = {"hod2": [(110, "strongly_regular", 900.0, 2.0, *counted, 8.0)]}
    third = _brec_record(third_pairs)
    for name, record in (("a", first), ("b", second), ("c", third)):
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    page = render(tmp_path)
    combined = page[page.index("The 3 records") : page.index("`hodgnn brec`")]
    assert "| gin | 0/1 | - | 1/1 |" in combined and "| 6 s |" in combined
    assert "| hod2 | - | - | 1/1 |" in combined and "| 0 | 0 | 8 s |" in combined

    # a record with another RPC config is shown apart only: the other two are still combined
    (tmp_path / "c.json").write_text(json.dumps(_brec_record(third_pairs, lr=1.0)))
    page = render(tmp_path)
    combined = page[page.index("The 2 records") : page.index("`hodgnn brec`")]
    assert "| hod2 | - | - | - |" in combined and "| 0 | 1 | 1 s |" in combined
    assert "`hodgnn brec` **(not the official protocol: lr=1.0)**" in page
    (tmp_path / "b.json").write_text(json.dumps(_brec_record(second_pairs, lr=1.0)))
    assert "records below that use the official" not in render(tmp_path)


def test_combined_brec_rows_follow_the_record_with_the_most_models(tmp_path):
    pair = (0, "basic", 1.0, 1.0, False, True, False, 3, 0.1, 2.0)
    early = _brec_record({"hod2": [pair]})
    late = {**_brec_record({"gin": [pair], "gin_rwse": [pair]}), "date": "2026-02-01"}
    for name, record in (("early", early), ("late", late)):
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    page = render(tmp_path)
    combined = page[page.index("The 2 records") : page.index("`hodgnn brec`")]
    assert combined.index("| gin |") < combined.index("| gin_rwse |") < combined.index("| hod2 |")
