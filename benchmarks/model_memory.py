"""Peak memory and time of one forward + backward pass per model on a batch of real molecules.

Every model runs in a fresh subprocess (so one model's allocations never count for another).
Inside it: the data and the model are prepared, the process's peak-RSS counter is reset
(``/proc/self/clear_refs`` = 5, Linux), one training-mode forward + backward pass runs, and
``VmHWM`` (peak resident set) is read. Reported: the peak RSS of the pass, its increase over the
RSS just before the pass, and the median wall time of further passes.

    python benchmarks/model_memory.py                 # HOD-GNN, HOD-GNN (diagonal), GINE+RWSE, DS-GNN
    python benchmarks/model_memory.py --batch-size 32 --repeats 5

Writes ``benchmarks/results/model_memory.json`` and ``docs/results/model_memory.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JSON_PATH = REPO / "benchmarks" / "results" / "model_memory.json"
MARKDOWN_PATH = REPO / "docs" / "results" / "model_memory.md"
LIMIT_BYTES = 4 * 2**30

# label -> (registry name, options); everything else is the registry default
MODELS = {
    "hodgnn": ("hodgnn", {}),
    "hodgnn_diagonal": ("hodgnn", {"u_node": "diagonal", "u_out": False}),
    "gine_rwse": ("gine_rwse", {}),
    "ds_gnn": ("ds_gnn", {}),
}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_worker(label: str, batch_size: int, repeats: int, threads: int, root: str | None) -> dict:
    """Measure one model in this (fresh) process; returns the result as a dict."""
    import gc

    import torch
    from torch_geometric.data import Batch

    from hodgnn.data import load_dataset
    from hodgnn.nn import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    splits = load_dataset("ogbg-molbace", root=root)
    name, options = MODELS[label]
    model = build_model(name, splits.info, **options)
    graphs = [splits.train[i] for i in range(batch_size)]
    for transform in model.required_transforms():
        graphs = [transform(g) for g in graphs]
    batch = Batch.from_data_list(graphs)
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.y)
        loss.backward()

    gc.collect()
    rss_before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    result = {
        "label": label,
        "model": name,
        "options": options,
        "parameters": sum(p.numel() for p in model.parameters()),
        "graphs": batch.num_graphs,
        "nodes": int(batch.num_nodes),
        "edges": int(batch.edge_index.size(1)),
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": peak / 1024,
        "peak_increase_mib": (peak - rss_before) / 1024,
        "first_pass_s": first,
        "time_per_batch_s": statistics.median(times),
        "times_s": times,
        "fits_4gib": peak * 1024 < LIMIT_BYTES,
    }
    if name == "hodgnn":
        from hodgnn.derivatives import build_pair_support

        diagonal_only = model.diagonal_only
        T = model.base.num_layers
        support = build_pair_support(batch.edge_index, batch.num_nodes, T, diagonal_only)
        result["derivative_pairs"] = sum(support.num_pairs(t) for t in range(1, T + 1))
    if name == "ds_gnn":
        sizes = torch.bincount(batch.batch)
        result["bag_nodes"] = int((sizes * sizes).sum())
    return result


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def markdown(payload: dict) -> str:
    lines = [
        "# Model memory and time: one forward + backward pass on ogbg-molbace",
        "",
        f"- Command: `{payload['command']}`",
        f"- Machine: {payload['machine']}; torch {payload['torch']}, {payload['threads']} thread(s)",
        f"- Date: {payload['date']}",
        f"- Load average (1, 5, 15 min) before the run: {payload['load_average_before']}; other jobs "
        "shared the CPUs, so times are indicative (memory is not affected).",
        f"- Batch: the first {payload['batch_size']} molecules of the scaffold training split, "
        "training mode, BCE-with-logits loss; memory = peak resident set (VmHWM) of a fresh "
        "process per model during the first pass; time = median of "
        f"{payload['repeats']} further passes.",
        "- HOD-GNN defaults: 1-HOD, order m = 3, SiLU GIN base of width 16 and depth T = 3, "
        "base input width 4, U_out on and U_node the full sparse 2-IGN (hodgnn), or U_out off and "
        "U_node diagonal-only per layer (hodgnn_diagonal), "
        "downstream GINE of 4 layers, width 64. GINE+RWSE: walk length 20. DS-GNN: full bag, "
        "3-layer GINE subgraph network of width 64, same downstream.",
        "",
        "| model | parameters | peak RSS (MiB) | increase over pre-pass RSS (MiB) | time per batch (s) "
        "| first pass (s) | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["results"]:
        if "error" in r:
            lines.append(f"| {r['label']} | | | | | | failed: {r['error']} |")
            continue
        notes = []
        if "derivative_pairs" in r:
            notes.append(f"{r['derivative_pairs']:,} stored pairs over layers 1..T")
        if "bag_nodes" in r:
            notes.append(f"{r['bag_nodes']:,} bag nodes")
        notes.append("fits in 4 GiB" if r["fits_4gib"] else "ABOVE 4 GiB")
        lines.append(
            f"| {r['label']} | {r['parameters']:,} | {r['peak_rss_mib']:.0f} | {r['peak_increase_mib']:.0f} "
            f"| {r['time_per_batch_s']:.3f} | {r['first_pass_s']:.3f} | {'; '.join(notes)} |"
        )
    first = next((r for r in payload["results"] if "nodes" in r), None)
    if first is not None:
        lines += ["", f"The batch holds {first['nodes']:,} nodes and {first['edges']:,} directed edges."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--root", default=None, help="data root (default: $HODGNN_DATA_ROOT or ../shared/data)"
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only, write no files")
    args = parser.parse_args(argv)

    if args.worker is not None:
        result = run_worker(args.worker, args.batch_size, args.repeats, args.threads, args.root)
        print(json.dumps(result))
        return 0

    import torch

    load_before = [round(x, 2) for x in os.getloadavg()]
    results = []
    for label in args.models:
        command = [sys.executable, __file__, "--worker", label, "--batch-size", str(args.batch_size)]
        command += ["--repeats", str(args.repeats), "--threads", str(args.threads)]
        if args.root:
            command += ["--root", args.root]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            results.append({"label": label, "error": error})
        else:
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]))
    payload = {
        "command": " ".join(
            ["python benchmarks/model_memory.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "load_average_before": load_before,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "results": results,
    }
    if not args.no_write:
        from hodgnn.train.results import atomic_write_text, write_json

        write_json(JSON_PATH, payload)
        atomic_write_text(MARKDOWN_PATH, markdown(payload))
        print(f"wrote {JSON_PATH.relative_to(REPO)} and {MARKDOWN_PATH.relative_to(REPO)}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
