"""The engine on PyTorch Geometric's own models against nested autograd through those models.

Every case is a PyG module (``GIN``, ``GCN``, ``GraphSAGE``, ``torch_geometric.nn.Sequential``)
with its own weights; the reference differentiates the module's own forward,
``base(x, edge_index, ...)``, with nested JVPs in float64 (error <= 1e-9 of the per-order scale),
and float32 runs are held to the tolerances of the BaseMPNN oracle tests. Modules that cannot be
propagated are refused, before any work, with a ValueError naming them.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, GINEConv, GraphConv, SAGEConv, Sequential
from torch_geometric.nn.models import GCN, GIN, MLP, GraphSAGE

from hodgnn.derivatives import UnsupportedModuleError, lower, node_derivatives
from hodgnn.testing.checks import assert_close_to_reference, assert_support_complete
from hodgnn.testing.graphs import SMALL_GRAPHS
from hodgnn.testing.reference import reference_node_derivatives

RTOL = {torch.float64: 1e-9, torch.float32: (1e-4, 1e-4, 1e-3)}
ORDER = 3
EDGE_DIM = 2


def _randomise_batch_norms(model: nn.Module, seed: int) -> None:
    """Give every BatchNorm running statistics and affine weights that are not the identity."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            d = module.num_features
            module.running_mean.copy_(torch.randn(d, generator=generator) * 0.3)
            module.running_var.copy_(torch.rand(d, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(d, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(d, generator=generator) * 0.2)


def _sequential() -> nn.Module:
    return Sequential(
        "x, edge_index, edge_attr",
        [
            (
                GINEConv(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 4)), edge_dim=EDGE_DIM),
                "x, edge_index, edge_attr -> x",
            ),
            nn.SiLU(),
            (GraphConv(4, 4, aggr="mean"), "x, edge_index -> x"),
            nn.BatchNorm1d(4),
            nn.Tanh(),
            (SAGEConv(4, 3, aggr="sum"), "x, edge_index -> x"),
            nn.Softplus(),
            (GCNConv(3, 3, improved=True), "x, edge_index -> x"),
            nn.Linear(3, 2),
        ],
    )


MODELS = {
    "gin": lambda: GIN(2, 4, 2, act="tanh"),
    "gin_batchnorm": lambda: GIN(2, 4, 2, act="silu", norm="batch_norm", out_channels=3),
    "gcn": lambda: GCN(2, 4, 2, act="tanh"),
    "sage_mean": lambda: GraphSAGE(2, 4, 2, act="silu"),
    "sage_sum": lambda: GraphSAGE(2, 4, 2, act="tanh", aggr="sum"),
    "gin_conv_mlp": lambda: GINConv(MLP([2, 5, 3], act="gelu", norm="batch_norm"), train_eps=True),
    "sequential": _sequential,
}
GRAPHS = ["path5", "triangle_tail", "self_loop", "duplicate_edge", "directed", "isolated_node"]


@functools.cache
def oracle(model: str, graph: str) -> tuple[nn.Module, dict, torch.Tensor]:
    """A float64 model in eval mode, its graph inputs and the order-3 reference."""
    torch.manual_seed(0)
    base = MODELS[model]().double()
    _randomise_batch_norms(base, 1)
    for module in base.modules():
        if hasattr(module, "eps") and isinstance(module.eps, nn.Parameter):
            module.eps.data.fill_(0.3)
    base.eval()
    g = SMALL_GRAPHS[graph]()
    generator = torch.Generator().manual_seed(2)
    inputs = {
        "x": torch.randn(g.num_nodes, 2, generator=generator, dtype=torch.float64),
        "edge_index": g.edge_index,
    }
    if model == "sequential":
        inputs["edge_attr"] = torch.randn(g.num_edges, EDGE_DIM, generator=generator, dtype=torch.float64)
    graph_args = {k: v for k, v in inputs.items() if k != "x"}
    reference = reference_node_derivatives(lambda y: base(y, **graph_args), inputs["x"], ORDER)
    return base, inputs, reference


def _check(base: nn.Module, inputs: dict, reference: torch.Tensor, dtype: torch.dtype) -> None:
    base = base.to(dtype)
    inputs = {k: v.to(dtype) if v.is_floating_point() else v for k, v in inputs.items()}
    graph_args = {k: v for k, v in inputs.items() if k != "x"}
    for order in (1, ORDER):
        derivatives = node_derivatives(
            base, inputs["x"], inputs["edge_index"], order, inputs.get("edge_attr")
        )
        assert derivatives.values.dtype == dtype
        assert_close_to_reference(
            derivatives.to_dense(), reference[:, :, :order], RTOL[dtype], what=f"order {order}"
        )
        assert_support_complete(derivatives, reference)
        torch.testing.assert_close(derivatives.h, base(inputs["x"], **graph_args))


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("model", list(MODELS))
def test_pyg_models_match_nested_autograd(model, graph):
    base, inputs, reference = oracle(model, graph)
    per_order = reference.abs().amax(dim=(0, 1, 3, 4))
    assert bool((per_order > 1e-8).all()), f"an order vanishes: {per_order.tolist()}"
    _check(base, inputs, reference, torch.float64)


@pytest.mark.parametrize("model", list(MODELS))
def test_pyg_models_float32(model):
    base, inputs, reference = oracle(model, "triangle_tail")
    _check(base, inputs, reference, torch.float32)
    base.double()


def test_gcn_edge_weights_match_nested_autograd():
    torch.manual_seed(0)
    base = GCN(2, 4, 2, act="tanh").double().eval()
    g = SMALL_GRAPHS["self_loop"]()
    x = torch.randn(g.num_nodes, 2, dtype=torch.float64)
    weight = torch.rand(g.num_edges, dtype=torch.float64) + 0.5
    reference = reference_node_derivatives(lambda y: base(y, g.edge_index, edge_weight=weight), x, 2)
    derivatives = node_derivatives(base, x, g.edge_index, 2, edge_weight=weight)
    assert_close_to_reference(derivatives.to_dense(), reference, 1e-9)
    torch.testing.assert_close(derivatives.h, base(x, g.edge_index, edge_weight=weight))


def test_weight_gradients_flow_to_the_pyg_module():
    """Autograd through the engine reaches the module's own parameters, with the same gradient
    as a finite difference of the engine's output."""
    torch.manual_seed(0)
    base = GraphSAGE(2, 3, 2, act="tanh").double().eval()
    g = SMALL_GRAPHS["triangle_tail"]()
    x = torch.randn(g.num_nodes, 2, dtype=torch.float64)
    weight = base.convs[0].lin_r.weight

    def loss() -> torch.Tensor:
        return node_derivatives(base, x, g.edge_index, 2).values.pow(2).sum()

    (grad,) = torch.autograd.grad(loss(), [weight])
    step = 1e-6
    with torch.no_grad():
        weight[0, 1] += step
        up = loss()
        weight[0, 1] -= 2 * step
        down = loss()
        weight[0, 1] += step
    torch.testing.assert_close(grad[0, 1], (up - down) / (2 * step), rtol=1e-6, atol=1e-8)


REFUSED = {
    "attention": (
        lambda: Sequential("x, edge_index", [(GATConv(2, 4), "x, edge_index -> x")]),
        "GATConv.*attention",
    ),
    "max aggregation": (lambda: GraphSAGE(2, 4, 2, aggr="max"), "aggr='max'"),
    "jumping knowledge": (lambda: GIN(2, 4, 2, jk="cat"), "jumping knowledge"),
    "batchnorm in training": (lambda: GIN(2, 4, 2, norm="batch_norm").train(), "BatchNorm in training mode"),
    "dropout in training": (lambda: GCN(2, 4, 2, dropout=0.5).train(), "dropout in training mode"),
    "layernorm": (
        lambda: Sequential("x, edge_index", [(GCNConv(2, 4), "x, edge_index -> x"), nn.LayerNorm(4)]),
        "LayerNorm",
    ),
    "normalize": (lambda: GraphSAGE(2, 4, 2, normalize=True), "normalize=True"),
    "leading node map": (
        lambda: Sequential(
            "x, edge_index", [(nn.Linear(2, 2), "x -> x"), (GCNConv(2, 4), "x, edge_index -> x")]
        ),
        "before the first message-passing layer",
    ),
    "branch": (
        lambda: Sequential(
            "x, edge_index",
            [(GCNConv(2, 4), "x, edge_index -> x1"), (GCNConv(4, 4), "x1, edge_index -> x")],
        ),
        "only a chain",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unsupported_modules_are_refused_before_any_work(case):
    build, message = REFUSED[case]
    base = build()
    with pytest.raises(UnsupportedModuleError, match=message):
        lower(base)
    g = SMALL_GRAPHS["path5"]()
    with pytest.raises(ValueError, match=message):
        node_derivatives(base, torch.randn(g.num_nodes, 2), g.edge_index, 1)


def test_refusal_names_the_module():
    base = GCN(2, 4, 2, dropout=0.5).train()
    with pytest.raises(ValueError, match=r"base\.dropout \(Dropout\)"):
        lower(base)
