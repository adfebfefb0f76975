"""Shared test settings."""
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The test models are tiny and CI has two cores shared with the multi-process tests: one intra-op
    thread per process is faster than several fighting over the cores (test.sh sets OMP_NUM_THREADS=1
    too, for the processes the tests start)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
