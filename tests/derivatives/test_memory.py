"""The memory estimates of the guard bound the measured peak of a forward and backward pass.

The peak is measured independently, from ``torch.profiler``'s allocation events
(:func:`hodgnn.testing.memory.tensor_peak_bytes`): every tensor allocated during the derivative
computation (support included), a consumer of the result and the backward pass. The estimate must
be at least that peak and at most four times it.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from hodgnn.derivatives import (
    MemoryBudgetError,
    MemoryCheck,
    build_pair_support,
    mixed_derivatives,
    node_derivatives,
    recorded_estimates,
)
from hodgnn.derivatives.memory import (
    MIXED_DERIVATIVE_TENSORS,
    PAIR_SUPPORT,
    TRIPLE_SUPPORT,
    bivariate_intermediates,
    mixed_derivative_bytes,
    node_derivative_bytes,
)
from hodgnn.derivatives.support import build_triple_support
from hodgnn.derivatives.taylor import compose_bivariate
from hodgnn.nn import BaseMPNN
from hodgnn.testing.graphs import path_graph, random_graph
from hodgnn.testing.memory import tensor_peak_bytes

MAX_RATIO = 4.0

GRAPHS = {
    "random40": lambda: random_graph(40, 0.08, seed=1),
    "path50": lambda: path_graph(50),
    "random24": lambda: random_graph(24, 0.15, seed=2),
}

# (kind, graph, F, d, T, m, conv, act)
CASES = [
    ("full", "random40", 4, 16, 3, 3, "gin", "silu"),
    ("full", "path50", 4, 16, 3, 2, "gine", "tanh"),
    ("full", "random24", 2, 8, 2, 1, "gcn", "softplus"),
    ("diagonal", "random40", 4, 16, 3, 3, "gin", "silu"),
    ("diagonal", "path50", 1, 16, 8, 1, "mean", "relu"),
    ("diagonal", "random40", 1, 16, 8, 1, "mean", "relu"),
    ("mixed", "random24", 1, 16, 2, 2, "gin", "silu"),
    ("mixed", "path50", 1, 8, 3, 1, "gin", "tanh"),
    ("mixed", "random24", 2, 8, 2, 1, "gine", "tanh"),
]


def _setup(kind, graph_name, F, d, T, m, conv, act):
    graph = GRAPHS[graph_name]()
    n, edge_index = graph.num_nodes, graph.edge_index
    torch.manual_seed(0)
    base = BaseMPNN(F, d, T, conv=conv, act=act, edge_dim=2 if conv == "gine" else None)
    x = torch.randn(n, F, requires_grad=True)
    edge_attr = torch.randn(edge_index.size(1), 2) if conv == "gine" else None
    return base, x, edge_index, edge_attr


def _forward_backward(kind, base, x, edge_index, edge_attr, m):
    """The derivative computation, a consumer of every returned tensor (a fixed linear map), and
    the backward pass to the weights and the input."""
    if kind == "mixed":
        outputs = [mixed_derivatives(base, x, edge_index, m, edge_attr)]
    else:
        diagonal = kind == "diagonal"
        result = node_derivatives(
            base, x, edge_index, m, edge_attr, all_layers=diagonal, diagonal_only=diagonal
        )
        outputs = result if diagonal else [result]
    weight = torch.linspace(-1, 1, outputs[-1].values[0].numel()).view(outputs[-1].values.shape[1:])
    loss = sum((out.values * weight).sum() for out in outputs) + outputs[-1].h.sum()
    loss.backward()


def _estimate(kind, base, x, edge_index, m):
    n, F = x.shape
    if kind == "mixed":
        pairs = build_pair_support(edge_index, n, base.num_layers)
        triples = build_triple_support(pairs)
        return mixed_derivative_bytes(base, pairs, triples, m, F, x.element_size())
    support = build_pair_support(edge_index, n, base.num_layers, diagonal_only=kind == "diagonal")
    return node_derivative_bytes(base, support, m, F, x.element_size(), all_layers=kind == "diagonal")


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_estimate_bounds_the_measured_peak(case):
    kind, *_, m, _, _ = case
    base, x, edge_index, edge_attr = _setup(*case)
    estimate = _estimate(kind, base, x, edge_index, m)

    def step():
        _forward_backward(kind, base, x, edge_index, edge_attr, m)

    step()  # warm-up: lazy initialisation outside the measurement
    base.zero_grad(set_to_none=True)
    x.grad = None
    peak = tensor_peak_bytes(step)
    assert peak > 0
    assert estimate >= peak, f"estimate {estimate:,} B below the measured peak {peak:,} B"
    assert estimate <= MAX_RATIO * peak, (
        f"estimate {estimate:,} B is {estimate / peak:.1f}x the peak {peak:,} B"
    )


@pytest.mark.parametrize("kind", ["full", "diagonal", "mixed"])
def test_the_guard_uses_the_estimate(kind):
    """The error's ``estimate_bytes`` is the documented estimate, for the configuration called."""
    case = next(c for c in CASES if c[0] == kind)
    m = case[5]
    base, x, edge_index, edge_attr = _setup(*case)
    estimate = _estimate(kind, base, x, edge_index, m)
    budget = estimate - 1  # far above the supports' own checks
    with pytest.raises(MemoryBudgetError) as info:
        if kind == "mixed":
            mixed_derivatives(base, x, edge_index, m, edge_attr, memory_budget=budget)
        else:
            diagonal = kind == "diagonal"
            node_derivatives(
                base,
                x,
                edge_index,
                m,
                edge_attr,
                all_layers=diagonal,
                diagonal_only=diagonal,
                memory_budget=budget,
            )
    assert info.value.estimate_bytes == estimate
    assert info.value.budget_bytes == estimate - 1
    assert "derivative tensors" in info.value.what


def test_recorded_estimates_dry_run_stops_before_the_computation(monkeypatch):
    """A dry run records every check in order, with the documented estimates, and stops at the named
    check before the engine propagates anything; the budget still applies to the earlier checks."""
    from hodgnn.derivatives import engine

    case = next(c for c in CASES if c[0] == "mixed")
    m = case[5]
    base, x, edge_index, edge_attr = _setup(*case)
    estimate = _estimate("mixed", base, x, edge_index, m)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the dry run propagated jets")

    monkeypatch.setattr(engine, "_propagate", must_not_run)
    with recorded_estimates(MIXED_DERIVATIVE_TENSORS) as checks:
        mixed_derivatives(base, x, edge_index, m, edge_attr, memory_budget=10 * estimate)
    assert list(dict.fromkeys(c.what for c in checks)) == [  # the support checks run once per layer
        PAIR_SUPPORT,
        TRIPLE_SUPPORT,
        MIXED_DERIVATIVE_TENSORS,
    ]
    assert checks[-1] == MemoryCheck(MIXED_DERIVATIVE_TENSORS, estimate, 10 * estimate)
    assert not any(c.exceeds_budget for c in checks)

    pair_support = checks[0].estimate_bytes  # a budget below the first check: the guard stops there
    with (
        pytest.raises(MemoryBudgetError) as info,
        recorded_estimates(MIXED_DERIVATIVE_TENSORS) as early,
    ):
        mixed_derivatives(base, x, edge_index, m, edge_attr, memory_budget=pair_support - 1)
    assert info.value.what == PAIR_SUPPORT and len(early) == 1 and early[0].exceeds_budget

    with recorded_estimates() as outer:  # no stop: nested blocks both record; the guard raises as usual
        with recorded_estimates() as inner, pytest.raises(MemoryBudgetError):
            mixed_derivatives(base, x, edge_index, m, edge_attr, memory_budget=estimate - 1)
        with pytest.raises(MemoryBudgetError):  # after the inner block: the outer one alone records
            mixed_derivatives(base, x, edge_index, m, edge_attr, memory_budget=estimate - 1)
    assert inner[-1] == MemoryCheck(MIXED_DERIVATIVE_TENSORS, estimate, estimate - 1)
    assert outer == inner + inner
    from hodgnn.derivatives.memory import _RECORDERS

    assert _RECORDERS == []  # nothing records outside the blocks


def test_recorded_estimates_refuses_an_unknown_stop():
    """A ``stop_at`` that no check makes would never stop the dry run: refused before anything records."""
    from hodgnn.derivatives.memory import _RECORDERS

    with pytest.raises(ValueError, match="unknown check 'the mixed derivatives'"):
        with recorded_estimates("the mixed derivatives"):
            raise AssertionError("the block ran")
    assert _RECORDERS == []


class _CountProducts(TorchDispatchMode):
    """Counts the tensor-producing arithmetic (``mul``/``add``) torch dispatches."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.mul, torch.ops.aten.add):
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_bivariate_intermediates_counts_the_tensors_compose_bivariate_creates(order):
    keys = [(a, b) for a in range(order + 1) for b in range(order + 1) if a + b > 0]
    delta = {key: torch.randn(3, 2) for key in keys}
    g = [torch.randn(3, 2) for _ in range(2 * order + 1)]
    with _CountProducts() as counter:
        compose_bivariate(g, delta, order)
    assert bivariate_intermediates(order) == counter.count
