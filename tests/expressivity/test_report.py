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
