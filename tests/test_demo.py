"""``hodgnn demo`` (hodgnn/demo.py) on real ogbg-molbace molecules: its three checks pass, and fail when
the engine's answer is wrong."""

from __future__ import annotations

import re

import pytest
import torch
from torch_geometric.utils import degree

from hodgnn import demo
from hodgnn.data import read_ogb_raw
from hodgnn.data.root import package_repo_dir

DATA = package_repo_dir().parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "ogbg-molbace").is_dir(), reason=f"shared data not at {DATA}")
ARGS = ["--data-root", str(DATA), "--num-graphs", "12", "--order", "2", "--check", "2"]


def test_molecule_features_are_constant_degree_aromatic_and_atomic_number():
    graph = read_ogb_raw(DATA / "ogbg-molbace")[0]
    features = demo.molecule_features(graph)
    expected_degree = degree(graph.edge_index[0], graph.num_nodes, dtype=torch.float64)  # symmetric bonds
    assert features.shape == (graph.num_nodes, 4) and features.dtype == torch.float64
    torch.testing.assert_close(features[:, 0], torch.ones(graph.num_nodes, dtype=torch.float64))
    torch.testing.assert_close(features[:, 1], expected_degree / 4)
    torch.testing.assert_close(features[:, 2], graph.x[:, 7].double())
    torch.testing.assert_close(features[:, 3], graph.x[:, 0].double() / 10)


def test_demo_checks_pass_on_real_molecules(capsys):
    assert demo.main(ARGS) == 0
    out = capsys.readouterr().out
    assert "12 ogbg-molbace molecules" in out
    error = float(re.search(r"max relative error vs nested autograd on 2 molecules: (\S+)", out).group(1))
    assert error < 1e-9
    assert "match networkx on 12/12 molecules" in out
    gap = float(re.search(r"AddRandomWalkPE \(float32\): max \|diff\| (\S+)", out).group(1))
    assert gap < 1e-6


def test_demo_reports_failure_when_the_reference_disagrees(capsys, monkeypatch):
    reference = demo.reference_node_derivatives_batched
    monkeypatch.setattr(demo, "reference_node_derivatives_batched", lambda *a: 1.01 * reference(*a))
    assert demo.main(ARGS) == 1
    error = re.search(r"nested autograd on 2 molecules: (\S+)", capsys.readouterr().out).group(1)
    assert abs(float(error) - 0.01 / 1.01) < 1e-6
