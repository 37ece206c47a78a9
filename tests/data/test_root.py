import os

import pytest
import torch

from hodgnn.data import root as root_module
from hodgnn.data.root import (
    MissingDataError,
    download_allowed,
    processed_cache_dir,
    require_file,
    resolve_data_root,
)
from hodgnn.io import atomic_torch_save


def test_resolution_order(tmp_path, monkeypatch):
    fake_repo = tmp_path / "repo"
    fake_repo.mkdir()
    monkeypatch.setattr(root_module, "package_repo_dir", lambda: fake_repo)
    monkeypatch.delenv("HODGNN_DATA_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # nothing set and no ../shared/data: the download cache
    assert resolve_data_root() == tmp_path / "home" / ".cache" / "hodgnn" / "data"
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    assert resolve_data_root() == shared
    monkeypatch.setenv("HODGNN_DATA_ROOT", str(tmp_path / "env_root"))
    assert resolve_data_root() == tmp_path / "env_root"
    assert resolve_data_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_processed_cache_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HODGNN_CACHE_DIR", str(tmp_path / "c"))
    folder = processed_cache_dir("ogbg-molbace")
    assert folder == tmp_path / "c" / "processed" / "ogbg-molbace" and folder.is_dir()


def test_atomic_save_round_trip_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    payload = {"a": torch.arange(5, dtype=torch.float64), "meta": [1, "b"]}
    atomic_torch_save(payload, path)
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["a"], payload["a"]) and loaded["meta"] == [1, "b"]
    assert os.listdir(path.parent) == ["x.pt"]


def test_require_file_names_the_file_and_source(tmp_path):
    target = tmp_path / "raw" / "edge.csv.gz"
    with pytest.raises(MissingDataError, match="edge.csv.gz") as caught:
        require_file(target, "http://example.org/archive.zip")
    assert "http://example.org/archive.zip" in str(caught.value)
    assert caught.value.missing == [target]
    assert isinstance(caught.value, FileNotFoundError)
    target.parent.mkdir()
    target.write_bytes(b"x")
    assert require_file(target, "src") == target


def test_download_allowed_reads_env(monkeypatch):
    monkeypatch.delenv("HODGNN_DOWNLOAD", raising=False)
    assert download_allowed(None) is False
    monkeypatch.setenv("HODGNN_DOWNLOAD", "1")
    assert download_allowed(None) is True
    assert download_allowed(False) is False
