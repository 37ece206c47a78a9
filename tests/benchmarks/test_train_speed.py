"""The training-speed benchmark: its phase split accumulates exactly the gradients of one plain
backward pass (its page is checked against the committed JSON in test_render.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch_geometric.data import Batch, Data

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.train_speed import phase_times  # noqa: E402
from benchmarks.train_speed_report import PHASES  # noqa: E402
from hodgnn.nn import HODGNN  # noqa: E402
from hodgnn.testing.graphs import random_graph  # noqa: E402


def _batch(model: HODGNN) -> Batch:
    graphs = []
    for seed, n in enumerate([6, 9, 7]):
        g = random_graph(n, 0.35, seed)
        x = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        data = Data(x=x, edge_index=g.edge_index, num_nodes=n, y=torch.zeros(1, 2, dtype=torch.float64))
        for transform in model.required_transforms():
            data = transform(data)
        graphs.append(data)
    return Batch.from_data_list(graphs)


def test_phase_split_gives_the_gradients_of_one_backward_pass():
    torch.manual_seed(0)
    for options in ({"order": 2}, {"u_node": "diagonal", "u_out": False, "order": 1, "base_layers": 4}):
        model = HODGNN(3, 16, 2, **options).to(torch.float64)
        batch = _batch(model)

        def loss_fn(out, _):
            return out.square().sum()

        run = {"model": model, "loss_fn": loss_fn}
        phases = phase_times(run, batch)
        assert set(phases) == set(PHASES) and all(t >= 0 for t in phases.values())
        split = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
        loss_fn(model(batch), batch).backward()
        plain = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
        assert split.keys() == plain.keys() and "base.layers.0.linears.0.weight" in plain
        for name, grad in plain.items():
            torch.testing.assert_close(split[name], grad, rtol=1e-10, atol=1e-12, msg=name)
