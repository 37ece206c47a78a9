"""Training speed of HOD-GNN against its baselines: one optimiser step on the same real batches.

For every case (a shipped HOD-GNN config and its baseline) the script builds both models as the
trainer does (``build_model``, ``required_transforms`` applied once), draws the first ``K + 1``
training batches in a fixed order, and times one AdamW step (zero_grad, forward, loss, backward,
step) per batch after one untimed warm-up step: the median step of each model and their ratio,
in one process and one run. The HOD-GNN step is also split into phases (support, engine forward,
encoders, downstream, their backward, engine backward), and the engine's achieved FLOP/s and
allocated bytes/s are set against the machine's peak measured in the same run (a large matmul
and a large copy).

    python -m benchmarks.train_speed                       # every case, 5 batches, 1 thread
    python -m benchmarks.train_speed --cases molbace --batches 3
    python -m benchmarks.train_speed --render              # markdown from the JSON only

Writes ``benchmarks/results/train_speed.json`` and ``docs/results/train_speed.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import REPO_ROOT, measure_peak_memory
from benchmarks.render import PAGES, write_page
from benchmarks.train_speed_report import PHASES
from hodgnn.environment import machine_info
from hodgnn.io import atomic_write_json

_, JSON_PATH, MARKDOWN_PATH, _ = PAGES["train_speed"]

# case -> (HOD-GNN config, baseline config, overrides of both, per-step target ratio)
CASES: dict[str, tuple[str, str, list[str], float | None]] = {
    "molbace": ("configs/molbace/hodgnn.yaml", "configs/molbace/gine_rwse.yaml", [], 5.0),
    "counting_silu": ("configs/counting/hod_silu.yaml", "configs/counting/mpnn_rwse.yaml", [], 12.0),
    "counting_relu": ("configs/counting/hod_relu.yaml", "configs/counting/mpnn_rwse.yaml", [], 5.0),
    "peptides": ("configs/peptides-func/hodgnn.yaml", "configs/peptides-func/gcn_rwse.yaml", [], 6.0),
    "molbace_1ch": (
        "configs/molbace/hodgnn.yaml",
        "configs/molbace/gine_rwse.yaml",
        ["model.options.base_in_channels=1"],
        5.0,
    ),
}
# BREC: one RPC batch of 16 relabelled copies of strongly regular pair 125 (29 nodes), official
# RPC config, separation loss; 2-HOD (variant hod2) against the 1-HOD model of the same order
BREC_CASE = {"pair_id": 125, "hodgnn": "hod2", "baseline": "hod_silu_m2"}
CASES["brec_2hod"] = ("hodgnn/expressivity (variant hod2)", "variant hod_silu_m2", [], None)


def _prepare(config_path: str, overrides: list[str], num_batches: int, hod_overrides=()) -> dict[str, Any]:
    """Model, optimiser, loss and the first ``num_batches + 1`` training batches of a config."""
    from torch_geometric.loader import DataLoader

    from hodgnn.nn import build_model
    from hodgnn.train.config import load_config
    from hodgnn.train.loaders import apply_transforms
    from hodgnn.train.metrics import resolve_loss
    from hodgnn.train.runner import load_splits

    config = load_config(REPO_ROOT / config_path, list(overrides) + list(hod_overrides))
    splits = load_splits(config)
    torch.manual_seed(0)
    model = build_model(config.model.name, splits.info, **config.model.options)
    size = config.data.batch_size
    graphs = [splits.train[i] for i in range(size * (num_batches + 1))]
    start = time.perf_counter()
    graphs = apply_transforms(graphs, list(model.required_transforms()))
    preprocessing = (time.perf_counter() - start) / len(graphs)
    batches = list(DataLoader(graphs, batch_size=size, shuffle=False))
    model.train()
    return {
        "model": model,
        "optimizer": torch.optim.AdamW(model.parameters(), lr=1e-4),
        "loss": resolve_loss(config.train.loss, splits.info.task),
        "batches": batches,
        "batch_size": size,
        "preprocessing_s_per_graph": preprocessing,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _prepare_brec(variant_name: str, num_batches: int, pair) -> dict[str, Any]:
    """A BREC model variant and ``num_batches + 1`` copies of one RPC batch of ``pair``."""
    from torch_geometric.loader import DataLoader

    from hodgnn.data.brec import brec_info
    from hodgnn.expressivity.brec import RPCConfig, separation_loss
    from hodgnn.expressivity.models import build_variant, prepare_graphs, resolve_variant

    config = RPCConfig()
    model = build_variant(resolve_variant(variant_name), brec_info(config.output_dim), config.seed)
    start = time.perf_counter()
    graphs = prepare_graphs(model, pair.graphs[: config.batch_size])
    preprocessing = (time.perf_counter() - start) / len(graphs)
    batch = next(iter(DataLoader(graphs, batch_size=config.batch_size, shuffle=False)))
    model.train()
    return {
        "model": model,
        "optimizer": torch.optim.Adam(model.parameters(), lr=config.lr),
        "loss_fn": lambda out, _: separation_loss(out, config.margin),
        "batches": [batch] * (num_batches + 1),
        "batch_size": config.batch_size,
        "preprocessing_s_per_graph": preprocessing,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _loss(run: dict[str, Any], out, batch):
    from hodgnn.train.metrics import compute_loss

    if "loss_fn" in run:
        return run["loss_fn"](out, batch)
    return compute_loss(run["loss"], out, batch.y)


def _step(run: dict[str, Any], batch) -> None:
    run["optimizer"].zero_grad(set_to_none=True)
    loss = _loss(run, run["model"](batch), batch)
    loss.backward()
    run["optimizer"].step()


def time_steps(run: dict[str, Any]) -> list[float]:
    """Seconds of one step on every batch after the first (the warm-up, untimed)."""
    batches = run["batches"]
    _step(run, batches[0])
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        _step(run, batch)
        times.append(time.perf_counter() - start)
    return times


def _derivative_tensors(der) -> list[tuple[str, torch.Tensor]]:
    """The distinct tensors of a ``DerivativeTensors`` that the encoders read."""
    found, seen = [], set()
    candidates = [("h", der.h)]
    if der.last is not None:
        candidates.append(("last", der.last.values))
    for i, layer in enumerate(der.per_layer or []):
        candidates.append((f"layer{i}", layer.values))
    if der.mixed is not None:
        candidates.append(("mixed", der.mixed.values))
    for name, tensor in candidates:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            found.append((name, tensor))
    return found


def _cut(der):
    """``der`` with every tensor replaced by a detached leaf (the autograd graph cut there)."""
    leaves = {id(t): t.detach().requires_grad_(t.requires_grad) for _, t in _derivative_tensors(der)}

    def leaf(t):
        return leaves[id(t)]

    def nodes(d):
        return None if d is None else dataclasses.replace(d, values=leaf(d.values), h=d.h.detach())

    per_layer = [nodes(d) for d in der.per_layer] if der.per_layer is not None else None
    last = per_layer[-1] if per_layer is not None and der.last is der.per_layer[-1] else nodes(der.last)
    cut = dataclasses.replace(der, h=leaf(der.h), last=last, per_layer=per_layer, mixed=nodes(der.mixed))
    return cut, leaves


def _leaf(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().requires_grad_(t.requires_grad)


def phase_times(run: dict[str, Any], batch, engine_context=None) -> dict[str, float]:
    """Seconds of every phase of one HOD-GNN step (no optimiser step). The autograd graph is cut
    at the derivative tensors and at the encoded inputs, so that the backward pass of the
    encoders and the downstream GNN is timed apart from the engine's (the inputs' gradients go
    back with the engine's). ``engine_context()``, if given, is entered around the engine's
    forward and its backward pass (a FLOP counter, a profiler)."""
    from contextlib import nullcontext

    from hodgnn.nn.downstream import graph_batch, used_edge_attr

    around = engine_context or nullcontext
    model = run["model"]
    model.zero_grad(set_to_none=True)
    x, edge_attr = model.encode_inputs(batch)
    edge_attr = used_edge_attr(edge_attr, model.edge_dim)
    b, num_graphs = graph_batch(batch)
    marks = [time.perf_counter()]
    supports = model.batch_supports(batch)
    marks.append(time.perf_counter())
    base_edge_attr = edge_attr if model.base_plan().needs("edge_attr") else None
    with around():
        der = model.compute_derivatives(model.input_projection(x), batch.edge_index, base_edge_attr, supports)
    marks.append(time.perf_counter())
    cut, leaves = _cut(der)
    x_cut, edge_cut = _leaf(x), _leaf(edge_attr)
    h = model.encode_derivatives(cut, x_cut, b, num_graphs)
    marks.append(time.perf_counter())
    down_edges = edge_cut if model.downstream.gnn.uses_edges else None
    out = model.downstream(h, batch.edge_index, b, num_graphs, down_edges)
    loss = _loss(run, out, batch)
    marks.append(time.perf_counter())
    loss.backward()
    marks.append(time.perf_counter())
    originals = [t for _, t in _derivative_tensors(der) if t.requires_grad]
    pairs = [(t, leaves[id(t)].grad) for t in originals]
    pairs += [
        (t, c.grad) for t, c in ((x, x_cut), (edge_attr, edge_cut)) if t is not None and t.requires_grad
    ]
    pairs = [(t, g) for t, g in pairs if g is not None]
    with around():
        if pairs:
            torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
    marks.append(time.perf_counter())
    return {name: marks[i + 1] - marks[i] for i, name in enumerate(PHASES)}


def engine_work(run: dict[str, Any], batch) -> dict[str, float]:
    """Matmul FLOPs and allocated bytes of the engine's forward + backward pass in one step of
    :func:`phase_times` (the encoders' real gradients; the inputs' backward is included)."""
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    flops, allocated = [0], [0]

    class _Flops:
        """A fresh counter per entry (``FlopCounterMode`` clears its counts when entered)."""

        def __enter__(self):
            self.counter = FlopCounterMode(display=False)
            self.counter.__enter__()

        def __exit__(self, *exc):
            self.counter.__exit__(*exc)
            flops[0] += self.counter.get_total_flops()

    phase_times(run, batch, _Flops)

    class _Allocations:
        """Positive ``[memory]`` events (each allocation once, nested ops not counted twice)."""

        def __enter__(self):
            self.prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True).__enter__()

        def __exit__(self, *exc):
            self.prof.__exit__(*exc)
            events = self.prof.profiler.kineto_results.events()
            allocated[0] += sum(e.nbytes() for e in events if e.name() == "[memory]" and e.nbytes() > 0)

    phase_times(run, batch, _Allocations)
    return {"flops": float(flops[0]), "bytes": float(allocated[0])}


def machine_peak() -> dict[str, float]:
    """FLOP/s of a 2048^3 float32 matmul (best of 3) and bytes/s of a 256 MiB copy (best of 5,
    read + write)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    matmul = min(_seconds(lambda: a @ b) for _ in range(3))
    src = torch.randn(64 * 2**20)
    dst = torch.empty_like(src)
    dst.copy_(src)
    copy = min(_seconds(lambda: dst.copy_(src)) for _ in range(5))
    return {"matmul_flops_per_s": 2 * 2048**3 / matmul, "copy_bytes_per_s": 2 * src.numel() * 4 / copy}


def _peak_rss(fn) -> int | None:
    """The process's peak resident set during ``fn()`` (``None`` off Linux)."""
    return measure_peak_memory(fn, tensor_peak=False).get("rss_peak_absolute_bytes")


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _batch_stats(batches) -> dict[str, float]:
    return {
        "nodes_per_batch": statistics.mean(b.num_nodes for b in batches[1:]),
        "edges_per_batch": statistics.mean(b.edge_index.size(1) for b in batches[1:]),
    }


def measure_case(
    name: str, num_batches: int, peak: dict[str, float], steps_only: bool = False
) -> dict[str, Any]:
    hod_config, base_config, overrides, target = CASES[name]
    result: dict[str, Any] = {"hodgnn_config": hod_config, "baseline_config": base_config}
    result.update({"overrides": overrides, "target_ratio": target})
    if name == "brec_2hod":
        from hodgnn.data.brec import BRECDataset

        pair = BRECDataset().pair(BREC_CASE["pair_id"])
        hod = _prepare_brec(BREC_CASE["hodgnn"], num_batches, pair)
        base = _prepare_brec(BREC_CASE["baseline"], num_batches, pair)
    else:
        hod = _prepare(hod_config, [], num_batches, overrides)
        base = _prepare(base_config, [], num_batches)
    result.update(_batch_stats(hod["batches"]), batch_size=hod["batch_size"])
    result["preprocessing_s_per_graph"] = {"hodgnn": hod["preprocessing_s_per_graph"]}
    result["preprocessing_s_per_graph"]["baseline"] = base["preprocessing_s_per_graph"]
    result["parameters"] = {"hodgnn": hod["parameters"], "baseline": base["parameters"]}
    start = time.perf_counter()
    _step(hod, hod["batches"][0])  # warm-up (and the compilation, when a config compiles)
    result["first_step_s"] = time.perf_counter() - start
    # interleave the two models batch by batch, so that a slow spell of the machine hits both
    steps = {"hodgnn": [], "baseline": []}
    for i in range(1, num_batches + 1):
        for label, run in (("hodgnn", hod), ("baseline", base)):
            if i == 1 and label == "baseline":
                _step(run, run["batches"][0])
            start = time.perf_counter()
            _step(run, run["batches"][i])
            steps[label].append(time.perf_counter() - start)
    result["step_s"] = steps
    result["median_step_s"] = {label: statistics.median(times) for label, times in steps.items()}
    result["ratio"] = result["median_step_s"]["hodgnn"] / result["median_step_s"]["baseline"]
    # peak resident set (absolute, VmHWM reset just before) of one step on the largest batch
    largest = max(range(1, num_batches + 1), key=lambda i: hod["batches"][i].num_nodes)
    result["peak_rss_bytes"] = {
        label: _peak_rss(lambda run=run: _step(run, run["batches"][largest]))
        for label, run in (("hodgnn", hod), ("baseline", base))
    }
    if steps_only:
        return result
    phases = [phase_times(hod, batch) for batch in hod["batches"][1:]]
    result["phases_s"] = {p: statistics.median(ph[p] for ph in phases) for p in PHASES}
    result["phases_first_batch_s"] = phases[0]
    # counted after the timed phases: counters and profilers can make torch.compile recompile
    work = engine_work(hod, hod["batches"][1])
    flops, allocated = work["flops"], work["bytes"]
    # the engine's time on that batch: its forward + backward in the timed phase split
    seconds = phases[0]["engine_forward"] + phases[0]["engine_backward"]
    bound_compute = flops / peak["matmul_flops_per_s"]
    bound_memory = allocated / peak["copy_bytes_per_s"]
    result["engine"] = {
        "flops": flops,
        "bytes_allocated": allocated,
        "seconds": seconds,
        "flops_per_s": flops / seconds,
        "bytes_per_s": allocated / seconds,
        "bound": "compute" if bound_compute >= bound_memory else "memory",
        "roofline_fraction": max(bound_compute, bound_memory) / seconds,
    }
    return result


def measure(cases: list[str], num_batches: int, threads: int, steps_only: bool = False) -> dict[str, Any]:
    torch.set_num_threads(threads)
    peak = machine_peak()
    results: dict[str, Any] = {
        "command": "python -m benchmarks.train_speed " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "peak": peak,
        "batches": num_batches,
        "cases": {},
    }
    for name in cases:
        print(f"[train_speed] {name} ...", flush=True)
        start = time.perf_counter()
        try:
            results["cases"][name] = measure_case(name, num_batches, peak, steps_only)
        except Exception as error:  # noqa: BLE001 - one failing case must not stop the others
            traceback.print_exc()
            results["cases"][name] = {"error": f"{type(error).__name__}: {error}"}
        case = results["cases"][name]
        summary = f"ratio {case['ratio']:.1f}x" if "ratio" in case else case["error"]
        print(f"[train_speed] {name}: {summary} ({time.perf_counter() - start:.0f} s)", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--batches", type=int, default=5, help="timed steps per model (default: 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, default=JSON_PATH)
    parser.add_argument("--markdown", type=Path, default=MARKDOWN_PATH)
    parser.add_argument("--render", action="store_true", help="only render the markdown from the JSON")
    parser.add_argument(
        "--steps-only",
        action="store_true",
        help="time the steps only (public API alone: runs on older versions of the package too)",
    )
    parser.add_argument(
        "--before", type=Path, default=None, help="a --steps-only JSON of an older version, shown beside"
    )
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(args.json.read_text())
    else:
        results = measure(args.cases, args.batches, args.threads, args.steps_only)
        if args.before is not None:
            results["before"] = json.loads(args.before.read_text())
        atomic_write_json(args.json, results)
    write_page("train_speed", results, markdown=args.markdown)
    print(f"[train_speed] wrote {args.markdown}" + ("" if args.render else f" and {args.json}"))


if __name__ == "__main__":
    main()
