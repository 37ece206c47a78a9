"""Relabelling the nodes of a graph: the same graph under another node numbering (and edge order).

Used by the expressivity experiments (an isomorphic copy of every graph) and by the permutation
checks of :mod:`hodgnn.testing.checks`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def relabel_graph(
    perm: Tensor,
    x: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor | None = None,
    edge_perm: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The same graph with node ``i`` of the new graph being node ``perm[i]`` of the old one, and
    the edges listed in the order ``edge_perm`` (optional).

    Returns:
        ``(x, edge_index, edge_attr)`` of the relabelled graph.
    """
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel(), device=perm.device)
    new_edge_index = inverse[edge_index]
    new_edge_attr = edge_attr
    if edge_perm is not None:
        new_edge_index = new_edge_index[:, edge_perm]
        new_edge_attr = edge_attr[edge_perm] if edge_attr is not None else None
    return x[perm], new_edge_index, new_edge_attr


def relabel_data(data, permutation: Tensor):
    """An isomorphic copy of a graph without edge features: new node ``i`` is old node ``permutation[i]``
    (:func:`relabel_graph` on ``x`` and ``edge_index``)."""
    n = data.num_nodes
    if permutation.shape != (n,) or not torch.equal(permutation.sort().values, torch.arange(n)):
        raise ValueError(f"permutation must be a permutation of range({n})")
    x, edge_index, _ = relabel_graph(permutation, data.x, data.edge_index)
    out = data.clone()
    out.x, out.edge_index = x, edge_index
    return out
