"""Rewards for math reasoning: rule rewards (re-exported from grader.py) and learned reward models.

GRPO (DeepSeekMath §4.1) and evaluation stand on this file and the two it re-exports:
  1-3. grader.py: extract_answer (the final answer a completion states), math_equal (are two
     answers the same mathematical object? a safe parser, no eval, no sympy) and the rule rewards
     of DeepSeek-R1 (accuracy and format).
  4. Learned reward models (§4.1.2-4.1.4): an outcome (ORM) or process (PRM) reward model, the
     decoder with a scalar head; step labels the Math-Shepherd way; a replay buffer for iterative RL.

    python reward.py label --policy runs/sft/final --data rl.jsonl --samples 8 --out rm_data.jsonl
    python reward.py train --kind prm --data rm_data.jsonl --init runs/sft/final --out runs/prm
Model-written programs run in sandbox.py (run_program, program_answer, ProgramResult are re-exported).
"""
from __future__ import annotations

import functools
import json
import math
import random
import re
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from tqdm import tqdm

from formats import read_jsonl, write_jsonl
from grader import (accuracy_reward, extract_answer, format_reward, gradable, math_equal,  # noqa: F401
                    rule_reward)
from hf import checkpoint_config, load_tokenizer
from model import ModelConfig, Transformer, read_config
from flags import check_ranges, flag, run_cli, run_command
from trainer import (TrainConfig, build_model, build_optimizer, copy_weights, dry_run, export_model,
                     load_frozen, seed_all, setup_distributed, tears_down_distributed, train, unwrap,
                     use_bf16, wrap_model)
from sampler import generate
from sandbox import ProgramResult, program_answer, run_program  # noqa: F401 (re-exported)
from sft import IGNORE, TEMPLATES, Packer, answer_end, encode_prompt
from tokenizer import Tokenizer, checkpoint_tokenizer


# ----------------------------------------------------------------------------- learned reward models
#
# Instead of rules, GRPO can be paid by a learned reward model (§4.1.2 outcome, §4.1.3 process
# supervision). Both kinds are the decoder with a scalar head, trained with binary cross-entropy:
#   ORM  one score at an output's last token: is its final answer right?
#   PRM  one score at the last token of each reasoning step: is the step good? Step labels come the
#        Math-Shepherd way (Wang et al. 2023, arXiv 2312.08935): from each step's prefix the policy
#        completes N times; the step is good if any completion reaches the right answer ("hard
#        estimation"). The toy world's steps can also be checked exactly (toy_step_labels).
# §4.2 builds the reward model's training set following Math-Shepherd and trains the first reward model
# from DeepSeekMath-Base 7B with learning rate 2e-5; in iterative RL (§4.1.4) it is retrained on samples
# of the new policy with "a replay mechanism that incorporates 10% of historical data" (ReplayBuffer).

KINDS = ("orm", "prm")


class RewardModel(nn.Module):
    """model.py's decoder with a scalar head: `rm(tokens[B, T], doc_ids=None) -> scores[B, T]`, one logit
    per position; sigmoid(score) is the probability that the output (ORM) or the step (PRM) is good.

    The head, Linear(d_model, 1), takes the place of the language-model head, so the decoder's own
    forward (RoPE, packed documents, input checks) runs unchanged and every parameter is trained."""

    def __init__(self, config: ModelConfig, kind: str = "orm"):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"reward model kind must be one of {KINDS}, got {kind!r}")
        self.config, self.kind = config, kind
        # untied: the scalar head replaces the LM head, also of a model whose head is its embedding (Qwen2.5)
        self.decoder = Transformer(replace(config, tie_embeddings=False))
        self.decoder.lm_head = nn.Linear(config.d_model, 1)
        self.init_weights()

    @property
    def layers(self) -> nn.ModuleList:
        """The blocks, for pretrain.wrap_model (activation checkpointing, compile, FSDP per block)."""
        return self.decoder.layers

    def init_weights(self):
        self.decoder.init_weights()

    def forward(self, tokens, doc_ids=None):
        logits, _ = self.decoder(tokens, doc_ids=doc_ids)  # [B, T, 1]
        return logits[..., 0].float()

    @torch.no_grad()
    def probabilities(self, sequences: list[list[int]], positions: list[list[int]], batch_size: int = 16):
        """sigmoid(score) at `positions[i]` of `sequences[i]`. Batches are right-padded: with causal
        attention, tokens after a position never change its score."""
        device = self.decoder.embed.weight.device
        out = []
        for s in range(0, len(sequences), batch_size):
            chunk = sequences[s:s + batch_size]
            tokens = torch.zeros(len(chunk), max(map(len, chunk), default=1), dtype=torch.long)
            for i, (seq, pos) in enumerate(zip(chunk, positions[s:s + batch_size], strict=True)):
                if not seq or not all(0 <= p < len(seq) for p in pos):
                    raise ValueError(f"positions {pos} are not within a sequence of {len(seq)} tokens")
                tokens[i, :len(seq)] = torch.tensor(seq)
            probs = torch.sigmoid(self(tokens.to(device))).cpu()
            out += [probs[i, pos].tolist() for i, pos in enumerate(positions[s:s + batch_size])]
        return out

    def outcome_rewards(self, sequences: list[list[int]]) -> list[float]:
        """ORM: sigmoid(score at the last token) of each prompt + output."""
        return [p[0] for p in self.probabilities(sequences, [[len(s) - 1] for s in sequences])]

    def step_rewards(self, sequences: list[list[int]], step_ends: list[list[int]]) -> list[list[float]]:
        """PRM: sigmoid(score) at each step's last token (indices into the sequences)."""
        return self.probabilities(sequences, step_ends)

    @staticmethod
    def from_lm_state(state: dict) -> tuple[dict, set]:
        """A language model's weights as a reward model's starting point (pretrain.load_weights'
        `adapt`): the decoder carries over, the scalar head starts fresh (§4.2 initialises the reward
        model from DeepSeekMath-Base)."""
        decoder = {"decoder." + k: v for k, v in state.items() if not k.startswith("lm_head.")}
        return decoder, {"decoder.lm_head.weight", "decoder.lm_head.bias"}

    def save(self, path, tokenizer: str | None = None, state_dict: dict | None = None):
        """A folder like model.py's: config.json (kind, decoder config, tokenizer location) + model.pt.
        `state_dict`: the tensors to write when not this module's own (as Transformer.save)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(
            {"kind": self.kind, "model": asdict(self.config), "tokenizer": tokenizer}, indent=2))
        torch.save(self.state_dict() if state_dict is None else state_dict, path / "model.pt")

    @classmethod
    def load(cls, path, device="cpu", dtype=None) -> "RewardModel":
        """A folder written by `save`: built on `meta`, then filled with the memory-mapped tensors."""
        path = Path(path)
        config = read_config(path)  # a clear error when there is no checkpoint at all
        kind = json.loads((path / "config.json").read_text()).get("kind")
        if kind is None:
            raise ValueError(f"{path} is a language-model checkpoint, not a reward model (no 'kind' in "
                             f"config.json)")
        if not (path / "model.pt").is_file():
            raise FileNotFoundError(f"{path}/model.pt is missing: not a reward model folder")
        with torch.device("meta"):
            model = cls(config, kind)
        model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", mmap=True, weights_only=True),
                              assign=True)
        model.decoder.init_rope()  # the RoPE tables are not stored: built off `meta`, moved, and
        model = model.to(device=device, dtype=dtype)
        model.decoder.init_rope()  # built again in fp32 on the target device (as Transformer.load)
        return model


def step_end_positions(completion_ids: list[int], tokenizer: Tokenizer) -> list[int]:
    """Indices into `completion_ids` of the last token of each reasoning step.

    Steps are the non-blank lines of the text. A step ends at the token holding its newline, so its
    score has seen the whole step and that it is over (Math-Shepherd marks step ends with a tag token
    for the same reason); the last step ends at the last token (EOS included), and a token holding
    several line ends closes them all. Newlines are looked for in each token's bytes (byte 0x0A never
    occurs inside a multi-byte UTF-8 character); special tokens carry no text."""
    specials = {tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id}
    ends, open_step = [], False  # open_step: the current line has visible text
    for i, token in enumerate(completion_ids):
        if token in specials:
            continue
        *closed, rest = tokenizer.token_bytes(token).split(b"\n")
        if closed:
            if open_step or any(part.strip() for part in closed):
                ends.append(i)
            open_step = False
        open_step |= bool(rest.strip())
    if open_step or (not ends and completion_ids):
        ends.append(len(completion_ids) - 1)
    elif ends:
        ends[-1] = len(completion_ids) - 1  # trailing blank lines and EOS belong to the last step
    return ends


def completion_steps(completion_ids: list[int], tokenizer: Tokenizer) -> list[str]:
    """The text of each step of step_end_positions."""
    ends = step_end_positions(completion_ids, tokenizer)
    return [plain_text(completion_ids[a + 1:b + 1], tokenizer) for a, b in zip([-1] + ends[:-1], ends)]


def plain_text(ids: list[int], tokenizer: Tokenizer) -> str:
    """The text of token ids without the special tokens (EOS, padding) a sample may hold."""
    return tokenizer.decode([t for t in ids if t not in {tokenizer.bos_id, tokenizer.pad_id,
                                                         *tokenizer.stop_ids}])


# ----------------------------------------------------------------------------- step labels

_COMPUTATION = re.compile(r"\s*(-?\d+)\s*([-+*/])\s*(-?\d+)\s*=\s*(-?\d+)\s*\.?\s*")


def _computation(line: str) -> tuple[bool, int] | None:
    """A toy CoT line "a op b = c" -> (is a op b exactly c, c); None if the line is no computation."""
    m = _COMPUTATION.fullmatch(line)
    if not m:
        return None
    a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
    right = {"+": a + b == c, "-": a - b == c, "*": a * b == c, "/": b != 0 and a == b * c}[op]
    return right, c


def toy_step_labels(steps: list[str], reference: str, gold: str) -> list[int]:
    """Exact step labels in the toy world, whose CoT lines are computations "a op b = c" (toy_data.py).

    A step is good (1) if it is
      - an answer line (extract_answer finds one): the answer is right (accuracy_reward);
      - a computation that is right (a op b == c exactly) and whose result c is the reference chain's
        result at the same position (the k-th computation of the output against the k-th of the
        reference solution), whatever came before: from a result on the chain the right answer is
        still reachable, from one off it (toy problems have one chain of exact operations) it is not.
    Anything else is bad (0): wrong arithmetic, a result off the chain, a computation beyond the
    reference's, a line that is neither. This is Math-Shepherd's hard estimate with a completer that
    finishes every prefix correctly when it can."""
    chain = [c for _, c in filter(None, map(_computation, reference.split("\n")))]
    labels, k = [], 0
    for step in steps:
        computation = _computation(step)
        if extract_answer(step) is not None:
            labels.append(int(accuracy_reward(step, gold)))
        elif computation is None:
            labels.append(0)
        else:
            right, c = computation
            labels.append(int(right and k < len(chain) and c == chain[k]))
            k += 1
    return labels


def mc_step_labels(policy: Transformer, tokenizer: Tokenizer, prompt: list[int], completions: list[list[int]],
                   gold: str, n: int, max_new_tokens: int, temperature: float = 1.0, generator=None,
                   batch_size: int | None = 64) -> list[list[int]]:
    """Math-Shepherd's hard estimate for the outputs `completions` of one prompt: from the prefix ending
    at each step, the policy writes n completions; the step is good (1) if any reaches the gold answer.
    The last step's label is the output's own correctness (the output is its own completion)."""
    ends = [step_end_positions(c, tokenizer) for c in completions]
    labels = [[0] * (len(e) - 1) + [int(accuracy_reward(plain_text(c, tokenizer), gold))] if e else []
              for c, e in zip(completions, ends)]
    prefixes = [(i, j, c[:end + 1]) for i, c in enumerate(completions) for j, end in enumerate(ends[i][:-1])]
    if prefixes:  # each prefix is prefilled once for its n completions
        outs, _ = generate(policy, [prompt + prefix for _, _, prefix in prefixes], max_new_tokens,
                           temperature, stop_ids=tokenizer.stop_ids, group_size=n, slots=batch_size,
                           generator=generator)
        for k, out in enumerate(outs):
            i, j, prefix = prefixes[k // n]
            labels[i][j] |= int(accuracy_reward(plain_text(prefix + out, tokenizer), gold))
    return labels


def label_samples(policy: Transformer, tokenizer: Tokenizer, records: list[dict], samples: int,
                  method: str = "mc", mc_samples: int = 8, template: str = "deepseek",
                  max_new_tokens: int = 512, temperature: float = 1.0, batch_size: int | None = 64,
                  seed: int = 0, stats: Counter | None = None, progress: bool = False) -> list[dict]:
    """Reward-model data: `samples` outputs of the policy per question ({"question", "answer"}; exact
    labels need the reference "solution" too), graded by accuracy_reward and labelled per step by
    `method` ("mc": mc_step_labels with `mc_samples` completions, none when 0, as an ORM needs none;
    "exact": toy_step_labels). Records {"question", "answer", "completion" (text), "finished" (ended with
    EOS), "correct", "step_labels" (None when not estimated)}. Skipped and counted in `stats`:
    no_question, bad_gold, no_solution (exact), prompt_too_long."""
    stats = stats if stats is not None else Counter()
    usable = []
    for rec in records:
        question, gold, solution = rec.get("question"), rec.get("answer"), rec.get("solution")
        if not gradable(gold):
            stats["bad_gold"] += 1
            continue
        gold = str(gold)
        if not isinstance(question, str) or not question.strip():
            stats["no_question"] += 1
        elif method == "exact" and not isinstance(solution, str):
            stats["no_solution"] += 1
        elif len(prompt := encode_prompt(tokenizer, question, template)) >= policy.config.max_seq_len:
            stats["prompt_too_long"] += 1
        else:
            usable.append((question, gold, solution, prompt))
    generator = torch.Generator(device=policy.embed.weight.device).manual_seed(seed)
    # 16 slot-fulls a call (as sft.rft_samples); batch_size None: the sampler's memory rule, one call
    per_call, out = max(1, 16 * batch_size // samples) if batch_size else max(1, len(usable)), []
    for s in tqdm(range(0, len(usable), per_call), desc="label", disable=not progress):
        chunk = usable[s:s + per_call]
        completions, _ = generate(policy, [c[3] for c in chunk], max_new_tokens, temperature,
                                  stop_ids=tokenizer.stop_ids, group_size=samples, slots=batch_size,
                                  generator=generator)
        for q, (question, gold, solution, prompt) in enumerate(chunk):
            outputs = completions[q * samples:(q + 1) * samples]
            if method == "exact":
                step_labels = [toy_step_labels(completion_steps(c, tokenizer), solution, gold)
                               for c in outputs]
            elif mc_samples > 0:
                step_labels = mc_step_labels(policy, tokenizer, prompt, outputs, gold, mc_samples,
                                             max_new_tokens, temperature, generator, batch_size)
            else:
                step_labels = [None] * len(outputs)
            for ids, labels in zip(outputs, step_labels):
                text, finished = plain_text(ids, tokenizer), ids[-1] in tokenizer.stop_ids
                correct = int(accuracy_reward(text, gold))
                out.append({"question": question, "answer": gold, "completion": text, "finished": finished,
                            "correct": correct, "step_labels": labels})
                stats.update(samples=1, correct=correct, unfinished=int(not finished))
    return out


# ----------------------------------------------------------------------------- training

def reward_example(rec: dict, tokenizer: Tokenizer, kind: str, template: str = "deepseek"):
    """A labelled record -> (ids, labels) as sft.Packer takes them, or the reason it is unusable.

    The sequence is the chat prompt (encoded as grpo.py and the policy see it) + the completion (+ its end,
    EOS or the chat template's end of turn, if it finished); the labels are 0/1 at the scored positions (ORM:
    the last token; PRM: each step's end) and IGNORE elsewhere. Packer feeds ids[:-1] with targets labels[1:]
    (next-token style), while a reward label belongs to the token itself: hence one padding id after and one
    IGNORE before."""
    question, completion = rec.get("question"), rec.get("completion")
    if not isinstance(question, str) or not isinstance(completion, str) or "correct" not in rec:
        return "malformed_record"
    prompt = encode_prompt(tokenizer, question, template)
    ids = tokenizer.encode(completion) + (answer_end(tokenizer, template) if rec.get("finished") else [])
    if not ids:
        return "empty_completion"
    if kind == "orm":
        ends, labels = [len(ids) - 1], [int(rec["correct"])]
    else:
        ends, labels = step_end_positions(ids, tokenizer), rec.get("step_labels") or []
        if len(ends) != len(labels):  # the re-encoded text splits into other steps than the sample's
            return "step_count_mismatch"
    targets = [IGNORE] * (len(prompt) + len(ids))
    for end, label in zip(ends, labels):
        targets[len(prompt) + end] = int(label)
    return prompt + ids + [tokenizer.pad_id], [IGNORE] + targets


class RewardData:
    """Packed reward-model batches for one rank, drawn by trainer.train: {"tokens", "labels", "doc_ids"}
    [rows, seq_len], packed like SFT examples (sft.Packer; doc_ids keep examples apart). Each epoch is a
    permutation seeded by (seed, epoch) of which rank r of W takes every W-th example. State: the number
    of examples consumed, so a resumed run continues exactly."""

    def __init__(self, examples: list, seq_len: int, rows: int, pad_id: int, seed: int = 0, rank: int = 0,
                 world: int = 1):
        self.examples, self.seq_len, self.rows, self.pad_id = examples, seq_len, rows, pad_id
        self.seed, self.rank, self.world, self.consumed, self._order = seed, rank, world, 0, (None, None)

    def _example(self, k: int):
        shard = len(range(self.rank, len(self.examples), self.world))
        if shard == 0:
            raise ValueError(f"{len(self.examples)} training examples are fewer than the {self.world} ranks")
        epoch, pos = divmod(k, shard)
        if self._order[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.examples))
            self._order = (epoch, order[self.rank::self.world])
        return self.examples[self._order[1][pos]]

    def _batch(self, packer: Packer) -> dict:
        tokens, labels, doc_ids = (torch.from_numpy(a) for a in packer.arrays(self.pad_id))
        return {"tokens": tokens, "labels": labels, "doc_ids": doc_ids}

    def next_batch(self) -> dict:
        packer = Packer(self.seq_len)
        while True:
            ids, labels = self._example(self.consumed)
            if not packer.fits(ids) and len(packer.rows) == self.rows:
                return self._batch(packer)
            packer.add(ids, labels)
            self.consumed += 1

    def batches(self):
        """One pass over this rank's examples in order (validation)."""
        packer = Packer(self.seq_len)
        for ids, labels in self.examples[self.rank::self.world]:
            if not packer.fits(ids) and len(packer.rows) == self.rows:
                yield self._batch(packer)
                packer = Packer(self.seq_len)
            packer.add(ids, labels)
        if packer.rows[0]:
            yield self._batch(packer)

    def state_dict(self) -> dict:
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict):
        self.consumed = int(state["consumed"])


def reward_loss(model, batch: dict):
    """Binary cross-entropy of the scores at the labelled positions: (mean, number of labels)."""
    scores = model(batch["tokens"], doc_ids=batch["doc_ids"])
    labelled = batch["labels"] != IGNORE
    n = labelled.sum()
    loss = F.binary_cross_entropy_with_logits(scores[labelled], batch["labels"][labelled].float(),
                                              reduction="sum")
    return loss / n.clamp(min=1), n


class ReplayBuffer:
    """Iterative RL (§4.1.4): the reward model is retrained on samples of the new policy "using a replay
    mechanism that incorporates 10% of historical data". `mix(new)` returns the new records plus
    round(share × len(history)) records of the history, drawn uniformly without replacement (seeded by
    (seed, round)), then adds the new records to the history."""

    def __init__(self, share: float = 0.1, seed: int = 0):
        if not 0 <= share <= 1:
            raise ValueError(f"replay share must be in [0, 1], got {share}")
        self.share, self.seed, self.rounds, self.history = share, seed, 0, []

    def add(self, records: list[dict]):
        self.history.extend(records)

    def mix(self, new: list[dict]) -> list[dict]:
        replay = random.Random(f"{self.seed}/{self.rounds}").sample(self.history,
                                                                    round(self.share * len(self.history)))
        self.add(new)
        self.rounds += 1
        return list(new) + replay

    def state_dict(self) -> dict:
        return {"share": self.share, "seed": self.seed, "rounds": self.rounds, "history": list(self.history)}

    def load_state_dict(self, state: dict):
        self.share, self.seed, self.rounds, self.history = (state["share"], state["seed"], state["rounds"],
                                                           list(state["history"]))


def retrain_reward_model(reward_model, sampler, questions: list[dict], replay: ReplayBuffer, cfg, proc,
                         tokenizer: Tokenizer, iteration: int) -> dict:
    """Algorithm 1, line 12 (§4.1.4): "update r_φ through continuous training using a replay mechanism".
    `cfg` is the GRPO run's (grpo.GRPOConfig). --rm-questions questions (a fresh draw each iteration,
    shared out over the ranks) get --rm-samples outputs of the current policy each, labelled by
    label_samples: correct or not (ORM), and per step Math-Shepherd's estimate or the toy world's exact
    check (PRM). Every rank gathers all labels; the ReplayBuffer adds 10% of the older data; the reward
    model then continues training from its current weights with trainer.py's loop, and the scoring copy
    takes the new weights. (On GPU the scoring copy is bf16, so each iteration's training starts from
    bf16-rounded weights.) Packed rows are the longest labelled sequence long, not the model's context,
    and --activation-checkpointing applies: at 7B a 4,096-token row keeps ~8 GB of activations without it."""
    t0 = time.perf_counter()
    draw = torch.Generator().manual_seed(cfg.seed * 7919 + 104729 + iteration)
    order = torch.randperm(len(questions), generator=draw)
    mine = [questions[int(i)] for i in order[:cfg.rm_questions][proc.rank::proc.world]]
    stats = Counter()
    labelled = label_samples(sampler, tokenizer, mine, cfg.rm_samples, cfg.rm_labels,
                             # an ORM needs no step labels
                             cfg.rm_mc_samples if reward_model.kind == "prm" else 0,
                             cfg.template, cfg.max_new_tokens, cfg.temperature, cfg.rollout_batch,
                             seed=cfg.seed + 1000 * iteration + proc.rank, stats=stats)
    gathered = [None] * proc.world
    dist.all_gather_object(gathered, [labelled, dict(stats)])
    if not any(part for part, _ in gathered):  # retraining on the replayed history alone is not Algorithm 1
        skipped = sum((Counter(counts) for _, counts in gathered), Counter())
        raise ValueError(f"reward-model retraining: none of the policy's samples could be labelled "
                         f"({dict(skipped)}; --rm-labels exact needs a 'solution' in every --data record)")
    gathered = [part for part, _ in gathered]
    records = replay.mix([rec for part in gathered for rec in part])
    examples = [ex for ex in (reward_example(rec, tokenizer, reward_model.kind, cfg.template)
                              for rec in records)
                if not isinstance(ex, str) and len(ex[0]) - 1 <= reward_model.config.max_seq_len]
    if not examples:
        raise ValueError(f"reward-model retraining: no usable example among {len(records)} records")

    seq_len = max(len(ids) - 1 for ids, _ in examples)  # every rank sees the same examples: the same length
    rm_cfg = TrainConfig(out=str(Path(cfg.out) / "reward_model" / f"iteration_{iteration}"), seed=cfg.seed,
                         parallel=cfg.parallel, dtype=cfg.dtype,
                         activation_checkpointing=cfg.activation_checkpointing, micro_batch=cfg.micro_batch,
                         seq_len=seq_len, steps=1, lr=cfg.rm_lr, schedule="constant", warmup_steps=0,
                         weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip, save_every=0, log_every=10,
                         overwrite=True).resolved(proc.world, reward_model.config.max_seq_len)
    tokens = sum(len(ids) - 1 for ids, _ in examples)
    rm_cfg = replace(rm_cfg, steps=max(1, math.ceil(cfg.rm_epochs * tokens / rm_cfg.batch_tokens)))
    with torch.device("meta" if proc.device.type == "cuda" else "cpu"):  # as build_model: never whole on GPU
        trainee = RewardModel(reward_model.config, reward_model.kind)
    trainee = wrap_model(trainee, proc, cfg.parallel, mixed_precision=use_bf16(rm_cfg, proc.device),
                         activation_checkpointing=cfg.activation_checkpointing)
    # continue from the current weights (fp32 master copy from here on)
    set_model_state_dict(trainee, reward_model.state_dict(), options=StateDictOptions(full_state_dict=True))
    data = RewardData(examples, rm_cfg.seq_len, rm_cfg.micro_batch, tokenizer.pad_id, cfg.seed + iteration,
                      proc.rank, proc.world)
    history = train(trainee, build_optimizer(trainee, rm_cfg), data, reward_loss, rm_cfg, proc,
                    flops_per_token=unwrap(trainee).decoder.flops_per_token(rm_cfg.seq_len))
    copy_weights(trainee, reward_model)
    return {"rm_samples": int(sum(len(part) for part in gathered)), "rm_examples": len(examples),
            "rm_steps": rm_cfg.steps, "rm_loss": history[-1]["loss"],
            "t_reward_model": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- command line

@dataclass
class RewardTrainConfig(TrainConfig):
    """`reward.py train`: the trainer's fields (the architecture comes from --init) plus the reward data."""
    kind: str = flag("orm", "orm: one score per output; prm: one per step", choices=KINDS, required=True)
    data: str | None = flag(None, "labelled JSONL from `reward.py label`", required=True)
    init: str | None = flag(None, "checkpoint the decoder starts from, its architecture too (§4.2: the base "
                                  "model; or the policy)", required=True)
    tokenizer: str | None = flag(None, "tokenizer folder (default: the --init checkpoint's)")
    template: str = flag("deepseek", "chat template of the prompt", choices=TEMPLATES)
    epochs: float = flag(1.0, "passes over the data, unless --steps or --total-tokens is given", min=0.0,
                         above=True)
    replay: list[str] = flag([], "older labelled files: --replay-share of their records join (§4.1.4)",
                             nargs="*")
    replay_share: float = flag(0.1, "share of the older records replayed (§4.1.4: 10%%)", min=0.0, max=1.0)
    # the trainer's settings with the reward model's defaults (§4.2: LR 2e-5)
    out: str = flag("runs/rm", "run folder: checkpoints/, final/, metrics.jsonl, log.txt, config.json")
    lr: float = flag(2e-5, "learning rate, constant after warm-up (§4.2: 2e-5)", min=0.0)
    schedule: str = flag("constant", "learning-rate schedule", choices=("multistep", "cosine", "constant"))
    warmup_steps: int = flag(0, "linear warm-up steps", min=0)
    val_fraction: float = flag(0.05, "share of the questions held out for validation (0: none)", min=0.0,
                               max=0.5)
    eval_every: int = flag(100, "validation loss every N steps (0: only at the end)", min=0)
    save_every: int = flag(0, "training checkpoint every N steps (0: never)", min=0)
    # not flags here: the architecture is --init's
    model: str = "toy"
    n_layers: int | None = None
    d_model: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    ffn_dim: int | None = None


@tears_down_distributed
def train_reward_model(cfg: RewardTrainConfig) -> list[dict]:
    """`reward.py train`: trainer.py's loop (AdamW, schedule, checkpoints and resume, metrics) on
    RewardData with reward_loss; the trained model goes to <out>/final as a RewardModel folder. Whole
    questions are held out for validation (by a hash of their text), so none is on both sides."""
    check_ranges(cfg)
    if cfg.dry_run:  # the memory and time of training a reward model of --init's size
        return dry_run(cfg)
    proc = setup_distributed(cfg.dist_timeout)
    tokenizer_path = checkpoint_tokenizer(cfg.init, cfg.tokenizer)
    tokenizer, max_seq_len = load_tokenizer(tokenizer_path), checkpoint_config(cfg.init).max_seq_len
    stats, buffer = Counter(), ReplayBuffer(cfg.replay_share, cfg.seed)
    for path in cfg.replay:
        buffer.add(list(read_jsonl(path, stats)))
    train_set, val_set = [], []
    for rec in buffer.mix(list(read_jsonl(cfg.data, stats))):
        example = reward_example(rec, tokenizer, cfg.kind, cfg.template)
        if isinstance(example, str):
            stats[example] += 1
        elif len(example[0]) - 1 > (cfg.seq_len or max_seq_len):
            stats["overlong"] += 1
        else:
            held_out = zlib.crc32(rec["question"].encode()) % 10_000 < cfg.val_fraction * 10_000
            (val_set if held_out else train_set).append(example)
    if not train_set:
        raise ValueError(f"{cfg.data}: no usable training example ({dict(stats)})")
    if cfg.steps is None and cfg.total_tokens is None:  # --epochs passes over the training tokens
        batch_tokens = replace(cfg, steps=1).resolved(proc.world, max_seq_len).batch_tokens
        tokens = sum(len(ids) - 1 for ids, _ in train_set)
        cfg = replace(cfg, steps=max(1, math.ceil(cfg.epochs * tokens / batch_tokens)))
    cfg = cfg.resolved(proc.world, max_seq_len)
    seed_all(cfg.seed)
    data, val = (RewardData(examples, cfg.seq_len, cfg.micro_batch, tokenizer.pad_id, cfg.seed, proc.rank,
                            proc.world)
                 for examples in (train_set, val_set))
    model = build_model(checkpoint_config(cfg.init), cfg, proc,
                        make=functools.partial(RewardModel, kind=cfg.kind), adapt=RewardModel.from_lm_state)
    if proc.is_main:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "config.json").write_text(json.dumps(
            {"kind": cfg.kind, "train": asdict(cfg), "data_stats": dict(stats),
             "train_examples": len(train_set), "val_examples": len(val_set),
             "world_size": proc.world}, indent=2))
        print(f"{cfg.kind}: {len(train_set)} training / {len(val_set)} validation examples, {cfg.steps} "
              f"steps of {cfg.batch_tokens:,} tokens; skipped: {dict(stats)}")
    records = train(model, build_optimizer(model, cfg), data, reward_loss, cfg, proc,
                    val_batches=val.batches if val_set else None,
                    flops_per_token=unwrap(model).decoder.flops_per_token(cfg.seq_len))
    export_model(model, Path(cfg.out) / "final", proc, tokenizer_path)
    return records


@dataclass
class LabelConfig:
    """`reward.py label`: sample outputs with a policy and label them (ORM: correct or not; PRM: per step)."""
    policy: str | None = flag(None, "checkpoint that writes the samples (and the MC completions)",
                              required=True)
    data: str | None = flag(None, "questions JSONL {question, answer}; --labels exact needs 'solution' too",
                            required=True)
    out: str | None = flag(None, "labelled JSONL to write (and OUT.stats.json)", required=True)
    samples: int = flag(8, "outputs sampled per question (K)", min=1)
    labels: str = flag("mc", "mc: Math-Shepherd's hard estimate with the policy; exact: toy-world check "
                             "(toy_step_labels)", choices=("mc", "exact"))
    mc_samples: int = flag(8, "completions per step prefix for --labels mc (N)", min=1)
    max_new_tokens: int = flag(512, "length limit of samples and completions", min=1)
    temperature: float = flag(1.0, "sampling temperature", min=0.0, above=True)
    batch_size: int = flag(64, "sampler slots: sequences decoding at once", min=1)
    template: str = flag("deepseek", "chat template of the prompt", choices=TEMPLATES)
    tokenizer: str | None = flag(None, "tokenizer folder (default: the one the --policy checkpoint names, or "
                                       "the folder itself when it is a Hugging Face one)")
    limit: int | None = flag(None, "label only the first N questions (default: all)", min=1)
    seed: int = flag(0, "sampling seed")


def label_main(args: LabelConfig) -> Counter:
    """`reward.py label`: writes the labelled JSONL and OUT.stats.json; returns the counts."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    policy = load_frozen(args.policy, device)
    tokenizer = load_tokenizer(checkpoint_tokenizer(args.policy, args.tokenizer))
    stats = Counter()
    records = list(read_jsonl(args.data, stats))[:args.limit]
    labelled = label_samples(policy, tokenizer, records, args.samples, args.labels, args.mc_samples,
                             args.template, args.max_new_tokens, args.temperature, args.batch_size, args.seed,
                             stats, progress=True)
    write_jsonl(args.out, labelled)
    Path(str(args.out) + ".stats.json").write_text(json.dumps(dict(stats), indent=2) + "\n")
    print(f"{len(labelled)} labelled samples written to {args.out}: {dict(stats)}")
    return stats


COMMANDS = {"label": ("sample outputs with a policy and label them", LabelConfig, label_main),
            "train": ("train an ORM or PRM with trainer.py's loop", RewardTrainConfig, train_reward_model)}


def main(argv=None):
    return run_command(__doc__.split("\n\n")[0], COMMANDS, argv)


if __name__ == "__main__":
    run_cli(main)
