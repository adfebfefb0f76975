"""r1.sh --smoke: DeepSeek-R1's recipe end to end at tiny sizes, on top of the shared toy.sh --smoke run.

One run of the real script; the tests then check that every stage left its outputs, that the data stages'
counts add up (each sample counted once, each kept record written), that r1.sh's world is toy.sh's with only
the written chains of thought changed, and that the report's numbers are the stages' own. Accuracies are the
full run's business (README, "The R1 recipe"), not checked here: the smoke models are untrained.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

from grader import language_words, reasoning_part, word_language
from test_readme import normalised, readme_commands

ROOT = Path(__file__).resolve().parents[1]
EVALS = ["zero", "student_rl", "cold_sft", "rl", "rl_language", "sft", "student", "cold_sft_sampled",
         "rl_sampled", "rl_language_sampled"]
MODELS = ["zero", "student_base", "student_rl", "cold_sft", "rl", "rl_language", "sft", "student"]
STAGES = ["world", "cold_start", "reject", "distill"] + MODELS + [f"eval_{name}" for name in EVALS]


@pytest.fixture(scope="module")
def r1_run(toy_smoke_run, tmp_path_factory):
    toy, _ = toy_smoke_run
    out = tmp_path_factory.mktemp("r1") / "run"
    env = {**os.environ, "TOY": str(toy), "OUT": str(out), "SEED": "0"}
    proc = subprocess.run(["bash", str(ROOT / "r1.sh"), "--smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"r1.sh --smoke failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out, toy, proc.stdout


def jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def stats(out, folder):
    return json.loads((out / folder / "stats.json").read_text())


def test_every_stage_ran_once_and_left_its_outputs(r1_run):
    out, _, stdout = r1_run
    timed = [row["stage"] for row in jsonl(out / "timings.jsonl")]
    assert sorted(timed) == sorted(STAGES + ["total"])
    for name in MODELS:
        assert (out / name / "final" / "config.json").is_file(), name
    for name in EVALS:
        assert (out / "eval" / name / "results.json").is_file(), name
    for path in ["cold/cold_start.jsonl", "cold/zero_outputs.jsonl", "reject/sft.jsonl",
                 "distill/distill.jsonl", "world/chat.jsonl", "report.md", "r1_summary.json",
                 "plots/r1_zero.png", "plots/r1_cold_start.png", "plots/r1_language.png",
                 "plots/r1_distill.png"]:
        assert (out / path).is_file(), path
    assert "# DeepSeek-R1's recipe on the toy world" in stdout  # the report is printed at the end


def test_the_world_is_the_toy_runs_with_a_second_language_in_the_written_chains_of_thought(r1_run):
    out, toy, _ = r1_run
    for name in ["bench_test.jsonl", "bench_train.jsonl", "rl.jsonl", "pool.jsonl.gz"]:
        assert (out / "world" / name).read_bytes() == (toy / "world" / name).read_bytes(), name
    ours, theirs = jsonl(out / "world" / "sft.jsonl"), jsonl(toy / "world" / "sft.jsonl")
    changed = [new for new, old in zip(ours, theirs, strict=True) if new != old]
    assert all(rec["solution"].splitlines()[-1].startswith("所以答案是 \\boxed{") for rec in changed)
    assert len(changed) == stats(out, "world")["sft_second_language"] == round(0.2 * len(theirs))


def test_data_stage_counts_add_up(r1_run):
    out, _, _ = r1_run
    cold = stats(out, "cold")
    kept = [cold.get(f"{source}_kept", 0) for source in ("written", "zero", "few_shot")]
    assert cold["records"] == sum(kept) == len(jsonl(out / "cold" / "cold_start.jsonl")) > 0
    assert cold["written_samples"] == 40  # --n-written 40
    assert len(jsonl(out / "cold" / "zero_outputs.jsonl")) == cold["zero_sampled"] - cold["zero_unfinished"]
    reject = stats(out, "reject")
    dropped = sum(n for key, n in reject.items() if key.startswith("dropped_"))
    assert reject["samples"] == 8 * 2 == dropped + reject.get("kept", 0)  # --limit 8 questions, --k 2
    assert len(jsonl(out / "reject" / "sft.jsonl")) == reject.get("kept", 0) + reject["non_reasoning"]
    assert reject["non_reasoning"] == 4
    distill = stats(out, "distill")
    assert distill["records"] == len(jsonl(out / "distill" / "distill.jsonl")) == len(jsonl(out / "reject" /
                                                                                         "sft.jsonl"))


def test_report_numbers_are_the_stages_own(r1_run):
    out, toy, _ = r1_run
    summary = json.loads((out / "r1_summary.json").read_text())
    for name in EVALS:
        results = json.loads((out / "eval" / name / "results.json").read_text())
        assert summary["accuracy"][name] == pytest.approx(100 * results["accuracy"]), name
        rows = jsonl(out / "eval" / name / "samples.jsonl")
        thoughts = [reasoning_part(sample["completion"]) for row in rows for sample in row["samples"]]
        mixed = [any(word_language(w) != "en" for w in language_words(thought)) for thought in thoughts]
        assert summary["mixed"][name] == pytest.approx(100 * sum(mixed) / len(thoughts)), name
    base = json.loads((toy / "eval" / "base" / "results.json").read_text())
    assert summary["accuracy"]["base"] == pytest.approx(100 * base["accuracy"])
    zero = jsonl(out / "zero" / "metrics.jsonl")
    assert summary["zero"]["steps"] == len(zero) == 2
    assert summary["zero"]["accuracy_last"] == zero[-1]["accuracy"]
    report = (out / "report.md").read_text()
    row = f"{summary['accuracy']['rl_language']:.1f} ± {summary['accuracy_se']['rl_language']:.1f}"
    assert row in report


def test_commands_help_and_bad_arguments():
    commands = subprocess.run(["bash", "r1.sh", "--commands"], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
    assert commands.returncode == 0, commands.stderr
    lines = [line for line in commands.stdout.splitlines() if line.strip()]
    assert len(lines) == len(STAGES) and all(line.startswith(("python ", "torchrun ")) for line in lines)
    usage = subprocess.run(["bash", "r1.sh", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "--smoke" in usage.stdout and "TOY" in usage.stdout
    wrong = subprocess.run(["bash", "r1.sh", "--fast"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "unknown argument --fast" in wrong.stderr


def test_refuses_to_overwrite_a_folder_it_did_not_write(toy_smoke_run, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    env = {**os.environ, "TOY": str(toy_smoke_run[0]), "OUT": str(tmp_path)}
    proc = subprocess.run(["bash", "r1.sh", "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "refusing to overwrite it" in proc.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_readme_r1_commands_are_r1_sh_commands():
    run = subprocess.run(["bash", "r1.sh", "--commands"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    ours = {normalised(line) for line in run.stdout.splitlines() if line.strip()}
    quoted = [normalised(c) for c in readme_commands() if "--out runs/r1/" in c]
    assert len(quoted) >= 8
    for command in quoted:
        assert command in ours, f"README command not in r1.sh: {command}"
