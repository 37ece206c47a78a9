r"""The parts of HOD-GNN (input projection, base MPNN, derivative encoders, downstream GNN):
built from options by :func:`build_parts`, checked against each other by :func:`check_parts`.

``HODGNN(in_channels, hidden_channels, out_channels, edge_dim, **options)`` calls
:func:`build_parts` (the options are documented on :class:`~hodgnn.nn.HODGNN`);
``HODGNN(base, encoders, downstream, ...)`` and the keyword form both go through
:func:`check_parts`. The RWSE initialisation (:func:`apply_rwse_init`) needs the parts built
here (a :class:`~hodgnn.nn.BaseMPNN` after an ``nn.Linear`` projection).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch_geometric.nn import MLP

from hodgnn.checks import check_choice, check_int
from hodgnn.derivatives import resolve_activation
from hodgnn.derivatives.engine import SCALES
from hodgnn.nn.base_mpnn import CONVS, BaseMPNN
from hodgnn.nn.derivative_encoders import DerivativeEncoders, module_width
from hodgnn.nn.downstream import DownstreamGNN
from hodgnn.nn.encoders import (
    DiagonalDerivativeEncoder,
    MixedDerivativeEncoder,
    NodeDerivativeEncoder,
    OutputDerivativeEncoder,
)
from hodgnn.nn.hod_gnn_supports import lower_structure

U_NODE_MODES = ("full", "diagonal", "off")
RWSE_CONVS = ("mean", "gin")
RWSE_ACTS = ("relu", "identity")

BUILDER_OPTIONS = (
    "base_conv",
    "base_layers",
    "base_channels",
    "base_act",
    "base_in_channels",
    "base_mlp_layers",
    "base_eps",
    "base_train_eps",
    "k",
    "u_out",
    "u_node",
    "encoder_channels",
    "ign_layers",
    "ign_aggr",
    "layer_scaling",
    "encoder_act",
    "derivative_norm",
    "rwse_init",
    "conv",
    "num_layers",
    "dropout",
    "pooling",
    "act",
    "head_layers",
    "batch_norm",
    "residual",
)
"""The options that only the keyword constructor reads (the parts constructor takes all of them
from the modules it is given)."""


@dataclass
class HODGNNParts:
    """The modules of a HOD-GNN, as the parts constructor takes them."""

    input_projection: nn.Linear
    base: BaseMPNN
    encoders: DerivativeEncoders
    downstream: DownstreamGNN


def build_parts(
    in_channels: int,
    hidden_channels: int,
    out_channels: int,
    edge_dim: int | None,
    options: Mapping[str, Any],
) -> HODGNNParts:
    """The parts of ``HODGNN(in_channels, hidden_channels, out_channels, edge_dim, **options)``.

    Args:
        in_channels, hidden_channels, out_channels, edge_dim: as for the keyword constructor.
        options: a mapping holding ``order``, ``derivative_scale``, ``concat_input`` and every
            name of :data:`BUILDER_OPTIONS` (other keys are ignored, so the constructor passes
            ``locals()``).

    Raises:
        ValueError: an option out of range or a combination that cannot work, named.
    """
    o = dict(options)
    rwse_init, k, order, u_node = bool(o["rwse_init"]), o["k"], o["order"], o["u_node"]
    check_int("in_channels", in_channels, 1)
    check_int("order", order, 1)
    check_choice("k", k, (1, 2))
    check_choice("u_node", u_node, U_NODE_MODES)
    check_choice("derivative_scale", o["derivative_scale"], SCALES)
    base_conv = o["base_conv"] if o["base_conv"] is not None else ("mean" if rwse_init else "gin")
    base_act = o["base_act"] if o["base_act"] is not None else ("relu" if rwse_init else "silu")
    base_eps = o["base_eps"] if o["base_eps"] is not None else (-1.0 if rwse_init else 0.0)
    base_in = o["base_in_channels"] if o["base_in_channels"] is not None else (4 if k == 1 else 1)
    base_layers, base_channels = o["base_layers"], o["base_channels"]
    check_choice("base_conv", base_conv, CONVS)
    resolve_activation(base_act)
    for name, value in (
        ("base_layers", base_layers),
        ("base_channels", base_channels),
        ("base_in_channels", base_in),
    ):
        check_int(name, value, 1)
    if base_conv == "gine" and edge_dim is None:
        raise ValueError("base_conv='gine' needs edge features (edge_dim)")
    if rwse_init:
        check_choice("base_conv (with rwse_init)", base_conv, RWSE_CONVS)
        check_choice("base_act (with rwse_init)", base_act, RWSE_ACTS)
    c = o["encoder_channels"] if o["encoder_channels"] is not None else hidden_channels
    check_int("encoder_channels", c, 1)
    conv = o["conv"] if o["conv"] is not None else ("gine" if edge_dim is not None else "gin")

    input_projection = nn.Linear(in_channels, base_in)
    base = BaseMPNN(
        base_in,
        base_channels,
        base_layers,
        conv=base_conv,
        act=base_act,
        edge_dim=edge_dim if base_conv == "gine" else None,
        eps=base_eps,
        train_eps=o["base_train_eps"],
        num_mlp_layers=o["base_mlp_layers"],
    )
    pair_channels = order * base_channels * base_in
    norm, act = o["derivative_norm"], o["encoder_act"]
    u_out = OutputDerivativeEncoder(pair_channels, c, c, norm, act) if o["u_out"] else None
    if u_node == "full":
        node = NodeDerivativeEncoder(pair_channels, c, c, norm, o["ign_layers"], o["ign_aggr"], act)
    elif u_node == "diagonal":
        node = DiagonalDerivativeEncoder(base_layers * pair_channels, c, c, norm, o["layer_scaling"], act)
    else:
        node = None
    mixed = None
    if k == 2:
        mixed_channels = order * order * base_channels * base_in**2
        mixed = MixedDerivativeEncoder(mixed_channels, c, c, norm, o["ign_layers"], o["ign_aggr"], act)
    combined = base_channels + c * (bool(o["u_out"]) + (u_node != "off") + (k == 2))
    combined += in_channels if o["concat_input"] else 0
    combine = MLP([combined, hidden_channels, hidden_channels], act=act, norm="batch_norm")
    encoders = DerivativeEncoders(combine, u_out, node, mixed)
    downstream = DownstreamGNN.from_options(
        hidden_channels, hidden_channels, out_channels, edge_dim, {**o, "conv": conv}
    )
    return HODGNNParts(input_projection, base, encoders, downstream)


@torch.no_grad()
def apply_rwse_init(input_projection: nn.Linear, base: BaseMPNN) -> None:
    r"""The RWSE initialisation: a constant-one base input (projection weight 0, bias 1) and
    identity base MLPs (every weight the rectangular ``eye(out, in)``, biases 0); see
    :class:`~hodgnn.nn.HODGNN`."""
    input_projection.weight.zero_()
    input_projection.bias.fill_(1.0)
    for layer in base.layers:
        for lin in layer.linears:
            lin.weight.copy_(torch.eye(lin.out_features, lin.in_features, dtype=lin.weight.dtype))
            if lin.bias is not None:
                lin.bias.zero_()


def check_parts(
    base: nn.Module,
    encoders: DerivativeEncoders,
    downstream: DownstreamGNN,
    input_projection: nn.Module | None,
    order: int,
    concat_input: bool,
) -> int | None:
    """Check the parts of ``HODGNN(base, encoders, downstream, ...)`` against each other, before any
    work, and return the node feature width (``None`` when no module states it).

    Raises:
        UnsupportedModuleError: ``base`` does not lower (:func:`~hodgnn.derivatives.lower`; its
            structure is lowered in evaluation mode, :func:`~hodgnn.nn.hod_gnn_supports.lower_structure`).
        ValueError: a width that does not fit, named: ``input_projection`` out vs the base input;
            the encoders vs the derivatives of the base (:meth:`DerivativeEncoders.check_widths`);
            ``combine`` in vs :math:`h^{(T)}`, the encoders and the concatenated features;
            ``downstream`` in vs ``combine`` out. Widths are checked where the modules state them.
        TypeError: a part of the wrong type.
    """
    for name, value, cls in (
        ("encoders", encoders, DerivativeEncoders),
        ("downstream", downstream, DownstreamGNN),
    ):
        if not isinstance(value, cls):
            raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
    if input_projection is not None and not isinstance(input_projection, nn.Module):
        raise TypeError(f"input_projection must be an nn.Module, got {type(input_projection).__name__}")
    check_int("order", order, 1)
    plan = lower_structure(base)  # UnsupportedModuleError (a ValueError) names the module
    projected = module_width(input_projection, "out")
    if projected is not None and projected != plan.in_channels:
        raise ValueError(
            f"input_projection outputs {projected} channels, but the base takes {plan.in_channels}"
        )
    in_channels = plan.in_channels if input_projection is None else module_width(input_projection, "in")
    d = plan.out_channels
    if concat_input and in_channels is None and encoders.in_channels is not None:
        in_channels = encoders.in_channels - d - encoders.encoder_channels
        if in_channels < 1:
            raise ValueError(
                f"combine takes {encoders.in_channels} channels: h^(T) ({d}) and the encoders' outputs "
                f"({encoders.encoder_channels}) leave none for the concatenated input features"
            )
    concatenated = (in_channels or 0) if concat_input else 0
    encoders.check_widths(
        [layer.out_channels for layer in plan.layers], plan.in_channels, order, concatenated
    )
    width, taken = encoders.out_channels, downstream.input.in_features
    if width is not None and width != taken:
        raise ValueError(f"downstream takes {taken} channels, but the encoders' combine outputs {width}")
    return in_channels
