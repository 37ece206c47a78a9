r"""The engine's outputs: sparse node-level (:class:`NodeDerivatives`) and mixed (2-HOD,
:class:`MixedDerivatives`) derivative tensors, stored on their pair / triple supports."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class NodeDerivatives:
    r"""Sparse node-level derivatives :math:`D[v, u, i, j, a] = \partial^a h_{v,i} / \partial x_{u,j}^a`.

    Attributes:
        index: ``[2, P]`` rows ``(v, u)`` of the stored pairs (``u`` within reach of ``v``).
        values: ``[P, order, d, F]``; ``values[p, a - 1, i, j]`` is the derivative of order
            ``a`` (or the Taylor coefficient, divided by ``a!``, with ``scale="taylor"``).
        h: ``[n, d]`` the node states of the same layer (the primal values).
        num_nodes: ``n``.
    """

    index: Tensor
    values: Tensor
    h: Tensor
    num_nodes: int

    @property
    def order(self) -> int:
        return self.values.size(1)

    def to_dense(self) -> Tensor:
        """``[n, n, order, d, F]`` with zeros outside the support."""
        n = self.num_nodes
        dense = self.values.new_zeros((n, n) + tuple(self.values.shape[1:]))
        dense[self.index[0], self.index[1]] = self.values
        return dense

    def diagonal(self) -> Tensor:
        """``[n, order, d, F]``: :math:`D[v, v]` (every node's derivative w.r.t. itself)."""
        on_diagonal = self.index[0] == self.index[1]
        out = self.values.new_zeros((self.num_nodes,) + tuple(self.values.shape[1:]))
        return out.index_copy(0, self.index[0][on_diagonal], self.values[on_diagonal])

    def graph_level(self) -> Tensor:
        r"""``[n, order, d, F]``: :math:`D_{out}[u] = \sum_v D[v, u]`, the derivatives of the
        per-graph sum readout w.r.t. every :math:`x_u` (pairs never cross graphs)."""
        out = self.values.new_zeros((self.num_nodes,) + tuple(self.values.shape[1:]))
        return out.index_add(0, self.index[1], self.values)


@dataclass
class MixedDerivatives:
    r"""Sparse mixed derivatives over two distinct nodes (2-HOD).

    Attributes:
        index: ``[3, Q]`` rows ``(v, u1, u2)``, ``u1 != u2``.
        values: ``[Q, order, order, d, F, F]``; ``values[q, a - 1, b - 1, i, j1, j2]`` is
            :math:`\partial^{a+b} h_{v,i} / \partial x_{u_1,j_1}^a \partial x_{u_2,j_2}^b`.
        h: ``[n, d]`` node states.
        num_nodes: ``n``.
    """

    index: Tensor
    values: Tensor
    h: Tensor
    num_nodes: int

    def to_dense(self) -> Tensor:
        """``[n, n, n, order, order, d, F, F]`` with zeros outside the support."""
        n = self.num_nodes
        dense = self.values.new_zeros((n, n, n) + tuple(self.values.shape[1:]))
        dense[self.index[0], self.index[1], self.index[2]] = self.values
        return dense
