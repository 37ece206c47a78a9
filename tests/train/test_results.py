"""Result aggregation over seeds against :mod:`statistics`, on hand-made ``results.json`` files."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from hodgnn.io import atomic_write_json
from hodgnn.train.results import (
    aggregate,
    collect_results,
    format_mean_std,
    markdown_table,
    mean_std,
    read_json,
)


def run(dataset, model, seed, test, val, status="completed", seconds=2.0, epochs=10, metric="mae"):
    return {
        "dataset": dataset,
        "model": model,
        "run_name": model,
        "seed": seed,
        "status": status,
        "metric": metric,
        "higher_is_better": metric != "mae",
        "test_metric": test,
        "val_metric": val,
        "num_parameters": 1234,
        "seconds_per_epoch": seconds,
        "epochs_run": epochs,
        "device": "cpu",
    }


@pytest.fixture
def runs_folder(tmp_path):
    records = [
        run("zinc", "gin", 2, 0.31, 0.30, seconds=3.0),
        run("zinc", "gin", 0, 0.25, 0.27, seconds=1.0),
        run("zinc", "gin", 1, 0.28, 0.26, seconds=2.0, epochs=8),
        run("zinc", "gin", 3, float("nan"), float("nan"), status="failed"),
        run("molbace", "hodgnn", 0, 0.80, 0.75, metric="rocauc"),
        run("molbace", "hodgnn", 1, 0.84, 0.73, metric="rocauc"),
    ]
    for record in records:
        folder = tmp_path / record["dataset"] / record["model"] / f"seed_{record['seed']}"
        atomic_write_json(folder / "results.json", record)
    (tmp_path / "zinc" / "gin" / "notes.json").write_text("{}")  # not a results.json: ignored
    return tmp_path


def test_mean_std_is_the_sample_standard_deviation():
    values = [0.25, 0.28, 0.31, 0.4]
    mean, std = mean_std(values)
    assert mean == pytest.approx(statistics.mean(values), abs=1e-15)
    assert std == pytest.approx(statistics.stdev(values), abs=1e-15)
    assert mean_std([0.5]) == (0.5, 0.0)
    assert all(math.isnan(v) for v in mean_std([]))


def test_results_are_collected_and_aggregated_per_group(runs_folder):
    results = collect_results(runs_folder)
    assert len(results) == 6
    assert results[0] == read_json(runs_folder / "molbace" / "hodgnn" / "seed_0" / "results.json")
    failed = [r for r in results if r["status"] == "failed"][0]
    assert failed["test_metric"] is None  # NaN was written as JSON null
    rows = {row["dataset"]: row for row in aggregate(results)}
    assert list(rows) == ["molbace", "zinc"]  # sorted groups; the failed seed is left out
    zinc = rows["zinc"]
    assert zinc["seeds"] == [0, 1, 2]
    assert zinc["test"] == [0.25, 0.28, 0.31] and zinc["val"] == [0.27, 0.26, 0.30]
    for split in ("test", "val"):
        expected = (statistics.mean(zinc[split]), statistics.stdev(zinc[split]))
        assert zinc[f"{split}_mean_std"] == pytest.approx(expected, abs=1e-15)
    assert zinc["seconds_per_epoch"] == pytest.approx(2.0)
    assert zinc["epochs"] == [8, 10] and zinc["num_parameters"] == 1234 and not zinc["higher_is_better"]
    bace = rows["molbace"]
    assert bace["test_mean_std"] == pytest.approx((0.82, statistics.stdev([0.80, 0.84])))
    assert bace["metric"] == "rocauc" and bace["higher_is_better"]


def test_markdown_table_formats_errors_and_percentages(runs_folder):
    table = markdown_table(aggregate(collect_results(runs_folder)))
    lines = table.strip().splitlines()
    assert lines[0].startswith("| dataset | model | metric | seeds | test | val |")
    assert len(lines) == 4  # header, rule, two groups
    zinc_test = f"{statistics.mean([0.25, 0.28, 0.31]):.4f} +- {statistics.stdev([0.25, 0.28, 0.31]):.4f}"
    assert f"| zinc | gin | mae ↓ | 3 | {zinc_test} |" in lines[3]
    bace_test = f"82.00 +- {100 * statistics.stdev([0.80, 0.84]):.2f}"
    assert f"| molbace | hodgnn | rocauc ↑ | 2 | {bace_test} |" in lines[2]
    assert lines[3].endswith("| 1,234 | 2.00 | 8/10 | cpu |")
    assert format_mean_std([0.5], "accuracy") == "50.00 +- 0.00"


def test_results_json_is_strict_json(runs_folder):
    text = (runs_folder / "zinc" / "gin" / "seed_3" / "results.json").read_text()
    assert "NaN" not in text and json.loads(text)["val_metric"] is None
