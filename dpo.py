"""DPO, the offline pairwise row of DeepSeekMath's Table 10 (§5.2.1, Appendix A.1.3).

Pairs (o⁺, o⁻) are sampled from the SFT model and judged by the rule reward (o⁺ correct, o⁻ wrong, for the
same question q); the policy π_θ, initialised from the SFT model, maximises (the paper's length-normalised
form of Rafailov et al. 2023)

  J_DPO(θ) = E[ log σ( β/|o⁺| Σ_t log π_θ(o⁺_t | q, o⁺_<t)/π_ref(o⁺_t | q, o⁺_<t)
                     - β/|o⁻| Σ_t log π_θ(o⁻_t | q, o⁻_<t)/π_ref(o⁻_t | q, o⁻_<t) ) ]

with π_ref the frozen SFT model. Its gradient is Table 10's: every token of o⁺ gets the coefficient

  GC(q, o⁺, t) = σ(β/|o⁻| Σ log π_θ/π_ref (o⁻) - β/|o⁺| Σ log π_θ/π_ref (o⁺))

and every token of o⁻ the same with a minus sign (each divided by its own output's length): the pair
pushes hardest where the policy still ranks the wrong answer above the right one.

    python dpo.py pairs --model-path runs/toy/sft/final --data runs/toy/world/rl.jsonl \\
        --out runs/table10/pairs.jsonl
    python dpo.py train --init runs/toy/sft/final --data runs/table10/pairs.jsonl \\
        --out runs/table10/dpo --steps 50

The training data path is sft.py's (the prompt template, answer-only targets from `encode_example`, greedy
packing by `Packer`, documents kept apart by doc_ids); the loop, DDP/FSDP and checkpoints are trainer.py's.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from flags import check_ranges, flag, run_cli, run_command
from formats import read_jsonl, write_jsonl
from grader import accuracy_reward
from grpo import GRPOConfig, load_questions, sample
from sft import IGNORE, TEMPLATES, Packer, encode_example, fit_to_context
from hf import load_tokenizer
from tokenizer import Tokenizer, checkpoint_tokenizer
from trainer import (TrainConfig, build_model, build_optimizer, dry_run, export_model, load_frozen,
                     model_config, seed_all, setup_distributed, tears_down_distributed, train)


# ----------------------------------------------------------------------------- the loss and its gradient

def dpo_loss(logratio_chosen: torch.Tensor, logratio_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """-log σ(β (r⁺ - r⁻)) per pair, r = 1/|o| Σ_t log π_θ/π_ref (the length-normalised log-ratio), [P]."""
    return -F.logsigmoid(beta * (logratio_chosen - logratio_rejected))


def example_logratios(model, reference, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """1/|o| Σ_t (log π_θ - log π_ref) over the answer tokens of each packed example -> [examples]
    for π_θ with grad; examples are numbered by `batch["example"]` (-1: padding)."""
    def mean_logprobs(net):
        _, logprobs = net(batch["tokens"], batch["targets"], doc_ids=batch["doc_ids"], reduce=False)
        return logprobs.float()

    with torch.no_grad():
        reference_lp = mean_logprobs(reference)
    diff = mean_logprobs(model) - reference_lp  # 0 where the target is IGNORE (prompt, padding)
    answer = batch["targets"] != IGNORE
    index = batch["example"].clamp(min=0).flatten()
    n = int(batch["example"].max()) + 1
    sums = torch.zeros(n, device=diff.device).index_add(0, index, (diff * answer).flatten())
    counts = torch.zeros(n, device=diff.device).index_add(0, index, answer.flatten().float())
    return sums / counts.clamp(min=1)


# ----------------------------------------------------------------------------- pairs from the SFT model

def make_pairs(questions: list[dict], texts: list[str], finished: list[bool], k: int,
               stats: Counter) -> list[dict]:
    """k samples per question (texts[q·k + i]) -> pairs {"question", "answer", "chosen", "rejected"}: the
    i-th correct sample with the i-th wrong one (each sample in one pair at most). Counted: unfinished samples
    (no EOS: left out), questions with no correct or no wrong sample (no pair)."""
    pairs = []
    for q, question in enumerate(questions):
        right, wrong = [], []
        for text, done in zip(texts[q * k:(q + 1) * k], finished[q * k:(q + 1) * k], strict=True):
            if not done:
                stats["unfinished"] += 1
                continue
            stats["judged"] += 1
            (right if accuracy_reward(text, question["answer"]) == 1.0 else wrong).append(text)
        if not right or not wrong:
            stats["questions_without_pair"] += 1
        for chosen, rejected in zip(right, wrong):
            pairs.append({"question": question["question"], "answer": question["answer"],
                          "chosen": chosen, "rejected": rejected})
        stats["pairs"] += min(len(right), len(wrong))
    return pairs


@dataclass
class PairsConfig:
    """`dpo.py pairs`: k samples per question from the SFT model, judged by the rule reward."""
    model_path: str | None = flag(None, "the SFT model to sample from", required=True)
    data: str | None = flag(None, 'RL questions, JSONL {"question", "answer"}', required=True)
    out: str | None = flag(None, "pairs JSONL; counts go to OUT.stats.json", required=True)
    tokenizer: str | None = flag(None, "tokenizer folder (default: the checkpoint's)")
    template: str = flag("deepseek", "prompt template", choices=TEMPLATES)
    limit: int | None = flag(None, "sample for the first N usable questions (default: all)", min=1)
    k: int = flag(8, "samples per question", min=2)
    max_new_tokens: int = flag(512, "longest sample", min=1)
    temperature: float = flag(1.0, "sampling temperature", min=0.0, above=True)
    rollout_batch: int = flag(64, "sequences per generate call", min=1)
    seed: int = flag(0, "sampling seed")


def run_pairs(args: PairsConfig) -> Counter:
    """Sample with grpo.py's rollout engine (`sample`), pair right with wrong, write the pairs."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = load_tokenizer(checkpoint_tokenizer(args.model_path, args.tokenizer))
    model = load_frozen(args.model_path, device)
    stats = Counter()
    max_seq_len = model.config.max_seq_len
    questions = load_questions(args.data, tokenizer, args.template, max_seq_len, stats)[:args.limit]
    stats["sampled_questions"] = len(questions)  # "questions" counts the usable ones read, before --limit
    cfg = GRPOConfig(init=args.model_path, group_size=args.k, max_new_tokens=args.max_new_tokens,
                     temperature=args.temperature, rollout_batch=args.rollout_batch)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    rollout = sample(model, questions, cfg, tokenizer, generator)
    pairs = make_pairs(questions, rollout.texts, (~rollout.truncated).tolist(), args.k, stats)
    write_jsonl(args.out, pairs)
    Path(str(args.out) + ".stats.json").write_text(json.dumps(dict(stats), indent=2) + "\n")
    print(f"pairs: {dict(stats)}")
    return stats


# ----------------------------------------------------------------------------- packed pairs

class PairData:
    """Packed micro-batches of whole pairs for one rank (trainer.train's `next_batch` / state). Each pair
    becomes two examples (chosen, then rejected) by sft.encode_example (answer-only targets), packed
    greedily by sft.Packer; a pair goes into a micro-batch whole or waits for the next one. Order: a
    permutation per epoch seeded by (seed, epoch), rank r taking every W-th pair; the state is the count
    of pairs consumed. Pairs that do not fit the context (`fit_to_context`, --overlong drop) are skipped
    and counted in `stats`."""

    def __init__(self, path, tokenizer: Tokenizer, seq_len: int, rows: int, template: str = "deepseek",
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        self.tokenizer, self.seq_len, self.rows, self.seed = tokenizer, seq_len, rows, seed
        self.stats, self.pairs = Counter(), []
        for rec in read_jsonl(path, self.stats):
            if not all(isinstance(rec.get(key), str) and rec[key].strip() for key in ("question", "chosen",
                                                                                       "rejected")):
                self.stats["bad_pair"] += 1
                continue
            encoded = [fit_to_context(*encode_example(tokenizer, rec["question"], rec[key], template),
                                      seq_len, "drop")[:2] for key in ("chosen", "rejected")]
            if any(ids is None for ids, _ in encoded):
                self.stats["pair_too_long"] += 1
                continue
            self.pairs.append(encoded)
        if len(self.pairs) < world_size:
            raise ValueError(f"{path}: {len(self.pairs)} usable pairs for {world_size} ranks "
                             f"({dict(self.stats)})")
        self.rank, self.world_size, self.consumed = rank, world_size, 0

    def _pair(self, position: int):
        per_rank = len(range(self.rank, len(self.pairs), self.world_size))
        epoch, i = divmod(position, per_rank)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))
        return self.pairs[order[self.rank::self.world_size][i]]

    def next_batch(self) -> dict:
        """{"tokens", "targets", "doc_ids", "example"} [rows, seq_len]; example 2p / 2p+1: pair p's chosen /
        rejected output, -1 on padding."""
        packer, start = Packer(self.seq_len), self.consumed
        while True:
            trial = Packer(self.seq_len)
            trial.rows, trial.used = [list(row) for row in packer.rows], packer.used
            pair = self._pair(self.consumed)
            for ids, labels in pair:
                trial.add(ids, labels)
            if len(trial.rows) > self.rows:
                if self.consumed == start:
                    raise ValueError(f"a pair of {sum(len(ids) for ids, _ in pair)} tokens does not fit "
                                     f"--micro-batch {self.rows} rows of {self.seq_len}: raise either")
                break
            packer = trial
            self.consumed += 1
        tokens, targets, doc_ids = packer.arrays(self.tokenizer.pad_id)
        first = np.cumsum([0] + [len(row) for row in packer.rows[:-1]])[:, None]  # each row's doc 0
        docs_per_row = np.array([len(row) for row in packer.rows])[:, None]
        example = np.where(doc_ids < docs_per_row, first + doc_ids, -1)
        return {"tokens": torch.from_numpy(tokens), "targets": torch.from_numpy(targets),
                "doc_ids": torch.from_numpy(doc_ids), "example": torch.from_numpy(example)}

    def state_dict(self) -> dict:
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict):
        self.consumed = int(state["consumed"])


# ----------------------------------------------------------------------------- training

@dataclass
class DPOConfig(TrainConfig):
    """`dpo.py train`: the trainer's fields plus the pairs and β."""
    init: str | None = flag(None, "the SFT model: π_θ starts from it and π_ref is a frozen copy",
                            required=True)
    data: str | None = flag(None, "pairs JSONL from `dpo.py pairs`", required=True)
    out: str = flag("runs/dpo", "run folder: checkpoints/, final/, metrics.jsonl, log.txt, config.json")
    tokenizer: str | None = flag(None, "tokenizer folder (default: the checkpoint's)")
    template: str = flag("deepseek", "prompt template", choices=TEMPLATES)
    beta: float = flag(0.1, "β of the DPO loss (not given in the paper; Rafailov et al.'s 0.1)", min=0.0,
                       above=True)
    lr: float = flag(1e-6, "learning rate (not given in the paper)", min=0.0)
    schedule: str = flag("constant", "learning-rate schedule", choices=("multistep", "cosine", "constant"))
    warmup_steps: int = flag(0, "linear warm-up steps", min=0)
    steps: int | None = flag(100, "optimiser steps", min=1)
    val_fraction: float = 0.0  # not flags: DPO reports the loss and the pair accuracy of its batches
    total_tokens: int | None = None


@tears_down_distributed
def run_train(cfg: DPOConfig) -> list[dict]:
    """trainer.train on PairData with the DPO loss against the frozen SFT model; the model in OUT/final."""
    check_ranges(cfg)
    if cfg.dry_run:  # the policy's training plan, plus the frozen reference: a whole bf16 copy on every rank
        return dry_run(cfg, held={"π_ref (bf16, whole)": 2})
    proc = setup_distributed(cfg.dist_timeout)
    tokenizer_path = checkpoint_tokenizer(cfg.init, cfg.tokenizer)
    tokenizer = load_tokenizer(tokenizer_path)
    model_cfg = model_config(cfg)
    cfg = cfg.resolved(proc.world, model_cfg.max_seq_len)
    seed_all(cfg.seed)
    data = PairData(cfg.data, tokenizer, cfg.seq_len, cfg.micro_batch, cfg.template, cfg.seed, proc.rank,
                    proc.world)
    model = build_model(model_cfg, cfg, proc)
    reference = load_frozen(cfg.init, proc.device)

    def loss_fn(net, batch):
        ratios = example_logratios(net, reference, batch)
        losses = dpo_loss(ratios[0::2], ratios[1::2], cfg.beta)
        return losses.mean(), losses.numel()

    if proc.is_main:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "config.json").write_text(json.dumps({"dpo": asdict(cfg), "model": asdict(model_cfg),
                                                               "data": dict(data.stats)}, indent=2))
        print(f"DPO: {len(data.pairs)} pairs ({dict(data.stats)}), β = {cfg.beta}, {cfg.steps} steps")
    records = train(model, build_optimizer(model, cfg), data, loss_fn, cfg, proc)
    export_model(model, Path(cfg.out) / "final", proc, tokenizer=tokenizer_path)
    return records


COMMANDS = {"pairs": ("sample pairs (o+, o-) from the SFT model", PairsConfig, run_pairs),
            "train": ("train on the pairs with the DPO loss", DPOConfig, run_train)}


def main(argv=None):
    return run_command(__doc__.split("\n\n")[0], COMMANDS, argv)


if __name__ == "__main__":
    run_cli(main)
