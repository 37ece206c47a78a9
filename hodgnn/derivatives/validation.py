"""Input checks shared by the derivative engine and the models: clear errors before any work."""

from __future__ import annotations

import torch
from torch import Tensor

from hodgnn.checks import check_int


def check_graph(x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> None:
    """Raise ``ValueError`` naming the problem with ``x``, ``edge_index`` or ``edge_attr``."""
    if not isinstance(x, Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a 2-D tensor [num_nodes, channels], got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"x must be floating point, got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or Inf values")
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index)
        raise ValueError(f"edge_index must have shape [2, num_edges], got {shape}")
    if edge_index.dtype != torch.long:
        raise ValueError(f"edge_index must be torch.long, got {edge_index.dtype}")
    n = x.size(0)
    if edge_index.numel() > 0:
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0 or high >= n:
            raise ValueError(
                f"edge_index holds node ids in [{low}, {high}], outside [0, {n - 1}] for x with {n} nodes"
            )
    if edge_attr is not None:
        if edge_attr.dim() != 2 or edge_attr.size(0) != edge_index.size(1):
            raise ValueError(
                f"edge_attr must have shape [num_edges={edge_index.size(1)}, edge_dim], "
                f"got {tuple(edge_attr.shape)}"
            )
        if not torch.isfinite(edge_attr).all():
            raise ValueError("edge_attr holds NaN or Inf values")


def check_order(order: int) -> None:
    """Raise ``ValueError`` unless the derivative order is an int ``>= 1``."""
    check_int("order", order, 1)
