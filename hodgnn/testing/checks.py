"""Reusable checks for derivative tensors: comparison with a reference at a per-order scale,
support completeness, permutation equivariance and gradient checks w.r.t. module weights.

:func:`relabel_graph` is the library's (:mod:`hodgnn.data.relabel`), re-exported for the tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from hodgnn.data.relabel import relabel_graph
from hodgnn.derivatives import MixedDerivatives, NodeDerivatives

__all__ = [
    "assert_close_to_reference",
    "assert_permutation_equivariant",
    "assert_support_complete",
    "errors_by_order",
    "gradcheck_parameters",
    "relabel_graph",
]

Derivatives = NodeDerivatives | MixedDerivatives


def errors_by_order(
    actual: Tensor, expected: Tensor, order_dims: Sequence[int], floor: float = 1e-3
) -> tuple[Tensor, Tensor]:
    """Per order (or pair of orders) the max abs error and the scale it is measured against.

    The scale of an order is the largest ``|expected|`` of that order, but at least ``floor``
    times the largest ``|expected|`` overall (orders that vanish are then held to the overall
    scale instead of to exactly zero).

    Returns:
        ``(error, scale)``, each shaped like the order axes of ``expected``.
    """
    if actual.shape != expected.shape:
        raise AssertionError(f"shape {tuple(actual.shape)} != reference shape {tuple(expected.shape)}")
    dims = list(order_dims)
    lead = len(dims)
    diff = (actual - expected).abs().movedim(dims, list(range(lead))).flatten(lead)
    ref = expected.abs().movedim(dims, list(range(lead))).flatten(lead)
    if ref.size(-1) == 0:
        zeros = ref.new_zeros(ref.shape[:lead])
        return zeros, zeros
    overall = ref.max()
    return diff.amax(-1), ref.amax(-1).clamp(min=float(floor * overall))


def assert_close_to_reference(
    actual: Tensor,
    expected: Tensor,
    rtol: float | Sequence[float],
    order_dims: Sequence[int] = (2,),
    what: str = "derivatives",
) -> None:
    """Assert ``max |actual - expected| <= rtol * scale`` for every order (see :func:`errors_by_order`).

    Args:
        actual: the tensor under test (e.g. ``NodeDerivatives.to_dense()``).
        expected: the reference, same shape.
        rtol: the allowed error as a fraction of the scale, or one per order (along the first
            order axis).
        order_dims: the order axes (``(2,)`` for dense node derivatives ``[n, n, m, d, F]``,
            ``(3, 4)`` for dense mixed ones, ``(1,)`` for ``[n, m, d, F]``).
        what: a name for the error message.
    """
    error, scale = errors_by_order(actual.to(expected.dtype), expected, order_dims)
    if not isinstance(rtol, float | int):
        rtol = torch.tensor(list(rtol), dtype=scale.dtype)[: scale.size(0)].view(
            (-1,) + (1,) * (scale.dim() - 1)
        )
    bad = error > rtol * scale
    if bool(bad.any()):
        raise AssertionError(
            f"{what}: error above {rtol} x scale at orders {bad.nonzero().add(1).tolist()}; "
            f"error {error.tolist()}, scale {scale.tolist()}"
        )


def assert_support_complete(derivatives: Derivatives, expected: Tensor) -> None:
    """Every entry outside ``derivatives.index`` has an exactly zero reference value.

    Args:
        derivatives: node (pairs) or mixed (triples) derivatives.
        expected: the dense reference, ``[n, n, ...]`` or ``[n, n, n, ...]``.
    """
    index = derivatives.index
    n = derivatives.num_nodes
    stored = torch.zeros((n,) * index.size(0), dtype=torch.bool)
    stored[tuple(index)] = True
    outside = expected[~stored]
    if outside.numel() and bool((outside != 0).any()):
        missing = (~stored & (expected.flatten(index.size(0)) != 0).any(-1)).nonzero().tolist()
        raise AssertionError(f"non-zero reference derivatives outside the support at {missing}")


def assert_permutation_equivariant(
    compute: Callable[[Tensor, Tensor, Tensor | None], Derivatives],
    x: Tensor,
    edge_index: Tensor,
    perm: Tensor,
    edge_attr: Tensor | None = None,
    edge_perm: Tensor | None = None,
    atol: float = 1e-12,
    rtol: float = 1e-12,
) -> None:
    """Relabelling the nodes by ``perm`` permutes every node axis of the derivatives the same way.

    Checks the stored support (as a set), the dense values, and the node states ``h``.

    Args:
        compute: ``compute(x, edge_index, edge_attr)`` returning :class:`NodeDerivatives` or
            :class:`MixedDerivatives` (e.g. a ``functools.partial`` of ``node_derivatives``).
        x: ``[n, F]`` node features.
        edge_index: ``[2, E]`` edges.
        perm: ``[n]`` the relabelling (new node ``i`` is old node ``perm[i]``).
        edge_attr: ``[E, D]`` edge features or ``None``.
        edge_perm: ``[E]`` an optional reordering of the edge list.
        atol: allowed absolute difference of the values.
        rtol: allowed relative difference of the values.
    """
    before = compute(x, edge_index, edge_attr)
    after = compute(*relabel_graph(perm, x, edge_index, edge_attr, edge_perm))
    num_axes = before.index.size(0)
    if set(map(tuple, perm[after.index].t().tolist())) != set(map(tuple, before.index.t().tolist())):
        raise AssertionError("the relabelled support is not the relabelled original support")
    dense_before = before.to_dense()
    for axis in range(num_axes):
        dense_before = dense_before.index_select(axis, perm)
    torch.testing.assert_close(after.to_dense(), dense_before, atol=atol, rtol=rtol)
    torch.testing.assert_close(after.h, before.h[perm], atol=atol, rtol=rtol)


class _CallWithModule(nn.Module):
    def __init__(self, module: nn.Module, compute: Callable[[nn.Module], Tensor]):
        super().__init__()
        self.module = module
        self.compute = compute

    def forward(self) -> Tensor:
        return self.compute(self.module)


def gradcheck_parameters(module: nn.Module, compute: Callable[[nn.Module], Tensor], **options) -> bool:
    """``torch.autograd.gradcheck`` of ``compute(module)`` as a function of every parameter of
    ``module`` (via ``torch.func.functional_call``), in the module's (float64) precision.

    Args:
        module: the module whose parameters are the inputs (e.g. a ``BaseMPNN``).
        compute: maps the module to a tensor (e.g. the derivative values).
        **options: passed to ``torch.autograd.gradcheck``.
    """
    wrapper = _CallWithModule(module, compute)
    names = [name for name, _ in module.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in module.named_parameters())

    def as_function(*values: Tensor) -> Tensor:
        return torch.func.functional_call(
            wrapper, {f"module.{name}": v for name, v in zip(names, values, strict=True)}, ()
        )

    return torch.autograd.gradcheck(as_function, params, **options)
