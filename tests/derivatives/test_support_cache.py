"""SupportCache: reuse only for the same live, unedited edge_index, and supports equal to fresh ones."""

from __future__ import annotations

import copy
import gc
import pickle

import pytest
import torch

from hodgnn.derivatives import SupportCache, build_pair_support, build_triple_support, node_derivatives
from hodgnn.nn import BaseMPNN
from hodgnn.testing.graphs import random_graph


def edges(seed: int = 0, n: int = 9) -> torch.Tensor:
    return random_graph(n, 0.3, seed).edge_index.clone()


def assert_same_support(a, b) -> None:
    assert len(a.keys) == len(b.keys)
    for ka, kb in zip(a.keys, b.keys, strict=True):
        assert torch.equal(ka, kb)


@pytest.mark.parametrize("diagonal_only", [False, True])
def test_same_tensor_hits_and_matches_a_fresh_build(diagonal_only):
    cache, edge_index = SupportCache(), edges()
    first = cache.pairs(edge_index, 9, 3, diagonal_only)
    assert cache.pairs(edge_index, 9, 3, diagonal_only) is first
    assert_same_support(first, build_pair_support(edge_index, 9, 3, diagonal_only))


def test_misses_for_an_equal_copy_another_depth_size_or_pruning():
    cache, edge_index = SupportCache(max_entries=8), edges()
    first = cache.pairs(edge_index, 9, 3)
    assert cache.pairs(edge_index.clone(), 9, 3) is not first
    assert cache.pairs(edge_index, 9, 2) is not first
    assert cache.pairs(edge_index, 10, 3) is not first
    assert cache.pairs(edge_index, 9, 3, diagonal_only=True) is not first


def test_in_place_edit_invalidates_the_entry():
    cache, edge_index = SupportCache(), edges()
    first = cache.pairs(edge_index, 9, 2)
    edge_index[0, 0] = (edge_index[0, 0] + 1) % 9
    second = cache.pairs(edge_index, 9, 2)
    assert second is not first
    assert_same_support(second, build_pair_support(edge_index, 9, 2))


def test_entry_is_dropped_when_the_tensor_is_freed():
    cache, edge_index = SupportCache(), edges()
    cache.pairs(edge_index, 9, 2)
    assert len(cache) == 1
    del edge_index
    gc.collect()
    assert len(cache) == 0


def test_at_most_max_entries_are_kept_least_recent_first_out():
    cache = SupportCache(max_entries=2)
    a, b, c = edges(0), edges(1), edges(2)
    support_a = cache.pairs(a, 9, 2)
    cache.pairs(b, 9, 2)
    cache.pairs(a, 9, 2)  # a is now the most recent
    cache.pairs(c, 9, 2)  # evicts b
    assert len(cache) == 2
    assert cache.pairs(a, 9, 2) is support_a
    assert SupportCache(max_entries=0).pairs(a, 9, 2) is not SupportCache(0).pairs(a, 9, 2)
    with pytest.raises(ValueError, match="max_entries"):
        SupportCache(max_entries=-1)


def test_triples_share_the_pair_entry():
    cache, edge_index = SupportCache(), edges(n=7)
    pairs, triples = cache.triples(edge_index, 7, 2)
    assert cache.pairs(edge_index, 7, 2) is pairs
    assert cache.triples(edge_index, 7, 2)[1] is triples
    fresh = build_triple_support(build_pair_support(edge_index, 7, 2))
    for ka, kb in zip(triples.keys, fresh.keys, strict=True):
        assert torch.equal(ka, kb)


def test_copies_and_pickles_are_empty():
    cache, edge_index = SupportCache(max_entries=3), edges()
    cache.pairs(edge_index, 9, 2)
    for other in (copy.deepcopy(cache), pickle.loads(pickle.dumps(cache))):
        assert len(other) == 0 and other.max_entries == 3


def test_derivatives_from_a_cached_support_equal_fresh_ones():
    torch.manual_seed(0)
    base = BaseMPNN(2, 4, 3, conv="gin", act="silu").double()
    edge_index = edges()
    x = torch.randn(9, 2, dtype=torch.float64)
    cache = SupportCache()
    fresh = node_derivatives(base, x, edge_index, 2)
    for _ in range(2):
        cached = node_derivatives(base, x, edge_index, 2, support=cache.pairs(edge_index, 9, 3))
        assert torch.equal(cached.index, fresh.index)
        torch.testing.assert_close(cached.values, fresh.values, rtol=0, atol=0)


def test_a_support_of_another_kind_is_refused():
    base = BaseMPNN(2, 4, 3, conv="gin", act="silu").double()
    edge_index, x = edges(), torch.randn(9, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="diagonal_only"):
        node_derivatives(base, x, edge_index, 1, support=build_pair_support(edge_index, 9, 3, True))
    with pytest.raises(ValueError, match="9 nodes and 3 layers"):
        node_derivatives(base, x, edge_index, 1, support=build_pair_support(edge_index, 9, 2))
