"""Reproducible test cases for the derivative engine: a small graph, seeded features and a
seeded base MPNN, with their nested-autograd reference derivatives."""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass

import torch
from torch import Tensor

from hodgnn.nn import BaseMPNN
from hodgnn.reference import reference_mixed_derivatives_batched, reference_node_derivatives_batched
from hodgnn.testing.graphs import SMALL_GRAPHS, SmallGraph
from hodgnn.testing.models import random_base_mpnn

MAX_PREACTIVATION = 15.0
"""Cases keep every pre-activation within +-15 (see :func:`make_case`)."""


@dataclass
class DerivativeCase:
    """A graph with features and a base MPNN; ``edge_attr`` is set for ``gine`` only."""

    graph: SmallGraph
    base: BaseMPNN
    x: Tensor
    edge_attr: Tensor | None

    @property
    def edge_index(self) -> Tensor:
        return self.graph.edge_index

    def to(self, dtype: torch.dtype) -> DerivativeCase:
        """The same case in another precision (weights and features cast)."""
        base = copy.deepcopy(self.base).to(dtype)
        edge_attr = self.edge_attr.to(dtype) if self.edge_attr is not None else None
        return DerivativeCase(self.graph, base, self.x.to(dtype), edge_attr)

    def reference(self, order: int) -> Tensor:
        """Dense ``[n, n, order, d, F]`` node derivatives by nested autograd (float64)."""
        return reference_node_derivatives_batched(self.base, self.x, self.edge_index, order, self.edge_attr)

    def mixed_reference(self, order: int) -> Tensor:
        """Dense ``[n, n, n, order, order, d, F, F]`` mixed derivatives by nested autograd."""
        return reference_mixed_derivatives_batched(self.base, self.x, self.edge_index, order, self.edge_attr)


def make_case(
    graph: str | SmallGraph,
    conv: str,
    act: str,
    num_layers: int = 2,
    in_channels: int = 2,
    hidden_channels: int = 3,
    seed: int = 0,
    **options,
) -> DerivativeCase:
    """A float64 :class:`DerivativeCase` whose weights and features are seeded by ``seed`` and the
    names of the graph, conv and activation (so every case differs, reproducibly). ReLU cases
    are redrawn until every node is active in every layer, and every case until no
    pre-activation exceeds :data:`MAX_PREACTIVATION` in magnitude (where activations saturate in
    float64 and torch's softplus switches to the identity).

    Args:
        graph: a name in :data:`~hodgnn.testing.graphs.SMALL_GRAPHS` or a graph.
        conv: the aggregation.
        act: the activation.
        num_layers: :math:`T`. (default: ``2``)
        in_channels: :math:`F`. (default: ``2``)
        hidden_channels: :math:`d`. (default: ``3``)
        seed: base seed. (default: ``0``)
        **options: further :class:`~hodgnn.nn.BaseMPNN` arguments.
    """
    if isinstance(graph, str):
        graph = SMALL_GRAPHS[graph]()
    for attempt in range(100):
        case_seed = zlib.crc32(f"{graph.name}/{conv}/{act}/{num_layers}/{seed}/{attempt}".encode())
        base = random_base_mpnn(
            conv, act, in_channels, hidden_channels, num_layers, seed=case_seed, **options
        )
        generator = torch.Generator().manual_seed(case_seed + 1)
        x = torch.randn(graph.num_nodes, in_channels, generator=generator, dtype=torch.float64)
        edge_attr = None
        if conv == "gine":
            edge_attr = torch.randn(graph.num_edges, 2, generator=generator, dtype=torch.float64)
        case = DerivativeCase(graph, base, x, edge_attr)
        if max_preactivation(case) <= MAX_PREACTIVATION and (act != "relu" or _every_node_active(case)):
            return case
    raise RuntimeError(f"no suitable weights found for {graph.name}/{conv}/{act}")


def max_preactivation(case: DerivativeCase) -> float:
    """The largest ``|z|`` that reaches an activation in ``case.base(case.x, ...)`` (MLP outputs
    and, for ``gine``, the messages ``h_w + W_e e_wv``)."""
    largest = [0.0]

    def record(z: Tensor) -> None:
        if z.numel():
            largest[0] = max(largest[0], float(z.detach().abs().max()))

    def before_layer(layer, args):
        h, edge_index = args[0], args[1]
        if layer.conv == "gine":
            record(h[edge_index[0]] + layer.edge_shift(case.edge_attr))

    handles = []
    for layer in case.base.layers:
        handles.append(layer.register_forward_pre_hook(before_layer))
        for lin in layer.linears:
            handles.append(lin.register_forward_hook(lambda module, args, out: record(out)))
    try:
        with torch.no_grad():
            case.base(case.x, case.edge_index, case.edge_attr)
    finally:
        for handle in handles:
            handle.remove()
    return largest[0]


def _every_node_active(case: DerivativeCase) -> bool:
    """Whether every node's output depends on its own features (a ReLU network alive at every
    node, so first derivatives are not trivially zero), by autograd's Jacobian."""
    jacobian = torch.autograd.functional.jacobian(
        lambda y: case.base(y, case.edge_index, case.edge_attr), case.x
    )  # [n, d, n, F]
    nodes = torch.arange(case.x.size(0))
    return bool((jacobian[nodes, :, nodes] != 0).flatten(1).any(dim=1).all())
