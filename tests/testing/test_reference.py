"""The nested-autograd references against closed forms, and the batched against the plain ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.polynomial import Polynomial

from hodgnn.nn import BaseMPNN
from hodgnn.reference import (
    reference_mixed_derivatives,
    reference_mixed_derivatives_batched,
    reference_node_derivatives,
    reference_node_derivatives_batched,
)
from hodgnn.testing.cases import make_case
from hodgnn.testing.graphs import duplicate_edge, self_loop, triangle_with_tail

WEIGHT, EPS = 0.7, 0.5


def tanh_derivatives(z: np.ndarray, count: int) -> list[np.ndarray]:
    """``tanh^(k)(z)`` for ``k < count`` from the polynomials ``p_{k+1} = p_k' (1 - y^2)`` in
    ``y = tanh z``."""
    poly, out = Polynomial([0.0, 1.0]), []
    y = np.tanh(z)
    for _ in range(count):
        out.append(poly(y))
        poly = poly.deriv() * Polynomial([1.0, 0.0, -1.0])
    return out


def one_layer_tanh_gin(graph):
    """``h_v = tanh(w z_v)``, ``z = C x`` with ``C = (1 + eps) I + A``: every derivative in closed
    form, ``d^(a+b) h_v / dx_u1^a dx_u2^b = w^(a+b) C[v,u1]^a C[v,u2]^b tanh^(a+b)(w z_v)``."""
    base = BaseMPNN(1, 1, 1, conv="gin", act="tanh", eps=EPS, num_mlp_layers=1, bias=False).double()
    with torch.no_grad():
        base.layers[0].linears[0].weight.fill_(WEIGHT)
    x = torch.linspace(-1.0, 1.2, graph.num_nodes, dtype=torch.float64).unsqueeze(1)
    coupling = (graph.adjacency() + (1 + EPS) * torch.eye(graph.num_nodes, dtype=torch.float64)).numpy()
    z = WEIGHT * (coupling @ x.numpy()[:, 0])
    return base, x, coupling, tanh_derivatives(z, 7)


@pytest.mark.parametrize("make_graph", [duplicate_edge, self_loop, triangle_with_tail])
def test_node_references_match_the_closed_form(make_graph):
    graph = make_graph()
    base, x, coupling, derivs = one_layer_tanh_gin(graph)
    order = 4
    expected = np.stack(
        [WEIGHT**a * coupling**a * derivs[a][:, None] for a in range(1, order + 1)], axis=2
    )  # [v, u, a]
    plain = reference_node_derivatives(lambda y: base(y, graph.edge_index), x, order)
    batched = reference_node_derivatives_batched(base, x, graph.edge_index, order)
    for reference in (plain, batched):
        assert reference.shape == (graph.num_nodes, graph.num_nodes, order, 1, 1)
        np.testing.assert_allclose(reference[..., 0, 0].numpy(), expected, rtol=1e-12, atol=1e-12)


def test_mixed_references_match_the_closed_form():
    graph = duplicate_edge()
    base, x, coupling, derivs = one_layer_tanh_gin(graph)
    order, n = 2, graph.num_nodes
    expected = np.zeros((n, n, n, order, order))
    for u1 in range(n):
        for u2 in range(n):
            if u1 == u2:
                continue
            for a in range(1, order + 1):
                for b in range(1, order + 1):
                    expected[:, u1, u2, a - 1, b - 1] = (
                        WEIGHT ** (a + b) * coupling[:, u1] ** a * coupling[:, u2] ** b * derivs[a + b]
                    )
    plain = reference_mixed_derivatives(lambda y: base(y, graph.edge_index), x, order)
    batched = reference_mixed_derivatives_batched(base, x, graph.edge_index, order)
    for reference in (plain, batched):
        np.testing.assert_allclose(reference[..., 0, 0, 0].numpy(), expected, rtol=1e-12, atol=1e-12)
    assert np.abs(expected).max() > 0.1


def test_batched_mixed_reference_equals_the_plain_one_with_edge_features():
    case = make_case(triangle_with_tail(), "gine", "gelu")
    plain = reference_mixed_derivatives(lambda y: case.base(y, case.edge_index, case.edge_attr), case.x, 2)
    torch.testing.assert_close(case.mixed_reference(2), plain, rtol=1e-12, atol=1e-14)


def test_readout_reference_has_one_row_per_output():
    graph = triangle_with_tail()
    base, x, _, _ = one_layer_tanh_gin(graph)
    reference = reference_node_derivatives(lambda y: base(y, graph.edge_index).sum(0, keepdim=True), x, 2)
    per_node = reference_node_derivatives(lambda y: base(y, graph.edge_index), x, 2)
    assert reference.shape == (1, graph.num_nodes, 2, 1, 1)
    torch.testing.assert_close(reference[0], per_node.sum(0), rtol=1e-14, atol=1e-15)


def test_the_test_support_reexports_the_library_reference():
    from hodgnn.testing import reference as testing_reference

    assert testing_reference.reference_node_derivatives is reference_node_derivatives
    assert testing_reference.reference_mixed_derivatives_batched is reference_mixed_derivatives_batched
