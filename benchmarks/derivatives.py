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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    load_average,
    measure_peak_memory,
    proc_status_bytes,
    reset_peak_rss,
    run_isolated,
    time_repeats,
)
from benchmarks.derivatives_report import render, summarise
from benchmarks.render import PAGES, write_page
from hodgnn.environment import machine_info, utc_now
from hodgnn.io import atomic_write_json

_, RESULTS_JSON, MARKDOWN_PATH, PLOT_PATH = PAGES["derivatives"]

CHANNELS = 16  # F = d
NUM_LAYERS = 3
BATCH_SIZE = 128
SIZES = [50, 100, 200, 400, 800, 1600]
ORDERS = [1, 2, 3, 4]
FUNC_MAX_ORDER = 3
DENSE_MAX_FLOP = 4e11  # skip the dense engine above this many floating-point operations
DENSE_MAX_BYTES = 3 * 2**30  # ... or above this many bytes of dense derivative tensors
FUNC_SEED_ELEMENTS = 2**22  # torch.func: seeds per vmap call x n x d kept below this


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

    before = proc_status_bytes("VmRSS")
    reset_peak_rss()
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
    peak = proc_status_bytes("VmHWM")
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
    parser.add_argument("--render", action="store_true", help="only rewrite the page and plot from the JSON")
    args = parser.parse_args(argv)
    if args.render:
        if args.no_write:
            print(render(json.loads(RESULTS_JSON.read_text())))
        else:
            print(f"wrote {write_page('derivatives', plots=True)} and {PLOT_PATH}")
        return
    if args.quick:
        args.orders, args.sizes, args.repeats = [1, 2], [50, 100], 1
        args.func_budget = args.func_budget_molecules = 5.0
    command = "python -m benchmarks.derivatives " + " ".join(argv if argv is not None else sys.argv[1:])
    report = {
        "command": command.strip(),
        "machine": machine_info(),
        "threads": args.threads,
        "load_average_start": load_average(),
        "func_budget_s": args.func_budget,
        "func_budget_molecules_s": args.func_budget_molecules,
        "sizes": args.sizes,
        **run_all(args),
    }
    _fill_missing_sizes(report)
    report["load_average_end"] = load_average()
    report["date_end_utc"] = utc_now()
    write_outputs(report, args.no_write)


def write_outputs(report: dict[str, Any], print_only: bool = False) -> None:
    """The JSON (with its summary), the page and the plot of a report."""
    report["summary"] = summarise(report)
    if print_only:
        print(render(report))
        return
    atomic_write_json(RESULTS_JSON, report)
    print(f"wrote {RESULTS_JSON} and {write_page('derivatives', report, plots=True)}")


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
