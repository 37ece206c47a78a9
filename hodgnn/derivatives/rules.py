r"""Propagation rules: how each supported module lowers to the engine's contract
(:mod:`hodgnn.derivatives.plan`).

Three tables, one entry per module type:

* :data:`CONV_RULES`: a message-passing layer -> its :class:`~hodgnn.derivatives.plan.Aggregation`
  on a graph, and the node-wise operations that belong to it (GIN's MLP, GCN's linear map);
* :data:`NODE_RULES`: a node-wise module -> operations ``("linear", W, b)``,
  ``("affine", scale, shift)``, ``("act", activation)`` (or none: eval-mode dropout);
* :data:`MODEL_RULES`: a container -> its modules in order (``BaseMPNN``, PyG's ``GIN`` / ``GCN``
  / ``GraphSAGE`` / any ``BasicGNN`` of supported convs, ``torch_geometric.nn.Sequential``).

:func:`lower` walks a base model with these tables and returns a
:class:`~hodgnn.derivatives.plan.BasePlan`, or raises
:class:`~hodgnn.derivatives.plan.UnsupportedModuleError` (a ``ValueError``) naming the first
module it cannot propagate and why, before any work. Supporting a new layer type means adding
one function to one table (:func:`conv_rule` / :func:`node_rule` / :func:`model_rule`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from hodgnn.derivatives.activations import ACTIVATIONS, Activation
from hodgnn.derivatives.plan import (
    Aggregation,
    BasePlan,
    GraphInputs,
    LayerPlan,
    NodeOp,
    UnsupportedModuleError,
    fold_node_ops,
)

ConvRule = Callable[[nn.Module, str], tuple[Callable[[GraphInputs], Aggregation], list[nn.Module], dict]]
NodeRule = Callable[[nn.Module, str], list[NodeOp]]
ModelRule = Callable[[nn.Module, str], list[tuple[str, nn.Module]]]

CONV_RULES: dict[type, ConvRule] = {}
NODE_RULES: dict[type, NodeRule] = {}
MODEL_RULES: dict[type, ModelRule] = {}

# Reasons given for modules that are known and cannot be propagated.
_REFUSED = {
    "GATConv": "attention weights depend on the node states, so the aggregation is not linear in them",
    "GATv2Conv": "attention weights depend on the node states, so the aggregation is not linear in them",
    "TransformerConv": "attention weights depend on the node states: the aggregation is not linear in them",
    "LayerNorm": "LayerNorm normalises with statistics of the states it is applied to (not an affine map)",
    "GraphNorm": "GraphNorm normalises with statistics over the nodes of each graph",
    "InstanceNorm": "InstanceNorm normalises with statistics over the nodes of each graph",
    "PairNorm": "PairNorm normalises with statistics over all nodes",
}


def _lookup(table: dict[type, Any], module: nn.Module) -> Any:
    for cls in type(module).__mro__:
        if cls in table:
            return table[cls]
    return None


def conv_rule(*types: type) -> Callable[[ConvRule], ConvRule]:
    """Register a rule for message-passing layers of the given types."""

    def register(rule: ConvRule) -> ConvRule:
        for cls in types:
            CONV_RULES[cls] = rule
        return rule

    return register


def node_rule(*types: type) -> Callable[[NodeRule], NodeRule]:
    """Register a rule for node-wise modules of the given types."""

    def register(rule: NodeRule) -> NodeRule:
        for cls in types:
            NODE_RULES[cls] = rule
        return rule

    return register


def model_rule(*types: type) -> Callable[[ModelRule], ModelRule]:
    """Register a rule listing the modules of a container in forward order."""

    def register(rule: ModelRule) -> ModelRule:
        for cls in types:
            MODEL_RULES[cls] = rule
        return rule

    return register


def refuse(module: nn.Module, name: str, why: str) -> UnsupportedModuleError:
    return UnsupportedModuleError(
        f"cannot propagate derivatives through {name} ({type(module).__name__}): {why}"
    )


def _unknown(module: nn.Module, name: str) -> UnsupportedModuleError:
    why = _REFUSED.get(type(module).__name__)
    if why is None:
        why = "no propagation rule for this module type; supported: " + ", ".join(
            sorted({c.__name__ for c in (*CONV_RULES, *NODE_RULES, *MODEL_RULES)})
        )
    return refuse(module, name, why)


# ---------------------------------------------------------------------------------------------
# node-wise modules


_ACTIVATION_MODULES: dict[type, str] = {
    nn.Identity: "identity",
    nn.ReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.SiLU: "silu",
}


@node_rule(*_ACTIVATION_MODULES)
def _activation(module: nn.Module, name: str) -> list[NodeOp]:
    return [("act", ACTIVATIONS[_ACTIVATION_MODULES[type(module)]])]


@node_rule(nn.GELU)
def _gelu(module: nn.GELU, name: str) -> list[NodeOp]:
    if module.approximate != "none":
        raise refuse(
            module, name, f"only the exact GELU has a Taylor rule, not approximate={module.approximate!r}"
        )
    return [("act", ACTIVATIONS["gelu"])]


@node_rule(nn.ELU)
def _elu(module: nn.ELU, name: str) -> list[NodeOp]:
    if module.alpha != 1.0:
        raise refuse(module, name, f"only alpha = 1 has a Taylor rule, not alpha={module.alpha}")
    return [("act", ACTIVATIONS["elu"])]


@node_rule(nn.Softplus)
def _softplus(module: nn.Softplus, name: str) -> list[NodeOp]:
    if module.beta != 1.0:
        raise refuse(module, name, f"only beta = 1 has a Taylor rule, not beta={module.beta}")
    return [("act", ACTIVATIONS["softplus"])]


def _check_linear(module: nn.Module, name: str) -> None:
    if isinstance(module.weight, nn.parameter.UninitializedParameter):
        raise refuse(module, name, "lazy weights are not initialised yet; run one forward pass first")


@node_rule(nn.Linear)
def _linear(module: nn.Linear, name: str) -> list[NodeOp]:
    _check_linear(module, name)
    return [("linear", module.weight, module.bias)]


@node_rule(nn.Dropout)
def _dropout(module: nn.Dropout, name: str) -> list[NodeOp]:
    if module.training and module.p > 0:
        raise refuse(module, name, "dropout in training mode is random; call base.eval() or set p = 0")
    return []


@node_rule(nn.BatchNorm1d)
def _batch_norm(module: nn.BatchNorm1d, name: str) -> list[NodeOp]:
    if module.training or not module.track_running_stats:
        raise refuse(
            module,
            name,
            "BatchNorm in training mode normalises with statistics over all nodes of the batch; "
            "call base.eval() (running statistics make it an affine map per channel)",
        )
    scale = (module.running_var + module.eps).rsqrt()
    if module.weight is not None:
        scale = scale * module.weight
    shift = -module.running_mean * scale
    if module.bias is not None:
        shift = shift + module.bias
    return [("affine", scale, shift)]


@node_rule(nn.Sequential)
def _sequential(module: nn.Sequential, name: str) -> list[NodeOp]:
    return node_ops(list(module.named_children()), name)


def node_ops(children: list[tuple[str, nn.Module]], prefix: str) -> list[NodeOp]:
    """The node-wise operations of ``children`` in order (each must have a node rule)."""
    ops: list[NodeOp] = []
    for child_name, child in children:
        rule = _lookup(NODE_RULES, child)
        full = f"{prefix}.{child_name}"
        if rule is None:
            raise _unknown(child, full)
        ops += rule(child, full)
    return ops


# ---------------------------------------------------------------------------------------------
# aggregation weights shared by several convs


def in_degree(edge_index: Tensor, weight: Tensor, num_nodes: int) -> Tensor:
    """``sum_{(w -> v)} weight`` for every target ``v``."""
    return weight.new_zeros(num_nodes).index_add_(0, edge_index[1], weight)


def mean_weights(
    edge_index: Tensor, num_nodes: int, dtype: torch.dtype, weight: Tensor | None = None
) -> Tensor:
    """``a_wv = w_wv / (number of edges into v)``: PyG's mean aggregation of (weighted) messages;
    nodes without incoming edges aggregate nothing."""
    ones = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
    count = in_degree(edge_index, ones, num_nodes)
    inv = torch.where(count > 0, 1.0 / count.clamp(min=1), torch.zeros_like(count)).index_select(
        0, edge_index[1]
    )
    return inv if weight is None else inv * weight


def gcn_weights(
    edge_index: Tensor,
    num_nodes: int,
    dtype: torch.dtype,
    edge_weight: Tensor | None = None,
    improved: bool = False,
    add_self_loops: bool = True,
    normalize: bool = True,
) -> tuple[Tensor, Tensor]:
    r"""``(self_weight [n], edge_weight [E])`` of ``GCNConv`` on the graph's own edges.

    PyG's ``gcn_norm`` replaces the self-loops by one loop per node (weight 1, or 2 with
    ``improved`` and edge weights; a node's existing loop keeps its weight) and normalises by
    :math:`\hat d_v^{-1/2} \hat d_w^{-1/2}`; here the loop goes into the self weight and the
    original loop edges get weight 0, so the pair support of ``edge_index`` serves unchanged.
    """
    src, dst = edge_index
    n = num_nodes
    # PyG fills the loops with 2 under ``improved`` only when edge weights are given: without
    # them every edge, loops included, gets weight 1 (gcn_norm adds the loops before the ones).
    fill = 2.0 if improved and edge_weight is not None else 1.0
    if edge_weight is None:
        weight = torch.ones(src.numel(), dtype=dtype, device=edge_index.device)
    else:
        weight = edge_weight.to(dtype)
    if not normalize:
        return weight.new_zeros(n), weight
    if not add_self_loops:
        deg = in_degree(edge_index, weight, n)
        inv_sqrt = torch.where(
            deg > 0, deg.clamp(min=torch.finfo(deg.dtype).tiny).rsqrt(), torch.zeros_like(deg)
        )
        return weight.new_zeros(n), inv_sqrt[src] * weight * inv_sqrt[dst]
    loop = src == dst
    loop_weight = weight.new_full((n,), fill)
    loop_weight[dst[loop]] = weight[loop]
    weight = torch.where(loop, torch.zeros_like(weight), weight)
    deg = in_degree(edge_index, weight, n) + loop_weight
    inv_sqrt = torch.where(deg > 0, deg.clamp(min=torch.finfo(deg.dtype).tiny).rsqrt(), torch.zeros_like(deg))
    return inv_sqrt * inv_sqrt * loop_weight, inv_sqrt[src] * weight * inv_sqrt[dst]


# ---------------------------------------------------------------------------------------------
# lowering


def _plan_layers(items: list[tuple[str, nn.Module]], base: nn.Module, name: str) -> list[LayerPlan]:
    """Group a flat module list into layers: each conv with the node-wise modules that follow."""
    layers: list[LayerPlan] = []
    pending: list[tuple[str, nn.Module]] = []
    current: tuple | None = None

    def close() -> None:
        if current is None:
            return
        layers.append(_conv_layer_plan(*current, list(pending)))

    for item_name, module in items:
        rule = _lookup(CONV_RULES, module)
        if rule is not None:
            close()
            current, pending = (item_name, module, rule), []
        elif _lookup(NODE_RULES, module) is not None:
            if current is None:
                raise refuse(
                    module,
                    item_name,
                    "node-wise modules before the first message-passing layer are not supported; "
                    "apply them to x before calling the engine",
                )
            pending.append((item_name, module))
        else:
            raise _unknown(module, item_name)
    close()
    if not layers:
        raise refuse(base, name, "it has no message-passing layer")
    return layers


def _conv_layer_plan(
    name: str, conv: nn.Module, rule: ConvRule, after: list[tuple[str, nn.Module]]
) -> LayerPlan:
    aggregation, inner, info = rule(conv, name)
    modules = [(f"{name}.{child}", m) for child, m in inner] + after

    def ops() -> list[NodeOp]:
        out = list(info["ops_before"]()) if "ops_before" in info else []
        for full, module in modules:
            out += _lookup(NODE_RULES, module)(module, full)
        return out

    in_channels, out_channels = info["in_channels"], info["out_channels"]
    aggregated = 2 * in_channels if info.get("split") else in_channels

    def node_steps():
        return fold_node_ops(ops(), aggregated, info["like"])

    for full, module in modules:
        _lookup(NODE_RULES, module)(module, full)  # refuse early (training-mode BatchNorm, ...)
    steps = node_steps()
    if steps and steps[-1].weight.size(0) != out_channels:
        out_channels = steps[-1].weight.size(0)
    return LayerPlan(
        name,
        in_channels,
        out_channels,
        aggregation,
        node_steps,
        edge_messages=info.get("edge_messages", False),
        learnable_aggregation=info.get("learnable_aggregation", False),
        needs=info.get("needs", ()),
        split=info.get("split", False),
    )


def lower(base: nn.Module) -> BasePlan:
    """Lower ``base`` to a :class:`~hodgnn.derivatives.plan.BasePlan`, or raise
    :class:`~hodgnn.derivatives.plan.UnsupportedModuleError` naming the module that has no rule.

    A model may also describe itself: a method ``derivative_layers()`` returning its
    :class:`~hodgnn.derivatives.plan.LayerPlan` s (how :class:`~hodgnn.nn.BaseMPNN` does it).
    """
    name = type(base).__name__
    if hasattr(base, "derivative_layers"):
        return BasePlan(name, list(base.derivative_layers()))
    rule = _lookup(MODEL_RULES, base)
    if rule is not None:
        return BasePlan(name, _plan_layers(rule(base, "base"), base, "base"))
    if _lookup(CONV_RULES, base) is not None:
        return BasePlan(name, _plan_layers([("base", base)], base, "base"))
    raise _unknown(base, "base")


def activation_of(module: nn.Module | None, name: str) -> Activation | None:
    """The :class:`Activation` of an activation module (``None`` for ``None``)."""
    if module is None:
        return None
    ops = _lookup(NODE_RULES, module)
    if ops is None:
        raise _unknown(module, name)
    (op,) = ops(module, name)
    return op[1]
