"""Our base MPNN against PyTorch Geometric's own layers with copied weights.

The derivative oracle tests compare the engine with autograd through the same ``BaseMPNN``, so a
wrong aggregation there would pass them all; these tests pin ``BaseMPNN`` itself to PyG's
``GINConv``, ``GCNConv`` and ``GINEConv`` (float32 to 1e-6, float64 to 1e-12), on graphs with
self-loops, duplicate edges, isolated nodes and one-way edges.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv, GINConv, GINEConv

from hodgnn.nn.base_mpnn import BaseMPNN, aggregation_weights
from hodgnn.testing.graphs import SMALL_GRAPHS

TOL = {torch.float32: dict(rtol=1e-6, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}
GRAPHS = ["path5", "triangle_tail", "self_loop", "duplicate_edge", "directed", "isolated_node", "pyg_batch"]
ACTS = {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
EDGE_DIM = 3


def _copy(target: nn.Linear, source: nn.Linear) -> nn.Linear:
    target.weight.data.copy_(source.weight.data)
    if target.bias is not None:
        target.bias.data.copy_(source.bias.data)
    return target


def _pyg_layers(base: BaseMPNN, act: str) -> list[nn.Module]:
    """PyG convs carrying the weights of every layer of ``base``."""
    layers = []
    for layer in base.layers:
        if layer.conv == "gcn":
            (lin,) = layer.linears
            conv = GCNConv(lin.in_features, lin.out_features)
            conv.lin.weight.data.copy_(lin.weight.data)
            conv.bias.data.copy_(lin.bias.data)
            layers.append(nn.ModuleDict({"conv": conv, "act": ACTS[act]()}))
            continue
        mlp = []
        for lin in layer.linears:
            mlp += [nn.Linear(lin.in_features, lin.out_features), ACTS[act]()]
        if layer.conv == "gin":
            conv = GINConv(nn.Sequential(*mlp), eps=float(layer.eps))
        else:
            conv = GINEConv(nn.Sequential(*mlp), eps=float(layer.eps), edge_dim=EDGE_DIM)
            _copy(conv.lin, layer.edge_lin)
        # after construction: the convs reset the parameters of the modules they are given
        for target, source in zip(conv.nn[::2], layer.linears, strict=True):
            _copy(target, source)
        layers.append(nn.ModuleDict({"conv": conv}))
    return layers


def _pyg_forward(layers, x, edge_index, edge_attr):
    h = x
    for layer in layers:
        conv = layer["conv"]
        h = conv(h, edge_index, edge_attr) if isinstance(conv, GINEConv) else conv(h, edge_index)
        if "act" in layer:
            h = layer["act"](h)
    return h


CASES = [("gin", "silu", 2), ("gin", "tanh", 1), ("gcn", "tanh", 1), ("gcn", "relu", 1), ("gine", "relu", 2)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("conv,act,mlp_layers", CASES)
def test_base_mpnn_equals_pyg_convs(conv, act, mlp_layers, graph, dtype):
    torch.manual_seed(0)
    base = BaseMPNN(
        4,
        5,
        3,
        conv=conv,
        act=act,
        eps=0.25,
        num_mlp_layers=mlp_layers,
        edge_dim=EDGE_DIM if conv == "gine" else None,
    ).to(dtype)
    pyg = [layer.to(dtype) for layer in _pyg_layers(base, act)]
    g = SMALL_GRAPHS[graph]()
    x = torch.randn(g.num_nodes, 4, dtype=dtype)
    edge_attr = torch.randn(g.num_edges, EDGE_DIM, dtype=dtype) if conv == "gine" else None
    expected = _pyg_forward(pyg, x, g.edge_index, edge_attr)
    assert expected.abs().max() > 1e-3, "vacuous comparison"
    torch.testing.assert_close(base(x, g.edge_index, edge_attr), expected, **TOL[dtype])


@pytest.mark.parametrize("graph", GRAPHS)
def test_gcn_weights_equal_pyg_gcn_norm(graph):
    """The self and edge weights, scattered into a dense matrix, equal PyG's normalised
    adjacency (gcn_norm with its added self-loops)."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    g = SMALL_GRAPHS[graph]()
    n = g.num_nodes
    self_w, edge_w = aggregation_weights("gcn", g.edge_index, n, torch.zeros(1), torch.float64)
    ours = torch.diag(self_w).index_put_((g.edge_index[1], g.edge_index[0]), edge_w, accumulate=True)
    index, weight = gcn_norm(g.edge_index, None, n, dtype=torch.float64)
    theirs = torch.zeros(n, n, dtype=torch.float64).index_put_((index[1], index[0]), weight, accumulate=True)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
