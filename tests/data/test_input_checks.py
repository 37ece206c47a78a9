"""The loaders' argument checks refuse a bad value with a ValueError naming it, before any file is read."""

from __future__ import annotations

import pytest

from hodgnn.data import load_dataset


@pytest.fixture(autouse=True)
def _no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HODGNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HODGNN_DOWNLOAD", raising=False)


@pytest.mark.parametrize("name", ["ogbg-molbace", "ogbg-molhiv", "peptides-func", "peptides-struct"])
@pytest.mark.parametrize("max_graphs", [0, -3, 2.5, "10", True, False])
def test_bad_max_graphs_is_refused_before_any_file_is_read(tmp_path, name, max_graphs):
    root = tmp_path / "data"
    root.mkdir()  # an empty data root: a loader that went looking for files would raise MissingDataError
    with pytest.raises(ValueError, match=r"^max_graphs must be a positive int or None, got "):
        load_dataset(name, root=root, max_graphs=max_graphs)
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("limit", [0, 2.5, True, {"train": -1}, {"val": "10"}])
def test_bad_max_graphs_per_split_is_refused_before_any_file_is_read(tmp_path, limit):
    from hodgnn.data.counting import load_counting

    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(
        ValueError, match=r"^max_graphs_per_split\['(train|val)'\] must be a positive int or None"
    ):
        load_counting("cycle3", root=root, max_graphs_per_split=limit)
    assert list(root.iterdir()) == []
