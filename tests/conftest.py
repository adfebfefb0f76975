"""Shared test settings, and the one toy.sh --smoke run the pipeline tests share."""
import os
import subprocess
from pathlib import Path

import pytest
import torch

# Real benchmark files (GSM8K train/test, MATH test) for the tests that check against them: the folder named
# by the BENCHMARK_DATA environment variable, else data/ in the repository (where README's download commands
# put them), laid out as gsm8k/{train,test}.jsonl and math/test4500.jsonl. Those tests skip when a file is
# absent.
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


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def toy_smoke_run(tmp_path_factory):
    """One run of `toy.sh --smoke` (~2 minutes on 2 cores), shared by every test that needs the toy pipeline's
    outputs (the pipeline's own checks, and the study and R1 scripts that start from its models):
    (run folder, toy.sh's stdout)."""
    out = tmp_path_factory.mktemp("toy") / "run"
    env = {**os.environ, "OUT": str(out), "SEED": "0"}
    proc = subprocess.run(["bash", str(ROOT / "toy.sh"), "--smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"toy.sh --smoke failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out, proc.stdout
