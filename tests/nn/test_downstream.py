"""The shared downstream GNN: pooling, head and a residual GIN layer against dense references."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from hodgnn.nn import DownstreamGNN, GNNStack
from hodgnn.nn.downstream import graph_batch, used_edge_attr

DTYPE = torch.float64


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_pooling_and_linear_head_match_a_per_graph_reference(pooling, float_batch):
    _, batch = float_batch
    model = DownstreamGNN(3, 8, 2, num_layers=0, pooling=pooling, head_layers=1).to(DTYPE).eval()
    out = model(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
    head = model.head.lins[0]
    expected = []
    for g in range(batch.num_graphs):
        h = model.input(batch.x[batch.batch == g])
        pooled = h.sum(0) if pooling == "sum" else h.mean(0)
        expected.append(head.weight @ pooled + head.bias)
    torch.testing.assert_close(out, torch.stack(expected), atol=1e-12, rtol=0)


def test_no_pooling_predicts_every_node(float_batch):
    _, batch = float_batch
    model = DownstreamGNN(3, 8, 2, num_layers=0, pooling="none", head_layers=1).to(DTYPE).eval()
    out = model(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
    head = model.head.lins[0]
    torch.testing.assert_close(out, model.input(batch.x) @ head.weight.T + head.bias, atol=1e-12, rtol=0)
    assert out.shape == (batch.num_nodes, 2)


def test_residual_gin_layer_matches_dense_adjacency(float_batch):
    _, batch = float_batch
    stack = GNNStack(3, 1, conv="gin", act="tanh", batch_norm=False, residual=True).to(DTYPE).eval()
    conv = stack.convs[0]
    with torch.no_grad():
        conv.eps.fill_(0.25)
    n = batch.num_nodes
    adjacency = torch.zeros(n, n, dtype=DTYPE)
    adjacency.index_put_(
        (batch.edge_index[1], batch.edge_index[0]),
        torch.ones(batch.edge_index.size(1), dtype=DTYPE),
        accumulate=True,
    )
    aggregated = 1.25 * batch.x + adjacency @ batch.x
    expected = batch.x + torch.tanh(conv.nn(aggregated))
    torch.testing.assert_close(stack(batch.x, batch.edge_index), expected, atol=1e-12, rtol=0)


def test_graph_batch_of_a_single_graph_and_edge_checks():
    data = Data(x=torch.ones(3, 1), edge_index=torch.tensor([[0, 1], [1, 0]]))
    batch, num_graphs = graph_batch(data)
    assert num_graphs == 1 and torch.equal(batch, torch.zeros(3, dtype=torch.long))
    assert used_edge_attr(torch.ones(2, 1), None) is None
    with pytest.raises(ValueError, match="edge_attr is missing"):
        used_edge_attr(None, 4)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"conv": "gat"}, "conv"),
        ({"conv": "gine"}, "edge"),
        ({"pooling": "max"}, "pooling"),
        ({"act": "swish"}, "act"),
        ({"head_layers": 0}, "head_layers"),
        ({"dropout": -0.1}, "dropout"),
    ],
)
def test_bad_downstream_options_raise(options, match):
    with pytest.raises(ValueError, match=match):
        DownstreamGNN(3, 8, 1, **options)


DOWNSTREAM_SETTINGS = {
    "num_layers": 2,
    "conv": "gcn",
    "pooling": "mean",
    "act": "gelu",
    "dropout": 0.25,
    "head_layers": 3,
    "batch_norm": False,
    "residual": False,
}


def test_from_options_builds_what_the_constructor_builds():
    torch.manual_seed(3)
    direct = DownstreamGNN(5, 8, 2, edge_dim=None, **DOWNSTREAM_SETTINGS)
    torch.manual_seed(3)
    built = DownstreamGNN.from_options(5, 8, 2, None, {**DOWNSTREAM_SETTINGS, "unrelated": object()})
    assert repr(built) == repr(direct)
    state, expected = built.state_dict(), direct.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    without_residual = {k: v for k, v in DOWNSTREAM_SETTINGS.items() if k != "residual"}
    with pytest.raises(TypeError, match="residual"):
        DownstreamGNN.from_options(5, 8, 2, None, without_residual)


@pytest.mark.parametrize("model", ["gcn", "ds_gnn"])
def test_models_hand_their_options_to_the_downstream_gnn(model):
    from hodgnn.nn import DSGNN, MPNNBaseline

    cls = MPNNBaseline if model == "gcn" else DSGNN
    net = cls(3, 8, 2, **DOWNSTREAM_SETTINGS)
    downstream = net.downstream
    assert downstream.pooling == "mean" and downstream.gnn.conv == "gcn"
    assert len(downstream.gnn.convs) == 2 and not downstream.gnn.residual
    assert all(isinstance(norm, torch.nn.Identity) for norm in downstream.gnn.norms)
    assert downstream.gnn.dropout == 0.25 and len(downstream.head.lins) == 3
    assert type(downstream.gnn.act).__name__ == "GELU"
    expected_in = 3 if model == "gcn" else 8 + 3  # DS-GNN: subgraph embedding and the input
    assert downstream.input.in_features == expected_in
