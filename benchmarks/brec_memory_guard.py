"""What the memory guard says of a BREC model on each pair, without training it: a dry run.

For every pair, the variant is built as ``hodgnn brec`` builds it
(:func:`~hodgnn.expressivity.brec.evaluate_pair`: the RPC seed, the pair's transforms) and its first RPC
batch (``batch_size`` graphs; every batch holds relabelled copies of the same two graphs, so every batch
has the same supports and estimates) goes through the model inside
:func:`hodgnn.derivatives.recorded_estimates`, which records every memory check and stops at the one that
guards the model's largest tensors (``the mixed derivative tensors`` for 2-HOD, ``the derivative
tensors`` for 1-HOD, ``the DS-GNN subgraph bag``) before allocating them. A pair is *stopped* when one of
its checks exceeds the budget (``$HODGNN_MEMORY_BUDGET``, else 8 GiB): ``hodgnn brec`` then records it as
not run, with that estimate.

    python -m benchmarks.brec_memory_guard              # hod2 on 4-vertex + distance-regular
    python -m benchmarks.brec_memory_guard --models hod2,ds_gnn --categories cfi
    python -m benchmarks.brec_memory_guard --render     # the page from the JSON only
    python -m benchmarks.brec_memory_guard --measure 381,386   # and the real peak of a step on two

With ``--measure`` (every pair, or the listed ones), each such pair that the guard lets through also
runs one real RPC training step (forward, the separation loss, backward) on the same batch in a fresh
process (:func:`step_worker` through :func:`benchmarks.common.run_isolated`), which reports the peak
of the bytes held by tensors during the step and the peak resident set it added: how the estimate
compares with what the step needs (the derivative estimates cover the engine, not the encoders and
the downstream network, nor the allocator's overhead).

Writes ``benchmarks/results/brec_memory_guard.json`` and ``docs/results/brec_memory_guard.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import load_average, machine_summary, run_isolated
from benchmarks.render import PAGES, fill, table, write_page
from hodgnn.derivatives.memory import DERIVATIVE_TENSORS, MIXED_DERIVATIVE_TENSORS, SUBGRAPH_BAG
from hodgnn.environment import utc_now
from hodgnn.io import atomic_write_json

_, JSON_PATH, MARKDOWN_PATH, _ = PAGES["brec_memory_guard"]
DEFAULT_CATEGORIES = "4_vertex_condition,distance_regular"


def stop_check(variant) -> str:
    """The check that guards the largest tensors of a variant: the dry run stops there."""
    if variant.model == "ds_gnn":
        return SUBGRAPH_BAG
    if variant.options.get("k") == 2:
        return MIXED_DERIVATIVE_TENSORS
    return DERIVATIVE_TENSORS


def dry_run_pair(variant, pair, config) -> dict[str, Any]:
    """The memory checks of ``variant``'s first RPC batch on ``pair`` (largest estimate per check)."""
    import torch
    from torch_geometric.loader import DataLoader

    from hodgnn.data.brec import brec_info
    from hodgnn.derivatives import MemoryBudgetError, recorded_estimates
    from hodgnn.expressivity.models import build_variant, cast_graphs, prepare_graphs

    dtype = getattr(torch, config.dtype)
    model = build_variant(variant, brec_info(config.output_dim), config.seed).to(dtype)
    graphs = cast_graphs(prepare_graphs(model, pair.graphs), dtype)
    batch = next(iter(DataLoader(graphs, batch_size=config.batch_size, shuffle=False)))
    model.train()
    start = time.perf_counter()
    with torch.no_grad(), recorded_estimates(stop_check(variant)) as checks:
        try:
            model(batch)
        except MemoryBudgetError:  # recorded: the first check above the budget
            pass
    estimates: dict[str, int] = {}
    for check in checks:
        estimates[check.what] = max(estimates.get(check.what, 0), check.estimate_bytes)
    budget = checks[-1].budget_bytes if checks else None
    over = [check.what for check in checks if check.exceeds_budget]
    return {
        "pair_id": pair.pair_id,
        "category": pair.category,
        "nodes": int(pair.graphs[0].num_nodes),
        "edges": int(pair.graphs[0].edge_index.size(1) // 2),
        "batch_graphs": int(batch.num_graphs),
        "estimates_bytes": estimates,
        "budget_bytes": budget,
        "reached": checks[-1].what if checks else None,
        "stopped_by": over[0] if over else None,
        "dry_run_s": time.perf_counter() - start,
    }


def step_worker(model: str, pair_id: int, threads: int) -> dict[str, Any]:
    """One RPC training step of ``model`` on the first batch of ``pair_id``, in this (fresh) process:
    its tensor peak and resident-set peak (:func:`benchmarks.common.measure_peak_memory`) and time."""
    import torch
    from torch_geometric.loader import DataLoader

    from benchmarks.common import measure_peak_memory
    from hodgnn.data.brec import BRECDataset, brec_info
    from hodgnn.expressivity.brec import RPCConfig, separation_loss
    from hodgnn.expressivity.models import build_variant, cast_graphs, prepare_graphs, resolve_variant

    torch.set_num_threads(threads)
    config, pair = RPCConfig(), BRECDataset().pair(pair_id)
    dtype = getattr(torch, config.dtype)
    model_ = build_variant(resolve_variant(model), brec_info(config.output_dim), config.seed).to(dtype)
    graphs = cast_graphs(prepare_graphs(model_, pair.graphs), dtype)
    batch = next(iter(DataLoader(graphs, batch_size=config.batch_size, shuffle=False)))
    model_.train()

    def step() -> None:
        separation_loss(model_(batch), config.margin).backward()

    start = time.perf_counter()
    peaks = measure_peak_memory(step)  # the step twice: resident set, then tensors under the profiler
    return {"status": "ok", **peaks, "two_steps_s": time.perf_counter() - start}


def measure(
    models: list[str],
    pair_ids: list[int],
    threads: int,
    command: str,
    log=print,
    measure_pairs: Collection[int] = (),
    rss_limit: int | None = None,
) -> dict[str, Any]:
    import torch

    from hodgnn.data.brec import BRECDataset
    from hodgnn.derivatives.memory import default_memory_budget
    from hodgnn.expressivity.brec import RPCConfig
    from hodgnn.expressivity.models import resolve_variant

    torch.set_num_threads(threads)
    dataset, config = BRECDataset(), RPCConfig()
    records = {}
    for name in models:
        variant = resolve_variant(name)
        rows = []
        for pair_id in pair_ids:
            rows.append(dry_run_pair(variant, dataset.pair(pair_id), config))
            r = rows[-1]
            largest = max(r["estimates_bytes"].values(), default=0)
            log(
                f"[{name}] pair {pair_id} ({r['category']}, n={r['nodes']}): largest estimate "
                f"{largest / 2**30:.2f} GiB, {'stopped by ' + r['stopped_by'] if r['stopped_by'] else 'runs'}"
                f" ({r['dry_run_s']:.1f} s)"
            )
            if pair_id in measure_pairs and r["stopped_by"] is None:
                kwargs = {"model": name, "pair_id": pair_id, "threads": threads}
                worker = "benchmarks.brec_memory_guard:step_worker"
                r["step"] = run_isolated(worker, kwargs, rss_limit=rss_limit)
                log(f"    one training step: {_step_cell(r['step'])}")
        records[name] = {"options": variant.options, "stop_check": stop_check(variant), "pairs": rows}
    return {
        "benchmark": "brec_memory_guard",
        "command": command,
        "date": utc_now(),
        "machine": machine_summary(),
        "torch": torch.__version__,
        "threads": threads,
        "load_average_before": load_average(),
        "budget_bytes": default_memory_budget(),
        "rpc_batch_size": config.batch_size,
        "measured_steps": bool(measure_pairs),
        "models": records,
    }


def _step_cell(step: dict[str, Any] | None) -> str:
    """A measured step as ``tensor peak / resident-set increase`` in GiB, or why it has none."""
    if step is None:
        return "-"
    if step.get("status") != "ok":
        return f"{step.get('status')}: {step.get('error', '')}"
    rss = step.get("rss_peak_bytes")
    rss_text = f"{rss / 2**30:.2f}" if rss is not None else "n/a"
    return f"{step['tensor_peak_bytes'] / 2**30:.2f} / {rss_text}"


def render(payload: dict[str, Any]) -> str:
    gib = 2**30
    sections = []
    if payload.get("measured_steps"):
        sections.append(
            "Measured (`--measure`, last column): for the pairs it lists that the guard lets through, one"
            " real RPC training step (forward, separation loss, backward) on the same batch in a fresh"
            " process: the peak of the"
            " bytes held by tensors during the step (`torch.profiler` memory events) and the peak resident"
            " set it added over the resident set before it (`VmHWM`).\n"
        )
    for name, record in payload["models"].items():
        checks = list(dict.fromkeys(w for r in record["pairs"] for w in r["estimates_bytes"]))
        rows = []
        for r in record["pairs"]:
            cells = [r["pair_id"], r["category"], r["nodes"], r["edges"]]
            cells += [
                f"{r['estimates_bytes'][w] / gib:.2f}" if w in r["estimates_bytes"] else "-" for w in checks
            ]
            cells.append(f"stopped: {r['stopped_by']}" if r["stopped_by"] else "runs")
            if payload.get("measured_steps"):
                cells.append(_step_cell(r.get("step")))
            rows.append(cells)
        stopped = sum(r["stopped_by"] is not None for r in record["pairs"])
        header = ["pair", "category", "nodes", "edges", *[f"{w} (GiB)" for w in checks], "guard"]
        if payload.get("measured_steps"):
            header.append("one step: tensor peak / resident-set increase (GiB)")
        sections.append(
            f"## {name} ({record['options']}): {stopped} of {len(record['pairs'])} pairs stopped\n"
        )
        sections.append("\n".join(table(header, rows)) + "\n")
    return fill(
        "brec_memory_guard.md",
        command=payload["command"],
        date=payload["date"],
        machine=payload["machine"],
        torch=payload["torch"],
        threads=payload["threads"],
        budget_gib=payload["budget_bytes"] / gib,
        batch_size=payload["rpc_batch_size"],
        sections="\n".join(sections),
    )


def _pair_list(text: str | None) -> list[int]:
    """``"381,386"`` as ``[381, 386]``; ``None`` as no pairs."""
    if text is None:
        return []
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise SystemExit(f"--measure: expected comma-separated pair ids, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    from hodgnn.data.brec import pair_ids_from_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="hod2", help="comma-separated BREC variants (default hod2)")
    parser.add_argument("--categories", default=DEFAULT_CATEGORIES, help=f"default {DEFAULT_CATEGORIES}")
    parser.add_argument(
        "--pairs", default=None, help="explicit comma-separated pair ids (overrides --categories)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--measure",
        nargs="?",
        const="all",
        default=None,
        help="also run one real training step on every pair (or the comma-separated pairs given) that"
        " the guard lets through and record its peaks",
    )
    parser.add_argument(
        "--rss-limit-gib",
        type=float,
        default=16.0,
        help="kill a measured step above this resident set (GiB; default 16)",
    )
    parser.add_argument("--render", action="store_true", help="only render the page from the JSON")
    args = parser.parse_args(argv)
    if not args.render:
        pair_ids = pair_ids_from_arguments(args.pairs, args.categories)
        command = " ".join(
            ["python -m benchmarks.brec_memory_guard", *(argv if argv is not None else sys.argv[1:])]
        )
        payload = measure(
            args.models.split(","),
            pair_ids,
            args.threads,
            command,
            measure_pairs=pair_ids if args.measure == "all" else _pair_list(args.measure),
            rss_limit=int(args.rss_limit_gib * 2**30),
        )
        atomic_write_json(JSON_PATH, payload)
    print(f"wrote {write_page('brec_memory_guard')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
