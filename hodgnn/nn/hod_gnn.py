r"""HOD-GNN: high-order derivatives of a base MPNN as node features of a downstream GNN.

Eitan, Eliasof, Gelberg, Frasca, Bar-Shalom and Maron, "On The Expressive Power of GNN
Derivatives", ICLR 2026 (arXiv 2510.02565).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP

from hodgnn.derivatives import (
    MixedDerivatives,
    NodeDerivatives,
    PairSupport,
    SupportCache,
    TripleSupport,
    build_triple_support,
    mixed_derivatives,
    node_derivatives,
    resolve_activation,
)
from hodgnn.derivatives.blocks import build_block_pair_support
from hodgnn.derivatives.engine import SCALES
from hodgnn.nn.base_mpnn import CONVS, BaseMPNN
from hodgnn.nn.checks import check_choice, check_int
from hodgnn.nn.downstream import DownstreamGNN, graph_batch, used_edge_attr
from hodgnn.nn.encoders import (
    DiagonalDerivativeEncoder,
    MixedDerivativeEncoder,
    NodeDerivativeEncoder,
    OutputDerivativeEncoder,
)
from hodgnn.nn.graph_model import GraphModel
from hodgnn.nn.inputs import InputEncoder
from hodgnn.transforms import AddHopDistances

U_NODE_MODES = ("full", "diagonal", "off")
RWSE_CONVS = ("mean", "gin")
RWSE_ACTS = ("relu", "identity")


@dataclass
class DerivativeTensors:
    r"""The raw derivative tensors one forward pass of :class:`HODGNN` computes.

    Attributes:
        h: ``[n, d]`` the base MPNN output :math:`h^{(T)}`.
        last: :math:`D^{(T)}` (``None`` when no encoder needs it). Its support is pruned
            to the diagonal's needs when ``per_layer`` was computed with ``diagonal_only``.
        per_layer: :math:`D^{(1)}, \dots, D^{(T)}` for the diagonal-only encoder, or ``None``.
        mixed: the 2-HOD tensor on triples, or ``None``.
    """

    h: Tensor
    last: NodeDerivatives | None = None
    per_layer: list[NodeDerivatives] | None = None
    mixed: MixedDerivatives | None = None


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


class HODGNN(GraphModel):
    r"""HOD-GNN (Eitan et al., ICLR 2026): derivative-aware node features for a downstream GNN.

    A base MPNN :math:`M` runs on a learned low-dimensional projection :math:`X` of the node
    features; the derivative engine (:mod:`hodgnn.derivatives`) computes, exactly and on the
    sparse support, :math:`D^{(T)}[v, u, i, j, a] = \partial^a h^{(T)}_{v,i} / \partial
    X_{u,j}^a` (:math:`a = 1..m`), :math:`D_{out}[u] = \sum_v D^{(T)}[v, u]`, and for
    :math:`k = 2` the mixed derivatives over two distinct nodes. Encoders turn them into

    .. math::
        h^{der}_v = \mathrm{MLP}\big(h^{(T)}_v \oplus U_{out}(D_{out})_v \oplus
            U_{node}(D^{(T)})_v \,[\oplus\, U_{mixed}(D_2)_v] \,[\oplus\, x_v]\big),

    which replace the node features of the downstream GNN :math:`T`
    (:class:`~hodgnn.nn.downstream.DownstreamGNN`: message passing, pooling, task head).
    Everything, the derivative computation included, is differentiable, so the model trains
    end to end.

    Derivative normalisation: order :math:`a` is divided by :math:`a!`
    (``derivative_scale="taylor"``), then every raw channel goes through
    :class:`~hodgnn.nn.encoders.DerivativeNorm` (``derivative_norm``).

    RWSE initialisation (``rwse_init=True``): the input projection has weight 0 and bias 1
    (constant-one base input), every base MLP weight is the identity (rectangular
    ``eye(out, in)``) with zero bias, :math:`\epsilon = -1`, mean aggregation and ReLU by
    default. Then :math:`\partial h^{(t)}_{v,i} / \partial X_{v,j} = \delta_{ij}
    ((D^{-1}A)^t)_{vv}` for :math:`i, j <` ``base_in_channels``, exactly PyG's
    ``AddRandomWalkPE`` (with ``base_conv="gin"``: the closed-walk counts :math:`(A^t)_{vv}`).

    Args:
        in_channels (int): node feature width (after ``node_encoder``, if given).
        hidden_channels (int): width of :math:`h^{der}`, of :math:`T` and the head.
        out_channels (int): outputs per graph (tasks or classes).
        edge_dim (int, optional): edge feature width (after ``edge_encoder``); ``None``
            ignores edge features. (default: ``None``)
        base_conv (str, optional): base MPNN aggregation ``"gin"``, ``"gcn"``, ``"mean"`` or
            ``"gine"``. (default: ``"gin"``; ``"mean"`` with ``rwse_init``)
        base_layers (int, optional): base depth :math:`T`. (default: ``3``)
        base_channels (int, optional): base width :math:`d`. (default: ``16``)
        base_act (str, optional): base activation; an analytic one (``"silu"``, ``"tanh"``,
            ``"softplus"``, ...) makes every order informative, with ``"relu"`` orders
            :math:`\ge 2` vanish. (default: ``"silu"``; ``"relu"`` with ``rwse_init``)
        base_in_channels (int, optional): width :math:`F` of the learned projection fed to
            the base. (default: ``4`` for ``k=1``, ``1`` for ``k=2``)
        base_mlp_layers (int, optional): linear layers per base MLP. (default: ``2``)
        base_eps (float, optional): base self-term :math:`\epsilon`. (default: ``0.``;
            ``-1.`` with ``rwse_init``)
        base_train_eps (bool, optional): learn the base :math:`\epsilon`. (default: ``False``)
        order (int, optional): highest derivative order :math:`m \ge 1`. (default: ``3``)
        k (int, optional): ``1`` (single-node derivatives) or ``2`` (adds mixed derivatives
            over two distinct nodes, encoded by
            :class:`~hodgnn.nn.encoders.MixedDerivativeEncoder`). (default: ``1``)
        u_out (bool, optional): use :math:`U_{out}` on :math:`D_{out}`. (default: ``True``)
        u_node (str, optional): ``"full"`` (sparse 2-IGN on :math:`D^{(T)}`), ``"diagonal"``
            (every layer's diagonal, scaled by :math:`1/t!`) or ``"off"``. (default: ``"full"``)
        encoder_channels (int, optional): width of the derivative encoders.
            (default: ``hidden_channels``)
        ign_layers (int, optional): sparse 2->2 layers in the 2-IGN. (default: ``0``)
        ign_aggr (str, optional): ``"sum"`` or ``"mean"`` reductions in the 2-IGN.
            (default: ``"sum"``)
        layer_scaling (bool, optional): the :math:`1/t!` of the diagonal mode. (default: ``True``)
        encoder_act (str, optional): activation of the encoders' MLPs. (default: ``"relu"``)
        derivative_scale (str, optional): ``"taylor"`` (order :math:`a` divided by
            :math:`a!`) or ``"derivative"``. (default: ``"taylor"``)
        derivative_norm (str, optional): ``"batchnorm"``, ``"asinh"`` or ``"none"``.
            (default: ``"batchnorm"``)
        concat_input (bool, optional): also concatenate the (encoded) input features
            :math:`x_v` into :math:`h^{der}` (the projection to ``base_in_channels`` is
            narrow). (default: ``True``)
        rwse_init (bool, optional): the RWSE initialisation above. (default: ``False``)
        conv (str, optional): downstream conv ``"gine"``, ``"gin"`` or ``"gcn"``.
            (default: ``"gine"`` with ``edge_dim``, else ``"gin"``)
        num_layers (int, optional): downstream depth. (default: ``4``)
        dropout (float, optional): downstream dropout. (default: ``0.``)
        pooling (str, optional): ``"sum"`` or ``"mean"``. (default: ``"sum"``)
        act (str, optional): downstream activation. (default: ``"relu"``)
        head_layers (int, optional): linear layers of the task head. (default: ``2``)
        batch_norm (bool, optional): downstream batch normalisation. (default: ``True``)
        residual (bool, optional): downstream residual connections. (default: ``True``)
        memory_budget (int, optional): bytes allowed for the derivative tensors (else
            ``$HODGNN_MEMORY_BUDGET`` or 8 GiB); above it a
            :class:`~hodgnn.derivatives.MemoryBudgetError` states the estimate.
            (default: ``None``)
        compile_engine (bool, optional): compile the engine's Taylor compositions of orders
            :math:`\ge 2` with ``torch.compile`` (same values, about 3x faster on a CPU after a
            first compilation of tens of seconds; see
            :func:`~hodgnn.derivatives.node_derivatives`). (default: ``False``)
        node_encoder (InputEncoder, optional): raw node features to ``in_channels``.
        edge_encoder (InputEncoder, optional): raw edge features to ``edge_dim``.

    Shapes:
        - **input:** a PyG ``Batch`` with ``x``, ``edge_index``, ``batch`` and ``edge_attr``
          (when ``edge_dim`` is set)
        - **output:** ``[num_graphs, out_channels]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        edge_dim: int | None = None,
        *,
        base_conv: str | None = None,
        base_layers: int = 3,
        base_channels: int = 16,
        base_act: str | None = None,
        base_in_channels: int | None = None,
        base_mlp_layers: int = 2,
        base_eps: float | None = None,
        base_train_eps: bool = False,
        order: int = 3,
        k: int = 1,
        u_out: bool = True,
        u_node: str = "full",
        encoder_channels: int | None = None,
        ign_layers: int = 0,
        ign_aggr: str = "sum",
        layer_scaling: bool = True,
        encoder_act: str = "relu",
        derivative_scale: str = "taylor",
        derivative_norm: str = "batchnorm",
        concat_input: bool = True,
        rwse_init: bool = False,
        conv: str | None = None,
        num_layers: int = 4,
        dropout: float = 0.0,
        pooling: str = "sum",
        act: str = "relu",
        head_layers: int = 2,
        batch_norm: bool = True,
        residual: bool = True,
        memory_budget: int | None = None,
        compile_engine: bool = False,
        node_encoder: InputEncoder | None = None,
        edge_encoder: InputEncoder | None = None,
    ):
        super().__init__(node_encoder, edge_encoder)
        check_int("in_channels", in_channels, 1)
        check_int("order", order, 1)
        check_choice("k", k, (1, 2))
        check_choice("u_node", u_node, U_NODE_MODES)
        check_choice("derivative_scale", derivative_scale, SCALES)
        base_conv = base_conv if base_conv is not None else ("mean" if rwse_init else "gin")
        base_act = base_act if base_act is not None else ("relu" if rwse_init else "silu")
        base_eps = base_eps if base_eps is not None else (-1.0 if rwse_init else 0.0)
        base_in_channels = base_in_channels if base_in_channels is not None else (4 if k == 1 else 1)
        check_choice("base_conv", base_conv, CONVS)
        resolve_activation(base_act)
        for name, value in (
            ("base_layers", base_layers),
            ("base_channels", base_channels),
            ("base_in_channels", base_in_channels),
        ):
            check_int(name, value, 1)
        if base_conv == "gine" and edge_dim is None:
            raise ValueError("base_conv='gine' needs edge features (edge_dim)")
        if rwse_init:
            check_choice("base_conv (with rwse_init)", base_conv, RWSE_CONVS)
            check_choice("base_act (with rwse_init)", base_act, RWSE_ACTS)
        encoder_channels = encoder_channels if encoder_channels is not None else hidden_channels
        check_int("encoder_channels", encoder_channels, 1)
        conv = conv if conv is not None else ("gine" if edge_dim is not None else "gin")

        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.edge_dim = edge_dim
        self.order = order
        self.k = k
        self.u_out = bool(u_out)
        self.u_node = u_node
        self.derivative_scale = derivative_scale
        self.concat_input = bool(concat_input)
        self.rwse_init = bool(rwse_init)
        self.memory_budget = memory_budget
        self.compile_engine = bool(compile_engine)
        # supports reused while the same edge_index comes back (full-graph training on one graph)
        self.support_cache = SupportCache()

        self.input_projection = nn.Linear(in_channels, base_in_channels)
        self.base = BaseMPNN(
            base_in_channels,
            base_channels,
            base_layers,
            conv=base_conv,
            act=base_act,
            edge_dim=edge_dim if base_conv == "gine" else None,
            eps=base_eps,
            train_eps=base_train_eps,
            num_mlp_layers=base_mlp_layers,
        )
        pair_channels = order * base_channels * base_in_channels
        norm, c = derivative_norm, encoder_channels
        self.u_out_encoder = (
            OutputDerivativeEncoder(pair_channels, c, c, norm, encoder_act) if self.u_out else None
        )
        if u_node == "full":
            self.u_node_encoder = NodeDerivativeEncoder(
                pair_channels, c, c, norm, ign_layers, ign_aggr, encoder_act
            )
        elif u_node == "diagonal":
            self.u_node_encoder = DiagonalDerivativeEncoder(
                base_layers * pair_channels, c, c, norm, layer_scaling, encoder_act
            )
        else:
            self.u_node_encoder = None
        if k == 2:
            mixed_channels = order * order * base_channels * base_in_channels**2
            self.u_mixed_encoder = MixedDerivativeEncoder(
                mixed_channels, c, c, norm, ign_layers, ign_aggr, encoder_act
            )
        else:
            self.u_mixed_encoder = None
        combined = base_channels + c * (self.u_out + (u_node != "off") + (k == 2))
        combined += in_channels if self.concat_input else 0
        self.combine = MLP([combined, hidden_channels, hidden_channels], act=encoder_act, norm="batch_norm")
        self.downstream = DownstreamGNN.from_options(
            hidden_channels, hidden_channels, out_channels, edge_dim, locals()
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.input_projection.reset_parameters()
        self.base.reset_parameters()
        for module in (self.u_out_encoder, self.u_node_encoder, self.u_mixed_encoder):
            if module is not None:
                module.reset_parameters()
        self.combine.reset_parameters()
        self.downstream.reset_parameters()
        if self.rwse_init:
            self.apply_rwse_init()

    @torch.no_grad()
    def apply_rwse_init(self) -> None:
        """Constant-one base input and identity base MLPs (see the class docstring)."""
        self.input_projection.weight.zero_()
        self.input_projection.bias.fill_(1.0)
        for layer in self.base.layers:
            for lin in layer.linears:
                lin.weight.copy_(torch.eye(lin.out_features, lin.in_features, dtype=lin.weight.dtype))
                if lin.bias is not None:
                    lin.bias.zero_()

    @property
    def diagonal_only(self) -> bool:
        """Whether the pair support is pruned to the pairs that return to the diagonal (every
        layer's diagonal is encoded and nothing needs ``D^(T)`` off the diagonal: ``U_out`` off)."""
        return self.u_node == "diagonal" and not self.u_out

    def base_input(self, data: Data) -> Tensor:
        """The base MPNN's input :math:`X` ``[n, base_in_channels]``: the learned projection of
        the encoded node features (the derivatives are taken with respect to it)."""
        x, _ = self.encode_inputs(data)
        return self.input_projection(x)

    def derivative_supports(
        self, edge_index: Tensor, num_nodes: int, ptr: Tensor | None = None, hops: Tensor | None = None
    ) -> DerivativeSupports:
        """The pair (and, for ``k = 2``, triple) supports the engine needs on this graph.

        With ``ptr`` (a PyG batch's node offsets) the pairs come from every graph's hop distances
        (:func:`~hodgnn.derivatives.blocks.build_block_pair_support`): ``hops`` precomputed by
        :meth:`required_transforms` (``data.hop_distances``), else computed here. Without ``ptr``
        they are built on the whole graph and kept while the same ``edge_index`` comes back
        (:class:`~hodgnn.derivatives.SupportCache`, full-graph training)."""
        T, budget = self.base.num_layers, self.memory_budget
        needs_pairs = self.u_node != "off" or self.u_out or self.k == 2
        if not needs_pairs:
            return DerivativeSupports()
        if ptr is not None:

            def build(pruned: bool) -> PairSupport:
                return build_block_pair_support(edge_index, ptr, T, pruned, hops, budget)

            node_pairs = build(self.diagonal_only)
            if self.k == 1:
                return DerivativeSupports(node_pairs)
            pairs = build(False) if self.diagonal_only else node_pairs
            return DerivativeSupports(node_pairs, pairs, build_triple_support(pairs, budget))
        if self.k == 1:
            return DerivativeSupports(
                self.support_cache.pairs(edge_index, num_nodes, T, self.diagonal_only, budget)
            )
        pairs, triples = self.support_cache.triples(edge_index, num_nodes, T, budget)
        node_pairs = (
            self.support_cache.pairs(edge_index, num_nodes, T, True, budget) if self.diagonal_only else pairs
        )
        return DerivativeSupports(node_pairs, pairs, triples)

    def compute_derivatives(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        supports: DerivativeSupports | None = None,
    ) -> DerivativeTensors:
        """The derivative tensors the configured encoders need, from the base input ``x``
        (``supports`` from :meth:`derivative_supports`; built here when not given)."""
        if supports is None:
            supports = self.derivative_supports(edge_index, x.size(0))
        options = dict(scale=self.derivative_scale, memory_budget=self.memory_budget)
        node_options = dict(options, compile_taylor=self.compile_engine)
        result = None
        if self.u_node == "diagonal":
            per_layer = node_derivatives(
                self.base,
                x,
                edge_index,
                self.order,
                edge_attr,
                all_layers=True,
                diagonal_only=self.diagonal_only,
                support=supports.pairs,
                **node_options,
            )
            result = DerivativeTensors(per_layer[-1].h, last=per_layer[-1], per_layer=per_layer)
        elif self.u_node == "full" or self.u_out:
            last = node_derivatives(
                self.base, x, edge_index, self.order, edge_attr, support=supports.pairs, **node_options
            )
            result = DerivativeTensors(last.h, last=last)
        if self.k == 2:
            mixed = mixed_derivatives(
                self.base,
                x,
                edge_index,
                self.order,
                edge_attr,
                support=supports.mixed_pairs,
                triple_support=supports.triples,
                **options,
            )
            if result is None:
                result = DerivativeTensors(mixed.h)
            result.mixed = mixed
        if result is None:
            result = DerivativeTensors(self.base(x, edge_index, edge_attr))
        return result

    def encode_derivatives(
        self, derivatives: DerivativeTensors, x: Tensor, batch: Tensor, num_graphs: int
    ) -> Tensor:
        r""":math:`h^{der}` ``[n, hidden_channels]``: the encoders on ``derivatives``, concatenated
        with :math:`h^{(T)}` (and ``x``, the encoded node features), then the combining MLP."""
        parts = [derivatives.h]
        if self.u_out_encoder is not None:
            parts.append(self.u_out_encoder(derivatives.last.graph_level(), batch, num_graphs))
        if self.u_node == "full":
            parts.append(self.u_node_encoder(derivatives.last, batch, num_graphs))
        elif self.u_node == "diagonal":
            parts.append(self.u_node_encoder(derivatives.per_layer))
        if self.u_mixed_encoder is not None:
            parts.append(self.u_mixed_encoder(derivatives.mixed, batch, num_graphs))
        if self.concat_input:
            parts.append(x)
        return self.combine(torch.cat(parts, dim=-1))

    def derivative_features(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor | None,
        batch: Tensor,
        num_graphs: int,
        supports: DerivativeSupports | None = None,
    ) -> Tensor:
        r""":math:`h^{der}` ``[n, hidden_channels]`` from the encoded node (and edge) features."""
        base_edge_attr = edge_attr if self.base.conv == "gine" else None
        derivatives = self.compute_derivatives(self.input_projection(x), edge_index, base_edge_attr, supports)
        return self.encode_derivatives(derivatives, x, batch, num_graphs)

    def required_transforms(self) -> list:
        """:class:`~hodgnn.transforms.AddHopDistances` up to the base depth: every graph's hop
        distances are computed once, and each batch's pair support is assembled from them."""
        if self.u_node == "off" and not self.u_out and self.k == 1:
            return []
        return [AddHopDistances(self.base.num_layers)]

    def batch_supports(self, data: Data) -> DerivativeSupports:
        """:meth:`derivative_supports` of a PyG ``Data``/``Batch`` (its ``ptr`` and
        ``hop_distances`` when present)."""
        ptr = getattr(data, "ptr", None)
        if ptr is None and getattr(data, "hop_distances", None) is not None:
            ptr = data.edge_index.new_tensor([0, data.num_nodes])
        return self.derivative_supports(
            data.edge_index, data.num_nodes, ptr, getattr(data, "hop_distances", None)
        )

    def forward(self, data: Data) -> Tensor:
        x, edge_attr = self.encode_inputs(data)
        edge_attr = used_edge_attr(edge_attr, self.edge_dim)
        batch, num_graphs = graph_batch(data)
        supports = self.batch_supports(data)
        h = self.derivative_features(x, data.edge_index, edge_attr, batch, num_graphs, supports)
        downstream_edge_attr = edge_attr if self.downstream.gnn.uses_edges else None
        return self.downstream(h, data.edge_index, batch, num_graphs, downstream_edge_attr)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, {self.out_channels}, "
            f"k={self.k}, order={self.order}, base={self.base!r}, u_out={self.u_out}, "
            f"u_node={self.u_node!r}, conv={self.downstream.gnn.conv!r})"
        )
