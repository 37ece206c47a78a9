"""Time and peak memory of one training step against graph size, and on real Peptides batches.

Two suites, every measurement in a fresh subprocess (clean peak memory, one model's allocations
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
    python benchmarks/scaling.py --suite render              # rewrite docs/results/scale.md

Writes ``benchmarks/results/scaling.json`` / ``peptides_scale.json``, ``docs/results/scaling.png``
and ``docs/results/scale.md`` (rendered from whichever JSON files exist).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SYNTHETIC_JSON = RESULTS / "scaling.json"
PEPTIDES_JSON = RESULTS / "peptides_scale.json"
E2E_JSON = RESULTS / "peptides_e2e.json"
PLOT_PATH = REPO / "docs" / "results" / "scaling.png"
MARKDOWN_PATH = REPO / "docs" / "results" / "scale.md"

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
PEPTIDES_DEFAULT = ["gcn_rwse", "hodgnn", "hodgnn_b32", "hodgnn_t3_b32", "ds_gnn", "ds_gnn_b32", "ds_gnn_b2"]
E2E_DEFAULT = ["ds_gnn", "hodgnn", "gcn_rwse", "hodgnn_t3_b32"]
SYNTHETIC_MEMORY_BUDGET = 4 * 2**30
GUARDED = ("hodgnn", "ds_gnn")  # models that take memory_budget
PEPTIDES_TRAIN_SIZE = 10_873  # official Peptides-func split: 10 873 / 2331 / 2331
PEPTIDES_EVAL_SIZE = 2331 + 2331


# --------------------------------------------------------------------------- measurement helpers
def _status_kib(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def _reset_peak_rss() -> None:
    """Reset this process's ``VmHWM`` to its current resident set (Linux ``clear_refs`` = 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs{memory}, {platform.system()} {platform.release()}"


def estimated_bytes(error: BaseException) -> int | None:
    """The byte estimate a :class:`~hodgnn.derivatives.MemoryBudgetError` message states."""
    match = re.search(r"\(([\d,]+) bytes\)", str(error))
    return int(match.group(1).replace(",", "")) if match else None


# ------------------------------------------------------------------------------- synthetic graphs
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


# ---------------------------------------------------------------------------------------- workers
def _build(name: str, options: dict[str, Any], info, memory_budget: int | None):
    from hodgnn.nn import build_model

    if name in GUARDED and memory_budget is not None:
        options = {**options, "memory_budget": memory_budget}
    return build_model(name, info, **options)


def _structure_counts(model, batch) -> dict[str, Any]:
    """Stored derivative pairs (HOD-GNN, with the time to build their support) or bag nodes
    (DS-GNN) of a batch, for context."""
    import torch

    from hodgnn.nn import DSGNN, HODGNN

    counts: dict[str, int] = {}
    if isinstance(model, HODGNN):
        from hodgnn.derivatives import build_pair_support

        diagonal_only = model.diagonal_only
        T = model.base.num_layers
        tick = time.perf_counter()
        support = build_pair_support(batch.edge_index, batch.num_nodes, T, diagonal_only)
        counts["support_build_s"] = time.perf_counter() - tick
        counts["derivative_pairs"] = sum(support.num_pairs(t) for t in range(1, T + 1))
    if isinstance(model, DSGNN):
        sizes = torch.bincount(batch.batch)
        counts["bag_nodes"] = int((sizes * sizes).sum())
    return counts


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
    steps run while the time spent stays within ``time_limit``. Returns times and peak memory.
    """
    import gc

    import torch

    from hodgnn.derivatives import MemoryBudgetError

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step(batch) -> None:
        optimizer.zero_grad(set_to_none=True)
        _loss(model(batch), batch.y, task).backward()
        optimizer.step()

    gc.collect()
    rss_before = _status_kib("VmRSS")
    _reset_peak_rss()
    started = time.perf_counter()
    try:
        step(batches[0])
    except MemoryBudgetError as error:
        return {"status": "memory_guard", "estimated_bytes": estimated_bytes(error), "error": str(error)}
    first = time.perf_counter() - started
    times = []
    for i in range(1, repeats + 1):
        if time.perf_counter() - started + (times[-1] if times else first) > time_limit:
            break
        tick = time.perf_counter()
        step(batches[i % len(batches)])
        times.append(time.perf_counter() - tick)
    peak = _status_kib("VmHWM")
    return {
        "status": "ok",
        "first_step_s": first,
        "step_times_s": times,
        "step_s": statistics.median(times) if times else first,
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": peak / 1024,
        "peak_increase_mib": (peak - rss_before) / 1024,
    }


def synthetic_worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch_geometric.data import Batch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    info = synthetic_info()
    name, options = SYNTHETIC_MODELS[args.model]
    graph = synthetic_graph(args.family, args.n, seed=args.seed)
    model = _build(name, options, info, args.memory_budget)
    tick = time.perf_counter()
    for transform in model.required_transforms():
        graph = transform(graph)
    transform_s = time.perf_counter() - tick
    batch = Batch.from_data_list([graph])
    result = {
        "suite": "synthetic",
        "model": args.model,
        "family": args.family,
        "n_requested": args.n,
        "n": int(graph.num_nodes),
        "edges": int(graph.edge_index.size(1)),
        "parameters": sum(p.numel() for p in model.parameters()),
        "transform_s": transform_s,
    }
    result.update(measure_steps(model, [batch], "regression", args.repeats, args.time_limit))
    if result["status"] == "ok" or name == "ds_gnn":
        result.update(_structure_counts(model, batch))
    return result


def peptides_config(label: str, dataset: str = "peptides-func", extra: tuple[str, ...] = ()):
    """The :class:`~hodgnn.train.config.ExperimentConfig` of a Peptides label (see ``PEPTIDES_RUNS``)."""
    from hodgnn.train.config import load_config

    filename, overrides = PEPTIDES_RUNS[label]
    return load_config(REPO / "configs" / dataset / filename, [*overrides, *extra])


def peptides_worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch_geometric.data import Batch

    from hodgnn.data import load_dataset
    from hodgnn.derivatives import MemoryBudgetError

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = peptides_config(args.model)
    tick = time.perf_counter()
    splits = load_dataset("peptides-func", root=args.root)
    load_s = time.perf_counter() - tick
    name, options = config.model.name, dict(config.model.options)
    if args.memory_budget is not None:
        options["memory_budget"] = args.memory_budget
    model = _build(name, options, splits.info, None)
    order = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(args.seed)).tolist()
    batch_size = config.data.batch_size
    num_batches = math.ceil(len(splits.train) / batch_size)
    num_eval_batches = math.ceil((len(splits.val) + len(splits.test)) / batch_size)
    transforms = list(model.required_transforms())

    def make_batch(indices: list[int], split) -> Batch:
        graphs = [split[i] for i in indices]
        for transform in transforms:
            graphs = [transform(g) for g in graphs]
        return Batch.from_data_list(graphs)

    result: dict[str, Any] = {
        "suite": "peptides",
        "model": args.model,
        "config": list(PEPTIDES_RUNS[args.model]),
        "registry_name": name,
        "options": options,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": batch_size,
        "train_graphs": len(splits.train),
        "eval_graphs": len(splits.val) + len(splits.test),
        "batches_per_epoch": num_batches,
        "dataset_load_s": load_s,
    }
    if name == "ds_gnn":  # the guard's estimate for every batch of one epoch (no bag is built)
        from hodgnn.derivatives.support import DEFAULT_MEMORY_BUDGET

        budget = DEFAULT_MEMORY_BUDGET if args.memory_budget is None else args.memory_budget
        estimates = []
        for b in range(num_batches):
            batch = Batch.from_data_list(
                [splits.train[i] for i in order[b * batch_size : (b + 1) * batch_size]]
            )
            itemsize = torch.get_default_dtype().itemsize
            estimates.append(model.estimate_bytes(batch.batch, batch.edge_index, batch.num_graphs, itemsize))
        result["ds_gnn_estimates_bytes"] = {
            "min": min(estimates),
            "median": statistics.median(estimates),
            "max": max(estimates),
            "budget": budget,
            "over_budget": sum(e > budget for e in estimates),
        }
    tick = time.perf_counter()
    batches = [
        make_batch(order[b * batch_size : (b + 1) * batch_size], splits.train) for b in range(args.batches)
    ]
    result["batch_prep_s"] = (time.perf_counter() - tick) / len(batches)
    result["nodes_per_batch"] = [int(b.num_nodes) for b in batches]
    result.update(_structure_counts(model, batches[0]))
    result.update(measure_steps(model, batches, "multilabel", args.repeats, args.time_limit))
    if result["status"] != "ok":
        return result
    result["epoch_train_s_extrapolated"] = result["step_s"] * num_batches
    # evaluation: forward passes without gradients on validation graphs, extrapolated to val + test
    model.eval()
    eval_batch = make_batch(list(range(min(batch_size, len(splits.val)))), splits.val)
    eval_times = []
    with torch.no_grad():
        for _ in range(2):
            tick = time.perf_counter()
            try:
                model(eval_batch)
            except MemoryBudgetError as error:
                result["eval_error"] = str(error)
                break
            eval_times.append(time.perf_counter() - tick)
    if eval_times:
        result["eval_batch_s"] = min(eval_times)
        result["epoch_eval_s_extrapolated"] = min(eval_times) * num_eval_batches
    result["peak_rss_end_mib"] = _status_kib("VmHWM") / 1024
    return result


# ----------------------------------------------------------------------------------------- driver
def run_config(worker_args: list[str], time_limit: float, rss_limit: int) -> dict[str, Any]:
    """Run one worker in a fresh process under a wall-clock limit and a resident-set watchdog."""
    command = [sys.executable, __file__, "--worker", *worker_args]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    peak_kib, status = 0, None
    while proc.poll() is None:
        try:
            peak_kib = max(peak_kib, _status_kib("VmRSS", proc.pid))
        except (OSError, RuntimeError):
            pass
        if peak_kib * 1024 > rss_limit:
            status = "rss_limit"
        elif time.perf_counter() - started > time_limit:
            status = "timeout"
        if status is not None:
            proc.kill()
            break
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if status is not None:
        return {"status": status, "wall_s": wall, "watchdog_peak_rss_mib": peak_kib / 1024}
    if proc.returncode != 0:
        lines = stderr.strip().splitlines()
        return {"status": "error", "error": lines[-1] if lines else f"exit {proc.returncode}", "wall_s": wall}
    result = json.loads(stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def fit_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``log y`` against ``log x`` (``None`` for fewer than 2 points)."""
    points = [(x, y) for x, y in points if x > 0 and y > 0]
    if len(points) < 2:
        return None
    lx = [math.log(x) for x, _ in points]
    ly = [math.log(y) for _, y in points]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    var = sum((a - mx) ** 2 for a in lx)
    if var == 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / var


def exponents(results: list[dict[str, Any]], fit_min: int) -> dict[str, dict[str, Any]]:
    """Growth exponents of step time and peak memory increase per ``model/family``."""
    out = {}
    for model in SYNTHETIC_MODELS:
        for family in FAMILIES:
            ok = [r for r in results if r["model"] == model and r["family"] == family and r["status"] == "ok"]
            ok = [r for r in ok if r["n"] >= fit_min]
            out[f"{model}/{family}"] = {
                "time": fit_exponent([(r["n"], r["step_s"]) for r in ok]),
                "memory": fit_exponent([(r["n"], r["peak_increase_mib"]) for r in ok]),
                "points": len(ok),
                "sizes": [r["n"] for r in ok],
            }
    return out


def check_targets(results: list[dict[str, Any]], n: int = 1000) -> list[dict[str, Any]]:
    """The two targets of the issue at ``n`` nodes, per graph family."""
    checks = []
    for family in FAMILIES:
        at = {r["model"]: r for r in results if r["family"] == family and r["n_requested"] == n}
        gine, full, ds = (at.get(m) for m in ("gine_rwse", "hod1_full", "ds_gnn"))
        for label, what in (("hod1_diag", "order 3"), ("hod1_diag_m1", "order 1")):
            diag = at.get(label)
            if diag and gine and diag["status"] == "ok" and gine["status"] == "ok":
                ratio = diag["step_s"] / gine["step_s"]
                checks.append(
                    {
                        "family": family,
                        "target": f"1-HOD diagonal-only ({what}) step time within 3x of GINE+RWSE at n = {n}",
                        "value": f"{ratio:.2f}x ({diag['step_s']:.3f} s vs {gine['step_s']:.3f} s)",
                        "met": ratio <= 3.0,
                    }
                )
        if full and ds and full["status"] == "ok":
            full_bytes = full["peak_increase_mib"] * 2**20
            if ds["status"] == "ok":
                ds_bytes, how = ds["peak_increase_mib"] * 2**20, "measured"
            elif ds.get("estimated_bytes"):
                ds_bytes, how = ds["estimated_bytes"], "DS-GNN stopped by the memory guard: its estimate"
            else:
                continue
            ratio = ds_bytes / max(full_bytes, 1.0)
            both = [
                (r["n_requested"], r, at_n)
                for r in results
                if r["model"] == "ds_gnn" and r["family"] == family and r["status"] == "ok"
                for at_n in results
                if at_n["model"] == "hod1_full"
                and at_n["family"] == family
                and at_n["n_requested"] == r["n_requested"]
                and at_n["status"] == "ok"
            ]
            if both:
                largest, ds_row, full_row = max(both, key=lambda item: item[0])
                measured = ds_row["peak_increase_mib"] / max(full_row["peak_increase_mib"], 1e-9)
                checks.append(
                    {
                        "family": family,
                        "target": f"(context) DS-GNN / full 1-HOD memory, both measured, at n = {largest}",
                        "value": f"{measured:.1f}x ({ds_row['peak_increase_mib']:.0f} MiB vs "
                        f"{full_row['peak_increase_mib']:.0f} MiB)",
                        "met": measured >= 5.0,
                    }
                )
            checks.append(
                {
                    "family": family,
                    "target": f"full 1-HOD at least 5x less memory than DS-GNN at n = {n}",
                    "value": f"{ratio:.1f}x ({full_bytes / 2**20:.0f} MiB measured vs "
                    f"{ds_bytes / 2**20:.0f} MiB, {how})",
                    "met": ratio >= 5.0,
                }
            )
    return checks


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import tempfile

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    colors = dict(zip(SYNTHETIC_MODELS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for col, family in enumerate(FAMILIES):
        ax_time, ax_mem = axes[0, col], axes[1, col]
        for model in SYNTHETIC_MODELS:
            rows = sorted(
                (r for r in results if r["model"] == model and r["family"] == family),
                key=lambda r: r["n_requested"],
            )
            ok = [r for r in rows if r["status"] == "ok"]
            guard = [r for r in rows if r["status"] == "memory_guard" and r.get("estimated_bytes")]
            color = colors[model]
            if ok:
                ax_time.plot([r["n"] for r in ok], [r["step_s"] for r in ok], "o-", color=color, label=model)
                ax_mem.plot(
                    [r["n"] for r in ok], [r["peak_increase_mib"] for r in ok], "o-", color=color, label=model
                )
            if guard:
                ax_mem.plot(
                    [r["n_requested"] for r in guard],
                    [r["estimated_bytes"] / 2**20 for r in guard],
                    "x--",
                    color=color,
                    label=f"{model} (guard estimate)",
                )
        ax_time.set_title(f"{family} graphs: time of one training step")
        ax_mem.set_title(f"{family} graphs: peak memory of one step")
        ax_time.set_ylabel("seconds")
        ax_mem.set_ylabel("MiB (x: memory-guard estimate, not run)")
        ax_mem.set_xlabel("nodes n")
        for ax in (ax_time, ax_mem):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------- markdown
def _fmt_status(r: dict[str, Any], key: str, fmt: str) -> str:
    if r["status"] == "ok":
        return format(r[key], fmt)
    if r["status"] == "memory_guard":
        est = r.get("estimated_bytes")
        return f"guard: est. {est / 2**30:.1f} GiB" if est else "guard"
    if r["status"] == "skipped":
        return "skipped"
    return r["status"]


def _merged_note(run: dict[str, Any]) -> str:
    """A rerun merged into the results: its command, date and load."""
    return f"; then `{run['command']}` (merged; {run['date']}, load before {run['load_average_before']})"


def _header(payload: dict[str, Any]) -> list[str]:
    return [
        f"- Command: `{payload['command']}`"
        + "".join(_merged_note(run) for run in payload.get("merged_commands", [])),
        f"- Machine: {payload['machine']}; torch {payload['torch']}, "
        f"{payload['threads']} thread(s) per worker",
        f"- Date: {payload['date']}",
        f"- Load average (1, 5, 15 min) before / after: {payload['load_average_before']} / "
        f"{payload['load_average_after']}. The CPUs were shared with other jobs, so times are indicative; "
        "peak memory is not affected by the load.",
    ]


def synthetic_markdown(payload: dict[str, Any]) -> list[str]:
    results = payload["results"]
    lines = [
        "## Scaling with graph size (synthetic graphs, one graph per step)",
        "",
        *_header(payload),
        f"- Limits per config: {payload['time_limit']:.0f} s wall clock, memory guard budget "
        f"{payload['memory_budget'] / 2**30:.1f} GiB (HOD-GNN, DS-GNN), resident-set watchdog "
        f"{payload['rss_limit'] / 2**30:.1f} GiB. Step = forward + L1 loss + backward + AdamW step on one "
        "graph; time = median of the steps after the first; memory = peak resident set during the steps "
        "minus the resident set before them.",
        "- Models (registry defaults, hidden width 64): `hod1_full` 1-HOD, order 3, SiLU GIN base of depth 3 "
        "and width 16 on a 4-dim input projection, U_out + sparse 2-IGN U_node over the full pair support; "
        "`hod1_diag` the same base, U_out off, U_node = every layer's diagonal (support pruned to pairs that "
        "return to the diagonal); `hod1_diag_m1` the same with first-order derivatives only (as in the "
        "project's Peptides config); `hod2` 2-HOD (mixed derivatives over triples, base input width 1) on "
        "top of 1-HOD; `ds_gnn` DS-GNN, full bag of node-marked subgraphs, 3-layer GINE subgraph network; "
        "`gine_rwse` GINE with RWSE of length 20 (RWSE is a precomputed transform, its time is listed "
        "apart). "
        "Every model has a 4-layer GINE downstream network; the HOD-GNN models build the graph's pair "
        "support at the first step and reuse it (`SupportCache`: the same `edge_index` every step, as in "
        "full-graph training on one large graph).",
        "- Graphs: `random` = G(n, m) with m = 3n/2 (mean degree 3); `grid` = side x side grid, "
        "side = round(sqrt(n)) (columns are labelled with the requested n; the grids have n = "
        + ", ".join(
            str(n) for n in sorted({r["n"] for r in results if r["family"] == "grid" and "edges" in r})
        )
        + "). Node features: 8 random floats; edge features: 4 random floats.",
        "",
    ]
    for family in FAMILIES:
        rows = [r for r in results if r["family"] == family]
        sizes = sorted({r["n_requested"] for r in rows})
        lines += [f"### {family} graphs: seconds per training step", ""]
        lines.append("| model | " + " | ".join(f"n={s}" for s in sizes) + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for model in SYNTHETIC_MODELS:
            cells = []
            for s in sizes:
                match = [r for r in rows if r["model"] == model and r["n_requested"] == s]
                cells.append(_fmt_status(match[0], "step_s", ".3g") if match else "")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines += ["", f"### {family} graphs: peak memory of a step (MiB over the pre-step resident set)", ""]
        lines.append("| model | " + " | ".join(f"n={s}" for s in sizes) + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for model in SYNTHETIC_MODELS:
            cells = []
            for s in sizes:
                match = [r for r in rows if r["model"] == model and r["n_requested"] == s]
                cells.append(_fmt_status(match[0], "peak_increase_mib", ".0f") if match else "")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "### Fitted growth exponents (log-log least squares over the completed sizes with "
        f"n >= {payload['fit_min']})",
        "",
        "| model | family | time exponent | memory exponent | sizes used |",
        "|---|---|---|---|---|",
    ]
    for key, fit in exponents(results, payload["fit_min"]).items():
        model, family = key.split("/")
        t = f"{fit['time']:.2f}" if fit["time"] is not None else "n/a"
        m = f"{fit['memory']:.2f}" if fit["memory"] is not None else "n/a"
        lines.append(
            f"| {model} | {family} | {t} | {m} | {', '.join(str(s) for s in fit['sizes']) or 'none'} |"
        )
    lines += ["", "### Targets", "", "| graphs | target | measured | met |", "|---|---|---|---|"]
    for check in check_targets(results):
        lines.append(
            f"| {check['family']} | {check['target']} | {check['value']} "
            f"| {'yes' if check['met'] else 'NO'} |"
        )
    over = [
        r
        for r in results
        if r["status"] == "ok"
        and r["model"] in ("hod1_full", "hod1_diag", "hod1_diag_m1", "hod2", "ds_gnn")
        and r["peak_increase_mib"] * 2**20 > payload["memory_budget"]
    ]
    if over:
        cells = ", ".join(
            f"{r['model']} {r['family']} n={r['n']} ({r['peak_increase_mib']:.0f} MiB)" for r in over
        )
        lines += [
            "",
            f"Ran although the measured peak exceeds the {payload['memory_budget'] / 2**30:.0f} GiB guard "
            f"budget (the guard estimates only the derivative tensors or the bag, in advance): {cells}.",
        ]
    transform = [r for r in results if r["model"] == "gine_rwse" and r["status"] == "ok"]
    if transform:
        cells = ", ".join(f"{r['family']} n={r['n']}: {r['transform_s']:.2f} s" for r in transform)
        lines += [
            "",
            f"RWSE precomputation (PyG `AddRandomWalkPE`, length 20, not in the step time): {cells}.",
        ]
    supports = [
        r for r in results if r["status"] == "ok" and "support_build_s" in r and r["model"] == "hod1_full"
    ]
    if supports:
        cells = ", ".join(f"{r['family']} n={r['n']}: {r['support_build_s']:.3f} s" for r in supports)
        lines += [
            "",
            "Pair-support build of `hod1_full` (`build_pair_support`, once per graph: the model's "
            "`SupportCache` reuses it while the same `edge_index` comes back, so it is in the first step, "
            f"not in the step time; `hod1_diag` builds a smaller, pruned one): {cells}.",
        ]
    lines += ["", "![scaling](scaling.png)", ""]
    return lines


def _run_label(config: list) -> str:
    filename, overrides = config
    return f"`{filename}`" + (f" + `{' '.join(overrides)}`" if overrides else "")


def peptides_markdown(payload: dict[str, Any]) -> list[str]:
    lines = [
        "## Peptides-func: training steps on real batches (official split, full graphs, no sampling)",
        "",
        *_header(payload),
        "- Models: the project's experiment configs `configs/peptides-func/<model>.yaml` (paper protocol: "
        "batch 200, downstream width 128 and depth 6, mean pooling; HOD-GNN with first-order derivatives, "
        "diagonal-only encoder, 20-layer base of width 16, RWSE initialisation), with the overrides listed; "
        "`hodgnn_t3_b32` is the registry-default HOD-GNN derivative part (order 3, base depth 3, U_out + "
        "sparse 2-IGN over the full pair support) on the same protocol.",
        "- Batches drawn from a seeded permutation of the official training split "
        f"({PEPTIDES_TRAIN_SIZE:,} graphs); step = forward + masked BCE loss + backward + AdamW step; memory "
        "guard at the library default (8 GiB) unless the command sets `--memory-budget`. **Epoch times are "
        "extrapolated** from the measured steps (train: median step x batches per epoch; evaluation: one "
        "no-grad batch x validation + test batches).",
        "",
        "| label | config | batch | parameters | nodes / batch | measured steps | s / step "
        "| peak memory of a step (MiB) | train epoch (extrapolated) | val + test pass (extrapolated) "
        "| notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in payload["results"]:
        notes = []
        if "derivative_pairs" in r:
            notes.append(
                f"{r['derivative_pairs']:,} stored derivative pairs (layers 1..T) in the first batch"
            )
        if "bag_nodes" in r:
            notes.append(f"{r['bag_nodes']:,} bag nodes in the first batch")
        est = r.get("ds_gnn_estimates_bytes")
        if est:
            notes.append(
                f"guard estimate over the {r['batches_per_epoch']} batches of one epoch: min "
                f"{est['min'] / 2**30:.2f}, median {est['median'] / 2**30:.2f}, "
                f"max {est['max'] / 2**30:.2f} GiB; "
                f"{est['over_budget']} batches above the {est['budget'] / 2**30:.0f} GiB budget"
            )
        config = _run_label(r["config"]) if "config" in r else ""
        head = f"| {r['model']} | {config} | {r.get('batch_size', '')} | {r.get('parameters', '')} "
        nodes = r.get("nodes_per_batch") or []
        nodes_cell = f"{min(nodes)}-{max(nodes)}" if nodes else ""
        if r["status"] != "ok":
            reason = r.get("error", r["status"])
            if r["status"] == "memory_guard" and r.get("estimated_bytes"):
                reason = f"stopped by the memory guard: estimated {r['estimated_bytes'] / 2**30:.1f} GiB"
            elif r["status"] == "rss_limit":
                reason = f"killed above the resident-set limit of {payload['rss_limit'] / 2**30:.0f} GiB"
            lines.append(f"{head}| {nodes_cell} | 0 | | | | | {'; '.join([reason, *notes])} |")
            continue
        steps = 1 + len(r["step_times_s"])
        eval_cell = (
            f"{r['epoch_eval_s_extrapolated'] / 60:.1f} min" if "epoch_eval_s_extrapolated" in r else ""
        )
        lines.append(
            f"{head}| {nodes_cell} | {steps} | {r['step_s']:.2f} | {r['peak_increase_mib']:.0f} "
            f"| {r['epoch_train_s_extrapolated'] / 60:.1f} min | {eval_cell} | {'; '.join(notes)} |"
        )
    lines.append("")
    return lines


def render(extra_sections: list[str] | None = None) -> str:
    lines = [
        "# Scale: time and memory without sampling",
        "",
        "Produced by `benchmarks/scaling.py` (every measurement in a fresh process; see its docstring). "
        "HOD-GNN stores derivatives only on node pairs within T hops (O(n min(n, d^T)) pairs) while a "
        "full-bag subgraph GNN holds n copies of every graph (O(n^2) bag nodes).",
        "",
    ]
    for path, section in (
        (E2E_JSON, e2e_markdown),
        (PEPTIDES_JSON, peptides_markdown),
        (SYNTHETIC_JSON, synthetic_markdown),
    ):
        if path.exists():
            lines += section(json.loads(path.read_text()))
        else:  # keep what the current page shows (results from a JSON file not on this machine)
            lines += _current_section(_SECTION_HEADINGS[section.__name__])
    return "\n".join(lines + (extra_sections or []) + _hand_written_sections())


_SECTION_HEADINGS = {
    "e2e_markdown": "## End to end:",
    "peptides_markdown": "## Peptides-func: training steps",
    "synthetic_markdown": "## Scaling with graph size",
}


def _current_section(heading: str) -> list[str]:
    """The section of the current ``scale.md`` that starts with ``heading``, up to the next
    ``## `` heading or the hand-written part (empty if the page has no such section)."""
    if not MARKDOWN_PATH.exists():
        return []
    text = MARKDOWN_PATH.read_text()
    start = text.find("\n" + heading)
    if start < 0:
        return []
    ends = [text.find(mark, start + 1) for mark in ("\n## ", "\n" + HAND_WRITTEN_MARKER)]
    end = min([e for e in ends if e >= 0], default=len(text))
    return text[start + 1 : end].rstrip("\n").split("\n") + [""]


HAND_WRITTEN_MARKER = "<!-- hand-written sections: kept as they are when this file is rendered again -->"


def _hand_written_sections() -> list[str]:
    """The part of the current ``scale.md`` from :data:`HAND_WRITTEN_MARKER` on (measurements made by
    hand, not by this script), so that rendering again keeps it."""
    if not MARKDOWN_PATH.exists():
        return []
    text = MARKDOWN_PATH.read_text()
    start = text.find(HAND_WRITTEN_MARKER)
    return ["", text[start:].rstrip("\n"), ""] if start >= 0 else []


def write_outputs(payload: dict[str, Any], json_path: Path) -> None:
    from hodgnn.train.results import atomic_write_text, write_json

    write_json(json_path, payload)
    if payload.get("suite") == "synthetic":
        plot(payload["results"], PLOT_PATH)
    atomic_write_text(MARKDOWN_PATH, render())
    print(f"wrote {json_path.relative_to(REPO)} and {MARKDOWN_PATH.relative_to(REPO)}")


def _payload_base(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    import torch

    return {
        "suite": args.suite,
        "command": "python benchmarks/scaling.py " + " ".join(argv),
        "machine": machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
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
                worker = ["synthetic", "--model", model, "--family", family, "--n", str(n)]
                worker += [
                    "--repeats",
                    str(args.repeats),
                    "--threads",
                    str(args.threads),
                    "--seed",
                    str(args.seed),
                ]
                worker += ["--time-limit", str(args.time_limit), "--memory-budget", str(args.memory_budget)]
                result = run_config(worker, args.time_limit * 1.5 + 30, args.rss_limit)
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
        load_average_after=payload.get("load_average_after") or [round(x, 2) for x in os.getloadavg()],
    )
    return payload


def run_peptides(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    payload = _payload_base(args, argv)
    results = []
    for model in args.models:
        worker = [
            "peptides",
            "--model",
            model,
            "--batches",
            str(args.batches),
            "--repeats",
            str(args.repeats),
        ]
        worker += [
            "--threads",
            str(args.threads),
            "--seed",
            str(args.seed),
            "--time-limit",
            str(args.time_limit),
        ]
        if args.memory_budget is not None:
            worker += ["--memory-budget", str(args.memory_budget)]
        if args.root:
            worker += ["--root", args.root]
        result = run_config(worker, args.time_limit * 2 + 120, args.rss_limit)
        result.setdefault("model", model)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k not in ("error",)}), flush=True)
    payload.update(results=results, load_average_after=[round(x, 2) for x in os.getloadavg()])
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False, compression="gzip")
    os.replace(tmp, path)
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
        config_file = REPO / "configs" / args.dataset / PEPTIDES_RUNS[model][0]
        config = peptides_config(model, args.dataset, tuple(overrides[len(PEPTIDES_RUNS[model][1]) :]))
        run_dir = Path(config.train.output_dir) / config.resolved_run_name
        run_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "hodgnn.cli", "train", "--config", str(config_file), "--restart"]
        command += overrides
        load_before = [round(x, 2) for x in os.getloadavg()]
        started = time.perf_counter()
        with open(run_dir / "stdout.log", "w") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        entry: dict[str, Any] = {
            "dataset": args.dataset,
            "model": model,
            "config_file": str(config_file.relative_to(REPO)),
            "overrides": PEPTIDES_RUNS[model][1],
            "batch_size": config.data.batch_size,
            "model_name": config.model.name,
            "model_options": config.model.options,
            "hodgnn_train": " ".join(
                ["hodgnn train --restart", "--config", str(config_file.relative_to(REPO)), *overrides]
            ),
            "command": "python benchmarks/scaling.py " + " ".join(argv),
            "machine": machine(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
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


def e2e_markdown(payload: dict[str, Any]) -> list[str]:
    lines = [
        "## End to end: whole epochs through `hodgnn train` (official split, full graphs, no sampling)",
        "",
        "Every run is one `hodgnn train` process (the exact command is listed below) started by "
        "`benchmarks/scaling.py --suite e2e`, with the project's config `configs/<dataset>/<model>.yaml` "
        "(paper protocol, see the next section) and the listed overrides, 1 torch thread, CPU. Peak memory "
        "is the process's maximum resident set (`wait4`), which includes the dataset and its precomputed "
        "transforms. Epoch time = training + validation + test pass, as the trainer records it. A "
        "`failed` run stopped at its first batch on the memory guard, whose estimate is quoted. One or two "
        "epochs of a 250-epoch protocol: the metric shows that the pipeline trains, not what the model "
        "reaches.",
        "",
        "| dataset | label | batch | status | epochs | s / epoch | peak RSS (GiB) | process wall time "
        "| metric per epoch (val / test) | finished (UTC), load average before -> after | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in payload["runs"].values():
        history = entry.get("history") or []
        metrics = "; ".join(f"{h['val_metric']:.4f} / {h['test_metric']:.4f}" for h in history)
        per_epoch = f"{entry['seconds_per_epoch']:.0f}" if entry.get("seconds_per_epoch") else ""
        notes = entry.get("error") or ""
        if entry["dataset"] == "peptides-struct":
            notes = (
                "synthetic targets (random normal, official SMILES and split): MAE is meaningless. " + notes
            ).strip()
        lines.append(
            f"| {entry['dataset']} | {entry['model']} | {entry.get('batch_size', '')} "
            f"| {entry.get('status') or entry['returncode']} "
            f"| {entry.get('epochs_run') or 0} | {per_epoch} | {entry['peak_rss_mib'] / 1024:.2f} "
            f"| {entry['wall_s'] / 60:.1f} min | {metrics} "
            f"| {entry['date']}, load {entry['load_average_before']} -> {entry['load_average_after']} "
            f"| {notes} |"
        )
    first = next(iter(payload["runs"].values()), None)
    if first:
        lines += ["", f"Machine: {first['machine']}. Benchmark commands:", ""]
        for command in sorted({e["command"] for e in payload["runs"].values()}):
            lines.append(f"- `{command}`")
        lines += ["", "Training commands they ran:", ""]
        for entry in payload["runs"].values():
            lines.append(f"- `{entry['hodgnn_train'].replace(str(REPO) + '/', '')}`")
    lines.append("")
    return lines


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
    parser.add_argument("--output-dir", default=str(REPO / "runs" / "scale"), help="e2e: run folders")
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
    if args.worker == "synthetic":
        print(json.dumps(synthetic_worker(args)))
        return 0
    if args.worker == "peptides":
        print(json.dumps(peptides_worker(args)))
        return 0
    if args.suite == "render":
        from hodgnn.train.results import atomic_write_text

        atomic_write_text(MARKDOWN_PATH, render())
        print(f"wrote {MARKDOWN_PATH.relative_to(REPO)}")
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
