"""Timing and peak-memory helpers shared by the benchmark scripts.

* :func:`time_repeats` times a callable several times (wall clock and process CPU time) and
  reports medians: on a shared machine the CPU time is the steadier of the two.
* :func:`measure_peak_memory` runs a callable once and reports two peaks over that call only:
  the resident set size (``VmHWM`` of ``/proc/self/status``, reset before the call; what the
  operating system sees, allocator overheads and fragmentation included) and the peak of the
  bytes held by torch tensors (from ``torch.profiler``'s memory events).
* :func:`run_isolated` runs one configuration in a fresh Python process, so that memory freed
  by an earlier configuration (and kept by the allocator) cannot hide or inflate a peak; the
  child's result comes back as JSON.

Everything here is CPU-only and never run by the test suite.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
_RESULT_MARKER = "@@BENCHMARK-RESULT@@"


def _proc_status_bytes(key: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` in bytes (``None`` off Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` code 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def time_repeats(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> dict[str, Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times.

    Returns ``wall_s`` / ``cpu_s`` (every repeat, seconds) and their medians
    ``wall_median_s`` / ``cpu_median_s``.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "wall_median_s": statistics.median(wall),
        "cpu_median_s": statistics.median(cpu),
    }


def measure_peak_memory(fn: Callable[[], Any], tensor_peak: bool = True) -> dict[str, Any]:
    """Peak memory of one call of ``fn`` (whose result is dropped afterwards).

    Returns ``rss_peak_bytes`` (peak resident set size during the call minus the resident set
    size just before it; ``None`` where ``/proc`` is unavailable) and, with ``tensor_peak``,
    ``tensor_peak_bytes``: the largest total of bytes held by tensors allocated during the
    call (including the result), from a second call under ``torch.profiler``.
    """
    gc.collect()
    result: dict[str, Any] = {"rss_peak_bytes": None, "tensor_peak_bytes": None}
    before = _proc_status_bytes("VmRSS")
    if before is not None and _reset_peak_rss():
        out = fn()
        peak = _proc_status_bytes("VmHWM")
        result["rss_peak_bytes"] = peak - before if peak is not None else None
        del out
        gc.collect()
    if tensor_peak:
        from hodgnn.testing.memory import tensor_peak_bytes

        result["tensor_peak_bytes"] = tensor_peak_bytes(fn)
    return result


def machine_info() -> dict[str, Any]:
    """Where and when: CPU model, cores, torch version and threads, UTC date."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def run_isolated(function: str, kwargs: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Call ``function`` (``"package.module:name"``) with the JSON-serialisable ``kwargs`` in a
    fresh Python process and return the dict it returns.

    A child that fails, is killed (e.g. for memory) or exceeds ``timeout`` seconds yields
    ``{"error": ...}`` instead of raising, so one configuration cannot stop a whole sweep.
    """
    code = (
        f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); from benchmarks.common import _child; _child()"
    )
    payload = json.dumps({"function": function, "kwargs": kwargs})
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            input=payload,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_RESULT_MARKER):
            return json.loads(line[len(_RESULT_MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}


def _child() -> None:
    """Entry point of :func:`run_isolated`'s child process."""
    request = json.loads(sys.stdin.read())
    module_name, name = request["function"].split(":")
    fn = getattr(importlib.import_module(module_name), name)
    result = fn(**request["kwargs"])
    print(_RESULT_MARKER + json.dumps(result), flush=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
