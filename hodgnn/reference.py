"""Independent references for the derivative engine: nested automatic differentiation.

Library code (``hodgnn demo`` checks the engine on real molecules with it) and the tests' oracle
(:mod:`hodgnn.testing.reference` re-exports it).

Each directional derivative is taken with nested ``torch.autograd.functional.jvp(...,
create_graph=True)`` (the double-backward trick), which works through any module, including
aten's SiLU that has no nested forward-mode rule. Slow (one chain of nested JVPs per input
scalar); meant for tiny graphs in float64. The ``*_batched`` variants run the same chains on
disjoint copies of the graph, one copy per input scalar, so that one chain serves them all.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def _nested_jvps(f: Callable[[Tensor], Tensor], x: Tensor, directions: list[Tensor]) -> list[Tensor]:
    """``[D_{e1} f, D_{e2} D_{e1} f, ...]`` at ``x`` along the given directions in order."""
    results = []
    fn = f
    for direction in directions:

        def next_fn(y, fn=fn, direction=direction):
            return torch.autograd.functional.jvp(fn, y, direction, create_graph=True)[1]

        fn = next_fn
        results.append(fn(x))
    return results


def reference_node_derivatives(f: Callable[[Tensor], Tensor], x: Tensor, order: int) -> Tensor:
    """Dense ``[r, n, order, d, F]``: ``out[v, u, a - 1, i, j] = d^a f(x)_{v,i} / dx_{u,j}^a`` for
    ``f(x)`` of shape ``[r, d]`` (``r = n`` for node states, the number of graphs for a readout)."""
    n, num_in = x.shape
    out = None
    for u in range(n):
        for j in range(num_in):
            e = torch.zeros_like(x)
            e[u, j] = 1.0
            chain = _nested_jvps(f, x, [e] * order)
            if out is None:
                rows, d = chain[0].shape
                out = x.new_zeros(rows, n, order, d, num_in)
            for a, value in enumerate(chain):
                out[:, u, a, :, j] = value.detach()
    return out


def reference_mixed_derivatives(f: Callable[[Tensor], Tensor], x: Tensor, order: int) -> Tensor:
    """Dense ``[n, n, n, order, order, d, F, F]``:
    ``out[v, u1, u2, a-1, b-1, i, j1, j2] = d^(a+b) f_{v,i} / dx_{u1,j1}^a dx_{u2,j2}^b``
    for ``u1 != u2`` (zero where ``u1 == u2``)."""
    n, num_in = x.shape
    out = None
    for u1 in range(n):
        for j1 in range(num_in):
            e1 = torch.zeros_like(x)
            e1[u1, j1] = 1.0
            for u2 in range(n):
                if u2 == u1:
                    continue
                for j2 in range(num_in):
                    e2 = torch.zeros_like(x)
                    e2[u2, j2] = 1.0
                    for a in range(1, order + 1):
                        chain = _nested_jvps(f, x, [e1] * a + [e2] * order)[a:]
                        if out is None:
                            d = chain[0].size(1)
                            out = x.new_zeros(n, n, n, order, order, d, num_in, num_in)
                        for b, value in enumerate(chain):
                            out[:, u1, u2, a - 1, b, :, j1, j2] = value.detach()
    return out


GraphForward = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


def _disjoint_copies(
    x: Tensor, edge_index: Tensor, edge_attr: Tensor | None, num_copies: int
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``num_copies`` disjoint copies of the graph: copy ``c`` holds nodes ``c * n .. c * n + n - 1``."""
    n = x.size(0)
    offsets = torch.arange(num_copies, device=edge_index.device).repeat_interleave(edge_index.size(1)) * n
    big_edge_index = edge_index.repeat(1, num_copies) + offsets
    big_edge_attr = edge_attr.repeat(num_copies, 1) if edge_attr is not None else None
    return x.repeat(num_copies, 1), big_edge_index, big_edge_attr


def reference_node_derivatives_batched(
    forward: GraphForward, x: Tensor, edge_index: Tensor, order: int, edge_attr: Tensor | None = None
) -> Tensor:
    r"""The same tensor as :func:`reference_node_derivatives`, with one chain of nested JVPs in all.

    A message-passing network treats disjoint components independently, so the graph is
    copied once per input scalar :math:`(u, j)` and copy :math:`(u, j)` is perturbed only at
    :math:`x_{u,j}`: the directional derivative along the sum of these perturbations is, on
    copy :math:`(u, j)`, exactly :math:`\partial^a h / \partial x_{u,j}^a`. Same nested
    ``torch.autograd.functional.jvp`` as the per-scalar reference, about ``n * F`` times faster
    on tiny graphs.

    Args:
        forward: ``forward(x, edge_index, edge_attr) -> [num_nodes, d]``, e.g. a ``BaseMPNN``.
        x: ``[n, F]`` node features.
        edge_index: ``[2, E]`` edges.
        order: highest order.
        edge_attr: ``[E, D]`` edge features or ``None``.

    Returns:
        dense ``[n, n, order, d, F]``: ``out[v, u, a - 1, i, j] = d^a h_{v,i} / dx_{u,j}^a``.
    """
    n, num_in = x.shape
    num_copies = n * num_in
    big_x, big_edge_index, big_edge_attr = _disjoint_copies(x, edge_index, edge_attr, num_copies)
    direction = torch.zeros_like(big_x).view(n, num_in, n, num_in)  # [copy u, copy j, node, channel]
    for u in range(n):
        for j in range(num_in):
            direction[u, j, u, j] = 1.0
    chain = _nested_jvps(
        lambda y: forward(y, big_edge_index, big_edge_attr), big_x, [direction.reshape_as(big_x)] * order
    )
    # chain[a]: [copy u, copy j, node v, channel i] -> [v, u, i, j]
    stacked = torch.stack([value.detach().view(n, num_in, n, -1) for value in chain], 0)
    return stacked.permute(3, 1, 0, 4, 2)


def reference_mixed_derivatives_batched(
    forward: GraphForward, x: Tensor, edge_index: Tensor, order: int, edge_attr: Tensor | None = None
) -> Tensor:
    r"""The same tensor as :func:`reference_mixed_derivatives` from ``order`` chains of nested JVPs,
    one disjoint copy of the graph per source quadruple :math:`(u_1, j_1, u_2, j_2)`,
    :math:`u_1 \ne u_2` (see :func:`reference_node_derivatives_batched`).

    Returns:
        dense ``[n, n, n, order, order, d, F, F]`` (zero where ``u1 == u2``).
    """
    n, num_in = x.shape
    sources = [
        (u1, j1, u2, j2) for u1 in range(n) for j1 in range(num_in) for u2 in range(n) for j2 in range(num_in)
    ]
    sources = [s for s in sources if s[0] != s[2]]
    if not sources:
        return x.new_zeros(n, n, n, order, order, 0, num_in, num_in)
    big_x, big_edge_index, big_edge_attr = _disjoint_copies(x, edge_index, edge_attr, len(sources))
    first = torch.zeros(len(sources), n, num_in, dtype=x.dtype, device=x.device)
    second = torch.zeros_like(first)
    for c, (u1, j1, u2, j2) in enumerate(sources):
        first[c, u1, j1] = 1.0
        second[c, u2, j2] = 1.0
    first, second = first.reshape_as(big_x), second.reshape_as(big_x)

    def f(y: Tensor) -> Tensor:
        return forward(y, big_edge_index, big_edge_attr)

    out = None
    for a in range(1, order + 1):
        chain = _nested_jvps(f, big_x, [first] * a + [second] * order)[a:]
        for b, value in enumerate(chain):
            value = value.detach().view(len(sources), n, -1)
            if out is None:
                out = x.new_zeros(n, n, n, order, order, value.size(-1), num_in, num_in)
            for c, (u1, j1, u2, j2) in enumerate(sources):
                out[:, u1, u2, a - 1, b, :, j1, j2] = value[c]
    return out
