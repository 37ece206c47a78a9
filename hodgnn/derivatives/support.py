r"""Sparse supports of derivative tensors.

:math:`D^{(t)}[v, u]` can be non-zero only when :math:`u` is within :math:`t` hops of :math:`v`
(messages travel one hop per layer). A :class:`PairSupport` stores, for every layer
:math:`t = 0..T`, the sorted pair keys :math:`v \cdot n + u` of the pairs kept at that layer,
and for every layer transition the sparse map by which pair jets aggregate:

.. math::
    J^{(t)}[(v, u)] = w^{\text{self}}_v\, J^{(t-1)}[(v, u)]
        + \sum_{(w \to v) \in E} w_{wv}\, J^{(t-1)}[(w, u)].

The weights come from the base MPNN (they may be learnable); the support only stores which
pair feeds which, through which edge. Memory grows with the number of pairs within reach,
never with :math:`n^2` unless the graph is that dense.

With ``diagonal_only=True`` the layer-:math:`t` support keeps only pairs that can still return
to the diagonal by layer :math:`T`: :math:`\mathrm{dist}(v, u) \le \min(t, T - t)`.

A :class:`TripleSupport` does the same for mixed derivatives over triples
:math:`(v, u_1, u_2)`, :math:`u_1 \ne u_2`, both within :math:`t` hops of :math:`v`.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import Tensor

from hodgnn.derivatives.memory import PAIR_SUPPORT, TRIPLE_SUPPORT, check_memory


def take_rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` along the first dimension, as ``index_select`` (several times faster
    than advanced indexing on the CPU)."""
    return table.index_select(0, index)


@dataclass
class RowMap:
    r"""A sparse linear map between two supports, stored by output row (CSR).

    .. math::
        \text{out}[r] = \sum_{k:\ \text{row}(k) = r} w_k\, x[\text{cols}[k]]

    Entries are grouped by output row; ``offsets[r]`` is the first entry of row ``r``.
    ``order`` sorts the entries of the :class:`Transition` (self entries, then messages)
    into this order, so weights given per transition entry are ``weights[order]``.

    Attributes:
        cols: ``[nnz]`` source row of every entry.
        offsets: ``[num_rows]`` first entry of every output row.
        num_cols: rows of the input ``x``.
        order: ``[nnz]`` transition entry of every entry.
    """

    cols: Tensor
    offsets: Tensor
    num_cols: int
    order: Tensor
    _transpose: tuple[RowMap, Tensor] | None = field(default=None, repr=False, compare=False)

    @property
    def num_rows(self) -> int:
        return int(self.offsets.numel())

    @property
    def rows(self) -> Tensor:
        """``[nnz]`` output row of every entry."""
        counts = torch.diff(self.offsets, append=self.offsets.new_tensor([self.cols.numel()]))
        return torch.repeat_interleave(torch.arange(self.num_rows, device=self.cols.device), counts)

    @staticmethod
    def from_entries(rows: Tensor, cols: Tensor, num_rows: int, num_cols: int) -> RowMap:
        """The map with entries ``rows[k] <- cols[k]``, given in any order."""
        order = torch.argsort(rows, stable=True)
        return RowMap(cols[order], _offsets(rows[order], num_rows), num_cols, order)

    def transpose(self) -> tuple[RowMap, Tensor]:
        """The transposed map (the backward pass of the product) and ``perm``: entry ``k`` of the
        transpose is entry ``perm[k]`` of this map. Built on first use and cached."""
        if self._transpose is None:
            perm = torch.argsort(self.cols, stable=True)
            transposed = RowMap(
                self.rows[perm], _offsets(self.cols[perm], self.num_cols), self.num_rows, self.order[perm]
            )
            self._transpose = (transposed, perm)
        return self._transpose


def _offsets(rows: Tensor, num_rows: int) -> Tensor:
    """First entry of every row for entries grouped by row."""
    counts = torch.bincount(rows, minlength=num_rows)
    return torch.cumsum(counts, 0) - counts


@dataclass
class Transition:
    """How the jets of layer ``t - 1`` feed layer ``t``.

    ``self_src[i] -> self_dst[i]`` carries an entry to the same key (the self term of node
    ``v``); ``msg_src[i] -> msg_dst[i]`` carries it along edge ``msg_edge[i]``.
    """

    self_src: Tensor
    self_dst: Tensor
    msg_src: Tensor
    msg_dst: Tensor
    msg_edge: Tensor
    num_src: int = 0
    num_dst: int = 0
    _row_maps: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_messages(self) -> int:
        return int(self.msg_src.numel())

    def row_map(self, with_messages: bool = True) -> RowMap:
        """The aggregation as a :class:`RowMap` over the self entries, then (if
        ``with_messages``) the messages; built once and cached."""
        if with_messages not in self._row_maps:
            rows, cols = self.self_dst, self.self_src
            if with_messages:
                rows, cols = torch.cat([rows, self.msg_dst]), torch.cat([cols, self.msg_src])
            self._row_maps[with_messages] = RowMap.from_entries(rows, cols, self.num_dst, self.num_src)
        return self._row_maps[with_messages]


def ragged_items(counts: Tensor) -> tuple[Tensor, Tensor]:
    """``(item, first)``: for ``counts[i]`` slots per item ``i``, the item of every slot (what
    ``repeat_interleave(arange, counts)`` gives, computed as a cumulative sum of item starts,
    several times faster on the CPU) and every item's first slot."""
    first = torch.cumsum(counts, 0) - counts
    total = int(first[-1] + counts[-1]) if counts.numel() else 0
    starts = torch.zeros(total + 1, dtype=torch.long, device=counts.device)
    starts.index_add_(0, first, torch.ones_like(first))
    return torch.cumsum(starts[:total], 0) - 1, first


class _EdgeCSR:
    """Edges grouped by source node (or, with ``by_target``, by target node and then by source),
    for expanding keys along each node's edges."""

    def __init__(self, edge_index: Tensor, num_nodes: int, by_target: bool = False):
        src, dst = edge_index if not by_target else edge_index.flip(0)
        key = src if not by_target else src * num_nodes + dst
        self.perm = torch.argsort(key, stable=True)
        self.dst = take_rows(dst, self.perm)
        self.out_degree = torch.bincount(src, minlength=num_nodes)
        self.rowptr = torch.cumsum(self.out_degree, 0) - self.out_degree

    def expand(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """For each item ``i`` with node ``rows[i]``, every edge of that node (outgoing, or
        incoming with ``by_target``).

        Returns ``(item, edge_id, other_node)`` of the ``sum(degree[rows])`` messages.
        """
        item, first = ragged_items(take_rows(self.out_degree, rows))
        slot = torch.arange(item.numel(), device=rows.device) + take_rows(
            take_rows(self.rowptr, rows) - first, item
        )
        return item, take_rows(self.perm, slot), take_rows(self.dst, slot)


def _locate(keys: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
    """Positions of ``query`` in the sorted ``keys`` and a mask of those found."""
    if keys.numel() == 0:
        return torch.zeros_like(query), torch.zeros_like(query, dtype=torch.bool)
    pos = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
    return pos, keys[pos] == query


def _transition(csr: _EdgeCSR, prev: Tensor, cur: Tensor, row_of: Tensor, scale: int) -> Transition:
    """Map from sorted keys ``prev`` to sorted keys ``cur``.

    A key ``k`` has row node ``row_of(k)`` and moves along an edge ``w -> v`` to
    ``k + (v - w) * scale`` (the row node sits at the most significant position).
    """
    self_pos, self_found = _locate(cur, prev)
    item, edge, dst = csr.expand(row_of)
    target = prev[item] + (dst - row_of[item]) * scale
    pos, found = _locate(cur, target)
    return Transition(
        torch.nonzero(self_found).flatten(),
        self_pos[self_found],
        item[found],
        pos[found],
        edge[found],
        num_src=int(prev.numel()),
        num_dst=int(cur.numel()),
    )


@dataclass
class PairSupport:
    """Pairs ``(v, u)`` kept at every layer and the transitions between layers.

    Attributes:
        num_nodes: ``n``.
        edge_index: ``[2, E]`` the edges the support was built from.
        keys: ``keys[t]`` sorted pair keys ``v * n + u`` of layer ``t`` (``t = 0..T``).
        transitions: ``transitions[t - 1]`` maps layer ``t - 1`` to layer ``t``.
        diagonal_only: whether supports were pruned to pairs that return to the diagonal.
    """

    num_nodes: int
    edge_index: Tensor
    keys: list[Tensor]
    transitions: list[Transition]
    diagonal_only: bool = False
    _rows: list | None = field(default=None, repr=False, compare=False)

    @property
    def num_layers(self) -> int:
        return len(self.transitions)

    def index(self, t: int) -> Tensor:
        """``[2, P_t]`` rows ``(v, u)`` of layer ``t``."""
        n = self.num_nodes
        return torch.stack([self.rows(t), self.keys[t] % n])

    def rows(self, t: int) -> Tensor:
        """``[P_t]`` the row node ``v`` of every pair of layer ``t`` (computed once)."""
        if self._rows is None:
            self._rows = [None] * len(self.keys)
        if self._rows[t] is None:
            self._rows[t] = torch.div(self.keys[t], self.num_nodes, rounding_mode="floor")
        return self._rows[t]

    def num_pairs(self, t: int | None = None) -> int:
        return int(self.keys[self.num_layers if t is None else t].numel())


def build_pair_support(
    edge_index: Tensor,
    num_nodes: int,
    num_layers: int,
    diagonal_only: bool = False,
    memory_budget: int | None = None,
) -> PairSupport:
    """Pairs within ``t`` hops for ``t = 0..num_layers`` and the maps between them.

    Args:
        edge_index: ``[2, E]`` edges ``source -> target``.
        num_nodes: number of nodes ``n``.
        num_layers: number of message-passing layers ``T``.
        diagonal_only: keep at layer ``t`` only pairs ``(v, u)`` with ``dist(u -> v) <= t`` and
            ``dist(v -> u) <= T - t`` (on undirected graphs: distance ``<= min(t, T - t)``).
        memory_budget: bytes allowed for the index tensors (see :func:`check_memory`).
    """
    n = num_nodes
    device = edge_index.device
    csr = _EdgeCSR(edge_index, n)
    arange = torch.arange(n, device=device)
    reach = [arange * n + arange]  # reach[t]: pairs within t hops, sorted
    for _ in range(num_layers):
        prev = reach[-1]
        num_messages = int(csr.out_degree[prev // n].sum())
        check_memory(5 * 8 * (num_messages + prev.numel()), memory_budget, PAIR_SUPPORT)
        _, _, dst = csr.expand(prev // n)
        counts = csr.out_degree[prev // n]
        moved = torch.repeat_interleave(prev % n, counts) + dst * n
        reach.append(torch.unique(torch.cat([prev, moved])))
    if diagonal_only:
        # (v, u) at layer t returns to (u, u) by layer T iff u reaches v in <= t steps and
        # v reaches u in <= T - t steps, i.e. the transposed key (u, v) is in reach[T - t].
        keys = []
        for t in range(num_layers + 1):
            back = reach[num_layers - t]
            keys.append(reach[t][torch.isin(reach[t], (back % n) * n + back // n)])
    else:
        keys = reach
    transitions = [
        _transition(csr, keys[t - 1], keys[t], keys[t - 1] // n, n) for t in range(1, num_layers + 1)
    ]
    return PairSupport(n, edge_index, keys, transitions, diagonal_only)


@dataclass
class TripleSupport:
    """Triples ``(v, u1, u2)``, ``u1 != u2``, both within ``t`` hops of ``v``, per layer.

    Attributes:
        num_nodes: ``n``.
        keys: ``keys[t]`` sorted triple keys ``(v * n + u1) * n + u2``.
        first: ``first[t]`` index of pair ``(v, u1)`` in the pair support of layer ``t``.
        second: ``second[t]`` index of pair ``(v, u2)``.
        transitions: ``transitions[t - 1]`` maps layer ``t - 1`` to layer ``t``.
    """

    num_nodes: int
    keys: list[Tensor]
    first: list[Tensor]
    second: list[Tensor]
    transitions: list[Transition]

    def index(self, t: int) -> Tensor:
        """``[3, Q_t]`` rows ``(v, u1, u2)`` of layer ``t``."""
        n = self.num_nodes
        k = self.keys[t]
        return torch.stack([k // (n * n), (k // n) % n, k % n])


def build_triple_support(pairs: PairSupport, memory_budget: int | None = None) -> TripleSupport:
    """Triples over the (unpruned) pair support ``pairs``; keys need ``n**3 < 2**63``."""
    if pairs.diagonal_only:
        raise ValueError("mixed derivatives need the full pair support, not diagonal_only")
    n = pairs.num_nodes
    if n**3 >= 2**63:
        raise ValueError(f"{n} nodes are too many for triple keys; split the batch")
    keys, first, second = [], [], []
    for t in range(pairs.num_layers + 1):
        pair_keys = pairs.keys[t]
        rows = pair_keys // n
        count = torch.bincount(rows, minlength=n)
        check_memory(4 * 8 * int((count * count).sum()), memory_budget, TRIPLE_SUPPORT)
        rowptr = torch.cumsum(count, 0) - count
        per_pair = count[rows]
        p1 = torch.repeat_interleave(torch.arange(pair_keys.numel(), device=rows.device), per_pair)
        starts = torch.cumsum(per_pair, 0) - per_pair
        p2 = rowptr[rows[p1]] + torch.arange(p1.numel(), device=rows.device) - starts[p1]
        keep = p1 != p2
        p1, p2 = p1[keep], p2[keep]
        keys.append(pair_keys[p1] * n + pair_keys[p2] % n)
        first.append(p1)
        second.append(p2)
    csr = _EdgeCSR(pairs.edge_index, n)
    transitions = [
        _transition(csr, keys[t - 1], keys[t], keys[t - 1] // (n * n), n * n)
        for t in range(1, pairs.num_layers + 1)
    ]
    return TripleSupport(n, keys, first, second, transitions)


class SupportCache:
    """Reuses pair and triple supports while the same ``edge_index`` tensor comes back.

    Full-graph training on one large graph passes the same ``edge_index`` at every step, and
    rebuilding its supports (sorting and searching every pair within ``T`` hops, the row maps
    of the aggregation and their transposes) is then repeated work. An entry is reused only for
    the very same tensor object, checked by weak reference (a freed tensor whose ``id`` is
    reused never matches), with an unchanged version counter (no in-place edit since), and the
    same ``num_nodes``, depth and pruning; a mini-batch loader makes new tensors every step and
    never hits. An entry is dropped as soon as its ``edge_index`` is freed, and at most
    ``max_entries`` are kept (least recently used first out). Copies and pickles of the cache
    are empty.

    Args:
        max_entries (int, optional): supports kept at most (default: ``2``; ``0`` disables).
    """

    def __init__(self, max_entries: int = 2):
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, dict] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def __getstate__(self) -> dict:
        return {"max_entries": self.max_entries}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["max_entries"])

    def __deepcopy__(self, memo) -> SupportCache:
        return SupportCache(self.max_entries)

    def _entry(self, edge_index: Tensor, num_nodes: int, num_layers: int, diagonal_only: bool) -> dict:
        key = (id(edge_index), int(num_nodes), int(num_layers), bool(diagonal_only))
        entry = self._entries.get(key)
        if entry is not None and entry["ref"]() is edge_index and entry["version"] == edge_index._version:
            self._entries.move_to_end(key)
            return entry
        entries = self._entries
        entry = {
            # drop the entry (and the supports it holds) as soon as the tensor is freed
            "ref": weakref.ref(edge_index, lambda _, key=key: entries.pop(key, None)),
            "version": edge_index._version,
        }
        if self.max_entries > 0:
            entries[key] = entry
            entries.move_to_end(key)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
        return entry

    def _pairs_entry(
        self,
        edge_index: Tensor,
        num_nodes: int,
        num_layers: int,
        diagonal_only: bool,
        memory_budget: int | None,
    ) -> dict:
        """The entry of ``edge_index``, holding its pair support (built on the first call)."""
        entry = self._entry(edge_index, num_nodes, num_layers, diagonal_only)
        if "pairs" not in entry:
            # built from an alias: a support keeps its edge_index, which must not keep the key alive
            entry["pairs"] = build_pair_support(
                edge_index.detach(), num_nodes, num_layers, diagonal_only, memory_budget
            )
        return entry

    def pairs(
        self,
        edge_index: Tensor,
        num_nodes: int,
        num_layers: int,
        diagonal_only: bool = False,
        memory_budget: int | None = None,
    ) -> PairSupport:
        """:func:`build_pair_support` of ``edge_index``, built once while the tensor lives."""
        return self._pairs_entry(edge_index, num_nodes, num_layers, diagonal_only, memory_budget)["pairs"]

    def triples(
        self, edge_index: Tensor, num_nodes: int, num_layers: int, memory_budget: int | None = None
    ) -> tuple[PairSupport, TripleSupport]:
        """The full pair support and :func:`build_triple_support` over it, built once while the
        tensor lives."""
        entry = self._pairs_entry(edge_index, num_nodes, num_layers, False, memory_budget)
        if "triples" not in entry:
            entry["triples"] = build_triple_support(entry["pairs"], memory_budget)
        return entry["pairs"], entry["triples"]
