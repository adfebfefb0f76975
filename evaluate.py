"""Evaluation on GSM8K, MATH and the toy benchmark, scored the way DeepSeekMath scores (§5.1).

The paper's protocol, and where each piece lives below:
  - base models: few-shot chain-of-thought, GSM8K 8-shot (the exemplars of Wei et al. 2022) and MATH
    4-shot (the Minerva prompt, Lewkowycz et al. 2022), in the formats of DeepSeekMath's own evaluation
    code; the toy benchmark k-shot from its train split;
  - chat models (Instruct, RL): zero-shot, `User: {q}\\n{BOXED_SUFFIX}\\n\\nAssistant:`;
  - every prompt starts with BOS when the model was trained that way (the released DeepSeekMath
    models; the tokenizer says so, `--bos`/`--no-bos` overrides);
  - program-of-thought: the model writes a program, sandbox.run_program runs it, its printed output is
    the answer; tool-integrated: reasoning interleaved with ```python blocks, each run and its output
    appended as an ```output block, at most 2 rounds of 10 s;
  - greedy decoding and at most 1024 new tokens; with n samples per question at a temperature, pass@k
    and maj@k over k (Fig. 7: RL raises Maj@K, not Pass@K).
Answers are extracted and compared by reward.py (extract_answer, math_equal), the grader GRPO uses;
`--scoring deepseek` reads and compares them by the rules of DeepSeek's own evaluation scripts instead.

Read top to bottom: metrics -> prompts -> generation -> one evaluation (`evaluate`) -> report files ->
the command line.

    python evaluate.py --model-path runs/toy/sft --benchmark toy --data-dir runs/toy/world --out runs/toy/eval
    python evaluate.py --model-path ckpt --benchmark math --data-dir data --mode base --out runs/math-base
    torchrun --nproc_per_node 8 evaluate.py --model-path ckpt --benchmark gsm8k --data-dir data \\
        --mode chat --n 64 --temperature 0.7 --k-list 1,4,16,64 --out runs/gsm8k-fig7
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import torch
import torch.distributed as dist
from tqdm import tqdm

from flags import add_flags, check_ranges, config_from, flag, run_cli
from formats import BUILTIN_SHOTS, SHOT_FORMATS, chat_prompt, load_benchmark, read_jsonl, write_jsonl
from sampler import generate
from trainer import cleanup_distributed, setup_distributed
from grader import extract_answer, math_equal
from hf import chat_text, encode_chat_text, load_model, load_tokenizer
from sandbox import program_answer, run_program
from tokenizer import checkpoint_tokenizer


# ----------------------------------------------------------------------------- metrics

def accuracy_with_se(scores: Sequence[float]) -> tuple[float, float]:
    """Mean of per-question scores in [0, 1] and its binomial standard error sqrt(p(1-p)/N).
    N counts questions, the independent units: samples of one question are correlated."""
    if not scores:
        return 0.0, 0.0
    p = sum(scores) / len(scores)
    return p, math.sqrt(max(p * (1 - p), 0.0) / len(scores))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021, §2.1): the chance that
    k of the n samples, drawn without replacement, include a correct one, 1 - C(n-c, k) / C(n, k).
    Computed as 1 - prod_{i=n-c+1..n} (1 - k/i), which never forms the huge binomials."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:  # every k-subset holds a correct sample
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """The most frequent answer (self-consistency, Wang et al. 2022), with answers that math_equal judges
    equal counted together ("0.5" and "\\frac{1}{2}" are one answer). None (no answer found) never wins
    unless every answer is None. Ties go to the answer that appeared first. Returns the winning group's
    first-seen form. An answer joins the first earlier group whose first form it equals."""
    votes = Counter(a.strip() for a in answers if a is not None)  # insertion order = first appearance
    groups: list[list] = []  # [first form, votes], in order of first appearance
    for answer, count in votes.items():
        for group in groups:
            if math_equal(answer, group[0]):
                group[1] += count
                break
        else:
            groups.append([answer, count])
    return max(groups, key=lambda g: g[1])[0] if groups else None  # max keeps the first of equals


def default_k_list(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself: the x-axis of Fig. 7."""
    ks = [2 ** i for i in range(n.bit_length()) if 2 ** i <= n]
    return ks if ks[-1] == n else ks + [n]


# ----------------------------------------------------------------------------- prompts

# Few-shot formats and DeepSeekMath's exemplars (GSM8K 8-shot, MATH 4-shot Minerva) are in formats.py.
DEFAULT_SHOTS = {"gsm8k": 8, "math": 4, "toy": 3}  # base mode; the toy model's context is short

MODES = ("base", "chat", "pot", "tool")


def same_question(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def pick_shots(pool: Sequence[dict], question: str, k: int, need: str = "solution") -> list[dict]:
    """The first k exemplars of the pool that have `need` and are not the question under test: an
    exemplar equal to it (whitespace aside) is skipped, so the next one in the pool replaces it (a pool
    with no spare gives one shot fewer). The same exemplars for every other question."""
    return [s for s in pool if s.get(need) and not same_question(s["question"], question)][:k]


def build_prompt(question: str, mode: str, template: str = "deepseek", shots: Sequence[dict] = (),
                 style: str = "gsm8k") -> str:
    """The text the model completes. base: few-shot CoT in `style`'s format (zero-shot "Q: ... A:" without
    shots); chat: the chat template with the \\boxed{} instruction; pot: few-shot programs when shots
    are given, else the chat template with POT_SUFFIX; tool: the chat template with TOOL_SUFFIX."""
    if mode == "chat":
        return chat_prompt(question, template, fmt="cot")
    if mode == "tool" or (mode == "pot" and not shots):
        return chat_prompt(question, template, fmt=mode)
    fmt = SHOT_FORMATS["pot" if mode == "pot" else style]
    parts = [fmt.header.format(question=s["question"]) + fmt.answer.format(**s) for s in shots]
    return fmt.separator.join(parts + [fmt.header.format(question=question)])


def stop_strings(mode: str, style: str, shots: int) -> tuple[str, ...]:
    """Decoded-text stops besides EOS: the next exemplar's start (few-shot) or the request for a program's
    output (tool-integrated: the model writes ```output, we run the code and fill it in)."""
    if mode == "tool":
        return ("```output",)
    if mode == "base" or (mode == "pot" and shots):
        return SHOT_FORMATS["pot" if mode == "pot" else style].stop
    return ()


def load_shot_pool(path) -> list[dict]:
    """Exemplars from a benchmark file (e.g. the toy train split): its records, with the row's PoT
    `program` when it has one (toy rows do; load_benchmark keeps only the unified fields)."""
    path = Path(path)
    rows = [] if path.is_dir() else read_jsonl(path)
    programs = {r.get("question"): r["program"] for r in rows if r.get("program")}
    return [{**r, "program": programs.get(r["question"])} for r in load_benchmark(path)]


# ----------------------------------------------------------------------------- scoring

SCORINGS = ("default", "deepseek")


def stated_answer(text: str, cfg: "EvalConfig") -> str | None:
    """The answer a completion gives, read by cfg.scoring's rules."""
    if cfg.scoring == "deepseek":
        return deepseek_answer(text, cfg.mode, cfg.style)
    return extract_answer(text, cfg.last_number_fallback)


def is_correct(answer: str | None, gold: str, scoring: str) -> bool:
    return deepseek_equal(answer, gold) if scoring == "deepseek" else math_equal(answer, gold)


def deepseek_answer(text: str, mode: str, style: str) -> str | None:
    """The answer as DeepSeek's own evaluation scripts read it (the DeepSeek-Math repository's
    evaluation/data_processing/answer_extraction.py), the rules behind the paper's tables:
      - base models on GSM8K (few-shot): the text up to the next "Q: ", then its LAST NUMBER, whatever the
        completion says it is; `-?\\d+\\.?\\d*` with no thousands commas, so "1,000" is read as "000";
      - base models on MATH: the text up to the next "Problem:", then as below;
      - otherwise: "final answer is $…$. I hope", else the last \\boxed{}, else what follows the last
        "he answer is", else the last number (commas removed)."""
    if mode == "base" and style == "gsm8k":
        numbers = re.findall(r"-?\d+\.?\d*", text.split("Q: ", 1)[0])
        return numbers[-1] if numbers else None
    if mode == "base" and style == "math":
        text = text.split("Problem:", 1)[0]
    if "final answer is $" in text and "$. I hope" in text:
        answer = text.split("final answer is $", 1)[1].split("$. I hope", 1)[0]
    elif "boxed" in text:
        answer = extract_answer(text[text.rfind("\\boxed"):])  # the last box
    elif "he answer is" in text:
        answer = text.split("he answer is")[-1].strip().split("\n")[0].lstrip(":").rstrip(".")
    else:
        numbers = re.findall(r"-?\d*\.?\d+", text.replace(",", ""))
        answer = numbers[-1] if numbers else None
    return (answer.strip() or None) if answer else None


def deepseek_equal(answer: str | None, gold: str) -> bool:
    """DeepSeek's comparison (evaluation/eval/eval_utils.py, math_equal): two numbers are equal within an
    ABSOLUTE 1e-3, and the reference also counts read as a percentage either way (gold/100, gold, gold*100:
    5000 and 0.5 are both right for 50); anything else goes to their sympy check, for which grader.math_equal
    stands in here (no sympy at run time)."""
    if not answer:
        return False
    pred, ref = _deepseek_number(answer), _deepseek_number(gold)
    if pred is not None and ref is not None:
        return any(math.isclose(reading, pred, abs_tol=1e-3) for reading in (ref / 100, ref, ref * 100))
    return answer.strip() == gold.strip() or math_equal(answer, gold)


def _deepseek_number(text: str) -> float | None:
    """A plain number ("1,234.5", "50%", "50\\%" as 0.5), as their parse_digits reads it, else None."""
    text = text.strip().replace(",", "")
    percent = text.endswith("%")
    text = text.rstrip("%").rstrip("\\")
    try:
        value = float(text)
    except ValueError:
        return None
    return value / 100 if percent else value if math.isfinite(value) else None


# ----------------------------------------------------------------------------- configuration

def int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


@dataclass
class EvalConfig:
    """The evaluation protocol: how questions become prompts, how many samples, how answers are scored."""
    mode: str = flag("chat", "base: few-shot CoT; chat: zero-shot with the \\boxed{} instruction; pot: "
                             "program-of-thought (few-shot with --shots); tool: tool-integrated",
                     choices=MODES)
    template: str = flag("deepseek",
                         "chat template (hf: the checkpoint's own, from its tokenizer_config.json)",
                         choices=("deepseek", "r1", "hf"))
    style: str = "toy"  # few-shot format and exemplars: gsm8k | math | toy (the command line guesses it)
    shots: int | None = flag(None, "few-shot exemplars (default: 8 GSM8K, 4 MATH, 3 toy in base mode; 0 "
                                   "otherwise)", min=0)
    n: int = flag(1, "samples per question (needs --temperature > 0 when > 1)", min=1)
    k_list: Sequence[int] = flag((), "k values for pass@k / maj@k (default 1,2,4,..,n)", type=int_list)
    temperature: float = flag(0.0, "0 = greedy (the paper's headline numbers)", min=0.0)
    top_p: float = flag(1.0, "nucleus sampling threshold", min=0.0, max=1.0, above=True)
    max_new_tokens: int = flag(1024, "per generation call (paper: 1024)", min=1)
    batch_size: int = flag(16, "sampler slots: sequences decoding at once", min=1)
    seed: int = flag(0, "sampling seed (rank r uses seed + r)")
    add_bos: bool | None = flag(None, "prepend BOS to every prompt, or not (default: as the tokenizer says: "
                                      "yes for the released DeepSeek models, no for ours)", alias="--bos")
    last_number_fallback: bool = flag(False, "no stated answer: take the completion's last number")
    scoring: str = flag("default", "default: grader.py's answer checking; deepseek: the rules of DeepSeek's "
                                   "evaluation scripts (base GSM8K: the last number; numbers within 1e-3 "
                                   "absolute, a reference also right x100 or /100), to compare with the "
                                   "paper", choices=SCORINGS)
    program_timeout: float = flag(10.0, "seconds per program run (pot, tool)", min=0.0, above=True,
                                  alias="--timeout")
    tool_rounds: int = flag(2, "code executions per tool-integrated answer", min=0)
    out: str | None = flag(None, "output folder: results.json, samples.jsonl, summary.md, curves.png",
                           required=True)
    progress: bool = flag(True, "tqdm progress bar (--no-progress: none)")
    label: str = ""                             # title of the summary (model and benchmark)
    extra: dict = field(default_factory=dict)  # free-form facts recorded in results.json (paths, filters)

    def resolved(self) -> "EvalConfig":
        """A copy with the defaults filled in, checked; raises ValueError on contradictory settings (each
        field's own range and choices are the flags' metadata: flags.check_ranges)."""
        check_ranges(self)
        if self.style not in DEFAULT_SHOTS:
            raise ValueError(f"unknown prompt style {self.style!r}; choose from {sorted(DEFAULT_SHOTS)}")
        default_shots = DEFAULT_SHOTS[self.style] if self.mode == "base" else 0
        shots = self.shots if self.shots is not None else default_shots
        if shots and self.mode in ("chat", "tool"):
            raise ValueError(f"--shots {shots}: chat and tool modes are zero-shot")
        if self.n > 1 and self.temperature == 0:
            raise ValueError("--n > 1 with --temperature 0 gives n identical greedy samples; set a "
                             "temperature")
        k_list = sorted(set(self.k_list)) or default_k_list(self.n)
        if not all(1 <= k <= self.n for k in k_list):
            raise ValueError(f"--k-list {k_list}: every k must be in [1, n={self.n}]")
        return EvalConfig(**{**asdict(self), "shots": shots, "k_list": k_list})


def exemplar_pool(cfg: EvalConfig, shot_pool: Sequence[dict] | None) -> tuple[list[dict], str]:
    """The exemplars to draw shots from (the given pool, else the built-in ones of cfg.style) and the field
    a shot needs ("program" in PoT mode); ValueError when the pool cannot supply cfg.shots of them."""
    pool = list(shot_pool) if shot_pool is not None else BUILTIN_SHOTS.get(cfg.style, [])
    need = "program" if cfg.mode == "pot" else "solution"
    usable = sum(1 for s in pool if s.get(need))
    if cfg.shots and usable < cfg.shots:
        raise ValueError(f"{cfg.shots} shots asked, but the exemplar pool has {usable} with a {need} (style "
                         f"{cfg.style!r}; the toy style needs its train split: --data-dir or --shots-file)")
    return pool, need


# ----------------------------------------------------------------------------- generation

def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def generate_texts(model, tokenizer, prompts: Sequence[list[int]], cfg: EvalConfig, stops: Sequence[str],
                   generator=None, bar=None) -> list[tuple[str, str, int]]:
    """Complete token-id prompts in batches. Returns per prompt (text, finish, new tokens), finish being
    "eos", "stop" (a stop string; the text is cut before it), "length" (out of tokens or context) or
    "prompt_too_long" (no room to generate: empty text, scored as wrong). Rows end as soon as their text
    holds a stop string (sampler.py checks the decoded tail while decoding); cfg.batch_size rows decode at
    once, and sampled results do not depend on it."""
    context = model.config.max_seq_len
    results: list = [("", "prompt_too_long", 0)] * len(prompts)
    fits = [i for i in range(len(prompts)) if len(prompts[i]) < context]
    if fits:
        completions, _ = generate(model, [prompts[i] for i in fits], cfg.max_new_tokens, cfg.temperature,
                                  cfg.top_p, stop_ids=tokenizer.stop_ids, stop_strings=tuple(stops),
                                  decode=tokenizer.decode, slots=cfg.batch_size, generator=generator)
        for i, ids in zip(fits, completions):
            hit_eos = bool(ids) and ids[-1] in tokenizer.stop_ids
            text, stopped = cut_at_stop(tokenizer.decode(ids[:-1] if hit_eos else ids), stops)
            results[i] = (text, "stop" if stopped else "eos" if hit_eos else "length", len(ids))
    if bar is not None:
        bar.update(len(prompts))
    return results


def run_programs(codes: Sequence[str], timeout: float) -> list:
    """sandbox.run_program on many programs at once: each runs in its own process, so threads suffice."""
    if not codes:
        return []
    with ThreadPoolExecutor(max_workers=min(len(codes), os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda code: run_program(code, timeout=timeout), codes))


_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def program_of(completion: str) -> str:
    """The program of a PoT completion: its first ```python block, else the whole completion (few-shot
    PoT completions are bare code, as the exemplars)."""
    block = _PYTHON_BLOCK.search(completion)
    return block.group(1) if block else completion


def tool_code(text: str) -> str | None:
    """The code to run when a tool-integrated completion asks for output: its last ```python block, which
    must end the text, after the earlier blocks minus their print lines (their definitions stay in
    scope, their output was shown already), as DeepSeekMath's evaluation code does."""
    blocks = _PYTHON_BLOCK.findall(text)
    if not blocks or not text.rstrip().endswith("```"):
        return None
    earlier = [line for block in blocks[:-1] for line in block.splitlines() if "print(" not in line]
    return "\n".join(earlier + [blocks[-1]]).strip() or None


def tool_output(result) -> str:
    """What the model sees in the ```output block: the printed output, or the error when nothing was
    printed; long outputs shortened to their two ends (as DeepSeekMath's evaluation code)."""
    out = result.stdout.strip()
    if not out and result.error:
        last = result.stderr.strip().splitlines()[-1:] or [result.error]
        out = f"Runtime errors: {last[0]}"
    return out if len(out) <= 100 else f"{out[:50]}...{out[-50:]}"


def complete_with_tools(model, tokenizer, prompts: Sequence[list[int]], cfg: EvalConfig, generator=None,
                        bar=None) -> list[tuple[str, str, int]]:
    """Tool-integrated generation: generate until the model asks for output (```output), run its code,
    append "```output\\n...\\n```", let it continue; at most cfg.tool_rounds runs per completion."""
    texts, finishes, tokens = [""] * len(prompts), ["length"] * len(prompts), [0] * len(prompts)
    active = list(range(len(prompts)))
    for round_ in range(cfg.tool_rounds + 1):
        outs = generate_texts(model, tokenizer, [prompts[i] + tokenizer.encode(texts[i]) for i in active],
                              cfg, ("```output",), generator, bar if round_ == 0 else None)
        runs = []
        for i, (piece, finish, n_new) in zip(active, outs):
            finish = "length" if finish == "prompt_too_long" and round_ else finish  # context used up
            texts[i], finishes[i], tokens[i] = texts[i] + piece, finish, tokens[i] + n_new
            code = tool_code(texts[i]) if finish == "stop" and round_ < cfg.tool_rounds else None
            if code is not None:
                runs.append((i, code))
        for (i, _), result in zip(runs, run_programs([code for _, code in runs], cfg.program_timeout)):
            texts[i] = f"{texts[i].rstrip()}\n```output\n{tool_output(result)}\n```\n"
        active = [i for i, _ in runs]
        if not active:
            break
    return list(zip(texts, finishes, tokens))


# ----------------------------------------------------------------------------- one evaluation

def evaluate(model, tokenizer, records: Sequence[dict], cfg: EvalConfig,
             shot_pool: Sequence[dict] | None = None):
    """Evaluate `model` on benchmark `records` (load_benchmark's shape). Returns the metrics dict on rank 0
    (and writes cfg.out there), None on the other ranks.

    model: a Transformer (sampled by sampler.generate); tokenizer: encode,
    encode_prompt, decode, eos_id, add_bos (Tokenizer's). cfg.add_bos None: BOS as the tokenizer says.
    shot_pool: few-shot exemplars ({"question", "solution"[, "program"]}); None takes the built-in
    GSM8K / MATH ones for cfg.style. Under torch.distributed, questions are dealt out
    to ranks round-robin and the results gathered on rank 0 (gather_object)."""
    cfg = cfg.resolved()
    if cfg.add_bos is None:  # the model's own convention, recorded in results.json
        cfg = replace(cfg, add_bos=tokenizer.add_bos)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    pool, need = exemplar_pool(cfg, shot_pool)
    started = time.time()
    mine = list(range(rank, len(records), world))
    prompts = {i: build_prompt(records[i]["question"], cfg.mode, cfg.template,
                               pick_shots(pool, records[i]["question"], cfg.shots, need), cfg.style)
               for i in mine}
    if cfg.template == "hf" and cfg.mode != "base":  # the user message, in the model's own chat template
        prompts = {i: chat_text(tokenizer, prompts[i]) for i in mine}
        ids = {i: encode_chat_text(tokenizer, prompts[i]) for i in mine}
    else:
        ids = {i: tokenizer.encode_prompt(prompts[i], cfg.add_bos) for i in mine}
    jobs = [(i, j) for i in mine for j in range(cfg.n)]  # every sample of a question shares its prompt ids

    generator = None
    if cfg.temperature > 0:
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(cfg.seed + rank)
    with tqdm(total=len(jobs), desc=f"evaluate ({cfg.mode})", disable=not cfg.progress or rank != 0) as bar:
        job_ids = [ids[i] for i, _ in jobs]
        if cfg.mode == "tool":
            outs = complete_with_tools(model, tokenizer, job_ids, cfg, generator, bar)
        else:
            outs = generate_texts(model, tokenizer, job_ids, cfg,
                                  stop_strings(cfg.mode, cfg.style, cfg.shots), generator, bar)
    if cfg.mode == "pot":
        runs = run_programs([program_of(text) for text, _, _ in outs], cfg.program_timeout)
        answers = [program_answer(r) for r in runs]
    else:
        answers = [stated_answer(text, cfg) for text, _, _ in outs]

    rows = {i: {"index": i, "id": records[i]["id"], "level": records[i].get("level"),
                "type": records[i].get("type"), "question": records[i]["question"],
                "gold": records[i]["answer"], "prompt": prompts[i], "samples": []} for i in mine}
    for (i, _), (text, finish, n_new), answer in zip(jobs, outs, answers):
        rows[i]["samples"].append({"completion": text, "answer": answer,
                                   "correct": is_correct(answer, records[i]["answer"], cfg.scoring),
                                   "finish": finish, "tokens": n_new})
    seconds = time.time() - started
    if world > 1:
        gathered = [None] * world if rank == 0 else None
        dist.gather_object((list(rows.values()), seconds), gathered, dst=0)
        if rank != 0:
            return None
        all_rows = sorted((row for part, _ in gathered for row in part), key=lambda row: row["index"])
        seconds = max(s for _, s in gathered)
    else:
        all_rows = list(rows.values())
    metrics = compute_metrics(all_rows, cfg, seconds)
    if cfg.out:
        write_outputs(Path(cfg.out), metrics, all_rows, cfg)
    return metrics


def compute_metrics(rows: Sequence[dict], cfg: EvalConfig, seconds: float = 0.0) -> dict:
    """Accuracy (mean over questions of the fraction of correct samples; greedy accuracy when n = 1) with
    its standard error; pass@k (unbiased estimator) and maj@k (majority vote over each question's FIRST k
    samples) for k in cfg.k_list; the same accuracy by level and by type; how generations ended."""
    n = cfg.n
    n_correct = [sum(s["correct"] for s in row["samples"]) for row in rows]
    per_question = [c / n for c in n_correct]
    acc, se = accuracy_with_se(per_question)
    samples = [s for row in rows for s in row["samples"]]
    counts = Counter(s["finish"] for s in samples)
    counts["no_answer"] = sum(s["answer"] is None for s in samples)
    tokens = sum(s["tokens"] for s in samples)
    return {
        "label": cfg.label, "questions": len(rows), "samples": len(samples), "accuracy": acc,
        "accuracy_se": se,
        "pass_at_k": {str(k): sum(pass_at_k(n, c, k) for c in n_correct) / max(len(rows), 1)
                      for k in cfg.k_list},
        "maj_at_k": {str(k): sum(is_correct(majority_vote([s["answer"] for s in row["samples"][:k]]),
                                            row["gold"], cfg.scoring)
                                 for row in rows) / max(len(rows), 1) for k in cfg.k_list},
        "by_level": breakdown(rows, per_question, "level"), "by_type": breakdown(rows, per_question, "type"),
        "counts": dict(sorted(counts.items())), "generated_tokens": tokens,
        "mean_completion_tokens": tokens / max(len(samples), 1), "seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else None,
        "config": {**asdict(cfg), "k_list": list(cfg.k_list)},
    }


def breakdown(rows: Sequence[dict], per_question: Sequence[float], key: str) -> dict:
    """{value of `key`: {"questions", "accuracy", "accuracy_se"}}; empty when no record has the key."""
    groups: dict[str, list[float]] = {}
    for row, score in zip(rows, per_question):
        if row[key] is not None:
            groups.setdefault(str(row[key]), []).append(score)
    out = {}
    for value in sorted(groups, key=lambda v: (level_number(v) is None, level_number(v) or 0, v)):
        acc, se = accuracy_with_se(groups[value])
        out[value] = {"questions": len(groups[value]), "accuracy": acc, "accuracy_se": se}
    return out


# ----------------------------------------------------------------------------- report files

def write_outputs(out: Path, metrics: dict, rows: Sequence[dict], cfg: EvalConfig) -> None:
    """results.json (metrics), samples.jsonl (a line per question: prompt, gold, and per sample the
    completion, extracted answer, correct, finish, tokens), summary.md, curves.png (when >= 2 k's)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    write_jsonl(out / "samples.jsonl", rows)
    if len(cfg.k_list) >= 2:
        plot_curves(metrics, out / "curves.png")
    (out / "summary.md").write_text(summary_markdown(metrics, plotted=len(cfg.k_list) >= 2))


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def summary_markdown(m: dict, plotted: bool) -> str:
    c = m["config"]
    lines = [f"# Evaluation: {m['label'] or 'model'}", "",
             f"Mode `{c['mode']}` (style `{c['style']}`, {c['shots']} shots, template `{c['template']}`), "
             f"{c['n']} sample(s) per question at temperature {c['temperature']} (top-p {c['top_p']}), "
             f"at most {c['max_new_tokens']} new tokens.", "",
             "| questions | samples | accuracy (%) | ± s.e. |", "| --- | --- | --- | --- |",
             f"| {m['questions']} | {m['samples']} | {pct(m['accuracy'])} | {pct(m['accuracy_se'])} |", "",
             "## Pass@K and Maj@K (paper Fig. 7)", "",
             "Pass@k: unbiased estimator over the n samples; Maj@k: majority vote over the first k samples.",
             "", "| k | pass@k (%) | maj@k (%) |", "| --- | --- | --- |"]
    lines += [f"| {k} | {pct(m['pass_at_k'][k])} | {pct(m['maj_at_k'][k])} |" for k in m["pass_at_k"]]
    if plotted:
        lines += ["", "![Pass@K and Maj@K](curves.png)"]
    for key in ("level", "type"):
        if m[f"by_{key}"]:
            lines += ["", f"## By {key}", "", f"| {key} | questions | accuracy (%) | ± s.e. |",
                      "| --- | --- | --- | --- |"]
            lines += [f"| {v} | {g['questions']} | {pct(g['accuracy'])} | {pct(g['accuracy_se'])} |"
                      for v, g in m[f"by_{key}"].items()]
    lines += ["", "## Generations", "", "| " + " | ".join(m["counts"]) + " | mean tokens | tokens/s |",
              "| " + " | ".join("---" for _ in range(len(m["counts"]) + 2)) + " |",
              "| " + " | ".join(str(v) for v in m["counts"].values())
              + f" | {m['mean_completion_tokens']:.1f} | {m['tokens_per_second']} |", "",
              "`no_answer`: samples with no extractable answer (scored wrong). `length`: ran out of new "
              "tokens or context; `prompt_too_long`: no room to generate (scored wrong).", ""]
    return "\n".join(lines)


def plot_curves(m: dict, path: Path) -> None:
    """Pass@K and Maj@K against K on a log2 axis, as the paper's Fig. 7."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    ks = [int(k) for k in m["pass_at_k"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ks, [100 * m["pass_at_k"][str(k)] for k in ks], "o-", label="Pass@K")
    ax.plot(ks, [100 * m["maj_at_k"][str(k)] for k in ks], "s--", label="Maj@K")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set(xlabel="K (samples per question)", ylabel="accuracy (%)", title=m["label"] or "Pass@K and Maj@K")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- selecting questions

def guess_style(benchmark: str, records: Sequence[dict]) -> str:
    """The prompt style of a benchmark: its name; for a path, a style named in it ("data/MATH/test",
    "gsm8k/test.jsonl"), else the shape of its records (MATH levels read "Level 5"; GSM8K solutions end
    with "#### answer"); else the toy benchmark. --style overrides the guess."""
    if benchmark in DEFAULT_SHOTS:
        return benchmark
    path = str(benchmark).lower()
    named = [style for style in ("gsm8k", "math", "toy") if style in path]
    if named:
        return named[0]
    if any(str(r.get("level", "")).startswith("Level") for r in records):
        return "math"
    return "gsm8k" if any("####" in r["solution"] for r in records) else "toy"


def level_number(level) -> int | None:
    """5 for "Level 5" (MATH) or 5 (toy); None when absent or unparsable (MATH has a few "Level ?")."""
    digits = re.findall(r"\d+", str(level)) if level is not None else []
    return int(digits[0]) if digits else None


def normalise_id(s: str) -> str:
    """Ids compare without a ".json" suffix and a leading "test/" or "train/", so MATH-500's unique_id
    "test/precalculus/807.json" matches the record "precalculus/807" read from MATH's test folder."""
    s = s.strip().removesuffix(".json")
    return re.sub(r"^(test|train)/", "", s)


def read_ids(path) -> set[str]:
    """An id list: a .jsonl file (its "unique_id" or "id" fields, e.g. MATH-500's test.jsonl) or plain text,
    one id per line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--ids-file {path} not found")
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        ids = {str(r.get("unique_id", r.get("id", ""))) for r in read_jsonl(path)}
    else:
        ids = set(path.read_text().splitlines())
    return {normalise_id(i) for i in ids if i.strip()}


def select_records(records: list[dict], levels=None, types=None, ids=None, limit=None) -> list[dict]:
    """Subsets: MATH levels (numbers), types (case-insensitive names), an id list; then the first `limit`."""
    if levels:
        records = [r for r in records if level_number(r.get("level")) in set(levels)]
    if types:
        wanted = {t.strip().lower() for t in types}
        records = [r for r in records if str(r.get("type", "")).lower() in wanted]
    if ids is not None:
        records = [r for r in records if normalise_id(r["id"]) in ids]
    return records[:limit] if limit is not None else records


# ----------------------------------------------------------------------------- command line

@dataclass
class EvalInputs:
    """What `evaluate.py` evaluates: the checkpoint, the benchmark and which of its questions."""
    model_path: str | None = flag(None, "checkpoint folder: ours (config.json + model.pt) or a Hugging Face "
                                        "one (config.json + safetensors, e.g. "
                                        "deepseek-ai/deepseek-math-7b-rl)",
                                  required=True)
    tokenizer: str | None = flag(None, "tokenizer folder (default: the one named in the checkpoint's "
                                       "config.json, or the checkpoint folder itself when it is a Hugging "
                                       "Face one)")
    benchmark: str | None = flag(None, "gsm8k | math | cmath | agieval | toy (files under --data-dir), or a "
                                       "path: a GSM8K/MATH/toy JSONL file or a folder of MATH's "
                                       "one-JSON-per-problem files", required=True)
    data_dir: str | None = flag(None, "folder holding the named benchmarks (gsm8k/{split}.jsonl, math/..., "
                                      "bench_{split}.jsonl)")
    split: str = flag("test", "split of a named benchmark")
    limit: int | None = flag(None, "evaluate only the first N questions (after the filters)", min=1)
    levels: list[int] | None = flag(None, "keep these levels, e.g. 4,5 (MATH 'Level 5' or toy levels)",
                                    type=int_list)
    types: list[str] | None = flag(None, "keep these types, e.g. Algebra,Geometry",
                                   type=lambda s: s.split(","))
    ids_file: str | None = flag(None, "keep only these ids: plain text (an id a line) or JSONL with "
                                      "unique_id/id (e.g. MATH-500's test.jsonl against MATH's test folder)")
    style: str | None = flag(None, "few-shot format and exemplars (default: from the benchmark)",
                             choices=sorted(DEFAULT_SHOTS))
    shots_file: str | None = flag(None, "benchmark file whose records are the exemplars (default: built-in "
                                        "for GSM8K/MATH, the train split for toy)")
    dtype: str = flag("auto", "weights dtype, as the trainers' flag: auto = bf16 on GPU, the checkpoint's "
                              "own on CPU", choices=("auto", "bf16", "fp32"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint on GSM8K, MATH or the toy benchmark "
                                                 "with DeepSeekMath's protocol (§2.2, §3.2, §4.2): accuracy, "
                                                 "pass@k, maj@k.")
    add_flags(parser, EvalInputs, EvalConfig)
    return parser


def main(argv=None) -> dict | None:
    parser = build_parser()
    args = parser.parse_args(argv)
    ranks = setup_distributed()  # torchrun's process group, or a 1-process one
    try:
        try:
            stats: Counter = Counter()
            records = load_benchmark(args.benchmark, args.split, data_dir=args.data_dir, stats=stats)
            ids = read_ids(args.ids_file) if args.ids_file else None
            selected = select_records(records, args.levels, args.types, ids, args.limit)
            if not selected:
                raise ValueError(f"no questions left to evaluate ({len(records)} loaded, filters kept none)")
            style = args.style or guess_style(args.benchmark, records)
            toy_train = Path(args.data_dir or ".") / "bench_train.jsonl"
            shots_file = args.shots_file or (toy_train if style == "toy" and toy_train.is_file() else None)
            shot_pool = load_shot_pool(shots_file) if shots_file else None
            model_path = Path(args.model_path)
            cuda = ranks.device.type == "cuda"
            dtype = {"bf16": torch.bfloat16, "fp32": torch.float32, "auto": torch.bfloat16 if cuda
                     else None}[args.dtype]
            model = load_model(model_path, device=ranks.device, dtype=dtype)
            tokenizer = load_tokenizer(checkpoint_tokenizer(model_path, args.tokenizer))
            label = f"{model_path.name} on {Path(str(args.benchmark)).name} ({args.split})"
            extra = {"model_path": str(model_path), "benchmark": str(args.benchmark),
                     "skipped_records": dict(stats), "loaded": len(records)}
            cfg = config_from(EvalConfig, args, style=style, label=label, extra=extra).resolved()
            exemplar_pool(cfg, shot_pool)
        except (FileNotFoundError, ValueError) as e:
            parser.error(str(e))
        metrics = evaluate(model, tokenizer, selected, cfg, shot_pool)
        if ranks.is_main:
            print(summary_markdown(metrics, plotted=False))
        return metrics
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    run_cli(main)
