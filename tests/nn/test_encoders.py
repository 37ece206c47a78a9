"""Derivative encoders: dense references for the sparse 2-IGN and the 3->2 pooling,
permutation equivariance, the per-layer diagonal stack and the derivative normalisation."""

from __future__ import annotations

import math

import pytest
import torch

from hodgnn.data.relabel import relabel_graph
from hodgnn.derivatives import mixed_derivatives, node_derivatives
from hodgnn.nn import BaseMPNN, MixedDerivativeEncoder, OutputDerivativeEncoder, SparseIGN
from hodgnn.nn.encoders import DerivativeNorm, pool_triples_to_pairs, stack_layer_diagonals
from hodgnn.testing.graphs import random_graph

DTYPE = torch.float64


def random_support(sizes: list[int], keep: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random pairs inside the graphs of a batch (some diagonal entries missing) and ``batch``."""
    generator = torch.Generator().manual_seed(seed)
    pairs, batch, offset = [], [], 0
    for g, n in enumerate(sizes):
        for v in range(n):
            for u in range(n):
                if torch.rand((), generator=generator) < keep:
                    pairs.append((offset + v, offset + u))
        batch += [g] * n
        offset += n
    return torch.tensor(pairs).t(), torch.tensor(batch)


def dense_ign_reference(ign: SparseIGN, index, x, batch, num_graphs):
    """The 2-IGN written densely with explicit loops over an ``n x n`` tensor and a mask."""
    n = batch.numel()
    h = ign.pointwise(x)
    c = h.size(1)
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[index[0], index[1]] = True

    def reductions(dense):
        rows = torch.stack([dense[w][mask[w]].sum(0) for w in range(n)])
        cols = torch.stack([dense[:, w][mask[:, w]].sum(0) for w in range(n)])
        if ign.aggr == "mean":
            rows = rows / mask.sum(1, keepdim=True).clamp(min=1)
            cols = cols / mask.sum(0, keepdim=True).t().clamp(min=1)
        diag = torch.stack([dense[w, w] if mask[w, w] else dense.new_zeros(c) for w in range(n)])
        trace, total = [], []
        for g in range(num_graphs):
            nodes = (batch == g).nonzero().flatten()
            block_mask = mask[nodes][:, nodes]
            block = dense[nodes][:, nodes][block_mask]
            diag_g = diag[nodes]
            if ign.aggr == "mean":
                trace.append(diag_g.mean(0))
                total.append(block.mean(0) if block.numel() else dense.new_zeros(c))
            else:
                trace.append(diag_g.sum(0))
                total.append(block.sum(0))
        return rows, cols, diag, torch.stack(trace)[batch], torch.stack(total)[batch]

    dense = h.new_zeros(n, n, c)
    dense[index[0], index[1]] = h
    for layer in ign.layers:
        rows, cols, diag, trace, total = reductions(dense)
        new = dense.clone()
        for v, u in index.t().tolist():
            features = [dense[v, u], rows[v], rows[u], cols[v], cols[u], diag[v], diag[u], trace[v], total[v]]
            new[v, u] = dense[v, u] + layer(torch.cat(features).unsqueeze(0))[0]
        dense = new
    rows, cols, diag, trace, total = reductions(dense)
    return ign.readout(torch.cat([diag, rows, cols, trace, total], dim=-1))


@pytest.mark.parametrize("aggr, num_layers", [("sum", 0), ("sum", 1), ("mean", 1)])
def test_sparse_ign_matches_dense_reference(aggr, num_layers):
    torch.manual_seed(0)
    index, batch = random_support([5, 3, 4], keep=0.5, seed=1)
    x = torch.randn(index.size(1), 6, dtype=DTYPE)
    ign = SparseIGN(6, 8, 5, num_layers=num_layers, aggr=aggr).to(DTYPE).eval()
    expected = dense_ign_reference(ign, index, x, batch, 3)
    torch.testing.assert_close(ign(index, x, batch, 3), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("aggr", ["sum", "mean"])
def test_sparse_ign_is_permutation_equivariant(aggr):
    torch.manual_seed(1)
    index, batch = random_support([6, 5], keep=0.4, seed=2)
    x = torch.randn(index.size(1), 4, dtype=DTYPE)
    ign = SparseIGN(4, 8, 3, num_layers=2, aggr=aggr).to(DTYPE).eval()
    # relabel nodes within each graph; the pair list is reordered too
    perm = torch.cat([torch.randperm(6), 6 + torch.randperm(5)])
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(11)
    pair_order = torch.randperm(index.size(1))
    out = ign(inverse[index][:, pair_order], x[pair_order], batch[perm], 2)
    torch.testing.assert_close(out, ign(index, x, batch, 2)[perm], atol=1e-12, rtol=0)


def test_pool_triples_to_pairs_matches_dense_reference():
    torch.manual_seed(2)
    n = 6
    triples = [(v, a, b) for v in range(n) for a in range(n) for b in range(n) if a != b]
    keep = torch.rand(len(triples)) < 0.3
    index = torch.tensor(triples)[keep].t()
    h = torch.randn(index.size(1), 3, dtype=DTYPE)
    pair_index, pooled = pool_triples_to_pairs(index, h, n)
    dense = torch.zeros(n, n, n, 3, dtype=DTYPE)
    dense[index[0], index[1], index[2]] = h
    expected_pairs = {(v, a) for v, a, _ in index.t().tolist()} | {(v, b) for v, _, b in index.t().tolist()}
    assert set(map(tuple, pair_index.t().tolist())) == expected_pairs
    for p, (v, u) in enumerate(pair_index.t().tolist()):
        expected = torch.cat([dense[v, u].sum(0), dense[v, :, u].sum(0), dense[v, u, v], dense[v, v, u]])
        torch.testing.assert_close(pooled[p], expected, atol=1e-12, rtol=0)


def test_mixed_and_output_encoders_are_permutation_equivariant():
    torch.manual_seed(3)
    graph = random_graph(7, 0.4, seed=4)
    x = torch.randn(7, 1, dtype=DTYPE)
    base = BaseMPNN(1, 4, 2, act="tanh").to(DTYPE)
    batch = torch.zeros(7, dtype=torch.long)
    mixed_encoder = MixedDerivativeEncoder(2 * 2 * 4, 8, 5, num_layers=1).to(DTYPE).eval()
    out_encoder = OutputDerivativeEncoder(2 * 4, 8, 5).to(DTYPE).eval()

    def encode(x, edge_index):
        mixed = mixed_derivatives(base, x, edge_index, 2)
        d_out = node_derivatives(base, x, edge_index, 2).graph_level()
        return mixed_encoder(mixed, batch, 1), out_encoder(d_out, batch, 1)

    perm = torch.randperm(7)
    px, pedge, _ = relabel_graph(perm, x, graph.edge_index)
    for before, after in zip(encode(x, graph.edge_index), encode(px, pedge), strict=True):
        assert before.abs().max() > 1e-6
        torch.testing.assert_close(after, before[perm], atol=1e-10, rtol=0)


def test_stack_layer_diagonals_scales_each_layer_by_its_factorial():
    torch.manual_seed(4)
    graph = random_graph(6, 0.5, seed=5)
    base = BaseMPNN(2, 3, 3, act="silu").to(DTYPE)
    x = torch.randn(6, 2, dtype=DTYPE)
    per_layer = node_derivatives(base, x, graph.edge_index, 2, all_layers=True, diagonal_only=True)
    full = node_derivatives(base, x, graph.edge_index, 2, all_layers=True)
    stacked = stack_layer_diagonals(per_layer).view(6, 3, 2 * 3 * 2)
    for t in range(3):
        dense = full[t].to_dense()
        diagonal = torch.stack([dense[v, v] for v in range(6)]).flatten(1)
        torch.testing.assert_close(stacked[:, t], diagonal / math.factorial(t + 1), atol=1e-12, rtol=0)
    unscaled = stack_layer_diagonals(per_layer, layer_scaling=False).view(6, 3, -1)
    torch.testing.assert_close(unscaled[:, 2], stacked[:, 2] * 6, atol=1e-12, rtol=0)


def test_derivative_norm_modes():
    torch.manual_seed(5)
    x = torch.randn(50, 4, dtype=DTYPE) * torch.tensor([1.0, 10.0, 1e3, 1e6], dtype=DTYPE)
    norm = DerivativeNorm(4, "batchnorm").to(DTYPE).train()
    out = norm(x)
    torch.testing.assert_close(out.mean(0), torch.zeros(4, dtype=DTYPE), atol=1e-10, rtol=0)
    torch.testing.assert_close(out.var(0, unbiased=False), torch.ones(4, dtype=DTYPE), atol=1e-3, rtol=0)
    assert norm(x[:1]).shape == (1, 4)  # a single row falls back to the running statistics
    asinh = DerivativeNorm(4, "asinh")(x)
    assert torch.equal(torch.sign(asinh), torch.sign(x))
    big = torch.tensor([[1e6, -1e6]], dtype=DTYPE)
    torch.testing.assert_close(
        DerivativeNorm(2, "asinh")(big), torch.tensor([[1.0, -1.0]]).to(DTYPE) * math.log(2e6)
    )
    assert torch.equal(DerivativeNorm(4, "none")(x), x)
    with pytest.raises(ValueError, match="derivative_norm"):
        DerivativeNorm(4, "layernorm")
