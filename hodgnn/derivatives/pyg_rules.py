r"""Propagation rules for PyTorch Geometric's layers and models
(see :mod:`hodgnn.derivatives.rules` for the tables and :mod:`hodgnn.derivatives.plan` for the
form every rule produces).

Convs, as PyG computes them (``flow="source_to_target"``):

* ``GINConv``: :math:`\mathrm{nn}((1 + \epsilon) h_v + \sum_w h_w)`;
* ``GINEConv``: :math:`\mathrm{nn}((1 + \epsilon) h_v + \sum_w \mathrm{ReLU}(h_w + \mathrm{lin}(e_{wv})))`;
* ``GCNConv``: :math:`\hat D^{-1/2} \hat A \hat D^{-1/2} h W^\top + b` with PyG's
  ``gcn_norm`` (remaining self-loops of weight 1, or 2 with ``improved``; an existing self-loop
  keeps its weight); the product commutes with the node-wise :math:`W`, so it aggregates first;
* ``SAGEConv`` (``aggr`` mean or sum): :math:`W_l\, \mathrm{aggr}_w h_w + W_r h_v + b`, a split
  aggregation followed by :math:`[W_l \| W_r]`;
* ``GraphConv`` (``aggr`` sum or mean, edge weights): :math:`W_1\, \mathrm{aggr}_w\, e_{wv} h_w
  + W_2 h_v + b`, likewise.

Node-wise: ``torch_geometric.nn.Linear``, ``torch_geometric.nn.norm.BatchNorm`` (eval mode),
``torch_geometric.nn.MLP``. Models: any ``BasicGNN`` (``GIN``, ``GCN``, ``GraphSAGE``, ...) whose
convs have rules and without jumping knowledge, and a chain ``torch_geometric.nn.Sequential``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, GINConv, GINEConv, GraphConv, SAGEConv
from torch_geometric.nn import Linear as PygLinear
from torch_geometric.nn import Sequential as PygSequential
from torch_geometric.nn.models import MLP
from torch_geometric.nn.models.basic_gnn import BasicGNN
from torch_geometric.nn.norm import BatchNorm as PygBatchNorm

from hodgnn.derivatives.activations import ACTIVATIONS
from hodgnn.derivatives.plan import Aggregation, GraphInputs, NodeOp
from hodgnn.derivatives.rules import (
    NODE_RULES,
    activation_of,
    conv_rule,
    gcn_weights,
    mean_weights,
    model_rule,
    node_ops,
    node_rule,
    refuse,
)


def _check_flow(conv: nn.Module, name: str) -> None:
    if getattr(conv, "flow", "source_to_target") != "source_to_target":
        raise refuse(conv, name, "only flow='source_to_target' is supported")


def _edge_weight(graph: GraphInputs) -> Tensor:
    if graph.edge_weight is None:
        return torch.ones(graph.edge_index.size(1), dtype=graph.dtype, device=graph.edge_index.device)
    return graph.edge_weight.to(graph.dtype)


def _eps_self_weight(conv: nn.Module, graph: GraphInputs) -> Tensor:
    return (1.0 + conv.eps).to(graph.dtype).expand(graph.num_nodes)


def _width(linear: nn.Module) -> tuple[int, int]:
    return linear.weight.size(1), linear.weight.size(0)


@conv_rule(GINConv)
def _gin(conv: GINConv, name: str):
    _check_flow(conv, name)

    def aggregation(graph: GraphInputs) -> Aggregation:
        ones = torch.ones(graph.edge_index.size(1), dtype=graph.dtype, device=graph.edge_index.device)
        return Aggregation(_eps_self_weight(conv, graph), ones)

    first = _first_linear(conv.nn, f"{name}.nn")
    info = {
        "in_channels": first.weight.size(1),
        "out_channels": first.weight.size(0),
        "like": first.weight,
        "learnable_aggregation": isinstance(conv.eps, nn.Parameter),
    }
    return aggregation, [("nn", conv.nn)], info


@conv_rule(GINEConv)
def _gine(conv: GINEConv, name: str):
    _check_flow(conv, name)

    def aggregation(graph: GraphInputs) -> Aggregation:
        if graph.edge_attr is None:
            raise ValueError(f"{name} (GINEConv) needs edge_attr")
        shift = conv.lin(graph.edge_attr) if conv.lin is not None else graph.edge_attr
        return Aggregation(_eps_self_weight(conv, graph), None, shift.to(graph.dtype), ACTIVATIONS["relu"])

    first = _first_linear(conv.nn, f"{name}.nn")
    info = {
        "in_channels": first.weight.size(1),
        "out_channels": first.weight.size(0),
        "like": first.weight,
        "edge_messages": True,
        "learnable_aggregation": isinstance(conv.eps, nn.Parameter),
        "needs": ("edge_attr",),
    }
    return aggregation, [("nn", conv.nn)], info


@conv_rule(GCNConv)
def _gcn(conv: GCNConv, name: str):
    _check_flow(conv, name)

    def aggregation(graph: GraphInputs) -> Aggregation:
        return Aggregation(
            *gcn_weights(
                graph.edge_index,
                graph.num_nodes,
                graph.dtype,
                graph.edge_weight,
                conv.improved,
                conv.add_self_loops,
                conv.normalize,
            )
        )

    d_in, d_out = _width(conv.lin)
    info = {
        "in_channels": d_in,
        "out_channels": d_out,
        "like": conv.lin.weight,
        "ops_before": lambda: [("linear", conv.lin.weight, conv.bias)],
    }
    return aggregation, [], info


def _sum_or_mean(conv: nn.Module, name: str) -> str:
    aggr = conv.aggr if isinstance(conv.aggr, str) else None
    if aggr not in ("add", "sum", "mean"):
        raise refuse(
            conv,
            name,
            f"aggr={conv.aggr!r} is not linear in the node states; only 'sum'/'add' and 'mean' are supported",
        )
    return aggr


def _split_conv(conv: nn.Module, name: str, neighbour: nn.Module, root: nn.Module | None, weighted: bool):
    """``neighbour(aggr_w h_w) + root(h_v)`` (``SAGEConv``, ``GraphConv``)."""
    _check_flow(conv, name)
    aggr = _sum_or_mean(conv, name)
    d_in, d_out = _width(neighbour)
    if root is not None and _width(root)[0] != d_in:
        raise refuse(conv, name, "bipartite (source, target) input widths are not supported")

    def aggregation(graph: GraphInputs) -> Aggregation:
        weight = (
            _edge_weight(graph) if weighted else _edge_weight(GraphInputs(graph.edge_index, 0, graph.dtype))
        )
        edge_w = (
            mean_weights(graph.edge_index, graph.num_nodes, graph.dtype, weight) if aggr == "mean" else weight
        )
        self_w = edge_w.new_ones(graph.num_nodes) if root is not None else edge_w.new_zeros(graph.num_nodes)
        return Aggregation(self_w, edge_w, split=root is not None)

    def ops_before() -> list[NodeOp]:
        if root is None:
            return [("linear", neighbour.weight, neighbour.bias)]
        bias = neighbour.bias
        if root.bias is not None:
            bias = root.bias if bias is None else bias + root.bias
        return [("linear", torch.cat([neighbour.weight, root.weight], 1), bias)]

    info = {"in_channels": d_in, "out_channels": d_out, "like": neighbour.weight, "ops_before": ops_before}
    if root is not None:
        info["split"] = True
    return aggregation, [], info


@conv_rule(SAGEConv)
def _sage(conv: SAGEConv, name: str):
    if conv.project:
        raise refuse(conv, name, "project=True is not supported")
    if conv.normalize:
        raise refuse(conv, name, "normalize=True (L2 normalisation over channels) is not an element-wise map")
    return _split_conv(conv, name, conv.lin_l, conv.lin_r if conv.root_weight else None, weighted=False)


@conv_rule(GraphConv)
def _graph_conv(conv: GraphConv, name: str):
    return _split_conv(conv, name, conv.lin_rel, conv.lin_root, weighted=True)


def _first_linear(module: nn.Module, name: str) -> nn.Module:
    """The first linear map of a GIN-style ``nn`` (gives the layer's input width)."""
    if isinstance(module, (nn.Linear, PygLinear)):
        return module
    for child in module.modules():
        if isinstance(child, (nn.Linear, PygLinear)):
            return child
    raise refuse(module, name, "a GIN-style nn needs a linear map to fix its width")


# ---------------------------------------------------------------------------------------------
# node-wise PyG modules


@node_rule(PygLinear)
def _pyg_linear(module: PygLinear, name: str) -> list[NodeOp]:
    if isinstance(module.weight, nn.parameter.UninitializedParameter):
        raise refuse(
            module, name, "lazy weights (in_channels=-1) are not initialised yet; run one forward pass first"
        )
    return [("linear", module.weight, module.bias)]


@node_rule(PygBatchNorm)
def _pyg_batch_norm(module: PygBatchNorm, name: str) -> list[NodeOp]:
    return NODE_RULES[nn.BatchNorm1d](module.module, f"{name}.module")


def _check_dropout(p: float, training: bool, module: nn.Module, name: str) -> None:
    if training and p > 0:
        raise refuse(module, name, "dropout in training mode is random; call base.eval() or set p = 0")


@node_rule(MLP)
def _mlp(module: MLP, name: str) -> list[NodeOp]:
    act = activation_of(module.act, f"{name}.act")
    ops: list[NodeOp] = []
    for i, (lin, norm) in enumerate(zip(module.lins[: len(module.norms)], module.norms, strict=True)):
        ops += node_ops([(f"lins.{i}", lin)], name)
        if act is not None and module.act_first:
            ops.append(("act", act))
        ops += node_ops([(f"norms.{i}", norm)], name)
        if act is not None and not module.act_first:
            ops.append(("act", act))
        _check_dropout(module.dropout[i], module.training, module, name)
    if module.plain_last:
        ops += node_ops([(f"lins.{len(module.lins) - 1}", module.lins[-1])], name)
        _check_dropout(module.dropout[-1], module.training, module, name)
    return ops


# ---------------------------------------------------------------------------------------------
# models


@model_rule(BasicGNN)
def _basic_gnn(model: BasicGNN, name: str) -> list[tuple[str, nn.Module]]:
    if model.jk_mode is not None:
        raise refuse(model, name, f"jumping knowledge (jk={model.jk_mode!r}) is not supported; use jk=None")
    items: list[tuple[str, nn.Module]] = []
    for i, (conv, norm) in enumerate(zip(model.convs, model.norms, strict=True)):
        items.append((f"{name}.convs.{i}", conv))
        if i == model.num_layers - 1:
            break
        if model.act is not None and model.act_first:
            items.append((f"{name}.act", model.act))
        items.append((f"{name}.norms.{i}", norm))
        if model.act is not None and not model.act_first:
            items.append((f"{name}.act", model.act))
        items.append((f"{name}.dropout", model.dropout))
    return items


@model_rule(PygSequential)
def _pyg_sequential(model: PygSequential, name: str) -> list[tuple[str, nn.Module]]:
    params = list(model.signature.param_dict)
    variable = params[0]
    graph_args = set(params[1:])
    items = []
    for child in model._children:
        module = getattr(model, child.name)
        full = f"{name}.{child.name}"
        if child.return_names != [variable] or child.param_names[0] != variable:
            raise refuse(
                module,
                full,
                f"only a chain that maps {variable!r} to {variable!r} is supported "
                f"(this module maps {child.param_names} to {child.return_names})",
            )
        extra = set(child.param_names[1:]) - graph_args
        if extra:
            raise refuse(module, full, f"it reads {sorted(extra)}, which are not inputs of the Sequential")
        items.append((full, module))
    return items
