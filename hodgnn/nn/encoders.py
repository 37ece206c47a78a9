r"""Derivative encoders of HOD-GNN: they turn derivative tensors back into node features.

* :class:`OutputDerivativeEncoder` (:math:`U_{out}`): DeepSets on the output-level tensor
  :math:`D_{out}[u] = \partial^a (\sum_v h^{(T)}_v) / \partial X_u^a`;
* :class:`SparseIGN` / :class:`NodeDerivativeEncoder` (:math:`U_{node}`): a 2-IGN
  (Maron et al., 2019) on the pairwise tensor :math:`D^{(T)}[v, u]`, evaluated on its sparse
  support only (no :math:`n \times n` tensor is ever built);
* :class:`DiagonalDerivativeEncoder`: the diagonal-only, per-layer variant (every layer's
  :math:`D^{(t)}[v, v]` scaled by :math:`1/t!`, a learnable extension of RWSE);
* :class:`MixedDerivativeEncoder`: 2-HOD, the mixed tensor on triples :math:`(v, u_1, u_2)`
  pooled equivariantly to pairs, then by the 2-IGN to nodes;
* :class:`DerivativeNorm`: normalisation of the raw derivative channels.

Derivative values span many orders of magnitude (order :math:`a` grows roughly like
:math:`a!\,\|W\|^{aT}`), so the model first scales order :math:`a` by :math:`1/a!` (the
engine's ``scale="taylor"``) and then normalises every raw channel (:class:`DerivativeNorm`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP

from hodgnn.checks import check_choice, check_int
from hodgnn.derivatives import MixedDerivatives, NodeDerivatives

NORMS = ("batchnorm", "asinh", "none")
AGGREGATIONS = ("sum", "mean")


class DerivativeNorm(nn.Module):
    r"""Normalisation of raw derivative channels.

    * ``"batchnorm"``: ``BatchNorm1d`` over the rows (pairs, triples or nodes) of each
      channel; learned affine map, running statistics at evaluation;
    * ``"asinh"``: the sign-preserving logarithm :math:`\operatorname{asinh}(x) =
      \log(x + \sqrt{x^2 + 1})`, linear near 0 and logarithmic for large values;
    * ``"none"``: identity.

    Entries outside the sparse support are never normalised (they are not stored), so
    ``"batchnorm"`` normalises the values over the support.

    Args:
        channels (int): number of channels.
        mode (str, optional): ``"batchnorm"``, ``"asinh"`` or ``"none"``. (default: ``"batchnorm"``)

    Shapes:
        - **input / output:** ``[rows, channels]``
    """

    def __init__(self, channels: int, mode: str = "batchnorm"):
        super().__init__()
        check_choice("derivative_norm", mode, NORMS)
        self.mode = mode
        self.norm = nn.BatchNorm1d(channels) if mode == "batchnorm" else None

    def reset_parameters(self) -> None:
        if self.norm is not None:
            self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "batchnorm":
            if self.training and x.size(0) < 2:  # one row has no batch statistics: use the running ones
                norm = self.norm
                return nn.functional.batch_norm(
                    x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps
                )
            return self.norm(x)
        if self.mode == "asinh":
            return torch.asinh(x)
        return x


def _rows_where(values: Tensor, mask: Tensor, position: Tensor, size: int) -> Tensor:
    """``[size, C]`` zeros with row ``position[p]`` set to ``values[p]`` for every ``p`` where ``mask[p]``."""
    return values.new_zeros(size, values.size(1)).index_copy_(0, position[mask], values[mask])


def _scatter(values: Tensor, index: Tensor, size: int, aggr: str) -> Tensor:
    """Sum (or mean) of the rows of ``values`` per ``index``, ``[size, C]``."""
    out = values.new_zeros(size, values.size(1)).index_add_(0, index, values)
    if aggr == "mean":
        count = torch.bincount(index, minlength=size).clamp(min=1).to(values.dtype)
        out = out / count.unsqueeze(-1)
    return out


class SparseIGN(nn.Module):
    r"""A 2-IGN on a sparse pairwise tensor :math:`X[v, u]` stored on a support :math:`S`.

    1. **pointwise**: :math:`h(v, u) = \mathrm{MLP}(X[v, u])` on every stored pair;
    2. **optional 2->2 layers** (``num_layers``) restricted to :math:`S`: with row
       aggregates :math:`R(w) = \bigoplus_{(w, u) \in S} h(w, u)`, column aggregates
       :math:`C(w) = \bigoplus_{(v, w) \in S} h(v, w)`, the diagonal :math:`\Delta(w) =
       h(w, w)` (zero when :math:`(w, w) \notin S`), the per-graph trace
       :math:`\tau_G = \bigoplus_{w \in G} \Delta(w)` and total :math:`\Sigma_G =
       \bigoplus_{w \in G} R(w)`,

       .. math::
           h(v, u) \leftarrow h(v, u) + \mathrm{MLP}\big[h(v, u) \,\|\, R(v) \,\|\, R(u) \,\|\,
           C(v) \,\|\, C(u) \,\|\, \Delta(v) \,\|\, \Delta(u) \,\|\, \tau_G \,\|\, \Sigma_G\big],

       which are the 2->2 basis operations of Maron et al. that map the support into itself
       (the transpose :math:`h(u, v)` is left out: it need not be stored);
    3. **2->1**: the five equivariant reductions
       :math:`y(w) = \mathrm{MLP}[\Delta(w) \,\|\, R(w) \,\|\, C(w) \,\|\, \tau_G \,\|\, \Sigma_G]`.

    :math:`\bigoplus` is a sum (or a mean, ``aggr="mean"``). Every operation commutes with
    relabelling the nodes, so the output is permutation equivariant. Cost: :math:`O(|S|)`.

    Args:
        in_channels (int): channels per pair.
        hidden_channels (int): width of the pair and node MLPs.
        out_channels (int): channels per node.
        num_layers (int, optional): number of sparse 2->2 layers. (default: ``0``)
        aggr (str, optional): ``"sum"`` or ``"mean"``. (default: ``"sum"``)
        act (str, optional): activation of the MLPs. (default: ``"relu"``)

    Shapes:
        - **input:** pair index ``[2, P]`` (rows ``(v, u)``), pair features ``[P, in]``,
          ``batch [n]`` (graph of every node)
        - **output:** ``[n, out_channels]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 0,
        aggr: str = "sum",
        act: str = "relu",
    ):
        super().__init__()
        check_int("ign_layers", num_layers, 0)
        check_choice("ign_aggr", aggr, AGGREGATIONS)
        self.aggr = aggr
        self.pointwise = MLP([in_channels, hidden_channels, hidden_channels], act=act, norm=None)
        self.layers = nn.ModuleList(
            MLP([9 * hidden_channels, hidden_channels, hidden_channels], act=act, norm=None)
            for _ in range(num_layers)
        )
        self.readout = MLP([5 * hidden_channels, hidden_channels, out_channels], act=act, norm="batch_norm")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.pointwise.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        self.readout.reset_parameters()

    def _reductions(self, index: Tensor, h: Tensor, batch: Tensor, num_graphs: int):
        n = batch.numel()
        rows, cols = index
        row = _scatter(h, rows, n, self.aggr)
        col = _scatter(h, cols, n, self.aggr)
        diagonal = _rows_where(h, rows == cols, rows, n)
        trace = _scatter(diagonal, batch, num_graphs, self.aggr)[batch]
        if self.aggr == "sum":
            total = _scatter(row, batch, num_graphs, "sum")[batch]
        else:
            pair_graph = batch[rows]
            total = _scatter(h, pair_graph, num_graphs, "mean")[batch]
        return row, col, diagonal, trace, total

    def forward(self, index: Tensor, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        h = self.pointwise(x)
        rows, cols = index
        for layer in self.layers:
            row, col, diagonal, trace, total = self._reductions(index, h, batch, num_graphs)
            features = [h, row[rows], row[cols], col[rows], col[cols], diagonal[rows], diagonal[cols]]
            features += [trace[rows], total[rows]]
            h = h + layer(torch.cat(features, dim=-1))
        row, col, diagonal, trace, total = self._reductions(index, h, batch, num_graphs)
        return self.readout(torch.cat([diagonal, row, col, trace, total], dim=-1))


class _SparseDerivativeEncoder(nn.Module):
    """:class:`DerivativeNorm` on the stored entries of a sparse derivative tensor, then (triples only) a
    pointwise MLP and :func:`pool_triples_to_pairs`, then :class:`SparseIGN` from pairs to nodes."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        norm: str,
        num_layers: int,
        aggr: str,
        act: str,
        triples: bool,
    ):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm = DerivativeNorm(in_channels, norm)
        if triples:
            self.pointwise = MLP([in_channels, hidden_channels, hidden_channels], act=act, norm=None)
        else:
            self.pointwise = None
        pair_channels = 4 * hidden_channels if triples else in_channels
        self.ign = SparseIGN(pair_channels, hidden_channels, out_channels, num_layers, aggr, act)

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        if self.pointwise is not None:
            self.pointwise.reset_parameters()
        self.ign.reset_parameters()

    def forward(
        self, derivatives: NodeDerivatives | MixedDerivatives, batch: Tensor, num_graphs: int
    ) -> Tensor:
        index, h = derivatives.index, self.norm(derivatives.values.flatten(1))
        if self.pointwise is not None:
            index, h = pool_triples_to_pairs(index, self.pointwise(h), derivatives.num_nodes)
        return self.ign(index, h, batch, num_graphs)


class NodeDerivativeEncoder(_SparseDerivativeEncoder):
    r""":math:`U_{node}`: the sparse 2-IGN on :math:`D^{(T)}[v, u]` with pair channels
    ``order * d * F`` (flattened), after :class:`DerivativeNorm`.

    Args:
        in_channels (int): ``order * d * F``.
        hidden_channels (int): width of the 2-IGN.
        out_channels (int): channels per node.
        norm (str, optional): see :class:`DerivativeNorm`. (default: ``"batchnorm"``)
        num_layers (int, optional): sparse 2->2 layers. (default: ``0``)
        aggr (str, optional): ``"sum"`` or ``"mean"``. (default: ``"sum"``)
        act (str, optional): activation. (default: ``"relu"``)

    Shapes:
        - **input:** :class:`~hodgnn.derivatives.NodeDerivatives` with ``P`` pairs,
          ``batch [n]``
        - **output:** ``[n, out_channels]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        norm: str = "batchnorm",
        num_layers: int = 0,
        aggr: str = "sum",
        act: str = "relu",
    ):
        super().__init__(
            in_channels, hidden_channels, out_channels, norm, num_layers, aggr, act, triples=False
        )


class OutputDerivativeEncoder(nn.Module):
    r""":math:`U_{out}`: DeepSets on the output-level derivatives :math:`D_{out}[u]`
    (``[n, order, d, F]`` flattened, after :class:`DerivativeNorm`).

    .. math::
        U_{out}(D_{out})_u = \rho\Big[\phi(D_{out}[u]) \,\Big\|\,
            \sum_{w \in G(u)} \phi(D_{out}[w])\Big]

    Args:
        in_channels (int): ``order * d * F``.
        hidden_channels (int): width of :math:`\phi`.
        out_channels (int): channels per node.
        norm (str, optional): see :class:`DerivativeNorm`. (default: ``"batchnorm"``)
        act (str, optional): activation. (default: ``"relu"``)

    Shapes:
        - **input:** ``D_out [n, order, d, F]``, ``batch [n]``
        - **output:** ``[n, out_channels]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        norm: str = "batchnorm",
        act: str = "relu",
    ):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm = DerivativeNorm(in_channels, norm)
        self.phi = MLP([in_channels, hidden_channels, hidden_channels], act=act, norm=None)
        self.rho = MLP([2 * hidden_channels, hidden_channels, out_channels], act=act, norm="batch_norm")

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.phi.reset_parameters()
        self.rho.reset_parameters()

    def forward(self, d_out: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        h = self.phi(self.norm(d_out.flatten(1)))
        pooled = _scatter(h, batch, num_graphs, "sum")[batch]
        return self.rho(torch.cat([h, pooled], dim=-1))


def stack_layer_diagonals(per_layer: list[NodeDerivatives], layer_scaling: bool = True) -> Tensor:
    r"""``[n, T * order * d * F]``: every layer's diagonal :math:`D^{(t)}[v, v]`, divided by
    :math:`t!` when ``layer_scaling`` (HyMN's walk-centrality scaling), concatenated over
    :math:`t = 1..T`."""
    blocks = []
    for t, derivatives in enumerate(per_layer, start=1):
        diagonal = derivatives.diagonal().flatten(1)
        blocks.append(diagonal / math.factorial(t) if layer_scaling else diagonal)
    return torch.cat(blocks, dim=-1)


class DiagonalDerivativeEncoder(nn.Module):
    r"""Diagonal-only, per-layer :math:`U_{node}`: a pointwise MLP on
    :func:`stack_layer_diagonals` after :class:`DerivativeNorm`.

    With the RWSE initialisation of :class:`~hodgnn.nn.HODGNN` the first-order part equals
    the random-walk structural encoding, so this is a learnable extension of RWSE.

    Args:
        in_channels (int): ``T * order * d * F``.
        hidden_channels (int): MLP width.
        out_channels (int): channels per node.
        norm (str, optional): see :class:`DerivativeNorm`. (default: ``"batchnorm"``)
        layer_scaling (bool, optional): divide layer :math:`t` by :math:`t!`. (default: ``True``)
        act (str, optional): activation. (default: ``"relu"``)

    Shapes:
        - **input:** a list of ``T`` :class:`~hodgnn.derivatives.NodeDerivatives`
        - **output:** ``[n, out_channels]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        norm: str = "batchnorm",
        layer_scaling: bool = True,
        act: str = "relu",
    ):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.layer_scaling = layer_scaling
        self.norm = DerivativeNorm(in_channels, norm)
        self.mlp = MLP([in_channels, hidden_channels, out_channels], act=act, norm="batch_norm")

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.mlp.reset_parameters()

    def forward(self, per_layer: list[NodeDerivatives]) -> Tensor:
        return self.mlp(self.norm(stack_layer_diagonals(per_layer, self.layer_scaling)))


def pool_triples_to_pairs(index: Tensor, h: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    r"""Equivariant 3->2 reductions of a sparse triple tensor :math:`h(v, u_1, u_2)`
    (:math:`u_1 \ne u_2`) onto pairs :math:`(v, u)`:

    .. math::
        g(v, u) = \Big[\sum_{u_2} h(v, u, u_2) \,\Big\|\, \sum_{u_1} h(v, u_1, u) \,\Big\|\,
            h(v, u, v) \,\Big\|\, h(v, v, u)\Big]

    (the last two are zero where the triple is not stored, e.g. :math:`u = v`). The pairs are
    every :math:`(v, u_1)` and :math:`(v, u_2)` that occurs in ``index``.

    Returns ``(pair_index [2, P], g [P, 4 C])``.
    """
    v, u1, u2 = index
    n = num_nodes
    first, second = v * n + u1, v * n + u2
    keys, inverse = torch.unique(torch.cat([first, second]), return_inverse=True)
    pos_first, pos_second = inverse[: first.numel()], inverse[first.numel() :]
    num_pairs = keys.numel()
    sum_over_second = _scatter(h, pos_first, num_pairs, "sum")
    sum_over_first = _scatter(h, pos_second, num_pairs, "sum")
    at_root_second = _rows_where(h, u2 == v, pos_first, num_pairs)
    at_root_first = _rows_where(h, u1 == v, pos_second, num_pairs)
    pair_index = torch.stack([keys // n, keys % n])
    return pair_index, torch.cat([sum_over_second, sum_over_first, at_root_second, at_root_first], dim=-1)


class MixedDerivativeEncoder(_SparseDerivativeEncoder):
    r"""2-HOD encoder of the mixed tensor :math:`D_2[v, u_1, u_2]` (``order^2 * d * F^2``
    channels per triple, flattened).

    1. :class:`DerivativeNorm`, then a pointwise MLP on every stored triple;
    2. :func:`pool_triples_to_pairs` (sums over :math:`u_2` and over :math:`u_1`, and the two
       slices where one of :math:`u_1, u_2` is :math:`v`);
    3. the pair tensor goes through :class:`SparseIGN` (pointwise MLP, optional 2->2 layers,
       2->1 reductions) to node features.

    Args:
        in_channels (int): ``order^2 * d * F^2``.
        hidden_channels (int): width.
        out_channels (int): channels per node.
        norm (str, optional): see :class:`DerivativeNorm`. (default: ``"batchnorm"``)
        num_layers (int, optional): sparse 2->2 layers of the pair stage. (default: ``0``)
        aggr (str, optional): aggregation of the pair stage. (default: ``"sum"``)
        act (str, optional): activation. (default: ``"relu"``)

    Shapes:
        - **input:** :class:`~hodgnn.derivatives.MixedDerivatives` with ``Q`` triples,
          ``batch [n]``
        - **output:** ``[n, out_channels]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        norm: str = "batchnorm",
        num_layers: int = 0,
        aggr: str = "sum",
        act: str = "relu",
    ):
        super().__init__(
            in_channels, hidden_channels, out_channels, norm, num_layers, aggr, act, triples=True
        )
