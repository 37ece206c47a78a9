"""RPC (the BREC protocol): the statistic against numpy, and a reduced but real run on BREC pairs whose
outcome theory fixes: GIN (1-WL bounded) separates no 1-WL-equivalent Basic pair; 1-HOD with an analytic
activation separates the pairs that node marking separates within the base MPNN's depth."""

from __future__ import annotations

from dataclasses import asdict

import networkx as nx
import numpy as np
import pytest
import torch

from hodgnn.data.brec import BRECDataset
from hodgnn.data.root import resolve_data_root
from hodgnn.expressivity.brec import (
    RPCConfig,
    evaluate_pair,
    hotelling_t2,
    hotelling_threshold,
    separation_loss,
    summarize,
)
from hodgnn.expressivity.models import parse_variants, resolve_variant

BREC_FILE = resolve_data_root() / "brec" / "brec_v3.npy.xz"
needs_data = pytest.mark.skipif(not BREC_FILE.is_file(), reason=f"{BREC_FILE} not available")
SMALL = {"hidden_channels": 32}  # a narrower model keeps CI fast; the guarantees do not depend on width
BASE_LAYERS = 3  # HOD-GNN's default base depth


def as_networkx(data) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(data.num_nodes))
    graph.add_edges_from(data.edge_index.t().tolist())
    return graph


def wl_hash(graph: nx.Graph, iterations: int, attr: str | None = None) -> str:
    return nx.weisfeiler_lehman_graph_hash(graph, node_attr=attr, iterations=iterations)


def marking_multiset(graph: nx.Graph, iterations: int) -> list[str]:
    """DS-WL: the multiset over nodes v of the WL colouring of the graph with v marked."""
    hashes = []
    for v in graph:
        nx.set_node_attributes(graph, {u: str(int(u == v)) for u in graph}, "mark")
        hashes.append(wl_hash(graph, iterations, "mark"))
    return sorted(hashes)


def test_hotelling_t2_matches_numpy():
    generator = np.random.default_rng(0)
    first = generator.normal(size=(32, 16))
    second = generator.normal(size=(32, 16)) + 0.3
    diff = first - second
    mean = diff.mean(axis=0)
    expected = mean @ np.linalg.pinv(np.cov(diff, rowvar=False)) @ mean
    value = hotelling_t2(torch.from_numpy(first), torch.from_numpy(second))
    assert value == pytest.approx(expected, rel=1e-9)
    # float32 inputs give the same statistic to float32 precision
    value32 = hotelling_t2(torch.from_numpy(first).float(), torch.from_numpy(second).float())
    assert value32 == pytest.approx(expected, rel=1e-4)
    # invariant under a common invertible linear map of the outputs
    transform = torch.from_numpy(generator.normal(size=(16, 16)))
    mapped = hotelling_t2(torch.from_numpy(first) @ transform, torch.from_numpy(second) @ transform)
    assert mapped == pytest.approx(expected, rel=1e-6)
    assert hotelling_t2(torch.zeros(32, 16), torch.zeros(32, 16)) == 0.0
    with pytest.raises(ValueError, match=r"\[N, q\]"):
        hotelling_t2(torch.zeros(32, 16), torch.zeros(31, 16))


def test_default_threshold_is_the_hotelling_critical_value():
    assert hotelling_threshold(16, 32, 0.05) == pytest.approx(RPCConfig().threshold, abs=0.01)


def test_separation_loss_is_the_clamped_cosine():
    output = torch.randn(10, 16, dtype=torch.float64)
    cos = torch.nn.functional.cosine_similarity(output[0::2], output[1::2], dim=1)
    assert separation_loss(output).item() == pytest.approx(cos.clamp(min=0).mean().item(), rel=1e-12)
    assert separation_loss(output, margin=0.2).item() == pytest.approx(
        (cos - 0.2).clamp(min=0).mean().item(), rel=1e-12
    )


def test_variant_names():
    names = [v.name for v in parse_variants("gin,hod_silu_m1..m4,hod2")]
    assert names == ["gin", "hod_silu_m1", "hod_silu_m2", "hod_silu_m3", "hod_silu_m4", "hod2"]
    assert resolve_variant("hod_silu_m7").options == {"base_act": "silu", "order": 7}
    assert resolve_variant("hod_relu_m1").options == {"base_act": "relu", "order": 1}
    with pytest.raises(ValueError, match="Unknown model variant"):
        resolve_variant("transformer")


@pytest.fixture(scope="module")
def brec():
    return BRECDataset()


@needs_data
def test_gin_separates_no_1wl_equivalent_pair(brec):
    config = RPCConfig(epochs=3)
    for pair_id in (0, 1, 60):
        pair = brec.pair(pair_id)
        first, second = (as_networkx(g) for g in pair.graphs[:2])
        assert wl_hash(first, 10) == wl_hash(second, 10)  # the premise: 1-WL cannot tell them apart
        result = evaluate_pair(resolve_variant("gin"), pair, config, SMALL)
        assert not result.separated and not result.counted, result
        assert result.reliable
        assert result.t2 < config.threshold


@needs_data
def test_hod_silu_separates_pairs_that_marking_separates(brec):
    config = RPCConfig()
    checked = 0
    for pair_id in (0, 1, 2, 60):
        pair = brec.pair(pair_id)
        first, second = (as_networkx(g) for g in pair.graphs[:2])
        if marking_multiset(first, BASE_LAYERS) == marking_multiset(second, BASE_LAYERS):
            continue
        checked += 1
        result = evaluate_pair(resolve_variant("hod_silu_m1"), pair, config, SMALL)
        assert result.counted, result
        assert result.t2 > config.threshold > result.t2_reliability
    assert checked >= 3


def test_summary_and_table_count_only_reliable_separations(pair_results):
    summary = summarize(pair_results)
    assert summary["categories"]["basic"] == {
        "counted": 1,
        "separated": 2,
        "reliability_failures": 1,
        "evaluated": 2,
        "not_run": 0,
        "size": 60,
    }
    assert summary["groups"]["Regular"]["counted"] == 1 and summary["groups"]["Regular"]["evaluated"] == 2
    assert summary["groups"]["Beyond 3-WL"]["size"] == 90
    assert summary["groups"]["Total"]["counted"] == 2


def test_batchnorm_recalibration_uses_the_average_batch_statistics():
    from torch_geometric.data import Data

    from hodgnn.data.brec import brec_info
    from hodgnn.expressivity.brec import recalibrate_batchnorm
    from hodgnn.expressivity.models import build_variant

    graphs = []
    for seed in range(8):
        graph = nx.gnp_random_graph(7, 0.5, seed=seed)
        edges = torch.tensor(list(graph.edges()), dtype=torch.long).t().reshape(2, -1)
        edge_index = torch.cat([edges, edges.flip(0)], dim=1)
        graphs.append(Data(x=torch.ones(7, 1, dtype=torch.float64), edge_index=edge_index, num_nodes=7))
    model = build_variant(
        resolve_variant("gin"), brec_info(), seed=0, overrides={"hidden_channels": 8}
    ).double()
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    seen = []
    handle = norm.register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0].detach().clone())
    )
    weights = {
        k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k
    }
    recalibrate_batchnorm(model, graphs, batch_size=4)
    handle.remove()
    assert len(seen) == 2 and not model.training and not norm.training
    assert torch.allclose(norm.running_mean, torch.stack([s.mean(0) for s in seen]).mean(0), atol=1e-12)
    assert torch.allclose(norm.running_var, torch.stack([s.var(0) for s in seen]).mean(0), atol=1e-12)
    assert norm.momentum == 0.1
    for key, value in model.state_dict().items():
        if key in weights:
            assert torch.equal(value, weights[key]), key


@needs_data
def test_pair_over_the_memory_budget_is_reported_as_not_run(brec):
    from hodgnn.expressivity.brec import run_brec

    lines = []
    report = run_brec(
        [resolve_variant("hod_silu_m1")],
        brec,
        [0],
        RPCConfig(epochs=1),
        {"hidden_channels": 8, "memory_budget": 1000},
        log=lines.append,
    )
    entry = report["hod_silu_m1"]
    assert "memory budget" in entry["pairs"][0]["error"]
    basic = entry["summary"]["categories"]["basic"]
    assert (basic["evaluated"], basic["not_run"], basic["counted"]) == (0, 1, 0)
    assert "not run" in lines[0]


def not_run_record(pair_id: int, category: str) -> dict:
    from hodgnn.expressivity.brec import PairResult

    return asdict(PairResult.not_run(pair_id, category, 1.0, "over budget"))


@needs_data
def test_resume_tries_pairs_that_were_not_run_again(brec):
    from hodgnn.expressivity.brec import run_brec

    options = {"hidden_channels": 8}
    previous = {"gin": {"options": options, "pairs": [not_run_record(0, "basic")]}}
    lines = []
    report = run_brec(
        [resolve_variant("gin")], brec, [0], RPCConfig(epochs=1), options, previous, log=lines.append
    )
    (pair,) = report["gin"]["pairs"]
    assert pair["error"] is None and pair["epochs_run"] >= 1
    assert report["gin"]["summary"]["categories"]["basic"]["evaluated"] == 1
    assert len(lines) == 1 and "not run" not in lines[0]


def test_resume_keeps_reused_pairs_in_every_partial_report(monkeypatch):
    """An interrupted resumed run loses none of the earlier pairs: the partial report saved after the
    first new pair already holds the reused ones, even those later in the pair order."""
    from hodgnn.expressivity import brec as brec_module

    options = {"hidden_channels": 8}
    earlier = asdict(brec_module.PairResult.not_run(7, "basic", 1.0, None))  # a finished record
    previous = {"gin": {"options": options, "pairs": [earlier]}}
    monkeypatch.setattr(
        brec_module,
        "evaluate_pair",
        lambda variant, pair, *a: brec_module.PairResult.not_run(pair, "basic", 2.0, None),
    )

    class Pairs:
        def pair(self, pair_id):
            return pair_id

    saved = []
    report = brec_module.run_brec(
        [resolve_variant("gin")],
        Pairs(),
        [3, 7],
        RPCConfig(epochs=1),
        options,
        previous,
        on_update=lambda partial: saved.append([p["pair_id"] for p in partial["gin"]["pairs"]]),
        log=lambda _: None,
    )
    assert saved == [[3, 7]]  # one new pair, saved with the reused one
    assert [p["pair_id"] for p in report["gin"]["pairs"]] == [3, 7]
    assert report["gin"]["pairs"][1] == earlier
