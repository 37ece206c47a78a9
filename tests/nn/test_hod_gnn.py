"""HOD-GNN: invariance, expressivity beyond 1-WL, end-to-end gradients, 2-HOD batching, the RWSE
initialisation against PyG's AddRandomWalkPE, and configuration errors."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import AddRandomWalkPE

from hodgnn.derivatives import MemoryBudgetError
from hodgnn.nn import HODGNN, InputEncoder, MPNNBaseline
from hodgnn.nn.encoders import stack_layer_diagonals
from hodgnn.testing.graphs import random_graph

DTYPE = torch.float64

CONFIGS = {
    "default": {},
    "diagonal": {"u_node": "diagonal", "u_out": False},
    "diagonal_u_out": {"u_node": "diagonal", "order": 2},
    "k2": {"k": 2, "order": 2, "base_layers": 2},
    "ign_layers_mean": {"ign_layers": 1, "ign_aggr": "mean", "derivative_norm": "asinh"},
    "gcn_base_gcn_down": {"base_conv": "gcn", "conv": "gcn", "pooling": "mean", "base_act": "tanh"},
    "gine_base": {"base_conv": "gine", "order": 2, "derivative_scale": "derivative"},
    "rwse_init": {"rwse_init": True, "u_node": "diagonal"},
}


def hod(in_channels=3, edge_dim=2, seed=0, **options) -> HODGNN:
    torch.manual_seed(seed)
    return HODGNN(in_channels, 16, 2, edge_dim=edge_dim, **options).to(DTYPE)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_output_is_invariant_to_node_relabelling(name, float_batch, helpers):
    graphs, _ = float_batch
    helpers.assert_relabel_invariant(hod(**CONFIGS[name]), graphs)


def test_float32_output_is_invariant_to_node_relabelling(float_batch, helpers):
    graphs, _ = float_batch
    torch.manual_seed(0)
    model = HODGNN(3, 16, 2, edge_dim=2)
    graphs32 = [g.clone() for g in graphs]
    for g in graphs32:
        g.x, g.edge_attr = g.x.float(), g.edge_attr.float()
    helpers.assert_relabel_invariant(model, graphs32, atol=1e-5)


def one_wl_equivalent_pairs(helpers) -> list[tuple[Data, Data]]:
    pairs = [
        (nx.cycle_graph(6), nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3))),
        (helpers.decalin(), helpers.bicyclopentyl()),
    ]
    for a, b in pairs:  # the premise: 1-WL cannot tell them apart, yet they differ
        assert not nx.is_isomorphic(a, b)
        assert nx.weisfeiler_lehman_graph_hash(a, iterations=5) == nx.weisfeiler_lehman_graph_hash(
            b, iterations=5
        )
    return [(helpers.constant_feature_graph(a), helpers.constant_feature_graph(b)) for a, b in pairs]


def outputs(model, a: Data, b: Data) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        return model(Batch.from_data_list([a])), model(Batch.from_data_list([b]))


@pytest.mark.parametrize("act, seed", [("silu", 0), ("tanh", 1)])
def test_hodgnn_separates_pairs_that_gin_cannot(act, seed, helpers):
    for a, b in one_wl_equivalent_pairs(helpers):
        gin = MPNNBaseline(1, 16, 2).to(DTYPE)
        ya, yb = outputs(gin, a, b)
        assert ya.abs().max() > 1e-6
        torch.testing.assert_close(ya, yb, atol=1e-10, rtol=0)
        ya, yb = outputs(hod(in_channels=1, edge_dim=None, seed=seed, base_act=act), a, b)
        assert (ya - yb).abs().max() > 1e-5, (ya, yb)


def assert_gradient_is_central_difference(loss, weight: torch.Tensor, what: str, step: float = 1e-6) -> None:
    """``weight.grad[0, ..., 0]`` (after ``loss().backward()``) equals the central finite difference of
    ``loss`` in that entry, and is clearly non-zero (float64 model)."""
    entry = (0,) * weight.dim()
    with torch.no_grad():
        weight[entry] += step
        up = loss()
        weight[entry] -= 2 * step
        down = loss()
        weight[entry] += step
    numeric = (up - down) / (2 * step)
    assert abs(numeric) > 1e-6, what
    torch.testing.assert_close(weight.grad[entry], numeric, rtol=1e-5, atol=1e-8, msg=what)


@pytest.mark.parametrize("name", ["default", "k2", "diagonal_u_out"])
def test_gradients_reach_every_parameter(name, float_batch):
    """Every weight gets a gradient, and one entry of every part's first weight matrix has the
    gradient of central finite differences (training mode: batch statistics, no dropout).
    Biases are left out of the first check: one followed by batch normalisation has an exactly
    zero gradient in training mode."""
    _, batch = float_batch
    model = hod(**CONFIGS[name]).train()

    def loss() -> torch.Tensor:
        return model(batch).square().sum()

    loss().backward()
    weights = {name: p for name, p in model.named_parameters() if not name.endswith("bias")}
    missing = [name for name, p in weights.items() if p.grad is None or not p.grad.abs().max() > 1e-8]
    assert not missing, f"weights without gradient: {missing}"
    parts = ["input_projection", "base", "u_out_encoder", "u_node_encoder", "combine", "downstream"]
    parts += ["u_mixed_encoder"] if model.k == 2 else []
    for part in parts:
        name, weight = next((n, p) for n, p in getattr(model, part).named_parameters() if p.dim() == 2)
        assert_gradient_is_central_difference(loss, weight, f"{part}.{name}")


def test_gradient_reaches_the_base_through_the_derivatives_alone(float_batch):
    _, batch = float_batch
    model = hod().train()

    def loss() -> torch.Tensor:
        x = model.input_projection(batch.x)
        derivatives = model.compute_derivatives(x, batch.edge_index)
        return model.u_node_encoder(derivatives.last, batch.batch, batch.num_graphs).square().sum()

    loss().backward()
    for name, parameter in model.base.named_parameters():
        if parameter.dim() == 2:  # every weight matrix of the base, through the derivatives only
            assert_gradient_is_central_difference(loss, parameter, f"base.{name}")


def test_two_hod_on_a_batch_of_graphs_of_different_sizes(helpers):
    graphs = [helpers.featured_graph(n, 0.5, seed) for n, seed in [(4, 1), (7, 2), (1, 3), (5, 4)]]
    model = hod(**CONFIGS["k2"]).eval()
    with torch.no_grad():
        batched = model(Batch.from_data_list(graphs))
        single = torch.cat([model(Batch.from_data_list([g])) for g in graphs])
        derivatives = model.compute_derivatives(
            model.base_input(Batch.from_data_list(graphs)), Batch.from_data_list(graphs).edge_index
        )
    assert batched.shape == (4, 2)
    torch.testing.assert_close(batched, single, atol=1e-10, rtol=0)
    graph_of = Batch.from_data_list(graphs).batch
    v, u1, u2 = derivatives.mixed.index
    assert derivatives.mixed.index.size(1) > 0
    assert torch.equal(graph_of[v], graph_of[u1]) and torch.equal(graph_of[v], graph_of[u2])


def random_walk_pe(graphs: list[Data], walk_length: int) -> torch.Tensor:
    """PyG's AddRandomWalkPE, computed in float64 (its dense path uses the default dtype)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPE)
    try:
        return torch.cat([AddRandomWalkPE(walk_length, attr_name="rwse")(g.clone()).rwse for g in graphs])
    finally:
        torch.set_default_dtype(previous)


def assert_rwse_init(model: HODGNN, graphs: list[Data], expected: torch.Tensor) -> None:
    """First-order diagonal derivatives of every layer equal ``expected[:, t]`` on the
    ``F x F`` identity block and vanish elsewhere; the encoder input is ``expected / t!``."""
    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        derivatives = model.compute_derivatives(model.base_input(batch), batch.edge_index)
    num_in = model.input_projection.out_features
    d = model.base.hidden_channels
    identity = torch.eye(d, num_in, dtype=DTYPE)
    for t, layer in enumerate(derivatives.per_layer):
        first = layer.diagonal()[:, 0]  # [n, d, F]
        torch.testing.assert_close(first, expected[:, t, None, None] * identity, atol=1e-12, rtol=0)
    stacked = stack_layer_diagonals(derivatives.per_layer).view(
        batch.num_nodes, len(derivatives.per_layer), -1
    )
    factorials = torch.tensor([1.0, 2.0, 6.0, 24.0, 120.0, 720.0], dtype=DTYPE)[: stacked.size(1)]
    torch.testing.assert_close(
        stacked[:, :, 0], expected[:, : stacked.size(1)] / factorials, atol=1e-12, rtol=0
    )


def rwse_model(node_encoder=None, in_channels=3, **options) -> HODGNN:
    options = {"rwse_init": True, "u_node": "diagonal", "u_out": False, "base_layers": 6, **options}
    return HODGNN(in_channels, 16, 1, node_encoder=node_encoder, **options).to(DTYPE).eval()


def test_rwse_init_equals_add_random_walk_pe_on_molbace(molbace_graphs):
    model = rwse_model(InputEncoder("atom", 9, 8), in_channels=8)
    assert_rwse_init(model, molbace_graphs, random_walk_pe(molbace_graphs, 6))


def test_rwse_init_equals_add_random_walk_pe_on_random_graphs(helpers):
    graphs = [helpers.featured_graph(n, 0.3, seed) for n, seed in [(8, 1), (5, 2), (9, 3)]]
    isolated = Data(
        x=torch.randn(3, 3, dtype=DTYPE),
        edge_index=torch.tensor([[0, 1], [1, 0]]),
        edge_attr=torch.randn(2, 2, dtype=DTYPE),
        num_nodes=3,
    )
    graphs.append(isolated)  # node 2 has no neighbours: zero random-walk return probabilities
    model = rwse_model(order=2, base_act="identity")
    assert_rwse_init(model, graphs, random_walk_pe(graphs, 6))
    # and it stays an initialisation: a training step moves it away
    model.train()
    batch = Batch.from_data_list(graphs)
    model(batch).sum().backward()
    assert_gradient_is_central_difference(lambda: model(batch).sum(), model.input_projection.weight, "input")


def test_rwse_init_with_sum_aggregation_gives_closed_walk_counts():
    graph = random_graph(7, 0.4, seed=6)
    data = Data(x=torch.randn(7, 3, dtype=DTYPE), edge_index=graph.edge_index, num_nodes=7)
    adjacency = graph.adjacency(DTYPE)
    powers = [torch.linalg.matrix_power(adjacency, t).diagonal() for t in range(1, 5)]
    model = rwse_model(base_conv="gin", base_layers=4)
    assert_rwse_init(model, [data], torch.stack(powers, dim=1))


@pytest.mark.parametrize(
    "options, match",
    [
        ({"base_conv": "gat"}, "base_conv"),
        ({"conv": "sage"}, "conv"),
        ({"k": 3}, "k"),
        ({"order": 0}, "order"),
        ({"order": 2.5}, "order"),
        ({"u_node": "dense"}, "u_node"),
        ({"base_act": "swish"}, "activation"),
        ({"derivative_norm": "layer"}, "derivative_norm"),
        ({"derivative_scale": "log"}, "derivative_scale"),
        ({"pooling": "max"}, "pooling"),
        ({"base_layers": 0}, "base_layers"),
        ({"dropout": 1.5}, "dropout"),
        ({"rwse_init": True, "base_act": "silu"}, "rwse_init"),
        ({"rwse_init": True, "base_conv": "gcn"}, "rwse_init"),
    ],
)
def test_bad_configuration_raises_a_clear_error(options, match):
    with pytest.raises(ValueError, match=match):
        HODGNN(3, 16, 1, edge_dim=2, **options)


def test_base_gine_and_downstream_gine_need_edge_features():
    with pytest.raises(ValueError, match="edge"):
        HODGNN(3, 16, 1, base_conv="gine")
    with pytest.raises(ValueError, match="edge"):
        HODGNN(3, 16, 1, conv="gine")


def test_memory_budget_is_enforced(float_batch):
    """Every estimate above the budget raises before any allocation, stating it; raising the budget
    to the estimates reported one after the other ends in the unbudgeted outputs, and the estimate
    of the derivative tensors covers at least the values that are then stored."""
    _, batch = float_batch
    reference = hod().eval()(batch)
    budget, estimates = 1000, {}
    for _ in range(10):
        model = hod(memory_budget=budget).eval()
        try:
            out = model(batch)
            break
        except MemoryBudgetError as error:
            assert error.budget_bytes == budget and error.estimate_bytes > budget
            assert f"{error.estimate_bytes:,} bytes" in str(error) and "GiB" in str(error)
            estimates[error.what] = budget = error.estimate_bytes
    else:
        pytest.fail(f"a budget of {budget} bytes is still refused")
    assert "the derivative tensors" in estimates
    torch.testing.assert_close(out, reference, rtol=0, atol=0)
    with torch.no_grad():
        derivatives = model.compute_derivatives(model.base_input(batch), batch.edge_index)
    stored = derivatives.last.values
    assert estimates["the derivative tensors"] >= stored.numel() * stored.element_size()


@pytest.mark.parametrize("name", ["default", "diagonal", "k2"])
def test_support_cache_gives_the_outputs_and_gradients_of_fresh_supports(name, float_batch):
    """Repeated calls on one batch reuse its supports; a second batch in between is still exact."""
    from hodgnn.derivatives import SupportCache

    graphs, batch = float_batch
    # without ptr (one graph, full-graph training) the supports come from the cache
    batch, other = unbatched(batch), unbatched(Batch.from_data_list(graphs[::-1]))
    cached, fresh = hod(**CONFIGS[name]), hod(**CONFIGS[name])
    fresh.support_cache = SupportCache(max_entries=0)
    for data in (batch, other, batch, batch):
        outputs = []
        for model in (cached, fresh):
            model.zero_grad()
            out = model(data)
            out.square().sum().backward()
            outputs.append((out, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
        torch.testing.assert_close(outputs[0][0], outputs[1][0], rtol=0, atol=1e-12)
        for a, b in zip(outputs[0][1], outputs[1][1], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert len(cached.support_cache) >= 1 and len(fresh.support_cache) == 0


def unbatched(batch: Batch) -> Data:
    """The batch as one ``Data`` without ``ptr`` (the graphs stay apart through ``batch``)."""
    return Data(x=batch.x, edge_index=batch.edge_index, edge_attr=batch.edge_attr, batch=batch.batch)


def _output_and_gradients(model: HODGNN, data: Data) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad()
    out = model(data)
    out.square().sum().backward()
    return out, [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("name", ["default", "diagonal", "k2", "gine_base", "rwse_init"])
def test_batch_supports_from_hop_distances_give_the_outputs_and_gradients_of_built_ones(name, float_batch):
    """A batch assembled from every graph's precomputed hop distances (the required transform),
    a batch whose distances are computed on the fly, and the sparse builder on the whole batch:
    the same model outputs and weight gradients."""
    graphs, batch = float_batch
    model = hod(**CONFIGS[name])
    prepared = [g.clone() for g in graphs]
    for transform in model.required_transforms():
        prepared = [transform(g) for g in prepared]
    with_hops = Batch.from_data_list(prepared)
    assert with_hops.hop_distances.dtype == torch.uint8
    reference = _output_and_gradients(model, unbatched(batch))
    for data in (with_hops, batch):
        out, grads = _output_and_gradients(model, data)
        torch.testing.assert_close(out, reference[0], rtol=0, atol=1e-12)
        for a, b in zip(grads, reference[1], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
