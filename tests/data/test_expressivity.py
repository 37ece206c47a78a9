"""EXP and SR25 loaders: sizes and checksums against the MANIFEST, and the properties that make them
expressivity benchmarks (EXP pairs 1-WL-equivalent but non-isomorphic; SR25 strongly regular)."""

from __future__ import annotations

import pickle

import networkx as nx
import pytest
import torch

from hodgnn.data.expressivity import (
    _LegacyDataUnpickler,
    load_exp,
    load_sr25,
    load_sr25_graphs,
    to_networkx_graph,
)
from hodgnn.data.root import resolve_data_root
from hodgnn.testing.data import assert_matches_manifest

DATA_ROOT = resolve_data_root()
EXP_FILE = DATA_ROOT / "expressivity" / "EXP" / "raw" / "GRAPHSAT.pkl"
SR25_FILE = DATA_ROOT / "expressivity" / "sr25" / "raw" / "sr251256.g6"
needs_data = pytest.mark.skipif(
    not (EXP_FILE.is_file() and SR25_FILE.is_file()), reason="expressivity data not available"
)


@needs_data
@pytest.mark.parametrize(
    "path, relative",
    [(EXP_FILE, "expressivity/EXP/raw/GRAPHSAT.pkl"), (SR25_FILE, "expressivity/sr25/raw/sr251256.g6")],
)
def test_files_match_manifest(path, relative):
    assert_matches_manifest(path, DATA_ROOT, relative)


@needs_data
def test_exp_pairs_are_1wl_equivalent_and_not_isomorphic():
    pairs = load_exp()
    assert len(pairs) == 600
    for first, second in pairs:
        for data in (first, second):
            assert data.x.shape == (data.num_nodes, 2)
            assert torch.equal(data.x.sum(dim=1), torch.ones(data.num_nodes))
            src, dst = data.edge_index
            assert set(zip(src.tolist(), dst.tolist(), strict=True)) == set(
                zip(dst.tolist(), src.tolist(), strict=True)
            )
        hashes = [
            nx.weisfeiler_lehman_graph_hash(to_networkx_graph(g), node_attr="label", iterations=8)
            for g in (first, second)
        ]
        assert hashes[0] == hashes[1]
    for first, second in pairs[:5]:
        matcher = nx.algorithms.isomorphism.GraphMatcher(
            to_networkx_graph(first),
            to_networkx_graph(second),
            node_match=lambda a, b: a["label"] == b["label"],
        )
        assert not matcher.is_isomorphic()


@needs_data
def test_sr25_graphs_are_strongly_regular_25_12_5_6():
    graphs = load_sr25_graphs()
    assert len(graphs) == 15 and len(load_sr25()) == 105
    for data in graphs:
        adj = torch.zeros(25, 25, dtype=torch.long)
        adj[data.edge_index[0], data.edge_index[1]] = 1
        identity, ones = torch.eye(25, dtype=torch.long), torch.ones(25, 25, dtype=torch.long)
        # srg(25, 12, 5, 6): A^2 = 12 I + 5 A + 6 (J - I - A)
        assert torch.equal(adj @ adj, 12 * identity + 5 * adj + 6 * (ones - identity - adj))
    first, second = (to_networkx_graph(g) for g in graphs[:2])
    assert not nx.vf2pp_is_isomorphic(first, second)


def test_legacy_unpickler_refuses_foreign_globals(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(print))
    with open(path, "rb") as handle, pytest.raises(pickle.UnpicklingError, match="not allowed"):
        _LegacyDataUnpickler(handle).load()
