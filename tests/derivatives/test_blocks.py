"""Block supports of batches (from hop distances) against networkx and the sparse builder."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data

from hodgnn.derivatives import build_pair_support
from hodgnn.derivatives.blocks import UNREACHED, block_offsets, build_block_pair_support, hop_distances
from hodgnn.testing.graphs import SMALL_GRAPHS, random_graph
from hodgnn.transforms import AddHopDistances

# single graphs with every edge case (self-loop, duplicate edge, isolated node, one-way edges,
# no edges), and batches that mix them with random graphs
SINGLES = [make() for make in SMALL_GRAPHS.values() if make().num_graphs == 1]


def _batch(graphs) -> Batch:
    return Batch.from_data_list([Data(edge_index=g.edge_index, num_nodes=g.num_nodes) for g in graphs])


BATCHES = {
    "singles": _batch(SINGLES),
    "undirected": _batch([random_graph(n, 0.3, seed) for seed, n in enumerate([7, 1, 12, 5, 9])]),
    "directed": _batch([random_graph(n, 0.25, seed, directed=True) for seed, n in enumerate([8, 11, 3, 10])]),
}


def _graph_slices(batch: Batch):
    for g in range(batch.num_graphs):
        start, stop = int(batch.ptr[g]), int(batch.ptr[g + 1])
        mask = (batch.edge_index[0] >= start) & (batch.edge_index[0] < stop)
        yield start, stop - start, batch.edge_index[:, mask] - start


@pytest.mark.parametrize("max_hops", [0, 1, 3, 6])
@pytest.mark.parametrize("name", list(BATCHES))
def test_hop_distances_are_networkx_shortest_paths(name, max_hops):
    batch = BATCHES[name]
    hops = hop_distances(batch.edge_index, batch.ptr, max_hops)
    sizes, offsets = block_offsets(batch.ptr)
    assert hops.dtype == torch.uint8 and hops.numel() == int((sizes * sizes).sum())
    for g, (_, n, edges) in enumerate(_graph_slices(batch)):
        graph = nx.DiGraph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(edges.t().tolist())
        lengths = dict(nx.all_pairs_shortest_path_length(graph, cutoff=max_hops))
        expected = torch.full((n, n), UNREACHED, dtype=torch.uint8)
        for u, row in lengths.items():
            for v, d in row.items():
                expected[v, u] = d  # entry (v, u): the path u -> v
        block = hops[int(offsets[g]) : int(offsets[g + 1])].view(n, n)
        assert torch.equal(block, expected), f"graph {g}"


def _same_support(block, sparse) -> None:
    """Same keys and the same aggregation (row maps entry by entry, with their edges)."""
    assert block.num_nodes == sparse.num_nodes and block.num_layers == sparse.num_layers
    for t in range(sparse.num_layers + 1):
        assert torch.equal(block.keys[t], sparse.keys[t]), f"keys of layer {t}"
    for t, (new, old) in enumerate(zip(block.transitions, sparse.transitions, strict=True)):
        assert (new.num_src, new.num_dst, new.num_messages) == (old.num_src, old.num_dst, old.num_messages)
        assert torch.equal(new.self_src, old.self_src) and torch.equal(new.self_dst, old.self_dst)
        for with_messages in (True, False):
            a, b = new.row_map(with_messages), old.row_map(with_messages)
            assert torch.equal(a.cols, b.cols) and torch.equal(a.offsets, b.offsets), f"row map {t}"
            # the transition entry behind every row-map entry: -1 for self entries, else its edge
            edges_a = torch.cat([torch.full_like(new.self_src, -1), new.msg_edge])[a.order]
            edges_b = torch.cat([torch.full_like(old.self_src, -1), old.msg_edge])[b.order]
            assert torch.equal(edges_a, edges_b), f"edges of layer {t}"
            # and the transition's own lists agree with its row map
            dst_a = torch.cat([new.self_dst, new.msg_dst])[a.order]
            assert torch.equal(dst_a, a.rows)


@pytest.mark.parametrize("diagonal_only", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 4])
@pytest.mark.parametrize("name", list(BATCHES))
def test_block_support_equals_the_sparse_builder(name, num_layers, diagonal_only):
    batch = BATCHES[name]
    sparse = build_pair_support(batch.edge_index, batch.num_nodes, num_layers, diagonal_only)
    hops = hop_distances(batch.edge_index, batch.ptr, num_layers)
    _same_support(
        build_block_pair_support(batch.edge_index, batch.ptr, num_layers, diagonal_only, hops), sparse
    )
    _same_support(build_block_pair_support(batch.edge_index, batch.ptr, num_layers, diagonal_only), sparse)


def test_collated_per_graph_distances_give_the_batch_support():
    graphs = [random_graph(n, 0.3, seed) for seed, n in enumerate([6, 9, 4])]
    transform = AddHopDistances(3)
    data = [transform(Data(edge_index=g.edge_index, num_nodes=g.num_nodes)) for g in graphs]
    batch = Batch.from_data_list(data)
    assert torch.equal(batch.hop_distances, hop_distances(batch.edge_index, batch.ptr, 3))
    sparse = build_pair_support(batch.edge_index, batch.num_nodes, 3, True)
    _same_support(build_block_pair_support(batch.edge_index, batch.ptr, 3, True, batch.hop_distances), sparse)


def test_bad_inputs_are_named():
    batch = BATCHES["undirected"]
    with pytest.raises(ValueError, match="sum\\(n_g\\^2\\)"):
        build_block_pair_support(batch.edge_index, batch.ptr, 2, hops=torch.zeros(3, dtype=torch.uint8))
    crossing = torch.tensor([[0, 8], [8, 0]])
    with pytest.raises(ValueError, match="different graphs"):
        hop_distances(crossing, torch.tensor([0, 7, 10]), 2)
    with pytest.raises(ValueError, match="max_hops"):
        hop_distances(batch.edge_index, batch.ptr, 255)
    with pytest.raises(ValueError, match="max_hops"):
        AddHopDistances(-1)
    with pytest.raises(ValueError, match="offset by PyG"):
        AddHopDistances(3, attr_name="hop_index")


def test_transform_repr_and_large_graphs_left_alone():
    transform = AddHopDistances(5, max_nodes=4)
    assert repr(transform) == "AddHopDistances(max_hops=5, attr_name='hop_distances', max_nodes=4)"
    big = transform(Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=5))
    assert "hop_distances" not in big
    small = transform(Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2))
    assert small.hop_distances.tolist() == [0, 1, 1, 0]
