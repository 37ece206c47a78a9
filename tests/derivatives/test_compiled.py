"""The compiled Taylor compositions (``compile_taylor=True``) against nested autograd and the eager
engine: the same values and weight gradients (one compilation, about a minute on two cores)."""

from __future__ import annotations

import torch

from hodgnn.derivatives import node_derivatives
from hodgnn.testing.cases import make_case
from hodgnn.testing.checks import assert_close_to_reference
from hodgnn.testing.graphs import random_graph


def test_compiled_taylor_compositions_match_the_oracle_and_the_eager_engine():
    order = 3
    case = make_case(random_graph(9, 0.3, 1), "gin", "silu", num_layers=2)
    reference = case.reference(order)
    results = {}
    for compiled in (False, True):
        case.base.zero_grad()
        der = node_derivatives(case.base, case.x, case.edge_index, order, compile_taylor=compiled)
        (der.values.square().sum() + der.h.sum()).backward()
        grads = [p.grad.clone() for p in case.base.parameters() if p.grad is not None]
        results[compiled] = (der, grads)
        assert_close_to_reference(der.to_dense(), reference, rtol=1e-9)
    (eager, eager_grads), (fused, fused_grads) = results[False], results[True]
    assert torch.equal(eager.index, fused.index)
    torch.testing.assert_close(fused.values, eager.values, rtol=1e-12, atol=1e-12)
    assert len(fused_grads) == len(eager_grads) > 0
    for a, b in zip(fused_grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
