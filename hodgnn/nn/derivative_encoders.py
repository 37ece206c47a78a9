r"""The derivative encoders of HOD-GNN as one part: :math:`U_{out}`, :math:`U_{node}`,
:math:`U_{mixed}` and the MLP that combines them into the node features :math:`h^{der}`.

:class:`DerivativeEncoders` holds the encoders of :mod:`hodgnn.nn.encoders`; which derivative
tensors :class:`~hodgnn.nn.HODGNN` computes follows from the encoders it holds
(:class:`DerivativeTensors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hodgnn.derivatives import MixedDerivatives, NodeDerivatives
from hodgnn.nn.encoders import (
    DiagonalDerivativeEncoder,
    MixedDerivativeEncoder,
    NodeDerivativeEncoder,
    OutputDerivativeEncoder,
)

NODE_MODES: dict[type, str] = {NodeDerivativeEncoder: "full", DiagonalDerivativeEncoder: "diagonal"}
"""The :math:`U_{node}` mode of each encoder type (``"off"`` without one)."""

_SAME_WIDTH = (
    nn.Identity,
    nn.Dropout,
    nn.ReLU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.ELU,
    nn.Softplus,
    nn.BatchNorm1d,
    nn.LayerNorm,
)


@dataclass
class DerivativeTensors:
    r"""The raw derivative tensors one forward pass of :class:`~hodgnn.nn.HODGNN` computes.

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


def module_width(module: nn.Module | None, side: str) -> int | None:
    """The input (``side="in"``) or output (``"out"``) width a module states: its
    ``in_channels`` / ``out_channels`` (PyG's ``MLP``, the encoders) or ``in_features`` /
    ``out_features`` (``nn.Linear``); an ``nn.Sequential`` states the width of its first (last)
    module that is not width-preserving (activations, dropout, norms). ``None`` when unknown."""
    if module is None:
        return None
    if isinstance(module, nn.Sequential):
        children = list(module) if side == "in" else list(module)[::-1]
        for child in children:
            if not isinstance(child, _SAME_WIDTH):
                return module_width(child, side)
        return None
    for name in (f"{side}_channels", f"{side}_features"):
        value = getattr(module, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class DerivativeEncoders(nn.Module):
    r"""The derivative encoders of HOD-GNN (Eitan et al., ICLR 2026) and their combination:

    .. math::
        h^{der}_v = \mathrm{combine}\big(h^{(T)}_v \oplus U_{out}(D_{out})_v \oplus
            U_{node}(D)_v \,[\oplus\, U_{mixed}(D_2)_v] \,[\oplus\, x_v]\big)

    (absent encoders are left out of the concatenation). The encoders given decide what the
    model computes: ``u_node`` a :class:`~hodgnn.nn.NodeDerivativeEncoder` (mode ``"full"``:
    the sparse 2-IGN on :math:`D^{(T)}`), a :class:`~hodgnn.nn.DiagonalDerivativeEncoder`
    (``"diagonal"``: every layer's diagonal) or ``None`` (``"off"``); ``u_mixed`` a
    :class:`~hodgnn.nn.MixedDerivativeEncoder` (:math:`k = 2`) or ``None`` (:math:`k = 1`).

    Args:
        combine (nn.Module): maps the concatenation ``[n, d + encoder widths (+ x width)]``
            to :math:`h^{der}` (HODGNN's keyword constructor uses a two-layer PyG ``MLP`` with
            batch normalisation).
        u_out (OutputDerivativeEncoder, optional): :math:`U_{out}` on :math:`D_{out}`.
            (default: ``None``)
        u_node (NodeDerivativeEncoder or DiagonalDerivativeEncoder, optional): :math:`U_{node}`.
            (default: ``None``)
        u_mixed (MixedDerivativeEncoder, optional): :math:`U_{mixed}` on the mixed
            derivatives over two nodes. (default: ``None``)

    Shapes:
        - **input:** :class:`DerivativeTensors` (``h [n, d]`` and the tensors the encoders
          read), ``x [n, in_channels]`` or ``None`` (not concatenated), ``batch [n]``
        - **output:** ``[n, out_channels]``
    """

    def __init__(
        self,
        combine: nn.Module,
        u_out: OutputDerivativeEncoder | None = None,
        u_node: NodeDerivativeEncoder | DiagonalDerivativeEncoder | None = None,
        u_mixed: MixedDerivativeEncoder | None = None,
    ):
        super().__init__()
        if not isinstance(combine, nn.Module):
            raise TypeError(f"combine must be an nn.Module, got {type(combine).__name__}")
        for name, value, allowed in (
            ("u_out", u_out, (OutputDerivativeEncoder,)),
            ("u_node", u_node, tuple(NODE_MODES)),
            ("u_mixed", u_mixed, (MixedDerivativeEncoder,)),
        ):
            if value is not None and not isinstance(value, allowed):
                names = " or ".join(cls.__name__ for cls in allowed)
                raise TypeError(f"{name} must be a {names} or None, got {type(value).__name__}")
        # registered in the order of the keyword constructor's attributes (parameter order)
        self.u_out = u_out
        self.u_node = u_node
        self.u_mixed = u_mixed
        self.combine = combine

    @property
    def node_mode(self) -> str:
        """``"full"``, ``"diagonal"`` or ``"off"`` (from the type of ``u_node``)."""
        if self.u_node is None:
            return "off"
        return next(mode for cls, mode in NODE_MODES.items() if isinstance(self.u_node, cls))

    @property
    def k(self) -> int:
        """``2`` with a mixed-derivative encoder, else ``1``."""
        return 1 if self.u_mixed is None else 2

    @property
    def encoder_channels(self) -> int:
        """The summed output widths of the encoders."""
        return sum(e.out_channels for e in (self.u_out, self.u_node, self.u_mixed) if e is not None)

    @property
    def in_channels(self) -> int | None:
        """The width ``combine`` takes (``None`` when it does not state it)."""
        return module_width(self.combine, "in")

    @property
    def out_channels(self) -> int | None:
        """The width of :math:`h^{der}` (``None`` when ``combine`` does not state it)."""
        return module_width(self.combine, "out")

    def check_widths(
        self, layer_channels: Sequence[int], base_in_channels: int, order: int, input_channels: int = 0
    ) -> None:
        r"""Raise a ``ValueError`` naming the first width that does not fit a base whose layers
        output ``layer_channels`` (:math:`d_1, \dots, d_T`) from ``base_in_channels``
        (:math:`F`) inputs, derivatives up to ``order`` (:math:`m`), and ``input_channels``
        concatenated features: :math:`U_{out}` and the full :math:`U_{node}` take
        :math:`m d_T F` channels, the diagonal :math:`U_{node}` :math:`m F \sum_t d_t`,
        :math:`U_{mixed}` :math:`m^2 d_T F^2`, and ``combine`` :math:`d_T` + the encoders'
        widths + ``input_channels``."""
        d, F, m = layer_channels[-1], base_in_channels, order
        shape = f"(base output width d = {d}, base input width F = {F}, order m = {m})"
        expected = [
            ("u_out", self.u_out, m * d * F, "m * d * F"),
            ("u_mixed", self.u_mixed, m * m * d * F * F, "m^2 * d * F^2"),
        ]
        if self.node_mode == "full":
            expected.insert(1, ("u_node", self.u_node, m * d * F, "m * d * F"))
        elif self.node_mode == "diagonal":
            total = m * F * sum(layer_channels)
            expected.insert(1, ("u_node", self.u_node, total, "m * F * (d_1 + ... + d_T)"))
        for name, encoder, channels, formula in expected:
            if encoder is not None and encoder.in_channels != channels:
                raise ValueError(
                    f"{name} ({type(encoder).__name__}) takes {encoder.in_channels} channels, but the "
                    f"derivatives it encodes have {formula} = {channels} {shape}"
                )
        concatenated = d + self.encoder_channels + input_channels
        stated = self.in_channels
        if stated is not None and stated != concatenated:
            raise ValueError(
                f"combine takes {stated} channels, but h^(T) ({d}) + the encoders' outputs "
                f"({self.encoder_channels}) + the concatenated input features ({input_channels}) "
                f"give {concatenated}"
            )

    def reset_parameters(self) -> None:
        for module in (self.u_out, self.u_node, self.u_mixed, self.combine):
            if module is not None and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(
        self, derivatives: DerivativeTensors, x: Tensor | None, batch: Tensor, num_graphs: int
    ) -> Tensor:
        parts = [derivatives.h]
        if self.u_out is not None:
            parts.append(self.u_out(derivatives.last.graph_level(), batch, num_graphs))
        if self.node_mode == "full":
            parts.append(self.u_node(derivatives.last, batch, num_graphs))
        elif self.node_mode == "diagonal":
            parts.append(self.u_node(derivatives.per_layer))
        if self.u_mixed is not None:
            parts.append(self.u_mixed(derivatives.mixed, batch, num_graphs))
        if x is not None:
            parts.append(x)
        return self.combine(torch.cat(parts, dim=-1))
