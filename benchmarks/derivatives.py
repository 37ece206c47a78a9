r"""Benchmark of the derivative engine against torch.func and a dense engine.

Computes :math:`D[v, u, i, j, a] = \partial^a h^{(T)}_{v,i} / \partial x_{u,j}^a`, ``a = 1..m``,
for a base MPNN ``BaseMPNN(16, 16, 3, conv="gin", act="silu")`` (seed 0, float32) on

* batches of real molecules: 128 graphs drawn (seed 0) from ogbg-molbace (official raw files,
  :func:`hodgnn.data.ogb_mol.read_ogb_raw`) and from ogbg-molhiv (the first rows of the
  MoleculeNet CSV featurised by :func:`hodgnn.data.ogb_mol.load_ogb_mol`);
* random sparse graphs ``G(n, M)`` with ``M = 3n/2`` undirected edges (mean degree 3),
  ``n = 50 .. 1600``.

Node features are standard normal ``[n, 16]`` (seed 0): the graphs' structure is what sets the
cost. Methods, each configuration in a fresh process (:func:`benchmarks.common.run_isolated`):

* ``engine`` (:func:`hodgnn.derivatives.node_derivatives`, pair support built inside every
  call) in three modes: ``no_grad`` (forward under ``torch.no_grad``), ``graph`` (forward
  recording the autograd graph, as in training) and ``train`` (that forward plus the backward
  of ``values.sum()`` to the weights);
* ``dense`` (:mod:`benchmarks.dense_engine`): the same algorithm with a dense
  ``[n, n, m, F, d]`` tensor per graph, ``no_grad``; skipped where its estimated work or memory
  exceeds the caps below;
* ``torch_func``: per graph, ``vmap`` over all ``n F`` seeds ``e_{u,j}`` of a chain of ``m``
  nested ``torch.func.jvp`` that returns every order at once, ``no_grad``. aten's ``silu`` has no
  nested forward-mode rule, so this baseline runs a twin base with the same parameters whose
  activation is written ``z * sigmoid(z)`` (same function). Orders ``m <= 3`` only, and each
  configuration stops after ``--func-budget`` CPU seconds (``--func-budget-molecules`` on the
  molecule batches, enough to finish them): its time is then **extrapolated** from the
  work done (cost model: seeds x nodes of the graph, i.e. ``sum n_g^2`` over graphs), and
  marked as such. Its outputs are dropped graph by graph (its memory is its working set).

Memory: the peak resident set size during the call minus the resident set just before it (on
the first call of the process), and for the engine and the dense engine the peak of bytes held
by tensors (``torch.profiler``). The floor is the bytes of the non-zero derivative entries,
``pairs x m x d x F x 4`` at layer ``T`` (and summed over layers ``1..T``). Times are medians of
``--repeats`` calls after one warm-up call (torch.func: one call), wall clock and process CPU.

    python -m benchmarks.derivatives                     # full run (about half an hour on 2 cores)
    python -m benchmarks.derivatives --quick --no-write  # smoke test

Writes ``benchmarks/results/derivatives.json`` (raw records), ``docs/results/derivatives.png`` and
``docs/results/derivatives.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    REPO_ROOT,
    machine_info,
    measure_peak_memory,
    run_isolated,
    time_repeats,
    write_json_atomic,
    write_text_atomic,
)

RESULTS_JSON = REPO_ROOT / "benchmarks" / "results" / "derivatives.json"
PLOT_PATH = REPO_ROOT / "docs" / "results" / "derivatives.png"
MARKDOWN_PATH = REPO_ROOT / "docs" / "results" / "derivatives.md"

CHANNELS = 16  # F = d
NUM_LAYERS = 3
BATCH_SIZE = 128
SIZES = [50, 100, 200, 400, 800, 1600]
ORDERS = [1, 2, 3, 4]
FUNC_MAX_ORDER = 3
DENSE_MAX_FLOP = 4e11  # skip the dense engine above this many floating-point operations
DENSE_MAX_BYTES = 3 * 2**30  # ... or above this many bytes of dense derivative tensors
FUNC_SEED_ELEMENTS = 2**22  # torch.func: seeds per vmap call x n x d kept below this
FIT_MIN_NODES = 200  # second growth fit without the smallest graphs (fixed per-call costs)


# --------------------------------------------------------------------------- inputs


def make_base(silu_as_product: bool = False):
    """The benchmarked base MPNN (seed 0, float32); ``silu_as_product`` gives the twin with the
    same parameters whose SiLU is written ``z * sigmoid(z)`` (nested forward mode works)."""
    from hodgnn.derivatives.activations import ACTIVATIONS, Activation
    from hodgnn.nn import BaseMPNN

    torch.manual_seed(0)
    base = BaseMPNN(CHANNELS, CHANNELS, NUM_LAYERS, conv="gin", act="silu")
    if not silu_as_product:
        return base
    silu = ACTIVATIONS["silu"]
    product = Activation("silu", lambda z: z * torch.sigmoid(z), silu.taylor, silu.analytic)
    twin = BaseMPNN(CHANNELS, CHANNELS, NUM_LAYERS, conv="gin", act=product)
    twin.load_state_dict(base.state_dict())
    return twin


def random_sparse_graph(num_nodes: int, mean_degree: float = 3.0, seed: int = 0) -> torch.Tensor:
    """``G(n, M)``: ``M = round(n * mean_degree / 2)`` distinct undirected edges drawn uniformly
    (no self-loops), both directions in ``edge_index``."""
    generator = torch.Generator().manual_seed(seed)
    target = min(round(num_nodes * mean_degree / 2), num_nodes * (num_nodes - 1) // 2)
    keys = torch.empty(0, dtype=torch.long)
    while keys.numel() < target:
        pairs = torch.randint(0, num_nodes, (2, 2 * target), generator=generator)
        low, high = pairs.min(0).values, pairs.max(0).values
        keys = _first_unique(torch.cat([keys, (low * num_nodes + high)[low != high]]))
    keys = keys[:target]
    low, high = keys // num_nodes, keys % num_nodes
    return torch.stack([torch.cat([low, high]), torch.cat([high, low])])


def _first_unique(keys: torch.Tensor) -> torch.Tensor:
    """``keys`` without repeats, keeping the first occurrence of each, in order."""
    if keys.numel() == 0:
        return keys
    _, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), keys.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(keys.numel()), reduce="amin")
    return keys[torch.sort(first).values]


def _batch_of(graphs: list) -> dict[str, torch.Tensor]:
    from torch_geometric.data import Batch

    batch = Batch.from_data_list(
        [g.__class__(edge_index=g.edge_index, num_nodes=g.num_nodes) for g in graphs]
    )
    return {"edge_index": batch.edge_index, "batch": batch.batch}


def molecule_batches(data_root: str | None) -> dict[str, dict[str, Any]]:
    """128 molecules (seed 0) of ogbg-molbace and of ogbg-molhiv, when their data is present."""
    from hodgnn.data.root import resolve_data_root

    root = resolve_data_root(data_root)
    inputs: dict[str, dict[str, Any]] = {}
    generator = torch.Generator().manual_seed(0)
    try:
        from hodgnn.data.ogb_mol import read_ogb_raw

        graphs = read_ogb_raw(root / "ogbg-molbace")
        pick = torch.randperm(len(graphs), generator=generator)[:BATCH_SIZE].tolist()
        inputs["molbace"] = {**_batch_of([graphs[i] for i in pick]), "source": "ogbg-molbace raw files"}
    except (ImportError, OSError, ValueError) as error:
        print(f"skipping molbace: {error}", file=sys.stderr)
    try:
        from hodgnn.data.ogb_mol import load_ogb_mol

        splits = load_ogb_mol("ogbg-molhiv", root=root, max_graphs=2 * BATCH_SIZE, cache=False)
        graphs = [g for part in (splits.train, splits.val, splits.test) for g in part]
        pick = torch.randperm(len(graphs), generator=generator)[:BATCH_SIZE].tolist()
        source = f"ogbg-molhiv, {BATCH_SIZE} of the first {2 * BATCH_SIZE} CSV rows featurised with RDKit"
        inputs["molhiv"] = {**_batch_of([graphs[i] for i in pick]), "source": source}
    except (ImportError, OSError, ValueError) as error:
        print(f"skipping molhiv: {error}", file=sys.stderr)
    return inputs


def random_inputs(sizes: list[int]) -> dict[str, dict[str, Any]]:
    inputs = {}
    for n in sizes:
        edge_index = random_sparse_graph(n, 3.0, seed=n)
        inputs[f"random_n{n}"] = {
            "edge_index": edge_index,
            "batch": torch.zeros(n, dtype=torch.long),
            "source": f"G(n={n}, M={edge_index.size(1) // 2}) random sparse graph, mean degree 3",
        }
    return inputs


def _load_input(path: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    data = torch.load(path, weights_only=True)
    num_nodes = data["batch"].numel()
    x = torch.randn(num_nodes, CHANNELS, generator=torch.Generator().manual_seed(0))
    return x, data["edge_index"], data["batch"]


def _graph_slices(edge_index: torch.Tensor, batch: torch.Tensor) -> list[tuple[int, int, torch.Tensor]]:
    """``(first node, num_nodes, local edge_index)`` of every graph of a batch."""
    counts = torch.bincount(batch).tolist()
    edge_graph = batch[edge_index[0]]
    perm = torch.argsort(edge_graph, stable=True)
    edge_counts = torch.bincount(edge_graph, minlength=len(counts)).tolist()
    slices, node, edge = [], 0, 0
    for count, num_edges in zip(counts, edge_counts, strict=True):
        slices.append((node, count, edge_index[:, perm[edge : edge + num_edges]] - node))
        node += count
        edge += num_edges
    return slices


# --------------------------------------------------------------------------- child measurements


def _support_stats(edge_index: torch.Tensor, num_nodes: int, order: int) -> dict[str, Any]:
    from hodgnn.derivatives import build_pair_support

    start = time.perf_counter()
    support = build_pair_support(edge_index, num_nodes, NUM_LAYERS)
    elapsed = time.perf_counter() - start
    pairs = [support.num_pairs(t) for t in range(NUM_LAYERS + 1)]
    entry = order * CHANNELS * CHANNELS * 4
    return {
        "num_nodes": num_nodes,
        "num_edges": int(edge_index.size(1)),
        "pairs_per_layer": pairs,
        "pairs": pairs[-1],
        "floor_bytes": pairs[-1] * entry,
        "floor_bytes_all_layers": sum(pairs[1:]) * entry,
        "support_build_s": elapsed,
    }


def measure_engine(input_path: str, order: int, mode: str, repeats: int, threads: int) -> dict[str, Any]:
    """Child: the sparse engine in mode ``no_grad``, ``graph`` or ``train``."""
    from hodgnn.derivatives import node_derivatives

    torch.set_num_threads(threads)
    x, edge_index, batch = _load_input(input_path)
    base = make_base()
    budget = 64 * 2**30  # the benchmark measures; the default guard (8 GiB) is not the point here

    def call():
        if mode == "no_grad":
            with torch.no_grad():
                return node_derivatives(base, x, edge_index, order, memory_budget=budget)
        result = node_derivatives(base, x, edge_index, order, memory_budget=budget)
        if mode == "train":
            result.values.sum().backward()
            base.zero_grad(set_to_none=True)
        return result

    memory = measure_peak_memory(call)
    timing = time_repeats(call, repeats=repeats, warmup=1)
    return {**_support_stats(edge_index, x.size(0), order), **memory, **timing}


def measure_dense(input_path: str, order: int, repeats: int, threads: int) -> dict[str, Any]:
    """Child: the dense engine, graph by graph, without autograd."""
    from benchmarks.dense_engine import dense_batch_derivatives

    torch.set_num_threads(threads)
    x, edge_index, batch = _load_input(input_path)
    base = make_base()

    def call():
        with torch.no_grad():
            return dense_batch_derivatives(base, x, edge_index, batch, order)

    memory = measure_peak_memory(call)
    timing = time_repeats(call, repeats=repeats, warmup=1)
    return {**memory, **timing}


def _nested_jvp_chain(model, order: int):
    """``fn(x, e) -> (f(x), D_e f(x), ..., D_e^order f(x))``: a chain of nested ``jvp`` along the
    seed ``e``, each level returning every lower order as well."""
    from torch.func import jvp

    def level(inner):
        def outer(x, seed):
            primal, tangent = jvp(lambda y: inner(y, seed), (x,), (seed,))
            return (primal[0],) + tangent

        return outer

    fn = lambda x, seed: (model(x),)  # noqa: E731
    for _ in range(order):
        fn = level(fn)
    return fn


def measure_torch_func(input_path: str, order: int, budget_s: float, threads: int) -> dict[str, Any]:
    """Child: per graph, vmap over seed chunks of the nested-jvp chain, until ``budget_s``."""
    from torch.func import vmap

    from hodgnn.derivatives import node_derivatives

    torch.set_num_threads(threads)
    x, edge_index, batch = _load_input(input_path)
    twin, base = make_base(silu_as_product=True), make_base()
    graphs = _graph_slices(edge_index, batch)
    total_cost = sum(n * n for _, n, _ in graphs)

    def units():
        for first, n, edges in graphs:
            seeds_per_call = max(1, FUNC_SEED_ELEMENTS // (n * CHANNELS))
            for start in range(0, n * CHANNELS, seeds_per_call):
                yield first, n, edges, start, min(start + seeds_per_call, n * CHANNELS)

    def run_unit(first, n, edges, start, stop):
        x_g = x[first : first + n]
        seeds = torch.eye(n * CHANNELS)[start:stop].reshape(-1, n, CHANNELS)
        chain = _nested_jvp_chain(lambda y: twin(y, edges), order)
        with torch.no_grad():
            return vmap(lambda seed: chain(x_g, seed))(seeds)

    # Correctness guard (not timed): the first unit against the engine on the same graph.
    first, n, edges, start, stop = next(units())
    out = run_unit(first, n, edges, start, stop)
    reference = torch.stack(out[1:], 2)  # [seeds, v, a, i]
    with torch.no_grad():
        engine = node_derivatives(base, x[first : first + n], edges, order)
    dense = torch.zeros(n, CHANNELS, n, order, CHANNELS)  # [u, j, v, a, i]
    v, u = engine.index
    dense[u, :, v] = engine.values.permute(0, 3, 1, 2)
    dense = dense.reshape(n * CHANNELS, n, order, CHANNELS)[start:stop]
    error = float((dense - reference).abs().max() / reference.abs().max().clamp(min=1e-30))
    del out, reference, engine, dense

    from benchmarks.common import _proc_status_bytes, _reset_peak_rss

    before = _proc_status_bytes("VmRSS")
    _reset_peak_rss()
    done_cost, graphs_done, seeds_done = 0.0, set(), 0
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    finished = True
    for first, n, edges, start, stop in units():
        if time.process_time() - cpu_start > budget_s:
            finished = False
            break
        run_unit(first, n, edges, start, stop)
        done_cost += n * (stop - start) / CHANNELS
        graphs_done.add(first)
        seeds_done += stop - start
    wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    peak = _proc_status_bytes("VmHWM")
    scale = total_cost / done_cost
    return {
        "wall_median_s": wall * scale,
        "cpu_median_s": cpu * scale,
        "measured_wall_s": wall,
        "measured_cpu_s": cpu,
        "extrapolated": not finished,
        "fraction_done": done_cost / total_cost,
        "graphs_touched": len(graphs_done),
        "seeds_done": seeds_done,
        "rss_peak_bytes": None if peak is None or before is None else peak - before,
        "tensor_peak_bytes": None,
        "max_rel_error_vs_engine": error,
    }


# --------------------------------------------------------------------------- parent


def _dense_estimates(edge_index: torch.Tensor, batch: torch.Tensor, order: int) -> tuple[float, int]:
    sizes = torch.bincount(batch).double()
    width = order * CHANNELS * CHANNELS
    flop = float(2 * (sizes**3).sum() * width * NUM_LAYERS)
    return flop, int((sizes**2).sum()) * width * 4


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    inputs = {}
    if not args.no_molecules:
        inputs.update(molecule_batches(args.data_root))
    inputs.update(random_inputs(args.sizes))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hodgnn-bench-") as tmp:
        for name, data in inputs.items():
            path = str(Path(tmp) / f"{name}.pt")
            torch.save({"edge_index": data["edge_index"], "batch": data["batch"]}, path)
            num_graphs = int(data["batch"].max()) + 1
            for order in args.orders:
                common = {"input": name, "source": data["source"], "num_graphs": num_graphs, "order": order}
                runs = [("engine", mode) for mode in args.modes]
                flop, dense_bytes = _dense_estimates(data["edge_index"], data["batch"], order)
                runs.append(("dense", "no_grad"))
                if order <= FUNC_MAX_ORDER:
                    runs.append(("torch_func", "no_grad"))
                for method, mode in runs:
                    record = {**common, "method": method, "mode": mode}
                    if method == "dense" and (flop > DENSE_MAX_FLOP or 4 * dense_bytes > DENSE_MAX_BYTES):
                        record["skipped"] = (
                            f"estimated {flop / 1e12:.1f} TFLOP and {dense_bytes / 2**30:.2f} GiB of dense "
                            "derivative tensors, above the caps"
                        )
                    else:
                        kwargs: dict[str, Any] = {"input_path": path, "order": order, "threads": args.threads}
                        if method == "engine":
                            function = "benchmarks.derivatives:measure_engine"
                            kwargs.update(mode=mode, repeats=args.repeats)
                        elif method == "dense":
                            function = "benchmarks.derivatives:measure_dense"
                            kwargs.update(repeats=args.repeats)
                        else:
                            function = "benchmarks.derivatives:measure_torch_func"
                            molecules = name in ("molbace", "molhiv")
                            kwargs.update(
                                budget_s=args.func_budget_molecules if molecules else args.func_budget
                            )
                        record.update(run_isolated(function, kwargs, timeout=args.timeout))
                    results.append(record)
                    print(_progress_line(record), flush=True)
    return {"inputs": {k: v["source"] for k, v in inputs.items()}, "records": results}


def _progress_line(record: dict[str, Any]) -> str:
    head = f"{record['input']:>14} m={record['order']} {record['method']:>10} {record['mode']:>7}"
    if "skipped" in record:
        return f"{head}  skipped: {record['skipped']}"
    if "error" in record:
        return f"{head}  ERROR {record['error']}"
    rss = record.get("rss_peak_bytes")
    rss_text = "-" if rss is None else f"{rss / 2**20:.0f} MiB"
    extra = " (extrapolated)" if record.get("extrapolated") else ""
    times = f"cpu {record['cpu_median_s']:.3f} s  wall {record['wall_median_s']:.3f} s{extra}"
    return f"{head}  {times}  rss {rss_text}"


def _index(records: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    return {(r["input"], r["order"], r["method"], r["mode"]): r for r in records}


def _ok(record: dict[str, Any] | None) -> bool:
    return record is not None and "skipped" not in record and "error" not in record


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Ratios and the fitted growth of the engine's time with the number of pairs."""
    records = report["records"]
    table = _index(records)
    rows = []
    for (name, order, method, mode), engine in sorted(table.items()):
        if method != "engine" or mode != "no_grad" or not _ok(engine):
            continue
        row = {"input": name, "order": order}
        func = table.get((name, order, "torch_func", "no_grad"))
        dense = table.get((name, order, "dense", "no_grad"))
        for key, other in (("torch_func", func), ("dense", dense)):
            if _ok(other):
                row[f"{key}_over_engine_cpu"] = other["cpu_median_s"] / engine["cpu_median_s"]
                row[f"{key}_over_engine_wall"] = other["wall_median_s"] / engine["wall_median_s"]
        row["engine_no_grad_tensor_peak_over_floor"] = _ratio(
            engine.get("tensor_peak_bytes"), engine["floor_bytes"]
        )
        row["engine_no_grad_rss_peak_over_floor"] = _ratio(
            engine.get("rss_peak_bytes"), engine["floor_bytes"]
        )
        for mode_name in ("graph", "train"):
            other = table.get((name, order, "engine", mode_name))
            if _ok(other):
                all_layers = other["floor_bytes_all_layers"]
                row[f"engine_{mode_name}_tensor_peak_over_all_layers"] = _ratio(
                    other.get("tensor_peak_bytes"), all_layers
                )
                row[f"engine_{mode_name}_rss_peak_over_all_layers"] = _ratio(
                    other.get("rss_peak_bytes"), all_layers
                )
        rows.append(row)
    fits = {}
    for order in sorted({r["order"] for r in records}):
        for mode in ("no_grad", "graph", "train"):
            points = [
                (r["num_nodes"], r["pairs"], r["cpu_median_s"])
                for r in records
                if r["input"].startswith("random")
                and r["order"] == order
                and r["method"] == "engine"
                and r["mode"] == mode
                and _ok(r)
            ]
            for suffix, min_nodes in (("", 0), (f"_n{FIT_MIN_NODES}", FIT_MIN_NODES)):
                kept = [(pairs, cpu) for n, pairs, cpu in points if n >= min_nodes]
                if len(kept) >= 3:
                    fits[f"m{order}_{mode}{suffix}"] = _loglog_slope(kept)
    return {"ratios": rows, "time_vs_pairs_exponent": fits}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _loglog_slope(points: list[tuple[float, float]]) -> float:
    xs = [math.log(p) for p, _ in points]
    ys = [math.log(t) for _, t in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    den = sum((x - mean_x) ** 2 for x in xs)
    return num / den


# --------------------------------------------------------------------------- outputs


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def _seconds(record: dict[str, Any] | None, key: str = "cpu_median_s") -> str:
    if record is None:
        return "-"
    if "skipped" in record:
        return "skipped"
    if "error" in record:
        return "error"
    text = f"{record[key]:.3g}"
    return text + "*" if record.get("extrapolated") else text


def render_markdown(report: dict[str, Any]) -> str:
    records, summary, info = report["records"], report["summary"], report["machine"]
    table = _index(records)
    names = list(report["inputs"])
    orders = sorted({r["order"] for r in records})
    lines = [
        "# Derivative engine benchmark",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {info['cores']}-core CPU ({info['cpu']}), torch {info['torch']}, "
        f"{report['threads']} intra-op thread(s); load average at start {report['load_average_start']}  ",
        f"Date: {info['date_utc']} to {report.get('date_end_utc', '?')}",
        "",
        'Base MPNN: `BaseMPNN(16, 16, 3, conv="gin", act="silu")`, float32, d = F = 16, T = 3; node '
        "features standard normal. Inputs:",
        "",
    ]
    lines += [f"- `{name}`: {source}" for name, source in report["inputs"].items()]
    lines += [
        "",
        "Methods: **engine** = `hodgnn.derivatives.node_derivatives` (sparse pair support built inside "
        "the call) in modes `no_grad`, `graph` (forward recording the autograd graph) and `train` "
        "(forward + backward of `values.sum()`); **dense** = the same Taylor-mode algorithm with a dense "
        "`[n, n, m, F, d]` tensor per graph (`benchmarks/dense_engine.py`), `no_grad`; **torch.func** = per "
        "graph, `vmap` over all n·F seeds of a chain of m nested `jvp` returning every order, `no_grad`, "
        "on a twin base with the same parameters whose SiLU is written `z * sigmoid(z)` (aten's `silu` has "
        "no nested forward-mode rule). torch.func runs at most "
        f"{report['func_budget_s']:.0f} CPU seconds per configuration on the random graphs "
        f"({report.get('func_budget_molecules_s', report['func_budget_s']):.0f} s on the molecule batches); "
        "times marked * are **extrapolated** from the "
        "part done (cost model: seeds x nodes, i.e. sum of n_g^2 over graphs). Each configuration runs in "
        "a fresh process.",
        "",
        *_headline(table, names),
        "## Time (process CPU seconds, median; * = extrapolated)",
        "",
        "CPU time is reported because the machine was shared with other jobs during the run; wall "
        "times are in the JSON (larger by the contention, see Noise below).",
        "",
        "| input | nodes | m | pairs | engine no_grad | engine graph | engine train | dense | torch.func "
        "| torch.func / engine | dense / engine |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        for order in orders:
            engine = table.get((name, order, "engine", "no_grad"))
            if engine is None or not _ok(engine):
                continue
            func = table.get((name, order, "torch_func", "no_grad"))
            dense = table.get((name, order, "dense", "no_grad"))
            ratio_func = f"{func['cpu_median_s'] / engine['cpu_median_s']:.0f}x" if _ok(func) else "-"
            ratio_dense = f"{dense['cpu_median_s'] / engine['cpu_median_s']:.1f}x" if _ok(dense) else "-"
            lines.append(
                f"| {name} | {engine['num_nodes']:,} | {order} | {engine['pairs']:,} | {_seconds(engine)} "
                f"| {_seconds(table.get((name, order, 'engine', 'graph')))} "
                f"| {_seconds(table.get((name, order, 'engine', 'train')))} | {_seconds(dense)} "
                f"| {_seconds(func)} | {ratio_func} | {ratio_dense} |"
            )
    lines += [
        "",
        "## Peak memory (MiB)",
        "",
        "Floor = bytes of the non-zero derivative entries, pairs x m x d x F x 4 at layer T; "
        "all layers = the same summed over layers 1..T. RSS = peak resident set during the call minus "
        "the resident set before it; tensors = peak bytes held by torch tensors (profiler).",
        "",
        "| input | m | floor | all layers | engine no_grad RSS / tensors | ratio to floor "
        "| engine graph RSS / tensors | engine train RSS / tensors | ratio to all layers (train) "
        "| dense RSS / tensors | torch.func RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        for order in orders:
            engine = table.get((name, order, "engine", "no_grad"))
            if engine is None or not _ok(engine):
                continue
            graph = table.get((name, order, "engine", "graph"))
            train = table.get((name, order, "engine", "train"))
            dense = table.get((name, order, "dense", "no_grad"))
            func = table.get((name, order, "torch_func", "no_grad"))

            def pair(record):
                if not _ok(record):
                    return "-"
                return f"{_mib(record.get('rss_peak_bytes'))} / {_mib(record.get('tensor_peak_bytes'))}"

            ratio = _ratio(engine.get("tensor_peak_bytes"), engine["floor_bytes"])
            ratio_rss = _ratio(engine.get("rss_peak_bytes"), engine["floor_bytes"])
            ratio_train = (
                _ratio(train.get("tensor_peak_bytes"), train["floor_bytes_all_layers"])
                if _ok(train)
                else None
            )
            floors = f"{_mib(engine['floor_bytes'])} | {_mib(engine['floor_bytes_all_layers'])}"
            lines.append(
                f"| {name} | {order} | {floors} "
                f"| {pair(engine)} | {_fmt(ratio_rss)} / {_fmt(ratio)} | {pair(graph)} | {pair(train)} "
                f"| {_fmt(ratio_train)} | {pair(dense)} "
                f"| {_mib(func.get('rss_peak_bytes')) if _ok(func) else '-'} |"
            )
    fits = summary["time_vs_pairs_exponent"]
    if fits:
        lines += [
            "",
            "## Growth of the engine's time with the number of pairs (random graphs)",
            "",
            "Least-squares slope of log(CPU time) against log(pairs) over the random graphs "
            f"(n = {', '.join(str(s) for s in report['sizes'])}), and over those with "
            f"n >= {FIT_MIN_NODES} only (fixed per-call costs dominate the smallest); 1 = linear.",
            "",
            "| m | no_grad | graph | train | no_grad, n >= "
            f"{FIT_MIN_NODES} | graph, n >= {FIT_MIN_NODES} | train, n >= {FIT_MIN_NODES} |",
            "|---|---|---|---|---|---|---|",
        ]
        for order in orders:
            keys = [f"m{order}_{mode}" for mode in ("no_grad", "graph", "train")]
            keys += [f"{key}_n{FIT_MIN_NODES}" for key in keys]
            lines.append(f"| {order} | " + " | ".join(_fmt(fits.get(key)) for key in keys) + " |")
    checks = [r for r in records if r["method"] == "torch_func" and _ok(r)]
    if checks:
        worst = max(r["max_rel_error_vs_engine"] for r in checks)
        lines += [
            "",
            f"Check: on the first seeds of every torch.func configuration, torch.func and the engine agree "
            f"to a relative error of at most {worst:.1e} (float32).",
        ]
    ratios = [
        r["wall_median_s"] / r["cpu_median_s"]
        for r in records
        if r["method"] == "engine" and _ok(r) and r["cpu_median_s"] > 0.05
    ]
    spreads = [
        (max(r["cpu_s"]) - min(r["cpu_s"])) / r["cpu_median_s"]
        for r in records
        if r["method"] != "torch_func" and _ok(r) and r["cpu_median_s"] > 0.05 and len(r.get("cpu_s", [])) > 1
    ]
    lines += [
        "",
        "## Noise",
        "",
        f"Load average (1, 5, 15 min) at the start {report['load_average_start']} and at the end "
        f"{report['load_average_end']} of the run: other jobs shared the {info['cores']} cores.",
    ]
    if ratios:
        lines.append(
            f"Median wall / CPU time of the engine runs above 0.05 s: {statistics.median(ratios):.2f}; "
            f"median spread (max - min) / median of the CPU times of repeated runs: "
            f"{100 * statistics.median(spreads):.0f}% (largest {100 * max(spreads):.0f}%)."
            if spreads
            else f"Median wall / CPU time of the engine runs above 0.05 s: {statistics.median(ratios):.2f}."
        )
    lines += ["", "![time and memory against n](derivatives.png)", ""]
    return "\n".join(lines)


def _headline(table: dict[tuple, dict[str, Any]], names: list[str], order: int = 3) -> list[str]:
    """Summary lines at order ``order`` for the molecule batches."""
    lines = []
    for name in names:
        if name.startswith("random"):
            continue
        engine, graph, train = (
            table.get((name, order, "engine", mode)) for mode in ("no_grad", "graph", "train")
        )
        func = table.get((name, order, "torch_func", "no_grad"))
        if not (_ok(engine) and _ok(func)):
            continue
        text = (
            f"- `{name}`, m = {order} ({engine['num_graphs']} graphs, {engine['num_nodes']:,} nodes, "
            f"{engine['pairs']:,} pairs): torch.func {_seconds(func)} s against the engine's "
            f"{_seconds(engine)} s without autograd ({func['cpu_median_s'] / engine['cpu_median_s']:.0f}x)"
        )
        if _ok(train):
            text += (
                f" and {_seconds(train)} s for forward + backward "
                f"({func['cpu_median_s'] / train['cpu_median_s']:.0f}x)"
            )
        tensors = _ratio(engine.get("tensor_peak_bytes"), engine["floor_bytes"])
        rss = _ratio(engine.get("rss_peak_bytes"), engine["floor_bytes"])
        text += f"; peak tensor memory without autograd {_fmt(tensors)}x the floor (RSS {_fmt(rss)}x)"
        if _ok(graph):
            ratio = _ratio(graph.get("tensor_peak_bytes"), graph["floor_bytes_all_layers"])
            text += f", with the autograd graph {_fmt(ratio)}x the non-zero bytes of all layers."
        lines.append(text)
    if lines:
        lines = ["## Summary (CPU time; * = extrapolated)", "", *lines, ""]
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in report["records"] if r["input"].startswith("random") and _ok(r)]
    orders = sorted({r["order"] for r in report["records"]})
    series = [
        ("engine", "no_grad", "engine no_grad", "tab:blue", "-"),
        ("engine", "train", "engine train (fwd+bwd)", "tab:green", "-"),
        ("dense", "no_grad", "dense no_grad", "tab:orange", "-"),
        ("torch_func", "no_grad", "torch.func no_grad (open marker: extrapolated)", "tab:red", "-"),
    ]
    fig, axes = plt.subplots(2, len(orders), figsize=(4 * len(orders), 7), squeeze=False)
    for col, order in enumerate(orders):
        for row, (key, label) in enumerate(
            (("cpu_median_s", "CPU time (s)"), ("rss_peak_bytes", "peak RSS (MiB)"))
        ):
            ax = axes[row][col]
            for method, mode, name, color, style in series:
                points = sorted(
                    (r["num_nodes"], r[key], r.get("extrapolated", False))
                    for r in records
                    if r["order"] == order and r["method"] == method and r["mode"] == mode and r.get(key)
                )
                if not points:
                    continue
                scale = 1.0 if key == "cpu_median_s" else 1 / 2**20
                xs, ys = [p[0] for p in points], [p[1] * scale for p in points]
                ax.plot(xs, ys, style, color=color, marker="o", label=name)
                for x, y, extrapolated in zip(xs, ys, [p[2] for p in points], strict=True):
                    if extrapolated:
                        ax.plot([x], [y], "o", color="white", markeredgecolor=color)
            if key == "rss_peak_bytes":
                floor = sorted(
                    (r["num_nodes"], r["floor_bytes"] / 2**20)
                    for r in records
                    if r["order"] == order and r["method"] == "engine" and r["mode"] == "no_grad"
                )
                if floor:
                    ax.plot(*zip(*floor, strict=True), ":", color="black", label="floor (non-zero bytes)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("n (random sparse graph, mean degree 3)")
            ax.set_ylabel(label)
            ax.set_title(f"order m = {order}")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    axes[1][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, nargs="+", default=ORDERS)
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--modes", nargs="+", default=["no_grad", "graph", "train"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads per run")
    parser.add_argument("--func-budget", type=float, default=40.0, help="CPU s per torch.func config")
    parser.add_argument(
        "--func-budget-molecules", type=float, default=300.0, help="CPU s per torch.func molecule config"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per configuration")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--no-molecules", action="store_true")
    parser.add_argument("--quick", action="store_true", help="orders 1-2, n = 50, 100, 1 repeat")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and plot from the JSON")
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(RESULTS_JSON.read_text())
        write_outputs(report, args.no_write)
        return
    if args.quick:
        args.orders, args.sizes, args.repeats = [1, 2], [50, 100], 1
        args.func_budget = args.func_budget_molecules = 5.0
    command = "python -m benchmarks.derivatives " + " ".join(argv if argv is not None else sys.argv[1:])
    load_start = machine_info()["load_average"]
    report = {
        "command": command.strip(),
        "machine": machine_info(),
        "threads": args.threads,
        "load_average_start": [round(v, 2) for v in load_start] if load_start else None,
        "func_budget_s": args.func_budget,
        "func_budget_molecules_s": args.func_budget_molecules,
        "sizes": args.sizes,
        **run_all(args),
    }
    _fill_missing_sizes(report)
    end = machine_info()
    report["load_average_end"] = [round(v, 2) for v in end["load_average"]] if end["load_average"] else None
    report["date_end_utc"] = end["date_utc"]
    write_outputs(report, args.no_write)


def write_outputs(report: dict[str, Any], print_only: bool = False) -> None:
    """Summary, markdown table and plot of a report (also used by ``--render``)."""
    report["summary"] = summarise(report)
    markdown = render_markdown(report)
    if print_only:
        print(markdown)
        return
    write_json_atomic(RESULTS_JSON, report)
    plot(report, PLOT_PATH)
    write_text_atomic(MARKDOWN_PATH, markdown)
    print(f"wrote {RESULTS_JSON}, {PLOT_PATH} and {MARKDOWN_PATH}")


def _fill_missing_sizes(report: dict[str, Any]) -> None:
    """Copy the support statistics of every (input, order) onto the records that lack them."""
    stats = {}
    for record in report["records"]:
        if "pairs" in record:
            stats[(record["input"], record["order"])] = {
                key: record[key]
                for key in (
                    "num_nodes",
                    "pairs",
                    "pairs_per_layer",
                    "floor_bytes",
                    "floor_bytes_all_layers",
                )
            }
    for record in report["records"]:
        for key, value in stats.get((record["input"], record["order"]), {}).items():
            record.setdefault(key, value)


if __name__ == "__main__":
    main()
