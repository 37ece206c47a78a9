"""Result files: reading per-run JSON, the mean +- std table over seeds, and Welch's t-test of every
model against the best one of its dataset (files are written with :mod:`hodgnn.io`'s atomic writers)."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hodgnn.train.stats import MIN_SEEDS, SIGNIFICANCE_LEVEL, welch_t_test

RESULTS_FILE = "results.json"


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_mean_std(values: Sequence[float], metric: str) -> str:
    """``mean +- std`` with 4 decimals for errors and 2 for percentages (ROC-AUC, AP, accuracy x 100)."""
    scale, digits = (100.0, 2) if metric in ("rocauc", "ap", "accuracy") else (1.0, 4)
    mean, std = mean_std([v * scale for v in values])
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def aggregate(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group completed run results by (dataset, model, run name) and summarise each group.

    Returns one dict per group: dataset, model, run_name, metric, seeds, test/val values, mean and
    std, parameter count, mean seconds per epoch and epochs run.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for result in results:
        if result.get("status") != "completed":
            continue
        groups.setdefault((result["dataset"], result["model"], result["run_name"]), []).append(result)
    rows = []
    for (dataset, model, run_name), runs in sorted(groups.items()):
        runs = sorted(runs, key=lambda r: r["seed"])
        test = [r["test_metric"] for r in runs]
        val = [r["val_metric"] for r in runs]
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "run_name": run_name,
                "metric": runs[0]["metric"],
                "higher_is_better": runs[0]["higher_is_better"],
                "seeds": [r["seed"] for r in runs],
                "test": test,
                "val": val,
                "test_mean_std": mean_std(test),
                "val_mean_std": mean_std(val),
                "num_parameters": runs[0]["num_parameters"],
                "seconds_per_epoch": mean_std([r["seconds_per_epoch"] for r in runs])[0],
                "epochs": sorted({r["epochs_run"] for r in runs}),
                "device": runs[0].get("device", ""),
            }
        )
    return rows


def _row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["dataset"], row["model"], row["run_name"]


def compare_to_best(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Welch's t-test of each :func:`aggregate` row's test values against the best row of its group.

    Rows are grouped by (dataset, metric, higher_is_better); a group with one row has no comparison.
    The best row has the highest test mean (lowest when ``higher_is_better`` is false; the first in
    table order on a tie; rows with a NaN mean are never best). For every other row: the two-sided p of
    Welch's t = (m_best - m) / sqrt(s_best^2/n_best + s^2/n) (see :mod:`hodgnn.train.stats`), whether
    p < :data:`SIGNIFICANCE_LEVEL` (the paper's threshold), and ``fewer_than_3_seeds`` when either side
    has fewer than :data:`MIN_SEEDS` seeds.

    Returns one dict per group with at least two rows: dataset, metric, higher_is_better, the best row's
    model / run_name / test mean / seeds, and ``comparisons`` (one dict per other row).
    """
    groups: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["metric"], bool(row["higher_is_better"])), []).append(row)
    summaries = []
    for (dataset, metric, higher), members in groups.items():
        candidates = [r for r in members if not math.isnan(r["test_mean_std"][0])]
        if len(members) < 2 or not candidates:
            continue
        sign = 1.0 if higher else -1.0
        best = max(candidates, key=lambda r: sign * r["test_mean_std"][0])  # first of equals
        comparisons = []
        for row in members:
            if row is best:
                continue
            test = welch_t_test(best["test"], row["test"])
            comparisons.append(
                {
                    "model": row["model"],
                    "run_name": row["run_name"],
                    "test_mean": row["test_mean_std"][0],
                    "num_seeds": len(row["seeds"]),
                    "welch_t": test.t,
                    "welch_df": test.df,
                    "p_value": test.p_value,
                    "significant": None if test.p_value is None else test.p_value < SIGNIFICANCE_LEVEL,
                    "fewer_than_3_seeds": min(len(row["seeds"]), len(best["seeds"])) < MIN_SEEDS,
                    "reason": test.reason,
                }
            )
        summaries.append(
            {
                "dataset": dataset,
                "metric": metric,
                "higher_is_better": higher,
                "best_model": best["model"],
                "best_run_name": best["run_name"],
                "best_test_mean": best["test_mean_std"][0],
                "best_num_seeds": len(best["seeds"]),
                "significance_level": SIGNIFICANCE_LEVEL,
                "min_seeds": MIN_SEEDS,
                "comparisons": comparisons,
            }
        )
    return summaries


def format_p_value(p: float | None) -> str:
    """``p`` with 3 decimals (``< 0.001`` below), ``n/a`` when there is none."""
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _comparison_cells(comparisons: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    """The ``Welch p vs best`` cell of every compared row: ``best``, or ``p`` with ``*`` when
    p < SIGNIFICANCE_LEVEL and ``(< 3 seeds)`` when either side has fewer than MIN_SEEDS seeds."""
    cells = {}
    for group in comparisons:
        best_key = (group["dataset"], group["best_model"], group["best_run_name"])
        cells[best_key] = "best" + (" (< 3 seeds)" if group["best_num_seeds"] < MIN_SEEDS else "")
        for c in group["comparisons"]:
            cell = format_p_value(c["p_value"]) + (" *" if c["significant"] else "")
            if c["fewer_than_3_seeds"]:
                cell += " (< 3 seeds)"
            cells[(group["dataset"], c["model"], c["run_name"])] = cell
    return cells


def markdown_table(
    rows: Sequence[dict[str, Any]], comparisons: Sequence[dict[str, Any]] | None = None
) -> str:
    """A markdown table of :func:`aggregate` rows (mean +- sample std over seeds).

    With ``comparisons`` from :func:`compare_to_best` (and at least one group), a last column gives each
    row's Welch p against the best row of its dataset, with a footnote explaining the markers, and a
    model that appears more than once in a dataset is shown with its run name's last part.
    """
    cells = _comparison_cells(comparisons) if comparisons else {}
    names = Counter((row["dataset"], row["model"]) for row in rows)
    header = "| dataset | model | metric | seeds | test | val | params | s/epoch | epochs | device |"
    if cells:
        header += " Welch p vs best |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        arrow = "↑" if row["higher_is_better"] else "↓"
        epochs = "/".join(str(e) for e in row["epochs"])
        model = row["model"]
        if cells and names[row["dataset"], model] > 1:
            model = f"{model} ({Path(row['run_name']).name})"
        line = (
            f"| {row['dataset']} | {model} | {row['metric']} {arrow} | {len(row['seeds'])} | "
            f"{format_mean_std(row['test'], row['metric'])} | {format_mean_std(row['val'], row['metric'])} | "
            f"{row['num_parameters']:,} | {row['seconds_per_epoch']:.2f} | {epochs} | {row['device']} |"
        )
        if cells:
            line += f" {cells.get(_row_key(row), '')} |"
        lines.append(line)
    if cells:
        lines.append("")
        lines.append(
            "Welch p vs best: two-sided Welch's t-test of the test metric against the best model of the "
            f"dataset (by mean); * p < {SIGNIFICANCE_LEVEL:g} (the paper's threshold); "
            f"(< {MIN_SEEDS} seeds): either side has fewer than {MIN_SEEDS} seeds; n/a: fewer than 2 seeds."
        )
    return "\n".join(lines) + "\n"


def summary_json(rows: Sequence[dict[str, Any]], comparisons: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``summary.json`` of ``hodgnn summarize``: the :func:`aggregate` rows (as the runner writes
    them) and the :func:`compare_to_best` groups."""
    return {
        "rows": list(rows),
        "comparisons": list(comparisons),
        "significance_level": SIGNIFICANCE_LEVEL,
        "min_seeds": MIN_SEEDS,
    }


def collect_results(folder: str | os.PathLike, *more: str | os.PathLike) -> list[dict[str, Any]]:
    """Every ``results.json`` below ``folder`` and the ``more`` folders (sorted by path, each file once)."""
    paths = {path.resolve(): path for f in (folder, *more) for path in Path(f).rglob(RESULTS_FILE)}
    return [read_json(paths[key]) for key in sorted(paths)]
