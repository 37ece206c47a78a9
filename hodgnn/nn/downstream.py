r"""The downstream GNN :math:`T`, pooling and task head shared by HOD-GNN and every baseline.

Every model of :mod:`hodgnn.nn` computes node features its own way (derivative features,
random-walk encodings, subgraph embeddings, or just the encoded inputs) and hands them to the
same :class:`DownstreamGNN`, built from the same constructor options
(:meth:`DownstreamGNN.from_options`), so comparisons differ only in the model.
:func:`graph_batch` and :func:`used_edge_attr` read what it needs from a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP, GCNConv, GINConv, GINEConv, global_add_pool, global_mean_pool
from torch_geometric.nn.resolver import activation_resolver

from hodgnn.checks import check_choice, check_dropout, check_int

DOWNSTREAM_CONVS = ("gine", "gin", "gcn")
POOLINGS = {"sum": global_add_pool, "mean": global_mean_pool}
NODE_LEVEL = "none"
"""The ``pooling`` of node-level tasks: the head predicts for every node."""
DOWNSTREAM_ACTS = ("relu", "gelu", "silu", "elu", "tanh")
DOWNSTREAM_OPTIONS = (
    "num_layers",
    "conv",
    "pooling",
    "act",
    "dropout",
    "head_layers",
    "batch_norm",
    "residual",
)
"""The constructor options every model hands to its :class:`DownstreamGNN` unchanged."""


def graph_batch(data: Data) -> tuple[Tensor, int]:
    """``(batch [n], num_graphs)`` of a PyG ``Batch`` (or of a single ``Data``: one graph)."""
    batch = getattr(data, "batch", None)
    if batch is None:
        return torch.zeros(data.num_nodes, dtype=torch.long, device=data.edge_index.device), 1
    num_graphs = getattr(data, "num_graphs", None)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    return batch, int(num_graphs)


def used_edge_attr(edge_attr: Tensor | None, edge_dim: int | None) -> Tensor | None:
    """``edge_attr`` when the model was built with ``edge_dim``, else ``None``; raises a
    ``ValueError`` when the model needs edge features the data lacks."""
    if edge_dim is None:
        return None
    if edge_attr is None:
        raise ValueError(f"the model was built with edge_dim={edge_dim} but data.edge_attr is missing")
    return edge_attr


class GNNStack(nn.Module):
    r"""``num_layers`` residual message-passing layers of a fixed width.

    .. math::
        h^{(l+1)} = h^{(l)} + \mathrm{Dropout}(\sigma(\mathrm{BN}(\mathrm{Conv}(h^{(l)}, E))))

    with ``Conv`` one of PyG's :class:`GINEConv` (edge features), :class:`GINConv` or
    :class:`GCNConv`; the GIN/GINE update is a two-layer MLP with batch normalisation.

    Args:
        channels (int): node width (input and output).
        num_layers (int): number of layers (``0`` is the identity).
        conv (str, optional): ``"gine"``, ``"gin"`` or ``"gcn"``. (default: ``"gin"``)
        edge_dim (int, optional): edge feature width; ``gine`` needs it (edge features are
            projected to ``channels``). (default: ``None``)
        act (str, optional): activation. (default: ``"relu"``)
        dropout (float, optional): dropout after every layer. (default: ``0.``)
        batch_norm (bool, optional): batch normalisation after every conv. (default: ``True``)
        residual (bool, optional): residual connections. (default: ``True``)

    Shapes:
        - **input:** ``x [n, channels]``, ``edge_index [2, E]``, ``edge_attr [E, edge_dim]``
        - **output:** ``[n, channels]``
    """

    def __init__(
        self,
        channels: int,
        num_layers: int,
        conv: str = "gin",
        edge_dim: int | None = None,
        act: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = True,
        residual: bool = True,
    ):
        super().__init__()
        check_choice("conv", conv, DOWNSTREAM_CONVS)
        check_choice("act", act, DOWNSTREAM_ACTS)
        check_int("num_layers", num_layers, 0)
        check_dropout(dropout)
        if conv == "gine" and edge_dim is None:
            raise ValueError("conv='gine' needs edge features (edge_dim); use conv='gin' or 'gcn'")
        self.conv = conv
        self.uses_edges = conv == "gine"
        self.residual = residual
        self.dropout = float(dropout)
        self.act = activation_resolver(act)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            if conv == "gcn":
                layer = GCNConv(channels, channels)
            else:
                update = MLP([channels, channels, channels], act=act, norm="batch_norm")
                if conv == "gin":
                    layer = GINConv(update, train_eps=True)
                else:
                    layer = GINEConv(update, train_eps=True, edge_dim=edge_dim)
            self.convs.append(layer)
            self.norms.append(nn.BatchNorm1d(channels) if batch_norm else nn.Identity())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            conv.reset_parameters()
            if isinstance(norm, nn.BatchNorm1d):
                norm.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = conv(x, edge_index, edge_attr) if self.uses_edges else conv(x, edge_index)
            h = nn.functional.dropout(self.act(norm(h)), self.dropout, self.training)
            x = x + h if self.residual else h
        return x


class DownstreamGNN(nn.Module):
    r"""The downstream GNN :math:`T`, graph pooling and task head.

    .. math::
        \hat y_G = \mathrm{MLP}_{head}\Big(\mathrm{pool}_{v \in G}\,
            \mathrm{GNN}(\mathbf{W}_{in} h_v, E)\Big)

    With ``pooling="none"`` (node-level tasks) the head predicts for every node,
    :math:`\hat y_v = \mathrm{MLP}_{head}(\mathrm{GNN}(\mathbf{W}_{in} h, E)_v)`.

    The head outputs logits for classification tasks (binary, multi-label: one logit per
    task; multiclass: one per class) and raw values for regression; the loss is the trainer's.

    Args:
        in_channels (int): width of the node features handed over by the model.
        hidden_channels (int): width of the GNN and the head.
        out_channels (int): number of outputs (tasks or classes).
        num_layers (int, optional): message-passing layers (``0``: pooling and head only).
            (default: ``4``)
        conv (str, optional): ``"gine"``, ``"gin"`` or ``"gcn"``. (default: ``"gin"``)
        edge_dim (int, optional): edge feature width (``gine``). (default: ``None``)
        pooling (str, optional): ``"sum"``, ``"mean"`` or ``"none"`` (node-level outputs).
            (default: ``"sum"``)
        act (str, optional): activation. (default: ``"relu"``)
        dropout (float, optional): dropout in the GNN and the head. (default: ``0.``)
        head_layers (int, optional): linear layers of the head. (default: ``2``)
        batch_norm (bool, optional): batch normalisation in the GNN. (default: ``True``)
        residual (bool, optional): residual connections in the GNN. (default: ``True``)

    Shapes:
        - **input:** ``x [n, in_channels]``, ``edge_index [2, E]``, ``batch [n]``,
          ``edge_attr [E, edge_dim]`` *(optional)*
        - **output:** ``[num_graphs, out_channels]``, or ``[n, out_channels]`` with
          ``pooling="none"``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 4,
        conv: str = "gin",
        edge_dim: int | None = None,
        pooling: str = "sum",
        act: str = "relu",
        dropout: float = 0.0,
        head_layers: int = 2,
        batch_norm: bool = True,
        residual: bool = True,
    ):
        super().__init__()
        check_choice("pooling", pooling, (*POOLINGS, NODE_LEVEL))
        check_int("head_layers", head_layers, 1)
        check_int("hidden_channels", hidden_channels, 1)
        check_int("out_channels", out_channels, 1)
        self.pooling = pooling
        self.input = nn.Linear(in_channels, hidden_channels)
        self.gnn = GNNStack(hidden_channels, num_layers, conv, edge_dim, act, dropout, batch_norm, residual)
        channels = [hidden_channels] * head_layers + [out_channels]
        self.head = MLP(channels, act=act, norm=None, dropout=dropout)
        self.reset_parameters()

    @classmethod
    def from_options(
        cls,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        edge_dim: int | None,
        options: Mapping[str, Any],
    ) -> DownstreamGNN:
        """The downstream GNN of a model, from the model's options.

        Args:
            in_channels, hidden_channels, out_channels, edge_dim: as for the constructor.
            options: a mapping that holds every name of :data:`DOWNSTREAM_OPTIONS` (``num_layers``,
                ``conv``, ``pooling``, ``act``, ``dropout``, ``head_layers``, ``batch_norm``,
                ``residual``); other keys are ignored, so a model's constructor passes ``locals()``.
        """
        missing = [name for name in DOWNSTREAM_OPTIONS if name not in options]
        if missing:
            raise TypeError(f"DownstreamGNN.from_options: options lack {missing}")
        chosen = {name: options[name] for name in DOWNSTREAM_OPTIONS}
        return cls(in_channels, hidden_channels, out_channels, edge_dim=edge_dim, **chosen)

    def reset_parameters(self) -> None:
        self.input.reset_parameters()
        self.gnn.reset_parameters()
        self.head.reset_parameters()

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor,
        num_graphs: int,
        edge_attr: Tensor | None = None,
    ) -> Tensor:
        h = self.gnn(self.input(x), edge_index, edge_attr)
        if self.pooling == NODE_LEVEL:
            return self.head(h)
        return self.head(POOLINGS[self.pooling](h, batch, num_graphs))
