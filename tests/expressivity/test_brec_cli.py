"""``hodgnn brec``'s command line and records: the JSON and table it writes, --resume, and --merge of
runs made in parallel (on real BREC pairs where the file is there)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from hodgnn.data.root import resolve_data_root
from hodgnn.expressivity.brec import PairResult, RPCConfig, summarize
from hodgnn.expressivity.brec_cli import (
    load_report,
    main,
    markdown_table,
    merge_reports,
    resumed_header,
    with_earlier_records,
)

BREC_FILE = resolve_data_root() / "brec" / "brec_v3.npy.xz"
needs_data = pytest.mark.skipif(not BREC_FILE.is_file(), reason=f"{BREC_FILE} not available")


def test_table_shows_counted_over_evaluated_per_category_and_group(pair_results):
    table = markdown_table({"m": {"summary": summarize(pair_results), "wall_s": 3.0}}).splitlines()
    assert table[0].startswith("| model | Basic (60) | Simple reg. (50) | Strongly reg. (50) |")
    assert table[2] == "| m | 1/2 | - | 1/1 | - | 0/1 | 1/2 | 1/2 | - | - | 2/4 | 1 | 0 | 3 s |"


@needs_data
def test_command_line_writes_json_and_table(tmp_path, capsys):
    output = tmp_path / "brec.json"
    table_file = tmp_path / "brec.md"
    argv = ["--models", "gin", "--pairs", "0", "--epochs", "2", "--set", "hidden_channels=16"]
    assert main([*argv, "--output", str(output), "--markdown", str(table_file)]) == 0
    payload = json.loads(output.read_text())
    entry = payload["models"]["gin"]
    assert entry["options"] == {"hidden_channels": 16}
    assert len(entry["pairs"]) == 1 and entry["pairs"][0]["pair_id"] == 0
    assert entry["summary"]["categories"]["basic"]["evaluated"] == 1
    assert payload["config"]["epochs"] == 2
    assert table_file.read_text().strip() == payload["markdown"]
    assert payload["complete"] is True
    assert "| gin | 0/1 |" in capsys.readouterr().out

    # --resume reuses pair 0 (same record, same time) and adds pair 1
    argv[argv.index("0")] = "0,1"
    assert main([*argv, "--output", str(output), "--resume"]) == 0
    resumed = json.loads(output.read_text())["models"]["gin"]
    assert [p["pair_id"] for p in resumed["pairs"]] == [0, 1]
    assert resumed["pairs"][0] == entry["pairs"][0]
    assert resumed["wall_s"] == pytest.approx(sum(p["seconds"] for p in resumed["pairs"]))

    # resuming with another model and one pair keeps gin's records
    argv[argv.index("gin")], argv[argv.index("0,1")] = "gin_rwse", "1"
    assert main([*argv, "--output", str(output), "--resume"]) == 0
    both = json.loads(output.read_text())
    assert both["models"]["gin"] == resumed and both["pair_ids"] == [0, 1]
    assert [p["pair_id"] for p in both["models"]["gin_rwse"]["pairs"]] == [1]


@needs_data
def test_merge_combines_parallel_runs(tmp_path):
    argv = ["--models", "gin", "--epochs", "2", "--set", "hidden_channels=16"]
    first, second, merged = (tmp_path / f"{name}.json" for name in ("first", "second", "merged"))
    assert main([*argv, "--pairs", "1", "--output", str(first)]) == 0
    assert main([*argv, "--pairs", "0,1", "--output", str(second)]) == 0
    assert main(["--merge", str(first), str(second), "--output", str(merged)]) == 0
    a, b, report = load_report(first), load_report(second), load_report(merged)
    pairs = report["models"]["gin"]["pairs"]
    assert [p["pair_id"] for p in pairs] == [0, 1] and report["pair_ids"] == [0, 1]
    assert pairs == [b["models"]["gin"]["pairs"][0], a["models"]["gin"]["pairs"][0]]
    assert report["models"]["gin"]["summary"]["categories"]["basic"]["evaluated"] == 2
    assert report["models"]["gin"]["wall_s"] == pytest.approx(sum(p["seconds"] for p in pairs))
    other = tmp_path / "other.json"
    assert main([*argv, "--pairs", "0", "--lr", "0.001", "--output", str(other)]) == 0
    with pytest.raises(ValueError, match="different RPC configs"):
        main(["--merge", str(first), str(other), "--output", str(merged)])


def test_merge_prefers_an_evaluated_record_to_a_not_run_one():
    evaluated = asdict(PairResult(0, "basic", 500.0, 1.0, True, True, True, 2, 0.1, 3.0))
    second = asdict(PairResult(1, "basic", 1.0, 1.0, False, True, False, 2, 0.1, 4.0))

    def report(pairs: list[dict]) -> dict:
        return {
            "benchmark": "BREC",
            "date": "d",
            "machine": "m",
            "command": "c",
            "complete": True,
            "config": asdict(RPCConfig()),
            "pair_ids": [p["pair_id"] for p in pairs],
            "category_titles": {},
            "models": {"gin": {"model": "gin", "options": {}, "description": "", "pairs": pairs}},
        }

    not_run = asdict(PairResult.not_run(0, "basic", 1.0, "over budget"))
    merged_header = merge_reports([report([evaluated]), {**report([second]), "machine": "m2", "date": "e"}])
    provenance = [merged_header[key] for key in ("date", "machine", "command")]
    assert provenance == ["d, e", "m + m2", "c"]
    assert merged_header["runs"] == [
        {"date": "d", "machine": "m", "command": "c"},
        {"date": "e", "machine": "m2", "command": "c"},
    ]  # which machine ran what stays traceable
    again = merge_reports([merged_header, {**report([second]), "machine": "m3", "date": "f"}])
    assert [run["machine"] for run in again["runs"]] == ["m", "m2", "m3"]
    for order in ((0, 1), (1, 0)):
        reports = [report([not_run, second]), report([evaluated])]
        merged = merge_reports([reports[i] for i in order])["models"]["gin"]
        assert merged["pairs"] == [evaluated, second]
        basic = merged["summary"]["categories"]["basic"]
        assert (basic["evaluated"], basic["not_run"], basic["counted"]) == (2, 0, 1)
        assert merged["wall_s"] == pytest.approx(7.0)


def test_merge_is_complete_once_the_pairs_of_an_interrupted_run_ran_elsewhere():
    def record(pair_ids: list[int], run: list[int], complete: bool) -> dict:
        pairs = [asdict(PairResult(i, "basic", 1.0, 1.0, False, True, False, 2, 0.1, 1.0)) for i in run]
        return {
            "benchmark": "BREC",
            "date": "d",
            "machine": "m",
            "command": "c",
            "complete": complete,
            "config": asdict(RPCConfig()),
            "pair_ids": pair_ids,
            "category_titles": {},
            "models": {"gin": {"model": "gin", "options": {}, "description": "", "pairs": pairs}},
        }

    interrupted = record([0, 1, 2], [0], complete=False)
    assert merge_reports([interrupted, record([1], [1], True)])["complete"] is False  # pair 2 missing
    assert merge_reports([interrupted, record([1, 2], [1, 2], True)])["complete"] is True
    assert merge_reports([record([0], [0], True), record([1], [1], True)])["complete"] is True


def test_resumed_run_keeps_the_records_it_did_not_redo():
    """A resume with other --models or --pairs adds to the JSON: other models stay as they were, a
    model's earlier pairs outside the selection stay when its options match, the new record of a pair
    wins, and summaries / wall times are recounted; a model whose options changed keeps only new pairs.
    """

    def record(pair_id: int, counted: bool, seconds: float) -> dict:
        return asdict(
            PairResult(
                pair_id, "basic", 1e3 if counted else 1.0, 1.0, counted, True, counted, 2, 0.1, seconds
            )
        )

    def entry(options: dict, pairs: list[dict]) -> dict:
        return {"model": "gin", "options": options, "description": "", "pairs": pairs}

    previous = {
        "ds_gnn": entry({}, [record(0, True, 5.0)]),
        "gin": entry({"hidden_channels": 8}, [record(4, True, 2.0), record(1, False, 9.0)]),
        "hod2": entry({"order": 2}, [record(2, True, 7.0)]),
    }
    report = {
        "gin": entry({"hidden_channels": 8}, [record(1, True, 3.0)]),
        "hod2": entry({"order": 3}, [record(3, False, 1.0)]),
    }
    combined = with_earlier_records(report, previous)
    assert combined["ds_gnn"] == previous["ds_gnn"]
    gin = combined["gin"]
    assert [p["pair_id"] for p in gin["pairs"]] == [1, 4]
    assert gin["pairs"][0] == report["gin"]["pairs"][0]  # the new record of pair 1
    assert gin["summary"]["categories"]["basic"]["counted"] == 2
    assert gin["wall_s"] == pytest.approx(5.0)
    assert [p["pair_id"] for p in combined["hod2"]["pairs"]] == [3]  # options changed: pair 2 dropped
    assert with_earlier_records(report, None) is report


def test_resumed_header_keeps_the_earlier_dates_commands_and_machines():
    earlier = {"date": "d1, d2", "command": "hodgnn brec a; hodgnn brec b", "machine": "m1"}
    new = {"benchmark": "BREC", "date": "d3", "command": "hodgnn brec b", "machine": "m1"}
    header = resumed_header(earlier, new)
    joined = {"date": "d1, d2, d3", "command": "hodgnn brec a; hodgnn brec b", "machine": "m1"}
    assert {key: value for key, value in header.items() if key != "runs"} == {**new, **joined}
    assert resumed_header({}, new) == new
    assert resumed_header(earlier, {**new, "machine": "m2"})["machine"] == "m1 + m2"
    assert header["runs"] == [
        {"date": "d1, d2", "machine": "m1", "command": "hodgnn brec a; hodgnn brec b"},
        {"date": "d3", "machine": "m1", "command": "hodgnn brec b"},
    ]
    # a second resume keeps every earlier run as its own entry
    later = resumed_header(header, {**new, "date": "d4", "machine": "m2"})
    assert [run["date"] for run in later["runs"]] == ["d1, d2", "d3", "d4"]
    assert later["machine"] == "m1 + m2" and later["date"] == "d1, d2, d3, d4"
