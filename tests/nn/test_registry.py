"""``build_model``: every registered model from a DatasetInfo, option validation, invariance."""

from __future__ import annotations

import pytest
import torch
from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims
from torch_geometric.data import Batch, Data

from hodgnn.data import DatasetInfo
from hodgnn.nn import DSGNN, HODGNN, MODELS, MPNNBaseline, build_model, model_options
from hodgnn.testing.graphs import random_graph

MOLECULES = DatasetInfo("mol-like", "multilabel", "rocauc", 3, "atom", 9, "bond", 3, higher_is_better=True)
ZINC_LIKE = DatasetInfo("zinc-like", "regression", "mae", 1, "embedding", 28, "embedding", 4)
PLAIN = DatasetInfo("plain", "binary", "rocauc", 1, "float", 2)
NODE_LEVEL = DatasetInfo("plain-nodes", "regression", "mae", 2, "float", 2, level="node")
SMALL = {"hidden_channels": 8}
HOD_SMALL = {"base_layers": 2, "order": 2, "base_channels": 4}


def categorical_graph(num_nodes: int, seed: int, info: DatasetInfo) -> Data:
    """A random graph whose raw features follow ``info``'s input kinds."""
    graph = random_graph(num_nodes, 0.5, seed)
    generator = torch.Generator().manual_seed(seed)
    num_edges = graph.num_edges

    def codes(dims, rows):
        return torch.stack([torch.randint(0, d, (rows,), generator=generator) for d in dims], dim=1)

    if info.node_input == "atom":
        x = codes(get_atom_feature_dims(), num_nodes)
        edge_attr = codes(get_bond_feature_dims(), num_edges)
    elif info.node_input == "embedding":
        x = torch.randint(0, info.node_dim, (num_nodes, 1), generator=generator)
        edge_attr = torch.randint(0, info.edge_dim, (num_edges,), generator=generator)
    else:
        x = torch.randn(num_nodes, info.node_dim, generator=generator, dtype=torch.float64)
        edge_attr = None
    data = Data(x=x, edge_index=graph.edge_index, num_nodes=num_nodes)
    if edge_attr is not None:
        data.edge_attr = edge_attr
    return data


def apply_transforms(model, graphs: list[Data]) -> list[Data]:
    for transform in model.required_transforms():
        graphs = [transform(g.clone()) for g in graphs]
    return graphs


@pytest.mark.parametrize("info", [MOLECULES, ZINC_LIKE], ids=lambda info: info.name)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_builds_runs_and_is_relabel_invariant(name, info, helpers):
    torch.manual_seed(0)
    options = {**SMALL, **(HOD_SMALL if name == "hodgnn" else {})}
    model = build_model(name, info, **options).to(torch.float64)
    graphs = apply_transforms(
        model, [categorical_graph(n, seed, info) for n, seed in [(5, 1), (7, 2), (4, 3)]]
    )
    model.train()
    out = model(Batch.from_data_list(graphs))
    assert out.shape == (3, info.num_tasks)
    assert out.dtype == torch.float64
    helpers.assert_relabel_invariant(model, graphs)


def test_edge_features_are_encoded_only_when_the_model_uses_them():
    assert build_model("gin", MOLECULES, **SMALL).edge_encoder is None
    assert build_model("gine", MOLECULES, **SMALL).edge_encoder.kind == "bond"
    assert build_model("hodgnn", MOLECULES, **SMALL).edge_encoder is not None
    assert build_model("hodgnn", MOLECULES, conv="gin", **SMALL).edge_encoder is None
    model = build_model("hodgnn", PLAIN, **SMALL)
    assert model.edge_encoder is None and model.downstream.gnn.conv == "gin"
    assert build_model("hodgnn", ZINC_LIKE, **SMALL).edge_encoder.kind == "embedding"


def test_models_get_the_classes_and_fixed_options_of_their_names():
    assert isinstance(build_model("hodgnn", PLAIN, **SMALL), HODGNN)
    assert isinstance(build_model("ds_gnn", PLAIN, **SMALL), DSGNN)
    gcn_rwse = build_model("gcn_rwse", PLAIN, **SMALL)
    assert isinstance(gcn_rwse, MPNNBaseline) and gcn_rwse.downstream.gnn.conv == "gcn"
    assert gcn_rwse.rwse_walk_length == 20
    assert (
        build_model("gin_rwse", PLAIN, rwse_walk_length=8, **SMALL).required_transforms()[0].walk_length == 8
    )
    assert build_model("gin", PLAIN, **SMALL).required_transforms() == []
    model = build_model("hodgnn", PLAIN, hidden_channels=12, order=4, k=1, dropout=None)
    assert model.order == 4 and model.hidden_channels == 12 and model.downstream.gnn.dropout == 0.0


def test_model_options_list_defaults():
    options = model_options("hodgnn")
    assert options["order"] == 3 and options["k"] == 1 and options["u_node"] == "full"
    assert options["base_channels"] == 16 and options["base_layers"] == 3 and options["u_out"] is True
    assert "conv" not in model_options("gin") and model_options("gin_rwse")["rwse_walk_length"] == 20


@pytest.mark.parametrize(
    "name, info, options, match",
    [
        ("transformer", PLAIN, {}, "unknown model"),
        ("hodgnn", PLAIN, {"ordr": 3}, "ordr"),
        ("gin", PLAIN, {"conv": "gcn"}, "fixed"),
        ("gin", PLAIN, {"order": 2}, "order"),
        ("hodgnn", PLAIN, {"k": 3}, "k"),
        ("hodgnn", PLAIN, {"order": 0}, "order"),
        ("hodgnn", PLAIN, {"base_conv": "gat"}, "base_conv"),
        ("hodgnn", PLAIN, {"hidden_channels": 0}, "hidden_channels"),
        ("gine", PLAIN, {}, "edge"),
        ("gine_rwse", PLAIN, {}, "edge"),
        ("gin_rwse", PLAIN, {"rwse_walk_length": 0}, "rwse_walk_length"),
        ("ds_gnn", PLAIN, {"subgraph_conv": "gat"}, "subgraph_conv"),
    ],
)
def test_bad_names_and_options_raise_value_errors(name, info, options, match):
    with pytest.raises(ValueError, match=match):
        build_model(name, info, **options)


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"gine", "gine_rwse"}))  # GINE needs edge features
def test_node_level_models_predict_per_node_and_are_relabel_equivariant(name, helpers):
    """On a node-level dataset every model predicts one row per node (``pooling="none"``), and
    relabelling a graph's nodes permutes those rows the same way."""
    torch.manual_seed(0)
    options = {**SMALL, **(HOD_SMALL if name == "hodgnn" else {})}
    model = build_model(name, NODE_LEVEL, **options).to(torch.float64).eval()
    assert model.downstream.pooling == "none"
    graphs = [categorical_graph(n, seed, NODE_LEVEL) for n, seed in [(5, 1), (7, 2), (4, 3)]]
    moved = [helpers.relabelled(g, seed) for seed, g in enumerate(graphs)]
    graphs, moved = apply_transforms(model, graphs), apply_transforms(model, moved)
    with torch.no_grad():
        before = model(Batch.from_data_list(graphs))
        after = model(Batch.from_data_list(moved))
    assert before.shape == (sum(g.num_nodes for g in graphs), NODE_LEVEL.num_tasks)
    assert before.std(0).min() > 1e-6  # nodes get different predictions
    x_before, x_after = torch.cat([g.x for g in graphs]), torch.cat([g.x for g in moved])
    # features are continuous random values: each relabelled node is found by its feature row
    match = (x_after[:, None, :] == x_before[None, :, :]).all(-1).float().argmax(1)
    torch.testing.assert_close(after, before[match], atol=1e-8, rtol=1e-7)  # RWSE is float32


@pytest.mark.parametrize(
    ("info", "pooling", "match"),
    [(NODE_LEVEL, "sum", "node-level"), (NODE_LEVEL, "mean", "node-level"), (PLAIN, "none", "graph-level")],
)
def test_pooling_must_match_the_dataset_level(info, pooling, match):
    with pytest.raises(ValueError, match=match):
        build_model("gin", info, pooling=pooling, **SMALL)
