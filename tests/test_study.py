"""study.sh --smoke: Table 10's methods from the toy pipeline's SFT model, end to end at tiny sizes.

One run of the real script on top of the shared `toy.sh --smoke` run (conftest's `toy_smoke_run`), two seeds;
the tests check that every job left its outputs, that the numbers the report prints are the jobs' own
(recomputed here from the per-question files), that the held-out curves and evaluate.py agree, and that
PPO's measured state is GRPO's plus a trained value model. Whether the findings reproduce is the full
study's business (README), not checked here.
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import report

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ["0", "1"]
METHODS = ["rft", "online_rft", "grpo_os", "grpo_ps", "grpo_ps_iterative", "ppo", "dpo"]
STEPS, EVAL_LIMIT = 2, 8  # study.sh --smoke


@pytest.fixture(scope="module")
def study(toy_smoke_run, tmp_path_factory):
    toy, _ = toy_smoke_run
    out = tmp_path_factory.mktemp("study") / "run"
    env = {**os.environ, "TOY": str(toy), "OUT": str(out), "SEEDS": " ".join(SEEDS)}
    proc = subprocess.run(["bash", str(ROOT / "study.sh"), "--smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"study.sh --smoke failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out, proc.stdout


def jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def correct(out, name):
    return [float(row["samples"][0]["correct"]) for row in jsonl(out / "eval" / name / "samples.jsonl")]


def has_pairs(out, seed) -> bool:
    """DPO trains only where the SFT model's samples gave pairs (the smoke SFT model is rarely right)."""
    return json.loads((out / "dpo" / f"s{seed}" / "pairs.jsonl.stats.json").read_text()).get("pairs", 0) > 0


def test_every_job_ran_and_was_timed(study):
    out, stdout = study
    stages = {r["stage"] for r in jsonl(out / "timings.jsonl")}
    expected = {"eval_sft", "eval_sft_sampled", "total"}
    for seed in SEEDS:
        for method in METHODS[:-1] + (["dpo"] if has_pairs(out, seed) else []):
            expected |= {f"{method}_s{seed}", f"eval_{method}_s{seed}"}
        expected |= {f"dpo_pairs_s{seed}", f"eval_grpo_os_s{seed}_sampled"}
        if not has_pairs(out, seed):  # skipped, and said so
            assert f"dpo_s{seed}: no pairs" in stdout
    assert stages == expected
    assert "# Table 10 in miniature" in stdout  # the report is printed at the end


def test_every_run_has_its_held_out_curve_and_it_agrees_with_evaluate(study):
    """grpo.py/ppo.py measure greedy accuracy on the first EVAL_LIMIT test questions at steps 0..STEPS; the
    last point must equal evaluate.py's accuracy of the exported model on the same questions."""
    out, _ = study
    starts = set()
    for seed in SEEDS:
        for method in METHODS[:-1]:  # DPO is offline: no curve
            curve = {r["step"]: r["test_accuracy"] for r in jsonl(out / method / f"s{seed}" / "metrics.jsonl")
                     if "test_accuracy" in r}
            assert sorted(curve) == list(range(STEPS + 1))
            final = correct(out, f"{method}_s{seed}")[:EVAL_LIMIT]
            assert curve[STEPS] == pytest.approx(sum(final) / len(final))
            starts.add(curve[0])
    # every run starts from the same SFT model, evaluated the same way
    assert sorted(starts) == pytest.approx([sum(correct(out, "sft")[:EVAL_LIMIT]) / EVAL_LIMIT])


def test_the_report_table_is_the_evaluations(study):
    out, _ = study
    text = (out / "study.md").read_text()
    sft = correct(out, "sft")
    for key, label, _ in report.METHODS:
        seeds = [seed for seed in SEEDS if key != "dpo" or has_pairs(out, seed)]
        if not seeds:
            assert "DPO: no pairs for seed(s) " + ", ".join(SEEDS) in text
            continue
        accs = [sum(c) / len(c) for c in (correct(out, f"{key}_s{seed}") for seed in seeds)]
        mean = sum(accs) / len(accs)
        gain = sum(a - sum(sft) / len(sft) for a in accs) / len(accs)
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1].startswith(f"{100 * mean:.1f} ±")
        assert cells[2] == ", ".join(f"{100 * a:.1f}" for a in accs)
        assert float(cells[3]) == pytest.approx(100 * gain, abs=0.051)
    findings = [line for line in text.splitlines() if line.startswith("- ") and "**" in line]
    assert len(findings) == len(report.FINDINGS) + 1  # + Fig. 7's


def test_a_finding_is_the_mean_of_the_seeds_paired_differences(study):
    out, _ = study
    text = (out / "study.md").read_text()
    claim, better, worse, _ = report.FINDINGS[0]
    accuracy = lambda name: sum(correct(out, name)) / len(correct(out, name))  # noqa: E731
    per_seed = [accuracy(f"{better}_s{s}") - accuracy(f"{worse}_s{s}") for s in SEEDS]
    line = next(line for line in text.splitlines() if line.startswith(f"- {claim}"))
    shown = re.search(r"\[(.*?)\]", line.split(claim)[1]).group(1)
    assert shown == ", ".join(f"{100 * d:+.1f}" for d in per_seed)


def test_ppo_holds_grpo_s_state_plus_a_value_model_and_the_iterative_run_relabels(study, toy_smoke_run):
    """Held training state, against the bytes counted by hand from the checkpoints: GRPO holds π_θ with
    AdamW (16 bytes a parameter) and π_ref (4); PPO holds the same plus its value model, trained (16)."""
    from model import Transformer
    from reward import RewardModel
    out, _ = study
    policy = Transformer.load(toy_smoke_run[0] / "sft" / "final").num_params()
    for seed in SEEDS:
        last = {m: [r for r in jsonl(out / m / f"s{seed}" / "metrics.jsonl") if "loss" in r][-1]
                for m in ("grpo_os", "ppo")}
        value = sum(p.numel() for p in RewardModel.load(out / "ppo" / f"s{seed}" / "value").parameters())
        assert last["grpo_os"]["held_state_mib"] * 2 ** 20 == pytest.approx(20 * policy, rel=1e-3)
        assert last["ppo"]["held_state_mib"] * 2 ** 20 == pytest.approx(20 * policy + 16 * value, rel=1e-3)
        # Algorithm 1's retraining after each iteration labels new samples of the policy
        records = jsonl(out / "grpo_ps_iterative" / f"s{seed}" / "metrics.jsonl")
        retrained = [r for r in records if "rm_samples" in r]
        assert [r["iteration"] for r in retrained] == [0, 1] and all(r["rm_samples"] > 0 for r in retrained)
        stats = json.loads((out / "dpo" / f"s{seed}" / "pairs.jsonl.stats.json").read_text())
        assert stats["judged"] + stats["unfinished"] == 8 * 4  # --limit 8 questions × --k 4


def test_refuses_a_missing_toy_run_and_a_foreign_folder(tmp_path):
    """Nothing starts without the toy run's models, and a folder study.sh did not write is never emptied."""
    missing = subprocess.run(["bash", str(ROOT / "study.sh")], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "TOY": str(tmp_path / "nothing"), "OUT": str(tmp_path / "out")})
    assert missing.returncode == 1 and "is missing: the study starts from a toy run" in missing.stderr
    assert not (tmp_path / "out").exists()
    toy = tmp_path / "toy"
    for path in ("sft/final/config.json", "rm/final/config.json", "rm/labels.jsonl", "world/bench_train.jsonl"):
        (toy / path).parent.mkdir(parents=True, exist_ok=True)
        (toy / path).write_text("{}")
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    foreign = subprocess.run(["bash", str(ROOT / "study.sh")], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "TOY": str(toy), "OUT": str(tmp_path / "precious")})
    assert foreign.returncode == 1 and "refusing to overwrite it" in foreign.stderr
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"
