"""Shared test settings."""
import os
from pathlib import Path

import pytest
import torch

# Real benchmark files (GSM8K train/test, MATH test) for the tests that check against them: the folder named by
# the BENCHMARK_DATA environment variable, else data/ in the repository (where README's download commands put
# them), laid out as gsm8k/{train,test}.jsonl and math/test4500.jsonl. Those tests skip when a file is absent.
DATA = Path(os.environ.get("BENCHMARK_DATA", Path(__file__).resolve().parents[1] / "data"))


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The test models are tiny and CI has two cores shared with the multi-process tests: one intra-op
    thread per process is faster than several fighting over the cores (test.sh sets OMP_NUM_THREADS=1
    too, for the processes the tests start)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
