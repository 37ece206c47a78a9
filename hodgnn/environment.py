"""Where and when a number was measured: CPU model, cores, torch version and threads, UTC date.

:func:`machine_info` and :func:`machine_description` describe the machine of a benchmark or an
expressivity report; :func:`run_environment` is the ``environment`` block of a training run's
``results.json``.
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from typing import Any

import torch


def utc_now() -> str:
    """The current UTC time as ``"YYYY-MM-DD HH:MM UTC"``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, cores, torch version and threads, Python version, UTC date and load average."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date_utc": utc_now(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def machine_description() -> str:
    """One line: ``"<cores>-core <cpu model>, torch <version>, <threads> torch threads"``."""
    return (
        f"{os.cpu_count()}-core {cpu_model()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads"
    )


def run_environment(gpu: bool = False) -> dict[str, Any]:
    """Library versions (torch, Lightning, PyG, Python), architecture, cores and torch threads, and with
    ``gpu`` the name of CUDA device 0: the ``environment`` block of a training run's ``results.json``."""
    import lightning
    import torch_geometric

    env: dict[str, Any] = {
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "torch_geometric": torch_geometric.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if gpu:
        env["gpu"] = torch.cuda.get_device_name(0)
    return env
