"""Machine and run descriptions (hodgnn/environment.py) against what the system itself reports."""

from __future__ import annotations

import os
import platform
import re
from datetime import datetime, timezone

import lightning
import torch
import torch_geometric

from hodgnn.environment import cpu_model, machine_description, machine_info, run_environment, utc_now


def test_cpu_model_is_the_first_model_name_of_proc_cpuinfo():
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    except OSError:
        names = []
    expected = names[0] if names else (platform.processor() or platform.machine())
    assert cpu_model() == expected and expected


def test_utc_now_is_the_current_minute():
    before = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    stamp = utc_now()
    after = datetime.now(timezone.utc)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", stamp)
    parsed = datetime.strptime(stamp, "%Y-%m-%d %H:%M UTC").replace(tzinfo=timezone.utc)
    assert before <= parsed <= after


def test_machine_info_and_description_report_the_threads_in_use():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        info = machine_info()
        line = machine_description()
    finally:
        torch.set_num_threads(threads)
    assert info["cpu"] == cpu_model() and info["cores"] == os.cpu_count()
    assert info["torch"] == torch.__version__ and info["torch_threads"] == 1
    assert info["python"] == platform.python_version()
    assert line == f"{os.cpu_count()}-core {cpu_model()}, torch {torch.__version__}, 1 torch threads"


def test_run_environment_lists_the_library_versions():
    env = run_environment()
    assert env["torch"] == torch.__version__ and env["lightning"] == lightning.__version__
    assert env["torch_geometric"] == torch_geometric.__version__
    assert env["cpu_count"] == os.cpu_count() and env["torch_threads"] == torch.get_num_threads()
    assert "gpu" not in env
