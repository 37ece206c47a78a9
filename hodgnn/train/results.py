"""Result files: reading per-run JSON, and the mean +- std table over seeds (files are written with
:mod:`hodgnn.io`'s atomic writers)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

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


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of :func:`aggregate` rows (mean +- sample std over seeds)."""
    header = "| dataset | model | metric | seeds | test | val | params | s/epoch | epochs | device |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        arrow = "↑" if row["higher_is_better"] else "↓"
        epochs = "/".join(str(e) for e in row["epochs"])
        lines.append(
            f"| {row['dataset']} | {row['model']} | {row['metric']} {arrow} | {len(row['seeds'])} | "
            f"{format_mean_std(row['test'], row['metric'])} | {format_mean_std(row['val'], row['metric'])} | "
            f"{row['num_parameters']:,} | {row['seconds_per_epoch']:.2f} | {epochs} | {row['device']} |"
        )
    return "\n".join(lines) + "\n"


def collect_results(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Every ``results.json`` below ``folder`` (sorted by path)."""
    return [read_json(path) for path in sorted(Path(folder).rglob(RESULTS_FILE))]
