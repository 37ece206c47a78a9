"""Node relabelling (:mod:`hodgnn.data.relabel`): the relabelled graph is the same graph, renumbered."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data

from hodgnn.data.expressivity import load_sr25, to_networkx_graph
from hodgnn.data.relabel import relabel_data, relabel_graph
from hodgnn.data.root import resolve_data_root
from hodgnn.testing import checks
from hodgnn.testing.graphs import random_graph

EXPRESSIVITY = resolve_data_root() / "expressivity"


def test_relabel_graph():
    x = torch.arange(4.0).unsqueeze(1)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    perm = torch.tensor([2, 0, 3, 1])
    new_x, new_edge_index, _ = relabel_graph(perm, x, edge_index)
    assert new_x[:, 0].tolist() == [2.0, 0.0, 3.0, 1.0]
    # the old edge 0 -> 1 joins the new nodes 1 -> 3
    assert new_edge_index.t().tolist() == [[1, 3], [3, 0], [0, 2]]


def test_relabel_graph_moves_edge_features_with_their_edges():
    graph = random_graph(7, 0.5, seed=3)
    num_edges = graph.edge_index.size(1)
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    edge_attr = torch.arange(float(num_edges)).unsqueeze(1)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    edge_perm = torch.randperm(num_edges, generator=torch.Generator().manual_seed(2))
    new_x, new_edge_index, new_edge_attr = relabel_graph(perm, x, graph.edge_index, edge_attr, edge_perm)
    old_of_new = perm.tolist()
    for k in range(num_edges):  # new edge k is old edge edge_perm[k], between the same old nodes
        old = int(edge_perm[k])
        a, b = new_edge_index[:, k].tolist()
        assert (old_of_new[a], old_of_new[b]) == tuple(graph.edge_index[:, old].tolist())
        assert new_edge_attr[k, 0] == edge_attr[old, 0]
    torch.testing.assert_close(new_x, x[perm], rtol=0, atol=0)


def test_relabel_data_is_an_isomorphism_given_by_the_permutation():
    graph = random_graph(9, 0.4, seed=5)
    data = Data(x=torch.arange(9.0).unsqueeze(1), edge_index=graph.edge_index, num_nodes=9)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(4))
    copy = relabel_data(data, perm)
    before, after = to_networkx_graph(data), to_networkx_graph(copy)
    mapping = {new: int(old) for new, old in enumerate(perm)}  # new node -> old node
    renamed = {frozenset((mapping[a], mapping[b])) for a, b in after.edges}
    assert renamed == {frozenset(edge) for edge in before.edges}
    assert copy.x[:, 0].tolist() == [float(old) for old in perm]
    assert torch.equal(data.edge_index, graph.edge_index)  # the input is not modified


def test_relabel_data_rejects_what_is_not_a_permutation():
    data = Data(x=torch.zeros(3, 1), edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3)
    for bad in (torch.tensor([0, 0, 1]), torch.tensor([0, 1]), torch.tensor([0, 1, 3])):
        with pytest.raises(ValueError, match="permutation"):
            relabel_data(data, bad)


def test_the_test_checks_use_the_library_relabelling():
    assert checks.relabel_graph is relabel_graph


def test_relabel_data_gives_an_isomorphic_graph():
    data = load_sr25()[0][0] if (EXPRESSIVITY / "sr25").is_dir() else None
    if data is None:
        pytest.skip("SR25 not available")
    permutation = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(1))
    copy = relabel_data(data, permutation)
    assert not torch.equal(copy.edge_index, data.edge_index)
    assert nx.vf2pp_is_isomorphic(to_networkx_graph(copy), to_networkx_graph(data))
    with pytest.raises(ValueError, match="permutation"):
        relabel_data(data, torch.zeros(data.num_nodes, dtype=torch.long))
