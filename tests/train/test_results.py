"""Result aggregation over seeds against :mod:`statistics`, and Welch's t-test against the best model
against ``scipy.stats.ttest_ind(equal_var=False)``, on hand-made ``results.json`` files."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from hodgnn.io import atomic_write_json
from hodgnn.train.results import (
    Reference,
    aggregate,
    collect_results,
    compare_to_best,
    format_mean_std,
    format_p_value,
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


@pytest.fixture
def comparison_folder(tmp_path):
    """Five zinc experiments (MAE, lower is better) with 4, 3, 4, 2 and 1 seeds, a failed seed, and two
    molbace ones (ROC-AUC, higher is better)."""
    seeds = {
        ("zinc", "gin", "mae"): [0.20, 0.21, 0.19, 0.22],
        ("zinc", "gine", "mae"): [0.24, 0.27, 0.22],  # p = 0.10: < 0.2, not < 0.05
        ("zinc", "hodgnn", "mae"): [0.19, 0.26, 0.21, 0.24],
        ("zinc", "pna", "mae"): [0.21, 0.23],
        ("zinc", "gat", "mae"): [0.50],
        ("molbace", "gin", "rocauc"): [0.75, 0.78, 0.76],
        ("molbace", "hodgnn", "rocauc"): [0.80, 0.84, 0.82],
    }
    records = [
        run(dataset, model, seed, test, test + 0.01, metric=metric)
        for (dataset, model, metric), values in seeds.items()
        for seed, test in enumerate(values)
    ]
    records.append(run("zinc", "gat", 1, float("nan"), float("nan"), status="failed"))
    for record in records:
        folder = tmp_path / "runs" / record["dataset"] / record["model"] / f"seed_{record['seed']}"
        atomic_write_json(folder / "results.json", record)
    return tmp_path, seeds


def test_compare_to_best_respects_the_direction_and_skips_single_groups(comparison_folder):
    folder, seeds = comparison_folder
    groups = {g["dataset"]: g for g in compare_to_best(aggregate(collect_results(folder / "runs")))}
    assert groups["zinc"]["best_model"] == "gin" and not groups["zinc"]["higher_is_better"]
    assert groups["zinc"]["best_test_mean"] == pytest.approx(statistics.mean(seeds["zinc", "gin", "mae"]))
    assert groups["molbace"]["best_model"] == "hodgnn" and groups["molbace"]["higher_is_better"]
    assert [c["model"] for c in groups["zinc"]["comparisons"]] == ["gat", "gine", "hodgnn", "pna"]
    single = [r for r in aggregate(collect_results(folder / "runs")) if r["model"] == "gine"]
    assert compare_to_best(single) == []  # one experiment: nothing to compare
    rows = aggregate(collect_results(folder / "runs" / "zinc" / "gin", folder / "runs" / "zinc" / "pna"))
    assert compare_to_best(rows)[0]["best_model"] == "gin"  # several folders
    assert len(collect_results(folder / "runs", folder / "runs" / "zinc")) == 21  # each file once


def test_summarize_reports_welch_p_against_the_best(comparison_folder, capsys):
    scipy_stats = pytest.importorskip("scipy.stats")
    from hodgnn.cli import main

    folder, seeds = comparison_folder
    table_path = folder / "table.md"
    assert main(["summarize", str(folder / "runs"), "--output", str(table_path)]) == 0
    printed = capsys.readouterr().out
    assert printed == table_path.read_text()
    summary = read_json(folder / "table.json")  # beside --output
    assert summary["significance_level"] == 0.2 and summary["min_seeds"] == 3
    assert [row["model"] for row in summary["rows"]] == [
        "gin",
        "hodgnn",
        "gat",
        "gin",
        "gine",
        "hodgnn",
        "pna",
    ]
    groups = {g["dataset"]: g for g in summary["comparisons"]}
    zinc = groups["zinc"]
    assert (zinc["best_model"], zinc["best_num_seeds"]) == ("gin", 4)
    best = seeds["zinc", "gin", "mae"]
    comparisons = {c["model"]: c for c in zinc["comparisons"]}
    for model in ("gine", "hodgnn", "pna"):
        expected = scipy_stats.ttest_ind(best, seeds["zinc", model, "mae"], equal_var=False)
        c = comparisons[model]
        assert c["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-9)
        assert c["welch_t"] == pytest.approx(float(expected.statistic), rel=1e-12)
        assert c["welch_df"] == pytest.approx(float(expected.df), rel=1e-12)
        assert c["significant"] == (float(expected.pvalue) < 0.2) and c["reason"] is None
    assert comparisons["gine"]["significant"] and not comparisons["hodgnn"]["significant"]
    assert [comparisons[m]["fewer_than_3_seeds"] for m in ("gine", "hodgnn", "pna", "gat")] == [
        False,
        False,
        True,
        True,
    ]
    gat = comparisons["gat"]
    assert gat["p_value"] is None and gat["significant"] is None and gat["num_seeds"] == 1
    assert gat["reason"] == "fewer than 2 seeds (4 vs 1)"
    bace = groups["molbace"]["comparisons"][0]
    expected = scipy_stats.ttest_ind([0.80, 0.84, 0.82], [0.75, 0.78, 0.76], equal_var=False)
    assert groups["molbace"]["best_model"] == "hodgnn" and bace["model"] == "gin"
    assert (
        bace["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-9) and not bace["fewer_than_3_seeds"]
    )

    lines = printed.splitlines()
    assert lines[0].endswith("| device | Welch p vs best |")
    cells = {tuple(line.split(" | ")[:2]): line.rsplit(" | ", 1)[1].rstrip(" |") for line in lines[2:9]}
    assert cells["| zinc", "gin"] == "best"
    assert cells["| zinc", "gine"] == f"{comparisons['gine']['p_value']:.3f} *"
    assert cells["| zinc", "hodgnn"] == f"{comparisons['hodgnn']['p_value']:.3f}"
    assert cells["| zinc", "pna"] == f"{comparisons['pna']['p_value']:.3f} (< 3 seeds)"
    assert cells["| zinc", "gat"] == "n/a (< 3 seeds)"
    assert cells["| molbace", "hodgnn"] == "best"
    assert cells["| molbace", "gin"] == f"{bace['p_value']:.3f} *"
    assert "* p < 0.2 (the paper's threshold)" in printed
    mae = f"{statistics.mean(best):.4f} +- {statistics.stdev(best):.4f}"
    assert f"| zinc | gin | mae ↓ | 4 | {mae} |" in printed  # the mean +- std columns are unchanged

    assert main(["summarize", str(folder / "runs" / "zinc"), "--json", str(folder / "zinc.json")]) == 0
    assert read_json(folder / "zinc.json")["comparisons"][0]["comparisons"] == zinc["comparisons"]


def test_markdown_table_without_comparisons_is_unchanged(comparison_folder):
    folder, _ = comparison_folder
    rows = aggregate(collect_results(folder / "runs"))
    assert markdown_table(rows) == markdown_table(rows, []) and "Welch" not in markdown_table(rows)
    assert [format_p_value(p) for p in (None, 0.0009, 0.0123, 1.0)] == ["n/a", "< 0.001", "0.012", "1.000"]
    same_model = [dict(r, model="gin", run_name=f"grid/gin_h{i}") for i, r in enumerate(rows[2:4])]
    table = markdown_table(same_model, compare_to_best(same_model))
    assert "| zinc | gin (gin_h0) |" in table and "| zinc | gin (gin_h1) |" in table


def test_reference_is_parsed_with_the_paper_seeds_by_default():
    assert Reference.parse("ogbg-molbace:hodgnn=82.10+-1.45") == Reference(
        "ogbg-molbace", "hodgnn", 82.1, 1.45, 4
    )
    assert Reference.parse(" zinc : gin = 0.163+-0.004@10") == Reference("zinc", "gin", 0.163, 0.004, 10)
    for text, problem in [
        ("ogbg-molbace=82.10+-1.45", "expected DATASET:MODEL"),
        ("ogbg-molbace:hodgnn=82.10", "expected DATASET:MODEL"),
        ("ogbg-molbace:hodgnn=high+-1.45", "must be numbers"),
        ("ogbg-molbace:hodgnn=82.10+-1.45@four", "must be numbers"),
        ("ogbg-molbace:hodgnn=82.10+--1.45", "STD >= 0"),
        ("ogbg-molbace:hodgnn=82.10+-1.45@1", "SEEDS >= 2"),
        ("ogbg-molbace:hodgnn=nan+-1.45", "finite MEAN"),
    ]:
        with pytest.raises(ValueError, match=problem):
            Reference.parse(text)


def test_summarize_tests_rows_against_references_in_table_units(comparison_folder, capsys):
    scipy_stats = pytest.importorskip("scipy.stats")
    from hodgnn.cli import main

    folder, seeds = comparison_folder
    references = ["molbace:hodgnn=82.10+-1.45", "zinc:gin=0.1630+-0.0040@10", "zinc:absent=0.1+-0.01"]
    args = ["summarize", str(folder / "runs"), "--json", str(folder / "s.json")]
    assert main(args + [f"--reference={r}" for r in references]) == 0
    printed = capsys.readouterr().out
    records = {(c["dataset"], c["model"]): c for c in read_json(folder / "s.json")["reference_comparisons"]}
    assert list(records) == [("molbace", "hodgnn"), ("zinc", "gin")]  # rows without a reference: none
    ours = [100 * v for v in seeds["molbace", "hodgnn", "rocauc"]]  # ROC-AUC in percent, as the paper's
    expected = scipy_stats.ttest_ind_from_stats(
        statistics.mean(ours), statistics.stdev(ours), 3, 82.10, 1.45, 4, equal_var=False
    )
    bace = records["molbace", "hodgnn"]
    assert bace["test_mean"] == pytest.approx(82.0) and bace["reference_seeds"] == 4
    assert bace["welch_t"] == pytest.approx(float(expected.statistic), rel=1e-9)
    assert bace["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-9)
    gin = records["zinc", "gin"]
    expected = scipy_stats.ttest_ind_from_stats(
        statistics.mean(seeds["zinc", "gin", "mae"]),
        statistics.stdev(seeds["zinc", "gin", "mae"]),
        4,
        0.163,
        0.004,
        10,
        equal_var=False,
    )
    assert gin["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-9) and gin["significant"]
    lines = printed.splitlines()
    assert lines[0].endswith("| Welch p vs best | reference (Welch p) |")
    bace_line = next(line for line in lines if line.startswith("| molbace | hodgnn |"))
    assert bace_line.endswith(f"| best | 82.10 +- 1.45 (4), p {bace['p_value']:.3f} |")
    gin_line = next(line for line in lines if line.startswith("| zinc | gin |"))
    assert gin_line.endswith(f"| best | 0.1630 +- 0.0040 (10), p {gin['p_value']:.3f} * |")
    assert next(line for line in lines if line.startswith("| zinc | gine |")).endswith(" |  |")

    assert main(["summarize", str(folder / "runs"), "--reference", "molbace=82.1"]) == 2
    assert "expected DATASET:MODEL=MEAN+-STD" in capsys.readouterr().err


def test_summarize_from_committed_summaries_makes_the_same_table(comparison_folder, capsys):
    from hodgnn.cli import main

    folder, _ = comparison_folder
    committed = folder / "committed"
    for dataset in ("zinc", "molbace"):  # one summary.json per dataset, as committed under docs/results/runs
        assert (
            main(
                [
                    "summarize",
                    str(folder / "runs" / dataset),
                    "--json",
                    str(committed / dataset / "summary.json"),
                ]
            )
            == 0
        )
    capsys.readouterr()
    reference = "--reference=molbace:hodgnn=82.10+-1.45"
    assert main(["summarize", str(folder / "runs"), reference]) == 0
    from_runs = capsys.readouterr().out
    assert main(["summarize", "--from-summaries", str(committed), str(committed / "zinc"), reference]) == 0
    assert capsys.readouterr().out == from_runs  # each row once, though zinc is found twice

    conflicting = read_json(committed / "zinc" / "summary.json")
    conflicting["rows"][0]["test"] = [0.0, 0.0]
    atomic_write_json(committed / "copy" / "summary.json", conflicting)
    assert main(["summarize", "--from-summaries", str(committed)]) == 2
    assert "differs from the same row in another summary" in capsys.readouterr().err


def test_model_selection_fields_per_seed():
    """Best epoch, last-epoch test score and the val/test rank correlation over the history's epochs
    (scipy's spearmanr as reference); None where a results.json has no history or fields."""
    scipy_stats = pytest.importorskip("scipy.stats")
    val = [0.60, 0.72, 0.70, 0.68, 0.65]
    test = [0.66, 0.70, 0.78, 0.80, 0.81]
    with_history = {
        **run("molbace", "gin", 0, 0.70, 0.72, metric="rocauc"),
        "best_epoch": 1,
        "final_test_metric": 0.81,
        "history": [
            {"epoch": i, "val_metric": v, "test_metric": t}
            for i, (v, t) in enumerate(zip(val, test, strict=True))
        ]
        + [{"epoch": 5, "val_metric": None, "test_metric": None}],  # an epoch without evaluation
    }
    without = run("molbace", "gin", 1, 0.75, 0.70, metric="rocauc")
    (row,) = aggregate([without, with_history])
    assert row["best_epoch"] == [1, None] and row["final_test"] == [0.81, None]
    first, second = row["val_test_rank_correlation"]
    assert first == pytest.approx(scipy_stats.spearmanr(val, test).statistic, abs=1e-12)
    assert second is None
