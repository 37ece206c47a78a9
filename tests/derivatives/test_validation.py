"""Bad inputs get a clear ValueError before any work; the memory guard raises before allocating."""

from __future__ import annotations

import re
import resource

import pytest
import torch

from hodgnn.derivatives import (
    MemoryBudgetError,
    build_pair_support,
    graph_derivatives,
    mixed_derivatives,
    node_derivatives,
)
from hodgnn.derivatives.memory import node_derivative_bytes
from hodgnn.nn import BaseMPNN
from hodgnn.testing.cases import make_case

ENGINE = {"node": node_derivatives, "mixed": mixed_derivatives, "graph": graph_derivatives}


@pytest.fixture(scope="module")
def case():
    return make_case("triangle_tail", "gin", "silu")


@pytest.fixture(scope="module")
def gine_case():
    return make_case("triangle_tail", "gine", "tanh")


def call(fn_name, case, x=None, edge_index=None, order=2, **kwargs):
    x = case.x if x is None else x
    edge_index = case.edge_index if edge_index is None else edge_index
    return ENGINE[fn_name](case.base, x, edge_index, order, **kwargs)


BAD_EDGE_INDEX = [
    (lambda ei: ei.t().contiguous(), r"edge_index must have shape \[2, num_edges\]"),
    (lambda ei: ei[0], r"edge_index must have shape \[2, num_edges\]"),
    (lambda ei: torch.cat([ei, ei[:1]]), r"edge_index must have shape \[2, num_edges\]"),
    (lambda ei: ei.to(torch.int32), "edge_index must be torch.long"),
    (lambda ei: ei.double(), "edge_index must be torch.long"),
    (lambda ei: torch.cat([ei, torch.tensor([[0], [5]])], 1), r"node ids in \[0, 5\], outside \[0, 4\]"),
    (lambda ei: torch.cat([ei, torch.tensor([[-1], [2]])], 1), r"node ids in \[-1, 4\], outside \[0, 4\]"),
]


@pytest.mark.parametrize("fn_name", list(ENGINE))
@pytest.mark.parametrize("bad", BAD_EDGE_INDEX, ids=lambda b: b[1][:20])
def test_bad_edge_index(case, fn_name, bad):
    transform, message = bad
    with pytest.raises(ValueError, match=message):
        call(fn_name, case, edge_index=transform(case.edge_index))


def with_value(x, value):
    x = x.clone()
    x[1, 0] = value
    return x


BAD_X = [
    (lambda x: x[:, 0], "x must be a 2-D tensor"),
    (lambda x: x.unsqueeze(0), "x must be a 2-D tensor"),
    (lambda x: x.long(), "x must be floating point"),
    (lambda x: x.bool(), "x must be floating point"),
    (lambda x: with_value(x, float("nan")), "x holds NaN or Inf"),
    (lambda x: with_value(x, float("inf")), "x holds NaN or Inf"),
    (lambda x: with_value(x, -float("inf")), "x holds NaN or Inf"),
    (lambda x: torch.cat([x, x[:, :1]], 1), "x has 3 channels but the base MPNN expects 2"),
    (lambda x: x[:, :1], "x has 1 channels but the base MPNN expects 2"),
]


@pytest.mark.parametrize("fn_name", list(ENGINE))
@pytest.mark.parametrize("bad", BAD_X, ids=lambda b: b[1][:20])
def test_bad_x(case, fn_name, bad):
    transform, message = bad
    with pytest.raises(ValueError, match=message):
        call(fn_name, case, x=transform(case.x))


def test_x_that_is_not_a_tensor(case):
    with pytest.raises(ValueError, match="x must be a 2-D tensor"):
        node_derivatives(case.base, case.x.tolist(), case.edge_index, 1)


@pytest.mark.parametrize("fn_name", list(ENGINE))
@pytest.mark.parametrize("order", [0, -1, 2.0, "2", None, True])
def test_bad_order(case, fn_name, order):
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        call(fn_name, case, order=order)


@pytest.mark.parametrize("fn_name", list(ENGINE))
def test_unknown_scale(case, fn_name):
    with pytest.raises(ValueError, match="unknown scale 'factorial'"):
        call(fn_name, case, scale="factorial")


@pytest.mark.parametrize("fn_name", list(ENGINE))
def test_gine_needs_edge_attr(gine_case, fn_name):
    with pytest.raises(ValueError, match="needs edge_attr"):
        call(fn_name, gine_case)


@pytest.mark.parametrize("fn_name", list(ENGINE))
def test_bad_edge_attr(gine_case, fn_name):
    with pytest.raises(ValueError, match="edge_attr must have shape"):
        call(fn_name, gine_case, edge_attr=gine_case.edge_attr[:-1])
    with pytest.raises(ValueError, match="edge_attr holds NaN or Inf"):
        call(fn_name, gine_case, edge_attr=with_value(gine_case.edge_attr, float("nan")))


def test_unknown_conv_or_activation():
    with pytest.raises(ValueError, match="unknown conv 'gat'"):
        BaseMPNN(2, 3, 2, conv="gat")
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        BaseMPNN(2, 3, 2, act="swish")
    with pytest.raises(ValueError, match="conv='gine' needs edge_dim"):
        BaseMPNN(2, 3, 2, conv="gine")


def test_support_for_another_graph(case):
    other = build_pair_support(case.edge_index, case.x.size(0) + 1, case.base.num_layers)
    with pytest.raises(ValueError, match="support was built for [0-9]+ nodes and [0-9]+ layers"):
        node_derivatives(case.base, case.x, case.edge_index, 2, support=other)
    shallow = build_pair_support(case.edge_index, case.x.size(0), case.base.num_layers - 1)
    with pytest.raises(ValueError, match="support was built for [0-9]+ nodes and [0-9]+ layers"):
        node_derivatives(case.base, case.x, case.edge_index, 2, support=shallow)


# ----------------------------------------------------------------------------------------------
# memory guard


def stated_bytes(message: str) -> int:
    """The estimate in bytes stated by a MemoryBudgetError (and check it also states GiB)."""
    assert re.search(r"about \d+\.\d+ GiB", message), message
    match = re.search(r"\(([\d,]+) bytes\)", message)
    assert match, message
    return int(match.group(1).replace(",", ""))


@pytest.mark.parametrize("fn_name", list(ENGINE))
def test_tiny_budget_raises_with_the_estimate(case, fn_name):
    with pytest.raises(MemoryBudgetError) as info:
        call(fn_name, case, memory_budget=1)
    assert isinstance(info.value, RuntimeError)
    assert stated_bytes(str(info.value)) > 1
    assert "memory budget" in str(info.value)
    # the attributes carry what the message states
    assert info.value.estimate_bytes == stated_bytes(str(info.value))
    assert info.value.budget_bytes == 1
    assert info.value.what and str(info.value).startswith(info.value.what)


def test_memory_budget_error_pickles_with_its_attributes():
    """DDP and subprocess workers send exceptions through pickle: the attributes must survive."""
    import pickle

    error = MemoryBudgetError(3 * 2**30, 2**30, "the derivative tensors")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.estimate_bytes, copy.budget_bytes, copy.what) == (3 * 2**30, 2**30, "the derivative tensors")
    assert str(copy) == str(error)
    assert "3.00 GiB (3,221,225,472 bytes)" in str(error) and "1.00 GiB" in str(error)


def test_estimate_covers_the_derivative_tensors(case):
    """The estimate for the jets (support given, so the support check passes) is at least the size
    of the returned values of every layer."""
    support = build_pair_support(case.edge_index, case.x.size(0), case.base.num_layers)
    layers = node_derivatives(case.base, case.x, case.edge_index, 3, support=support, all_layers=True)
    returned = sum(d.values.numel() * d.values.element_size() for d in layers)
    with pytest.raises(MemoryBudgetError) as info:
        node_derivatives(case.base, case.x, case.edge_index, 3, support=support, memory_budget=returned - 1)
    assert stated_bytes(str(info.value)) >= returned
    # a budget at the estimate passes
    estimate = stated_bytes(str(info.value))
    node_derivatives(case.base, case.x, case.edge_index, 3, support=support, memory_budget=estimate)


def test_environment_budget_is_the_default(case, monkeypatch):
    """Without ``memory_budget=``, ``$HODGNN_MEMORY_BUDGET`` (read when the guard runs) is the budget:
    the guard's own estimate just above it raises, at it passes; an explicit budget wins."""
    support = build_pair_support(case.edge_index, case.x.size(0), case.base.num_layers)
    estimate = node_derivative_bytes(case.base, support, 1, case.x.size(1), case.x.element_size())

    monkeypatch.setenv("HODGNN_MEMORY_BUDGET", str(estimate - 1))
    with pytest.raises(MemoryBudgetError) as info:
        node_derivatives(case.base, case.x, case.edge_index, 1, support=support)
    assert (info.value.estimate_bytes, info.value.budget_bytes) == (estimate, estimate - 1)
    assert info.value.what == "the derivative tensors"
    explicit = node_derivatives(
        case.base, case.x, case.edge_index, 1, support=support, memory_budget=estimate
    )

    monkeypatch.setenv("HODGNN_MEMORY_BUDGET", str(estimate))
    result = node_derivatives(case.base, case.x, case.edge_index, 1, support=support)
    assert torch.equal(result.values, explicit.values)

    monkeypatch.setenv("HODGNN_MEMORY_BUDGET", "1e3")  # exponent notation: 1000 bytes
    with pytest.raises(MemoryBudgetError) as info:
        node_derivatives(case.base, case.x, case.edge_index, 1, support=support)
    assert info.value.budget_bytes == 1000 < estimate


def test_guard_raises_before_allocating_on_a_huge_graph():
    """A star with 200k leaves and T = 2 has 4e10 pairs (hundreds of GiB): the guard must refuse it
    from counts alone, without the process growing by more than a few tens of MiB."""
    leaves = 200_000
    hub = torch.zeros(leaves, dtype=torch.long)
    spokes = torch.arange(1, leaves + 1)
    edge_index = torch.cat([torch.stack([hub, spokes]), torch.stack([spokes, hub])], 1)
    x = torch.zeros(leaves + 1, 1, dtype=torch.float32)
    base = BaseMPNN(1, 2, 2, conv="gcn", act="tanh")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(MemoryBudgetError) as info:
        node_derivatives(base, x, edge_index, 2, memory_budget=2**30)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert stated_bytes(str(info.value)) > 2**30
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB before the guard fired"
    with pytest.raises(MemoryBudgetError):
        mixed_derivatives(base, x, edge_index, 1, memory_budget=2**30)
