"""The toy run's report: runs/toy/report.md, assembled from what each stage of toy.sh wrote (and the
study's, runs/study/study.md, from what study.sh wrote).

    python report.py --run runs/toy          # writes runs/toy/report.md and plots/*.png, prints the report
    python report.py --study runs/study      # writes runs/study/study.md and runs/study/plots/study_*.png
    python report.py r1 --run runs/r1        # r1.sh's report (DeepSeek-R1's recipe: this file's last block)

Every number comes from a stage's own output files (stats.json, summary.json, metrics.jsonl,
results.json, timings.jsonl); nothing is recomputed except standard errors and differences. The
report answers, in order: how long each stage took; whether the models improve as the paper says
(base few-shot < SFT < GRPO, greedy, on the toy test set); what the corpus pipeline collected
(classifier precision and recall per iteration against the toy world's ground truth, duplicates and
leaks removed); Pass@K and Maj@K before and after RL (the paper's Fig. 7 question); the training
curves (pre-training loss, GRPO reward and response length per step).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from evaluate import majority_vote, pass_at_k, pct  # noqa: E402
from flags import run_cli  # noqa: E402
from formats import read_jsonl  # noqa: E402
from grader import language_words, math_equal, reasoning_part, word_language  # noqa: E402
import grpo  # noqa: E402  (the study's 7B plans: grpo.py and ppo.py --dry-run)
import ppo  # noqa: E402

# The models compared, in the paper's order: (eval folder under <run>/eval, label, training folder).
MODELS = [("base", "base (pre-trained), few-shot", "pretrain"), ("sft", "SFT (instruct), zero-shot", "sft"),
          ("rl", "GRPO, outcome supervision (rule reward)", "grpo"),
          ("rl_prm", "GRPO, process supervision (PRM)", "grpo_prm")]
MIN_GAIN = 5.0  # the toy run's target: GRPO at least this many points above SFT (greedy)
EDGE = 5        # GRPO table: steps averaged at the start and at the end


# ----------------------------------------------------------------------------- reading

def load_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def load_jsonl(path: Path) -> list[dict]:
    return list(read_jsonl(path)) if path.is_file() else []


def table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"] + \
           ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


# ----------------------------------------------------------------------------- sections

def timing_section(run: Path) -> list[str]:
    rows = load_jsonl(run / "timings.jsonl")
    total = next((r["wall_s"] for r in rows if r["stage"] == "total"), None)
    stages = [r for r in rows if r["stage"] != "total"]
    lines = ["## Time", "",
             "Wall-clock and CPU seconds of each stage (toy.sh runs independent stages side by side in two "
             "lanes, one CPU thread each, so the stages' wall times add up to more than the total).", ""]
    lines += table(["stage", "wall (s)", "CPU (s)"], [[r["stage"], f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}"]
                                                        for r in stages])
    cpu = sum(r["cpu_s"] for r in stages)
    if total is not None:
        lines += ["", f"**Total: {total:.0f} s wall ({total / 60:.1f} min)**, "
                      f"{cpu:.0f} CPU-seconds over all stages."]
    return lines


def accuracy_section(run: Path) -> tuple[list[str], dict]:
    """The headline table: greedy accuracy of each model on the toy test set, by level."""
    results = {key: load_json(run / "eval" / key / "results.json") for key, _, _ in MODELS}
    levels = sorted({lv for r in results.values() if r for lv in r.get("by_level", {})}, key=int)
    lines = ["## Greedy accuracy on the toy test set", "",
             "Greedy decoding; base model few-shot (its exemplars from the train split), SFT and RL models "
             "zero-shot with the `\\boxed{}` instruction (the paper's protocol, §2.2 and §3.2). Accuracy in "
             "% ± standard error (binomial, over questions).", ""]
    rows = []
    for key, label, _ in MODELS:
        r = results[key]
        if r is None:
            continue
        rows.append([label, r["questions"], f"{pct(r['accuracy'])} ± {pct(r['accuracy_se'])}"] +
                    [pct(r["by_level"][lv]["accuracy"]) if lv in r["by_level"] else "" for lv in levels])
    lines += table(["model", "questions", "accuracy (%)"] + [f"level {lv} (%)" for lv in levels], rows)
    acc = {key: r["accuracy"] for key, r in results.items() if r}
    checks = []
    if all(k in acc for k in ("base", "sft", "rl")):
        correct = {key: [float(row["samples"][0]["correct"])
                         for row in load_jsonl(run / "eval" / key / "samples.jsonl")]
                   for key in ("rl", "sft")}
        gain, se = (100 * x for x in paired_difference(correct["rl"], correct["sft"]))
        checks.append(f"- base < SFT < GRPO: **{'yes' if acc['base'] < acc['sft'] < acc['rl'] else 'no'}** "
                      f"({pct(acc['base'])} < {pct(acc['sft'])} < {pct(acc['rl'])})")
        checks.append(f"- GRPO − SFT = **{gain:+.1f} points** ± {se:.1f} (standard error paired over "
                      f"questions; target: at least +{MIN_GAIN:.0f}): "
                      f"**{'met' if gain >= MIN_GAIN else 'not met'}**")
    if "rl_prm" in acc and "sft" in acc:
        steps = {key: len(load_jsonl(run / folder / "metrics.jsonl")) for key, _, folder in MODELS[2:]}
        checks.append(f"- process supervision (PRM): {100 * (acc['rl_prm'] - acc['sft']):+.1f} points over "
                      f"SFT after {steps['rl_prm']} GRPO steps (outcome supervision: {steps['rl']})")
    lines += [""] + checks
    return lines, results


def corpus_section(run: Path) -> list[str]:
    s = load_json(run / "corpus" / "summary.json")
    if s is None:
        return []
    lines = ["## Math corpus (§2.1)", "",
             "The fastText classifier is trained on the seed corpus (positives) against pool pages "
             "(negatives), recalls pages from the deduplicated pool, and the domain rule adds the "
             "uncollected pages of math URL paths to the next seed. *Held-out* precision/recall: the "
             "classifier on its own held-out examples; *collection* precision/recall: the collected pages "
             "against the toy world's labels.", ""]
    rows = [[it["iteration"], it["pages"], it["new_pages"], it["seed_pages"], it["added_to_seed"],
             f"{it['classifier_precision']:.3f}", f"{it['classifier_recall']:.3f}",
             f"{it['precision']:.3f}" if "precision" in it else "",
             f"{it['recall']:.3f}" if "recall" in it else ""]
            for it in s["iterate"]["iterations"]]
    lines += table(["iteration", "pages collected", "new", "seed pages", "added to seed",
                    "held-out precision", "held-out recall", "collection precision", "collection recall"],
                   rows)
    dd, dc, tk, toy = s["dedup"], s["decontaminate"], s["tokenize"], s.get("toy", {})
    dropped = dd["dropped"]
    lines += ["", f"- Deduplication: {dd['documents_in']:,} pool lines in, {dd['kept']:,} kept; removed "
              f"{dropped.get('exact_duplicate', 0)} exact and {dropped.get('near_duplicate', 0)} "
              f"near-duplicates (MinHash-LSH), skipped malformed lines: " +
              ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()) if not k.endswith("duplicate")) + "."]
    if toy:
        lines.append(f"- Against the planted truth: {100 * toy['planted_duplicates_removed']:.1f}% of the "
                     f"planted duplicates removed, {toy['clean_pages_removed_by_dedup']} clean pages removed "
                     "by mistake.")
    lines.append(f"- Decontamination (10-grams of the test set, and its texts under 10 words whole): "
                 f"{dc.get('documents_cleaned', 0)} pages "
                 f"cleaned, {dc.get('segments_removed', 0)} segments removed" +
                 (f"; planted leaks cleaned {toy['leaks_cleaned']}, clean pages touched "
                  f"{toy['clean_pages_touched']}"
                  if toy else "") + ".")
    mixture = ", ".join(f"{name} {n:,} tokens" for name, n in tk["tokens"].items())
    lines.append("- Pre-training mixture: " + mixture + f" ({tk['documents_in']:,} documents).")
    return lines


def training_section(run: Path, plots: Path) -> list[str]:
    pre, sft = load_jsonl(run / "pretrain" / "metrics.jsonl"), load_jsonl(run / "sft" / "metrics.jsonl")
    lines = ["## Pre-training and SFT", ""]
    for name, recs in (("pre-training", pre), ("SFT", sft)):
        if recs:
            val = [r for r in recs if "val_loss" in r]
            lines.append(f"- {name}: {recs[-1]['step']} steps, {recs[-1]['tokens']:,} tokens; training loss "
                         f"{recs[0]['loss']:.3f} (first log) -> {recs[-1]['loss']:.3f}" +
                         (f", validation loss {val[-1]['val_loss']:.3f}" if val else "") + ".")
    if pre or sft:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for ax, (name, recs) in zip(axes, (("pre-training", pre), ("SFT (answer tokens)", sft))):
            ax.plot([r["step"] for r in recs], [r["loss"] for r in recs], label="train")
            val = [r for r in recs if "val_loss" in r]
            if val:
                ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation")
            ax.set(title=f"{name} loss", xlabel="step", ylabel="cross-entropy (nats/token)")
            ax.legend()
        save_figure(fig, plots / "loss.png")
        lines += ["", "![pre-training and SFT loss](plots/loss.png)"]
    return lines


def reward_model_section(run: Path) -> list[str]:
    labels, cfg = load_jsonl(run / "rm" / "labels.jsonl"), load_json(run / "rm" / "config.json")
    recs = load_jsonl(run / "rm" / "metrics.jsonl")
    if not labels or cfg is None:
        return []
    steps = [v for rec in labels for v in rec.get("step_labels", [])]
    correct = sum(bool(rec.get("correct")) for rec in labels)
    lines = ["## Process reward model (§4.1.3)", "",
             f"- {len(labels)} samples of the SFT model labelled ({correct} with a correct final answer); "
             f"{len(steps)} steps, {sum(steps)} of them labelled correct by the toy world's exact step check "
             f"(on real data: Math-Shepherd's completion estimate, `reward.py label --labels mc`)."]
    val = [r for r in recs if "val_loss" in r]
    if steps and val:
        p = sum(steps) / len(steps)
        baseline = -(p * math.log(p) + (1 - p) * math.log(1 - p)) if 0 < p < 1 else 0.0
        lines.append(f"- PRM ({cfg['train']['steps']} steps): validation loss {val[-1]['val_loss']:.3f} per "
                     f"step label, against {baseline:.3f} for a constant guess of the label rate "
                     f"({cfg['train_examples']} training / {cfg['val_examples']} validation samples).")
    return lines


def grpo_section(run: Path, plots: Path) -> list[str]:
    runs = [(label, load_jsonl(run / folder / "metrics.jsonl")) for key, label, folder in MODELS[2:]]
    runs = [(label, recs) for label, recs in runs if recs]
    if not runs:
        return []
    lines = ["## GRPO (§4.1)", "",
             "Per step: the mean reward and accuracy of the sampled outputs (the rule reward is the "
             "accuracy; the PRM's reward is its score), their mean length, and the KL to the reference "
             f"model; the table gives means over the first and the last {EDGE} steps (one step's batch is "
             "small and noisy).", ""]
    rows = []
    for label, recs in runs:
        def change(key, fmt):  # mean of the first EDGE steps -> mean of the last EDGE steps
            first, last = (sum(r[key] for r in part) / len(part) for part in (recs[:EDGE], recs[-EDGE:]))
            return f"{first:{fmt}} -> {last:{fmt}}"
        rows.append([label, recs[-1]["step"], change("accuracy", ".3f"), change("reward", ".3f"),
                     change("response_len", ".1f"), f"{recs[-1]['kl']:.4f}"])
    lines += table(["run", "steps", "sample accuracy", "reward", "response length (tokens)", "final KL"],
                   rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for label, recs in runs:
        steps = [r["step"] for r in recs]
        curves = [(axes[0], "reward", label + ": reward"), (axes[1], "response_len", label)]
        if any(r["reward"] != r["accuracy"] for r in recs):  # a learned reward: its accuracy too
            curves.append((axes[0], "accuracy", label + ": accuracy"))
        for ax, key, name in curves:
            values = [r[key] for r in recs]
            line, = ax.plot(steps, values, alpha=0.3)
            ax.plot(steps, moving_average(values, EDGE), color=line.get_color(),
                    label=f"{name} ({EDGE}-step mean)")
    axes[0].set(title="GRPO reward per step", xlabel="step", ylabel="mean over sampled outputs")
    axes[1].set(title="GRPO response length per step", xlabel="step", ylabel="tokens")
    for ax in axes:
        ax.legend(fontsize=7)
    save_figure(fig, plots / "grpo.png")
    return lines + ["", "![GRPO reward and response length](plots/grpo.png)"]


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Lay out, write and close a figure (the plots are files only)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def moving_average(values: list[float], window: int) -> list[float]:
    """Mean of each value and the window - 1 before it (fewer at the start)."""
    starts = [max(0, i + 1 - window) for i in range(len(values))]
    return [sum(values[start:i + 1]) / (i + 1 - start) for i, start in enumerate(starts)]


def pass_maj_section(run: Path, plots: Path) -> list[str]:
    """Fig. 7: Pass@K and Maj@K of the SFT and RL models, sampled at a temperature, on the same questions.
    Per-question values (from samples.jsonl) give each number's standard error and, paired question by
    question, the standard error of the RL - SFT differences."""
    folders = {name: run / "eval" / key for name, key in (("SFT", "sft_sampled"), ("RL", "rl_sampled"))}
    if not all((f / "samples.jsonl").is_file() for f in folders.values()):
        return []
    config = load_json(folders["SFT"] / "results.json")["config"]
    ks = config["k_list"]
    values = {name: per_question(load_jsonl(f / "samples.jsonl"), ks) for name, f in folders.items()}
    n = len(values["SFT"]["pass"][ks[0]])
    lines = ["## Pass@K and Maj@K (the paper's Fig. 7)", "",
             f"The first {n} test questions (to keep the run short), {config['n']} samples each at "
             f"temperature {config['temperature']}. Pass@K: unbiased estimator; Maj@K: majority vote over "
             f"the first K samples. In % ± standard error over questions.", ""]
    rows = [[k] + [fmt_mean_se(values[name][metric][k]) for metric in ("pass", "maj")
                   for name in ("SFT", "RL")]
            for k in ks]
    lines += table(["K", "SFT pass@K", "RL pass@K", "SFT maj@K", "RL maj@K"], rows)
    k = ks[-1]
    diff = {(metric, kk): paired_difference(values["RL"][metric][kk], values["SFT"][metric][kk])
            for metric in ("pass", "maj") for kk in (1, k)}
    lines += ["", "RL minus SFT, paired over questions: " + ", ".join(
        f"{metric}@{kk} {100 * d:+.1f} ± {100 * se:.1f}" for (metric, kk), (d, se) in diff.items())
        + " points.",
        "", "The paper finds that RL raises Maj@K but not Pass@K: it makes the output distribution more "
        "robust (the right answer more often on top) rather than adding abilities. Here: " +
        fig7_verdict(diff[("pass", k)], diff[("maj", k)], k) + "."]
    pass_maj_plot(ks, {"SFT": values["SFT"], "RL": values["RL"]}, plots / "pass_maj.png",
                  "Pass@K and Maj@K, toy test set")
    return lines + ["", "![Pass@K and Maj@K](plots/pass_maj.png)"]


def pass_maj_plot(ks: list[int], models: dict, path: Path, title: str) -> None:
    """Pass@K and Maj@K against K (log scale), the first model dashed, the second solid; models:
    {name: per_question's dict}."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for (name, values), style in zip(models.items(), ("--", "-")):
        for metric, marker in (("pass", "o"), ("maj", "s")):
            ax.plot(ks, [100 * mean(values[metric][kk]) for kk in ks], style, marker=marker,
                    label=f"{name} {metric}@K")
    ax.set(xscale="log", xlabel="K", ylabel="accuracy (%)", title=title)
    ax.set_xticks(ks, [str(kk) for kk in ks])
    ax.legend(fontsize=8)
    save_figure(fig, path)


def per_question(rows: list[dict], ks: list[int]) -> dict:
    """{"pass": {k: [pass@k of each question]}, "maj": {k: [1.0 if the majority of the first k answers is
    right]}}, computed as evaluate.py computes its means."""
    out = {"pass": {k: [] for k in ks}, "maj": {k: [] for k in ks}}
    for row in rows:
        samples, n = row["samples"], len(row["samples"])
        correct = sum(bool(s["correct"]) for s in samples)
        for k in ks:
            out["pass"][k].append(pass_at_k(n, correct, k))
            out["maj"][k].append(float(math_equal(majority_vote([s["answer"] for s in samples[:k]]),
                                                  row["gold"])))
    return out


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def mean_se(xs: list[float]) -> tuple[float, float]:
    """Mean and its standard error, sample standard deviation / sqrt(n)."""
    m = mean(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs)) if len(xs) > 1 else 0.0


def fmt_mean_se(xs: list[float]) -> str:
    m, se = mean_se(xs)
    return f"{pct(m)} ± {pct(se)}"


def paired_difference(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of a - b over the same questions and its standard error (question-to-question variation
    that both models share cancels, so this is tighter than the two errors combined)."""
    return mean_se([x - y for x, y in zip(a, b)])


def fig7_verdict(d_pass: tuple[float, float], d_maj: tuple[float, float], k: int) -> str:
    """The Fig. 7 question answered at the largest K: a change counts when it exceeds two standard errors."""
    up = lambda d: d[0] > 2 * d[1]  # noqa: E731
    if up(d_maj) and not up(d_pass):
        return f"the same — RL raises Maj@{k}, while Pass@{k} stays within noise"
    if up(d_maj) and up(d_pass):
        return f"RL raises both Maj@{k} and Pass@{k}: the toy SFT model is far from saturated, so RL also " \
               f"teaches it something new"
    if up(d_pass):
        return f"RL raises Pass@{k} but not Maj@{k} (beyond two standard errors), unlike the paper"
    return f"neither Maj@{k} nor Pass@{k} changes by more than two standard errors on these questions"


# ----------------------------------------------------------------------------- the study (study.sh)

# Table 10's rows as study.sh runs them: (folder under the study, label, the paper's name for it).
METHODS = [("rft", "RFT", "RFT"), ("online_rft", "Online RFT", "Online RFT"),
           ("grpo_os", "GRPO, outcome supervision", "GRPO+OS"),
           ("grpo_ps", "GRPO, process supervision", "GRPO+PS"),
           ("grpo_ps_iterative", "GRPO, process supervision, 2 iterations", "iterative GRPO+PS"),
           ("ppo", "PPO", "PPO"), ("dpo", "DPO", "DPO")]
# The paper's findings (§5.2.1-5.2.2), as (claim, better, worse, at least): "at least" claims (≥) hold unless
# the first is worse beyond noise; the others need the first better beyond noise.
FINDINGS = [("Online RFT > RFT: sampling from the live policy beats sampling from the SFT model (Fig. 5)",
             "online_rft", "rft", False),
            ("GRPO > Online RFT: graded coefficients beat rewarding correct answers alone (Fig. 5)",
             "grpo_os", "online_rft", False),
            ("GRPO with process supervision ≥ outcome supervision (Fig. 5)", "grpo_ps", "grpo_os", True),
            ("iterative RL (reward model retrained on the policy's samples, with replay) beats one iteration "
             "(Fig. 6)", "grpo_ps_iterative", "grpo_ps", False),
            ("GRPO ≥ PPO at the same budget, without a value model (§4.1.1)", "grpo_os", "ppo", True)]
PLAN_FLAGS = ["--init", "7b", "--dry-run", "--world-size", "8", "--parallel", "fsdp",
              "--activation-checkpointing", "--micro-batch", "2", "--rollout-batch", "16", "-G", "8",
              "--batch-questions", "1024"]


def greedy_correct(study: Path, name: str) -> list[float] | None:
    """1.0 / 0.0 per test question, in the test set's order, from evaluate.py's samples.jsonl."""
    rows = load_jsonl(study / "eval" / name / "samples.jsonl")
    return [float(row["samples"][0]["correct"]) for row in rows] or None


def study_runs(study: Path, seeds: list[str]) -> dict:
    """{method: {seed: {"correct", "curve" [(step, accuracy)], "records"}}} for what the study left."""
    runs = {}
    for key, _, _ in METHODS:
        for seed in seeds:
            correct = greedy_correct(study, f"{key}_s{seed}")
            if correct is None:
                continue
            records = load_jsonl(study / key / f"s{seed}" / "metrics.jsonl")
            curve = [(r["step"], r["test_accuracy"]) for r in records if "test_accuracy" in r]
            runs.setdefault(key, {})[seed] = {"correct": correct, "curve": curve,
                                              "records": [r for r in records if "loss" in r]}
    return runs


def seed_difference(runs: dict, better: str, worse: str) -> tuple[float, float, list[float]]:
    """Accuracy difference better - worse on the same test questions: its mean over the seeds both have,
    the standard error of that mean (over seeds; with one seed, over questions, paired) and each seed's."""
    seeds = [s for s in runs.get(better, {}) if s in runs.get(worse, {})]
    per_seed = [mean(runs[better][s]["correct"]) - mean(runs[worse][s]["correct"]) for s in seeds]
    if len(per_seed) == 1:
        return per_seed[0], paired_difference(runs[better][seeds[0]]["correct"],
                                              runs[worse][seeds[0]]["correct"])[1], per_seed
    return *mean_se(per_seed), per_seed


def verdict(diff: float, se: float, at_least: bool) -> str:
    """A difference counts when it exceeds two standard errors."""
    if diff > 2 * se:
        return "reproduces"
    if diff < -2 * se:
        return "does not reproduce (the opposite, beyond noise)"
    return "reproduces (no worse beyond noise)" if at_least else "not resolved (within noise)"


def table10_section(study: Path, runs: dict, sft: list[float] | None, seeds: list[str]) -> list[str]:
    lines = ["## Table 10's methods from one SFT model", "",
             "Greedy accuracy on the whole toy test set after training, in %: mean over seeds ± standard "
             "error over seeds, each seed's value, and the gain over the SFT model (paired over questions, "
             "mean over seeds).",
             ""]
    rows = []
    if sft:
        rows.append(["SFT (the start)", pct(mean(sft)), "", ""])
    for key, label, _ in METHODS:
        if key not in runs:
            continue
        accs = [mean(r["correct"]) for r in runs[key].values()]
        m, se = mean_se(accs)
        gain = mean([paired_difference(r["correct"], sft)[0] for r in runs[key].values()]) if sft else None
        rows.append([label, f"{pct(m)} ± {pct(se)}", ", ".join(pct(a) for a in accs),
                     f"{100 * gain:+.1f}" if gain is not None else ""])
    lines += table(["method", "accuracy (%)", "per seed", "gain over SFT (points)"], rows)
    unpaired = [seed for seed in seeds if (load_json(study / "dpo" / f"s{seed}" / "pairs.jsonl.stats.json") or
                                           {"pairs": None}).get("pairs", 0) == 0]
    if unpaired:  # study.sh skips DPO's training without pairs
        lines += ["", f"DPO: no pairs for seed(s) {', '.join(unpaired)}: every sampled answer to each "
                      f"question was right, or every one wrong (dpo/s<seed>/pairs.jsonl.stats.json); not "
                      "trained."]
    return lines


def curve_plot(runs: dict, keys: list[str], path: Path, title: str, sft: list[float] | None,
               limit: int) -> None:
    """Held-out accuracy (the first `limit` test questions) against training step, mean over seeds with a band
    of ± one standard error; methods without a curve (DPO: offline) as their final accuracy on the same
    questions at the last step, the SFT model's as a line."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    last = max((step for key in keys for r in runs.get(key, {}).values() for step, _ in r["curve"]),
               default=1)
    for key in keys:
        label = next(label for k, label, _ in METHODS if k == key)
        seeds = list(runs.get(key, {}).values())
        if not seeds:
            continue
        if seeds[0]["curve"]:
            steps = [step for step, _ in seeds[0]["curve"]]
            stats = [mean_se([dict(r["curve"])[step] for r in seeds if step in dict(r["curve"])])
                     for step in steps]
            line, = ax.plot(steps, [100 * m for m, _ in stats], marker="o", label=label)
            ax.fill_between(steps, [100 * (m - se) for m, se in stats], [100 * (m + se) for m, se in stats],
                            color=line.get_color(), alpha=0.15)
        else:
            m, se = mean_se([mean(r["correct"][:limit]) for r in seeds])
            ax.errorbar([last], [100 * m], yerr=[100 * se], fmt="s", capsize=3,
                        label=f"{label} (offline, final)")
    if sft:
        ax.axhline(100 * mean(sft[:limit]), color="grey", linestyle=":", label="SFT")
    ax.set(xlabel="policy optimiser step", ylabel="greedy test accuracy (%)", title=title)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def curve_check(runs: dict, limit: int) -> str:
    """Whether the last held-out point of each run equals evaluate.py's accuracy of the final model on the
    same questions: two programs (grpo.test_accuracy, evaluate.py) measuring one thing."""
    pairs = [(r["curve"][-1][1], mean(r["correct"][:limit])) for runs_of in runs.values()
             for r in runs_of.values() if r["curve"]]
    if not pairs:
        return "(no curves)"
    worst = max(abs(a - b) for a, b in pairs)
    return "agree in every run" if worst < 1e-9 else f"differ by up to {pct(worst)} points"


def study_pass_maj_section(study: Path, seeds: list[str], plots: Path) -> tuple[list[str], dict | None]:
    """Fig. 7 with every seed's GRPO model against the one SFT model: per question, the GRPO values averaged
    over seeds; differences paired over questions."""
    sft_rows = load_jsonl(study / "eval" / "sft_sampled" / "samples.jsonl")
    rl_rows = {s: load_jsonl(study / "eval" / f"grpo_os_s{s}_sampled" / "samples.jsonl") for s in seeds}
    rl_rows = {s: rows for s, rows in rl_rows.items() if rows}
    if not sft_rows or not rl_rows:
        return [], None
    ks = load_json(study / "eval" / "sft_sampled" / "results.json")["config"]["k_list"]
    sft = per_question(sft_rows, ks)
    per_seed = [per_question(rows, ks) for rows in rl_rows.values()]
    rl = {metric: {k: [mean(vals) for vals in zip(*(p[metric][k] for p in per_seed))] for k in ks}
          for metric in ("pass", "maj")}
    k = ks[-1]
    diff = {metric: paired_difference(rl[metric][k], sft[metric][k]) for metric in ("pass", "maj")}
    excess = paired_difference([m - p for m, p in zip(rl["maj"][k], rl["pass"][k])],
                               [m - p for m, p in zip(sft["maj"][k], sft["pass"][k])])
    lines = ["## Pass@K and Maj@K before and after GRPO (Fig. 7)", "",
             f"The first {len(sft_rows)} test questions, {len(sft_rows[0]['samples'])} samples each; GRPO "
             f"(outcome supervision) averaged over {len(rl_rows)} seed(s), in % ± standard error over "
             "questions.", ""]
    lines += table(["K", "SFT pass@K", "GRPO pass@K", "SFT maj@K", "GRPO maj@K"],
                   [[kk, pct(mean(sft["pass"][kk])), pct(mean(rl["pass"][kk])), pct(mean(sft["maj"][kk])),
                     pct(mean(rl["maj"][kk]))] for kk in ks])
    lines += ["", f"GRPO minus SFT, paired over questions: pass@{k} {100 * diff['pass'][0]:+.1f} ± "
                  f"{100 * diff['pass'][1]:.1f}, maj@{k} {100 * diff['maj'][0]:+.1f} ± "
                  f"{100 * diff['maj'][1]:.1f} points; Maj@{k}'s gain minus Pass@{k}'s: "
                  f"{100 * excess[0]:+.1f} ± {100 * excess[1]:.1f}."]
    pass_maj_plot(ks, {"SFT": sft, "GRPO": rl}, plots / "study_fig7.png",
                  "Pass@K and Maj@K (Fig. 7), toy test set")
    return lines + ["", "![Fig. 7](plots/study_fig7.png)"], {"k": k, "excess": excess, **diff}


def cost_section(study: Path, runs: dict) -> list[str]:
    """PPO against GRPO (outcome supervision) at the same batch of sampled outputs: measured in this study,
    and the dry-run plan for the paper's 7B recipe on 8 GPUs (grpo.py / ppo.py --dry-run, the same flags)."""
    if "ppo" not in runs or "grpo_os" not in runs:
        return []
    lines = ["## PPO against GRPO: memory and time (§4.1.1)", "",
             "Measured per training process (one CPU thread each): the training state it holds (weights, "
             "gradients and optimiser moments of every model, from their sizes), its peak resident memory "
             "(interpreter and libraries included), the seconds of one step (wall: they grow with whatever "
             "else shares the machine) and the CPU seconds of the whole run (startup and held-out "
             "evaluations included), mean ± standard error over seeds.", ""]
    cpu = {r["stage"]: r.get("cpu_s") for r in load_jsonl(study / "timings.jsonl")}
    rows = []
    for key in ("grpo_os", "ppo"):
        label = next(label for k, label, _ in METHODS if k == key)
        last = [r["records"][-1] for r in runs[key].values()]
        step_s = [mean([rec["t_step"] for rec in r["records"]]) for r in runs[key].values()]
        run_cpu = [cpu[f"{key}_s{seed}"] for seed in runs[key] if cpu.get(f"{key}_s{seed}")]
        rows.append([label, f"{mean([r['held_state_mib'] for r in last]):.1f}",
                     f"{mean([r['peak_memory_mib'] for r in last]):.0f}", fmt_seconds(step_s),
                     fmt_seconds(run_cpu) if run_cpu else ""])
    lines += table(["method", "held training state (MiB)", "peak memory (MiB)", "seconds per step (wall)",
                    "CPU seconds per run"], rows)
    with contextlib.redirect_stdout(io.StringIO()):
        plans = {"GRPO": grpo.main(PLAN_FLAGS), "PPO": ppo.main(PLAN_FLAGS)}
    gib = 2 ** 30
    lines += ["", "The same comparison planned for the paper's 7B recipe (`" + " ".join(PLAN_FLAGS) + "`, "
              "run as `grpo.py` and `ppo.py`), per GPU:", ""]
    lines += table(["method", "held (GiB)", "peak (GiB)", "update seconds per step"],
                   [[name, f"{plan['totals']['held'] / gib:.1f}", f"{plan['peak'] / gib:.1f}",
                     f"{plan['seconds']['update']:.0f}"] for name, plan in plans.items()])
    return lines


def fmt_seconds(xs: list[float]) -> str:
    m, se = mean_se(xs)
    return f"{m:.2f} ± {se:.2f}" if m < 100 else f"{m:.0f} ± {se:.0f}"


def findings_section(runs: dict, fig7: dict | None) -> list[str]:
    lines = ["## The paper's findings, in miniature", "",
             "Each claim, the toy's difference in test accuracy (points, mean over seeds ± standard error "
             "over seeds; each seed's in brackets) and whether it reproduces (a difference counts beyond two "
             "standard errors).", ""]
    for claim, better, worse, at_least in FINDINGS:
        if better not in runs or worse not in runs:
            continue
        diff, se, per_seed = seed_difference(runs, better, worse)
        lines.append(f"- {claim}: {100 * diff:+.1f} ± {100 * se:.1f} "
                     f"[{', '.join(f'{100 * d:+.1f}' for d in per_seed)}]: "
                     f"**{verdict(diff, se, at_least)}**.")
    if fig7:
        excess = fig7["excess"]
        lines.append(f"- RL raises Maj@K more than Pass@K (Fig. 7): at K = {fig7['k']}, Maj@K "
                     f"{100 * fig7['maj'][0]:+.1f} and Pass@K {100 * fig7['pass'][0]:+.1f} points, the "
                     f"difference {100 * excess[0]:+.1f} ± {100 * excess[1]:.1f} (over questions): "
                     f"**{verdict(excess[0], excess[1], False)}**.")
    return lines


def build_study_report(study: Path) -> str:
    plots = study / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    settings = load_json(study / "study.json") or {}
    seeds = str(settings.get("seeds", "0")).split()
    runs = study_runs(study, seeds)
    sft = greedy_correct(study, "sft")
    timings = load_jsonl(study / "timings.jsonl")
    total = next((r["wall_s"] for r in timings if r["stage"] == "total"), None)
    cpu = sum(r.get("cpu_s", 0.0) for r in timings)  # what the jobs cost, whatever else shared the machine
    head = ["# Table 10 in miniature: the study", "",
            f"study.sh from {settings.get('toy', '?')}'s SFT model: {len(seeds)} seed(s), "
            f"{settings.get('steps', '?')} policy steps per method; {machine()}"
            + (f"; {total / 60:.1f} minutes in all" if total else "")
            + f"; the jobs used {cpu / 60:.1f} CPU-minutes ({cpu / 120:.1f} minutes on two cores).", ""]
    limit = int(settings.get("eval_limit", len(sft or [])))
    curve_plot(runs, ["rft", "online_rft", "grpo_os", "grpo_ps", "ppo", "dpo"], plots / "study_fig5.png",
               "Table 10's methods from one SFT model (Fig. 5)", sft, limit)
    curve_plot(runs, ["grpo_ps", "grpo_ps_iterative"], plots / "study_fig6.png",
               "Iterative RL against one iteration (Fig. 6)", sft, limit)
    fig7_lines, fig7 = study_pass_maj_section(study, seeds, plots)
    sections = [head, findings_section(runs, fig7), table10_section(study, runs, sft, seeds),
                [f"Held-out accuracy during training: greedy, on the first {limit} test questions (the "
                 f"curves' last points and evaluate.py's accuracy of the final models on the same questions "
                 f"{curve_check(runs, limit)}).", "",
                 "![Fig. 5](plots/study_fig5.png)", "", "![Fig. 6](plots/study_fig6.png)"],
                fig7_lines, cost_section(study, runs)]
    return "\n".join(line for section in sections if section for line in section + [""])


# ----------------------------------------------------------------------------- the report

STEP = re.compile(r"\s*(-?\d+)\s*([-+*/])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")


def sound_steps(completion: str) -> bool:
    """Every `a op b = c` line of a toy solution is right arithmetic (the toy world's steps)."""
    ops = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
           "/": lambda x, y: x / y if y else None}
    steps = [STEP.match(line) for line in completion.splitlines()]
    steps = [m for m in steps if m]
    return bool(steps) and all(ops[m[2]](int(m[1]), int(m[3])) == int(m[4]) for m in steps)


def sample_section(run: Path) -> list[str]:
    """One test question, the SFT model's and the GRPO model's greedy completions and their rule rewards: the
    first question (in test-set order) of the highest level on which SFT is wrong and GRPO right with every
    step's arithmetic right too (the outcome reward alone also pays a right answer reached by wrong steps)."""
    sft, rl = (load_jsonl(run / "eval" / name / "samples.jsonl") for name in ("sft", "rl"))
    pairs = [(a, b) for a, b in zip(sft, rl) if not a["samples"][0]["correct"] and b["samples"][0]["correct"]]
    if not pairs:
        return []
    a, b = max(pairs, key=lambda pair: (sound_steps(pair[1]["samples"][0]["completion"]),
                                        pair[0].get("level") or 0))
    lines = ["## One question, before and after GRPO", "",
             f"Test question {a['id']} (level {a.get('level')}), gold answer {a['gold']}:", "", "```",
             a["prompt"], "```", ""]
    for name, row in (("SFT", a), ("GRPO", b)):
        sample = row["samples"][0]
        lines += [f"{name} (greedy; answer {sample['answer']}, accuracy reward "
                  f"{float(sample['correct']):.0f}):",
                  "", "```", sample["completion"].strip(), "```", ""]
    return lines


def header(run: Path, results: dict) -> list[str]:
    world = load_json(run / "world" / "stats.json") or {}
    cfg = world.get("config", {})
    any_result = next((r for r in results.values() if r), None)
    lines = [f"# The toy DeepSeekMath run: `{run}`", "",
             "`bash toy.sh`: toy world -> tokenizer -> math corpus -> pre-training -> SFT -> reward model -> "
             "GRPO -> evaluation. Stage logs are in `logs/`, every stage's own outputs in its folder.", ""]
    if cfg:
        lines.append(f"- Toy world (seed {cfg.get('seed')}): {world['pool']['pages']:,} web pages "
                     f"({world['pool']['math']:,} math), {cfg.get('train_size'):,} train / "
                     f"{cfg.get('test_size'):,} test problems of 1..{cfg.get('max_level')} steps, numbers up "
                     f"to {cfg.get('max_value')}, operands up to {cfg.get('max_operand')}, operation weights "
                     f"+ - * / = {cfg.get('op_weights')}.")
    model_cfg = load_json(run / "pretrain" / "config.json")
    if model_cfg:
        m = model_cfg["model"]
        lines.append(f"- Model: {m['n_layers']} layers, d_model {m['d_model']}, {m['n_heads']} heads, FFN "
                     f"{m['ffn_dim']}, vocabulary {m['vocab_size']}, context {m['max_seq_len']}.")
    if any_result:
        lines.append(f"- Evaluation: {any_result['questions']} test questions, at most "
                     f"{any_result['config']['max_new_tokens']} new tokens.")
    lines.append(f"- Machine: {machine()}.")
    return lines


def machine() -> str:
    """Where the report was made (toy.sh makes it right after the run, on the same machine)."""
    import torch  # here only: the rest of the report needs no torch
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"CPU, {os.cpu_count()} cores, one thread per process, torch {torch.__version__}"


def build_report(run: Path) -> str:
    plots = run / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    accuracy, results = accuracy_section(run)
    sections = [header(run, results), accuracy, timing_section(run), corpus_section(run),
                training_section(run, plots), reward_model_section(run), grpo_section(run, plots),
                pass_maj_section(run, plots), sample_section(run)]
    return "\n".join(line for section in sections if section for line in section + [""])


def main(argv=None) -> str:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["r1"]:  # DeepSeek-R1's recipe: r1.sh's report (the block at the end of this file)
        return r1_main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default="runs/toy", help="the run folder toy.sh wrote (its report.md)")
    p.add_argument("--study", default=None, help="report on the folder study.sh wrote instead (its study.md)")
    p.add_argument("--quiet", action="store_true", help="write the report without printing it")
    args = p.parse_args(argv)
    folder = Path(args.study or args.run)
    if not folder.is_dir():
        p.error(f"no run folder {folder}")
    text = build_study_report(folder) if args.study else build_report(folder)
    (folder / ("study.md" if args.study else "report.md")).write_text(text)
    if not args.quiet:
        print(text)
    return text


# ============================================================================= DeepSeek-R1's recipe (r1.sh)
# `python report.py r1 --run runs/r1 --toy runs/toy`: OUT/report.md, OUT/plots/r1_*.png and
# OUT/r1_summary.json (the numbers the sentences quote) from what r1.sh's stages wrote. Each finding compares
# two models on the same test questions: the difference of their per-question scores and its standard error
# (paired), one seed.

R1_MODELS = [  # (eval folder, label, training folder)
    ("base", "base (pre-trained), 2-shot", None),
    ("zero", "stage 0: R1-Zero (GRPO from the base, accuracy + format reward)", "zero"),
    ("cold_sft", "stage 1: cold start (SFT of the base on readable records)", "cold_sft"),
    ("rl", "stage 2: reasoning RL, accuracy reward", "rl"),
    ("rl_language", "stage 2: reasoning RL, accuracy + language-consistency reward", "rl_language"),
    ("sft", "stage 3: SFT of the base on rejection-sampled data", "sft"),
    ("student", "distilled student (0.2M, SFT on the teacher's samples)", "student"),
    ("student_rl", "student size, RL directly (R1-Zero recipe)", "student_rl")]
# Greedy decoding writes the majority language; language mixing shows in samples at the RL temperature.
R1_SAMPLED = [("cold_sft_sampled", "cold start"), ("rl_sampled", "RL without the language reward"),
              ("rl_language_sampled", "RL with the language reward")]


def r1_per_question(run: Path, name: str, toy: Path) -> dict | None:
    """{question id: (share of its outputs that are correct, share that are mixed)} of a model's test outputs
    (one greedy output, or n samples). Mixed: the chain of thought holds a word of another language than
    English (grader.language_words), R1's language mixing."""
    folder = (toy if name == "base" else run) / "eval" / name
    rows = load_jsonl(folder / "samples.jsonl")
    if not rows:
        return None
    def mixed(completion: str) -> bool:
        return any(word_language(w) != "en" for w in language_words(reasoning_part(completion)))
    return {row["id"]: (mean([float(s["correct"]) for s in row["samples"]]),
                        mean([float(mixed(s["completion"])) for s in row["samples"]])) for row in rows}


def r1_compare(a: dict, b: dict, which: int) -> tuple[float, float]:
    """Paired difference a - b (percentage points) of correct (which 0) or mixed (which 1), on the questions
    both answered."""
    shared = sorted(a.keys() & b.keys())
    difference, se = paired_difference([a[q][which] for q in shared], [b[q][which] for q in shared])
    return 100 * difference, 100 * se


def r1_curves(run: Path, plots: Path) -> None:
    """R1-Zero's accuracy and response length per step (and the student's), and the start of RL from the cold
    start against R1-Zero from the base (the paper: a cold start converges faster)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for folder, label in (("zero", "R1-Zero (base, 1.1M)"), ("student_rl", "R1-Zero recipe (student, 0.2M)")):
        recs = load_jsonl(run / folder / "metrics.jsonl")
        steps = [r["step"] for r in recs]
        axes[0].plot(steps, [r["accuracy"] for r in recs], marker=".", label=label)
        axes[1].plot(steps, [r["response_len"] for r in recs], marker=".", label=label)
    axes[0].set(title="R1-Zero: accuracy of the sampled outputs", xlabel="step", ylabel="accuracy",
                ylim=(-0.02, 1))
    axes[1].set(title="R1-Zero: response length", xlabel="step", ylabel="tokens")
    for ax in axes:
        ax.legend(fontsize=7)
    save_figure(fig, plots / "r1_zero.png", dpi=80)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for folder, label in (("rl", "RL from the cold start"), ("rl_language", "the same, + language reward"),
                          ("zero", "RL from the base (R1-Zero)")):
        recs = load_jsonl(run / folder / "metrics.jsonl")
        values = [r["accuracy"] for r in recs]
        line, = ax.plot([r["step"] for r in recs], values, alpha=0.3)
        ax.plot([r["step"] for r in recs], moving_average(values, EDGE), color=line.get_color(), label=label)
    ax.set(title=f"Start of RL: sample accuracy ({EDGE}-step mean)", xlabel="step", ylabel="accuracy",
           ylim=(0, 1))
    ax.legend(fontsize=7)
    save_figure(fig, plots / "r1_cold_start.png", dpi=80)


def r1_bars(plots: Path, name: str, title: str, bars: list[tuple[str, float, float]]) -> None:
    """One bar chart of percentages with ±1 standard error."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.bar(range(len(bars)), [b[1] for b in bars], yerr=[b[2] for b in bars], capsize=4,
           color=[f"C{i}" for i in range(len(bars))])
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=7, rotation=20, ha="right")
    ax.set(title=title, ylabel="% of test outputs")
    save_figure(fig, plots / name, dpi=80)


def r1_findings(run: Path, toy: Path, plots: Path) -> tuple[list[str], dict]:
    """The report's sentences (numbers with standard errors) and the numbers themselves."""
    names = [name for name, _, _ in R1_MODELS] + [name for name, _ in R1_SAMPLED]
    per = {name: r1_per_question(run, name, toy) for name in names}
    results = {name: load_json(((toy if name == "base" else run) / "eval" / name) / "results.json")
               for name in names}
    summary = {"accuracy": {n: 100 * r["accuracy"] for n, r in results.items() if r},
               "accuracy_se": {n: 100 * r["accuracy_se"] for n, r in results.items() if r},
               "mixed": {n: 100 * mean([m for _, m in p.values()]) for n, p in per.items() if p}}
    lines = ["| model | test accuracy (greedy) | mixed-language outputs |", "| --- | --- | --- |"]
    for name, label, _ in R1_MODELS:
        if results[name] and per[name]:
            lines.append(f"| {label} | {summary['accuracy'][name]:.1f} ± {summary['accuracy_se'][name]:.1f} "
                         f"| {summary['mixed'][name]:.1f} |")
    lines += ["", "Mixed: the chain of thought (for a model without a <think> part, the whole output) holds "
                  "a word of another language than English (grader.language_words). Differences below are "
                  "paired over the test questions (mean ± standard error), one seed.", ""]
    zero = load_jsonl(run / "zero" / "metrics.jsonl")
    if zero:
        grpo = load_json(run / "zero" / "config.json")["grpo"]
        correct = sum(r["accuracy"] for r in zero) * grpo["batch_questions"] * grpo["group_size"]
        signal = mean([1 - r["zero_adv_groups"] for r in zero])
        summary["zero"] = {"steps": len(zero), "accuracy_first": zero[0]["accuracy"],
                           "accuracy_last": zero[-1]["accuracy"], "format_last": zero[-1]["format"],
                           "length_first": zero[0]["response_len"], "length_last": zero[-1]["response_len"],
                           "groups_with_signal": signal}
        lines.append(f"- **R1-Zero** ({len(zero)} steps from the base): sample accuracy "
                     f"{zero[0]['accuracy']:.3f} at the first step and {zero[-1]['accuracy']:.3f} at the "
                     f"last, format reward {zero[-1]['format']:.3f}, response length "
                     f"{zero[0]['response_len']:.1f} → {zero[-1]['response_len']:.1f} tokens; "
                     f"{100 * signal:.1f}% of the groups had unequal "
                     f"rewards (the only ones GRPO learns from); correct samples in all: {correct:.0f}.")
    rl = load_jsonl(run / "rl" / "metrics.jsonl")
    if rl and zero:
        start_rl, start_zero = (mean([r["accuracy"] for r in recs[:EDGE]]) for recs in (rl, zero))
        summary["start_of_rl"] = {"cold_start": start_rl, "zero": start_zero}
        lines.append(f"- **Cold start vs none**: over the first {EDGE} steps of RL the sampled outputs are "
                     f"right {100 * start_rl:.1f}% of the time from the cold start and "
                     f"{100 * start_zero:.1f}% from the base (R1-Zero).")
    if per["rl"] and per["rl_language"]:
        mixed, accuracy = (r1_compare(per["rl_language"], per["rl"], which) for which in (1, 0))
        summary["language_reward"] = {"mixed_difference": mixed, "accuracy_difference": accuracy}
        lines.append(f"- **Language-consistency reward**, greedy: with it, "
                     f"{summary['mixed']['rl_language']:.1f}% of the test outputs mix languages, without it "
                     f"{summary['mixed']['rl']:.1f}% (difference {mixed[0]:+.1f} ± {mixed[1]:.1f} points); "
                     f"accuracy {accuracy[0]:+.1f} ± {accuracy[1]:.1f} points.")
    if per["rl_sampled"] and per["rl_language_sampled"]:
        with_, without, cold = (per[name] for name, _ in reversed(R1_SAMPLED))
        mixed, accuracy = (r1_compare(with_, without, which) for which in (1, 0))
        summary["language_reward_sampled"] = {"mixed_difference": mixed, "accuracy_difference": accuracy}
        config = load_json(run / "eval" / "rl_sampled" / "results.json")["config"]
        lines.append(f"- **Language-consistency reward**, sampled ({config['n']} outputs at temperature "
                     f"{config['temperature']} for each of {len(with_)} test questions): "
                     f"{summary['mixed']['rl_language_sampled']:.1f}% of the outputs mix languages with it, "
                     f"{summary['mixed']['rl_sampled']:.1f}% without it and "
                     f"{summary['mixed']['cold_sft_sampled']:.1f}% from the cold start (difference with − "
                     f"without {mixed[0]:+.1f} ± {mixed[1]:.1f} points, paired over questions); their "
                     f"accuracy {summary['accuracy']['rl_language_sampled']:.1f}% with, "
                     f"{summary['accuracy']['rl_sampled']:.1f}% without ({accuracy[0]:+.1f} ± "
                     f"{accuracy[1]:.1f}).")
        r1_bars(plots, "r1_language.png", "Language reward (stage 2): sampled test outputs",
                [(f"{key}: {label}", summary[key][name], 100 * mean_se([p[i] for p in per[name].values()])[1])
                 for key, i in (("mixed", 1), ("accuracy", 0))
                 for name, label in (("cold_sft_sampled", "cold"), ("rl_sampled", "without"),
                                     ("rl_language_sampled", "with"))])
    if per["student"] and per["student_rl"]:
        distilled = r1_compare(per["student"], per["student_rl"], 0)
        summary["distillation"] = {"difference": distilled}
        lines.append(f"- **Distillation vs RL at the student's size**: the distilled student scores "
                     f"{summary['accuracy']['student']:.1f}%, the same size trained by RL "
                     f"{summary['accuracy']['student_rl']:.1f}% (difference {distilled[0]:+.1f} ± "
                     f"{distilled[1]:.1f} points); the teacher (stage 2, language reward) "
                     f"{summary['accuracy']['rl_language']:.1f}%.")
        r1_bars(plots, "r1_distill.png", "Distillation (§2.4): test accuracy",
                [(label, summary["accuracy"][name], summary["accuracy_se"][name]) for name, label in
                 (("rl_language", "teacher (RL)"), ("student", "distilled student"),
                  ("student_rl", "student size, RL"))])
    if per["sft"] and per["rl_language"]:
        stage3 = r1_compare(per["sft"], per["rl_language"], 0)
        summary["stage3_vs_rl"] = stage3
        lines.append(f"- **Stage 3** (SFT of the base on the rejection-sampled data) against its RL teacher: "
                     f"{stage3[0]:+.1f} ± {stage3[1]:.1f} points.")
    return lines, summary


def r1_counts(run: Path) -> list[str]:
    """Each data stage's own counts (stats.json), as written."""
    lines = []
    for folder, what in (("cold", "cold start"), ("reject", "rejection sampling"),
                         ("distill", "distillation")):
        stats = load_json(run / folder / "stats.json")
        if stats:
            lines.append(f"- {what}: " + ", ".join(f"{key} {value}" for key, value in stats.items()))
    world = load_json(run / "world" / "stats.json")
    if world:
        lines.insert(0, f"- world: {world['sft_second_language']} of the {world['sft']['cot']} written "
                        f"chains of thought end in the second language; {world['chat']} non-reasoning "
                        "records")
    return lines


def build_r1_report(run: Path, toy: Path) -> str:
    plots = run / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    findings, summary = r1_findings(run, toy, plots)
    r1_curves(run, plots)
    (run / "r1_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    sections = [["# DeepSeek-R1's recipe on the toy world (r1.sh)", "",
                 f"Run `{run}` from the toy run `{toy}`; {machine()}."],
                findings, ["## Data", ""] + r1_counts(run), timing_section(run),
                ["![R1-Zero](plots/r1_zero.png)", "![cold start](plots/r1_cold_start.png)",
                 "![language reward](plots/r1_language.png)", "![distillation](plots/r1_distill.png)"]]
    return "\n".join(line for section in sections if section for line in section + [""])


def r1_main(argv) -> str:
    p = argparse.ArgumentParser(prog="report.py r1", description="DeepSeek-R1's recipe on the toy world: the "
                                "report of an r1.sh run")
    p.add_argument("--run", default="runs/r1", help="the run folder r1.sh wrote")
    p.add_argument("--toy", default="runs/toy",
                   help="the toy.sh run it started from (its base model's results)")
    p.add_argument("--quiet", action="store_true", help="write the report without printing it")
    args = p.parse_args(argv)
    run = Path(args.run)
    if not run.is_dir():
        p.error(f"no run folder {run}")
    text = build_r1_report(run, Path(args.toy))
    (run / "report.md").write_text(text)
    if not args.quiet:
        print(text)
    return text


if __name__ == "__main__":
    run_cli(main)
