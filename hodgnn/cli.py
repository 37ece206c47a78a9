"""The ``hodgnn`` command.

``hodgnn train`` trains from a YAML config (``--config``), or without one the embedded default
(HOD-GNN vs GIN on ``synthetic-counts``); ``hodgnn summarize`` tabulates finished runs. ``demo``,
``brec`` and ``separation`` hand over to their own modules.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

DELEGATED = {
    "demo": "hodgnn.demo",
    "brec": "hodgnn.expressivity.brec_cli",
    "separation": "hodgnn.expressivity.separation",
    "counting": "hodgnn.expressivity.counting",
}
"""Sub-commands implemented by other modules' ``main(argv)``."""


def _train_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a model (no arguments: HOD-GNN vs GIN on the embedded synthetic-counts dataset)",
        description=(
            "Train from a YAML config, or without --config the embedded default (HOD-GNN and GIN on "
            "synthetic-counts). Overrides key=value (e.g. optim.lr=1e-3, epochs=5, "
            "model.options.hidden_channels=32) are applied after the config file."
        ),
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML experiment config (configs/<dataset>/<model>.yaml)"
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="number of seeds: train.seed, train.seed+1, ... (default 1)"
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default=None, help="overrides train.device"
    )
    parser.add_argument("--devices", type=int, default=None, help="overrides train.devices (DDP when > 1)")
    parser.add_argument("--output-dir", default=None, help="overrides train.output_dir (default runs/)")
    parser.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="resume the first seed from this checkpoint (default: each seed resumes from its last.ckpt)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="discard existing checkpoints and results of these runs"
    )
    parser.add_argument("--show-config", action="store_true", help="print the resolved config(s) and exit")
    parser.add_argument(
        "--help-config", action="store_true", help="list every config key with default and comment"
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def _summarize_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "summarize",
        help="mean +- std table of every results.json below folders, with Welch's t-test against the best",
        description=(
            "Tabulate finished runs: mean +- sample std over seeds per experiment and, where a dataset has "
            "several experiments, the two-sided Welch's t-test p-value of each one's test metric against "
            "the best (by mean, respecting the metric's direction); * marks p < 0.2 (the paper's "
            "threshold) and '(< 3 seeds)' a comparison where either side has fewer than 3 seeds."
        ),
    )
    parser.add_argument(
        "folder",
        type=Path,
        nargs="*",
        default=[Path("runs")],
        help="folders searched for results.json (default runs/)",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="also write the table to this markdown file"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the rows and the Welch comparisons as JSON (default with --output: the "
        "output's name with .json, e.g. table.md -> table.json)",
    )
    parser.add_argument(
        "--from-summaries",
        action="store_true",
        help="read the rows of the summary.json files below the folders (e.g. the committed "
        "docs/results/runs/<dataset>/<model>/summary.json) instead of the runs' results.json",
    )
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="DATASET:MODEL=MEAN+-STD[@SEEDS]",
        help="a published result to test against (repeatable), in the table's units (percent for ROC-AUC), "
        "e.g. ogbg-molbace:hodgnn=82.10+-1.45 (the paper's; SEEDS defaults to its 4): adds a column "
        "with the reference and the Welch p of our seeds against it",
    )
    return parser


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``hodgnn`` parser and the parsers of the commands implemented here (train, summarize)."""
    parser = argparse.ArgumentParser(
        prog="hodgnn", description="HOD-GNN (ICLR 2026): training and expressivity tools."
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="{train,summarize," + ",".join(DELEGATED) + "}"
    )
    commands = {"train": _train_parser(subparsers), "summarize": _summarize_parser(subparsers)}
    for name, module in DELEGATED.items():
        subparsers.add_parser(name, help=f"see `hodgnn {name} --help` ({module})", add_help=False)
    return parser, commands


def _cli_overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.overrides)
    if args.device is not None:
        overrides.append(f"train.device={args.device}")
    if args.devices is not None:
        overrides.append(f"train.devices={args.devices}")
    if args.output_dir is not None:
        overrides.append(f"train.output_dir={args.output_dir}")
    return overrides


def print_comparison(results, description: str) -> None:
    """Print the embedded default's models side by side (test error at the best validation epoch)."""
    print()
    print(description)
    targets = []
    rows = []
    for experiment in results:
        runs = [r for r in experiment.runs if r.get("status") == "completed"]
        if not runs:
            continue
        first = runs[0]
        targets = first.get("targets") or []
        std = first.get("target_std") or [1.0] * len(targets)
        per_task = [r["best"].get("test_mae_per_task") or [] for r in runs]
        per_target = []
        for t in range(len(targets)):
            values = [p[t] * std[t] for p in per_task if len(p) > t]
            per_target.append(sum(values) / len(values) if values else float("nan"))
        rows.append(
            (
                first["model"],
                sum(r["test_metric"] for r in runs) / len(runs),
                per_target,
                sum(r["val_metric"] for r in runs) / len(runs),
                first["num_parameters"],
                sum(r["seconds_per_epoch"] for r in runs) / len(runs),
                first["epochs_run"],
                len(runs),
            )
        )
    header = f"{'model':<8} {'test MAE':>9} " + " ".join(f"{t + ' (count)':>15}" for t in targets)
    header += f" {'val MAE':>8} {'params':>8} {'s/epoch':>8} {'epochs':>6} {'seeds':>5}"
    print(header)
    for model, test, per_target, val, params, seconds, epochs, seeds in rows:
        line = f"{model:<8} {test:>9.4f} " + " ".join(f"{v:>15.3f}" for v in per_target)
        line += f" {val:>8.4f} {params:>8,} {seconds:>8.2f} {epochs:>6} {seeds:>5}"
        print(line)
    print("(test MAE at the best validation epoch, normalised; per-count columns in counts, mean over seeds)")


def memory_budget_message(error) -> str:
    """The one-line report of a :class:`~hodgnn.derivatives.MemoryBudgetError` in ``hodgnn train``:
    what was estimated, the estimate, the budget, and the config changes that lower or raise them."""
    return (
        f"hodgnn train: memory budget exceeded: {error.what} would need about "
        f"{error.estimate_bytes / 2**30:.2f} GiB ({error.estimate_bytes:,} bytes, estimated before "
        f"allocating) but the budget is {error.budget_bytes / 2**30:.2f} GiB "
        f"({error.budget_bytes:,} bytes). Remedies: a smaller data.batch_size; for HOD-GNN "
        "diagonal-only derivatives (model.options.u_node=diagonal model.options.u_out=false), a smaller "
        "model.options.order, base_layers or base_in_channels; for DS-GNN fewer "
        "model.options.subgraph_layers or subgraph_channels; or a larger budget "
        "(model.options.memory_budget=BYTES or the HODGNN_MEMORY_BUDGET environment variable)"
    )


def train_command(args: argparse.Namespace) -> int:
    from hodgnn.train.config import ConfigError, describe_config, load_config
    from hodgnn.train.defaults import DEFAULT_DESCRIPTION, default_experiments
    from hodgnn.train.distributed import is_global_zero, shutdown_process_group
    from hodgnn.train.module import NonFiniteLossError
    from hodgnn.train.runner import RunConfigMismatchError, run_experiment

    if args.help_config:
        print(describe_config())
        return 0
    overrides = _cli_overrides(args)
    try:
        configs = (
            [load_config(args.config, overrides)]
            if args.config is not None
            else default_experiments(overrides)
        )
    except ConfigError as error:
        print(f"hodgnn train: config error: {error}", file=sys.stderr)
        return 2
    if args.show_config:
        for config in configs:
            print(f"# {config.resolved_run_name}\n{config.to_yaml()}")
        return 0
    checkpoint = args.resume
    if checkpoint is not None and len(configs) > 1:
        print("hodgnn train: --resume CKPT needs --config (one experiment)", file=sys.stderr)
        return 2
    from hodgnn.derivatives import MemoryBudgetError
    from hodgnn.train.runner import load_splits

    results = []
    datasets = {}
    try:
        for config in configs:
            key = repr(config.data)
            if key not in datasets:
                datasets[key] = load_splits(config)
            result = run_experiment(
                config,
                seeds=args.seeds,
                restart=args.restart,
                checkpoint_path=checkpoint,
                dataset=datasets[key],
            )
            results.append(result)
            print(f"\n{result.table}written to {result.folder}/summary.md")
    except MemoryBudgetError as error:
        # Raised before the tensors are allocated; the runner has written the run's ``failed``
        # results.json and kept its checkpoints and every earlier seed's results.
        print(memory_budget_message(error), file=sys.stderr)
        shutdown_process_group(barrier=False)
        return 2
    except (NonFiniteLossError, RunConfigMismatchError, ConfigError, FileNotFoundError, ValueError) as error:
        print(f"hodgnn train: {type(error).__name__}: {error}", file=sys.stderr)
        shutdown_process_group(barrier=False)
        return 1
    shutdown_process_group()  # DDP: every process waits, then the process group is destroyed
    if args.config is None and is_global_zero():
        print_comparison(results, DEFAULT_DESCRIPTION)
    return 0


def summarize_command(args: argparse.Namespace) -> int:
    from hodgnn.io import atomic_write_json, atomic_write_text
    from hodgnn.train.results import (
        Reference,
        aggregate,
        collect_results,
        collect_summary_rows,
        compare_to_best,
        compare_to_references,
        markdown_table,
        summary_json,
    )

    try:
        references = [Reference.parse(text) for text in args.reference]
    except ValueError as error:
        print(f"hodgnn summarize: {error}", file=sys.stderr)
        return 2
    try:
        rows = (
            collect_summary_rows(*args.folder)
            if args.from_summaries
            else aggregate(collect_results(*args.folder))
        )
    except ValueError as error:
        print(f"hodgnn summarize: {error}", file=sys.stderr)
        return 2
    comparisons = compare_to_best(rows)
    reference_comparisons = compare_to_references(rows, references)
    table = markdown_table(rows, comparisons, reference_comparisons)
    print(table, end="")
    if args.output is not None:
        atomic_write_text(args.output, table)
    json_path = args.json
    if json_path is None and args.output is not None and args.output.suffix != ".json":
        json_path = args.output.with_suffix(".json")
    if json_path is not None:
        atomic_write_json(json_path, summary_json(rows, comparisons, reference_comparisons))
    return 0


def _quiet_lightning() -> None:
    """Hide Lightning's start-up banners (GPU/TPU availability, tips); warnings still show."""
    import logging

    import lightning.pytorch  # noqa: F401  (sets its loggers to INFO when imported; lower them after)

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]])
        return int(module.main(argv[1:]) or 0)
    parser, commands = build_parser()
    if not argv or argv[0] not in commands:
        parser.parse_args(argv)  # --help, or an error naming the unknown command
        parser.print_help()
        return 0
    # The command's own parser, intermixed: overrides may come before or after the options.
    args = commands[argv[0]].parse_intermixed_args(argv[1:])
    if argv[0] == "train":
        _quiet_lightning()
        return train_command(args)
    return summarize_command(args)


if __name__ == "__main__":
    sys.exit(main())
