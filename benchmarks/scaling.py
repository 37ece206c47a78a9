"""Time and peak memory of one training step against graph size, and on real Peptides batches.

Three suites, every measurement in a fresh subprocess (clean peak memory, one model's allocations
never count for another):

* ``synthetic`` (default): one graph per step, random sparse graphs (``G(n, m)`` with
  ``m = 3n/2``: mean degree 3) and 2-D grids (``side = round(sqrt(n))``), ``n`` from 50 to 5000,
  for 1-HOD with the full pair support (``hod1_full``: U_out and the sparse 2-IGN U_node), 1-HOD
  diagonal-only (``hod1_diag``: every layer's diagonal, pruned support), 2-HOD (``hod2``), DS-GNN
  with the full bag (``ds_gnn``) and GINE+RWSE (``gine_rwse``). A step is forward + L1 loss +
  backward + AdamW step. Fitted growth exponents are log-log least-squares slopes.
* ``peptides``: training steps on batches of the official Peptides-func training split (full
  graphs, no sampling) for HOD-GNN, GCN+RWSE and DS-GNN, extrapolated to an epoch.
* ``e2e``: whole epochs through the trainer (``hodgnn train``, official split, full graphs, no
  sampling) on ``--dataset`` (``peptides-func``, or ``peptides-struct`` with ``--target-file``, by
  default a generated file of synthetic targets: the real ones are not offline), one
  process per model; its peak resident set comes from ``wait4``. Results accumulate per
  (dataset, model) in ``benchmarks/results/peptides_e2e.json``.

Limits: a per-config wall-clock limit (``--time-limit``), the models' memory guard
(``memory_budget``: HOD-GNN and DS-GNN raise :class:`hodgnn.derivatives.MemoryBudgetError`
before allocating; the estimate is recorded) and a resident-set watchdog (``--rss-limit``) that
kills a worker above it. A config that hits the time or RSS limit is not run at larger sizes.

Memory: the peak resident set (``VmHWM``, reset with ``/proc/self/clear_refs``, Linux) during the
steps, minus the resident set just before them (the model, graph and libraries are loaded).

    nice python benchmarks/scaling.py                        # synthetic suite, writes results + docs
    python benchmarks/scaling.py --sizes 50 200 --models hod1_diag gine_rwse --no-write
    nice python benchmarks/scaling.py --suite peptides       # real Peptides-func batches
    nice python benchmarks/scaling.py --suite e2e --models gcn_rwse --epochs 2   # hodgnn train
    python benchmarks/scaling.py --suite render              # rewrite docs/results/scale.md only

Writes ``benchmarks/results/scaling.json`` / ``peptides_scale.json`` / ``peptides_e2e.json``,
``docs/results/scaling.png`` and ``docs/results/scale.md``. The measurements are in
:mod:`benchmarks.scaling_workers`, the page and the plot in :mod:`benchmarks.scaling_report`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO_ROOT, load_average, machine_summary, run_isolated
from benchmarks.render import write_page
from benchmarks.scaling_report import E2E_JSON, PEPTIDES_JSON, SYNTHETIC_JSON, check_targets, exponents
from benchmarks.scaling_workers import (
    DEFAULT_SIZES,
    FAMILIES,
    PEPTIDES_RUNS,
    SYNTHETIC_MODELS,
    peptides_config,
    peptides_worker,
    synthetic_worker,
)
from hodgnn.environment import utc_now
from hodgnn.io import atomic_write, atomic_write_json

PEPTIDES_DEFAULT = ["gcn_rwse", "hodgnn", "hodgnn_b32", "hodgnn_t3_b32", "ds_gnn", "ds_gnn_b32", "ds_gnn_b2"]
E2E_DEFAULT = ["ds_gnn", "hodgnn", "gcn_rwse", "hodgnn_t3_b32"]
SYNTHETIC_MEMORY_BUDGET = 4 * 2**30


def _run_worker(name: str, kwargs: dict[str, Any], time_limit: float, rss_limit: int) -> dict[str, Any]:
    """One worker of :mod:`benchmarks.scaling_workers` in a fresh process under the watchdog."""
    started = time.perf_counter()
    result = run_isolated(f"benchmarks.scaling_workers:{name}", kwargs, time_limit, rss_limit)
    result.setdefault("status", "ok")
    result["wall_s"] = time.perf_counter() - started
    return result


def _worker_call(args: argparse.Namespace) -> dict[str, Any]:
    """``--worker``: one configuration in this process (what :func:`_run_worker` runs)."""
    common = {"model": args.model, "repeats": args.repeats, "threads": args.threads, "seed": args.seed}
    common.update(time_limit=args.time_limit, memory_budget=args.memory_budget)
    if args.worker == "synthetic":
        return synthetic_worker(family=args.family, n=args.n, **common)
    return peptides_worker(batches=args.batches, root=args.root, **common)


def write_outputs(payload: dict[str, Any], json_path: Path) -> None:
    atomic_write_json(json_path, payload)
    page = write_page("scale", plots=payload.get("suite") == "synthetic")
    print(f"wrote {json_path.relative_to(REPO_ROOT)} and {page.relative_to(REPO_ROOT)}")


def _payload_base(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    import torch

    return {
        "suite": args.suite,
        "command": "python benchmarks/scaling.py " + " ".join(argv),
        "machine": machine_summary(),
        "torch": torch.__version__,
        "threads": args.threads,
        "date": utc_now(),
        "load_average_before": load_average(),
        "time_limit": args.time_limit,
        "memory_budget": args.memory_budget,
        "rss_limit": args.rss_limit,
    }


def run_synthetic(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    if args.memory_budget is None:
        args.memory_budget = SYNTHETIC_MEMORY_BUDGET
    payload = _payload_base(args, argv)
    results: list[dict[str, Any]] = []
    if args.merge and SYNTHETIC_JSON.exists():  # keep earlier results of the configs not rerun here
        earlier = json.loads(SYNTHETIC_JSON.read_text())
        rerun = {(m, f, n) for m in args.models for f in args.families for n in args.sizes}
        results = [r for r in earlier["results"] if (r["model"], r["family"], r["n_requested"]) not in rerun]
        merged = {key: payload[key] for key in ("command", "date", "load_average_before")}
        payload = {**earlier, "merged_commands": [*earlier.get("merged_commands", []), merged]}
    for family in args.families:
        for model in args.models:
            stopped = None
            for n in args.sizes:
                if stopped is not None:
                    skipped = {"model": model, "family": family, "n_requested": n, "n": n}
                    results.append({**skipped, "status": "skipped", "reason": stopped})
                    print(json.dumps(results[-1]), flush=True)
                    continue
                kwargs = {"model": model, "family": family, "n": n, "repeats": args.repeats}
                kwargs.update(threads=args.threads, seed=args.seed, time_limit=args.time_limit)
                kwargs.update(memory_budget=args.memory_budget)
                result = _run_worker("synthetic_worker", kwargs, args.time_limit * 1.5 + 30, args.rss_limit)
                result.setdefault("model", model)
                result.setdefault("family", family)
                result.setdefault("n_requested", n)
                result.setdefault("n", n)
                results.append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "error"}), flush=True)
                if result["status"] in ("timeout", "rss_limit", "error"):
                    stopped = f"{result['status']} at n={n}"
    results.sort(key=lambda r: (FAMILIES.index(r["family"]), list(SYNTHETIC_MODELS).index(r["model"])))
    payload.update(
        results=results,
        sizes=sorted({r["n_requested"] for r in results}),
        fit_min=args.fit_min,
        exponents=exponents(results, args.fit_min),
        targets=check_targets(results),
        load_average_after=payload.get("load_average_after") or load_average(),
    )
    return payload


def run_peptides(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    payload = _payload_base(args, argv)
    results = []
    for model in args.models:
        kwargs = {"model": model, "batches": args.batches, "repeats": args.repeats, "threads": args.threads}
        kwargs.update(seed=args.seed, time_limit=args.time_limit, memory_budget=args.memory_budget)
        kwargs.update(root=args.root)
        result = _run_worker("peptides_worker", kwargs, args.time_limit * 2 + 120, args.rss_limit)
        result.setdefault("model", model)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k not in ("error",)}), flush=True)
    payload.update(results=results, load_average_after=load_average())
    return payload


def synthetic_struct_targets(path: Path, root: str | None = None, seed: int = 0) -> Path:
    """A Peptides-struct target file in LRGB's format with synthetic targets.

    The official Peptides-struct targets are not in the offline data root; this writes the official
    peptide SMILES (the Peptides-func CSV: the same 15 535 rows, so the shared official split applies)
    with the 11 target columns of ``peptide_structure_normalized_dataset.csv.gz`` filled with seeded
    standard-normal values. Only for exercising the code path: the targets carry no signal.
    """
    import numpy as np
    import pandas as pd

    from hodgnn.data.peptides import PEPTIDES, STRUCT_TARGETS
    from hodgnn.data.root import resolve_data_root

    source = resolve_data_root(root) / "peptides" / "raw" / PEPTIDES["peptides-func"]["csv"]
    frame = pd.read_csv(source, usecols=["smiles"])
    rng = np.random.default_rng(seed)
    for name in STRUCT_TARGETS:
        frame[name] = rng.standard_normal(len(frame))
    atomic_write(path, lambda handle: frame.to_csv(handle, index=False, compression="gzip"))
    return path


def e2e_overrides(args: argparse.Namespace, model: str) -> list[str]:
    """Command-line overrides of one end-to-end run on top of ``PEPTIDES_RUNS[model]``."""
    overrides = list(PEPTIDES_RUNS[model][1])
    overrides += [f"epochs={args.epochs}", "train.device=cpu", f"train.num_threads={args.threads}"]
    overrides += ["train.progress_bar=false", f"train.output_dir={Path(args.output_dir).resolve()}"]
    overrides += [f"train.run_name={args.dataset}/{model}"]
    if args.target_file:
        overrides.append(f"data.options.target_file={Path(args.target_file).resolve()}")
    if args.root:
        overrides.append(f"data.root={args.root}")
    return overrides


def run_e2e(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Train every model for ``--epochs`` whole epochs with ``hodgnn train`` in its own process."""
    payload = json.loads(E2E_JSON.read_text()) if E2E_JSON.exists() else {"suite": "e2e", "runs": {}}
    if args.dataset == "peptides-struct" and not args.target_file:
        target = Path(args.output_dir) / "peptides-struct-synthetic-targets.csv.gz"
        args.target_file = str(synthetic_struct_targets(target, args.root, args.seed))
    for model in args.models:
        overrides = e2e_overrides(args, model)
        config_file = REPO_ROOT / "configs" / args.dataset / PEPTIDES_RUNS[model][0]
        config = peptides_config(model, args.dataset, tuple(overrides[len(PEPTIDES_RUNS[model][1]) :]))
        run_dir = Path(config.train.output_dir) / config.resolved_run_name
        run_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "hodgnn.cli", "train", "--config", str(config_file), "--restart"]
        command += overrides
        load_before = load_average()
        started = time.perf_counter()
        with open(run_dir / "stdout.log", "w") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        entry: dict[str, Any] = {
            "dataset": args.dataset,
            "model": model,
            "config_file": str(config_file.relative_to(REPO_ROOT)),
            "overrides": PEPTIDES_RUNS[model][1],
            "batch_size": config.data.batch_size,
            "model_name": config.model.name,
            "model_options": config.model.options,
            "hodgnn_train": " ".join(
                ["hodgnn train --restart", "--config", str(config_file.relative_to(REPO_ROOT)), *overrides]
            ),
            "command": "python benchmarks/scaling.py " + " ".join(argv),
            "machine": machine_summary(),
            "date": utc_now(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "returncode": proc.returncode,
            "wall_s": time.perf_counter() - started,
            "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux: KiB
            "cpu_s": usage.ru_utime + usage.ru_stime,
        }
        results_path = run_dir / "seed_0" / "results.json"
        if results_path.exists():
            result = json.loads(results_path.read_text())
            keys = (
                "status",
                "error",
                "metric",
                "num_parameters",
                "epochs_run",
                "seconds_per_epoch",
                "fit_seconds",
            )
            entry.update({k: result.get(k) for k in keys})
            entry["history"] = [
                {k: h.get(k) for k in ("epoch", "epoch_seconds", "train_loss", "val_metric", "test_metric")}
                for h in result.get("history", [])
            ]
        payload["runs"][f"{args.dataset}/{model}"] = entry
        print(
            json.dumps({k: v for k, v in entry.items() if k not in ("model_options", "history")}), flush=True
        )
    return payload


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=("synthetic", "peptides", "e2e", "render"), default="synthetic")
    parser.add_argument("--models", nargs="+", default=None, help="model labels (default: all of the suite)")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--repeats", type=int, default=3, help="timed steps after the first (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--time-limit", type=float, default=120.0, help="seconds of steps per config (default 120)"
    )
    parser.add_argument(
        "--memory-budget",
        type=int,
        default=None,
        help="memory guard budget in bytes (default: 4 GiB for synthetic, the library default otherwise)",
    )
    parser.add_argument(
        "--rss-limit", type=int, default=6 * 2**30, help="kill a worker above this RSS (6 GiB)"
    )
    parser.add_argument("--fit-min", type=int, default=200, help="smallest n used in the exponent fits")
    parser.add_argument(
        "--batches", type=int, default=4, help="peptides: distinct batches prepared (default 4)"
    )
    parser.add_argument(
        "--root", default=None, help="data root (default: $HODGNN_DATA_ROOT or ../shared/data)"
    )
    parser.add_argument("--epochs", type=int, default=1, help="e2e: epochs per run (default 1)")
    parser.add_argument(
        "--dataset", choices=("peptides-func", "peptides-struct"), default="peptides-func", help="e2e dataset"
    )
    parser.add_argument(
        "--target-file", default=None, help="e2e: Peptides-struct target CSV (default: synthetic targets)"
    )
    parser.add_argument("--output-dir", default=str(REPO_ROOT / "runs" / "scale"), help="e2e: run folders")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="synthetic: replace only the rerun configs in the existing results",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write no files")
    # worker-only arguments
    parser.add_argument("--worker", choices=("synthetic", "peptides"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--family", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.worker is not None:
        print(json.dumps(_worker_call(args)))
        return 0
    if args.suite == "render":
        print(f"wrote {write_page('scale')}")
        return 0
    catalogue = SYNTHETIC_MODELS if args.suite == "synthetic" else PEPTIDES_RUNS
    default = {"synthetic": list(SYNTHETIC_MODELS), "peptides": PEPTIDES_DEFAULT, "e2e": E2E_DEFAULT}
    args.models = args.models or default[args.suite]
    unknown = [m for m in args.models if m not in catalogue]
    if unknown:
        raise SystemExit(
            f"unknown model label(s) {unknown} for suite {args.suite!r}; choose from {list(catalogue)}"
        )
    if args.suite == "synthetic":
        payload, path = run_synthetic(args, argv), SYNTHETIC_JSON
    elif args.suite == "e2e":
        payload, path = run_e2e(args, argv), E2E_JSON
    else:
        payload, path = run_peptides(args, argv), PEPTIDES_JSON
    if not args.no_write:
        write_outputs(payload, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
