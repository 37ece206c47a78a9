r"""HOD-GNN: high-order derivatives of a base MPNN as node features of a downstream GNN.

Eitan, Eliasof, Gelberg, Frasca, Bar-Shalom and Maron, "On The Expressive Power of GNN
Derivatives", ICLR 2026 (arXiv 2510.02565).

:class:`HODGNN` is built from its parts, ``HODGNN(base, encoders, downstream)``, or from options,
``HODGNN(in_channels, hidden_channels, out_channels, edge_dim, **options)``
(:mod:`hodgnn.nn.hod_gnn_parts` builds the parts), and runs on a PyG ``Data``/``Batch`` or on
tensors, ``model(x, edge_index, edge_attr, batch)``.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.data.data import BaseData

from hodgnn.checks import check_choice, check_int
from hodgnn.derivatives import BasePlan, SupportCache, mixed_derivatives, node_derivatives
from hodgnn.derivatives.engine import SCALES
from hodgnn.nn.derivative_encoders import DerivativeEncoders, DerivativeTensors, module_width
from hodgnn.nn.downstream import DownstreamGNN, graph_batch
from hodgnn.nn.graph_model import GraphModel
from hodgnn.nn.hod_gnn_parts import BUILDER_OPTIONS, apply_rwse_init, build_parts, check_parts
from hodgnn.nn.hod_gnn_supports import DerivativeSupports, batch_pointer, derivative_supports, lower_structure
from hodgnn.nn.inputs import InputEncoder
from hodgnn.transforms import AddHopDistances

__all__ = ["HODGNN", "DerivativeSupports", "DerivativeTensors", "lower_structure"]

RENAMED_KEYS = {
    "u_out_encoder.": "encoders.u_out.",
    "u_node_encoder.": "encoders.u_node.",
    "u_mixed_encoder.": "encoders.u_mixed.",
    "combine.": "encoders.combine.",
}
"""State-dict prefixes of models saved before the encoders became one part, and their new names."""


def _rename_old_keys(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load-state-dict pre-hook: state dicts (checkpoints) saved before the encoders became one
    part load unchanged (:data:`RENAMED_KEYS`)."""
    for key in [key for key in state_dict if key.startswith(prefix)]:
        for old, new in RENAMED_KEYS.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)
                break


def _pointer_and_hops(data: BaseData) -> tuple[Tensor | None, Tensor | None]:
    """``(ptr, hop_distances)`` of a PyG ``Data``/``Batch`` (a ``Data`` with hop distances is one
    graph: ``ptr = [0, n]``)."""
    ptr, hops = getattr(data, "ptr", None), getattr(data, "hop_distances", None)
    if ptr is None and hops is not None:
        ptr = data.edge_index.new_tensor([0, data.num_nodes])
    return ptr, hops


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
    end to end. Order :math:`a` is divided by :math:`a!` (``derivative_scale="taylor"``).

    **From parts** (when the first argument is an ``nn.Module``):
    ``HODGNN(base, encoders, downstream, edge_dim=None, *, order=3, input_projection=None,
    derivative_scale="taylor", concat_input=True, memory_budget=None, compile_engine=False,
    node_encoder=None, edge_encoder=None)`` (see Args). The parts are used as given (not
    re-initialised) and checked at construction: a base that does not lower raises
    :class:`~hodgnn.derivatives.UnsupportedModuleError` naming the module, a width that does not
    fit (projection -> base, derivatives -> encoders -> ``combine`` -> downstream, wherever the
    modules state their widths) a ``ValueError`` naming it. The structure is checked in
    evaluation mode; in training mode the engine refuses a base with BatchNorm or dropout at the
    first forward, before any work (``model.base.eval()`` freezes it). ``edge_dim``, if given,
    makes edge features required (they are required anyway when the base or the downstream GNN
    reads them). Example::

        base = torch_geometric.nn.models.GIN(4, 16, num_layers=3, act="tanh")  # F = 4, d = 16
        encoders = DerivativeEncoders(
            MLP([16 + 32 + 8, 64, 64]),  # h^(T), U_out and the 8 input features
            u_out=OutputDerivativeEncoder(2 * 16 * 4, 32, 32),  # order * d * F channels
        )
        model = HODGNN(base, encoders, DownstreamGNN(64, 64, 1), order=2,
                       input_projection=nn.Linear(8, 4))
        y = model(x, edge_index, batch=batch)  # or model(data)

    **From options** (``in_channels`` an int; ``order``, ``derivative_scale``,
    ``concat_input``, ``memory_budget``, ``compile_engine`` and the input encoders apply to both
    forms, the other options to this one): the parts are built by
    :func:`~hodgnn.nn.hod_gnn_parts.build_parts` (a :class:`~hodgnn.nn.BaseMPNN` after a
    linear projection, derivative encoders with :class:`~hodgnn.nn.encoders.DerivativeNorm`,
    the downstream GNN) and initialised from the global seed. RWSE initialisation
    (``rwse_init=True``, this form only): the input projection has weight 0 and bias 1
    (constant-one base input), every base MLP weight is the identity (rectangular
    ``eye(out, in)``) with zero bias, :math:`\epsilon = -1`, mean aggregation and ReLU by
    default. Then :math:`\partial h^{(t)}_{v,i} / \partial X_{v,j} = \delta_{ij}
    ((D^{-1}A)^t)_{vv}` for :math:`i, j <` ``base_in_channels``, exactly PyG's
    ``AddRandomWalkPE`` (with ``base_conv="gin"``: the closed-walk counts :math:`(A^t)_{vv}`).

    Args:
        base (nn.Module): *(parts)* any model the engine lowers
            (:func:`~hodgnn.derivatives.lower`): a :class:`~hodgnn.nn.BaseMPNN`, PyG's ``GIN`` /
            ``GCN`` / ``GraphSAGE``, a ``torch_geometric.nn.Sequential`` of ``GINConv`` /
            ``GCNConv`` / ``GINEConv`` / ``SAGEConv`` / ``GraphConv`` and node-wise modules.
        encoders (DerivativeEncoders): *(parts)* the encoders (they decide ``u_out``, the
            ``u_node`` mode and ``k``) and ``combine``.
        downstream (DownstreamGNN): *(parts)* GNN, pooling and head on :math:`h^{der}`.
        input_projection (nn.Module, optional): *(parts)* node features -> base input
            :math:`X`; ``None``: :math:`X` is the encoded node features. (default: ``None``)
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
        pooling (str, optional): ``"sum"``, ``"mean"`` or ``"none"`` (node-level tasks: one prediction
            per node). (default: ``"sum"``)
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
        - **input:** a PyG ``Data``/``Batch`` with ``x``, ``edge_index``, ``batch`` and
          ``edge_attr`` (when the model reads edge features), or tensors
          ``x [n, in_channels]``, ``edge_index [2, E]``, ``edge_attr [E, edge_dim]``
          *(optional)*, ``batch [n]`` *(optional; one graph when None)*, ``num_graphs``
          *(optional)*; the input encoders apply to both
        - **output:** ``[num_graphs, out_channels]`` (``[n, out_channels]`` with ``pooling="none"``)
    """

    def __init__(
        self,
        in_channels: int | nn.Module,
        hidden_channels: int | DerivativeEncoders,
        out_channels: int | DownstreamGNN,
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
        input_projection: nn.Module | None = None,
        node_encoder: InputEncoder | None = None,
        edge_encoder: InputEncoder | None = None,
    ):
        super().__init__(node_encoder, edge_encoder)
        options = dict(locals())
        from_parts = isinstance(in_channels, nn.Module)
        if from_parts:
            given = [name for name in BUILDER_OPTIONS if options[name] != _BUILDER_DEFAULTS[name]]
            if given:
                raise ValueError(
                    f"option(s) {given} only apply to HODGNN(in_channels, hidden_channels, out_channels, "
                    "...); HODGNN(base, encoders, downstream) takes them from its modules"
                )
            base, encoders, downstream = in_channels, hidden_channels, out_channels
        else:
            if input_projection is not None:
                raise ValueError(
                    "input_projection is a part of HODGNN(base, encoders, downstream, input_projection=...);"
                    " HODGNN(in_channels, ...) builds its own"
                )
            parts = build_parts(in_channels, hidden_channels, out_channels, edge_dim, options)
            base, encoders, downstream = parts.base, parts.encoders, parts.downstream
            input_projection = parts.input_projection
        if edge_dim is not None:
            check_int("edge_dim", edge_dim, 1)
        check_choice("derivative_scale", derivative_scale, SCALES)
        self.rwse_init = bool(rwse_init)
        self._set_parts(base, encoders, downstream, input_projection, order, concat_input)
        self.edge_dim = edge_dim
        self.derivative_scale = derivative_scale
        self.memory_budget = memory_budget
        self.compile_engine = bool(compile_engine)
        # supports reused while the same edge_index comes back (full-graph training on one graph)
        self.support_cache = SupportCache()
        self.register_load_state_dict_pre_hook(_rename_old_keys)
        if not from_parts:
            self.reset_parameters()

    def _set_parts(
        self,
        base: nn.Module,
        encoders: DerivativeEncoders,
        downstream: DownstreamGNN,
        input_projection: nn.Module | None,
        order: int,
        concat_input: bool,
    ) -> None:
        """Check the parts against each other (:func:`~hodgnn.nn.hod_gnn_parts.check_parts`) and
        register them."""
        in_channels = check_parts(base, encoders, downstream, input_projection, order, concat_input)
        self.input_projection = nn.Identity() if input_projection is None else input_projection
        self.base = base
        self.encoders = encoders
        self.downstream = downstream
        self.in_channels = in_channels
        self.hidden_channels = encoders.out_channels
        self.out_channels = module_width(downstream.head, "out")
        self.order = order
        self.concat_input = bool(concat_input)

    # the encoders' parts and modes, under the keyword constructor's names
    u_out_encoder = property(lambda self: self.encoders.u_out, doc="``encoders.u_out``")
    u_node_encoder = property(lambda self: self.encoders.u_node, doc="``encoders.u_node``")
    u_mixed_encoder = property(lambda self: self.encoders.u_mixed, doc="``encoders.u_mixed``")
    combine = property(lambda self: self.encoders.combine, doc="``encoders.combine``")
    u_out = property(lambda self: self.encoders.u_out is not None, doc="Whether ``U_out`` is used.")
    u_node = property(lambda self: self.encoders.node_mode, doc="``'full'``, ``'diagonal'`` or ``'off'``.")
    k = property(lambda self: self.encoders.k, doc="``2`` with mixed derivatives, else ``1``.")

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for module in (self.input_projection, self.base, self.encoders, self.downstream):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if self.rwse_init:
            self.apply_rwse_init()

    def apply_rwse_init(self) -> None:
        """Constant-one base input and identity base MLPs (see the class docstring)."""
        apply_rwse_init(self.input_projection, self.base)

    def base_plan(self) -> BasePlan:
        """The base's structure (:func:`lower_structure`), lowered at every call (nothing cached)."""
        return lower_structure(self.base)

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
        self,
        edge_index: Tensor,
        num_nodes: int,
        ptr: Tensor | None = None,
        hops: Tensor | None = None,
        num_layers: int | None = None,
    ) -> DerivativeSupports:
        """The pair (and, for ``k = 2``, triple) supports the engine needs on this graph
        (:func:`~hodgnn.nn.hod_gnn_supports.derivative_supports`): from every graph's hop distances
        with ``ptr`` (``hops`` from :meth:`required_transforms`, else computed), else on the whole
        graph, cached while the same ``edge_index`` comes back. ``num_layers``: the base depth
        (lowered from the base when ``None``)."""
        if self.u_node == "off" and not self.u_out and self.k == 1:
            return DerivativeSupports()
        T = num_layers if num_layers is not None else self.base_plan().num_layers
        return derivative_supports(
            edge_index,
            num_nodes,
            T,
            self.diagonal_only,
            self.k == 2,
            self.support_cache,
            ptr,
            hops,
            self.memory_budget,
        )

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
            h = (
                self.base(x, edge_index)
                if edge_attr is None
                else self.base(x, edge_index, edge_attr=edge_attr)
            )
            result = DerivativeTensors(h)
        return result

    def encode_derivatives(
        self, derivatives: DerivativeTensors, x: Tensor, batch: Tensor, num_graphs: int
    ) -> Tensor:
        r""":math:`h^{der}` ``[n, hidden_channels]``: the encoders on ``derivatives``, concatenated
        with :math:`h^{(T)}` (and ``x``, the encoded node features), then ``combine``."""
        return self.encoders(derivatives, x if self.concat_input else None, batch, num_graphs)

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
        base_edge_attr = edge_attr if self.base_plan().needs("edge_attr") else None
        derivatives = self.compute_derivatives(self.input_projection(x), edge_index, base_edge_attr, supports)
        return self.encode_derivatives(derivatives, x, batch, num_graphs)

    def required_transforms(self) -> list:
        """:class:`~hodgnn.transforms.AddHopDistances` up to the base depth: every graph's hop
        distances are computed once, and each batch's pair support is assembled from them."""
        if self.u_node == "off" and not self.u_out and self.k == 1:
            return []
        return [AddHopDistances(self.base_plan().num_layers)]

    def batch_supports(self, data: Data, num_layers: int | None = None) -> DerivativeSupports:
        """:meth:`derivative_supports` of a PyG ``Data``/``Batch`` (its ``ptr`` and
        ``hop_distances`` when present)."""
        ptr, hops = _pointer_and_hops(data)
        return self.derivative_supports(data.edge_index, data.num_nodes, ptr, hops, num_layers)

    def forward(
        self,
        x: Tensor | BaseData,
        edge_index: Tensor | None = None,
        edge_attr: Tensor | None = None,
        batch: Tensor | None = None,
        num_graphs: int | None = None,
    ) -> Tensor:
        """``model(data)`` (a PyG ``Data``/``Batch``) or ``model(x, edge_index, edge_attr, batch)``
        (``batch=None``: one graph); both give the same outputs on the same graphs."""
        if isinstance(x, BaseData):
            if any(value is not None for value in (edge_index, edge_attr, batch, num_graphs)):
                raise TypeError("model(data) reads the graph from data; pass either data or tensors")
            data = x
            ptr, hops = _pointer_and_hops(data)
            x, edge_attr = self.encode_inputs(data)
            batch, num_graphs = graph_batch(data)
            edge_index = data.edge_index
        else:
            if edge_index is None:
                raise TypeError("model(x, edge_index, edge_attr=None, batch=None) needs edge_index")
            num_nodes = x.size(0) if x is not None else (batch.numel() if batch is not None else None)
            graph = Data(x=x, edge_index=edge_index, edge_attr=edge_attr, num_nodes=num_nodes)
            x, edge_attr = self.encode_inputs(graph)
            hops = None
            if batch is None:
                batch, num_graphs, ptr = torch.zeros(x.size(0), dtype=torch.long, device=x.device), 1, None
            else:
                if num_graphs is None:
                    num_graphs = int(batch.max()) + 1 if batch.numel() else 0
                ptr = batch_pointer(batch, num_graphs)
        plan = self.base_plan()
        if self.edge_dim is not None or plan.needs("edge_attr") or self.downstream.gnn.uses_edges:
            if edge_attr is None:
                raise ValueError(
                    "the model reads edge features (edge_dim, base or downstream GNN); edge_attr is missing"
                )
        else:
            edge_attr = None
        supports = self.derivative_supports(edge_index, x.size(0), ptr, hops, plan.num_layers)
        base_edge_attr = edge_attr if plan.needs("edge_attr") else None
        derivatives = self.compute_derivatives(self.input_projection(x), edge_index, base_edge_attr, supports)
        h = self.encode_derivatives(derivatives, x, batch, num_graphs)
        downstream_edge_attr = edge_attr if self.downstream.gnn.uses_edges else None
        return self.downstream(h, edge_index, batch, num_graphs, downstream_edge_attr)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, {self.out_channels}, "
            f"k={self.k}, order={self.order}, base={self.base!r}, u_out={self.u_out}, "
            f"u_node={self.u_node!r}, conv={self.downstream.gnn.conv!r})"
        )


_BUILDER_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(HODGNN.__init__).parameters.items()
    if name in BUILDER_OPTIONS
}
