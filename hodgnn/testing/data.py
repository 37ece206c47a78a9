"""Checks of the shared data files against the data root's ``MANIFEST.tsv`` (``size<TAB>sha256<TAB>path``
per line), the provenance record of ``$HODGNN_DATA_ROOT``."""

from __future__ import annotations

from pathlib import Path

from hodgnn.data.root import file_sha256


def manifest_entry(root: Path, relative: str) -> tuple[int, str]:
    """``(size in bytes, sha256)`` of ``relative`` in ``root/MANIFEST.tsv``; ``KeyError`` if absent."""
    for line in (Path(root) / "MANIFEST.tsv").read_text().splitlines():
        size, sha, path = line.split("\t")
        if path == relative:
            return int(size), sha
    raise KeyError(f"{relative} is not in {Path(root) / 'MANIFEST.tsv'}")


def assert_matches_manifest(path: Path, root: Path, relative: str) -> None:
    """``path`` has the size and sha256 that ``root/MANIFEST.tsv`` records for ``relative``."""
    size, sha = manifest_entry(root, relative)
    assert Path(path).stat().st_size == size, (path, Path(path).stat().st_size, size)
    assert file_sha256(path) == sha, path
