"""Peak memory and time of one forward + backward pass per model on a batch of real molecules.

Every model runs in a fresh subprocess (:func:`benchmarks.common.run_isolated`, so one model's
allocations never count for another). Inside it: the data and the model are prepared, the
process's peak-RSS counter is reset (``/proc/self/clear_refs`` = 5, Linux), one training-mode
forward + backward pass runs, and ``VmHWM`` (peak resident set) is read. Reported: the peak RSS of
the pass, its increase over the RSS just before the pass, and the median wall time of further
passes.

    python benchmarks/model_memory.py                 # HOD-GNN, HOD-GNN (diagonal), GINE+RWSE, DS-GNN
    python benchmarks/model_memory.py --batch-size 32 --repeats 5
    python benchmarks/model_memory.py --render        # the page from the JSON only

Writes ``benchmarks/results/model_memory.json`` and ``docs/results/model_memory.md`` (template
``benchmarks/templates/model_memory.md``).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    load_average,
    machine_summary,
    proc_status_bytes,
    reset_peak_rss,
    run_isolated,
    structure_counts,
)
from benchmarks.render import PAGES, fill, row, write_page
from hodgnn.environment import utc_now
from hodgnn.io import atomic_write_json

_, JSON_PATH, MARKDOWN_PATH, _ = PAGES["model_memory"]
LIMIT_BYTES = 4 * 2**30

# label -> (registry name, options); everything else is the registry default
MODELS = {
    "hodgnn": ("hodgnn", {}),
    "hodgnn_diagonal": ("hodgnn", {"u_node": "diagonal", "u_out": False}),
    "gine_rwse": ("gine_rwse", {}),
    "ds_gnn": ("ds_gnn", {}),
}


def run_worker(label: str, batch_size: int, repeats: int, threads: int, root: str | None) -> dict:
    """Measure one model in this (fresh) process; returns the result as a dict."""
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
    rss_before = proc_status_bytes("VmRSS")
    reset_peak_rss()
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    peak = proc_status_bytes("VmHWM")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {
        "label": label,
        "model": name,
        "options": options,
        "parameters": sum(p.numel() for p in model.parameters()),
        "graphs": batch.num_graphs,
        "nodes": int(batch.num_nodes),
        "edges": int(batch.edge_index.size(1)),
        "rss_before_mib": rss_before / 2**20,
        "peak_rss_mib": peak / 2**20,
        "peak_increase_mib": (peak - rss_before) / 2**20,
        "first_pass_s": first,
        "time_per_batch_s": statistics.median(times),
        "times_s": times,
        "fits_4gib": peak < LIMIT_BYTES,
        **structure_counts(model, batch),
    }


def _row(r: dict) -> str:
    if "error" in r:
        return f"| {r['label']} | | | | | | failed: {r['error']} |"
    notes = []
    if "derivative_pairs" in r:
        notes.append(f"{r['derivative_pairs']:,} stored pairs over layers 1..T")
    if "bag_nodes" in r:
        notes.append(f"{r['bag_nodes']:,} bag nodes")
    notes.append("fits in 4 GiB" if r["fits_4gib"] else "ABOVE 4 GiB")
    return row(
        [r["label"], f"{r['parameters']:,}", f"{r['peak_rss_mib']:.0f}", f"{r['peak_increase_mib']:.0f}"]
        + [f"{r['time_per_batch_s']:.3f}", f"{r['first_pass_s']:.3f}", "; ".join(notes)]
    )


def render(payload: dict) -> str:
    """The markdown page of a results dict."""
    first = next((r for r in payload["results"] if "nodes" in r), None)
    batch = []
    if first is not None:
        batch = ["", f"The batch holds {first['nodes']:,} nodes and {first['edges']:,} directed edges."]
    fields = (
        "command",
        "machine",
        "torch",
        "threads",
        "date",
        "load_average_before",
        "batch_size",
        "repeats",
    )
    return fill(
        "model_memory.md",
        **{key: payload[key] for key in fields},
        rows=[_row(r) for r in payload["results"]],
        batch=batch,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--root", default=None, help="data root (default: $HODGNN_DATA_ROOT or ../shared/data)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write no files")
    parser.add_argument("--render", action="store_true", help="only render the page from the JSON")
    args = parser.parse_args(argv)
    if args.render:
        print(f"wrote {write_page('model_memory')}")
        return 0

    import torch

    load_before = load_average()
    results = []
    for label in args.models:
        kwargs = {"label": label, "batch_size": args.batch_size, "repeats": args.repeats}
        kwargs.update(threads=args.threads, root=args.root)
        result = run_isolated("benchmarks.model_memory:run_worker", kwargs)
        results.append({"label": label, **result})
        print(json.dumps(results[-1]))
    payload = {
        "command": " ".join(
            ["python benchmarks/model_memory.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine_summary(),
        "torch": torch.__version__,
        "threads": args.threads,
        "load_average_before": load_before,
        "date": utc_now(),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "results": results,
    }
    if not args.no_write:
        atomic_write_json(JSON_PATH, payload)
        write_page("model_memory", payload)
        print(f"wrote {JSON_PATH} and {MARKDOWN_PATH}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
