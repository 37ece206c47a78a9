"""The loaders' argument checks refuse a bad value with a ValueError naming it, before any file is read."""

from __future__ import annotations

import pytest

from hodgnn.data import load_dataset
from hodgnn.data.checks import check_max_graphs


@pytest.fixture(autouse=True)
def _no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HODGNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HODGNN_DOWNLOAD", raising=False)


@pytest.mark.parametrize("max_graphs", [None, 1, 200])
def test_max_graphs_accepts_none_and_positive_ints(max_graphs):
    check_max_graphs(max_graphs)


@pytest.mark.parametrize("name", ["ogbg-molbace", "ogbg-molhiv", "peptides-func", "peptides-struct"])
@pytest.mark.parametrize("max_graphs", [0, -3, 2.5, "10", True, False])
def test_bad_max_graphs_is_refused_before_any_file_is_read(tmp_path, name, max_graphs):
    root = tmp_path / "data"
    root.mkdir()  # an empty data root: a loader that went looking for files would raise MissingDataError
    with pytest.raises(ValueError, match=r"^max_graphs must be a positive int or None, got "):
        load_dataset(name, root=root, max_graphs=max_graphs)
    assert list(root.iterdir()) == []
