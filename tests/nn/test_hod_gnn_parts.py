"""HOD-GNN built from parts: a PyG base against the engine and autograd, the keyword constructor
against the parts constructor, the tensor forward against the data forward, checks of the parts,
refused bases, and state dicts saved before the encoders became one part."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MLP, GATConv, GINConv, Sequential
from torch_geometric.nn.models import GAT, GIN

from hodgnn.derivatives import UnsupportedModuleError, node_derivatives
from hodgnn.nn import (
    HODGNN,
    DerivativeEncoders,
    DiagonalDerivativeEncoder,
    DownstreamGNN,
    InputEncoder,
    NodeDerivativeEncoder,
    OutputDerivativeEncoder,
)

DTYPE = torch.float64
F, D, ORDER, C = 2, 8, 2, 16  # base input width, base width, derivative order, encoder width


def gin_parts(norm: str | None = None, in_channels: int = 3, seed: int = 0) -> dict:
    """A PyG GIN base (tanh: every order is informative) with U_out, the full U_node and the
    downstream GNN, as the keyword arguments of the parts constructor."""
    torch.manual_seed(seed)
    base = GIN(F, D, num_layers=2, act="tanh", norm=norm)
    pair = ORDER * D * F
    encoders = DerivativeEncoders(
        MLP([D + 2 * C + in_channels, C, C], norm="batch_norm"),
        u_out=OutputDerivativeEncoder(pair, C, C),
        u_node=NodeDerivativeEncoder(pair, C, C),
    )
    downstream = DownstreamGNN(C, C, 2, num_layers=2, conv="gin")
    return dict(
        base=base, encoders=encoders, downstream=downstream, input_projection=nn.Linear(in_channels, F)
    )


def parts_model(**parts) -> HODGNN:
    return HODGNN(parts.pop("base"), parts.pop("encoders"), parts.pop("downstream"), order=ORDER, **parts)


def test_pyg_gin_base_trains_and_its_derivatives_are_the_engine_s_and_autograd_s(float_batch):
    _, batch = float_batch
    model = parts_model(**gin_parts()).to(DTYPE).train()
    base = model.base
    assert isinstance(base, GIN) and base.training
    # the derivatives the model encodes are the engine's on the same base ...
    x = model.input_projection(batch.x).detach()
    derivatives = model.compute_derivatives(x, batch.edge_index)
    direct = node_derivatives(base, x, batch.edge_index, ORDER, scale="taylor")
    assert torch.equal(derivatives.last.index, direct.index)
    torch.testing.assert_close(derivatives.last.values, direct.values, rtol=0, atol=0)
    # ... and autograd's (orders 1 and 2, Taylor-scaled by 1/a!), on the first graph
    n0 = int(batch.ptr[1])
    mask = batch.edge_index[1] < n0
    edges, x0 = batch.edge_index[:, mask], x[:n0]

    def jacobian(inputs: torch.Tensor) -> torch.Tensor:  # [n, D, n, F]
        return torch.autograd.functional.jacobian(lambda z: base(z, edges), inputs, create_graph=True)

    first = jacobian(x0)
    second = torch.autograd.functional.jacobian(jacobian, x0)  # [n, D, n, F, n, F]
    dense = node_derivatives(base, x0, edges, ORDER, scale="taylor").to_dense()  # [n, n, m, D, F]
    pure = torch.einsum("viujuj->vuij", second)
    torch.testing.assert_close(dense[:, :, 0], first.permute(0, 2, 1, 3), rtol=0, atol=1e-12)
    torch.testing.assert_close(dense[:, :, 1], pure / 2, rtol=0, atol=1e-12)
    assert dense[:, :, 1].abs().max() > 1e-3  # tanh: the second order does not vanish

    # one optimizer step: finite outputs, gradients in the base, a lower loss
    target = torch.randn(batch.num_graphs, 2, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in base.parameters()]
    loss = (model(batch) - target).square().mean()
    optimizer.zero_grad()
    loss.backward()
    # The last linear map of PyG's GIN has no activation after it: its bias only shifts h^(T),
    # which the batch norm of `combine` removes in training mode (an exactly zero gradient).
    last_bias = "convs.1.nn.lins.1.bias"
    for name, p in base.named_parameters():
        assert p.grad is not None, name
        assert (p.grad.abs().max() < 1e-12) if name == last_bias else (p.grad.abs().max() > 1e-6), name
    optimizer.step()
    out = model(batch)
    assert torch.isfinite(out).all()
    assert (out - target).square().mean() < loss
    for (name, p), previous in zip(base.named_parameters(), before, strict=True):
        assert name == last_bias or not torch.equal(p, previous), name


def test_a_base_with_batch_norm_is_refused_in_training_mode_and_runs_frozen(float_batch):
    _, batch = float_batch
    model = parts_model(**gin_parts(norm="batch_norm")).to(DTYPE).train()
    assert model.base.training  # the construction left the modes as they were
    with pytest.raises(UnsupportedModuleError, match="BatchNorm"):
        model(batch)
    model.base.eval()
    stats = [b.clone() for b in model.base.buffers()]
    out = model(batch)
    assert torch.isfinite(out).all() and out.shape == (batch.num_graphs, 2)
    assert all(torch.equal(a, b) for a, b in zip(stats, model.base.buffers(), strict=True))


KEYWORD_CONFIGS = {
    "default": {},
    "diagonal": {"u_node": "diagonal", "u_out": False},
    "k2": {"k": 2, "order": 2, "base_layers": 2},
    "gine_base": {"base_conv": "gine", "order": 2, "derivative_scale": "derivative"},
    "no_concat": {"concat_input": False, "u_out": False},
    "rwse_init": {"rwse_init": True, "u_node": "diagonal"},
}
SHARED = ("order", "derivative_scale", "concat_input")


@pytest.mark.parametrize("name", list(KEYWORD_CONFIGS))
def test_keyword_constructor_equals_the_parts_constructor_on_its_modules(name, float_batch):
    _, batch = float_batch
    options = KEYWORD_CONFIGS[name]
    torch.manual_seed(0)
    keyword = HODGNN(3, 16, 2, edge_dim=2, **options).to(DTYPE)
    shared = {key: options[key] for key in SHARED if key in options}
    parts = HODGNN(
        copy.deepcopy(keyword.base),
        copy.deepcopy(keyword.encoders),
        copy.deepcopy(keyword.downstream),
        2,
        input_projection=copy.deepcopy(keyword.input_projection),
        **shared,
    )
    assert (parts.k, parts.u_node, parts.u_out) == (keyword.k, keyword.u_node, keyword.u_out)
    assert (parts.in_channels, parts.hidden_channels, parts.out_channels) == (3, 16, 2)
    assert repr(parts) == repr(keyword)
    outputs = {}
    for mode in ("eval", "train"):  # eval first: training updates the running statistics
        getattr(keyword, mode)(), getattr(parts, mode)()
        outputs[mode] = keyword(batch)
        torch.testing.assert_close(parts(batch), outputs[mode], rtol=0, atol=0)
    # and the same seed builds the same model again
    torch.manual_seed(0)
    again = HODGNN(3, 16, 2, edge_dim=2, **options).to(DTYPE).eval()
    torch.testing.assert_close(again(batch), outputs["eval"], rtol=0, atol=0)


def tensor_and_data_outputs(model: HODGNN, graphs: list[Data], with_edges: bool):
    batch = Batch.from_data_list(graphs)
    edge_attr = batch.edge_attr if with_edges else None
    return model(batch.x, batch.edge_index, edge_attr, batch.batch), model(batch)


@pytest.mark.parametrize("name", ["default", "k2", "diagonal", "gine_base"])
@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_tensor_forward_equals_data_forward_with_edge_features(name, dtype, atol, float_batch):
    graphs, _ = float_batch
    graphs = [Data(x=g.x.to(dtype), edge_index=g.edge_index, edge_attr=g.edge_attr.to(dtype)) for g in graphs]
    torch.manual_seed(0)
    model = HODGNN(3, 16, 2, edge_dim=2, **KEYWORD_CONFIGS[name]).to(dtype)
    for mode in ("eval", "train"):
        getattr(model, mode)()
        tensors, data = tensor_and_data_outputs(model, graphs, with_edges=True)
        assert tensors.shape == (3, 2) and tensors.dtype == dtype
        torch.testing.assert_close(tensors, data, rtol=0, atol=atol)
    with pytest.raises(ValueError, match="edge_attr"):
        model(graphs[0].x, graphs[0].edge_index)


def test_tensor_forward_equals_data_forward_without_edge_features_and_for_one_graph(float_batch):
    graphs, _ = float_batch
    graphs = [Data(x=g.x, edge_index=g.edge_index) for g in graphs]
    torch.manual_seed(0)
    model = HODGNN(3, 16, 2).to(DTYPE).eval()
    tensors, data = tensor_and_data_outputs(model, graphs, with_edges=False)
    torch.testing.assert_close(tensors, data, rtol=0, atol=1e-12)
    # batch=None is one graph
    single = model(graphs[1].x, graphs[1].edge_index)
    torch.testing.assert_close(single, model(Batch.from_data_list([graphs[1]])), rtol=0, atol=1e-12)
    torch.testing.assert_close(single, data[1:2], rtol=0, atol=1e-12)
    # a PyG base, tensors and data
    parts = parts_model(**gin_parts()).to(DTYPE).eval()
    tensors, data = tensor_and_data_outputs(parts, graphs, with_edges=False)
    torch.testing.assert_close(tensors, data, rtol=0, atol=1e-12)


def test_tensor_forward_with_interleaved_graphs_builds_whole_graph_supports(float_batch):
    """Graphs whose nodes are interleaved (an unsorted batch vector) get their supports from the
    whole graph; the outputs are those of the sorted batch."""
    graphs, batch = float_batch
    torch.manual_seed(0)
    model = HODGNN(3, 16, 2, edge_dim=2).to(DTYPE).eval()
    perm = torch.randperm(batch.num_nodes, generator=torch.Generator().manual_seed(3))
    assert bool((batch.batch[perm][1:] < batch.batch[perm][:-1]).any())
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    out = model(batch.x[perm], inverse[batch.edge_index], batch.edge_attr, batch.batch[perm])
    torch.testing.assert_close(out, model(batch), rtol=0, atol=1e-10)


def test_tensor_forward_applies_the_input_encoders():
    generator = torch.Generator().manual_seed(0)
    graphs = []
    for n in (4, 6, 5):
        edge_index = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
        edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        x = torch.randint(0, 5, (n,), generator=generator)
        graphs.append(
            Data(x=x, edge_index=edge_index, edge_attr=torch.randint(0, 3, (2 * n,), generator=generator))
        )
    torch.manual_seed(0)
    model = HODGNN(
        8,
        16,
        2,
        8,
        node_encoder=InputEncoder("embedding", 5, 8),
        edge_encoder=InputEncoder("embedding", 3, 8),
    ).eval()
    tensors, data = tensor_and_data_outputs(model, graphs, with_edges=True)
    torch.testing.assert_close(tensors, data, rtol=0, atol=1e-6)
    with pytest.raises(TypeError, match="data"):
        model(Batch.from_data_list(graphs), graphs[0].edge_index)


def replaced(parts: dict, **changes) -> dict:
    return {**parts, **changes}


def bad_parts() -> list[tuple[dict, str]]:
    good = gin_parts()
    pair = ORDER * D * F
    encoders = good["encoders"]
    return [
        (replaced(good, input_projection=nn.Linear(3, F + 1)), "input_projection outputs 3 channels"),
        (
            replaced(
                good, encoders=DerivativeEncoders(encoders.combine, OutputDerivativeEncoder(pair + 1, C, C))
            ),
            "u_out",
        ),
        (
            replaced(
                good,
                encoders=DerivativeEncoders(
                    MLP([D + C + 3, C, C]), u_node=DiagonalDerivativeEncoder(pair, C, C)
                ),  # the diagonal encoder takes every layer: 2 * pair
            ),
            "u_node",
        ),
        (
            replaced(
                good, encoders=DerivativeEncoders(MLP([D + 2 * C, C, C]), encoders.u_out, encoders.u_node)
            ),
            "combine takes 40 channels",
        ),
        (replaced(good, downstream=DownstreamGNN(C + 1, C, 2)), "downstream takes 17 channels"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_mismatched_parts_raise_a_value_error_naming_the_problem(index):
    parts, match = bad_parts()[index]
    with pytest.raises(ValueError, match=match):
        parts_model(**parts)


def test_wrong_part_types_and_options_of_the_other_form_raise():
    good = gin_parts()
    with pytest.raises(TypeError, match="encoders"):
        HODGNN(good["base"], good["encoders"].combine, good["downstream"])
    with pytest.raises(TypeError, match="u_node"):
        DerivativeEncoders(MLP([4, 4]), u_node=OutputDerivativeEncoder(4, 4, 4))
    with pytest.raises(ValueError, match="base_layers"):
        HODGNN(good["base"], good["encoders"], good["downstream"], order=ORDER, base_layers=5)
    with pytest.raises(ValueError, match="input_projection"):
        HODGNN(3, 16, 2, input_projection=nn.Linear(3, 4))
    # the concatenated input width is inferred from combine when the projection states none
    model = parts_model(**replaced(good, input_projection=nn.Sequential(nn.Linear(3, F), nn.Tanh())))
    assert model.in_channels == 3


@pytest.mark.parametrize(
    "base, match",
    [
        (Sequential("x, edge_index", [(GATConv(F, D), "x, edge_index -> x"), nn.Tanh()]), "GATConv"),
        (GAT(F, D, num_layers=2), "GATConv"),
        (
            Sequential("x, edge_index", [(GINConv(MLP([F, D, D])), "x, edge_index -> x"), nn.LayerNorm(D)]),
            "LayerNorm",
        ),
    ],
    ids=["sequential_gat", "gat_model", "layer_norm"],
)
def test_a_base_that_cannot_be_lowered_is_refused_at_construction(base, match):
    good = gin_parts()
    with pytest.raises(UnsupportedModuleError, match=f"cannot propagate derivatives through .*{match}"):
        HODGNN(
            base, good["encoders"], good["downstream"], order=ORDER, input_projection=good["input_projection"]
        )


def test_state_dicts_saved_before_the_encoders_were_one_part_load(float_batch):
    _, batch = float_batch
    torch.manual_seed(0)
    model = HODGNN(3, 16, 2, edge_dim=2, k=2, order=2, base_layers=2).to(DTYPE).eval()
    old_names = {
        "encoders.u_out.": "u_out_encoder.",
        "encoders.u_node.": "u_node_encoder.",
        "encoders.u_mixed.": "u_mixed_encoder.",
        "encoders.combine.": "combine.",
    }
    old = {}
    for key, value in model.state_dict().items():
        for new, previous in old_names.items():
            if key.startswith(new):
                key = previous + key[len(new) :]
        old[key] = value
    assert "u_mixed_encoder.norm.norm.running_mean" in old and "combine.lins.0.weight" in old
    torch.manual_seed(1)
    fresh = HODGNN(3, 16, 2, edge_dim=2, k=2, order=2, base_layers=2).to(DTYPE).eval()
    assert not torch.equal(fresh(batch), model(batch))
    wrapper = nn.Module()
    wrapper.model = fresh  # as inside a LightningModule: the keys carry a prefix
    wrapper.load_state_dict({f"model.{key}": value for key, value in old.items()}, strict=True)
    torch.testing.assert_close(fresh(batch), model(batch), rtol=0, atol=0)
