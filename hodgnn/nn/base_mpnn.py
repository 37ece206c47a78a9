r"""The base MPNN whose derivatives HOD-GNN uses.

Every layer is a linear (or, for GINE, edge-wise) aggregation followed by a node-wise MLP.
This split is what makes exact derivatives cheap: aggregation is linear in the node states, so
derivatives aggregate exactly like features; the MLP acts on each node alone, so derivatives
pass through it by Faa di Bruno's formula (see :mod:`hodgnn.derivatives`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hodgnn.checks import check_choice, check_int
from hodgnn.derivatives.activations import Activation, resolve_activation
from hodgnn.derivatives.plan import Aggregation, GraphInputs, LayerPlan, fold_node_ops
from hodgnn.derivatives.rules import gcn_weights

CONVS = ("gin", "gcn", "mean", "gine")


def aggregation_weights(
    conv: str, edge_index: Tensor, num_nodes: int, eps: Tensor, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    r"""Self and edge weights of a linear aggregation :math:`\tilde h = W h`.

    .. math::
        \tilde h_v = s_v h_v + \sum_{(w \to v) \in E} a_{wv} h_w

    * ``gin``/``gine``: :math:`s_v = 1 + \epsilon`, :math:`a_{wv} = 1` (sum);
    * ``mean``: :math:`s_v = 1 + \epsilon`, :math:`a_{wv} = 1 / \deg(v)` (random walk
      :math:`D^{-1} A`; isolated nodes aggregate nothing);
    * ``gcn``: PyG's ``GCNConv`` normalisation
      :math:`\hat A = \hat D^{-1/2} (A + I) \hat D^{-1/2}` with :math:`\hat D = D + I`, so
      :math:`s_v = 1 / \hat d_v` and :math:`a_{wv} = 1 / \sqrt{\hat d_w \hat d_v}`; a node's
      existing self-loop takes the place of the added one
      (:func:`~hodgnn.derivatives.rules.gcn_weights`).

    Duplicate edges count with their multiplicity; for the other convs self-loops in
    ``edge_index`` are ordinary edges. Returns ``(self_weight [n], edge_weight [E])``.
    """
    src, dst = edge_index
    ones = torch.ones(src.numel(), dtype=dtype, device=edge_index.device)
    in_degree = torch.zeros(num_nodes, dtype=dtype, device=edge_index.device).index_add_(0, dst, ones)
    if conv in ("gin", "gine"):
        return (1.0 + eps).expand(num_nodes).to(dtype), ones
    if conv == "mean":
        inv = torch.where(in_degree > 0, 1.0 / in_degree.clamp(min=1), torch.zeros_like(in_degree))
        return (1.0 + eps).expand(num_nodes).to(dtype), inv[dst]
    if conv == "gcn":
        return gcn_weights(edge_index, num_nodes, dtype)
    raise ValueError(f"unknown conv {conv!r}; choose one of {list(CONVS)}")


class MPNNLayer(nn.Module):
    r"""One base-MPNN layer: aggregation, then a node-wise MLP.

    .. math::
        \tilde h_v = s_v h_v + \sum_{w \to v} a_{wv}\, m_{wv}, \qquad
        h'_v = \sigma(W_L \cdots \sigma(W_1 \tilde h_v + b_1) \cdots + b_L)

    with :math:`m_{wv} = h_w` for the linear convs and
    :math:`m_{wv} = \sigma(h_w + W_e e_{wv})` for ``gine``.

    Args:
        in_channels (int): input width.
        out_channels (int): output width.
        conv (str, optional): ``"gin"``, ``"gcn"``, ``"mean"`` or ``"gine"``. (default: ``"gin"``)
        act (str, optional): activation name. (default: ``"silu"``)
        edge_dim (int, optional): edge feature width, required by ``gine``. (default: ``None``)
        eps (float, optional): initial :math:`\epsilon` of the self term. (default: ``0.``)
        train_eps (bool, optional): learn :math:`\epsilon`. (default: ``False``)
        num_mlp_layers (int, optional): linear layers in the MLP. (default: ``2``)
        bias (bool, optional): biases in the MLP. (default: ``True``)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        conv: str = "gin",
        act: str | Activation = "silu",
        edge_dim: int | None = None,
        eps: float = 0.0,
        train_eps: bool = False,
        num_mlp_layers: int = 2,
        bias: bool = True,
    ):
        super().__init__()
        check_choice("conv", conv, CONVS)
        if conv == "gine" and edge_dim is None:
            raise ValueError("conv='gine' needs edge_dim (the width of edge_attr)")
        check_int("num_mlp_layers", num_mlp_layers, 1)
        self.conv = conv
        self.act = resolve_activation(act)
        self.initial_eps = eps
        if train_eps:
            self.eps = nn.Parameter(torch.tensor([float(eps)]))
        else:
            self.register_buffer("eps", torch.tensor([float(eps)]))
        self.edge_lin = nn.Linear(edge_dim, in_channels) if conv == "gine" else None
        widths = [in_channels] + [out_channels] * num_mlp_layers
        self.linears = nn.ModuleList(
            nn.Linear(a, b, bias=bias) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.eps.data.fill_(self.initial_eps)
        if self.edge_lin is not None:
            self.edge_lin.reset_parameters()
        for lin in self.linears:
            lin.reset_parameters()

    def weights(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """``(self_weight [n], edge_weight [E])`` of the aggregation."""
        return aggregation_weights(self.conv, edge_index, num_nodes, self.eps, dtype)

    def edge_shift(self, edge_attr: Tensor) -> Tensor:
        """``W_e e_{wv}``: the constant that ``gine`` adds to each message, ``[E, in]``."""
        return self.edge_lin(edge_attr)

    def aggregate(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        src, dst = edge_index
        self_w, edge_w = self.weights(edge_index, h.size(0), h.dtype)
        if self.conv == "gine":
            messages = self.act(h[src] + self.edge_shift(edge_attr))
        else:
            messages = h[src] * edge_w.unsqueeze(-1)
        return (self_w.unsqueeze(-1) * h).index_add(0, dst, messages)

    def update(self, h: Tensor) -> Tensor:
        for lin in self.linears:
            h = self.act(lin(h))
        return h

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        return self.update(self.aggregate(h, edge_index, edge_attr))

    def derivative_plan(self, name: str = "layer") -> LayerPlan:
        """This layer in the derivative engine's form (:mod:`hodgnn.derivatives.plan`)."""

        def aggregation(graph: GraphInputs) -> Aggregation:
            self_w, edge_w = self.weights(graph.edge_index, graph.num_nodes, graph.dtype)
            if self.conv != "gine":
                return Aggregation(self_w, edge_w)
            if graph.edge_attr is None:
                raise ValueError(f"{name} uses conv='gine', which needs edge_attr")
            return Aggregation(self_w, None, self.edge_shift(graph.edge_attr), self.act)

        def node_steps():
            ops = [op for lin in self.linears for op in (("linear", lin.weight, lin.bias), ("act", self.act))]
            return fold_node_ops(ops, self.linears[0].in_features, self.linears[0].weight)

        return LayerPlan(
            name,
            self.linears[0].in_features,
            self.linears[-1].out_features,
            aggregation,
            node_steps,
            edge_messages=self.conv == "gine",
            learnable_aggregation=self.conv != "gcn" and bool(self.eps.requires_grad),
            needs=("edge_attr",) if self.conv == "gine" else (),
        )


class BaseMPNN(nn.Module):
    r"""The base MPNN :math:`M` of HOD-GNN: ``num_layers`` :class:`MPNNLayer` s.

    A plain ``torch.nn.Module``: ``base(x, edge_index, edge_attr)`` returns :math:`h^{(T)}`
    using ordinary autograd-differentiable operations, which is how the derivative engine is
    checked. :func:`hodgnn.derivatives.node_derivatives` reads the same layers to propagate
    exact high-order derivatives.

    Args:
        in_channels (int): input node feature width :math:`F`.
        hidden_channels (int): width :math:`d` of every layer.
        num_layers (int): number of layers :math:`T`.
        conv (str, optional): ``"gin"``, ``"gcn"``, ``"mean"`` or ``"gine"``. (default: ``"gin"``)
        act (str, optional): ``"identity"``, ``"relu"``, ``"tanh"``, ``"sigmoid"``,
            ``"softplus"``, ``"silu"``, ``"gelu"`` or ``"elu"``. (default: ``"silu"``)
        edge_dim (int, optional): edge feature width (``gine``). (default: ``None``)
        eps (float, optional): initial self-term :math:`\epsilon`. (default: ``0.``)
        train_eps (bool, optional): learn :math:`\epsilon`. (default: ``False``)
        num_mlp_layers (int, optional): linear layers per MLP. (default: ``2``)
        bias (bool, optional): biases in the MLPs. (default: ``True``)

    Shapes:
        - **input:** node features :math:`(n, F)`, edge indices :math:`(2, E)`,
          edge features :math:`(E, D)` *(optional)*
        - **output:** node states :math:`(n, d)`, or a list of the :math:`T` layer outputs
          with ``return_all=True``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        conv: str = "gin",
        act: str = "silu",
        edge_dim: int | None = None,
        eps: float = 0.0,
        train_eps: bool = False,
        num_mlp_layers: int = 2,
        bias: bool = True,
    ):
        super().__init__()
        check_int("num_layers", num_layers, 1)
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.conv = conv
        self.edge_dim = edge_dim
        self.layers = nn.ModuleList(
            MPNNLayer(
                in_channels if t == 0 else hidden_channels,
                hidden_channels,
                conv=conv,
                act=act,
                edge_dim=edge_dim,
                eps=eps,
                train_eps=train_eps,
                num_mlp_layers=num_mlp_layers,
                bias=bias,
            )
            for t in range(num_layers)
        )

    @property
    def act(self) -> Activation:
        return self.layers[0].act

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def derivative_layers(self) -> list[LayerPlan]:
        """Every layer in the derivative engine's form (see :func:`hodgnn.derivatives.rules.lower`)."""
        return [layer.derivative_plan(f"base.layers.{t}") for t, layer in enumerate(self.layers)]

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        return_all: bool = False,
    ) -> Tensor | list[Tensor]:
        outputs = []
        h = x
        for layer in self.layers:
            h = layer(h, edge_index, edge_attr)
            outputs.append(h)
        return outputs if return_all else h

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, "
            f"num_layers={self.num_layers}, conv={self.conv!r}, act={self.act.name!r})"
        )
