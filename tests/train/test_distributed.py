"""Rank detection and process-group shutdown (hodgnn/train/distributed.py) under each launcher's
environment variables, and around a real single-process gloo group."""

from __future__ import annotations

import pytest
import torch.distributed as dist

from hodgnn.train.distributed import is_distributed, is_global_zero, shutdown_process_group

LAUNCHER_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, True),  # a plain single-process run
        ({"RANK": "0"}, True),  # torchrun
        ({"RANK": "3", "LOCAL_RANK": "0"}, False),  # torchrun's RANK wins over LOCAL_RANK
        ({"LOCAL_RANK": "0", "NODE_RANK": "0"}, True),  # Lightning's launcher
        ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False),  # rank 0 of the second machine
        ({"LOCAL_RANK": "0", "GROUP_RANK": "2"}, False),
        ({"LOCAL_RANK": "1", "SLURM_PROCID": "0"}, False),  # Lightning inside a SLURM allocation
        ({"SLURM_PROCID": "0"}, True),  # srun
        ({"SLURM_PROCID": "5"}, False),
    ],
)
def test_is_global_zero_reads_each_launcher(monkeypatch, env, expected):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert not is_distributed()
    assert is_global_zero() is expected


def test_shutdown_destroys_a_real_process_group(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "7")  # the initialised group's rank wins over the environment
    assert shutdown_process_group() is False  # nothing to shut down
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        assert is_distributed() and is_global_zero()
    finally:
        destroyed = shutdown_process_group(verbose=False)
    assert destroyed is True and not is_distributed()
    assert is_global_zero() is False  # back to the environment: RANK=7
