"""The reusable checks pass on correct inputs and fail on wrong ones."""

from __future__ import annotations

import pytest
import torch

from hodgnn.derivatives import NodeDerivatives, node_derivatives
from hodgnn.testing.cases import make_case
from hodgnn.testing.checks import (
    assert_close_to_reference,
    assert_permutation_equivariant,
    assert_support_complete,
    errors_by_order,
)


def test_errors_are_measured_per_order_against_a_floor():
    expected = torch.zeros(2, 2, 3, 1, 1, dtype=torch.float64)
    expected[:, :, 0] = 10.0  # order 1 large
    expected[:, :, 1] = 1e-6  # order 2 tiny: floor 1e-3 * 10 = 0.01
    actual = expected.clone()
    actual[0, 1, 1] += 1e-12
    error, scale = errors_by_order(actual, expected, (2,))
    assert torch.allclose(scale, torch.tensor([10.0, 0.01, 0.01], dtype=torch.float64))
    assert float(error[1]) == pytest.approx(1e-12, rel=1e-3)
    assert_close_to_reference(actual, expected, 1e-9)
    with pytest.raises(AssertionError, match="orders"):
        assert_close_to_reference(actual, expected, 1e-11)
    with pytest.raises(AssertionError, match="orders"):
        assert_close_to_reference(actual, expected, (1.0, 1e-11, 1.0))
    with pytest.raises(AssertionError, match="shape"):
        assert_close_to_reference(actual[:1], expected, 1e-9)


def test_support_completeness_detects_a_missing_pair():
    values = torch.ones(2, 1, 1, 1, dtype=torch.float64)
    derivatives = NodeDerivatives(torch.tensor([[0, 1], [0, 1]]), values, torch.zeros(2, 1), 2)
    reference = torch.zeros(2, 2, 1, 1, 1, dtype=torch.float64)
    reference[0, 0] = reference[1, 1] = 1.0
    assert_support_complete(derivatives, reference)
    reference[1, 0] = 0.5
    with pytest.raises(AssertionError, match=r"outside the support at \[\[1, 0\]\]"):
        assert_support_complete(derivatives, reference)


def test_permutation_check_detects_a_broken_computation():
    case = make_case("triangle_tail", "gin", "silu")
    perm = torch.tensor([2, 4, 0, 1, 3])

    def equivariant(x, edge_index, edge_attr):
        return node_derivatives(case.base, x, edge_index, 2, edge_attr)

    def position_dependent(x, edge_index, edge_attr):
        ramp = torch.arange(x.size(0), dtype=x.dtype).unsqueeze(1)
        return node_derivatives(case.base, x + ramp, edge_index, 2, edge_attr)

    assert_permutation_equivariant(equivariant, case.x, case.edge_index, perm)
    with pytest.raises(AssertionError):
        assert_permutation_equivariant(position_dependent, case.x, case.edge_index, perm)
