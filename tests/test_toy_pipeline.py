"""toy.sh --smoke: the whole pipeline at tiny sizes, end to end (the README's main command, shrunk).

One run of the real script (conftest's session fixture `toy_smoke_run`, ~2 minutes on 2 cores); the tests then
check that every stage left its outputs and that they agree with each other and with the report: counts that
must add up, accuracies recomputed from the per-sample files, a checkpoint behind every model, the report's
numbers equal to the stages' own. Accuracy targets are the full run's business, not checked here. Determinism
is checked by re-running two stages from their logged command lines with the same seed. """
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import report

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["world", "tokenizer", "corpus", "pretrain", "sft", "eval_base", "grpo", "eval_rl",
          "eval_rl_sampled", "eval_sft", "eval_sft_sampled", "rm_label", "rm_train", "grpo_prm",
          "eval_rl_prm"]
TEST_SIZE = 40  # toy.sh --smoke: --test-size 40


@pytest.fixture
def run(toy_smoke_run):
    return toy_smoke_run


def jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def logged_command(out: Path, stage: str) -> list[str]:
    """The command line toy.sh ran for a stage: the first line of its log."""
    return shlex.split((out / "logs" / f"{stage}.log").read_text().splitlines()[0])


def test_every_stage_ran_and_was_timed(run):
    out, stdout = run
    timings = {r["stage"]: r for r in jsonl(out / "timings.jsonl")}
    assert set(timings) == set(STAGES) | {"total"}
    assert all(r["wall_s"] > 0 for r in timings.values())
    assert all(r["cpu_s"] > 0 for r in timings.values() if r["stage"] != "total")
    assert "# The toy DeepSeekMath run" in stdout  # the report is printed at the end


def test_corpus_counts_add_up(run):
    out, _ = run
    s = json.loads((out / "corpus" / "summary.json").read_text())
    dedup = s["dedup"]
    assert dedup["kept"] + sum(dedup["dropped"].values()) == dedup["documents_in"]
    assert dedup["dropped"]["exact_duplicate"] > 0 and dedup["dropped"]["near_duplicate"] > 0
    iterations = s["iterate"]["iterations"]
    assert 1 <= len(iterations) <= 2  # --iterations 2
    assert all(0 <= it[k] <= 1 for it in iterations for k in ("precision", "recall", "classifier_precision"))
    manifest = json.loads((out / "corpus" / "tokens" / "manifest.json").read_text())
    vocab = json.loads((out / "tokenizer" / "stats.json").read_text())["vocab_size"]
    assert manifest["vocab_size"] == vocab
    for name, src in manifest["sources"].items():  # the manifest's counts are the shards' lengths
        arrays = [np.load(out / "corpus" / "tokens" / shard, mmap_mode="r") for shard in src["shards"]]
        assert sum(len(a) for a in arrays) == src["tokens"] > 0
        assert max(int(a.max()) for a in arrays) < vocab


def test_every_model_has_a_checkpoint_and_metrics(run):
    out, _ = run
    for folder, steps in (("pretrain", 4), ("sft", 4), ("grpo", 2), ("grpo_prm", 2)):
        assert (out / folder / "final" / "model.pt").is_file(), folder
        assert jsonl(out / folder / "metrics.jsonl")[-1]["step"] == steps, folder
    assert (out / "rm" / "final" / "config.json").is_file()
    for rec in jsonl(out / "grpo" / "metrics.jsonl"):  # rule reward = accuracy of the sampled outputs
        assert 0 <= rec["accuracy"] <= 1 and rec["reward"] == pytest.approx(rec["accuracy"])
        assert rec["response_len"] > 0
    labels = jsonl(out / "rm" / "labels.jsonl")
    assert len(labels) == 8 * 2  # --limit 8 --samples 2
    assert all(len(r["step_labels"]) >= 1 for r in labels)


@pytest.mark.parametrize("name", ["base", "sft", "rl", "rl_prm", "sft_sampled", "rl_sampled"])
def test_evaluations_agree_with_their_samples(run, name):
    out, _ = run
    folder = out / "eval" / name
    result = json.loads((folder / "results.json").read_text())
    rows = jsonl(folder / "samples.jsonl")
    n = result["config"]["n"]
    assert result["questions"] == len(rows) == (10 if "sampled" in name else TEST_SIZE)
    assert all(len(r["samples"]) == n for r in rows)
    first = [float(r["samples"][0]["correct"]) for r in rows]
    if n == 1:  # greedy accuracy is the mean of the per-question 0/1 scores
        assert result["accuracy"] == pytest.approx(sum(first) / len(first))
    else:  # maj@1 = pass@1 over the first sample only is not what pass@1 means: it averages all n samples
        assert result["pass_at_k"]["1"] == pytest.approx(
            sum(sum(s["correct"] for s in r["samples"]) / n for r in rows) / len(rows))
        assert result["maj_at_k"]["1"] == pytest.approx(sum(first) / len(first))


def test_report_numbers_are_the_stages_numbers(run):
    out, _ = run
    text = (out / "report.md").read_text()
    assert text == report.build_report(out)  # the report is a function of the run folder
    for key, label, _ in report.MODELS:
        r = json.loads((out / "eval" / key / "results.json").read_text())
        assert re.search(re.escape(label) + r" \| " + str(r["questions"]) + r" \| " +
                         re.escape(f"{100 * r['accuracy']:.1f} ± {100 * r['accuracy_se']:.1f}"), text), key
    for heading in ("## Time", "## Greedy accuracy", "## Math corpus", "## Pre-training and SFT",
                    "## Process reward model", "## GRPO", "## Pass@K and Maj@K"):
        assert heading in text
    for plot in ("loss.png", "grpo.png", "pass_maj.png"):
        assert (out / "plots" / plot).stat().st_size > 1000
        assert f"plots/{plot}" in text


@pytest.mark.parametrize("stage", ["pretrain", "grpo"])
def test_same_seed_same_numbers(run, stage, tmp_path):
    """A stage re-run from its logged command line, into another folder, logs the same metrics."""
    out, _ = run
    cmd = logged_command(out, stage)
    cmd[cmd.index("--out") + 1] = str(tmp_path / stage)
    launcher = {"python": [sys.executable], "torchrun": [sys.executable, "-m", "torch.distributed.run"]}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(launcher[cmd[0]] + cmd[1:], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=300)
    def numbers(path):  # the metrics without clock readings (t_sample, tok_per_s, ...) or the peak memory
        clock = lambda k: (k.startswith("t_") or  # noqa: E731
                           k in ("tok_per_s", "mfu", "rollout_tok_per_s", "peak_memory_mib"))
        return [{k: v for k, v in r.items() if not clock(k)} for r in jsonl(path)]
    assert numbers(tmp_path / stage / "metrics.jsonl") == numbers(out / stage / "metrics.jsonl")
