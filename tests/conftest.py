"""Set-up shared by every test folder."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def single_thread():
    """One intra-op torch thread for the whole run: the tests run thousands of tiny tensor operations,
    which are 10-100x slower when two threads contend for a small, loaded machine (2 cores)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
