"""Random-weight separation on EXP and SR25 where theory fixes the answer: GIN (1-WL) separates no EXP
pair; 1-HOD separates the EXP pairs that node marking separates; nothing bounded by 3-WL (GIN, 1-HOD,
DS-GNN) separates two strongly regular graphs with the same parameters."""

from __future__ import annotations

import json

import networkx as nx
import pytest
import torch

from hodgnn.data.expressivity import load_exp, load_sr25, to_networkx_graph
from hodgnn.data.root import resolve_data_root
from hodgnn.expressivity.models import resolve_variant
from hodgnn.expressivity.separation import SeparationConfig, evaluate_variant, main, separation_flags

EXPRESSIVITY = resolve_data_root() / "expressivity"
needs_data = pytest.mark.skipif(
    not (EXPRESSIVITY / "EXP" / "raw" / "GRAPHSAT.pkl").is_file(), reason="expressivity data not available"
)
SMALL = {"hidden_channels": 32}
CONFIG = SeparationConfig(seeds=2)


def marking_separates(first, second, iterations: int) -> bool:
    """DS-WL with node labels: multisets of WL colourings with one node marked differ."""

    def multiset(data):
        graph = to_networkx_graph(data)
        hashes = []
        for v in graph:
            nx.set_node_attributes(
                graph, {u: f"{graph.nodes[u]['label']}{int(u == v)}" for u in graph}, "mark"
            )
            hashes.append(nx.weisfeiler_lehman_graph_hash(graph, node_attr="mark", iterations=iterations))
        return sorted(hashes)

    return multiset(first) != multiset(second)


def test_separation_flags():
    first = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.1, 0.2]], dtype=torch.float64)
    second = first + torch.tensor([[1e-3, 0.0], [1e-9, 0.0], [0.0, 1e-5]], dtype=torch.float64)
    relabelled = first + torch.tensor([[1e-12, 0.0], [0.0, 1e-3], [0.0, 0.0]], dtype=torch.float64)
    separated, reliable = separation_flags(first, second, relabelled, tolerance=1e-6)
    assert separated.tolist() == [True, False, True]
    assert reliable.tolist() == [True, False, True]


@pytest.fixture(scope="module")
def exp_pairs():
    return load_exp()[:12]


@needs_data
def test_gin_separates_no_exp_pair(exp_pairs):
    result = evaluate_variant(resolve_variant("gin"), exp_pairs, 2, CONFIG, SMALL)
    assert result["counted_any_seed"] == 0
    assert result["unreliable_total"] == 0


@needs_data
def test_hod_separates_exp_pairs_that_marking_separates(exp_pairs):
    marked = [pair for pair in exp_pairs if marking_separates(*pair, iterations=3)]
    assert len(marked) >= 6
    for name in ("hod_silu_m1", "hod_silu_m2"):
        result = evaluate_variant(resolve_variant(name), marked, 2, CONFIG, SMALL)
        assert result["unreliable_total"] == 0
        assert all(seed["counted"] == len(marked) for seed in result["per_seed"]), (name, result)


@needs_data
def test_models_below_3wl_separate_no_sr25_pair():
    pairs = load_sr25()[:10]
    for name in ("gin", "hod_silu_m2", "ds_gnn"):
        result = evaluate_variant(resolve_variant(name), pairs, 1, SeparationConfig(seeds=1), SMALL)
        assert result["counted_any_seed"] == 0, name
        assert result["unreliable_total"] == 0, name


@needs_data
def test_command_line(tmp_path):
    output = tmp_path / "separation.json"
    argv = [
        "--datasets",
        "sr25",
        "--models",
        "gin",
        "--max-pairs",
        "3",
        "--seeds",
        "1",
        "--output",
        str(output),
    ]
    assert main(argv) == 0
    payload = json.loads(output.read_text())
    entry = payload["results"]["sr25"]["gin"]
    assert entry["num_pairs"] == 3 and entry["counted_any_seed"] == 0 and len(entry["per_seed"]) == 1
