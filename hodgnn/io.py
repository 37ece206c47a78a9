"""Atomic file writes: a reader sees the old file or the complete new one, never a partial write.

Every writer of results, caches, checkpoints' side files and benchmark pages goes through
:func:`atomic_write`, which writes to a temporary file in the target folder, flushes and fsyncs
it, gives it the permissions a plain ``open`` would, and renames it into place.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(handle)`` on a binary temporary file beside ``path``, then rename it to ``path``.

    Args:
        path: destination; missing parent folders are created.
        write: writes the whole content to the open binary handle it is given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode()
    atomic_write(path, lambda handle: handle.write(data))


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` (strict JSON has no NaN/inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def atomic_write_json(path: str | os.PathLike, data: Any, indent: int = 2) -> None:
    """Write ``data`` as strict JSON (non-finite floats as ``null``) plus a newline, atomically."""
    atomic_write_text(path, json.dumps(json_safe(data), indent=indent) + "\n")


def atomic_torch_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    import torch

    atomic_write(path, lambda handle: torch.save(obj, handle))
