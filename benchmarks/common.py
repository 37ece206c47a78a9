"""Timing, peak-memory, subprocess and fitting helpers shared by the benchmark scripts.

* :func:`time_repeats` times a callable several times (wall clock and process CPU time) and
  reports medians: on a shared machine the CPU time is the steadier of the two.
* :func:`measure_peak_memory` runs a callable once and reports two peaks over that call only:
  the resident set size (``VmHWM`` of ``/proc/self/status``, reset before the call; what the
  operating system sees, allocator overheads and fragmentation included) and the peak of the
  bytes held by torch tensors (from ``torch.profiler``'s memory events).
* :func:`run_watched` runs a command under a wall-clock limit and a resident-set watchdog;
  :func:`run_isolated` runs one configuration (a function and its keyword arguments) that way in
  a fresh Python process, so that memory freed by an earlier configuration (and kept by the
  allocator) cannot hide or inflate a peak; the child's result comes back as JSON.
* :func:`loglog_slope` is the growth exponent every benchmark fits.

Where and when a number was measured comes from :mod:`hodgnn.environment`; results and pages are
written with :mod:`hodgnn.io`. Everything here is CPU-only and never run by the test suite.
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
PAGES_DIR = REPO_ROOT / "docs" / "results"
_RESULT_MARKER = "@@BENCHMARK-RESULT@@"


# --------------------------------------------------------------------------- /proc and the machine


def _kib_field(path: str, key: str) -> int | None:
    """A ``<key>: <n> kB`` line of a ``/proc`` file in bytes (``None`` off Linux or if absent)."""
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def proc_status_bytes(key: str, pid: int | str = "self") -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``) in bytes."""
    return _kib_field(f"/proc/{pid}/status", key)


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ``clear_refs`` code 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, rounded to 2 decimals (``None`` where unknown)."""
    if not hasattr(os, "getloadavg"):
        return None
    return [round(x, 2) for x in os.getloadavg()]


def machine_summary() -> str:
    """``"<cpu model>, <n> logical CPUs, <m> GiB RAM, <system> <release>"`` (the RAM where known)."""
    from hodgnn.environment import cpu_model

    total = _kib_field("/proc/meminfo", "MemTotal")
    ram = "" if total is None else f", {total / 2**30:.0f} GiB RAM"
    return f"{cpu_model()}, {os.cpu_count()} logical CPUs{ram}, {platform.system()} {platform.release()}"


# --------------------------------------------------------------------------- time and memory


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
    size just before it; ``None`` where ``/proc`` is unavailable), ``rss_peak_absolute_bytes``
    (the peak itself) and, with ``tensor_peak``, ``tensor_peak_bytes``: the largest total of
    bytes held by tensors allocated during the call (including the result), from a second call
    under ``torch.profiler``.
    """
    gc.collect()
    result: dict[str, Any] = {"rss_peak_bytes": None, "tensor_peak_bytes": None}
    before = proc_status_bytes("VmRSS")
    if before is not None and reset_peak_rss():
        out = fn()
        peak = proc_status_bytes("VmHWM")
        result["rss_peak_bytes"] = peak - before if peak is not None else None
        result["rss_peak_absolute_bytes"] = peak
        del out
        gc.collect()
    if tensor_peak:
        from hodgnn.testing.memory import tensor_peak_bytes

        result["tensor_peak_bytes"] = tensor_peak_bytes(fn)
    return result


def structure_counts(model, batch) -> dict[str, Any]:
    """What a batch costs a model, for context: HOD-GNN's stored derivative pairs over layers
    1..T (``derivative_pairs``) and the time to build their support (``support_build_s``),
    DS-GNN's bag nodes (``bag_nodes``)."""
    import torch

    from hodgnn.nn import DSGNN, HODGNN

    counts: dict[str, Any] = {}
    if isinstance(model, HODGNN):
        from hodgnn.derivatives import build_pair_support

        T = model.base_plan().num_layers
        start = time.perf_counter()
        support = build_pair_support(batch.edge_index, batch.num_nodes, T, model.diagonal_only)
        counts["support_build_s"] = time.perf_counter() - start
        counts["derivative_pairs"] = sum(support.num_pairs(t) for t in range(1, T + 1))
    if isinstance(model, DSGNN):
        sizes = torch.bincount(batch.batch)
        counts["bag_nodes"] = int((sizes * sizes).sum())
    return counts


# --------------------------------------------------------------------------- subprocesses


def run_watched(
    command: list[str],
    timeout: float | None = None,
    rss_limit: int | None = None,
    stdin_text: str = "",
) -> dict[str, Any]:
    """Run ``command`` (in the repository root), killing it above ``timeout`` seconds or above
    ``rss_limit`` bytes of resident set (polled every 0.1 s).

    Returns ``status`` (``"ok"`` when it exited by itself, else ``"timeout"`` or
    ``"rss_limit"``), ``returncode``, ``stdout``, ``stderr``, ``wall_s`` and
    ``watchdog_peak_rss_mib`` (the largest resident set the watchdog saw).
    """
    with tempfile.TemporaryFile("w+") as stdin, tempfile.TemporaryFile("w+") as out:
        with tempfile.TemporaryFile("w+") as err:
            stdin.write(stdin_text)
            stdin.seek(0)
            started = time.perf_counter()
            proc = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=err, text=True, cwd=REPO_ROOT)
            peak, status = 0, "ok"
            while proc.poll() is None:
                peak = max(peak, proc_status_bytes("VmRSS", proc.pid) or 0)
                if rss_limit is not None and peak > rss_limit:
                    status = "rss_limit"
                elif timeout is not None and time.perf_counter() - started > timeout:
                    status = "timeout"
                if status != "ok":
                    proc.kill()
                    proc.wait()
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            return {
                "status": status,
                "returncode": proc.returncode,
                "stdout": out.read(),
                "stderr": err.read(),
                "wall_s": wall,
                "watchdog_peak_rss_mib": peak / 2**20,
            }


def run_isolated(
    function: str, kwargs: dict[str, Any], timeout: float | None = None, rss_limit: int | None = None
) -> dict[str, Any]:
    """Call ``function`` (``"package.module:name"``) with the JSON-serialisable ``kwargs`` in a
    fresh Python process (:func:`run_watched`) and return the dict it returns.

    A child that fails, is killed or exceeds a limit yields ``{"status": "error" | "timeout" |
    "rss_limit", "error": ...}`` (plus ``watchdog_peak_rss_mib`` for a killed one) instead of
    raising, so one configuration cannot stop a whole sweep.
    """
    code = (
        f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); from benchmarks.common import _child; _child()"
    )
    payload = json.dumps({"function": function, "kwargs": kwargs})
    run = run_watched([sys.executable, "-c", code], timeout, rss_limit, stdin_text=payload)
    if run["status"] == "timeout":
        return {"status": "timeout", "error": f"timed out after {timeout:.0f} s"}
    if run["status"] == "rss_limit":
        peak = run["watchdog_peak_rss_mib"]
        error = f"killed above the resident-set limit of {rss_limit / 2**30:.1f} GiB"
        return {"status": "rss_limit", "error": error, "watchdog_peak_rss_mib": peak}
    for line in reversed(run["stdout"].splitlines()):
        if line.startswith(_RESULT_MARKER):
            return json.loads(line[len(_RESULT_MARKER) :])
    tail = (run["stderr"] or run["stdout"]).strip().splitlines()[-3:]
    return {"status": "error", "error": f"exit code {run['returncode']}: " + " | ".join(tail)}


def _child() -> None:
    """Entry point of :func:`run_isolated`'s child process."""
    request = json.loads(sys.stdin.read())
    module_name, name = request["function"].split(":")
    fn = getattr(importlib.import_module(module_name), name)
    result = fn(**request["kwargs"])
    print(_RESULT_MARKER + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- fits


def loglog_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``log y`` against ``log x`` over the points with ``x, y > 0``
    (``None`` for fewer than 2 such points or a single ``x``): the growth exponent."""
    points = [(x, y) for x, y in points if x > 0 and y > 0]
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mean_x) ** 2 for x in xs)
    if den == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / den
