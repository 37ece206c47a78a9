"""The BREC loader against the MANIFEST, the official raw pair files and networkx isomorphism tests."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from hodgnn.data.brec import (
    BREC_CATEGORIES,
    BREC_GROUPS,
    NUM_PAIRS,
    BRECDataset,
    category_of,
    graph6_to_data,
    resolve_categories,
    select_pair_ids,
)
from hodgnn.data.root import resolve_data_root
from hodgnn.testing.data import assert_matches_manifest

DATA_ROOT = resolve_data_root()
BREC_FILE = DATA_ROOT / "brec" / "brec_v3.npy.xz"
needs_data = pytest.mark.skipif(not BREC_FILE.is_file(), reason=f"{BREC_FILE} not available")
RAW_FILES = {
    "basic": "basic",
    "regular": "regular",
    "strongly_regular": "str",
    "extension": "extension",
    "cfi": "cfi",
    "4_vertex_condition": "4vtx",
    "distance_regular": "dr",
}
SMALL_CATEGORIES = ("basic", "regular", "strongly_regular", "extension")


def as_networkx(data) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(data.num_nodes))
    graph.add_edges_from(data.edge_index.t().tolist())
    return graph


def from_graph6(text) -> nx.Graph:
    raw = text.encode() if isinstance(text, str) else bytes(text)
    return nx.from_graph6_bytes(raw.strip())


def invariants(graph: nx.Graph) -> tuple:
    return graph.number_of_nodes(), graph.number_of_edges(), tuple(sorted(d for _, d in graph.degree()))


@pytest.fixture(scope="module")
def brec() -> BRECDataset:
    return BRECDataset()


def test_category_layout():
    sizes = {name: len(ids) for name, ids in BREC_CATEGORIES.items()}
    assert sum(sizes.values()) == NUM_PAIRS
    all_ids = sorted(i for ids in BREC_CATEGORIES.values() for i in ids)
    assert all_ids == list(range(NUM_PAIRS))
    group_sizes = {g: sum(sizes[c] for c in members) for g, members in BREC_GROUPS.items()}
    assert group_sizes == {"Basic": 60, "Regular": 140, "Extension": 100, "CFI": 100}
    assert category_of(0) == "basic" and category_of(259) == "extension" and category_of(260) == "cfi"
    with pytest.raises(ValueError, match="pair id"):
        category_of(400)


def test_category_selection():
    assert resolve_categories(["Regular"]) == [
        "regular",
        "strongly_regular",
        "4_vertex_condition",
        "distance_regular",
    ]
    assert resolve_categories(["cfi", "Strongly regular", "4-vertex-condition"]) == [
        "cfi",
        "strongly_regular",
        "4_vertex_condition",
    ]
    assert select_pair_ids(["basic", "cfi"], 2) == [0, 1, 260, 261]
    assert len(select_pair_ids()) == NUM_PAIRS
    with pytest.raises(ValueError, match="Unknown BREC category"):
        resolve_categories(["triangles"])
    with pytest.raises(ValueError, match="max_pairs_per_category"):
        select_pair_ids(None, 0)


def test_graph6_to_data_round_trip():
    graph = nx.petersen_graph()
    data = graph6_to_data(nx.to_graph6_bytes(graph, header=False))
    assert data.num_nodes == 10 and data.edge_index.size(1) == 30
    assert torch.equal(data.x, torch.ones(10, 1))
    assert nx.is_isomorphic(as_networkx(data), graph)


@needs_data
def test_file_matches_manifest(brec):
    assert_matches_manifest(BREC_FILE, DATA_ROOT, "brec/brec_v3.npy.xz")
    assert brec.strings.shape == (NUM_PAIRS * 32 * 2 * 2,)


@needs_data
@pytest.mark.parametrize("category", list(BREC_CATEGORIES))
def test_categories_hold_the_official_raw_pairs(brec, category):
    """The first and last pair of every category are the matching pair of the official raw file."""
    raw = np.load(DATA_ROOT / "brec" / "raw_pairs" / f"{RAW_FILES[category]}.npy").reshape(-1)
    ids = BREC_CATEGORIES[category]
    assert len(raw) == 2 * len(ids)
    for k in (0, len(ids) - 1):
        pair = brec.pair(ids[k])
        assert pair.category == category and pair.index_in_category == k
        first, second = as_networkx(pair.graphs[0]), as_networkx(pair.graphs[1])
        raw_first, raw_second = from_graph6(raw[2 * k]), from_graph6(raw[2 * k + 1])
        if category in SMALL_CATEGORIES:
            assert nx.vf2pp_is_isomorphic(first, raw_first)
            assert nx.vf2pp_is_isomorphic(second, raw_second)
            assert not nx.vf2pp_is_isomorphic(first, second)
        else:  # CFI / 4-vertex / distance-regular graphs are too slow for VF2 in CI: invariants only
            assert invariants(first) == invariants(raw_first)
            assert invariants(second) == invariants(raw_second)


@needs_data
@pytest.mark.parametrize("pair_id", [0, 61, 120, 170])
def test_copies_and_reliability_graphs_are_isomorphic(brec, pair_id):
    pair = brec.pair(pair_id)
    assert len(pair.graphs) == 64 and len(pair.reliability) == 64
    first, second = as_networkx(pair.graphs[0]), as_networkx(pair.graphs[1])
    for index in (2, 30, 62):
        assert nx.vf2pp_is_isomorphic(as_networkx(pair.graphs[index]), first)
        assert nx.vf2pp_is_isomorphic(as_networkx(pair.graphs[index + 1]), second)
    for index in (0, 30, 62):
        a, b = as_networkx(pair.reliability[index]), as_networkx(pair.reliability[index + 1])
        assert nx.vf2pp_is_isomorphic(a, b)
        assert nx.vf2pp_is_isomorphic(a, first) or nx.vf2pp_is_isomorphic(a, second)
    # the copies are genuinely relabelled, not the same labelled graph
    assert not all(torch.equal(g.edge_index, pair.graphs[0].edge_index) for g in pair.graphs[0::2])


@needs_data
def test_basic_pairs_are_1wl_equivalent(brec):
    """BREC's Basic pairs are 1-WL-indistinguishable (the premise of the GIN test in tests/expressivity)."""
    for pair_id in list(BREC_CATEGORIES["basic"])[:10]:
        pair = brec.pair(pair_id)
        hashes = [nx.weisfeiler_lehman_graph_hash(as_networkx(g), iterations=10) for g in pair.graphs[:2]]
        assert hashes[0] == hashes[1]
