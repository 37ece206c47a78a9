"""The measurements of ``benchmarks/scaling.py``: one configuration per call, each called in a fresh
process (:func:`benchmarks.common.run_isolated`, or ``scaling.py --worker``).

* :func:`synthetic_worker`: training steps of one model on one synthetic graph;
* :func:`peptides_worker`: training steps of one Peptides-func config on real batches, with the
  epoch extrapolated from them.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from typing import Any

from benchmarks.common import REPO_ROOT, proc_status_bytes, reset_peak_rss, structure_counts

FAMILIES = ("random", "grid")
DEFAULT_SIZES = (50, 100, 200, 500, 1000, 2000, 5000)
NODE_DIM, EDGE_DIM = 8, 4  # random float node and edge features of the synthetic graphs

# label -> (registry name, options); everything else is the registry default (hidden width 64)
SYNTHETIC_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "hod1_full": ("hodgnn", {}),
    "hod1_diag": ("hodgnn", {"u_node": "diagonal", "u_out": False}),
    "hod1_diag_m1": ("hodgnn", {"u_node": "diagonal", "u_out": False, "order": 1}),
    "hod2": ("hodgnn", {"k": 2}),
    "ds_gnn": ("ds_gnn", {}),
    "gine_rwse": ("gine_rwse", {}),
}
# Peptides label -> (config file in configs/<dataset>/, overrides): the project's experiment configs
# (paper protocol, batch 200), and variants with smaller batches or the registry-default HOD-GNN.
PEPTIDES_RUNS: dict[str, tuple[str, list[str]]] = {
    "gcn_rwse": ("gcn_rwse.yaml", []),
    "hodgnn": ("hodgnn.yaml", []),
    "hodgnn_b32": ("hodgnn.yaml", ["data.batch_size=32"]),
    "hodgnn_t3_b32": ("base.yaml", ["model.name=hodgnn", "data.batch_size=32"]),
    "ds_gnn": ("ds_gnn.yaml", []),
    "ds_gnn_b32": ("ds_gnn.yaml", ["data.batch_size=32"]),
    "ds_gnn_b2": ("ds_gnn.yaml", ["data.batch_size=2"]),
}
GUARDED = ("hodgnn", "ds_gnn")  # models that take memory_budget
PEPTIDES_TRAIN_SIZE = 10_873  # official Peptides-func split: 10 873 / 2331 / 2331


def synthetic_graph(family: str, n: int, seed: int = 0):
    """A connected-or-not sparse graph of about ``n`` nodes with float node/edge features.

    ``random``: ``G(n, m)`` with ``m = round(3n / 2)`` undirected edges (mean degree 3);
    ``grid``: the ``side x side`` grid with ``side = round(sqrt(n))`` (so ``side**2`` nodes).
    Both directions of every edge are stored and share their edge features.
    """
    import networkx as nx
    import torch
    from torch_geometric.data import Data

    if family == "random":
        graph = nx.gnm_random_graph(n, round(1.5 * n), seed=seed)
    elif family == "grid":
        side = max(2, round(math.sqrt(n)))
        graph = nx.convert_node_labels_to_integers(nx.grid_2d_graph(side, side))
    else:
        raise ValueError(f"unknown graph family {family!r}; choose one of {list(FAMILIES)}")
    generator = torch.Generator().manual_seed(seed)
    num_nodes = graph.number_of_nodes()
    edges = torch.tensor(list(graph.edges()), dtype=torch.long).reshape(-1, 2).T
    edge_features = torch.randn(edges.size(1), EDGE_DIM, generator=generator)
    return Data(
        x=torch.randn(num_nodes, NODE_DIM, generator=generator),
        edge_index=torch.cat([edges, edges.flip(0)], dim=1),
        edge_attr=torch.cat([edge_features, edge_features]),
        y=torch.randn(1, 1, generator=generator),
        num_nodes=num_nodes,
    )


def synthetic_info():
    from hodgnn.data.info import DatasetInfo

    return DatasetInfo(
        name="scaling-synthetic",
        task="regression",
        metric="mae",
        num_tasks=1,
        node_input="float",
        node_dim=NODE_DIM,
        edge_input="float",
        edge_dim=EDGE_DIM,
    )


def _build(name: str, options: dict[str, Any], info, memory_budget: int | None):
    from hodgnn.nn import build_model

    if name in GUARDED and memory_budget is not None:
        options = {**options, "memory_budget": memory_budget}
    return build_model(name, info, **options)


def _loss(pred, y, task: str):
    import torch

    if task == "regression":
        return torch.nn.functional.l1_loss(pred, y.reshape(pred.shape).to(pred.dtype))
    target = y.reshape(pred.shape).to(pred.dtype)
    mask = ~torch.isnan(target)
    return torch.nn.functional.binary_cross_entropy_with_logits(pred[mask], target[mask])


def measure_steps(model, batches: list, task: str, repeats: int, time_limit: float) -> dict[str, Any]:
    """Training steps (forward, loss, backward, AdamW step) on ``batches`` (cycled).

    The first step is timed apart (it includes one-off allocations); then up to ``repeats`` more
    steps run while the time spent stays within ``time_limit``. Returns times and peak memory; a
    step stopped by the memory guard returns ``status = "memory_guard"`` and its estimate.
    """
    import torch

    from hodgnn.derivatives import MemoryBudgetError

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step(batch) -> None:
        optimizer.zero_grad(set_to_none=True)
        _loss(model(batch), batch.y, task).backward()
        optimizer.step()

    gc.collect()
    rss_before = proc_status_bytes("VmRSS")
    reset_peak_rss()
    started = time.perf_counter()
    try:
        step(batches[0])
    except MemoryBudgetError as error:
        return {"status": "memory_guard", "estimated_bytes": error.estimate_bytes, "error": str(error)}
    first = time.perf_counter() - started
    times = []
    for i in range(1, repeats + 1):
        if time.perf_counter() - started + (times[-1] if times else first) > time_limit:
            break
        tick = time.perf_counter()
        step(batches[i % len(batches)])
        times.append(time.perf_counter() - tick)
    peak = proc_status_bytes("VmHWM")
    return {
        "status": "ok",
        "first_step_s": first,
        "step_times_s": times,
        "step_s": statistics.median(times) if times else first,
        "rss_before_mib": rss_before / 2**20,
        "peak_rss_mib": peak / 2**20,
        "peak_increase_mib": (peak - rss_before) / 2**20,
    }


def synthetic_worker(
    model: str,
    family: str,
    n: int,
    repeats: int = 3,
    threads: int = 1,
    seed: int = 0,
    time_limit: float = 120.0,
    memory_budget: int | None = None,
) -> dict[str, Any]:
    """Training steps of model label ``model`` on one ``family`` graph of about ``n`` nodes."""
    import torch
    from torch_geometric.data import Batch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    name, options = SYNTHETIC_MODELS[model]
    graph = synthetic_graph(family, n, seed=seed)
    net = _build(name, options, synthetic_info(), memory_budget)
    tick = time.perf_counter()
    for transform in net.required_transforms():
        graph = transform(graph)
    transform_s = time.perf_counter() - tick
    batch = Batch.from_data_list([graph])
    result = {
        "suite": "synthetic",
        "model": model,
        "family": family,
        "n_requested": n,
        "n": int(graph.num_nodes),
        "edges": int(graph.edge_index.size(1)),
        "parameters": sum(p.numel() for p in net.parameters()),
        "transform_s": transform_s,
    }
    result.update(measure_steps(net, [batch], "regression", repeats, time_limit))
    if result["status"] == "ok" or name == "ds_gnn":
        result.update(structure_counts(net, batch))
    return result


def peptides_config(label: str, dataset: str = "peptides-func", extra: tuple[str, ...] = ()):
    """The :class:`~hodgnn.train.config.ExperimentConfig` of a Peptides label (see ``PEPTIDES_RUNS``)."""
    from hodgnn.train.config import load_config

    filename, overrides = PEPTIDES_RUNS[label]
    return load_config(REPO_ROOT / "configs" / dataset / filename, [*overrides, *extra])


def _ds_gnn_estimates(model, splits, order, batch_size, num_batches, memory_budget) -> dict[str, Any]:
    """DS-GNN guard's estimate for every batch of one epoch (no bag is built)."""
    import torch
    from torch_geometric.data import Batch

    from hodgnn.derivatives.memory import default_memory_budget

    budget = default_memory_budget() if memory_budget is None else memory_budget
    itemsize = torch.get_default_dtype().itemsize
    estimates = []
    for b in range(num_batches):
        batch = Batch.from_data_list([splits.train[i] for i in order[b * batch_size : (b + 1) * batch_size]])
        estimates.append(model.estimate_bytes(batch.batch, batch.edge_index, batch.num_graphs, itemsize))
    return {
        "min": min(estimates),
        "median": statistics.median(estimates),
        "max": max(estimates),
        "budget": budget,
        "over_budget": sum(e > budget for e in estimates),
    }


def peptides_worker(
    model: str,
    batches: int = 4,
    repeats: int = 3,
    threads: int = 1,
    seed: int = 0,
    time_limit: float = 120.0,
    memory_budget: int | None = None,
    root: str | None = None,
) -> dict[str, Any]:
    """Training steps of Peptides label ``model`` on ``batches`` real batches, and an evaluation
    batch, each extrapolated to an epoch."""
    import torch
    from torch_geometric.data import Batch

    from hodgnn.data import load_dataset
    from hodgnn.derivatives import MemoryBudgetError

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = peptides_config(model)
    tick = time.perf_counter()
    splits = load_dataset("peptides-func", root=root)
    load_s = time.perf_counter() - tick
    name, options = config.model.name, dict(config.model.options)
    if memory_budget is not None:
        options["memory_budget"] = memory_budget
    net = _build(name, options, splits.info, None)
    order = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(seed)).tolist()
    batch_size = config.data.batch_size
    num_batches = math.ceil(len(splits.train) / batch_size)
    num_eval_batches = math.ceil((len(splits.val) + len(splits.test)) / batch_size)
    transforms = list(net.required_transforms())

    def make_batch(indices: list[int], split) -> Batch:
        graphs = [split[i] for i in indices]
        for transform in transforms:
            graphs = [transform(g) for g in graphs]
        return Batch.from_data_list(graphs)

    result: dict[str, Any] = {
        "suite": "peptides",
        "model": model,
        "config": list(PEPTIDES_RUNS[model]),
        "registry_name": name,
        "options": options,
        "parameters": sum(p.numel() for p in net.parameters()),
        "batch_size": batch_size,
        "train_graphs": len(splits.train),
        "eval_graphs": len(splits.val) + len(splits.test),
        "batches_per_epoch": num_batches,
        "dataset_load_s": load_s,
    }
    if name == "ds_gnn":
        estimates = _ds_gnn_estimates(net, splits, order, batch_size, num_batches, memory_budget)
        result["ds_gnn_estimates_bytes"] = estimates
    tick = time.perf_counter()
    prepared = [
        make_batch(order[b * batch_size : (b + 1) * batch_size], splits.train) for b in range(batches)
    ]
    result["batch_prep_s"] = (time.perf_counter() - tick) / len(prepared)
    result["nodes_per_batch"] = [int(b.num_nodes) for b in prepared]
    result.update(structure_counts(net, prepared[0]))
    result.update(measure_steps(net, prepared, "multilabel", repeats, time_limit))
    if result["status"] != "ok":
        return result
    result["epoch_train_s_extrapolated"] = result["step_s"] * num_batches
    # evaluation: forward passes without gradients on validation graphs, extrapolated to val + test
    net.eval()
    eval_batch = make_batch(list(range(min(batch_size, len(splits.val)))), splits.val)
    eval_times = []
    with torch.no_grad():
        for _ in range(2):
            tick = time.perf_counter()
            try:
                net(eval_batch)
            except MemoryBudgetError as error:
                result["eval_error"] = str(error)
                break
            eval_times.append(time.perf_counter() - tick)
    if eval_times:
        result["eval_batch_s"] = min(eval_times)
        result["epoch_eval_s_extrapolated"] = min(eval_times) * num_eval_batches
    result["peak_rss_end_mib"] = proc_status_bytes("VmHWM") / 2**20
    return result
