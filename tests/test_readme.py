"""The README's Python code blocks run as written (each in a fresh namespace)."""

from __future__ import annotations

import re

import pytest
import torch

from hodgnn.data.root import package_repo_dir

README = package_repo_dir() / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_examples():
    assert len(BLOCKS) >= 2
    assert any("AddDerivativeEncoding" in block and "GIN(" in block for block in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_code_block_runs(index):
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), namespace)
    if "AddDerivativeEncoding" in BLOCKS[index] and "encode" in namespace:
        data = namespace["data"]
        assert (
            data.derivative_pe.shape
            == (data.num_nodes, namespace["encode"].num_channels)
            == (data.num_nodes, 56)
        )
