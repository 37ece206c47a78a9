import sys
import types

import pytest

from hodgnn.data import DATASET_NAMES, DatasetInfo, DatasetSplits, load_dataset


def test_unknown_name_lists_allowed_names():
    with pytest.raises(ValueError) as caught:
        load_dataset("ogbg-molpcba")
    for name in ("zinc", "ogbg-molbace", "peptides-struct", "synthetic-counts", "counting-<target>"):
        assert name in str(caught.value)
    with pytest.raises(ValueError):
        load_dataset("counting-")
    assert "zinc" in DATASET_NAMES


def test_counting_and_synthetic_are_routed_lazily(monkeypatch):
    calls = []
    info = DatasetInfo("x", "regression", "mae", 1, "float", 1)
    counting = types.ModuleType("hodgnn.data.counting")
    counting.load_counting = lambda target, root=None, **kw: (
        calls.append(("counting", target, root, kw)) or (DatasetSplits([], [], [], info))
    )
    synthetic = types.ModuleType("hodgnn.data.synthetic")
    synthetic.load_synthetic_counts = lambda **kw: (
        calls.append(("synthetic", kw)) or DatasetSplits([], [], [], info)
    )
    monkeypatch.setitem(sys.modules, "hodgnn.data.counting", counting)
    monkeypatch.setitem(sys.modules, "hodgnn.data.synthetic", synthetic)
    out = load_dataset("counting-cycle4", root="/r", normalize=True)
    assert isinstance(out, DatasetSplits)
    load_dataset("synthetic-counts", num_graphs=7)
    load_dataset("counting-node-cycle5")
    assert calls == [
        ("counting", "cycle4", "/r", {"normalize": True}),
        ("synthetic", {"num_graphs": 7}),
        ("counting", "cycle5", None, {"level": "node"}),
    ]
    with pytest.raises(ValueError, match="level"):
        DatasetInfo("x", "regression", "mae", 1, "float", 1, level="edge")
