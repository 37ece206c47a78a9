"""Where datasets are read from and where processed tensors are cached."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

DATA_ROOT_ENV = "HODGNN_DATA_ROOT"
CACHE_DIR_ENV = "HODGNN_CACHE_DIR"
DOWNLOAD_ENV = "HODGNN_DOWNLOAD"
DEFAULT_DOWNLOAD_ROOT = Path("~/.cache/hodgnn/data")


def package_repo_dir() -> Path:
    """The repository holding the ``hodgnn`` package (the parent of the package folder)."""
    return Path(__file__).resolve().parents[2]


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root.

    Order: the ``root`` argument, else ``$HODGNN_DATA_ROOT``, else ``<repo>/../shared/data``
    when that folder exists, else ``~/.cache/hodgnn/data`` (where canonical downloads go).

    Args:
        root (str or Path, optional): explicit data root. (default: :obj:`None`)
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    shared = package_repo_dir().parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return DEFAULT_DOWNLOAD_ROOT.expanduser()


def processed_cache_dir(name: str) -> Path:
    """Writable folder for processed tensors of dataset ``name``.

    ``$HODGNN_CACHE_DIR/processed/<name>`` when that variable is set, else
    ``~/.cache/hodgnn/processed/<name>``. Never inside the (read-only) data root.
    """
    base = os.environ.get(CACHE_DIR_ENV)
    base_dir = Path(base).expanduser() if base else Path("~/.cache/hodgnn").expanduser()
    folder = base_dir / "processed" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def file_sha256(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(*parts: object) -> str:
    """Short stable hash of ``parts`` (file checksums, options) to name a cache file."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


class MissingDataError(FileNotFoundError):
    """A dataset file is absent from the data root and downloading was not allowed or failed."""

    def __init__(self, missing: Path | list[Path], source: str, hint: str = "") -> None:
        paths = missing if isinstance(missing, list) else [missing]
        listed = ", ".join(str(p) for p in paths)
        message = (
            f"Missing file(s): {listed}. Official source: {source}. Point the data root (root= or "
            f"${DATA_ROOT_ENV}) at a folder that holds them, or pass download=True (or set "
            f"${DOWNLOAD_ENV}=1) to fetch them from the official source."
        )
        super().__init__(message + (f" {hint}" if hint else ""))
        self.missing = paths


def require_file(path: Path, source: str) -> Path:
    """Return ``path`` if it is a file, else raise :class:`MissingDataError` naming it and its source.

    Args:
        path (Path): the file that is needed.
        source (str): where the file officially comes from (a URL or a loader).
    """
    if not path.is_file():
        raise MissingDataError(path, source)
    return path


def download_allowed(download: bool | None) -> bool:
    """``download`` when given, else whether ``$HODGNN_DOWNLOAD`` is ``1``/``true``/``yes``."""
    if download is not None:
        return bool(download)
    return os.environ.get(DOWNLOAD_ENV, "0").strip().lower() in ("1", "true", "yes")


def writable_download_root(root: Path) -> Path:
    """``root`` when it is (or can be made) writable, else ``~/.cache/hodgnn/data``."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    fallback = DEFAULT_DOWNLOAD_ROOT.expanduser()
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback
