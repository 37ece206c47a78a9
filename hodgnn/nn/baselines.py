r"""Baselines compared with HOD-GNN, built on the same input encoders and the same
:class:`~hodgnn.nn.downstream.DownstreamGNN` (message passing, pooling, task head).

* :class:`MPNNBaseline`: GIN, GINE or GCN, optionally with random-walk structural encodings
  (RWSE, PyG's ``AddRandomWalkPE``, Dwivedi et al. 2022) and/or derivative encodings of a frozen
  base MPNN (:class:`~hodgnn.transforms.AddDerivativeEncoding`);
* :class:`DSGNN`: DS-GNN (Bevilacqua et al., ICLR 2022) with node marking over the full bag of
  :math:`n` subgraphs per graph.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.transforms import AddRandomWalkPE

from hodgnn.checks import check_choice, check_int
from hodgnn.derivatives.memory import SUBGRAPH_BAG, check_memory
from hodgnn.nn.downstream import (
    DOWNSTREAM_CONVS,
    POOLINGS,
    DownstreamGNN,
    GNNStack,
    graph_batch,
    used_edge_attr,
)
from hodgnn.nn.graph_model import GraphModel
from hodgnn.nn.inputs import InputEncoder
from hodgnn.transforms import AddDerivativeEncoding


class MPNNBaseline(GraphModel):
    r"""A message-passing baseline: GIN, GINE or GCN on the encoded node features,
    optionally concatenated with encodings of RWSE and of derivative encodings (DPE).

    .. math::
        \hat y_G = T\big(x_v \,[\oplus\, \mathbf{W}\,\mathrm{BN}(\mathrm{RWSE}_v)]
            \,[\oplus\, \mathbf{W}'\,\mathrm{BN}(\mathrm{DPE}_v)]\big),
        \qquad \mathrm{RWSE}_v = \big(((D^{-1}A)^t)_{vv}\big)_{t=1}^{L}

    With RWSE the model reads ``data.rwse`` ``[n, L]``, with derivative encodings
    ``data.derivative_pe`` ``[n, K]``, added by the transforms that :meth:`required_transforms`
    returns (``AddRandomWalkPE(L, attr_name="rwse")``, ``AddDerivativeEncoding(**options)``).

    Args:
        in_channels (int): node feature width (after ``node_encoder``).
        hidden_channels (int): width of :math:`T` and the head.
        out_channels (int): outputs per graph.
        edge_dim (int, optional): edge feature width (after ``edge_encoder``). (default: ``None``)
        conv (str, optional): ``"gin"``, ``"gine"`` or ``"gcn"``. (default: ``"gin"``)
        rwse_walk_length (int, optional): RWSE length :math:`L`; ``None`` or ``0`` turns RWSE
            off. (default: ``None``)
        rwse_channels (int, optional): width of the RWSE encoding. (default: ``16``)
        derivative_encoding (dict, optional): options of
            :class:`~hodgnn.transforms.AddDerivativeEncoding` (its frozen base is built from
            them); ``None`` turns derivative encodings off. (default: ``None``)
        derivative_channels (int, optional): width of the derivative-encoding encoder.
            (default: ``16``)
        num_layers, dropout, pooling, act, head_layers, batch_norm, residual: see
            :class:`~hodgnn.nn.downstream.DownstreamGNN` (defaults ``4``, ``0.``, ``"sum"``,
            ``"relu"``, ``2``, ``True``, ``True``).
        node_encoder (InputEncoder, optional): raw node features to ``in_channels``.
        edge_encoder (InputEncoder, optional): raw edge features to ``edge_dim``.

    Shapes:
        - **input:** a PyG ``Batch`` (``x``, ``edge_index``, ``batch``, ``edge_attr``,
          ``rwse``, ``derivative_pe``)
        - **output:** ``[num_graphs, out_channels]`` (``[n, out_channels]`` with ``pooling="none"``)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        edge_dim: int | None = None,
        *,
        conv: str = "gin",
        rwse_walk_length: int | None = None,
        rwse_channels: int = 16,
        derivative_encoding: dict | None = None,
        derivative_channels: int = 16,
        num_layers: int = 4,
        dropout: float = 0.0,
        pooling: str = "sum",
        act: str = "relu",
        head_layers: int = 2,
        batch_norm: bool = True,
        residual: bool = True,
        node_encoder: InputEncoder | None = None,
        edge_encoder: InputEncoder | None = None,
    ):
        super().__init__(node_encoder, edge_encoder)
        check_int("in_channels", in_channels, 1)
        check_choice("conv", conv, DOWNSTREAM_CONVS)
        rwse_walk_length = rwse_walk_length or 0
        check_int("rwse_walk_length", rwse_walk_length, 0)
        check_int("rwse_channels", rwse_channels, 1)
        self.edge_dim = edge_dim if conv == "gine" else None
        if conv == "gine" and edge_dim is None:
            raise ValueError("conv='gine' needs edge features (edge_dim); use conv='gin' or 'gcn'")
        self.rwse_walk_length = rwse_walk_length
        if rwse_walk_length:
            self.rwse_encoder = nn.Sequential(
                nn.BatchNorm1d(rwse_walk_length), nn.Linear(rwse_walk_length, rwse_channels)
            )
            in_channels += rwse_channels
        else:
            self.rwse_encoder = None
        self.derivative_transform, self.derivative_encoder = None, None
        if derivative_encoding:
            check_int("derivative_channels", derivative_channels, 1)
            options = {**derivative_encoding, "attr_name": "derivative_pe"}
            self.derivative_transform = AddDerivativeEncoding(**options)
            width = self.derivative_transform.num_channels
            self.derivative_encoder = nn.Sequential(
                nn.BatchNorm1d(width), nn.Linear(width, derivative_channels)
            )
            in_channels += derivative_channels
        self.downstream = DownstreamGNN.from_options(
            in_channels, hidden_channels, out_channels, self.edge_dim, locals()
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for encoder in (self.rwse_encoder, self.derivative_encoder):
            if encoder is not None:
                for module in encoder:
                    module.reset_parameters()
        self.downstream.reset_parameters()

    def required_transforms(self) -> list:
        transforms = []
        if self.rwse_walk_length:
            transforms.append(AddRandomWalkPE(self.rwse_walk_length, attr_name="rwse"))
        if self.derivative_transform is not None:
            transforms.append(self.derivative_transform)
        return transforms

    @staticmethod
    def _encoding(data: Data, name: str, width: int, num_nodes: int) -> Tensor:
        """``data[name]`` ``[n, width]``, or a ``ValueError`` saying what is missing or wrong."""
        value = getattr(data, name, None)
        if value is None:
            raise ValueError(f"data.{name} is missing: apply model.required_transforms() to the dataset")
        if value.shape != (num_nodes, width):
            raise ValueError(f"data.{name} has shape {tuple(value.shape)}, expected [{num_nodes}, {width}]")
        return value

    def forward(self, data: Data) -> Tensor:
        x, edge_attr = self.encode_inputs(data)
        parts = [x]
        if self.rwse_encoder is not None:
            rwse = self._encoding(data, "rwse", self.rwse_walk_length, x.size(0))
            parts.append(self.rwse_encoder(rwse.to(x.dtype)))
        if self.derivative_encoder is not None:
            width = self.derivative_transform.num_channels
            encoding = self._encoding(data, "derivative_pe", width, x.size(0))
            parts.append(self.derivative_encoder(encoding.to(x.dtype)))
        x = torch.cat(parts, dim=-1)
        batch, num_graphs = graph_batch(data)
        edge_attr = used_edge_attr(edge_attr, self.edge_dim)
        return self.downstream(x, data.edge_index, batch, num_graphs, edge_attr)


def subgraph_bag(edge_index: Tensor, batch: Tensor, num_graphs: int) -> dict[str, Tensor]:
    r"""The full bag of node-marked subgraphs: for every node :math:`r` a copy of its graph.

    Bag node :math:`(r, v)` (root :math:`r`, :math:`v` in the graph of :math:`r`) and bag
    edge :math:`((r, a), (r, b))` for every edge :math:`a \to b` of that graph.

    Returns a dict with ``root [N_bag]`` and ``node [N_bag]`` (the original node of each bag
    node), ``edge_index [2, E_bag]`` and ``edge_id [E_bag]`` (the original edge), where
    :math:`N_{bag} = \sum_G n_G^2` and :math:`E_{bag} = \sum_G n_G E_G`.
    """
    sizes = torch.bincount(batch, minlength=num_graphs)
    ptr = torch.cumsum(sizes, 0) - sizes
    per_root = sizes[batch]  # bag nodes of every root
    root = torch.repeat_interleave(torch.arange(batch.numel(), device=batch.device), per_root)
    root_start = torch.cumsum(per_root, 0) - per_root  # first bag node of every root's subgraph
    offset = torch.arange(root.numel(), device=batch.device) - root_start[root]
    node = ptr[batch[root]] + offset
    src, dst = edge_index
    edge_graph = batch[src]
    copies = sizes[edge_graph]  # one copy of the edge per root of its graph
    edge_id = torch.repeat_interleave(torch.arange(src.numel(), device=batch.device), copies)
    copy_start = torch.cumsum(copies, 0) - copies
    root_of_copy = ptr[edge_graph[edge_id]] + torch.arange(edge_id.numel(), device=batch.device)
    root_of_copy = root_of_copy - copy_start[edge_id]
    base = root_start[root_of_copy] - ptr[edge_graph[edge_id]]
    bag_edges = torch.stack([base + src[edge_id], base + dst[edge_id]])
    return {"root": root, "node": node, "edge_index": bag_edges, "edge_id": edge_id}


def ds_gnn_bytes(
    num_bag_nodes: int, num_bag_edges: int, channels: int, num_layers: int, itemsize: int
) -> int:
    """Estimated bytes kept for backward by the shared GNN on the bag: per layer about eight
    node-sized activations (conv output, the MLP's linear/norm/activation outputs, norm,
    activation, residual) and three edge-sized ones (gathered messages, edge projection,
    activation), plus the input and marking, plus the integer bag indices."""
    per_channel = num_bag_nodes * (8 * num_layers + 3) + num_bag_edges * 3 * num_layers
    activations = channels * itemsize * per_channel
    indices = 8 * (2 * num_bag_nodes + 3 * num_bag_edges)
    return activations + indices


class DSGNN(GraphModel):
    r"""DS-GNN with node marking over the full bag of subgraphs (Bevilacqua et al., 2022).

    Every node :math:`r` roots one subgraph: a copy of its graph whose node :math:`r` is
    marked (a learned mark vector is added to its features). A shared GNN runs on every
    subgraph, node embeddings are pooled within each subgraph (``subgraph_pooling``) and the
    result becomes the feature of the root :math:`r`; the shared
    :class:`~hodgnn.nn.downstream.DownstreamGNN` then pools across the bag (over the roots)
    and predicts. ``num_layers=0`` gives the classic DS-GNN readout (pooling + head only).

    .. math::
        s_r = \mathrm{pool}_{v \in G}\, \mathrm{GNN}\big(\{x_v + [v = r]\,\mu\}_{v}, E\big)_v,
        \qquad \hat y_G = T(s_r \,[\oplus\, x_r])

    Memory grows with :math:`\sum_G n_G^2` bag nodes; the estimate of
    :func:`ds_gnn_bytes` is checked against ``memory_budget`` with
    :func:`hodgnn.derivatives.memory.check_memory` before the bag is built.

    Args:
        in_channels (int): node feature width (after ``node_encoder``).
        hidden_channels (int): width of :math:`T` and the head.
        out_channels (int): outputs per graph.
        edge_dim (int, optional): edge feature width (after ``edge_encoder``). (default: ``None``)
        subgraph_conv (str, optional): conv of the shared subgraph GNN.
            (default: ``"gine"`` with ``edge_dim``, else ``"gin"``)
        subgraph_layers (int, optional): depth of the shared GNN. (default: ``3``)
        subgraph_channels (int, optional): its width. (default: ``hidden_channels``)
        subgraph_pooling (str, optional): ``"sum"`` or ``"mean"`` within a subgraph.
            (default: ``"mean"``)
        concat_input (bool, optional): concatenate :math:`x_r` to :math:`s_r`. (default: ``True``)
        memory_budget (int, optional): bytes allowed for the bag (else
            ``$HODGNN_MEMORY_BUDGET`` or 8 GiB). (default: ``None``)
        conv (str, optional): downstream conv. (default: ``"gine"`` with ``edge_dim``, else ``"gin"``)
        num_layers, dropout, pooling, act, head_layers, batch_norm, residual: see
            :class:`~hodgnn.nn.downstream.DownstreamGNN` (defaults ``4``, ``0.``, ``"sum"``,
            ``"relu"``, ``2``, ``True``, ``True``); ``dropout``, ``act``, ``batch_norm`` and
            ``residual`` also apply to the shared subgraph GNN.
        node_encoder (InputEncoder, optional): raw node features to ``in_channels``.
        edge_encoder (InputEncoder, optional): raw edge features to ``edge_dim``.

    Shapes:
        - **input:** a PyG ``Batch`` (``x``, ``edge_index``, ``batch``, ``edge_attr``)
        - **output:** ``[num_graphs, out_channels]`` (``[n, out_channels]`` with ``pooling="none"``)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        edge_dim: int | None = None,
        *,
        subgraph_conv: str | None = None,
        subgraph_layers: int = 3,
        subgraph_channels: int | None = None,
        subgraph_pooling: str = "mean",
        concat_input: bool = True,
        memory_budget: int | None = None,
        conv: str | None = None,
        num_layers: int = 4,
        dropout: float = 0.0,
        pooling: str = "sum",
        act: str = "relu",
        head_layers: int = 2,
        batch_norm: bool = True,
        residual: bool = True,
        node_encoder: InputEncoder | None = None,
        edge_encoder: InputEncoder | None = None,
    ):
        super().__init__(node_encoder, edge_encoder)
        check_int("in_channels", in_channels, 1)
        default_conv = "gine" if edge_dim is not None else "gin"
        subgraph_conv = subgraph_conv if subgraph_conv is not None else default_conv
        conv = conv if conv is not None else default_conv
        check_choice("subgraph_conv", subgraph_conv, DOWNSTREAM_CONVS)
        check_choice("subgraph_pooling", subgraph_pooling, POOLINGS)
        subgraph_channels = subgraph_channels if subgraph_channels is not None else hidden_channels
        check_int("subgraph_channels", subgraph_channels, 1)
        check_int("subgraph_layers", subgraph_layers, 1)
        self.edge_dim = edge_dim
        self.subgraph_layers = subgraph_layers
        self.subgraph_channels = subgraph_channels
        self.subgraph_pooling = subgraph_pooling
        self.concat_input = bool(concat_input)
        self.memory_budget = memory_budget
        self.subgraph_input = nn.Linear(in_channels, subgraph_channels)
        self.mark = nn.Embedding(2, subgraph_channels)
        self.subgraph_gnn = GNNStack(
            subgraph_channels,
            subgraph_layers,
            subgraph_conv,
            edge_dim,
            act=act,
            dropout=dropout,
            batch_norm=batch_norm,
            residual=residual,
        )
        root_channels = subgraph_channels + (in_channels if self.concat_input else 0)
        self.downstream = DownstreamGNN.from_options(
            root_channels, hidden_channels, out_channels, edge_dim, locals()
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.subgraph_input.reset_parameters()
        self.mark.reset_parameters()
        self.subgraph_gnn.reset_parameters()
        self.downstream.reset_parameters()

    def estimate_bytes(self, batch: Tensor, edge_index: Tensor, num_graphs: int, itemsize: int) -> int:
        """:func:`ds_gnn_bytes` for a batch, from its graph sizes alone."""
        sizes = torch.bincount(batch, minlength=num_graphs)
        edges = torch.bincount(batch[edge_index[0]], minlength=num_graphs)
        num_bag_nodes = int((sizes * sizes).sum())
        num_bag_edges = int((sizes * edges).sum())
        channels, layers = self.subgraph_channels, self.subgraph_layers
        return ds_gnn_bytes(num_bag_nodes, num_bag_edges, channels, layers, itemsize)

    def root_embeddings(
        self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None, batch: Tensor, num_graphs: int
    ) -> Tensor:
        r""":math:`s_r` ``[n, subgraph_channels]``: the pooled embedding of the subgraph rooted
        at every node, from the encoded node (and edge) features."""
        estimate = self.estimate_bytes(batch, edge_index, num_graphs, x.element_size())
        check_memory(estimate, self.memory_budget, SUBGRAPH_BAG)
        bag = subgraph_bag(edge_index, batch, num_graphs)
        marked = (bag["root"] == bag["node"]).long()
        h = self.subgraph_input(x)[bag["node"]] + self.mark(marked)
        bag_edge_attr = edge_attr[bag["edge_id"]] if edge_attr is not None else None
        h = self.subgraph_gnn(h, bag["edge_index"], bag_edge_attr)
        return POOLINGS[self.subgraph_pooling](h, bag["root"], x.size(0))

    def forward(self, data: Data) -> Tensor:
        x, edge_attr = self.encode_inputs(data)
        edge_attr = used_edge_attr(edge_attr, self.edge_dim)
        batch, num_graphs = graph_batch(data)
        roots = self.root_embeddings(x, data.edge_index, edge_attr, batch, num_graphs)
        if self.concat_input:
            roots = torch.cat([roots, x], dim=-1)
        downstream_edge_attr = edge_attr if self.downstream.gnn.uses_edges else None
        return self.downstream(roots, data.edge_index, batch, num_graphs, downstream_edge_attr)
