"""Fixtures of the model tests: small graphs with features, relabelling, real molecules."""

from __future__ import annotations

from types import SimpleNamespace

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import from_networkx

from hodgnn.data import read_ogb_raw, resolve_data_root
from hodgnn.data.relabel import relabel_graph
from hodgnn.testing.graphs import random_graph


def featured_graph(num_nodes: int, edge_prob: float, seed: int, node_dim: int = 3, edge_dim: int = 2) -> Data:
    """A seeded Erdos-Renyi graph with float64 node and edge features."""
    graph = random_graph(num_nodes, edge_prob, seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, node_dim, generator=generator, dtype=torch.float64)
    edge_attr = torch.randn(graph.num_edges, edge_dim, generator=generator, dtype=torch.float64)
    return Data(x=x, edge_index=graph.edge_index, edge_attr=edge_attr, num_nodes=num_nodes)


def relabelled(data: Data, seed: int) -> Data:
    """The same graph with its nodes relabelled and its edge list reordered (seeded); node
    attributes (``x``, and ``rwse`` / ``derivative_pe`` if present) follow the nodes."""
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(data.num_nodes, generator=generator)
    edge_perm = torch.randperm(data.edge_index.size(1), generator=generator)
    x, edge_index, edge_attr = relabel_graph(perm, data.x, data.edge_index, data.edge_attr, edge_perm)
    out = Data(x=x, edge_index=edge_index, edge_attr=edge_attr, num_nodes=data.num_nodes)
    for name in ("rwse", "derivative_pe"):
        if getattr(data, name, None) is not None:
            out[name] = data[name][perm]
    return out


def constant_feature_graph(graph: nx.Graph) -> Data:
    """A networkx graph as PyG data with one constant float64 feature per node."""
    data = from_networkx(nx.convert_node_labels_to_integers(graph))
    n = graph.number_of_nodes()
    return Data(x=torch.ones(n, 1, dtype=torch.float64), edge_index=data.edge_index, num_nodes=n)


def decalin() -> nx.Graph:
    """Two fused hexagons (naphthalene's skeleton, 10 nodes, 11 edges)."""
    ring = [(i, (i + 1) % 6) for i in range(6)]
    return nx.Graph(ring + [(0, 6), (6, 7), (7, 8), (8, 9), (9, 5)])


def bicyclopentyl() -> nx.Graph:
    """Two pentagons joined by an edge (10 nodes, 11 edges, same degrees as decalin)."""
    ring = [(i, (i + 1) % 5) for i in range(5)]
    return nx.Graph(ring + [(a + 5, b + 5) for a, b in ring] + [(0, 5)])


@pytest.fixture(scope="session")
def molbace_graphs() -> list[Data]:
    """The first 32 molecules of ogbg-molbace from the data root (skips when absent)."""
    folder = resolve_data_root() / "ogbg-molbace"
    if not (folder / "raw").is_dir():
        pytest.skip(f"ogbg-molbace not found under {folder}")
    return read_ogb_raw(folder)[:32]


@pytest.fixture
def float_batch() -> tuple[list[Data], Batch]:
    """Three random graphs of different sizes (one with an isolated node) and their batch."""
    graphs = [featured_graph(6, 0.4, 1), featured_graph(4, 0.6, 2), featured_graph(7, 0.3, 3)]
    return graphs, Batch.from_data_list(graphs)


def assert_relabel_invariant(model: torch.nn.Module, graphs: list[Data], atol: float = 1e-10) -> None:
    """Outputs of a batch and of the batch with every graph relabelled agree (eval mode)."""
    model.eval()
    with torch.no_grad():
        before = model(Batch.from_data_list(graphs))
        after = model(Batch.from_data_list([relabelled(g, seed) for seed, g in enumerate(graphs)]))
    assert before.shape == (len(graphs), after.size(1))
    assert before.abs().max() > 1e-6  # not trivially constant
    torch.testing.assert_close(after, before, atol=atol, rtol=0)


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helper functions of this module, for the tests (test modules do not import conftest)."""
    return SimpleNamespace(
        featured_graph=featured_graph,
        relabelled=relabelled,
        constant_feature_graph=constant_feature_graph,
        decalin=decalin,
        bicyclopentyl=bicyclopentyl,
        assert_relabel_invariant=assert_relabel_invariant,
    )
