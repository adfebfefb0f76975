"""DeepSeek-R1's recipe (arXiv 2501.12948 §2.3-2.4) on top of this repository's SFT and GRPO.

R1 is built in stages from a base model:
  0. R1-Zero: GRPO with rule rewards only (grpo.py --template r1 --format-reward);
  1. cold start (§2.3.1): SFT of the base model on a few thousand long chains of thought in a readable
     format, "|special_token|<reasoning_process>|special_token|<summary>", written here as
         <think>\\n{reasoning}\\n</think>\\n\\n{summary}        (sft.py --template think)
     collected by few-shot prompting a model, by cleaning R1-Zero outputs and from written chains of
     thought (R1's annotators post-processed them)                              (`r1.py cold-start`);
  2. reasoning RL (§2.3.2): GRPO on the rule reward plus a language-consistency reward,
         consistency = (words of the target language in the chain of thought) / (words in it)
     added to the accuracy reward                          (grpo.py --language-reward W --language en);
  3. rejection sampling and SFT (§2.3.3): sample many answers per question from the RL checkpoint, keep
     the correct ones, drop mixed languages, long paragraphs, code blocks and repeats, mix in
     non-reasoning data (600K + 200K at full scale), fine-tune the base model again     (`r1.py reject`);
  4. distillation (§2.4): SFT of smaller models, of other families and tokenizers, on those samples
     (`r1.py distill`, then sft.py train).

What a "word" is, for the consistency reward (R1 does not say; this is ours): math is language-neutral,
so `$…$`, `\\(…\\)`, `\\[…\\]` spans and LaTeX commands are removed first; then a word is one CJK ideograph
(Chinese is written without spaces, and one character is its unit of meaning) or a run of two or more
letters (single letters are mostly variables, x or n, shared by every language). A word's language:
"zh" for an ideograph, "en" for ASCII letters, another language for anything else (é, ж, か).

    python r1.py cold-start --zero-outputs r1zero.jsonl --out runs/r1/cold
    python r1.py cold-start --zero-model runs/r1/zero/final --data rl.jsonl --written sft.jsonl \\
        --out runs/r1/cold
    python r1.py cold-start --model-path runs/base/final --data rl.jsonl --shots shots.jsonl \\
        --out runs/r1/cold
    python r1.py reject --model-path runs/r1/rl/final --data rl.jsonl --k 16 --non-reasoning chat.jsonl \\
        --out runs/r1/reject
    python r1.py distill --samples runs/r1/reject/sft.jsonl --student STUDENT --out runs/r1/distill
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from evaluate import cut_at_stop
from flags import command_parser, flag, run_cli, run_command
from formats import last_boxed, load_benchmark, read_jsonl, write_jsonl
from grader import (LANGUAGES, accuracy_reward, format_reward, gradable, language_consistency, language_words,
                    reasoning_part)
from grpo import sample_groups
from sft import FORMATS, READABLE, TEMPLATES, encode_prompt, load_sft_records
from hf import load_tokenizer
from tokenizer import Tokenizer, checkpoint_tokenizer
from trainer import load_frozen

# ----------------------------------------------------------------------------- R1's filters (§2.3.3)

def readable(reasoning: str, summary: str) -> str:
    """R1's readable cold-start format (§2.3.1), as sft.py's `think` template trains it."""
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{summary.strip()}"


def normalised(text: str) -> str:
    """Whitespace-insensitive text, the identity of a sample for the duplicate filter."""
    return " ".join(text.split())


@dataclass
class FilterConfig:
    """R1 §2.3.3 names the filters, not their thresholds: the defaults here are ours."""
    language: str = flag("en", "target language of the chain of thought", choices=LANGUAGES)
    min_consistency: float = flag(0.95, "drop samples whose chain of thought has a smaller share of target-"
                                        "language words (language mixing)", min=0.0, max=1.0)
    max_paragraph_words: int = flag(300, "drop samples with a longer paragraph (blank-line separated)", min=1)


def rejection_reason(text: str, gold: str, fmt: str, seen: set, cfg: FilterConfig) -> str | None:
    """The first of R1's filters a finished sample fails, or None when it is kept: incorrect (the rule
    reward, grader.accuracy_reward), language_mixing, overlong_paragraph, code_block (a ``` block where
    prose was asked: format "cot"), duplicate (of a sample already kept for this question, in `seen`)."""
    if accuracy_reward(text, gold) < 1:
        return "incorrect"
    if language_consistency(text, cfg.language) < cfg.min_consistency:
        return "language_mixing"
    paragraphs = re.split(r"\n\s*\n", text)
    if any(len(language_words(paragraph)) > cfg.max_paragraph_words for paragraph in paragraphs):
        return "overlong_paragraph"
    if fmt == "cot" and "```" in text:
        return "code_block"
    if normalised(text) in seen:
        return "duplicate"
    return None


def keep_samples(problems: list[dict], samples: list[list[tuple[str, bool]]], cfg: FilterConfig,
                 stats: Counter) -> list[dict]:
    """samples[i]: (text, finished) for the k samples of problems[i] -> SFT records of the kept ones.
    Every sample is counted once: unfinished (no EOS: it never ended) or dropped_<reason>, or kept."""
    kept = []
    for problem, group in zip(problems, samples, strict=True):
        seen = set()
        for text, finished in group:
            stats["samples"] += 1
            reason = rejection_reason(text, problem["answer"], problem.get("format", "cot"), seen, cfg) \
                if finished else "unfinished"
            if reason:
                stats[f"dropped_{reason}"] += 1
                continue
            seen.add(normalised(text))
            kept.append({"question": problem["question"], "solution": text.strip(),
                         "format": problem.get("format", "cot")})
            stats["kept"] += 1
        stats["problems"] += 1
        stats["problems_with_a_kept_sample"] += bool(seen)
    return kept


def mix_non_reasoning(records: list[dict], path, wanted: int, seed: int, stats: Counter) -> list[dict]:
    """R1 §2.3.3: the reasoning samples plus `wanted` non-reasoning SFT records (writing, factual QA, ...;
    200K next to 600K), drawn without replacement, seeded. Their answers get an
    empty chain of thought (<think>\\n\\n</think>: the simple queries R1 answers without one), so one
    template trains both. Fewer available than asked for is an error, not a silent shortfall."""
    pool = load_sft_records(path, "deepseek", stats)
    if wanted > len(pool):
        raise ValueError(f"{path}: {len(pool)} usable non-reasoning records, {wanted} needed")
    order = np.random.default_rng(seed).permutation(len(pool))[:wanted]
    mixed = [{"question": pool[i][0], "solution": readable("", pool[i][1]), "format": pool[i][2]}
             for i in sorted(order)]
    stats["non_reasoning"] = len(mixed)
    return records + mixed


# ----------------------------------------------------------------------------- sampling

def sample_texts(model, tokenizer: Tokenizer, prompts: list[list[int]], k: int, cfg, stops=()):
    """k samples per prompt through grpo.sample_groups -> per prompt, k (text, finished). A sample is
    finished when it ends in EOS or reaches a stop string (the text is cut before it)."""
    if not prompts:  # every question was unusable (counted by usable_problems)
        return []
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    completions, _ = sample_groups(model, prompts, k, cfg.max_new_tokens, cfg.temperature, cfg.top_p,
                                   tokenizer.stop_ids, cfg.batch_size, generator)
    out = []
    for ids in completions:
        ended = bool(ids) and ids[-1] in tokenizer.stop_ids
        text, stopped = cut_at_stop(tokenizer.decode(ids[:-1] if ended else ids), stops)
        out.append((text.strip(), ended or stopped))
    return [out[i * k:(i + 1) * k] for i in range(len(prompts))]


def usable_problems(problems: list[dict], tokenizer: Tokenizer, prompt_of, max_seq_len: int, stats: Counter):
    """(problem, prompt ids) for the problems worth sampling; counted: problems_bad_gold (the grader
    refuses the gold answer), problems_prompt_too_long (no room left to answer)."""
    usable = []
    for problem in problems:
        if not gradable(problem.get("answer")):
            stats["problems_bad_gold"] += 1
            continue
        prompt = prompt_of(problem)
        if len(prompt) >= max_seq_len:
            stats["problems_prompt_too_long"] += 1
            continue
        usable.append((problem, prompt))
    return usable


@dataclass
class SampleConfig:
    """Sampling from a checkpoint (§2.3.3 does not give R1's settings; R1's evaluation samples at 0.6)."""
    model_path: str | None = flag(None, "checkpoint to sample from, ours or a Hugging Face folder")
    tokenizer: str | None = flag(None, "tokenizer folder (default: the checkpoint's)")
    data: str | None = flag(None, "questions {question, answer}: JSONL, or a benchmark name")
    limit: int | None = flag(None, "sample only the first N questions of --data", min=1)
    k: int = flag(16, "samples per question", min=1)
    temperature: float = flag(0.6, "sampling temperature", min=0.0, above=True)
    top_p: float = flag(0.95, "nucleus sampling threshold", min=0.0, max=1.0, above=True)
    max_new_tokens: int = flag(1024, "longest sample", min=1)
    batch_size: int = flag(64, "sequences per generate call", min=1)
    seed: int = flag(0, "sampling seed")
    out: str | None = flag(None, "output folder (records and stats.json)", required=True)


def questions(cfg: SampleConfig, stats: Counter) -> list[dict]:
    """The usable questions of --data (unusable ones counted by load_benchmark), the first --limit of them."""
    return load_benchmark(cfg.data, stats=stats)[:cfg.limit]


def load_sampler(path, tokenizer_path=None):
    tokenizer = load_tokenizer(checkpoint_tokenizer(path, tokenizer_path))
    model = load_frozen(path, "cuda" if torch.cuda.is_available() else "cpu")
    return model, tokenizer


def write_outputs(out, name: str, records: list[dict], stats: Counter) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / name, records)
    (out / "stats.json").write_text(json.dumps(dict(stats), indent=2) + "\n")
    print(f"{out / name}: {len(records)} records; {dict(stats)}")
    return out / name


# ----------------------------------------------------------------------------- stage 3: rejection sampling

@dataclass
class RejectConfig(SampleConfig, FilterConfig):
    """`r1.py reject`: k samples per question from the RL checkpoint, R1's filters, non-reasoning data mixed
    in."""
    model_path: str | None = flag(None, "the RL checkpoint to sample from, ours or a Hugging Face folder",
                                  required=True)
    data: str | None = flag(None, "questions {question, answer}: JSONL, or a benchmark name", required=True)
    template: str = flag("think", "chat template of the prompts (think: the cold-start model's)",
                         choices=TEMPLATES)
    non_reasoning: str | None = flag(None, "non-reasoning SFT records {question, solution} to mix in")
    non_reasoning_ratio: float = flag(1 / 3, "non-reasoning records per kept sample (R1: 200K / 600K)",
                                      min=0.0)
    non_reasoning_count: int | None = flag(None, "mix in this many non-reasoning records instead (R1: 200K)",
                                           min=0)


def run_reject(cfg: RejectConfig) -> Counter:
    model, tokenizer = load_sampler(cfg.model_path, cfg.tokenizer)
    stats = Counter()
    usable = usable_problems(questions(cfg, stats), tokenizer,
                             lambda p: encode_prompt(tokenizer, p["question"], cfg.template),
                             model.config.max_seq_len, stats)
    problems = [p for p, _ in usable]
    samples = sample_texts(model, tokenizer, [prompt for _, prompt in usable], cfg.k, cfg)
    records = keep_samples(problems, samples, cfg, stats)
    if cfg.non_reasoning:
        wanted = cfg.non_reasoning_count if cfg.non_reasoning_count is not None else \
            round(cfg.non_reasoning_ratio * len(records))
        records = mix_non_reasoning(records, cfg.non_reasoning, wanted, cfg.seed, stats)
    write_outputs(cfg.out, "sft.jsonl", records, stats)
    return stats


# ----------------------------------------------------------------------------- stage 1: cold start

def zero_to_readable(completion: str) -> str | None:
    """An R1-Zero output (`<think>r</think> <answer>a</answer>`) in the readable format: r as the reasoning,
    a summary stating the answer (boxed, as the grader and evaluation read it). None when malformed."""
    if format_reward(completion) < 1:
        return None
    reasoning = reasoning_part(completion)
    answer = completion[completion.find("<answer>") + len("<answer>"):completion.find("</answer>")].strip()
    return readable(reasoning, summary_of(answer))


def summary_of(answer: str) -> str:
    """The summary of a readable record: the final answer, boxed as the grader and evaluation read it."""
    return answer if "\\boxed" in answer else f"The answer is $\\boxed{{{answer}}}$."


def cold_start_from_zero(path, cfg: FilterConfig, stats: Counter) -> list[dict]:
    """R1-Zero outputs {question, answer, completion} -> readable cold-start records. Dropped and counted:
    no_question / no_completion, unformatted (not <think>…</think><answer>…</answer>), bad_gold, then the
    filters of `rejection_reason` (incorrect, language_mixing, ...: R1 keeps only readable outputs)."""
    problems, samples = [], []
    for rec in read_jsonl(path, stats):
        question, completion = rec.get("question"), rec.get("completion")
        if not isinstance(question, str) or not question.strip():
            stats["no_question"] += 1
            continue
        if not isinstance(completion, str):
            stats["no_completion"] += 1
            continue
        if not gradable(rec.get("answer")):
            stats["bad_gold"] += 1
            continue
        text = zero_to_readable(completion)
        if text is None:
            stats["unformatted"] += 1
            continue
        problems.append({"question": question, "answer": str(rec["answer"])})
        samples.append([(text, True)])
    return keep_samples(problems, samples, cfg, stats)


def zero_outputs(model, tokenizer: Tokenizer, problems: list[dict], cfg: SampleConfig,
                 stats: Counter) -> list[dict]:
    """k samples per question of an R1-Zero checkpoint, prompted with its R1 template, as the records
    `cold_start_from_zero` reads {question, answer, completion}; unfinished ones (no EOS) are counted,
    not kept."""
    usable = usable_problems(problems, tokenizer, lambda p: encode_prompt(tokenizer, p["question"], "r1"),
                             model.config.max_seq_len, stats)
    samples = sample_texts(model, tokenizer, [prompt for _, prompt in usable], cfg.k, cfg)
    outputs = [{"question": p["question"], "answer": p["answer"], "completion": text}
               for (p, _), group in zip(usable, samples) for text, finished in group if finished]
    stats["sampled"] += cfg.k * len(usable)
    stats["unfinished"] += cfg.k * len(usable) - len(outputs)
    return outputs


def cold_start_from_written(path, limit: int | None, cfg: FilterConfig, stats: Counter) -> list[dict]:
    """Written chains of thought (SFT records whose solution ends in a \\boxed{} answer; R1's annotators
    post-processed theirs) -> readable records: the solution as the reasoning, a summary stating its answer.
    The first `limit` usable records (all when None); others are counted (not_cot, no_boxed_answer), and the
    rest go through R1's filters with the solution's own answer as the gold."""
    problems, samples = [], []
    for question, solution, fmt in load_sft_records(path, "deepseek", stats):
        if limit is not None and len(problems) == limit:
            break
        answer = last_boxed(solution)
        if fmt != "cot" or not gradable(answer):
            stats["not_cot" if fmt != "cot" else "no_boxed_answer"] += 1
            continue
        problems.append({"question": question, "answer": answer})
        samples.append([(readable(solution, summary_of(answer)), True)])
    return keep_samples(problems, samples, cfg, stats)


FEW_SHOT = "Question: {question}\nAnswer: "  # a base model continues the pattern after "Answer:"


def few_shot_prompt(shots: list[tuple[str, str, str]], question: str) -> str:
    """Few-shot prompting with long chains of thought in the readable format (§2.3.1): each shot a
    question and its answer; the model writes the next answer in the same form."""
    return "".join(FEW_SHOT.format(question=q) + s + "\n\n" for q, s, _ in shots) + FEW_SHOT.format(
        question=question).rstrip()


@dataclass
class ColdStartConfig(SampleConfig, FilterConfig):
    """`r1.py cold-start`: readable records from R1-Zero outputs, from few-shot prompting a model, from
    written chains of thought, or several of these (the models are prompted on --data)."""
    zero_outputs: str | None = flag(None, "R1-Zero outputs, JSONL {question, answer, completion}")
    zero_model: str | None = flag(None, "R1-Zero checkpoint: its --k samples per --data question are cleaned")
    written: str | None = flag(None, "written chains of thought: SFT JSONL {question, solution} with a "
                                     "\\boxed{} answer, made readable")
    n_written: int | None = flag(None, "use the first N written records (default: all)", min=1)
    shots: str | None = flag(None, "SFT records in the readable format (<think>…</think> summary) as the "
                                   "shots (default: the first readable written records)")
    n_shots: int = flag(2, "shots per prompt", min=1)


def cold_start_few_shot(model, tokenizer: Tokenizer, problems: list[dict], shots: list, cfg: ColdStartConfig,
                        stats: Counter) -> list[dict]:
    """Few-shot samples of the readable format, filtered like rejection sampling; a sample not in the
    format (the model did not follow the shots) is dropped and counted as dropped_unformatted."""
    usable = usable_problems(problems, tokenizer,
                             lambda p: tokenizer.encode_prompt(few_shot_prompt(shots, p["question"])),
                             model.config.max_seq_len, stats)
    samples = sample_texts(model, tokenizer, [prompt for _, prompt in usable], cfg.k, cfg,
                           stops=("\nQuestion:",))
    kept_format = []
    for group in samples:
        formatted = [(text, finished) for text, finished in group if READABLE.fullmatch(text)]
        stats["samples"] += len(group) - len(formatted)  # keep_samples counts the others
        stats["dropped_unformatted"] += len(group) - len(formatted)
        kept_format.append(formatted)
    return keep_samples([p for p, _ in usable], kept_format, cfg, stats)


def run_cold_start(cfg: ColdStartConfig) -> Counter:
    """Each source's counts under its own prefix (written_, few_shot_, zero_) in stats.json; `records`: all
    kept records."""
    if not (cfg.zero_outputs or cfg.zero_model or cfg.model_path or cfg.written):
        raise ValueError("cold-start needs a source: --written, --zero-outputs, --zero-model or --model-path")
    if (cfg.model_path or cfg.zero_model) and not cfg.data:
        raise ValueError("sampling a model (--model-path, --zero-model) needs --data (questions)")
    if cfg.model_path and not (cfg.shots or cfg.written):
        raise ValueError("few-shot cold start (--model-path) needs --shots, or --written to take them from")
    if cfg.zero_outputs and cfg.zero_model:
        raise ValueError("give R1-Zero outputs (--zero-outputs) or a model to sample them from "
                         "(--zero-model)")
    stats, sources = Counter(), {}

    def count(source: str, part: Counter) -> None:
        stats.update({f"{source}_{key}": value for key, value in part.items()})

    if cfg.written:
        part = Counter()
        sources["written"] = cold_start_from_written(cfg.written, cfg.n_written, cfg, part)
        count("written", part)
    zero_path = cfg.zero_outputs
    if cfg.zero_model:
        part = Counter()
        model, tokenizer = load_sampler(cfg.zero_model, cfg.tokenizer)
        zero_path = Path(cfg.out) / "zero_outputs.jsonl"
        zero_path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(zero_path, zero_outputs(model, tokenizer, questions(cfg, part), cfg, part))
        count("zero", part)
    if zero_path:
        part = Counter()
        sources["zero"] = cold_start_from_zero(zero_path, cfg, part)
        count("zero", part)
    if cfg.model_path:
        part = Counter()
        shots = load_sft_records(cfg.shots, "think", part) if cfg.shots else \
            [(r["question"], r["solution"], r["format"]) for r in sources.get("written", [])]
        if len(shots) < cfg.n_shots:
            raise ValueError(f"{cfg.shots or cfg.written}: {len(shots)} readable records, --n-shots "
                             f"{cfg.n_shots} needed")
        model, tokenizer = load_sampler(cfg.model_path, cfg.tokenizer)
        sources["few_shot"] = cold_start_few_shot(model, tokenizer, questions(cfg, part), shots[:cfg.n_shots],
                                                  cfg, part)
        count("few_shot", part)
    records = [record for kept in sources.values() for record in kept]
    stats["records"] = len(records)
    write_outputs(cfg.out, "cold_start.jsonl", records, stats)
    return stats


# ----------------------------------------------------------------------------- distillation (§2.4)

@dataclass
class DistillConfig:
    """`r1.py distill`: the teacher's curated samples as text SFT records for a student of another family."""
    samples: str | None = flag(None, "the teacher's curated samples (r1.py reject's sft.jsonl)",
                               required=True)
    student: str | None = flag(None, "the student checkpoint to fine-tune, ours or a Hugging Face folder",
                               required=True)
    student_tokenizer: str | None = flag(None, "the student's tokenizer (default: the checkpoint's)")
    out: str | None = flag(None, "output folder: distill.jsonl and stats.json", required=True)


def distill_records(path, student: Tokenizer, stats: Counter) -> list[dict]:
    """Text-only records {question, solution, format}: any other field (a teacher's token ids, log-probs) is
    left behind and counted (fields_dropped_<name>), so the student's SFT tokenises the text with its own
    tokenizer. A record the student's tokenizer cannot write back exactly is dropped (not_representable)."""
    records = []
    for rec in read_jsonl(path, stats):
        for name in rec.keys() - {"question", "solution", "format"}:
            stats[f"fields_dropped_{name}"] += 1
        question, solution, fmt = rec.get("question"), rec.get("solution"), rec.get("format", "cot")
        if not all(isinstance(text, str) and text.strip() for text in (question, solution)):
            stats["no_question_or_solution"] += 1
        elif fmt not in FORMATS:
            stats["unknown_format"] += 1
        elif any(student.decode(student.encode(text)) != text for text in (question, solution)):
            stats["not_representable"] += 1
        else:
            records.append({"question": question, "solution": solution, "format": fmt})
            stats["records"] += 1
    return records


def run_distill(cfg: DistillConfig) -> Counter:
    stats = Counter()
    student = load_tokenizer(checkpoint_tokenizer(cfg.student, cfg.student_tokenizer))
    path = write_outputs(cfg.out, "distill.jsonl", distill_records(cfg.samples, student, stats), stats)
    # §2.4: the students get SFT on the 800K curated samples and no RL (R1 itself, §2.3.3: two epochs of
    # them).
    print(f"train the student: python sft.py train --init {cfg.student} --data {path} --template think")
    return stats


# ----------------------------------------------------------------------------- command line

COMMANDS = {name: (config.__doc__.split(":", 1)[1].strip(), config, run) for name, config, run in
            (("cold-start", ColdStartConfig, run_cold_start), ("reject", RejectConfig, run_reject),
             ("distill", DistillConfig, run_distill))}


def build_parser() -> argparse.ArgumentParser:
    return command_parser(__doc__.split("\n\n")[0], COMMANDS)


def main(argv=None) -> Counter:
    return run_command(__doc__.split("\n\n")[0], COMMANDS, argv)


if __name__ == "__main__":
    run_cli(main)
