r"""Where HOD-GNN's derivative tensors live: the pair (and triple) supports of a graph or of a
batch of graphs, and the structure of the base model they are built for.

A batch is block-diagonal, so the pair support of a disjoint union of graphs is the union of
their supports: :func:`derivative_supports` assembles it from every graph's hop distances when
the graphs' node ranges are known (``ptr``), and builds it on the whole graph otherwise; both
give the same support (:mod:`hodgnn.derivatives.blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hodgnn.derivatives import BasePlan, PairSupport, SupportCache, TripleSupport, build_triple_support, lower
from hodgnn.derivatives.blocks import build_block_pair_support


@dataclass
class DerivativeSupports:
    """Where the derivative tensors of one graph (or batch) live.

    Attributes:
        pairs: the pair support of the single-node derivatives (pruned to the diagonal's needs
            when :attr:`HODGNN.diagonal_only`), or ``None`` when nothing needs them.
        mixed_pairs: the full pair support under the triples (``k = 2``).
        triples: the triple support (``k = 2``).
    """

    pairs: PairSupport | None = None
    mixed_pairs: PairSupport | None = None
    triples: TripleSupport | None = None


def lower_structure(base: nn.Module) -> BasePlan:
    """:func:`~hodgnn.derivatives.lower` of ``base`` with every module in evaluation mode (the
    modes are restored): its layers, widths and needs, which do not depend on the mode. Whether
    the current mode can be propagated (training-mode BatchNorm or dropout cannot) is checked by
    the engine at every call, before any work."""
    modes = [(module, module.training) for module in base.modules()]
    base.eval()
    try:
        return lower(base)
    finally:
        for module, training in modes:
            module.training = training


def batch_pointer(batch: Tensor, num_graphs: int) -> Tensor | None:
    """``ptr [num_graphs + 1]`` of a sorted batch vector, or ``None`` when the graphs do not lie in
    consecutive node ranges (their supports are then built on the whole graph, which gives the same
    pairs: no pair crosses two graphs)."""
    if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        return None
    counts = torch.bincount(batch, minlength=num_graphs)
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def derivative_supports(
    edge_index: Tensor,
    num_nodes: int,
    num_layers: int,
    diagonal_only: bool,
    mixed: bool,
    cache: SupportCache,
    ptr: Tensor | None = None,
    hops: Tensor | None = None,
    memory_budget: int | None = None,
) -> DerivativeSupports:
    """The pair (and, with ``mixed``, triple) supports of depth ``num_layers`` on this graph.

    With ``ptr`` (the graphs' node offsets) the pairs come from every graph's hop distances
    (:func:`~hodgnn.derivatives.blocks.build_block_pair_support`): ``hops`` precomputed
    (``data.hop_distances``), else computed here. Without ``ptr`` they are built on the whole
    graph and kept in ``cache`` while the same ``edge_index`` comes back (full-graph training).
    ``diagonal_only`` prunes the single-node pairs to the diagonal's needs.
    """
    T, budget = num_layers, memory_budget
    if ptr is not None:

        def build(pruned: bool) -> PairSupport:
            return build_block_pair_support(edge_index, ptr, T, pruned, hops, budget)

        node_pairs = build(diagonal_only)
        if not mixed:
            return DerivativeSupports(node_pairs)
        pairs = build(False) if diagonal_only else node_pairs
        return DerivativeSupports(node_pairs, pairs, build_triple_support(pairs, budget))
    if not mixed:
        return DerivativeSupports(cache.pairs(edge_index, num_nodes, T, diagonal_only, budget))
    pairs, triples = cache.triples(edge_index, num_nodes, T, budget)
    node_pairs = cache.pairs(edge_index, num_nodes, T, True, budget) if diagonal_only else pairs
    return DerivativeSupports(node_pairs, pairs, triples)
