r"""Pair supports of batches of small graphs, from every graph's hop distances.

A PyG batch is block-diagonal: pairs :math:`(v, u)` never cross graphs, and graph :math:`g`
with :math:`n_g` nodes has at most :math:`n_g^2` of them. Its hop distances
:math:`\mathrm{hops}_g[v, u] = \mathrm{dist}(u \to v)` (messages travel along edges, one hop
per layer) fit in a dense ``uint8`` block of :math:`n_g^2` bytes, computed once per graph when
the dataset is prepared (:class:`~hodgnn.transforms.AddHopDistances`) and concatenated by PyG's
collate like any node-level attribute. From the blocks, the support of layer :math:`t` is the
pairs with :math:`\mathrm{hops} \le t` (with ``diagonal_only`` also
:math:`\mathrm{hops}[u, v] \le T - t`), already sorted, and every position is a table lookup:
no sorting or searching per batch, unlike :func:`~hodgnn.derivatives.build_pair_support`
(which needs no blocks and suits one large graph). Both give the same support: the same keys,
row maps and transitions (messages in the order of the row maps, i.e. grouped by target pair).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hodgnn.derivatives.memory import PAIR_SUPPORT, check_memory
from hodgnn.derivatives.support import (
    PairSupport,
    RowMap,
    Transition,
    _EdgeCSR,
    build_pair_support,
)
from hodgnn.derivatives.support import take_rows as _take

UNREACHED = 255
"""Hop distance stored for pairs farther apart than the depth asked for (or unreachable)."""

MAX_BLOCK_ENTRIES = 2**25
"""Blocks of a batch beyond this many entries (``sum n_g^2``): the sparse builder is used."""


def block_offsets(ptr: Tensor) -> tuple[Tensor, Tensor]:
    """``(sizes [G], offsets [G + 1])``: the graphs' node counts and where each graph's
    ``n_g * n_g`` block starts in the concatenated hop distances."""
    sizes = ptr[1:] - ptr[:-1]
    offsets = torch.zeros(sizes.numel() + 1, dtype=torch.long, device=ptr.device)
    torch.cumsum(sizes * sizes, 0, out=offsets[1:])
    return sizes, offsets


def _graph_of(ptr: Tensor, num_nodes: int) -> Tensor:
    sizes = ptr[1:] - ptr[:-1]
    return torch.repeat_interleave(
        torch.arange(sizes.numel(), device=ptr.device), sizes, output_size=num_nodes
    )


def _row_bases(ptr: Tensor, num_nodes: int) -> Tensor:
    """``[n]``: the pair ``(v, u)`` of one graph sits at ``row_base[v] + u`` in the concatenated
    blocks."""
    sizes, offsets = block_offsets(ptr)
    graph = _graph_of(ptr, num_nodes)
    start = _take(ptr, graph)
    return (
        _take(offsets, graph)
        + (torch.arange(num_nodes, device=ptr.device) - start) * _take(sizes, graph)
        - start
    )


def _pairs_at(flat: Tensor, ptr: Tensor, sizes: Tensor, offsets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(graph, v_local, u_local)`` of the pairs at positions ``flat`` of the concatenated blocks."""
    g = torch.searchsorted(offsets, flat, right=True) - 1
    local = flat - _take(offsets, g)
    size = _take(sizes, g)
    v_local = torch.div(local, size, rounding_mode="floor")
    return g, v_local, local - v_local * size


def hop_distances(edge_index: Tensor, ptr: Tensor, max_hops: int) -> Tensor:
    r"""Every graph's hop distances as concatenated row-major ``uint8`` blocks.

    Entry :math:`(v, u)` of block :math:`g` (at ``offsets[g] + (v - ptr[g]) * n_g + (u - ptr[g])``)
    is the length of the shortest directed path :math:`u \to v` when it is at most ``max_hops``,
    else :data:`UNREACHED`. A breadth-first search over all sources at once, one hop per step.

    Args:
        edge_index: ``[2, E]`` edges ``source -> target``; no edge may join two graphs.
        ptr: ``[G + 1]`` node offsets of the graphs (``ptr[0] = 0``, ``ptr[-1] = n``).
        max_hops: the deepest layer needed, at most 254.
    """
    if not 0 <= max_hops < UNREACHED:
        raise ValueError(f"max_hops must be in [0, {UNREACHED - 1}], got {max_hops}")
    n = int(ptr[-1])
    sizes, offsets = block_offsets(ptr)
    node_graph = _graph_of(ptr, n)
    src, dst = edge_index
    if src.numel() and bool((_take(node_graph, src) != _take(node_graph, dst)).any()):
        raise ValueError("edge_index joins nodes of different graphs of the batch (see ptr)")
    row_base = _row_bases(ptr, n)
    dist = torch.full((int(offsets[-1]),), UNREACHED, dtype=torch.uint8, device=ptr.device)
    nodes = torch.arange(n, device=ptr.device)
    dist[_take(row_base, nodes) + nodes] = 0
    frontier_v, frontier_u = nodes, nodes  # pairs (v, u) first reached at the last step
    out_edges = _EdgeCSR(edge_index, n)
    for hop in range(1, max_hops + 1):
        item, _, out_dst = out_edges.expand(frontier_v)
        target = _take(row_base, out_dst) + _take(frontier_u, item)
        target = target[_take(dist, target) == UNREACHED]
        if target.numel() == 0:
            break
        dist[target] = hop
        g, v_local, u_local = _pairs_at(torch.nonzero(dist == hop).flatten(), ptr, sizes, offsets)
        start = _take(ptr, g)
        frontier_v, frontier_u = v_local + start, u_local + start
    return dist


def build_block_pair_support(
    edge_index: Tensor,
    ptr: Tensor,
    num_layers: int,
    diagonal_only: bool = False,
    hops: Tensor | None = None,
    memory_budget: int | None = None,
) -> PairSupport:
    """The :func:`~hodgnn.derivatives.build_pair_support` of a batch of graphs, from their hop
    distances.

    Args:
        edge_index: ``[2, E]`` edges ``source -> target`` of the batch.
        ptr: ``[G + 1]`` node offsets of the graphs.
        num_layers: depth ``T``.
        diagonal_only: prune to the pairs that return to the diagonal (see
            :func:`~hodgnn.derivatives.build_pair_support`).
        hops: :func:`hop_distances` of the batch with ``max_hops >= T`` (e.g. PyG's collate of
            every graph's ``hop_distances``); computed here when ``None``.
        memory_budget: bytes allowed for the index tensors (see
            :func:`~hodgnn.derivatives.memory.check_memory`).

    Without ``hops``, batches whose blocks exceed :data:`MAX_BLOCK_ENTRIES` entries are built
    by the sparse builder instead (one large graph).
    """
    n = int(ptr[-1])
    sizes, offsets = block_offsets(ptr)
    total = int(offsets[-1])
    if hops is None:
        if total > MAX_BLOCK_ENTRIES:
            return build_pair_support(edge_index, n, num_layers, diagonal_only, memory_budget)
        hops = hop_distances(edge_index, ptr, num_layers)
    elif hops.numel() != total or hops.dtype != torch.uint8:
        raise ValueError(
            f"hops must be uint8 with sum(n_g^2) = {total} entries for this batch, got "
            f"{hops.dtype} with {hops.numel()} (recompute data.hop_distances with AddHopDistances)"
        )
    T = num_layers
    check_memory(8 * total, memory_budget, PAIR_SUPPORT)
    device = ptr.device
    flat = torch.nonzero(hops <= T).flatten()  # every pair within T hops, sorted by (v, u)
    check_memory(8 * 8 * flat.numel(), memory_budget, PAIR_SUPPORT)
    g, v_local, u_local = _pairs_at(flat, ptr, sizes, offsets)
    start = _take(ptr, g)
    v, u = v_local + start, u_local + start
    dist = hops.index_select(0, flat)
    if diagonal_only:
        # dist(v -> u); pairs farther back than T (UNREACHED) are never kept
        back = hops.index_select(0, _take(offsets, g) + u_local * _take(sizes, g) + v_local)
    # table: position in the block space -> position in `flat` (-1: farther than T hops)
    table = torch.full((total,), -1, dtype=torch.long, device=device)
    table.scatter_(0, flat, torch.arange(flat.numel(), device=device))
    row_base = _row_bases(ptr, n)

    # Layer t keeps the pairs with dist <= t (and back <= T - t). When every distance equals its
    # transpose (undirected graphs) that is dist <= min(t, T - t): layers t and T - t share one set.
    symmetric = diagonal_only and bool(torch.equal(back, dist))
    masks, positions, selected, keys, shared = [], [], [], [], {}
    for t in range(T + 1):
        threshold = (min(t, T - t), T) if symmetric else (t, T - t if diagonal_only else T)
        if threshold not in shared:
            mask = dist <= threshold[0]
            if diagonal_only and not symmetric:
                mask &= back <= threshold[1]
            chosen = torch.nonzero(mask).flatten()
            shared[threshold] = (
                mask,
                torch.cumsum(mask, 0) - 1,
                chosen,
                _take(v, chosen) * n + _take(u, chosen),
            )
        for collected, item in zip((masks, positions, selected, keys), shared[threshold], strict=True):
            collected.append(item)

    # In-edges grouped by target, each group ordered by source then edge id: the order in which
    # the row maps sum the messages of a pair (as build_pair_support's stable sort leaves them).
    in_edges = _EdgeCSR(edge_index, n, by_target=True)
    transitions = []
    for t in range(1, T + 1):
        cur, prev_mask, prev_pos = selected[t], masks[t - 1], positions[t - 1]
        num_cur = cur.numel()
        has_self = _take(prev_mask, cur)
        self_dst = torch.nonzero(has_self).flatten()
        self_src = _take(prev_pos, _take(cur, self_dst))
        # messages (w, u) -> (v, u) along every edge w -> v into the row node of a current pair
        cur_v, cur_u = _take(v, cur), _take(u, cur)
        item, edge, in_src = in_edges.expand(cur_v)
        source = _take(table, _take(row_base, in_src) + _take(cur_u, item))
        within = source.clamp(min=0)
        found = torch.nonzero((source >= 0) & _take(prev_mask, within)).flatten()
        msg_dst, msg_edge = _take(item, found), _take(edge, found)
        msg_src = _take(prev_pos, _take(within, found))
        transition = Transition(
            self_src,
            self_dst,
            msg_src,
            msg_dst,
            msg_edge,
            num_src=int(selected[t - 1].numel()),
            num_dst=num_cur,
        )
        transition._row_maps[True] = _row_map_with_messages(transition, has_self)
        self_offsets = torch.cumsum(has_self, 0) - has_self.long()
        transition._row_maps[False] = RowMap(
            self_src, self_offsets, transition.num_src, torch.arange(self_src.numel(), device=device)
        )
        transitions.append(transition)
    return PairSupport(n, edge_index, keys, transitions, diagonal_only)


def _row_map_with_messages(transition: Transition, has_self: Tensor) -> RowMap:
    """The CSR of self entries and messages, row by row (self first), without sorting: the
    messages are already grouped by target row."""
    num_rows, device = transition.num_dst, has_self.device
    msg_dst = transition.msg_dst
    num_self, num_msg = transition.self_src.numel(), msg_dst.numel()
    msg_count = torch.bincount(msg_dst, minlength=num_rows)
    has_self = has_self.long()
    counts = has_self + msg_count
    offsets = torch.cumsum(counts, 0) - counts
    cols = torch.empty(num_self + num_msg, dtype=torch.long, device=device)
    order = torch.empty_like(cols)
    self_slot = _take(offsets, transition.self_dst)
    cols.scatter_(0, self_slot, transition.self_src)
    order.scatter_(0, self_slot, torch.arange(num_self, device=device))
    # message k of row r sits after the row's self entry, at its rank among the row's messages
    first_msg = torch.cumsum(msg_count, 0) - msg_count
    msg_slot = torch.arange(num_msg, device=device) + _take(offsets + has_self - first_msg, msg_dst)
    cols.scatter_(0, msg_slot, transition.msg_src)
    order.scatter_(0, msg_slot, torch.arange(num_self, num_self + num_msg, device=device))
    return RowMap(cols, offsets, transition.num_src, order)
