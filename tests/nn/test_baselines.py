"""Baselines: invariance, RWSE plumbing, the DS-GNN bag against explicit per-subgraph runs,
and the DS-GNN memory guard."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool
from torch_geometric.transforms import AddRandomWalkPE

from hodgnn.derivatives import MemoryBudgetError
from hodgnn.nn import DSGNN, MPNNBaseline
from hodgnn.nn.baselines import subgraph_bag

DTYPE = torch.float64

BASELINES = {
    "gin": lambda: MPNNBaseline(3, 16, 2, conv="gin"),
    "gine": lambda: MPNNBaseline(3, 16, 2, edge_dim=2, conv="gine", pooling="mean"),
    "gcn": lambda: MPNNBaseline(3, 16, 2, conv="gcn"),
    "gin_rwse": lambda: MPNNBaseline(3, 16, 2, conv="gin", rwse_walk_length=5),
    "gine_rwse": lambda: MPNNBaseline(3, 16, 2, edge_dim=2, conv="gine", rwse_walk_length=5),
    "gcn_rwse": lambda: MPNNBaseline(3, 16, 2, conv="gcn", rwse_walk_length=5),
    "ds_gnn": lambda: DSGNN(3, 16, 2, edge_dim=2),
    "ds_gnn_gin_sum": lambda: DSGNN(3, 16, 2, subgraph_conv="gin", subgraph_pooling="sum", num_layers=0),
}


def with_rwse(graphs: list[Data], walk_length: int = 5) -> list[Data]:
    transform = AddRandomWalkPE(walk_length, attr_name="rwse")
    return [transform(g.clone()) for g in graphs]


@pytest.mark.parametrize("name", list(BASELINES))
def test_output_is_invariant_to_node_relabelling(name, float_batch, helpers):
    graphs, _ = float_batch
    torch.manual_seed(0)
    model = BASELINES[name]().to(DTYPE)
    helpers.assert_relabel_invariant(model, with_rwse(graphs))


def test_rwse_models_require_the_transform(float_batch):
    graphs, batch = float_batch
    model = MPNNBaseline(3, 16, 2, conv="gin", rwse_walk_length=7).to(DTYPE)
    (transform,) = model.required_transforms()
    assert isinstance(transform, AddRandomWalkPE)
    assert transform.walk_length == 7 and transform.attr_name == "rwse"
    assert MPNNBaseline(3, 16, 2).required_transforms() == []
    with pytest.raises(ValueError, match="required_transforms"):
        model(batch)
    assert model(Batch.from_data_list([transform(g.clone()) for g in graphs])).shape == (3, 2)


def return_probabilities(data: Data, walk_length: int) -> torch.Tensor:
    """``[n, L]``: ``((D^-1 A)^t)_vv`` for ``t = 1..L`` by dense matrix powers (independent of PyG)."""
    adjacency = torch.zeros(data.num_nodes, data.num_nodes, dtype=DTYPE)
    adjacency[data.edge_index[0], data.edge_index[1]] = 1.0
    walk = adjacency / adjacency.sum(1, keepdim=True).clamp(min=1)
    powers, current = [], torch.eye(data.num_nodes, dtype=DTYPE)
    for _ in range(walk_length):
        current = current @ walk
        powers.append(current.diagonal())
    return torch.stack(powers, 1)


def test_rwse_is_the_random_walk_return_probability(helpers):
    """GIN cannot tell a 6-cycle from two triangles; their RWSE differ at odd lengths (a 6-cycle is
    bipartite): closed forms 0, 1/2, 0, 3/8 and 0, 1/2, 1/4, 3/8, which the transform the model asks
    for reproduces; the model reads exactly those values."""
    a = helpers.constant_feature_graph(nx.cycle_graph(6))
    b = helpers.constant_feature_graph(nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3)))
    closed = {"a": [0.0, 0.5, 0.0, 0.375], "b": [0.0, 0.5, 0.25, 0.375]}
    torch.manual_seed(0)
    model = MPNNBaseline(1, 16, 1, rwse_walk_length=4).to(DTYPE).eval()
    (transform,) = model.required_transforms()
    outputs = {}
    for name, graph in (("a", a), ("b", b)):
        rwse = transform(graph.clone()).rwse.to(DTYPE)
        expected = torch.tensor(closed[name], dtype=DTYPE).expand(graph.num_nodes, 4)
        torch.testing.assert_close(rwse, expected, atol=1e-6, rtol=0)  # AddRandomWalkPE is float32
        torch.testing.assert_close(rwse, return_probabilities(graph, 4), atol=1e-6, rtol=0)
        batch = Batch.from_data_list([transform(graph.clone())])
        with torch.no_grad():
            outputs[name] = model(batch)
            features = torch.cat([graph.x, model.rwse_encoder(return_probabilities(graph, 4))], dim=-1)
            by_hand = model.downstream(features, graph.edge_index, torch.zeros(6, dtype=torch.long), 1)
        torch.testing.assert_close(outputs[name], by_hand, atol=1e-6, rtol=0)
    plain = MPNNBaseline(1, 16, 1).to(DTYPE).eval()
    with torch.no_grad():
        same = [plain(Batch.from_data_list([g])) for g in (a, b)]
    torch.testing.assert_close(same[0], same[1], atol=1e-12, rtol=0)  # 1-WL equivalent without RWSE
    assert (outputs["a"] - outputs["b"]).abs().max() > 1e-5


def test_rwse_of_random_graphs_matches_dense_matrix_powers(float_batch):
    graphs, _ = float_batch
    for graph in with_rwse(graphs, 6):
        torch.testing.assert_close(graph.rwse.to(DTYPE), return_probabilities(graph, 6), atol=1e-6, rtol=0)


def test_subgraph_bag_matches_brute_force(float_batch):
    _, batch = float_batch
    bag = subgraph_bag(batch.edge_index, batch.batch, batch.num_graphs)
    expected_nodes, expected_edges = [], []
    for r in range(batch.num_nodes):
        members = (batch.batch == batch.batch[r]).nonzero().flatten().tolist()
        start = len(expected_nodes)
        position = {v: start + i for i, v in enumerate(members)}
        expected_nodes += [(r, v) for v in members]
        for e, (a, b) in enumerate(batch.edge_index.t().tolist()):
            if a in position:
                expected_edges.append((position[a], position[b], e))
    assert list(zip(bag["root"].tolist(), bag["node"].tolist(), strict=True)) == expected_nodes
    got_edges = list(zip(*bag["edge_index"].tolist(), bag["edge_id"].tolist(), strict=True))
    assert sorted(got_edges) == sorted(expected_edges)


def test_ds_gnn_root_embeddings_equal_separate_marked_subgraphs(float_batch):
    graphs, batch = float_batch
    torch.manual_seed(1)
    model = DSGNN(3, 16, 2, edge_dim=2).to(DTYPE).eval()
    with torch.no_grad():
        roots = model.root_embeddings(batch.x, batch.edge_index, batch.edge_attr, batch.batch, 3)
        expected = []
        for g in graphs:
            for r in range(g.num_nodes):
                mark = torch.zeros(g.num_nodes, dtype=torch.long)
                mark[r] = 1
                h = model.subgraph_input(g.x) + model.mark(mark)
                h = model.subgraph_gnn(h, g.edge_index, g.edge_attr)
                expected.append(global_mean_pool(h, torch.zeros(g.num_nodes, dtype=torch.long)))
    torch.testing.assert_close(roots, torch.cat(expected), atol=1e-10, rtol=0)


def test_ds_gnn_separates_a_pair_that_gin_cannot(helpers):
    a = helpers.constant_feature_graph(nx.cycle_graph(6))
    b = helpers.constant_feature_graph(nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3)))
    torch.manual_seed(2)
    model = DSGNN(1, 16, 1).to(DTYPE).eval()
    with torch.no_grad():
        ya, yb = model(Batch.from_data_list([a])), model(Batch.from_data_list([b]))
    assert (ya - yb).abs().max() > 1e-5


def test_ds_gnn_memory_guard_states_the_estimate(float_batch):
    _, batch = float_batch
    model = DSGNN(3, 16, 2, edge_dim=2, memory_budget=10_000).to(DTYPE)
    sizes = torch.bincount(batch.batch)
    expected_nodes = int((sizes * sizes).sum())
    estimate = model.estimate_bytes(batch.batch, batch.edge_index, 3, 8)
    assert estimate > 16 * 8 * expected_nodes * model.subgraph_layers  # at least the activations
    with pytest.raises(MemoryBudgetError, match=f"{estimate:,} bytes") as info:
        model(batch)
    assert (info.value.estimate_bytes, info.value.budget_bytes) == (estimate, 10_000)
    assert info.value.what == "the DS-GNN subgraph bag"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: MPNNBaseline(3, 16, 2, conv="gat"), "conv"),
        (lambda: MPNNBaseline(3, 16, 2, conv="gine"), "edge"),
        (lambda: MPNNBaseline(3, 16, 2, rwse_walk_length=-1), "rwse_walk_length"),
        (lambda: MPNNBaseline(3, 16, 2, num_layers=-1), "num_layers"),
        (lambda: DSGNN(3, 16, 2, subgraph_pooling="max"), "subgraph_pooling"),
        (lambda: DSGNN(3, 16, 2, subgraph_conv="sage"), "subgraph_conv"),
        (lambda: DSGNN(3, 16, 2, subgraph_layers=0), "subgraph_layers"),
    ],
)
def test_bad_configuration_raises_a_clear_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_derivative_encoding_model_reads_its_transform(float_batch, helpers):
    from hodgnn.transforms import AddDerivativeEncoding

    graphs, batch = float_batch
    options = dict(order=2, num_layers=3, act="silu", tensors=["diagonal", "out"], seed=1)
    torch.manual_seed(0)
    model = MPNNBaseline(3, 16, 2, conv="gin", derivative_encoding=options).to(DTYPE).eval()
    (transform,) = model.required_transforms()
    assert isinstance(transform, AddDerivativeEncoding) and transform.attr_name == "derivative_pe"
    assert transform.num_channels == 2 * 3 * 4 + 2 * 4  # m T d (diagonals) + m d (D_out), F = 1
    with pytest.raises(ValueError, match="derivative_pe is missing"):
        model(batch)
    transform.base.to(DTYPE)  # the encoding comes out in the base's dtype
    encoded = [transform(g.clone()) for g in graphs]
    relabelled = [transform(helpers.relabelled(g, seed)) for seed, g in enumerate(graphs)]
    assert encoded[0].derivative_pe.dtype == DTYPE
    assert encoded[0].derivative_pe.shape == (graphs[0].num_nodes, transform.num_channels)
    with torch.no_grad():
        out = model(Batch.from_data_list(encoded))
        torch.testing.assert_close(model(Batch.from_data_list(relabelled)), out, rtol=0, atol=1e-10)
        blank = Batch.from_data_list(encoded)
        blank.derivative_pe = torch.zeros_like(blank.derivative_pe)
        assert (model(blank) - out).abs().max() > 1e-6  # the encoding is used
