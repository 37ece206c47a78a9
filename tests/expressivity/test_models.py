"""Model variants of the expressivity experiments and their shared helpers, against direct computation."""

from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import AddRandomWalkPE

from hodgnn.data.brec import brec_info
from hodgnn.environment import machine_description
from hodgnn.expressivity import brec_cli, separation
from hodgnn.expressivity.models import (
    DEFAULT_MODELS,
    build_variant,
    cast_graphs,
    combined_provenance,
    parse_overrides,
    parse_variants,
    prepare_graphs,
    provenance_runs,
    report_header,
    resolve_variant,
    write_report,
)
from hodgnn.nn import build_model
from hodgnn.testing.graphs import random_graph


def graph(seed: int, n: int = 7) -> Data:
    edges = random_graph(n, 0.4, seed).edge_index
    return Data(x=torch.ones(n, 1), edge_index=edges, num_nodes=n)


def test_variant_names_expand_to_build_model_calls():
    names = [v.name for v in parse_variants(" gin, hod_silu_m2..m4 ,,ds_gnn")]
    assert names == ["gin", "hod_silu_m2", "hod_silu_m3", "hod_silu_m4", "ds_gnn"]
    m3 = resolve_variant("hod_silu_m3")
    assert (m3.model, m3.options) == ("hodgnn", {"base_act": "silu", "order": 3})
    assert resolve_variant("hod2").options == {"base_act": "silu", "order": 2, "k": 2}
    assert resolve_variant("gine").model == "gine" and resolve_variant("gine").options == {}
    for bad in ("hod_silu_m0..m", "transformer"):
        with pytest.raises(ValueError):
            parse_variants(bad)
    with pytest.raises(ValueError, match="Empty order range"):
        parse_variants("hod_silu_m4..m2")
    assert parse_overrides(["hidden_channels=32", "base_act=tanh", "u_out=false"]) == {
        "hidden_channels": 32,
        "base_act": "tanh",
        "u_out": False,
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["hidden_channels"])


def test_brec_and_separation_share_one_default():
    assert brec_cli.DEFAULT_MODELS is separation.DEFAULT_MODELS is DEFAULT_MODELS
    assert [v.name for v in parse_variants(DEFAULT_MODELS)][-2:] == ["hod_silu_m4", "hod2"]


def test_build_variant_is_a_seeded_build_model_call():
    info = brec_info()
    model = build_variant(resolve_variant("hod_silu_m2"), info, seed=3, overrides={"hidden_channels": 8})
    torch.manual_seed(3)
    expected = build_model("hodgnn", info, base_act="silu", order=2, hidden_channels=8)
    assert model.order == 2 and model.base.layers[0].act.name == "silu"
    state, reference = model.state_dict(), expected.state_dict()
    assert list(state) == list(reference)
    assert all(torch.equal(state[key], reference[key]) for key in reference)


def test_prepare_graphs_applies_the_required_transforms():
    graphs = [graph(0), graph(1, 5)]
    rwse_model = build_variant(
        resolve_variant("gin_rwse"), brec_info(), seed=0, overrides={"hidden_channels": 8}
    )
    prepared = prepare_graphs(rwse_model, graphs)
    walk_length = rwse_model.rwse_walk_length
    for before, after in zip(graphs, prepared, strict=True):
        expected = AddRandomWalkPE(walk_length, attr_name="rwse")(before.clone()).rwse
        torch.testing.assert_close(after.rwse, expected, rtol=0, atol=0)
        assert not hasattr(before, "rwse")  # the inputs are left untouched
    plain = build_variant(resolve_variant("gin"), brec_info(), seed=0, overrides={"hidden_channels": 8})
    assert prepare_graphs(plain, graphs) == graphs


def test_cast_graphs_converts_floating_attributes_only():
    graphs = [graph(2)]
    assert cast_graphs(graphs, torch.float32) is graphs
    (cast,) = cast_graphs(graphs, torch.float64)
    assert cast.x.dtype == torch.float64 and torch.equal(cast.x, graphs[0].x.double())
    assert cast.edge_index.dtype == torch.long and graphs[0].x.dtype == torch.float32


def test_reports_are_written_with_their_header(tmp_path, monkeypatch):
    monkeypatch.delenv("HODGNN_MEMORY_BUDGET", raising=False)
    header = report_header("EXP", "2026-01-01 00:00 UTC", "separation", ["--models", "gin"])
    assert header == {
        "benchmark": "EXP",
        "date": "2026-01-01 00:00 UTC",
        "machine": machine_description(),
        "command": "hodgnn separation --models gin",
    }
    payload = {**header, "results": {"gin": float("nan")}, "markdown": "| a |"}
    write_report(payload, tmp_path / "r.json", tmp_path / "r.md")
    assert json.loads((tmp_path / "r.json").read_text()) == {**payload, "results": {"gin": None}}
    assert (tmp_path / "r.md").read_text() == "| a |\n"
    write_report(payload, tmp_path / "only.json", None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["only.json", "r.json", "r.md"]


def test_report_command_carries_the_memory_budget(monkeypatch):
    """A budget set in the environment decides which pairs run, so the recorded command repeats it."""
    monkeypatch.setenv("HODGNN_MEMORY_BUDGET", "15e9")
    header = report_header("BREC", "2026-01-01 00:00 UTC", "brec", ["--pairs", "352"])
    assert header["command"] == "HODGNN_MEMORY_BUDGET=15e9 hodgnn brec --pairs 352"


def test_provenance_runs_lists_every_source_run_once_in_order():
    merged = {
        "date": "d1, d2",
        "runs": [
            {"date": "d1", "machine": "m1", "command": "c1"},
            {"date": "d2", "machine": "m2", "command": "c2"},
        ],
    }
    single = {"date": "d3", "machine": "m1", "command": "c3", "benchmark": "ignored"}
    runs = provenance_runs([merged, single, merged])
    assert runs == [*merged["runs"], {"date": "d3", "machine": "m1", "command": "c3"}]
    assert provenance_runs([{}]) == [{"date": None, "machine": None, "command": None}]
    runs[0]["date"] = "changed"
    assert merged["runs"][0]["date"] == "d1"  # the sources are not aliased


def test_combined_provenance_joins_each_field_once_in_order():
    headers = [
        {"date": "d1, d2", "machine": "m1", "command": "c1; c2"},
        {"date": "d3", "machine": "m2 + m1", "command": "c2"},
        {"date": "", "command": None},
    ]
    assert combined_provenance(headers) == {"date": "d1, d2, d3", "machine": "m1 + m2", "command": "c1; c2"}
    assert combined_provenance([]) == {"date": "", "machine": "", "command": ""}
