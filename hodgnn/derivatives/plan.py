r"""The engine's contract: what a base GNN must be for its derivatives to be propagated exactly.

The engine (:mod:`hodgnn.derivatives.engine`) differentiates any base model that lowers to a
list of :class:`LayerPlan`\ s, one per message-passing layer. A layer is

.. math::
    z_v = s_v\, h_v + \sum_{(w \to v) \in E} a_{wv}\, m_{wv}, \qquad
    m_{wv} = h_w \;\;\text{(linear messages)} \quad\text{or}\quad
    m_{wv} = \sigma_e(h_w + c_{wv}) \;\;\text{(edge messages, GINE)},

optionally *split* (:math:`z_v = [\sum_w a_{wv} m_{wv} \,\|\, s_v h_v]`, for convs with separate
root and neighbour weights such as ``SAGEConv`` and ``GraphConv``), followed by node-wise steps
:math:`h \leftarrow \sigma_l(W_l h + b_l)` (:class:`NodeStep`). The aggregation is linear in the
node states, so derivatives aggregate exactly like features over the sparse pair support; every
node-wise step acts on one node alone, so derivatives pass through it by Faa di Bruno's formula.

Which modules lower to this form, and how, is decided per module type by the rules in
:mod:`hodgnn.derivatives.rules`: a new layer type is one rule there, not an edit of the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from hodgnn.derivatives.activations import ACTIVATIONS, Activation


class UnsupportedModuleError(ValueError):
    """A module of the base model has no propagation rule; the message names it and says why."""


@dataclass
class GraphInputs:
    """The graph a plan's aggregation weights are computed on."""

    edge_index: Tensor
    num_nodes: int
    dtype: torch.dtype
    edge_attr: Tensor | None = None
    edge_weight: Tensor | None = None


@dataclass
class Aggregation:
    r"""The aggregation of one layer on a given graph.

    Attributes:
        self_weight: ``[n]`` :math:`s_v`.
        edge_weight: ``[E]`` :math:`a_{wv}` of linear messages; ``None`` with edge messages.
        edge_shift: ``[E, d_in]`` :math:`c_{wv}` of edge messages :math:`\sigma_e(h_w + c_{wv})`.
        message_act: :math:`\sigma_e` of edge messages.
        split: output ``[messages || self term]`` (``2 d_in`` channels) instead of their sum.
    """

    self_weight: Tensor
    edge_weight: Tensor | None
    edge_shift: Tensor | None = None
    message_act: Activation | None = None
    split: bool = False

    @property
    def edge_messages(self) -> bool:
        return self.edge_shift is not None


@dataclass
class NodeStep:
    r"""One node-wise step :math:`h \leftarrow \sigma(h W^\top + b)`: ``weight`` ``[d_out, d_in]``,
    ``bias`` ``[d_out]`` or ``None``, ``act`` (``identity`` when no activation follows)."""

    weight: Tensor
    bias: Tensor | None
    act: Activation

    def __call__(self, h: Tensor) -> Tensor:
        z = h @ self.weight.T
        return z + self.bias if self.bias is not None else z


@dataclass
class LayerPlan:
    """One message-passing layer of a base model in the engine's form.

    Attributes:
        name: where the layer comes from (for error messages).
        in_channels: width of the node states entering the layer.
        out_channels: width of the node states leaving it.
        aggregation: ``GraphInputs -> Aggregation``.
        node_steps: ``() -> list[NodeStep]`` of the layer's node-wise maps (folded: every
            activation is preceded by exactly one affine map).
        edge_messages: whether the messages are nonlinear edge messages (GINE).
        learnable_aggregation: whether the aggregation weights carry a gradient (a trained
            :math:`\\epsilon`).
        needs: graph inputs the layer requires (``"edge_attr"``).
        split: whether the aggregation is split (its output has ``2 in_channels`` channels).
    """

    name: str
    in_channels: int
    out_channels: int
    aggregation: Callable[[GraphInputs], Aggregation]
    node_steps: Callable[[], list[NodeStep]]
    edge_messages: bool = False
    learnable_aggregation: bool = False
    needs: tuple[str, ...] = field(default_factory=tuple)
    split: bool = False

    @property
    def aggregated_channels(self) -> int:
        return 2 * self.in_channels if self.split else self.in_channels

    @property
    def num_steps(self) -> int:
        return len(self.node_steps())


@dataclass
class BasePlan:
    """A base model lowered to :class:`LayerPlan` s."""

    name: str
    layers: list[LayerPlan]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def in_channels(self) -> int:
        return self.layers[0].in_channels

    @property
    def out_channels(self) -> int:
        return self.layers[-1].out_channels

    def needs(self, name: str) -> bool:
        return any(name in layer.needs for layer in self.layers)


# Node-wise operations before folding: ("linear", W, b), ("affine", scale, shift), ("act", Activation).
NodeOp = tuple


def fold_node_ops(ops: list[NodeOp], width: int, like: Tensor) -> list[NodeStep]:
    r"""Fold a chain of node-wise operations into :class:`NodeStep` s.

    Affine maps without an activation between them compose into one
    (:math:`W_2 (W_1 h + b_1) + b_2`); an activation with no affine map before it gets the
    identity; trailing affine maps become a last step with the identity activation. Folding
    is differentiable, so gradients reach the original weights.

    Args:
        ops: the operations in order.
        width: the width of the states entering the chain.
        like: a tensor giving the dtype and device of identity weights.
    """
    steps: list[NodeStep] = []
    weight: Tensor | None = None
    bias: Tensor | None = None

    def pending_weight() -> Tensor:
        if weight is not None:
            return weight
        return torch.eye(width, dtype=like.dtype, device=like.device)

    for op in ops:
        kind = op[0]
        if kind == "linear":
            w, b = op[1], op[2]
            if weight is None:
                weight, bias = w, b
            else:
                weight, bias = w @ weight, (bias @ w.T if bias is not None else None)
                if b is not None:
                    bias = b if bias is None else bias + b
            width = w.size(0)
        elif kind == "affine":
            scale, shift = op[1], op[2]
            weight = torch.diag(scale) if weight is None else scale[:, None] * weight
            bias = shift if bias is None else scale * bias + shift
        elif kind == "act":
            steps.append(NodeStep(pending_weight(), bias, op[1]))
            weight = bias = None
        else:  # pragma: no cover - rules only emit the kinds above
            raise AssertionError(f"unknown node operation {kind!r}")
    if weight is not None or bias is not None or not steps:
        steps.append(NodeStep(pending_weight(), bias, ACTIVATIONS["identity"]))
    return steps
