"""Result files: reading per-run JSON, the mean +- std table over seeds, Welch's t-test of every model
against the best one of its dataset and, optionally, against a published ``mean +- std`` (the paper's
tables); files are written with :mod:`hodgnn.io`'s atomic writers."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hodgnn.train.stats import (
    MIN_SEEDS,
    SIGNIFICANCE_LEVEL,
    WelchResult,
    rank_correlation,
    welch_from_stats,
    welch_t_test,
)

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


def display_units(metric: str) -> tuple[float, int]:
    """``(scale, decimals)`` of a metric in tables: percentages for ROC-AUC, AP and accuracy (x 100, 2
    decimals), the metric's own units with 4 decimals for errors."""
    return (100.0, 2) if metric in ("rocauc", "ap", "accuracy") else (1.0, 4)


def format_mean_std(values: Sequence[float], metric: str) -> str:
    """``mean +- std`` in :func:`display_units`."""
    scale, digits = display_units(metric)
    mean, std = mean_std([v * scale for v in values])
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def aggregate(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group completed run results by (dataset, model, run name) and summarise each group.

    Returns one dict per group: dataset, model, run_name, metric, seeds, test/val values, mean and
    std, parameter count, mean seconds per epoch, epochs run and the per-seed model-selection fields of
    :func:`model_selection`.
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
                **model_selection(runs),
            }
        )
    return rows


def model_selection(runs: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Per seed, how well the validation score chose the test epoch: the best validation epoch, the test
    score at the last epoch, and Spearman's rank correlation of the validation and test scores over the
    epochs of ``history`` (``None`` where a ``results.json`` lacks the field or its history). A
    correlation near 0 says that the epoch chosen on validation is close to a random one for test."""

    def correlation(run: dict[str, Any]) -> float | None:
        epochs = [
            (e["val_metric"], e["test_metric"])
            for e in run.get("history") or []
            if e.get("val_metric") is not None and e.get("test_metric") is not None
        ]
        value = rank_correlation([v for v, _ in epochs], [t for _, t in epochs])
        return None if math.isnan(value) else value

    return {
        "best_epoch": [r.get("best_epoch") for r in runs],
        "final_test": [r.get("final_test_metric") for r in runs],
        "val_test_rank_correlation": [correlation(r) for r in runs],
    }


def _row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["dataset"], row["model"], row["run_name"]


def _welch_fields(test: WelchResult, num_seeds: int, other_seeds: int) -> dict[str, Any]:
    """The fields of one comparison record: Welch's t, df, p and reason, whether p <
    :data:`SIGNIFICANCE_LEVEL`, and ``fewer_than_3_seeds`` when either side has fewer than
    :data:`MIN_SEEDS` seeds."""
    return {
        "welch_t": test.t,
        "welch_df": test.df,
        "p_value": test.p_value,
        "significant": None if test.p_value is None else test.p_value < SIGNIFICANCE_LEVEL,
        "fewer_than_3_seeds": min(num_seeds, other_seeds) < MIN_SEEDS,
        "reason": test.reason,
    }


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
                    **_welch_fields(test, len(row["seeds"]), len(best["seeds"])),
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


PAPER_SEEDS = 4
"""Seeds behind each number of the paper's tables (4 seeds, implementation notes section 6)."""


@dataclass(frozen=True)
class Reference:
    """A published result of one model on one dataset, ``mean +- std`` (sample std) over ``num_seeds``
    seeds, in the units of our tables (:func:`display_units`: percent for ROC-AUC / AP / accuracy).

    Written ``DATASET:MODEL=MEAN+-STD[@SEEDS]`` on the command line (:meth:`parse`), e.g.
    ``ogbg-molbace:hodgnn=82.10+-1.45`` (the paper's HOD-GNN on molbace, 4 seeds).
    """

    dataset: str
    model: str
    mean: float
    std: float
    num_seeds: int = PAPER_SEEDS

    @classmethod
    def parse(cls, text: str) -> Reference:
        """The reference written ``DATASET:MODEL=MEAN+-STD[@SEEDS]``; a ``ValueError`` names what is
        wrong with any other text."""
        form = "DATASET:MODEL=MEAN+-STD[@SEEDS], e.g. ogbg-molbace:hodgnn=82.10+-1.45"
        key, equals, value = text.partition("=")
        dataset, colon, model = key.partition(":")
        value, at, seeds = value.partition("@")
        mean, plus_minus, std = value.partition("+-")
        if not (equals and colon and plus_minus and dataset.strip() and model.strip()):
            raise ValueError(f"reference {text!r}: expected {form}")
        try:
            numbers = float(mean), float(std), int(seeds) if at else PAPER_SEEDS
        except ValueError:
            raise ValueError(
                f"reference {text!r}: MEAN and STD must be numbers, SEEDS an integer ({form})"
            ) from None
        if not all(math.isfinite(v) for v in numbers[:2]) or numbers[1] < 0 or numbers[2] < 2:
            raise ValueError(f"reference {text!r}: needs finite MEAN, STD >= 0 and SEEDS >= 2 ({form})")
        return cls(dataset.strip(), model.strip(), *numbers)


def compare_to_references(
    rows: Sequence[dict[str, Any]], references: Sequence[Reference]
) -> list[dict[str, Any]]:
    """Welch's t-test of every :func:`aggregate` row against the reference of its dataset and model.

    The row's test values are put in :func:`display_units` (the reference's units), and the test runs
    on the two summaries (:func:`~hodgnn.train.stats.welch_from_stats`): t > 0 when our mean is the
    larger. Returns one dict per row that has a reference (rows without one are left out).
    """
    by_key = {(ref.dataset, ref.model): ref for ref in references}
    comparisons = []
    for row in rows:
        ref = by_key.get((row["dataset"], row["model"]))
        if ref is None:
            continue
        scale, _ = display_units(row["metric"])
        mean, std = mean_std([v * scale for v in row["test"]])
        test = welch_from_stats(mean, std, len(row["test"]), ref.mean, ref.std, ref.num_seeds)
        comparisons.append(
            {
                "dataset": row["dataset"],
                "model": row["model"],
                "run_name": row["run_name"],
                "metric": row["metric"],
                "test_mean": mean,
                "test_std": std,
                "num_seeds": len(row["test"]),
                "reference_mean": ref.mean,
                "reference_std": ref.std,
                "reference_seeds": ref.num_seeds,
                **_welch_fields(test, len(row["test"]), ref.num_seeds),
            }
        )
    return comparisons


def format_p_value(p: float | None) -> str:
    """``p`` with 3 decimals (``< 0.001`` below), ``n/a`` when there is none."""
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _p_cell(comparison: dict[str, Any]) -> str:
    """``p`` with ``*`` when p < SIGNIFICANCE_LEVEL and ``(< 3 seeds)`` when either side has fewer than
    MIN_SEEDS seeds."""
    cell = format_p_value(comparison["p_value"]) + (" *" if comparison["significant"] else "")
    return cell + (" (< 3 seeds)" if comparison["fewer_than_3_seeds"] else "")


def _comparison_cells(comparisons: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    """The ``Welch p vs best`` cell of every compared row: ``best``, or :func:`_p_cell`."""
    cells = {}
    for group in comparisons:
        best_key = (group["dataset"], group["best_model"], group["best_run_name"])
        cells[best_key] = "best" + (" (< 3 seeds)" if group["best_num_seeds"] < MIN_SEEDS else "")
        for c in group["comparisons"]:
            cells[(group["dataset"], c["model"], c["run_name"])] = _p_cell(c)
    return cells


def _reference_cells(reference_comparisons: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    """The ``reference (Welch p)`` cell of every row with a reference: ``mean +- std (n), p``."""
    cells = {}
    for c in reference_comparisons:
        _, digits = display_units(c["metric"])
        cells[_row_key(c)] = (
            f"{c['reference_mean']:.{digits}f} +- {c['reference_std']:.{digits}f} ({c['reference_seeds']}), "
            f"p {_p_cell(c)}"
        )
    return cells


def markdown_table(
    rows: Sequence[dict[str, Any]],
    comparisons: Sequence[dict[str, Any]] | None = None,
    reference_comparisons: Sequence[dict[str, Any]] | None = None,
) -> str:
    """A markdown table of :func:`aggregate` rows (mean +- sample std over seeds).

    With ``comparisons`` from :func:`compare_to_best` (and at least one group), a column gives each
    row's Welch p against the best row of its dataset, with a footnote explaining the markers, and a
    model that appears more than once in a dataset is shown with its run name's last part. With
    ``reference_comparisons`` from :func:`compare_to_references`, a last column gives the reference
    ``mean +- std (seeds)`` and the Welch p of our seeds against it.
    """
    cells = _comparison_cells(comparisons) if comparisons else {}
    reference_cells = _reference_cells(reference_comparisons) if reference_comparisons else {}
    names = Counter((row["dataset"], row["model"]) for row in rows)
    header = "| dataset | model | metric | seeds | test | val | params | s/epoch | epochs | device |"
    if cells:
        header += " Welch p vs best |"
    if reference_cells:
        header += " reference (Welch p) |"
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
        if reference_cells:
            line += f" {reference_cells.get(_row_key(row), '')} |"
        lines.append(line)
    if cells:
        lines.append("")
        lines.append(
            "Welch p vs best: two-sided Welch's t-test of the test metric against the best model of the "
            f"dataset (by mean); * p < {SIGNIFICANCE_LEVEL:g} (the paper's threshold); "
            f"(< {MIN_SEEDS} seeds): either side has fewer than {MIN_SEEDS} seeds; n/a: fewer than 2 seeds."
        )
    if reference_cells:
        lines.append("")
        lines.append(
            "reference (Welch p): the published test mean +- std (seeds) given with --reference, and the "
            "two-sided Welch's t-test of our seeds against it from the two summaries, with the same markers."
        )
    return "\n".join(lines) + "\n"


def summary_json(
    rows: Sequence[dict[str, Any]],
    comparisons: Sequence[dict[str, Any]],
    reference_comparisons: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` of ``hodgnn summarize``: the :func:`aggregate` rows (as the runner writes
    them), the :func:`compare_to_best` groups and, when references were given, the
    :func:`compare_to_references` records."""
    summary = {
        "rows": list(rows),
        "comparisons": list(comparisons),
        "significance_level": SIGNIFICANCE_LEVEL,
        "min_seeds": MIN_SEEDS,
    }
    if reference_comparisons:
        summary["reference_comparisons"] = list(reference_comparisons)
    return summary


SUMMARY_FILE = "summary.json"


def collect_summary_rows(folder: str | os.PathLike, *more: str | os.PathLike) -> list[dict[str, Any]]:
    """The :func:`aggregate` rows of every ``summary.json`` (:func:`summary_json`) below ``folder`` and the
    ``more`` folders: tables made again from committed summaries, without the run folders. A row found in
    several files (same dataset, model and run name) must be the same in each; it is kept once."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in _files_below(SUMMARY_FILE, (folder, *more)):
        for row in read_json(path).get("rows", []):
            earlier = rows.setdefault(_row_key(row), row)
            if earlier != row:
                raise ValueError(f"{path}: row {_row_key(row)} differs from the same row in another summary")
    return sorted(rows.values(), key=_row_key)


def collect_results(folder: str | os.PathLike, *more: str | os.PathLike) -> list[dict[str, Any]]:
    """Every ``results.json`` below ``folder`` and the ``more`` folders (sorted by path, each file once)."""
    return [read_json(path) for path in _files_below(RESULTS_FILE, (folder, *more))]


def _files_below(name: str, folders: Sequence[str | os.PathLike]) -> list[Path]:
    """The files called ``name`` below ``folders``, each once (by resolved path), sorted by resolved path."""
    paths = {path.resolve(): path for folder in folders for path in Path(folder).rglob(name)}
    return [paths[key] for key in sorted(paths)]
