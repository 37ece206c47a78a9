"""Where and when a number was measured: CPU model, cores, torch version and threads, UTC date."""

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
