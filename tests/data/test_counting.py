"""Exact substructure counts against brute-force subgraph enumeration, and the counting loader."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

from hodgnn.data.counting import (
    SUBSTRUCTURES,
    canonical_target,
    count_cycles,
    count_substructures,
    count_substructures_per_node,
    dense_adjacency,
    read_counting_graphs,
)
from hodgnn.data.root import resolve_data_root
from hodgnn.testing.data import assert_matches_manifest

PATTERNS = {
    "cycle3": nx.cycle_graph(3),
    "cycle4": nx.cycle_graph(4),
    "cycle5": nx.cycle_graph(5),
    "cycle6": nx.cycle_graph(6),
    "tailed_triangle": nx.Graph([(0, 1), (1, 2), (2, 0), (2, 3)]),
    "chordal_cycle": nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]),
    "clique4": nx.complete_graph(4),
    "path4": nx.path_graph(4),
}


def brute_force_count(graph: nx.Graph, pattern: nx.Graph) -> int:
    """Subgraphs of ``graph`` isomorphic to ``pattern``: injective homomorphisms / automorphisms."""
    matcher = nx.algorithms.isomorphism.GraphMatcher
    embeddings = sum(1 for _ in matcher(graph, pattern).subgraph_monomorphisms_iter())
    automorphisms = sum(1 for _ in matcher(pattern, pattern).isomorphisms_iter())
    assert embeddings % automorphisms == 0
    return embeddings // automorphisms


# I2-GNN's rooted patterns (node level): the root is node "r"; path4 has 4 edges there
ROOTED_PATTERNS = {
    **{f"cycle{k}": nx.relabel_nodes(nx.cycle_graph(k), {0: "r"}) for k in range(3, 7)},
    "tailed_triangle": nx.Graph([("r", 1), (1, 2), (2, 3), (3, 1)]),
    "chordal_cycle": nx.Graph([("r", 1), ("r", 2), (1, 2), (1, 3), (2, 3)]),
    "clique4": nx.relabel_nodes(nx.complete_graph(4), {0: "r"}),
    "path4": nx.Graph([("r", 1), (1, 2), (2, 3), (3, 4)]),
}


def brute_force_rooted_counts(graph: nx.Graph, pattern: nx.Graph) -> np.ndarray:
    """Per node v: copies of ``pattern`` with its root on v, i.e. injective homomorphisms sending the
    root to v divided by the automorphisms of ``pattern`` that fix the root."""
    matcher = nx.algorithms.isomorphism.GraphMatcher
    counts = np.zeros(graph.number_of_nodes(), dtype=np.int64)
    for mapping in matcher(graph, pattern).subgraph_monomorphisms_iter():
        counts[next(v for v, p in mapping.items() if p == "r")] += 1
    fixing_root = sum(1 for m in matcher(pattern, pattern).isomorphisms_iter() if m["r"] == "r")
    assert (counts % fixing_root == 0).all()
    return counts // fixing_root


def random_graphs(count: int, seed: int) -> list[nx.Graph]:
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        n = int(rng.integers(5, 11))
        p = float(rng.uniform(0.2, 0.7))
        graphs.append(nx.gnp_random_graph(n, p, seed=int(rng.integers(1 << 30))))
    return graphs


# (exact counter, patterns, brute-force reference) per level
LEVEL_CASES = {
    "graph": (count_substructures, PATTERNS, brute_force_count),
    "node": (count_substructures_per_node, ROOTED_PATTERNS, brute_force_rooted_counts),
}


@pytest.mark.parametrize("level", sorted(LEVEL_CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_match_brute_force_on_random_graphs(seed, level):
    count, patterns, brute_force = LEVEL_CASES[level]
    for graph in random_graphs(6, seed):
        adj = nx.to_numpy_array(graph, nodelist=range(graph.number_of_nodes()), dtype=np.int64)
        counts = count(adj)
        assert set(counts) == set(SUBSTRUCTURES)
        for name, pattern in patterns.items():
            expected = brute_force(graph, pattern)
            assert np.array_equal(counts[name], expected), (name, nx.to_graph6_bytes(graph))


def test_node_counts_sum_to_graph_counts():
    # each k-cycle has k nodes, a 4-clique 4, a tailed triangle one pendant node, a diamond two
    # degree-2 nodes; the node-level 4-path (4 edges) is a different pattern from the graph-level one
    copies_per_pattern = {
        "cycle3": 3,
        "cycle4": 4,
        "cycle5": 5,
        "cycle6": 6,
        "clique4": 4,
        "tailed_triangle": 1,
        "chordal_cycle": 2,
    }
    for graph in random_graphs(8, seed=5):
        adj = nx.to_numpy_array(graph, nodelist=range(graph.number_of_nodes()), dtype=np.int64)
        nodes, whole = count_substructures_per_node(adj), count_substructures(adj)
        for name, copies in copies_per_pattern.items():
            assert nodes[name].sum() == copies * whole[name], name
        paths = sum(
            1 for v in graph for u in graph for path in nx.all_simple_paths(graph, v, u, 4) if len(path) == 5
        )
        assert nodes["path4"].sum() == paths


def test_cycle_enumeration_matches_networkx_simple_cycles():
    for graph in random_graphs(8, seed=11):
        by_length = {k: 0 for k in range(3, 8)}
        for cycle in nx.simple_cycles(graph, length_bound=7):
            if len(cycle) >= 3:
                by_length[len(cycle)] += 1
        adj = nx.to_numpy_array(graph, nodelist=range(graph.number_of_nodes()), dtype=np.int64)
        assert count_cycles(adj, max_length=7) == by_length


def test_matrix_formulas_for_short_cycles():
    """tr(A^3)/6 and (tr A^4 + tr A^2 - 2 sum A^2)/8, the closed forms of the public counting code."""
    for graph in random_graphs(10, seed=5):
        adj = nx.to_numpy_array(graph, nodelist=range(graph.number_of_nodes()), dtype=np.int64)
        adj2 = adj @ adj
        counts = count_substructures(adj)
        assert counts["cycle3"] * 6 == np.trace(adj2 @ adj)
        assert counts["cycle4"] * 8 == np.trace(adj2 @ adj2) + np.trace(adj2) - 2 * adj2.sum()


def test_known_graphs():
    petersen = count_substructures(nx.to_numpy_array(nx.petersen_graph(), dtype=np.int64))
    assert (petersen["cycle3"], petersen["cycle4"], petersen["cycle5"], petersen["cycle6"]) == (0, 0, 12, 10)
    k4 = count_substructures(nx.to_numpy_array(nx.complete_graph(4), dtype=np.int64))
    # K4: 4 triangles, 3 four-cycles, 1 clique, 6 diamonds, 4*3 tailed triangles, 4!/2 Hamiltonian paths
    assert k4 == {
        "cycle3": 4,
        "cycle4": 3,
        "cycle5": 0,
        "cycle6": 0,
        "tailed_triangle": 12,
        "chordal_cycle": 6,
        "clique4": 1,
        "path4": 12,
    }


def test_edge_index_and_adjacency_inputs_agree():
    graph = nx.gnp_random_graph(9, 0.5, seed=3)
    adj = nx.to_numpy_array(graph, nodelist=range(9), dtype=np.int64)
    one_direction = torch.tensor(list(graph.edges()), dtype=torch.long).t()
    both = torch.cat([one_direction, one_direction.flip(0)], dim=1)
    assert count_substructures(both, num_nodes=9) == count_substructures(adj)
    assert count_substructures(one_direction, num_nodes=9) == count_substructures(adj)
    isolated_tail = count_substructures(both, num_nodes=12)
    assert isolated_tail == count_substructures(adj)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="self-loops"):
        dense_adjacency(np.eye(3, dtype=np.int64))
    with pytest.raises(ValueError, match="symmetric"):
        dense_adjacency(np.triu(np.ones((3, 3), dtype=np.int64), 1))
    with pytest.raises(ValueError, match="num_nodes"):
        dense_adjacency(torch.tensor([[0, 5], [5, 0]]), num_nodes=3)
    with pytest.raises(ValueError, match="Unknown counting target"):
        canonical_target("7-cycle")
    assert canonical_target("3-cycle") == canonical_target("triangle") == "cycle3"
    assert canonical_target("tailed-triangle") == "tailed_triangle"


# --------------------------------------------------------------------- loader on the real benchmark
DATA_ROOT = resolve_data_root()
COUNTING_FILE = DATA_ROOT / "counting" / "random_graphs.npy"
needs_data = pytest.mark.skipif(not COUNTING_FILE.is_file(), reason=f"{COUNTING_FILE} not available")


@needs_data
def test_counting_file_matches_manifest_and_split():
    assert_matches_manifest(COUNTING_FILE, DATA_ROOT, "counting/random_graphs.npy")
    adjacencies, split = read_counting_graphs(COUNTING_FILE.parent)
    assert len(adjacencies) == 5000
    assert {k: len(v) for k, v in split.items()} == {"train": 1500, "val": 1000, "test": 2500}
    all_index = np.concatenate([split["train"], split["val"], split["test"]])
    assert np.array_equal(np.sort(all_index), np.arange(5000))
    for name in ("train", "val", "test"):
        text = np.loadtxt(Path(COUNTING_FILE.parent, f"dataset1_{name}.txt"), dtype=np.int64)
        assert np.array_equal(np.sort(text), np.sort(split[name]))


@needs_data
def test_real_graph_counts_match_brute_force():
    adjacencies, split = read_counting_graphs(COUNTING_FILE.parent)
    small = [i for i in split["test"] if adjacencies[i].shape[0] <= 15][:4]
    for i in small:
        graph = nx.from_numpy_array(np.asarray(adjacencies[i], dtype=np.int64))
        counts = count_substructures(adjacencies[i])
        for name, pattern in PATTERNS.items():
            assert counts[name] == brute_force_count(graph, pattern), (i, name)


@needs_data
def test_load_node_level_counting():
    from hodgnn.data import load_dataset

    splits = load_dataset("counting-node-chordal-cycle", max_graphs_per_split=30)
    assert splits.info.level == "node" and splits.info.name == "counting-node-chordal_cycle"
    assert splits.info.num_tasks == 1
    adjacencies, split = read_counting_graphs(COUNTING_FILE.parent)
    raw = np.concatenate(
        [count_substructures_per_node(adjacencies[i])["chordal_cycle"] for i in split["train"]]
    )
    std = splits.info.extra["target_std"][0]
    assert std == pytest.approx(raw.astype(np.float64).std())
    for data, index in zip(splits.val[:5], split["val"][:5], strict=True):
        assert data.y.shape == (data.num_nodes, 1)
        expected = count_substructures_per_node(adjacencies[index])["chordal_cycle"] / std
        np.testing.assert_allclose(data.y[:, 0].numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="level"):
        load_dataset("counting-cycle3", level="edge")


@needs_data
def test_load_counting_targets_and_features():
    from hodgnn.data.counting import load_counting

    splits = load_counting("4-cycle", max_graphs_per_split=40)
    assert splits.info.num_tasks == 1 and splits.info.node_input == "float" and splits.info.node_dim == 1
    assert splits.info.extra["split_sizes"] == {"train": 1500, "val": 1000, "test": 2500}
    assert [len(splits.train), len(splits.val), len(splits.test)] == [40, 40, 40]
    adjacencies, split = read_counting_graphs(COUNTING_FILE.parent)
    raw = np.array([count_substructures(adjacencies[i])["cycle4"] for i in split["train"]], dtype=np.float64)
    std = splits.info.extra["target_std"][0]
    assert std == pytest.approx(raw.std())
    for data, index in itertools.islice(zip(splits.test, split["test"][:40], strict=True), 10):
        assert torch.equal(data.x, torch.ones(data.num_nodes, 1))
        assert data.y.shape == (1, 1)
        expected = count_substructures(adjacencies[index])["cycle4"] / std
        assert data.y.item() == pytest.approx(expected, rel=1e-6)
        assert count_substructures(data.edge_index, data.num_nodes)["cycle4"] == round(expected * std)
