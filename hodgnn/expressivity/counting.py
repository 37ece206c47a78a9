"""The substructure-counting benchmark: train every (target, model variant) pair, tabulate test MAE.

Every run goes through the training system (:func:`hodgnn.train.runner.run_experiment`) with the base
config ``configs/counting/base.yaml`` (or ``--config``), ``data.name=counting-<target>``, the variant's
model and options (:mod:`hodgnn.expressivity.models`), and any further ``key=value`` config overrides
(``epochs=50``, ``data.options.max_graphs_per_split={train: 300}``). The table reports the test MAE at
the best validation epoch, in units of the training standard deviation of the target (the benchmark's
normalisation), mean +- sample std over seeds.

``--level node`` trains on node-level counts instead (``data.name=counting-node-<target>``): every
node's number of pattern copies rooted at it, the protocol of I2-GNN, whose MPNN and GNN-AK+ rows the
paper's counting table reproduces (see :func:`hodgnn.data.counting.count_substructures_per_node`).

Ablations of the paper (as commands)::

    hodgnn counting --targets cycle6 --models hod_silu_m0..m4        # derivative order m = 0..4
    hodgnn counting --targets cycle4 --models hod_silu,hod_uout0     # U_out on vs U_out = 0
    hodgnn counting --targets cycle4 --models hod_silu_m1,ds_gnn     # 1-HOD vs DS-GNN

Runs made in parallel (one task or model per process) become one record with ``--merge``::

    hodgnn counting --merge a.json b.json --output results/counting.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from hodgnn.data.counting import SUBSTRUCTURES, canonical_target
from hodgnn.data.info import LEVELS
from hodgnn.data.root import package_repo_dir
from hodgnn.environment import utc_now
from hodgnn.expressivity.models import (
    merged_provenance,
    parse_overrides,
    parse_variants,
    report_header,
    write_report,
)
from hodgnn.expressivity.options import add_common_options
from hodgnn.train.results import mean_std

DEFAULT_MODELS = "mpnn,mpnn_rwse,hod_relu,hod_silu"
DEFAULT_CONFIG = package_repo_dir() / "configs" / "counting" / "base.yaml"


def run_counting(
    targets: list[str],
    variant_names: str,
    config_path: str | Path = DEFAULT_CONFIG,
    config_overrides: list[str] | None = None,
    model_overrides: dict | None = None,
    seeds: int = 1,
    restart: bool = False,
    level: str = "graph",
) -> dict:
    """Train every (target, variant); returns ``{target: {variant: entry}}`` with test/val MAE per seed.

    ``level="node"`` trains on node-level counts (``counting-node-<target>``, I2-GNN's protocol) in
    run folders ``counting_node/<target>/<variant>``, apart from the graph-level ones.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")
    node_level = level == "node"
    dataset_prefix = "counting-node-" if node_level else "counting-"
    run_prefix = "counting_node" if node_level else "counting"
    from hodgnn.train.config import load_config
    from hodgnn.train.runner import run_experiment

    variants = parse_variants(variant_names)
    report: dict = {}
    for target in targets:
        report[target] = {}
        for variant in variants:
            options = {**variant.options, **(model_overrides or {})}
            overrides = [
                *(config_overrides or []),
                f"data.name={dataset_prefix}{target}",
                f"model.name={variant.model}",
                f"train.run_name={run_prefix}/{target}/{variant.name}",
            ]
            config = load_config(config_path, overrides)
            config.model.options = {**config.model.options, **options}
            start = time.perf_counter()
            result = run_experiment(config, seeds=seeds, restart=restart)
            runs = [r for r in result.runs if r.get("status") == "completed"]
            report[target][variant.name] = {
                "model": variant.model,
                "options": config.model.options,
                "test_mae": [r["test_metric"] for r in runs],
                "val_mae": [r["val_metric"] for r in runs],
                "best_epoch": [r["best_epoch"] for r in runs],
                "epochs_run": [r["epochs_run"] for r in runs],
                "num_parameters": runs[0]["num_parameters"] if runs else None,
                "seconds_per_epoch": [r["seconds_per_epoch"] for r in runs],
                "wall_s": time.perf_counter() - start,
                "run_folder": str(result.folder),
                "config": config.to_dict(),
            }
            print(
                f"[counting] {target} / {variant.name}: test MAE {report[target][variant.name]['test_mae']}"
            )
    return report


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.4f}" if len(values) == 1 or math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def epoch_seconds(entry: dict) -> float:
    """Time of a (target, variant) entry's epochs (training and evaluation), summed over its seeds.

    Counted from the runs' epoch times (``seconds_per_epoch * epochs_run``), so a run resumed from
    ``last.ckpt`` counts every epoch, not only those of the last process (``wall_s``, which also holds
    model construction and the final test, is that process's time). An entry without epoch times
    falls back to ``wall_s``.
    """
    per_epoch, epochs = entry.get("seconds_per_epoch"), entry.get("epochs_run")
    if per_epoch is None or epochs is None or len(per_epoch) != len(epochs):
        return float(entry["wall_s"])
    return float(sum(seconds * count for seconds, count in zip(per_epoch, epochs, strict=True)))


def markdown_table(report: dict) -> str:
    """Rows: variants; columns: targets (normalised test MAE) and the variant's total epoch time
    (:func:`epoch_seconds`, summed over its targets)."""
    targets = list(report)
    variants: list[str] = []
    for entries in report.values():
        variants.extend(name for name in entries if name not in variants)
    lines = [
        "| model | " + " | ".join(targets) + " | epoch time |",
        "|---|" + "---|" * (len(targets) + 1),
    ]
    for name in variants:
        cells = [_cell(report[t][name]["test_mae"]) if name in report[t] else "-" for t in targets]
        seconds = sum(epoch_seconds(report[t][name]) for t in targets if name in report[t])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {seconds:.0f} s |")
    return "\n".join(lines)


def merge_reports(reports: Sequence[dict]) -> dict:
    """One record from several ``hodgnn counting`` records (e.g. one process per task): every (target,
    variant) entry, where a later record's entry replaces an earlier one's; ``runs`` lists the date,
    machine and command of every source, ``date``, ``machine`` and ``command`` join them
    (:func:`merged_provenance`), and the table is rendered again over the targets in the order they
    first appear.
    """
    if not reports:
        raise ValueError("nothing to merge")
    levels = {report.get("level", "graph") for report in reports}
    if len(levels) > 1:
        raise ValueError(
            f"cannot merge graph-level and node-level counting records (levels {sorted(levels)})"
        )
    results: dict = {}
    for report in reports:
        if "results" not in report:
            raise ValueError("not a `hodgnn counting` record (it has no 'results')")
        for target, entries in report["results"].items():
            results.setdefault(target, {}).update(entries)
    return {
        "benchmark": reports[0]["benchmark"],
        "level": levels.pop(),
        **merged_provenance(reports),
        "results": results,
        "markdown": markdown_table(results),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hodgnn counting",
        description="Substructure counting: train each (target, model) with the training system, "
        "tabulate the normalised test MAE.",
    )
    parser.add_argument(
        "--targets",
        default=",".join(SUBSTRUCTURES),
        help=f"comma-separated targets (default: all of {SUBSTRUCTURES})",
    )
    add_common_options(parser, default_models=DEFAULT_MODELS, output="results/counting.json")
    parser.add_argument(
        "--config", default=str(DEFAULT_CONFIG), help="base YAML config (default: configs/counting)"
    )
    parser.add_argument(
        "--level",
        choices=LEVELS,
        default="graph",
        help="graph-level counts (default) or node-level counts (I2-GNN's protocol, per node)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds per run (default: 1)")
    parser.add_argument("--restart", action="store_true", help="retrain runs that already have results")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="combine the records of runs made in parallel into --output, running nothing",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="training config overrides (epochs=50)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """``hodgnn counting``: train, print the markdown table, write JSON. Returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.merge:
        merged = merge_reports([json.loads(Path(path).read_text()) for path in args.merge])
        print(merged["markdown"])
        write_report(merged, args.output, args.markdown)
        print(f"wrote {Path(args.output)}")
        return 0
    torch.set_num_threads(args.threads)
    targets = [canonical_target(t) for t in args.targets.split(",") if t.strip()]
    started = utc_now()
    report = run_counting(
        targets,
        args.models,
        args.config,
        [*args.overrides, f"train.num_threads={args.threads}"],
        parse_overrides(args.set),
        args.seeds,
        args.restart,
        args.level,
    )
    table = markdown_table(report)
    print(table)
    benchmark = (
        f"substructure counting, {args.level} level (normalised test MAE at the best validation epoch)"
    )
    header = report_header(benchmark, started, "counting", argv)
    payload = {**header, "level": args.level, "results": report, "markdown": table}
    write_report(payload, args.output, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
