"""The derivative engine against nested automatic differentiation of the base MPNN itself.

Oracle: every conv x every activation x orders 1..4 on every hand-made graph of
:mod:`hodgnn.testing.graphs` (float64: error <= 1e-9 of the per-order scale; float32: 1e-4 for
orders 1-2 and 1e-3 for orders 3-4, the size of nested autograd's own float32 error),
plus completeness of the support, all-layer and diagonal-only modes, graph-level derivatives,
PyG batches, mixed derivatives, ReLU, permutation equivariance and gradients w.r.t. weights.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from hodgnn.derivatives import (
    build_pair_support,
    graph_derivatives,
    memory,
    mixed_derivatives,
    node_derivatives,
)
from hodgnn.derivatives.activations import ACTIVATIONS
from hodgnn.nn.base_mpnn import CONVS
from hodgnn.testing.cases import DerivativeCase, make_case
from hodgnn.testing.checks import (
    assert_close_to_reference,
    assert_permutation_equivariant,
    assert_support_complete,
    gradcheck_parameters,
)
from hodgnn.testing.graphs import SMALL_GRAPHS, SmallGraph, path_graph, random_graph
from hodgnn.testing.models import identity_base_mpnn
from hodgnn.testing.reference import reference_node_derivatives, reference_node_derivatives_batched

ACTS = list(ACTIVATIONS)
ANALYTIC = [name for name, act in ACTIVATIONS.items() if act.analytic and name != "identity"]
GRAPHS = list(SMALL_GRAPHS)
# allowed error / scale per order 1..4. float32: nested autograd in float32 itself errs by up to
# ~3e-4 of the scale at order 4 on these cases (conditioning of high orders), so orders 3-4 get 1e-3.
RTOL = {torch.float64: 1e-9, torch.float32: (1e-4, 1e-4, 1e-3, 1e-3)}
MAX_ORDER = 4


@functools.cache
def oracle(graph: str, conv: str, act: str, num_layers: int = 2) -> tuple[DerivativeCase, torch.Tensor]:
    """A case and its order-4 reference (one nested-JVP chain gives orders 1..4)."""
    case = make_case(graph, conv, act, num_layers)
    return case, case.reference(MAX_ORDER)


def assert_reference_nontrivial(reference: torch.Tensor, act: str) -> None:
    """The reference must not be vacuous: first derivatives non-zero, and for analytic
    activations every order non-zero."""
    per_order = reference.abs().amax(dim=(0, 1, 3, 4))
    assert per_order[0] > 1e-6, "dead network: first derivatives vanish"
    if act in ANALYTIC:
        assert bool((per_order > 1e-8).all()), f"an order vanishes: {per_order.tolist()}"


def check_against_oracle(case: DerivativeCase, reference: torch.Tensor, orders, dtype=torch.float64):
    if dtype != torch.float64:
        case = case.to(dtype)
    for order in orders:
        derivatives = node_derivatives(case.base, case.x, case.edge_index, order, case.edge_attr)
        assert derivatives.values.dtype == dtype
        assert derivatives.values.shape[1:] == (order, case.base.hidden_channels, case.x.size(1))
        assert_close_to_reference(
            derivatives.to_dense(), reference[:, :, :order], RTOL[dtype], what=f"order {order}"
        )
        assert_support_complete(derivatives, reference)
        torch.testing.assert_close(derivatives.h, case.base(case.x, case.edge_index, case.edge_attr))


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("graph", GRAPHS)
def test_node_derivatives_match_nested_autograd(graph, conv, act):
    case, reference = oracle(graph, conv, act)
    assert_reference_nontrivial(reference, act)
    check_against_oracle(case, reference, orders=range(1, MAX_ORDER + 1))


@pytest.mark.parametrize("act", ["silu", "tanh", "relu"])
@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("graph", ["path5", "two_components", "directed", "self_loop", "duplicate_edge"])
def test_three_layers_match_nested_autograd(graph, conv, act):
    case, reference = oracle(graph, conv, act, 3)
    assert_reference_nontrivial(reference, act)
    check_against_oracle(case, reference, orders=[MAX_ORDER, 2])


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("graph", ["path5", "two_components", "self_loop", "pyg_batch"])
def test_float32_matches_float64_reference(graph, conv, act):
    case, reference = oracle(graph, conv, act)
    check_against_oracle(case, reference, orders=[MAX_ORDER, 1], dtype=torch.float32)


def test_batched_reference_equals_per_scalar_reference():
    """The disjoint-copies reference used above agrees with the plain one-chain-per-scalar one."""
    for graph, conv, act in [("two_components", "gine", "silu"), ("directed", "gcn", "gelu")]:
        case, reference = oracle(graph, conv, act)
        plain = reference_node_derivatives(
            lambda y, case=case: case.base(y, case.edge_index, case.edge_attr), case.x, MAX_ORDER
        )
        torch.testing.assert_close(reference, plain, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("conv", CONVS)
def test_taylor_scale_divides_by_factorial(conv):
    case, reference = oracle("triangle_tail", conv, "silu")
    taylor = node_derivatives(case.base, case.x, case.edge_index, MAX_ORDER, case.edge_attr, scale="taylor")
    factorial = torch.tensor([math.factorial(a) for a in range(1, MAX_ORDER + 1)], dtype=torch.float64)
    assert_close_to_reference(taylor.to_dense(), reference / factorial.view(1, 1, -1, 1, 1), 1e-9)


def test_precomputed_support_gives_the_same_result():
    case, _ = oracle("triangle_tail", "gin", "tanh")
    support = build_pair_support(case.edge_index, case.graph.num_nodes, case.base.num_layers)
    direct = node_derivatives(case.base, case.x, case.edge_index, 3)
    cached = node_derivatives(case.base, case.x, case.edge_index, 3, support=support)
    assert torch.equal(direct.index, cached.index)
    assert torch.equal(direct.values, cached.values)


# ----------------------------------------------------------------------------------------------
# every layer, diagonal only


def layer_reference(case: DerivativeCase, order: int) -> list[torch.Tensor]:
    """Reference derivatives of every layer's output: one chain on the concatenated outputs."""
    d = case.base.hidden_channels

    def all_outputs(x, edge_index, edge_attr):
        return torch.cat(case.base(x, edge_index, edge_attr, return_all=True), dim=-1)

    stacked = reference_node_derivatives_batched(all_outputs, case.x, case.edge_index, order, case.edge_attr)
    return list(stacked.split(d, dim=3))


@pytest.mark.parametrize(
    "graph,conv,act",
    [
        ("path5", "gin", "silu"),
        ("two_components", "gcn", "tanh"),
        ("self_loop", "mean", "gelu"),
        ("directed", "gine", "softplus"),
        ("pyg_batch", "gin", "relu"),
    ],
)
def test_all_layers_match_reference_per_layer(graph, conv, act):
    case = make_case(graph, conv, act, num_layers=3)
    references = layer_reference(case, 3)
    layers = node_derivatives(case.base, case.x, case.edge_index, 3, case.edge_attr, all_layers=True)
    outputs = case.base(case.x, case.edge_index, case.edge_attr, return_all=True)
    assert len(layers) == len(references) == 3
    for t, (derivatives, reference, h) in enumerate(zip(layers, references, outputs, strict=True), 1):
        assert_close_to_reference(derivatives.to_dense(), reference, 1e-9, what=f"layer {t}")
        assert_support_complete(derivatives, reference)
        torch.testing.assert_close(derivatives.h, h, rtol=0, atol=1e-14)
    last = node_derivatives(case.base, case.x, case.edge_index, 3, case.edge_attr)
    assert torch.equal(last.index, layers[-1].index)
    torch.testing.assert_close(last.values, layers[-1].values, rtol=0, atol=0)


def path_pairs_within(num_nodes: int, radius: int) -> int:
    """Ordered pairs of a path at distance <= radius, counted by hand: n at distance 0 and
    2 (n - k) at distance k >= 1."""
    return num_nodes + sum(2 * (num_nodes - k) for k in range(1, min(radius, num_nodes - 1) + 1))


@pytest.mark.parametrize("num_layers", [1, 2, 3, 4])
def test_pair_counts_on_a_path(num_layers):
    n = 6
    graph = path_graph(n)
    case = make_case(graph, "gin", "silu", num_layers=num_layers)
    full = node_derivatives(case.base, case.x, graph.edge_index, 1, all_layers=True)
    diag = node_derivatives(case.base, case.x, graph.edge_index, 1, all_layers=True, diagonal_only=True)
    for t in range(1, num_layers + 1):
        assert full[t - 1].index.size(1) == path_pairs_within(n, t)
        assert diag[t - 1].index.size(1) == path_pairs_within(n, min(t, num_layers - t))
    # by hand for T = 2: the full support has 6 + 10 + 8 = 24 pairs, the diagonal mode 6 at the end
    if num_layers == 2:
        assert [f.index.size(1) for f in full] == [16, 24]
        assert [g.index.size(1) for g in diag] == [16, 6]


@pytest.mark.parametrize(
    "graph,conv,act",
    [
        ("path5", "gin", "silu"),
        ("cycle5", "gcn", "tanh"),
        ("two_components", "mean", "softplus"),
        ("self_loop", "gine", "gelu"),
        ("duplicate_edge", "gin", "elu"),
        ("pyg_batch", "gcn", "sigmoid"),
    ],
)
@pytest.mark.parametrize("num_layers", [2, 3, 4])
def test_diagonal_only_equals_full_mode(graph, conv, act, num_layers):
    case = make_case(graph, conv, act, num_layers=num_layers)
    args = (case.base, case.x, case.edge_index, 3, case.edge_attr)
    full = node_derivatives(*args, all_layers=True)
    diag = node_derivatives(*args, all_layers=True, diagonal_only=True)
    n = case.graph.num_nodes
    for f, g in zip(full, diag, strict=True):
        torch.testing.assert_close(g.diagonal(), f.diagonal(), rtol=1e-12, atol=1e-14)
        on_diagonal = g.index[0] == g.index[1]
        assert torch.equal(g.index[0, on_diagonal], torch.arange(n))
        # every stored pair of the pruned support is a pair of the full one, with the same value
        full_dense = f.to_dense()
        torch.testing.assert_close(g.values, full_dense[g.index[0], g.index[1]], rtol=1e-12, atol=1e-14)
        assert g.index.size(1) <= f.index.size(1)
        torch.testing.assert_close(g.h, f.h, rtol=0, atol=0)
    assert diag[-1].index.size(1) == n
    assert torch.equal(diag[-1].index[0], diag[-1].index[1])


@pytest.mark.parametrize("graph", ["directed", "directed_triangle"])
def test_diagonal_only_equals_full_mode_on_directed_graphs(graph):
    if graph == "directed_triangle":
        edge_index, n = torch.tensor([[0, 1, 2], [1, 2, 0]]), 3
    else:
        edge_index, n = SMALL_GRAPHS[graph]().edge_index, SMALL_GRAPHS[graph]().num_nodes
    base = identity_base_mpnn("gin", num_layers=3, eps=-1.0)
    x = torch.ones(n, 1, dtype=torch.float64)
    adjacency = SmallGraph("g", n, edge_index, torch.zeros(n, dtype=torch.long)).adjacency()
    walks = torch.linalg.matrix_power(adjacency, 3)
    full = node_derivatives(base, x, edge_index, 1)
    diag = node_derivatives(base, x, edge_index, 1, diagonal_only=True)
    torch.testing.assert_close(full.diagonal()[:, 0, 0, 0], walks.diagonal())
    assert float(walks.diagonal().sum()) > 0
    torch.testing.assert_close(diag.diagonal(), full.diagonal())


# ----------------------------------------------------------------------------------------------
# graph level, batches


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("graph", ["pyg_batch", "two_components", "isolated_node"])
def test_graph_derivatives_match_reference_readout(graph, conv):
    case = make_case(graph, conv, "gelu")
    batch = case.graph.batch
    num_graphs = case.graph.num_graphs

    def readout(x):
        h = case.base(x, case.edge_index, case.edge_attr)
        return h.new_zeros(num_graphs, h.size(1)).index_add(0, batch, h)

    reference = reference_node_derivatives(readout, case.x, MAX_ORDER)  # [G, n, m, d, F]
    expected = reference[batch, torch.arange(case.graph.num_nodes)]
    actual = graph_derivatives(case.base, case.x, case.edge_index, MAX_ORDER, case.edge_attr)
    assert_close_to_reference(actual, expected, 1e-9, order_dims=(1,))
    # derivatives of another graph's readout vanish
    other = torch.ones(num_graphs, case.graph.num_nodes, dtype=torch.bool)
    other[batch, torch.arange(case.graph.num_nodes)] = False
    assert bool((reference[other] == 0).all())


def test_batch_pairs_never_cross_graphs_and_equal_per_graph_results():
    graphs = [random_graph(9, 0.3, seed) for seed in range(4)] + [path_graph(4)]
    batch = Batch.from_data_list([Data(edge_index=g.edge_index, num_nodes=g.num_nodes) for g in graphs])
    case = make_case("path5", "gcn", "silu", num_layers=3)
    x = torch.randn(batch.num_nodes, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    together = node_derivatives(case.base, x, batch.edge_index, 2)
    assert bool((batch.batch[together.index[0]] == batch.batch[together.index[1]]).all())
    dense = together.to_dense()
    offset, total_pairs = 0, 0
    for g in graphs:
        alone = node_derivatives(case.base, x[offset : offset + g.num_nodes], g.edge_index, 2)
        block = dense[offset : offset + g.num_nodes, offset : offset + g.num_nodes]
        torch.testing.assert_close(block, alone.to_dense(), rtol=1e-12, atol=1e-14)
        offset += g.num_nodes
        total_pairs += alone.index.size(1)
    assert together.index.size(1) == total_pairs


# ----------------------------------------------------------------------------------------------
# mixed derivatives


MIXED_COMBOS = [(conv, "silu") for conv in CONVS] + [("gin", act) for act in ACTS if act != "silu"]


@functools.cache
def mixed_oracle(graph: str, conv: str, act: str) -> tuple[DerivativeCase, torch.Tensor]:
    case = make_case(graph, conv, act)
    return case, case.mixed_reference(2)


@pytest.mark.parametrize("conv,act", MIXED_COMBOS)
@pytest.mark.parametrize("graph", ["path5", "triangle_tail", "duplicate_edge", "directed", "pyg_batch"])
def test_mixed_derivatives_match_nested_autograd(graph, conv, act):
    case, reference = mixed_oracle(graph, conv, act)
    if act in ANALYTIC:
        assert bool((reference.abs().amax(dim=(0, 1, 2, 5, 6, 7)) > 1e-8).all())
    for order in (1, 2):
        mixed = mixed_derivatives(case.base, case.x, case.edge_index, order, case.edge_attr)
        assert mixed.values.shape[1:] == (order, order, case.base.hidden_channels, 2, 2)
        assert bool((mixed.index[1] != mixed.index[2]).all())
        assert_close_to_reference(
            mixed.to_dense(), reference[:, :, :, :order, :order], 1e-9, order_dims=(3, 4), what="mixed"
        )
        assert_support_complete(mixed, reference)
        torch.testing.assert_close(mixed.h, case.base(case.x, case.edge_index, case.edge_attr))


@pytest.mark.parametrize("conv", ["gin", "gine"])
def test_mixed_derivatives_in_one_row_chunks_match_the_reference(monkeypatch, conv):
    """The node-wise compositions run on checkpointed row chunks: with chunks of one row the values
    still match nested autograd and the weight gradients equal those of one chunk per layer."""
    import hodgnn.derivatives.kernels as kernels

    case, reference = mixed_oracle("triangle_tail", conv, "silu")
    params = [p for p in case.base.parameters() if p.requires_grad]

    def values_and_gradients():
        mixed = mixed_derivatives(case.base, case.x, case.edge_index, 2, case.edge_attr)
        weight = torch.linspace(-1, 1, mixed.values[0].numel(), dtype=mixed.values.dtype)
        gradients = torch.autograd.grad((mixed.values * weight.view(mixed.values.shape[1:])).sum(), params)
        return mixed, gradients

    _, whole = values_and_gradients()
    monkeypatch.setattr(memory, "CHUNK_BYTES", 1)
    assert kernels.chunk_rows(torch.zeros(5, 4)) == 1
    mixed, chunked = values_and_gradients()
    assert_close_to_reference(mixed.to_dense(), reference, 1e-9, order_dims=(3, 4), what="mixed")
    for one_chunk, one_row in zip(whole, chunked, strict=True):
        torch.testing.assert_close(one_row, one_chunk, rtol=1e-10, atol=1e-12)


def test_mixed_derivatives_are_symmetric_in_their_sources():
    case = make_case("triangle_tail", "gine", "gelu", num_layers=2)
    dense = mixed_derivatives(case.base, case.x, case.edge_index, 3, case.edge_attr).to_dense()
    swapped = dense.transpose(1, 2).transpose(3, 4).transpose(6, 7)
    torch.testing.assert_close(dense, swapped, rtol=1e-12, atol=1e-14)


def test_mixed_float32_matches_float64_reference():
    case, reference = mixed_oracle("triangle_tail", "gin", "tanh")
    case32 = case.to(torch.float32)
    mixed = mixed_derivatives(case32.base, case32.x, case32.edge_index, 2, case32.edge_attr)
    assert mixed.values.dtype == torch.float32
    assert_close_to_reference(mixed.to_dense(), reference, 1e-4, order_dims=(3, 4))


# ----------------------------------------------------------------------------------------------
# ReLU, permutations, gradients w.r.t. weights


@pytest.mark.parametrize("conv", CONVS)
def test_relu_higher_orders_are_exactly_zero(conv):
    case, reference = oracle("triangle_tail", conv, "relu")
    derivatives = node_derivatives(case.base, case.x, case.edge_index, MAX_ORDER, case.edge_attr)
    assert bool((derivatives.values[:, 1:] == 0).all())
    assert derivatives.values[:, 0].abs().max() > 0
    assert bool((reference[:, :, 1:] == 0).all())
    mixed = mixed_derivatives(case.base, case.x, case.edge_index, 2, case.edge_attr)
    assert bool((mixed.values == 0).all())


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("graph", ["triangle_tail", "directed", "pyg_batch", "self_loop"])
def test_node_derivatives_are_permutation_equivariant(graph, conv):
    case = make_case(graph, conv, "silu", num_layers=3)
    generator = torch.Generator().manual_seed(7)
    perm = torch.randperm(case.graph.num_nodes, generator=generator)
    edge_perm = torch.randperm(case.graph.num_edges, generator=generator)

    def compute(x, edge_index, edge_attr):
        return node_derivatives(case.base, x, edge_index, 3, edge_attr)

    def compute_diagonal(x, edge_index, edge_attr):
        layers = node_derivatives(case.base, x, edge_index, 2, edge_attr, all_layers=True, diagonal_only=True)
        return layers[1]

    for fn in (compute, compute_diagonal):
        assert_permutation_equivariant(fn, case.x, case.edge_index, perm, case.edge_attr, edge_perm)


@pytest.mark.parametrize("conv", CONVS)
def test_mixed_derivatives_are_permutation_equivariant(conv):
    case = make_case("triangle_tail", conv, "tanh")
    perm = torch.tensor([3, 0, 4, 2, 1])

    def compute(x, edge_index, edge_attr):
        return mixed_derivatives(case.base, x, edge_index, 2, edge_attr)

    assert_permutation_equivariant(compute, case.x, case.edge_index, perm, case.edge_attr)


@pytest.mark.parametrize(
    "conv,act", [("gin", "silu"), ("gcn", "tanh"), ("mean", "gelu"), ("gine", "softplus")]
)
def test_node_derivatives_gradcheck_wrt_weights(conv, act):
    case = make_case("triangle_tail", conv, act, hidden_channels=2, train_eps=conv in ("gin", "gine"))
    x, edge_index, edge_attr = case.x[:, :2], case.edge_index, case.edge_attr
    assert any(name.endswith("eps") for name, _ in case.base.named_parameters()) == (conv in ("gin", "gine"))

    def values(base):
        return node_derivatives(base, x, edge_index, 3, edge_attr).values

    assert gradcheck_parameters(case.base, values, fast_mode=True)


@pytest.mark.parametrize("conv", ["gcn", "gine"])
def test_node_derivatives_full_gradcheck_on_a_tiny_case(conv):
    """Every entry of the Jacobian w.r.t. the weights (not only random projections)."""
    case = make_case(path_graph(3), conv, "tanh", in_channels=1, hidden_channels=2)

    def values(base):
        return node_derivatives(base, case.x, case.edge_index, 3, case.edge_attr).values

    assert gradcheck_parameters(case.base, values, fast_mode=False)


@pytest.mark.parametrize("conv", ["gin", "gine"])
def test_mixed_derivatives_gradcheck_wrt_weights(conv):
    graph = path_graph(3)
    case = make_case(graph, conv, "silu", in_channels=1, hidden_channels=2, train_eps=True)

    def values(base):
        return mixed_derivatives(base, case.x, case.edge_index, 2, case.edge_attr).values

    assert gradcheck_parameters(case.base, values, fast_mode=True)


def test_graph_derivatives_gradcheck_wrt_weights():
    case = make_case("pyg_batch", "gcn", "gelu", hidden_channels=2)

    def values(base):
        return graph_derivatives(base, case.x, case.edge_index, 2)

    assert gradcheck_parameters(case.base, values, fast_mode=True)


def test_derivative_of_order_a_differentiates_to_order_a_plus_one():
    """Autograd through the engine w.r.t. x: d/dx_{w,j} D^a[v, u, i, j] is D^(a+1)[v, w, i, j]
    when u = w and the mixed derivative of orders (a, 1) over (u, w) otherwise."""
    case = make_case("triangle_tail", "gine", "silu")
    x = case.x.clone().requires_grad_(True)
    derivatives = node_derivatives(case.base, x, case.edge_index, 3, case.edge_attr)
    mixed = mixed_derivatives(case.base, case.x, case.edge_index, 2, case.edge_attr)
    sources = derivatives.index[1]
    second_sources = mixed.index[2]
    for a in range(2):  # orders 1 and 2
        for i in range(case.base.hidden_channels):
            for j in range(x.size(1)):
                (grad,) = torch.autograd.grad(derivatives.values[:, a, i, j].sum(), x, retain_graph=True)
                same = x.new_zeros(x.size(0)).index_add(0, sources, derivatives.values[:, a + 1, i, j])
                cross = x.new_zeros(x.size(0)).index_add(0, second_sources, mixed.values[:, a, 0, i, j, j])
                torch.testing.assert_close(grad[:, j], same + cross, rtol=1e-10, atol=1e-12)
