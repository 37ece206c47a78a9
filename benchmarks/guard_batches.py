"""Will the memory guard stop a HOD-GNN training run? A bound over every batch of every epoch.

The guard's estimate (:func:`hodgnn.derivatives.memory.node_derivative_bytes`) is, up to its one
per-layer maximum and chunk term, a sum over the graphs of a batch (supports of disjoint graphs are
disjoint); the sum of the per-graph estimates is therefore an upper bound of the estimate of any
batch. This script computes the per-graph estimates of a config's dataset once, then replays the
trainer's batch orders (:class:`hodgnn.train.loaders.ResumableSampler`, one process) for ``--seeds``
seeds and every epoch of the config, and reports the largest bound of a training batch and of the
validation/test batches against the budget. Nothing is trained; single-node derivatives only.

    nice python benchmarks/guard_batches.py --config configs/peptides-func/hodgnn.yaml
    nice python benchmarks/guard_batches.py --config configs/peptides-func/hodgnn.yaml data.batch_size=200
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def per_graph_estimates(model, graphs, itemsize: int) -> list[int]:
    """The guard's estimate of every graph alone."""
    from hodgnn.derivatives import build_pair_support
    from hodgnn.derivatives.memory import node_derivative_bytes

    diagonal_only = model.diagonal_only
    all_layers = model.u_node == "diagonal"
    plan = model.base_plan()  # any base the engine lowers: hodgnn's BaseMPNN or a PyG model
    T = plan.num_layers
    estimates = []
    for graph in graphs:
        support = build_pair_support(graph.edge_index, graph.num_nodes, T, diagonal_only)
        estimates.append(
            node_derivative_bytes(plan, support, model.order, plan.in_channels, itemsize, all_layers)
        )
    return estimates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="a HOD-GNN experiment config")
    parser.add_argument("--seeds", type=int, default=4, help="seeds train.seed, ... (default 4)")
    parser.add_argument("--budget", type=float, default=None, help="bytes (default: the guard's default)")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)

    import torch

    from hodgnn.derivatives.memory import default_memory_budget
    from hodgnn.nn import build_model
    from hodgnn.train.config import load_config
    from hodgnn.train.loaders import ResumableSampler
    from hodgnn.train.runner import load_splits

    torch.set_num_threads(1)
    config = load_config(args.config, args.overrides)
    if config.model.name != "hodgnn":
        parser.error(f"{args.config} trains {config.model.name!r}, not hodgnn")
    splits = load_splits(config)
    model = build_model(config.model.name, splits.info, **config.model.options)
    budget = model.memory_budget or (args.budget if args.budget is not None else default_memory_budget())
    itemsize = torch.get_default_dtype().itemsize
    batch_size, gib = config.data.batch_size, 2**30
    started = time.perf_counter()
    estimates = {
        split: per_graph_estimates(model, getattr(splits, split), itemsize)
        for split in ("train", "val", "test")
    }
    print(
        f"per-graph estimates of {sum(map(len, estimates.values()))} graphs: "
        f"{time.perf_counter() - started:.0f} s"
    )
    train = estimates["train"]
    maxima = []
    for seed in range(config.train.seed, config.train.seed + args.seeds):
        sampler = ResumableSampler(len(train), shuffle=True, seed=seed)
        for epoch in range(config.train.epochs):
            order = sampler.indices(epoch)
            maxima.append(
                max(
                    sum(train[i] for i in order[b : b + batch_size]) for b in range(0, len(order), batch_size)
                )
            )
    print(
        f"{args.config} {' '.join(args.overrides)}: batch {batch_size}, budget {budget / gib:.2f} GiB; "
        f"train, {args.seeds} seeds x {config.train.epochs} epochs: largest batch bound "
        f"{max(maxima) / gib:.2f} GiB "
        f"(median of the per-epoch largest {statistics.median(maxima) / gib:.2f} GiB), epochs with a batch "
        f"above the budget: {sum(m > budget for m in maxima)} of {len(maxima)}"
    )
    for split in ("val", "test"):
        values = estimates[split]
        bound = max(sum(values[b : b + batch_size]) for b in range(0, len(values), batch_size))
        print(f"{split}: largest batch bound {bound / gib:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
