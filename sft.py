"""Supervised fine-tuning (DeepSeekMath §3): chat-formatted math solutions, loss on the answer only.

DeepSeekMath-Instruct 7B is DeepSeekMath-Base fine-tuned on 776K examples of chain-of-thought (CoT),
program-of-thought (PoT) and tool-integrated solutions. §3.1: "examples are randomly concatenated until
reaching a maximum context length of 4K tokens", 500 steps, batch size 256, constant learning rate 5e-5.
The chat format is `User: {question}\\n\\nAssistant: {answer}<eos>`, the question followed by the
zero-shot instruction "Please reason step by step, and put your final answer within \\boxed{}.".

Read top to bottom:
  1. examples -> token ids and labels (the prompt's labels are -100: no loss there);
  2. packing: examples side by side in rows of the context length; `doc_ids` make the model restart
     positions and attention at each example, so packed examples never see each other;
  3. the data object trainer.py's loop draws from (weighted files, per-rank shards, resumable);
  4. converters from GSM8K / MATH files, and rejection-sampling data (RFT, §5.2.1);
  5. the command line:

    python sft.py convert --from gsm8k train.jsonl gsm8k_sft.jsonl
    python sft.py train --init runs/base --data gsm8k_sft.jsonl:0.7 --data toy_sft.jsonl:0.3 --out runs/sft
    python sft.py train ... --seq-len 512 --batch-size 16 --steps 200 --lr 1e-3   (toy overrides)
    python sft.py rft --model-path runs/sft/final --data rl.jsonl --k 8 --out rft.jsonl
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from formats import chat_prompt, gsm8k_answer, last_boxed, load_benchmark, read_jsonl, write_jsonl
from grader import accuracy_reward, gradable
from sampler import generate
from hf import chat_text, encode_chat_text, end_of_turn, load_tokenizer
from flags import add_flags, check_ranges, config_from, flag, run_cli
from trainer import (TrainConfig, build_model, build_optimizer, dry_run, export_model, load_frozen,
                     model_config, seed_all, setup_distributed, tears_down_distributed, train)
from tokenizer import Tokenizer, checkpoint_tokenizer

FORMATS = ("cot", "pot", "tool")
TEMPLATES = ("deepseek", "r1", "think", "hf")  # hf: a released model's own chat template (hf.py)
# think: DeepSeek-R1's readable cold-start format (arXiv 2501.12948 §2.3.1),
# "|special_token|<reasoning_process>|special_token|<summary>" with R1's own <think> tags as the special
# tokens, after DeepSeekMath's prompt
READABLE = re.compile(r"<think>\n(.*?)\n</think>\n\n(\S.*)", re.DOTALL)
IGNORE = -100  # label of a position that carries no loss (model.py's cross-entropy ignores it)


# ----------------------------------------------------------------------------- 1. examples -> ids, labels

def assistant_text(solution: str, fmt: str = "cot", template: str = "deepseek") -> str:
    """The text the assistant is trained to write after the prompt (EOS is added as an id, not text).

    - CoT: the solution as written (it ends with its \\boxed{} answer).
    - PoT: the solution is a Python program that prints the answer; the assistant writes it as a
      ```python block, as DeepSeekMath's PoT prompts ask (a solution already fenced is kept).
    - tool-integrated: reasoning interleaved with programs and their outputs, kept verbatim as plain
      assistant text (the paper does not say the outputs are masked, so they are trained on too).
    R1-Zero template: `<think>\\n{reasoning}\\n</think> <answer>{final answer}</answer>`. The reasoning is the
    whole solution as above and the final answer its last \\boxed{} content; a solution with no \\boxed{}
    answer (a PoT program, whose answer exists only once it runs) raises ValueError. A solution already
    in that format (e.g. RFT samples drawn with the R1 template) is kept as it is.
    The leading space joins "Assistant:" and the answer as in the paper's format (a released model's
    template ends its prompt with a newline, and the answer follows it directly)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown solution format {fmt!r}; choose from {FORMATS}")
    text = solution.strip()
    if fmt == "pot" and not text.startswith("```"):
        text = f"```python\n{text}\n```"
    if template == "r1" and not ("</think>" in text and "<answer>" in text):
        answer = last_boxed(text)
        if answer is None:
            raise ValueError("the R1 template needs a final \\boxed{} answer to put in <answer>, found none")
        text = f"<think>\n{text}\n</think> <answer>{answer}</answer>"
    elif template == "think" and not READABLE.fullmatch(text):
        raise ValueError("the think template needs a solution "
                         "'<think>\\n{reasoning}\\n</think>\\n\\n{summary}' (r1.py cold-start writes them)")
    elif template not in TEMPLATES:
        raise ValueError(f"unknown chat template {template!r}; choose from {TEMPLATES}")
    return text if template == "hf" else " " + text


def encode_prompt(tokenizer: Tokenizer, question: str, template: str = "deepseek",
                  fmt: str = "cot") -> list[int]:
    """Token ids of the prompt a chat model completes (what generation starts from), with the
    instruction of the solution format (the same text evaluate.py prompts with), BOS first for models
    trained that way (Tokenizer.encode_prompt); template "hf": the tokenizer's own chat template, which
    writes BOS itself when the model wants one."""
    if template == "hf":
        return encode_chat_text(tokenizer, chat_text(tokenizer, chat_prompt(question, template, fmt)))
    return tokenizer.encode_prompt(chat_prompt(question, "deepseek" if template == "think"
                                               else template, fmt))


def answer_end(tokenizer: Tokenizer, template: str = "deepseek") -> list[int]:
    """The ids that end an answer: EOS, or in template "hf" the chat template's own end of turn
    (hf.end_of_turn: Qwen's <|im_end|>, which its tokenizer's EOS <|endoftext|> is not)."""
    return list(end_of_turn(tokenizer)) if template == "hf" else [tokenizer.eos_id]


def encode_example(tokenizer: Tokenizer, question: str, solution: str, template: str = "deepseek",
                   fmt: str = "cot") -> tuple[list[int], list[int]]:
    """One training example -> (ids, labels), both of length n. labels[i] = ids[i] on the answer and its end
    (`answer_end`), IGNORE on the prompt. The prompt is tokenised on its own, exactly as `encode_prompt` gives
    it at generation time, so the prompt/answer boundary is exact (no BPE merge across it)."""
    prompt = encode_prompt(tokenizer, question, template, fmt)
    answer = tokenizer.encode(assistant_text(solution, fmt, template)) + answer_end(tokenizer, template)
    return prompt + answer, [IGNORE] * len(prompt) + answer


# ----------------------------------------------------------------------------- 2. packing

def fit_to_context(ids: list[int], labels: list[int], seq_len: int, overlong: str = "truncate"):
    """An example of n ids fills n-1 positions of a row (inputs ids[:-1], targets labels[1:]).
    Returns (ids, labels, outcome) with outcome "fits" | "truncated", or (None, None, reason) with reason
    "dropped_overlong" | "dropped_answer_truncated" when it cannot be used. Truncation keeps the start
    (the prompt) and cuts the answer's end; an example left with no answer token to learn is dropped,
    so no row ever holds an example without targets and the loss is never 0/0."""
    if overlong not in ("truncate", "drop"):
        raise ValueError(f"--overlong must be 'truncate' or 'drop', got {overlong!r}")
    if len(ids) - 1 <= seq_len:
        return ids, labels, "fits"
    if overlong == "drop":
        return None, None, "dropped_overlong"
    ids, labels = ids[:seq_len + 1], labels[:seq_len + 1]
    if all(t == IGNORE for t in labels[1:]):
        return None, None, "dropped_answer_truncated"
    return ids, labels, "truncated"


class Packer:
    """Greedy packing (§3.1: examples "randomly concatenated until reaching" the context): examples are
    placed in the order given; one that does not fit the current row starts the next row. An example of
    n ids fills n-1 positions of a row: inputs ids[:-1], targets labels[1:] (each example is shifted on
    its own, so no target ever crosses into the next example)."""

    def __init__(self, seq_len: int):
        self.seq_len = seq_len
        self.rows: list[list[tuple[list[int], list[int]]]] = [[]]
        self.used = 0  # positions filled in the current (last) row

    def fits(self, ids: list[int]) -> bool:
        """Would this example go into the current row?"""
        return self.used + len(ids) - 1 <= self.seq_len

    def add(self, ids: list[int], labels: list[int]):
        if len(ids) - 1 > self.seq_len:
            raise ValueError(f"an example of {len(ids)} ids does not fit a context of {self.seq_len}: "
                             f"pass it through fit_to_context first")
        if not self.fits(ids):
            self.rows.append([])
            self.used = 0
        self.rows[-1].append((ids, labels))
        self.used += len(ids) - 1

    def arrays(self, pad_id: int):
        """int64 arrays tokens, targets, doc_ids, each [rows, seq_len]. doc_ids number the examples of a
        row 0, 1, ...; the padding at a row's end is a document of its own (pad tokens, IGNORE targets),
        so no example attends to it and it attends to no example."""
        shape = (len(self.rows), self.seq_len)
        tokens, targets = np.full(shape, pad_id, dtype=np.int64), np.full(shape, IGNORE, dtype=np.int64)
        doc_ids = np.zeros(shape, dtype=np.int64)
        for r, row in enumerate(self.rows):
            t = 0
            for doc, (ids, labels) in enumerate(row):
                n = len(ids) - 1
                tokens[r, t:t + n], targets[r, t:t + n], doc_ids[r, t:t + n] = ids[:-1], labels[1:], doc
                t += n
            doc_ids[r, t:] = len(row)
        return tokens, targets, doc_ids


# ----------------------------------------------------------------------------- 3. the data object

def parse_data_arg(spec: str) -> tuple[str, float]:
    """`path[:weight]` -> (path, weight); the weight defaults to 1."""
    path, sep, weight = spec.rpartition(":")
    if sep:
        try:
            return path, float(weight)
        except ValueError:
            pass
    return spec, 1.0


def load_sft_records(path, template: str = "deepseek",
                     stats: Counter | None = None) -> list[tuple[str, str, str]]:
    """The usable records of an SFT JSONL file ({"question", "solution", "format"}; format defaults to
    "cot") as (question, solution, format). Anything else is skipped and counted in `stats` by reason:
    read_jsonl's reasons, no_question, no_solution, unknown_format, no_answer_for_r1."""
    stats = stats if stats is not None else Counter()
    records = []
    for rec in read_jsonl(path, stats):
        question, solution, fmt = rec.get("question"), rec.get("solution"), rec.get("format", "cot")
        if not isinstance(question, str) or not question.strip():
            stats["no_question"] += 1
        elif not isinstance(solution, str) or not solution.strip():
            stats["no_solution"] += 1
        elif fmt not in FORMATS:
            stats["unknown_format"] += 1
        else:
            try:
                assistant_text(solution, fmt, template)
            except ValueError:
                stats["no_answer_for_r1"] += 1
                continue
            records.append((question, solution, fmt))
    return records


def held_out(records: list, val_fraction: float, split: str, seed) -> list:
    """The training or validation part of a file's records: a seeded random `val_fraction` of them
    (at least one) is the validation split; with val_fraction 0 everything is training data."""
    if split not in ("train", "val") or (split == "val" and val_fraction <= 0):
        raise ValueError(f"split must be 'train' or 'val' (with val_fraction > 0), got {split!r}")
    if val_fraction <= 0:
        return records
    order = np.random.default_rng(seed).permutation(len(records))
    n_val = max(1, round(val_fraction * len(records)))
    return [records[i] for i in sorted(order[:n_val] if split == "val" else order[n_val:])]


class SFTData:
    """Packed SFT batches for one rank: what trainer.py's `train` draws from (`next_batch`,
    `state_dict`, `load_state_dict`).

    Order, a pure function of (seed, rank, world_size, examples consumed per file):
      - each file is shuffled anew every epoch (a permutation seeded by (seed, file, epoch)) and rank r of
        W takes every W-th example of it, so ranks see disjoint examples;
      - files interleave by weight without randomness: the next example comes from the file furthest
        behind its share (weight_f * (drawn + 1) - drawn_f), so every file has supplied its share
        within one example at any time;
      - examples are tokenised when drawn, fitted to the context (`--overlong`) and packed greedily.
    The state is the examples consumed per file (plus the counters), so a resumed run continues exactly;
    an example drawn but left for the next batch is not consumed yet. `split`/`val_fraction`: a seeded
    random fraction of each file's records is held out as the validation split.
    `stats` counts this rank's examples used, truncated and dropped by reason; `load_stats` the records
    skipped when loading (the same on every rank: each rank reads every file)."""

    def __init__(self, files: list[tuple[str, float]], tokenizer: Tokenizer, seq_len: int, rows: int,
                 template: str = "deepseek", overlong: str = "truncate", seed: int = 0, rank: int = 0,
                 world_size: int = 1, split: str = "train", val_fraction: float = 0.0):
        if not files:
            raise ValueError("no SFT data: pass --data FILE[:WEIGHT] at least once")
        if any(w <= 0 for _, w in files):
            raise ValueError(f"data weights must be positive, got {[w for _, w in files]}")
        self.tokenizer, self.seq_len, self.rows = tokenizer, seq_len, rows
        self.template, self.overlong, self.seed = template, overlong, seed
        self.rank, self.world_size = rank, world_size
        self.stats, self.load_stats = Counter(), Counter()
        self.records = [held_out(load_sft_records(path, template, self.load_stats), val_fraction, split,
                                 [seed, f])
                        for f, (path, _) in enumerate(files)]
        for (path, _), recs in zip(files, self.records):
            if len(recs) < world_size:
                raise ValueError(f"{path} has {len(recs)} usable {split} records; every rank needs at least "
                                 f"one ({world_size} ranks; records skipped: {dict(self.load_stats)})")
        self.weights = np.array([w for _, w in files], dtype=np.float64) / sum(w for _, w in files)
        self.shard_len = [len(range(rank, len(recs), world_size)) for recs in self.records]
        self.consumed = [0] * len(files)
        self._shard = {}     # file -> (epoch, this rank's record indices in that epoch's order)
        self._peeked = None  # (file, ids, labels, outcome): drawn but not yet placed in a row

    def _next_file(self) -> int:
        drawn = np.array(self.consumed, dtype=np.float64)
        return int(np.argmax(self.weights * (drawn.sum() + 1) - drawn))

    def _record(self, f: int) -> tuple[str, str, str]:
        epoch, pos = divmod(self.consumed[f], self.shard_len[f])
        if self._shard.get(f, (None,))[0] != epoch:
            order = np.random.default_rng([self.seed, f, epoch]).permutation(len(self.records[f]))
            self._shard[f] = (epoch, order[self.rank::self.world_size])
        return self.records[f][self._shard[f][1][pos]]

    def _peek(self):
        """The next usable example, without consuming it; unusable ones are consumed and counted."""
        dropped_in_a_row = 0
        while self._peeked is None:
            f = self._next_file()
            question, solution, fmt = self._record(f)
            ids, labels = encode_example(self.tokenizer, question, solution, self.template, fmt)
            ids, labels, outcome = fit_to_context(ids, labels, self.seq_len, self.overlong)
            if ids is not None:
                self._peeked = (f, ids, labels, outcome)
                break
            self.stats[outcome] += 1
            self.consumed[f] += 1
            dropped_in_a_row += 1
            if dropped_in_a_row > sum(self.shard_len):
                raise ValueError(f"no SFT example fits a context of {self.seq_len} tokens with "
                                 f"--overlong {self.overlong}: {dict(self.stats)}")
        return self._peeked

    def next_batch(self) -> dict:
        """`rows` packed rows: {"tokens", "targets", "doc_ids"}, int64 tensors [rows, seq_len]."""
        packer = Packer(self.seq_len)
        while True:
            f, ids, labels, outcome = self._peek()
            if not packer.fits(ids) and len(packer.rows) == self.rows:
                break
            packer.add(ids, labels)
            self.stats["examples"] += 1
            if outcome == "truncated":
                self.stats["truncated"] += 1
            self.consumed[f] += 1
            self._peeked = None
        tokens, targets, doc_ids = packer.arrays(self.tokenizer.pad_id)
        return {"tokens": torch.from_numpy(tokens), "targets": torch.from_numpy(targets),
                "doc_ids": torch.from_numpy(doc_ids)}

    def batches(self, n: int):
        """The first n batches of this data, from the start (a fixed validation set); the
        position of the data afterwards is the start again."""
        self.consumed, self._peeked = [0] * len(self.records), None
        for _ in range(n):
            yield self.next_batch()
        self.consumed, self._peeked = [0] * len(self.records), None

    def state_dict(self) -> dict:
        """This rank's position (examples consumed per file) and counts; trainer.py stores it in
        the rank's own checkpoint file."""
        return {"consumed": list(self.consumed), "stats": dict(self.stats), "world_size": self.world_size}

    def load_state_dict(self, state: dict):
        if state["world_size"] != self.world_size:
            raise ValueError(f"the checkpoint's SFT data position was saved by {state['world_size']} ranks; "
                             f"resume it with the same number of ranks (this run has {self.world_size})")
        if len(state["consumed"]) != len(self.records):
            raise ValueError(f"the checkpoint's data state has {len(state['consumed'])} files, this run has "
                             f"{len(self.records)}: resume with the same --data")
        self.consumed = [int(c) for c in state["consumed"]]
        self.stats = Counter({k: int(v) for k, v in state["stats"].items()})
        self._peeked = None


def sft_loss(model, batch: dict):
    """(mean cross-entropy over the answer tokens of a packed batch, number of those tokens). The
    prompt and padding targets are IGNORE, so they carry no loss; `doc_ids` keep examples apart."""
    _, loss = model(batch["tokens"], batch["targets"], doc_ids=batch["doc_ids"])
    return loss, (batch["targets"] != IGNORE).sum()


# ----------------------------------------------------------------------------- 4. converters, RFT

CALCULATOR = re.compile(r"<<[^<>]*>>")  # GSM8K's calculator annotations, e.g. <<48/2=24>>


def gsm8k_to_sft(row: dict) -> dict | None:
    """A GSM8K row {"question", "answer": "...steps...\\n#### 72"} -> an SFT record whose solution is the
    steps without calculator annotations, then "The answer is \\boxed{72}." (thousands separators
    removed). None when the row has no question or no '####' answer."""
    question, answer = row.get("question"), row.get("answer")
    if (not isinstance(question, str) or not question.strip() or not isinstance(answer, str)
            or "####" not in answer):
        return None
    final = gsm8k_answer(answer)
    if not final:
        return None
    steps = CALCULATOR.sub("", answer.rsplit("####", 1)[0]).strip()
    return {"question": question.strip(), "solution": f"{steps}\nThe answer is \\boxed{{{final}}}.",
            "format": "cot"}


def math_to_sft(row: dict) -> dict | None:
    """A MATH-format row {"problem" (or "question"), "solution" ending in \\boxed{}} -> an SFT record,
    the solution unchanged. None when there is no question or no \\boxed{} answer."""
    question, solution = row.get("problem") or row.get("question"), row.get("solution")
    if not isinstance(question, str) or not question.strip() or not isinstance(solution, str) \
            or last_boxed(solution) is None:
        return None
    return {"question": question.strip(), "solution": solution.strip(), "format": "cot"}


CONVERTERS = {"gsm8k": gsm8k_to_sft, "math": math_to_sft}


def convert(kind: str, src, dst) -> Counter:
    """Convert a GSM8K or MATH-format JSONL file to SFT records; rows without an answer are skipped and
    counted. Writes `dst` and `dst`.stats.json; returns the counts."""
    stats = Counter()

    def records():
        for row in read_jsonl(src, stats):
            stats["rows"] += 1
            rec = CONVERTERS[kind](row)
            if rec is None:
                stats["skipped_no_answer"] += 1
                continue
            stats["written"] += 1
            yield rec
    write_jsonl(dst, records())
    Path(str(dst) + ".stats.json").write_text(json.dumps(dict(stats), indent=2) + "\n")
    return stats


def rft_samples(model, tokenizer: Tokenizer, problems: list[dict], k: int, temperature: float = 1.0,
                top_p: float = 1.0, max_new_tokens: int = 512, batch_size: int = 64,
                template: str = "deepseek", seed: int = 0, stats: Counter | None = None,
                progress: bool = False) -> list[dict]:
    """Rejection-sampling fine-tuning data (RFT, §5.2.1): sample k solutions per problem
    ({"question", "answer"}) from the model, keep the correct, distinct ones as SFT records.
    Dropped and counted: samples cut off before EOS (they never finished), wrong answers
    (grader.accuracy_reward), repeats of a kept solution (whitespace-normalised), and problems whose
    gold answer is unusable or whose prompt leaves no room to generate."""
    stats = stats if stats is not None else Counter()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    # problems per sampler call, each k rows: 16 slot-fulls, so the call's tail (a few long rows left
    # decoding while the queue is empty) is a small share of it, and the progress bar still moves
    per_call = max(1, 16 * batch_size // k)
    kept = []
    for start in tqdm(range(0, len(problems), per_call), desc="rft", disable=not progress):
        chunk, prompts = [], []
        for p in problems[start:start + per_call]:
            prompt = encode_prompt(tokenizer, p["question"], template)
            if not gradable(p["answer"]):  # find out before sampling for it
                stats["problems_bad_gold"] += 1
                continue
            if len(prompt) >= model.config.max_seq_len:
                stats["problems_prompt_too_long"] += 1
                continue
            chunk.append(p)
            prompts.append(prompt)
        if not chunk:
            continue
        completions, _ = generate(model, prompts, max_new_tokens, temperature, top_p,
                                  stop_ids=tokenizer.stop_ids, group_size=k, slots=batch_size,
                                  generator=generator)
        for i, p in enumerate(chunk):
            seen = set()
            for ids in completions[i * k:(i + 1) * k]:
                stats["samples"] += 1
                if not ids or ids[-1] not in tokenizer.stop_ids:
                    stats["dropped_unfinished"] += 1
                    continue
                text = tokenizer.decode(ids[:-1]).strip()
                if accuracy_reward(text, p["answer"]) < 1:
                    stats["dropped_incorrect"] += 1
                elif " ".join(text.split()) in seen:
                    stats["dropped_duplicate"] += 1
                else:
                    seen.add(" ".join(text.split()))
                    kept.append({"question": p["question"], "solution": text, "format": "cot"})
                    stats["kept"] += 1
            stats["problems"] += 1
            stats["problems_with_a_kept_solution"] += bool(seen)
    return kept


# ----------------------------------------------------------------------------- 5. command line

@dataclass
class SFTConfig(TrainConfig):
    """`sft.py train`: the trainer's fields plus the SFT data. §3.1: 500 steps of 256 packed 4K-token
    sequences at a constant 5e-5 (no warm-up is mentioned). The context defaults to the model's (4096 for
    DeepSeekMath 7B); weight decay and clipping stay DeepSeek LLM's (0.1, 1.0), which the paper does not
    restate for SFT. SFT counts the batch in packed sequences and the run in steps."""
    data: list[str] | None = flag(None, "SFT JSONL {question, solution, format}[:WEIGHT]; repeat the flag "
                                        "for a weighted mixture of files", append=True)
    init: str | None = flag(None, "checkpoint to fine-tune, ours or a Hugging Face folder (the paper: "
                                  "DeepSeekMath-Base); without it a fresh --model preset")
    tokenizer: str | None = flag(None, "tokenizer folder (default: the one --init's config.json names, or "
                                       "--init itself when it is a Hugging Face folder)")
    batch_size: int = flag(256, "packed sequences per optimiser step (paper: 256)", min=1)
    template: str = flag("deepseek", "deepseek: 'User: {q}\\n{suffix}\\n\\nAssistant: {a}<eos>'; r1: the "
                                     "R1-Zero template; think: R1's readable cold-start format",
                         choices=TEMPLATES)
    overlong: str = flag("truncate", "an example longer than the context: cut its answer's end, or drop it "
                                     "(counted)", choices=("truncate", "drop"))
    out: str = flag("runs/sft", "run folder: checkpoints/, final/, metrics.jsonl, log.txt, config.json")
    lr: float = flag(5e-5, "learning rate (§3.1: constant 5e-5)", min=0.0)
    schedule: str = flag("constant", "learning-rate schedule", choices=("multistep", "cosine", "constant"))
    warmup_steps: int = flag(0, "linear warm-up steps", min=0)
    steps: int | None = flag(500, "optimiser steps (§3.1: 500)", min=1)
    save_every: int = flag(100, "training checkpoint every N steps (0: never)", min=0)
    eval_every: int = flag(100, "validation loss every N steps (0: only at the end)", min=0)
    val_fraction: float = flag(0.0, "seeded random fraction of each file's records held out for a validation "
                                    "loss", min=0.0, max=0.5)
    batch_tokens: int | None = None  # not flags: --batch-size × --seq-len, and --steps
    total_tokens: int | None = None


@dataclass
class RFTConfig:
    """`sft.py rft`: rejection-sampling SFT data (§5.2.1): k samples per question, the distinct correct
    kept."""
    model_path: str | None = flag(None,
                                  "checkpoint to sample from, ours or a Hugging Face folder (the SFT model)",
                                  required=True)
    tokenizer: str | None = flag(None, "tokenizer folder (default: the checkpoint's, as for train --init)")
    data: str | None = flag(None, "RL records {question, answer} (GSM8K/MATH/toy rows too)", required=True)
    out: str | None = flag(None, "SFT JSONL of the kept solutions; counts go to OUT.stats.json",
                           required=True)
    k: int = flag(8, "samples per question", min=1)
    temperature: float = flag(1.0, "sampling temperature (0: greedy)", min=0.0)
    top_p: float = flag(1.0, "nucleus sampling threshold", min=0.0, max=1.0, above=True)
    max_new_tokens: int = flag(1024, "longest solution sampled", min=1)
    batch_size: int = flag(64, "sampler slots: sequences decoding at once", min=1)
    template: str = flag("deepseek", "chat template of the prompts", choices=TEMPLATES)
    seed: int = flag(0, "sampling seed")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", formatter_class=fmt, help="GSM8K / MATH-format JSONL -> SFT records")
    c.add_argument("--from", dest="kind", required=True, choices=sorted(CONVERTERS),
                   help="gsm8k: {question, answer with '#### N'}; math: {problem, solution with \\boxed{}}")
    c.add_argument("input", help="input JSONL (.gz ok)")
    c.add_argument("output", help="output SFT JSONL; counts go to OUTPUT.stats.json")

    add_flags(sub.add_parser("train", help="fine-tune a model on packed SFT examples with trainer.py's loop"),
              SFTConfig)

    add_flags(sub.add_parser("rft", help="rejection-sampling SFT data (§5.2.1)"), RFTConfig)
    return parser


@tears_down_distributed
def run_train(cfg: SFTConfig, parser) -> list[dict]:
    """`sft.py train`: trainer.py's loop with SFTData and sft_loss; the final model in OUT/final."""
    check_ranges(cfg)
    if cfg.dry_run:  # plan the run: the model and the batch in tokens are all dry_run needs
        seq_len = cfg.seq_len or model_config(cfg).max_seq_len
        return dry_run(replace(cfg, seq_len=seq_len, batch_tokens=cfg.batch_size * seq_len))
    if not cfg.data:
        parser.error("--data FILE[:WEIGHT] is required (an SFT JSONL; repeat for a mixture)")
    if not (cfg.tokenizer or cfg.init):
        parser.error("no tokenizer: pass --tokenizer (or --init, whose tokenizer is used)")
    tokenizer_path = checkpoint_tokenizer(cfg.init, cfg.tokenizer)
    tokenizer = load_tokenizer(tokenizer_path)
    proc = setup_distributed(cfg.dist_timeout)
    model_cfg = model_config(cfg, tokenizer.vocab_size)
    seq_len = cfg.seq_len or model_cfg.max_seq_len
    cfg = replace(cfg, seq_len=seq_len, batch_tokens=cfg.batch_size * seq_len)
    cfg = cfg.resolved(proc.world, model_cfg.max_seq_len)
    seed_all(cfg.seed)
    files = [parse_data_arg(spec) for spec in cfg.data]
    common = dict(tokenizer=tokenizer, seq_len=cfg.seq_len, rows=cfg.micro_batch, template=cfg.template,
                  overlong=cfg.overlong, seed=cfg.seed, rank=proc.rank, world_size=proc.world,
                  val_fraction=cfg.val_fraction)
    data = SFTData(files, split="train", **common)
    val = SFTData(files, split="val", **common) if cfg.val_fraction > 0 else None
    model = build_model(model_cfg, cfg, proc)
    optimizer = build_optimizer(model, cfg)
    out = Path(cfg.out)
    if proc.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(
            {"train": asdict(cfg), "model": asdict(model_cfg), "world_size": proc.world,
             "tokenizer": tokenizer_path, "sft": {"data": files}}, indent=2))
        print(f"SFT: {sum(map(len, data.records)):,} examples in {len(files)} files "
              f"(skipped on load: {dict(data.load_stats) or 'none'}); {cfg.steps} steps of {cfg.batch_size} "
              f"packed sequences of {cfg.seq_len} tokens; {proc.world} × {proc.device.type}, {cfg.parallel}")
    val_batches = (lambda: val.batches(cfg.eval_steps * cfg.accum_steps(proc.world))) if val else None
    records = train(model, optimizer, data, sft_loss, cfg, proc, val_batches=val_batches)
    export_model(model, out / "final", proc, tokenizer=tokenizer_path)
    totals = [dict(data.stats)]
    if proc.world > 1:
        totals = [None] * proc.world
        dist.all_gather_object(totals, dict(data.stats))
    if proc.is_main:
        stats = {"skipped_on_load": dict(data.load_stats),
                 "examples": dict(sum((Counter(s) for s in totals), Counter()))}
        (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        print(f"data: {stats}")
    return records


def run_rft(args: RFTConfig) -> Counter:
    """`sft.py rft`: sample, keep the correct distinct solutions, write them and the counts."""
    tokenizer = load_tokenizer(checkpoint_tokenizer(args.model_path, args.tokenizer))
    model = load_frozen(args.model_path, "cuda" if torch.cuda.is_available() else "cpu")
    stats = Counter()
    problems = load_benchmark(args.data, stats=stats)
    kept = rft_samples(model, tokenizer, problems, args.k, args.temperature, args.top_p, args.max_new_tokens,
                       args.batch_size, args.template, args.seed, stats, progress=True)
    write_jsonl(args.out, kept)
    Path(str(args.out) + ".stats.json").write_text(json.dumps(dict(stats), indent=2) + "\n")
    print(f"rft: kept {stats['kept']} of {stats['samples']} samples from {stats['problems']} problems; "
          f"{dict(stats)}")
    return stats


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "convert":
        stats = convert(args.kind, args.input, args.output)
        print(f"convert: {dict(stats)}")
        return stats
    if args.command == "train":
        return run_train(config_from(SFTConfig, args), parser)
    return run_rft(config_from(RFTConfig, args))


if __name__ == "__main__":
    run_cli(main)
