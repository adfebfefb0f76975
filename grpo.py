"""GRPO: Group Relative Policy Optimization (DeepSeekMath, arXiv 2402.03300, §4.1, Algorithm 1).

PPO needs a value network as large as the policy to estimate each token's advantage. GRPO drops it:
for every question q it samples a *group* of G outputs o_1..o_G from the old policy π_old, scores them,
and uses the group itself as the baseline. The objective it maximises (Eq. 3) is

  J(θ) = E[ 1/G Σ_i 1/|o_i| Σ_t { min(ρ_i,t Â_i,t, clip(ρ_i,t, 1-ε, 1+ε) Â_i,t) - β D_KL[π_θ || π_ref] } ]
  ρ_i,t = π_θ(o_i,t | q, o_i,<t) / π_old(o_i,t | q, o_i,<t)

with the KL penalty *inside* the loss (not in the reward, as PPO-RLHF does), estimated per token by
the unbiased, always-positive k3 estimator (Eq. 4)

  D_KL = π_ref/π_θ - log(π_ref/π_θ) - 1.

Advantages (one value per token of each output):
  outcome supervision (§4.1.2)  Â_i,t = (r_i - mean(r)) / std(r)              for every token t of o_i
  process supervision (§4.1.3)  r̃ = (r - mean(R)) / std(R) over *all* step rewards R of the group,
                                Â_i,t = Σ_{steps j of o_i ending at or after t} r̃_i^j

Algorithm 1 (iterative GRPO), which `train_grpo` follows line by line:
  for iteration = 1..I:                     π_ref ← π_θ
    for step = 1..M:                        sample a batch of questions; π_old ← π_θ
      sample G outputs per question from π_old (KV-cache sampler), with their log-probs
      rewards (rule, ORM or PRM) -> advantages
      for GRPO iteration = 1..μ:            update π_θ on the GRPO objective
    if the reward is a model: retrain it on new policy samples with 10% replay of old data (§4.1.4)

The unified paradigm (§5.2.1, Table 10) writes every method's gradient as
E[ 1/|o| Σ_t GC(q, o, t) ∇ log π_θ(o_t | q, o_<t) ]. GRPO's coefficient is Â_i,t + β(π_ref/π_θ - 1);
online RFT's is 1 for correct outputs of the live policy and 0 otherwise; RFT's is the same on
outputs of the starting (SFT) model. `--algo` chooses among the three; they share all the code.

Read top to bottom: advantages -> the loss -> Table 10 -> rollouts (sampling, log-probs, masks) ->
configuration -> questions -> one exploration stage -> the policy update -> Algorithm 1 -> command line.
    python grpo.py --init runs/sft/final --data rl.jsonl --out runs/grpo -G 8 --batch-questions 16 \\
        --max-new-tokens 128 --steps-per-iteration 50 --lr 1e-5        # a toy run on a CPU
    torchrun --nproc_per_node 8 grpo.py --init ... --parallel fsdp --activation-checkpointing  # 7B: README

Memory for the paper's 7B recipe (6.9e9 parameters) on 8 GPUs × 80 GB, FSDP2, bf16 compute:
  always held   policy: fp32 weights 27.6 GB + AdamW moments 55.2 GB, sharded over 8      10.4 GB
                π_ref: fp32, sharded like the policy (bf16 compute)                         3.5 GB
                rollout copy of π_θ, bf16, whole (a sharded model cannot run the sampler)  13.8 GB
                a learned ORM/PRM, bf16, whole (--reward orm|prm only)                     13.8 GB
  rollouts      KV cache: 2 × 30 layers × 4096 × 2 B = 0.49 MB a token; a sequence of at most
                1,200 tokens (prompt + 1024 new) 0.59 GB; --rollout-batch 32               19 GB
  update        fp32 gradients, sharded (pretrain.train_step reduce-scatters every
                micro-batch under FSDP2)                                                     3.5 GB
                activations per 1,200-token sequence with --activation-checkpointing: block
                inputs 30 × 4096 × 2 B × 1,200 = 0.3 GB, logits (bf16 + fp32 + log-softmax)
                10 B × 102,400 × 1,200 = 1.2 GB; --micro-batch 4                              6 GB
  Rollouts and update take turns, so the peak is 27.7 (+13.8 with a reward model) held + 19 for the
  rollouts = 47 GB (61 GB): it fits. Without activation checkpointing a sequence keeps ~8 GB of
  activations (micro-batch 4: 32 GB), which does not. Under DDP the policy state alone is 110 GB.
  Time goes to the rollouts: 1024 questions × 64 outputs = 65,536 samples a step, 8,192 per GPU.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.distributed.tensor import DTensor
from tqdm import tqdm

from formats import read_jsonl
from model import Transformer, read_config
from pretrain import (MetricsLog, TrainConfig, add_runtime_args, autocast_for, build_model, build_optimizer,
                      export_model, latest_checkpoint, load_checkpoint, lr_at, save_checkpoint, seed_all,
                      setup_distributed, tears_down_distributed, train, train_step, unwrap, use_bf16, wrap_model)
from reward import (ReplayBuffer, RewardData, RewardModel, accuracy_reward, format_reward, label_samples,
                    reward_example, reward_loss, step_end_positions)
from sft import TEMPLATES, encode_prompt
from tokenizer import Tokenizer, checkpoint_tokenizer


# ----------------------------------------------------------------------------- advantages (§4.1.2, §4.1.3)

def outcome_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """Outcome supervision (§4.1.2): rewards [Q, G] (G outputs per question) -> Â [Q, G], the same for
    every token of an output. std is the *population* std of the G rewards (the formula's std(r) of the
    group itself; TRL uses the sample std, larger by sqrt(G/(G-1)), 1.008 at G = 64). eps keeps an
    all-equal group at 0 instead of 0/0. scale=False leaves out the division (Dr. GRPO, arXiv 2503.20783)."""
    centred = rewards - rewards.mean(dim=-1, keepdim=True)
    if not scale:
        return centred
    return centred / (rewards.std(dim=-1, unbiased=False, keepdim=True) + eps)


def process_advantages(step_rewards: list[list[float]], step_ends: list[list[int]], length: int,
                       scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """Process supervision (§4.1.3) for one group: step_rewards[i][j] is the reward of step j of output
    i, whose last token is at step_ends[i][j] (an index into the completion). All step rewards of the
    group are normalised together; token t of output i then gets the sum of the normalised rewards of
    its steps that end at or after t. Returns Â [G, length] (length: longest completion, 0 beyond)."""
    flat = torch.tensor([r for rewards in step_rewards for r in rewards], dtype=torch.float32)
    if flat.numel() == 0:
        return torch.zeros(len(step_rewards), length)
    mean, std = flat.mean(), flat.std(unbiased=False)
    adv = torch.zeros(len(step_rewards), length)
    for i, (rewards, ends) in enumerate(zip(step_rewards, step_ends, strict=True)):
        for r, end in zip(rewards, ends, strict=True):
            adv[i, :end + 1] += (r - mean) / (std + eps) if scale else r - mean
    return adv


# ----------------------------------------------------------------------------- the objective (Eq. 3, Eq. 4)

def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Eq. 4, per token: π_ref/π_θ - log(π_ref/π_θ) - 1 (Schulman's k3: unbiased for KL[π_θ||π_ref]
    under samples of π_θ, and never negative)."""
    log_ratio = ref_logprobs - logprobs
    return torch.exp(log_ratio) - log_ratio - 1


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps: float = 0.2,
              beta: float = 0.04, agg: str = "sequence", max_len: int | None = None,
              denominator: float | None = None):
    """-J_GRPO (Eq. 3) on a batch of N outputs. All [N, T] over completion tokens (T: the longest):
    logprobs log π_θ (with grad), old_logprobs log π_old (sampling time), ref_logprobs log π_ref (None
    when beta = 0), advantages Â ([N, T], or [N] for one value per output), mask 1 on completion tokens.

    agg, how token terms become the loss:
      "sequence"    Eq. 3: mean over each output's own tokens, then mean over outputs
      "token"       DAPO (arXiv 2503.14476): one mean over all tokens of the batch
      "dr_grpo"     Dr. GRPO (arXiv 2503.20783): sum over tokens / max_len (a constant), mean over outputs
    denominator: replaces the number of outputs ("sequence", "dr_grpo") or tokens ("token") that the
    sum is divided by, so that micro-batches (and ranks) add up to the loss of the whole batch.
    Returns (loss, stats) with stats: kl (mean per token), clip_frac (tokens whose gradient the clip
    removes), ratio_dev (max |ρ - 1|), tokens (the count of masked-in tokens)."""
    mask = mask.bool()
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(logprobs)
    # padding may hold anything: zero it so that exp() below never meets a stray large value
    logprobs, old_logprobs = logprobs.masked_fill(~mask, 0.0), old_logprobs.masked_fill(~mask, 0.0)

    ratio = torch.exp(logprobs - old_logprobs)                                   # ρ = π_θ / π_old
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages)
    kl = kl_k3(logprobs, ref_logprobs.masked_fill(~mask, 0.0)) if beta else torch.zeros_like(ratio)
    objective = (surrogate - beta * kl).masked_fill(~mask, 0.0)  # the KL is *subtracted* from J: added to the loss

    n_tokens = mask.sum(dim=1)
    if agg == "sequence":
        total, count = (objective.sum(dim=1) / n_tokens.clamp(min=1)).sum(), mask.shape[0]
    elif agg == "token":
        total, count = objective.sum(), n_tokens.sum()
    elif agg == "dr_grpo":
        if not max_len:
            raise ValueError("agg='dr_grpo' divides by the constant max_len: pass max_len")
        total, count = objective.sum() / max_len, mask.shape[0]
    else:
        raise ValueError(f"unknown agg {agg!r}; choose 'sequence', 'token' or 'dr_grpo'")
    loss = -total / (denominator if denominator is not None else max(float(count), 1.0))

    with torch.no_grad():
        clipped = ((ratio > 1 + clip_eps) & (advantages > 0)) | ((ratio < 1 - clip_eps) & (advantages < 0))
        n = mask.sum().clamp(min=1)
        stats = {"kl": (kl * mask).sum() / n, "clip_frac": (clipped & mask).sum() / n,
                 "ratio_dev": ((ratio - 1).abs() * mask).max() if mask.any() else ratio.new_zeros(()),
                 "tokens": mask.sum()}
    return loss, stats


# ----------------------------------------------------------------------------- Table 10: one loss, three methods

ALGOS = ("grpo", "online_rft", "rft")


def policy_loss(algo: str, logprobs, old_logprobs, ref_logprobs, advantages, correct, mask, clip_eps: float,
                beta: float, agg: str = "sequence", max_len: int | None = None, denominator: float | None = None):
    """The loss of `algo`, as the gradient coefficients of Table 10 (§5.2.1) put it.
      grpo:        GC = Â + β(π_ref/π_θ - 1)   -> grpo_loss as it is
      online_rft:  GC = 1[correct] on samples of the live policy  } grpo_loss with Â = 1[correct], β = 0 and
      rft:         GC = 1[correct] on samples of the start model  } π_old := π_θ (detached), so ρ ≡ 1 and the
                   gradient is exactly 1/|o| Σ_t 1[correct] ∇log π_θ: RFT's SFT on correct outputs, no clip.
    correct: [N] 0/1; the two RFTs differ only in where the samples come from (see `train_grpo`)."""
    if algo == "grpo":
        return grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps, beta, agg, max_len,
                         denominator)
    if algo in ("online_rft", "rft"):
        return grpo_loss(logprobs, logprobs.detach(), None, correct.to(logprobs.dtype), mask, clip_eps, 0.0, agg,
                         max_len, denominator)
    raise ValueError(f"unknown algo {algo!r}; choose from {ALGOS}")


# ----------------------------------------------------------------------------- rollouts

def completion_mask(lengths, width: int) -> torch.Tensor:
    """[N, width] bool, True on the first lengths[i] positions of row i. Built from the completion
    lengths, never from `token != pad_id`: when PAD == EOS that would drop every output's EOS, and the
    policy would never be taught to stop."""
    lengths = torch.as_tensor(lengths)
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def right_pad(rows: list[list], pad, width: int | None = None, dtype=torch.long, device=None) -> torch.Tensor:
    """Lists of numbers -> [N, width] tensor, padded on the right with `pad`."""
    width = width if width is not None else max(map(len, rows), default=0)
    out = torch.full((len(rows), width), pad, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=dtype)
    return out.to(device)


def completion_logprobs(model, prompts: list[list[int]], completions: list[list[int]], temperature: float,
                        pad_id: int) -> torch.Tensor:
    """log π(completion tokens | prompt, earlier tokens) under softmax(logits / temperature): [N, C],
    C the longest completion (values past a completion's end are padding). Rows are prompt + completion,
    padded on the right, so causal attention never lets a real token see padding.
    `Transformer.token_logprobs` is called on `model` itself, which may be a DDP or FSDP wrapper: the
    forward then goes through the wrapper, and DDP averages the gradients (calling `.module` would not)."""
    device = next(model.parameters()).device
    tokens = right_pad([p + c for p, c in zip(prompts, completions, strict=True)], pad_id, device=device)
    logprobs = Transformer.token_logprobs(model, tokens, temperature)  # [N, T-1]: predicts tokens[:, 1:]
    width = max(map(len, completions))
    starts = torch.tensor([len(p) - 1 for p in prompts], device=device)  # where completion token 0 is predicted
    index = (starts[:, None] + torch.arange(width, device=device)[None, :]).clamp(max=logprobs.shape[1] - 1)
    return logprobs.gather(1, index)


@torch.no_grad()
def sample_groups(model, prompts: list[list[int]], group_size: int, max_new_tokens: int, temperature: float,
                  top_p: float, eos_id: int, chunk: int, generator=None):
    """G outputs for each prompt with the KV-cache sampler, `chunk` sequences at a time (KV-cache memory).
    Returns (completions, logprobs) flattened prompt-major: row q*G + i is output i of prompt q. The
    log-probs are π_old's, taken now at the sampling temperature: GRPO's ratio ρ = π_θ/π_old needs them
    at that temperature (recomputing them at T = 1 would make ρ ≠ 1 before any update)."""
    rows = [p for p in prompts for _ in range(group_size)]
    completions, logprobs = [], []
    for start in range(0, len(rows), chunk):
        c, lp = model.generate(rows[start:start + chunk], max_new_tokens, temperature, top_p,
                               stop_ids=(eos_id,), generator=generator)
        completions += c
        logprobs += lp
    return completions, logprobs


# ----------------------------------------------------------------------------- configuration

REWARDS = ("rule", "orm", "prm")
TRUNCATED = ("keep", "zero_reward", "mask")
AGGREGATIONS = ("sequence", "token", "dr_grpo")


@dataclass
class GRPOConfig:
    """A GRPO run. Defaults: the paper's 7B recipe (§4.2) where it gives one; else marked."""
    init: str | None = None             # the policy to start from (DeepSeekMath-Instruct's role)
    data: str | None = None             # RL questions, JSONL {"question", "answer"}
    out: str = "runs/grpo"
    tokenizer: str | None = None        # default: the --init checkpoint's (tokenizer.checkpoint_tokenizer)
    template: str = "deepseek"
    algo: str = "grpo"
    reward: str = "rule"
    format_reward: bool = False         # DeepSeek-R1's format reward on top of accuracy
    reward_model: str | None = None     # ORM / PRM checkpoint folder (reward.RewardModel)
    # Algorithm 1
    iterations: int = 1
    steps_per_iteration: int | None = None  # default: one pass over the questions
    batch_questions: int = 1024         # §4.2 "the training batch size is 1024"
    group_size: int = 64                # G
    mu: int = 1                         # "a single update following each exploration stage"
    # sampling
    max_new_tokens: int = 1024          # "the max length is set to 1024"
    temperature: float = 1.0            # not given in the paper
    top_p: float = 1.0
    truncated: str = "keep"
    rollout_batch: int = 64             # sequences per generate call (KV-cache memory)
    # objective
    lr: float = 1e-6
    beta: float = 0.04
    clip_eps: float = 0.2               # not given in the paper; PPO's value
    loss_agg: str = "sequence"
    scale_rewards: bool = True
    skip_equal_groups: bool = False
    adv_eps: float = 1e-4
    # reward-model retraining after each iteration (§4.1.4; --reward orm|prm)
    rm_questions: int = 512             # not given in the paper; 0: no retraining
    rm_samples: int = 8                 # policy outputs per question
    rm_labels: str = "mc"               # PRM step labels: mc (Math-Shepherd) or exact (toy world)
    rm_mc_samples: int = 8              # completions per step prefix (mc)
    rm_epochs: float = 1.0
    rm_lr: float = 2e-5                 # §4.2: the reward model's learning rate
    rm_replay: float = 0.1              # "10% of historical data"
    rm_data: list[str] = field(default_factory=list)  # the reward model's training data, first in the replay
    # optimiser (AdamW of pretrain.py); weight decay is not given in the paper
    warmup_steps: int = 0
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    micro_batch: int = 4                # sequences per forward/backward per rank
    # scale
    parallel: str = "ddp"
    dtype: str = "auto"
    activation_checkpointing: bool = False
    compile: bool = False
    # bookkeeping
    seed: int = 0
    log_every: int = 1
    save_every: int = 50
    keep: int = 3
    resume: str | None = None

    def check(self):
        for name, value, allowed in (("algo", self.algo, ALGOS), ("reward", self.reward, REWARDS),
                                     ("truncated", self.truncated, TRUNCATED), ("template", self.template, TEMPLATES),
                                     ("loss_agg", self.loss_agg, AGGREGATIONS)):
            if value not in allowed:
                raise ValueError(f"--{name.replace('_', '-')} must be one of {allowed}, got {value!r}")
        if not self.init or not self.data:
            raise ValueError("--init (a model checkpoint) and --data (RL questions JSONL) are required")
        if self.reward != "rule" and not self.reward_model:
            raise ValueError(f"--reward {self.reward} needs --reward-model (a reward.py checkpoint)")
        if self.rm_labels not in ("mc", "exact"):
            raise ValueError(f"--rm-labels must be 'mc' or 'exact', got {self.rm_labels!r}")
        if self.format_reward and self.reward != "rule":
            raise ValueError("--format-reward adds to the rule reward: it needs --reward rule")
        if self.steps_per_iteration is not None and self.steps_per_iteration < 1:
            raise ValueError("--steps-per-iteration must be >= 1")
        if self.algo != "grpo" and (self.reward != "rule" or self.skip_equal_groups):
            raise ValueError(f"--algo {self.algo} rewards correct answers (Table 10): it needs --reward rule "
                             f"and trains on all-correct groups too (no --skip-equal-groups)")
        if min(self.group_size, self.batch_questions, self.mu, self.max_new_tokens, self.micro_batch,
               self.rollout_batch, self.iterations) < 1:
            raise ValueError("group size, batch, mu, max new tokens, micro-batch, rollout batch and iterations "
                             "must be >= 1")
        return self

    def train_config(self) -> TrainConfig:
        """The fields pretrain.py's model building and optimiser read."""
        return TrainConfig(out=self.out, init=self.init, seed=self.seed, parallel=self.parallel, dtype=self.dtype,
                           activation_checkpointing=self.activation_checkpointing, compile=self.compile,
                           lr=self.lr, weight_decay=self.weight_decay, beta1=self.beta1, beta2=self.beta2,
                           grad_clip=self.grad_clip, micro_batch=self.micro_batch)


# ----------------------------------------------------------------------------- questions

def load_questions(path, tokenizer: Tokenizer, template: str, max_seq_len: int, stats: Counter) -> list[dict]:
    """RL records {"question", "answer"} -> {"question", "answer", "prompt" (ids)}. Skipped and counted in
    `stats`: read_jsonl's reasons, no_question, bad_gold (no answer, or one the grader cannot use: every
    reward kind reports accuracy), prompt_too_long (no room left in the context to answer)."""
    questions = []
    for rec in read_jsonl(path, stats):
        question, answer = rec.get("question"), rec.get("answer")
        if not isinstance(question, str) or not question.strip():
            stats["no_question"] += 1
            continue
        try:
            accuracy_reward("", str(answer) if answer is not None else "")
        except ValueError:
            stats["bad_gold"] += 1
            continue
        prompt = encode_prompt(tokenizer, question, template)
        if len(prompt) >= max_seq_len:
            stats["prompt_too_long"] += 1
            continue
        questions.append({"question": question, "answer": str(answer), "prompt": prompt})
        stats["questions"] += 1
    if not questions:
        raise ValueError(f"{path}: no usable RL question ({dict(stats)})")
    return questions


def step_questions(n_questions: int, step: int, batch: int, rank: int, world: int, seed: int) -> list[int]:
    """This rank's question indices at `step`. The questions are read in epochs, each a permutation seeded
    by (seed, epoch); global step s takes positions [s·B, (s+1)·B) and rank r the r-th contiguous B/W of
    them, so every group is sampled, scored and normalised on one rank. A function of the step alone:
    a resumed run needs no data state."""
    per_rank = batch // world
    first = step * batch + rank * per_rank
    perms = {}
    out = []
    for pos in range(first, first + per_rank):
        epoch, i = divmod(pos, n_questions)
        if epoch not in perms:
            perms[epoch] = torch.randperm(n_questions, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
        out.append(int(perms[epoch][i]))
    return out


# ----------------------------------------------------------------------------- one exploration stage

@dataclass
class Rollout:
    """One exploration stage on this rank: G outputs for each of its questions (row q·G + i: output i of
    question q). Tensors are [N, C] over completion positions (C: the longest completion)."""
    prompts: list[list[int]]
    completions: list[list[int]]
    mask: torch.Tensor              # bool, True on completion tokens (EOS included)
    old_logprobs: torch.Tensor      # log π_old at sampling time, at the sampling temperature
    ref_logprobs: torch.Tensor | None
    advantages: torch.Tensor
    correct: torch.Tensor           # [N] 1.0 where the answer is right (the RFT coefficient)
    train_rows: list[int]           # rows that enter the loss (see --truncated, --skip-equal-groups)
    sums: dict                      # metric sums over this rank's outputs


def explore(sampler, reference, questions: list[dict], cfg: GRPOConfig, tokenizer: Tokenizer, reward_model,
            reward_fn, generator, amp=nullcontext()) -> Rollout:
    """Sample G outputs per question from π_old, score them, compute advantages and π_ref's log-probs."""
    G, Q, eos = cfg.group_size, len(questions), tokenizer.eos_id
    t0 = time.perf_counter()
    with amp:
        completions, logprobs = sample_groups(sampler, [q["prompt"] for q in questions], G, cfg.max_new_tokens,
                                              cfg.temperature, cfg.top_p, eos, cfg.rollout_batch, generator)
    t_sample = time.perf_counter() - t0
    prompts = [q["prompt"] for q in questions for _ in range(G)]
    golds = [q for q in questions for _ in range(G)]
    lengths = [len(c) for c in completions]
    N, C = len(completions), max(lengths)
    mask = completion_mask(lengths, C)
    old_logprobs = right_pad(logprobs, 0.0, C, dtype=torch.float32)
    truncated = torch.tensor([c[-1] != eos for c in completions])  # no EOS within max_new_tokens
    texts = [tokenizer.decode(c[:-1] if c[-1] == eos else c) for c in completions]

    # rewards (§4.1.2 outcome: one per output; §4.1.3 process: one per reasoning step)
    t0 = time.perf_counter()
    if reward_fn is not None:  # a task of one's own: its reward takes the accuracy reward's part
        correct = torch.tensor([float(reward_fn(q, t, c)) for q, t, c in zip(golds, texts, completions)])
    else:
        correct = torch.tensor([accuracy_reward(t, q["answer"]) for t, q in zip(texts, golds)])
    formatted = torch.tensor([format_reward(t) for t in texts])
    zero = truncated & torch.tensor(cfg.truncated == "zero_reward")
    correct = correct.masked_fill(zero, 0.0)
    if cfg.reward == "prm":
        step_ends = [step_end_positions(c, tokenizer) for c in completions]
        step_rewards = reward_model.step_rewards([p + c for p, c in zip(prompts, completions)],
                                                 [[len(p) + e for e in ends] for p, ends in zip(prompts, step_ends)])
        step_rewards = [[0.0] * len(r) if z else r for r, z in zip(step_rewards, zero.tolist())]
        groups = [slice(q * G, (q + 1) * G) for q in range(Q)]
        advantages = torch.cat([process_advantages(step_rewards[g], step_ends[g], C, cfg.scale_rewards, cfg.adv_eps)
                                for g in groups])
        equal = torch.tensor([len({r for rs in step_rewards[g] for r in rs}) <= 1 for g in groups])
        rewards = torch.tensor([sum(r) / max(len(r), 1) for r in step_rewards])  # for the metrics
    else:
        if cfg.reward == "orm":
            rewards = torch.tensor(reward_model.outcome_rewards([p + c for p, c in zip(prompts, completions)]))
        else:  # DeepSeek-R1's rule reward (reward.rule_reward), kept in parts for the metrics
            rewards = correct + formatted if cfg.format_reward else correct.clone()
        rewards = rewards.masked_fill(zero, 0.0).view(Q, G)
        advantages = outcome_advantages(rewards, cfg.scale_rewards, cfg.adv_eps).view(N, 1).expand(N, C).clone()
        equal = rewards.max(dim=1).values == rewards.min(dim=1).values
        rewards = rewards.view(N)
    t_reward = time.perf_counter() - t0

    # which outputs train: drop truncated ones (--truncated mask) and groups with no signal (--skip-equal-groups)
    drop = truncated & torch.tensor(cfg.truncated == "mask")
    if cfg.skip_equal_groups:
        drop |= equal.repeat_interleave(G)
    train_rows = (~drop).nonzero()[:, 0].tolist()

    # π_ref's log-probs, at the sampling temperature like π_θ's, once per stage (π_ref is frozen)
    t0 = time.perf_counter()
    ref_logprobs = None
    if cfg.algo == "grpo" and cfg.beta > 0:
        ref_logprobs = torch.zeros(N, C)
        with torch.no_grad(), amp:
            for s in range(0, len(train_rows), cfg.micro_batch):
                rows = train_rows[s:s + cfg.micro_batch]
                lp = completion_logprobs(reference, [prompts[r] for r in rows], [completions[r] for r in rows],
                                         cfg.temperature, tokenizer.pad_id)
                ref_logprobs[rows, :lp.shape[1]] = lp.float().cpu()
    t_reference = time.perf_counter() - t0

    sums = {"outputs": N, "groups": Q, "reward": rewards.sum().item(), "accuracy": correct.sum().item(),
            "format": formatted.sum().item(), "response_len": float(sum(lengths)), "truncated": truncated.sum().item(),
            "zero_adv_groups": equal.sum().item(), "trained_outputs": len(train_rows),
            # entropy, estimated from the sampled tokens: E[-log π(o_t)] under the (temperature-scaled)
            # sampling distribution, with no extra pass over the vocabulary
            "neg_logp": -(old_logprobs * mask).sum().item()}
    times = {"t_sample": t_sample, "t_reward": t_reward, "t_reference": t_reference}
    return Rollout(prompts, completions, mask, old_logprobs, ref_logprobs, advantages, correct, train_rows,
                   {**sums, **times})


# ----------------------------------------------------------------------------- the policy update

class MicroBatches:
    """The training rows of a Rollout in micro-batches, as pretrain.train_step draws them (`next_batch`).
    Every rank draws as many as the rank with the most rows (FSDP gathers weights in step), so one past
    this rank's rows holds a single row with an empty mask: no loss, no gradient."""

    def __init__(self, ro: Rollout, size: int):
        self.ro, self.size, self.i = ro, size, 0

    def next_batch(self) -> dict:
        ro = self.ro
        rows = ro.train_rows[self.i * self.size:(self.i + 1) * self.size]
        self.i += 1
        real = bool(rows)
        rows = rows or [0]
        width = max(len(ro.completions[r]) for r in rows)
        return {"prompts": [ro.prompts[r] for r in rows], "completions": [ro.completions[r] for r in rows],
                "mask": ro.mask[rows, :width] & real, "old": ro.old_logprobs[rows, :width],
                "ref": ro.ref_logprobs[rows, :width] if ro.ref_logprobs is not None else None,
                "adv": ro.advantages[rows, :width], "correct": ro.correct[rows]}


def update(model, optimizer, ro: Rollout, cfg: GRPOConfig, d, pad_id: int, amp=nullcontext()) -> dict:
    """μ optimiser steps on the objective of `cfg.algo` over this stage's outputs (Algorithm 1, the inner
    loop). Each step accumulates gradients over all micro-batches with pretrain.train_step, which weights
    each micro-batch's loss by its count (outputs, or tokens for --loss-agg token) and divides by the count
    over all ranks: the step is that of the loss of the whole global batch. Returns the mean loss, the
    last gradient norm, kl and clip_frac summed over the tokens of all μ steps (with the token count),
    and ratio_dev, max |ρ - 1| in the first step (0 up to rounding when π_old's log-probs are right)."""
    n_micro = torch.tensor(-(-len(ro.train_rows) // cfg.micro_batch), device=d.device)
    dist.all_reduce(n_micro, op=dist.ReduceOp.MAX)
    totals = Counter()
    if n_micro == 0:  # every output of every rank was dropped: nothing to learn from
        return {"loss": 0.0, "grad_norm": 0.0, "updates": 0}

    def loss_fn(model, batch):
        logprobs = completion_logprobs(model, batch["prompts"], batch["completions"], cfg.temperature, pad_id)
        mask = batch["mask"]
        count = mask.sum() if cfg.loss_agg == "token" else mask.any(dim=1).sum()
        loss, stats = policy_loss(cfg.algo, logprobs.float(), batch["old"], batch["ref"], batch["adv"],
                                  batch["correct"], mask, cfg.clip_eps, cfg.beta, cfg.loss_agg, cfg.max_new_tokens,
                                  denominator=count.clamp(min=1))
        totals["kl"] += (stats["kl"] * stats["tokens"]).item()
        totals["clip_frac"] += (stats["clip_frac"] * stats["tokens"]).item()
        totals["tokens"] += stats["tokens"].item()
        if totals["updates"] == 0:  # ρ before the first update: 1 when π_old's log-probs are right
            totals["ratio_dev"] = max(totals["ratio_dev"], stats["ratio_dev"].item())
        return loss, count

    losses = []
    for _ in range(cfg.mu):
        loss, grad_norm = train_step(model, optimizer, MicroBatches(ro, cfg.micro_batch), loss_fn, int(n_micro),
                                     cfg.grad_clip, d, amp)
        losses.append(loss)
        totals["updates"] += 1
    return {"loss": sum(losses) / len(losses), "grad_norm": grad_norm, **totals}


@torch.no_grad()
def copy_weights(src, dst):
    """dst ← src's weights (cast to dst's dtype), one tensor at a time, for π_ref ← π_θ and for the
    rollout copy. Shard to shard when both are sharded alike (FSDP); a sharded source into a full copy
    is gathered a parameter at a time, never whole."""
    src_params, dst_params = list(unwrap(src).parameters()), list(unwrap(dst).parameters())
    if len(src_params) != len(dst_params):
        raise ValueError("copy_weights: the two models differ in structure")
    for p, q in zip(src_params, dst_params):
        q.copy_(p.full_tensor() if isinstance(p, DTensor) and not isinstance(q, DTensor) else p)


# ----------------------------------------------------------------------------- Algorithm 1

class RLState:
    """What a checkpoint holds besides policy, optimiser and step (pretrain.save_checkpoint's `data`):
    the reference model (π_θ at the start of the iteration; for RFT the start model), the reward model
    and its replay buffer (one JSON string: DCP stores it whole). Question order and sampling seeds are
    functions of the step, so they need no state."""

    def __init__(self, reference, reward_model, replay):
        self.reference, self.reward_model, self.replay = reference, reward_model, replay

    def state_dict(self) -> dict:
        return {"reference": self.reference.state_dict() if self.reference is not None else {},
                "reward_model": self.reward_model.state_dict() if self.reward_model is not None else {},
                "replay": json.dumps(self.replay.state_dict()) if self.replay is not None else ""}

    def load_state_dict(self, state: dict):
        for name in ("reference", "reward_model"):
            if getattr(self, name) is not None:
                getattr(self, name).load_state_dict(state[name])
        if self.replay is not None:
            self.replay.load_state_dict(json.loads(state["replay"]))


def retrain_reward_model(reward_model, sampler, questions: list[dict], replay: ReplayBuffer, cfg: GRPOConfig, d,
                         tokenizer: Tokenizer, iteration: int) -> dict:
    """Algorithm 1, line 12 (§4.1.4): "update r_φ through continuous training using a replay mechanism".
    --rm-questions questions (a fresh draw each iteration, shared out over the ranks) get --rm-samples
    outputs of the current policy each, labelled by reward.label_samples: correct or not (ORM), and per
    step Math-Shepherd's estimate or the toy world's exact check (PRM). Every rank gathers all labels;
    reward.ReplayBuffer adds 10% of the older data; the reward model then continues training from its
    current weights with pretrain.py's loop, and the scoring copy takes the new weights. (On GPU the
    scoring copy is bf16, so each iteration's training starts from bf16-rounded weights.)"""
    t0 = time.perf_counter()
    draw = torch.Generator().manual_seed(cfg.seed * 7919 + 104729 + iteration)
    order = torch.randperm(len(questions), generator=draw)
    mine = [questions[int(i)] for i in order[:cfg.rm_questions][d.rank::d.world]]
    stats = Counter()
    labelled = label_samples(sampler, tokenizer, mine, cfg.rm_samples, cfg.rm_labels,
                             cfg.rm_mc_samples if reward_model.kind == "prm" else 0,  # an ORM needs no step labels
                             cfg.template, cfg.max_new_tokens, cfg.temperature, cfg.rollout_batch,
                             seed=cfg.seed + 1000 * iteration + d.rank, stats=stats)
    gathered = [None] * d.world
    dist.all_gather_object(gathered, labelled)
    records = replay.mix([rec for part in gathered for rec in part])
    examples = [ex for ex in (reward_example(rec, tokenizer, reward_model.kind, cfg.template) for rec in records)
                if not isinstance(ex, str) and len(ex[0]) - 1 <= reward_model.config.max_seq_len]
    if not examples:
        raise ValueError(f"reward-model retraining: no usable example among {len(records)} records")

    rm_cfg = TrainConfig(out=str(Path(cfg.out) / "reward_model" / f"iteration_{iteration}"), seed=cfg.seed,
                         parallel=cfg.parallel, dtype=cfg.dtype, micro_batch=cfg.micro_batch, steps=1, lr=cfg.rm_lr,
                         schedule="constant", warmup_steps=0, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip,
                         save_every=0, log_every=10).resolved(d.world, reward_model.config.max_seq_len)
    tokens = sum(len(ids) - 1 for ids, _ in examples)
    rm_cfg = replace(rm_cfg, steps=max(1, math.ceil(cfg.rm_epochs * tokens / rm_cfg.batch_tokens)))
    with torch.device("meta" if d.device.type == "cuda" else "cpu"):  # as pretrain.build_model: never whole on GPU
        trainee = RewardModel(reward_model.config, reward_model.kind)
    trainee = wrap_model(trainee, d, cfg.parallel, mixed_precision=use_bf16(rm_cfg, d.device))
    # continue from the current weights (fp32 master copy from here on)
    set_model_state_dict(trainee, reward_model.state_dict(), options=StateDictOptions(full_state_dict=True))
    data = RewardData(examples, rm_cfg.seq_len, rm_cfg.micro_batch, tokenizer.pad_id, cfg.seed + iteration, d.rank,
                      d.world)
    history = train(trainee, build_optimizer(trainee, rm_cfg), data, reward_loss, rm_cfg, d,
                    flops_per_token=unwrap(trainee).decoder.flops_per_token(rm_cfg.seq_len))
    copy_weights(trainee, reward_model)
    return {"rm_samples": int(sum(len(part) for part in gathered)), "rm_examples": len(examples),
            "rm_steps": rm_cfg.steps, "rm_loss": history[-1]["loss"], "t_reward_model": time.perf_counter() - t0}


def frozen(model):
    """A model that only ever runs inference: eval mode, no gradients."""
    model.eval().requires_grad_(False)
    return model


def build_models(cfg: GRPOConfig, d):
    """π_θ (trained: DDP or FSDP2 via pretrain.py) with its optimiser and autocast context; π_ref (frozen:
    sharded like the policy under FSDP, else a whole copy, bf16 on GPU and fp32 on CPU); the model that
    samples (π_θ itself, or under FSDP a whole copy refreshed before each rollout; for RFT the frozen start
    model); the reward model for --reward orm|prm."""
    tc, model_cfg = cfg.train_config(), read_config(cfg.init)
    model = build_model(model_cfg, tc, d)
    optimizer = build_optimizer(model, tc)
    frozen_dtype = torch.bfloat16 if d.device.type == "cuda" else torch.float32
    full_copy = lambda: frozen(Transformer.load(cfg.init, device=d.device, dtype=frozen_dtype))  # noqa: E731
    reference = sampler = reward_model = None
    if cfg.algo == "rft":
        reference = sampler = full_copy()  # RFT: every sample comes from the starting model (Table 10)
    elif cfg.algo == "grpo" and cfg.beta > 0:
        reference = frozen(build_model(model_cfg, tc, d)) if cfg.parallel == "fsdp" else full_copy()
    if sampler is None:  # a sharded policy cannot run the KV-cache sampler
        sampler = full_copy() if cfg.parallel == "fsdp" else unwrap(model)
    if cfg.reward != "rule":
        reward_model = frozen(RewardModel.load(cfg.reward_model, device=d.device, dtype=frozen_dtype))
    return model, optimizer, autocast_for(model, tc, d.device), reference, sampler, reward_model


def train_grpo(cfg: GRPOConfig, reward_fn=None) -> dict:
    """Run Algorithm 1 with `cfg`; returns a summary {"steps", "records", "final", "data_stats"}.
    reward_fn(question_record, completion_text, completion_ids) -> float, for tasks of one's own, replaces
    the rule accuracy reward (1.0 = correct: it is also the accuracy metric and RFT's coefficient).
    Works as one process or under torchrun (rank 0 logs)."""
    cfg.check()
    d = setup_distributed()
    if cfg.batch_questions % d.world:
        raise ValueError(f"--batch-questions {cfg.batch_questions} must divide by the {d.world} ranks")
    seed_all(cfg.seed)
    out = Path(cfg.out)
    tokenizer_path = checkpoint_tokenizer(cfg.init, cfg.tokenizer)
    tokenizer = Tokenizer.load(tokenizer_path)
    data_stats = Counter()
    questions = load_questions(cfg.data, tokenizer, cfg.template, read_config(cfg.init).max_seq_len, data_stats)
    steps_per_iteration = cfg.steps_per_iteration or -(-len(questions) // cfg.batch_questions)
    total_steps = cfg.iterations * steps_per_iteration

    model, optimizer, amp, reference, sampler, reward_model = build_models(cfg, d)
    replay = None
    if reward_model is not None:
        replay = ReplayBuffer(cfg.rm_replay, cfg.seed)
        for path in cfg.rm_data:  # the reward model's own training data: the first "historical data"
            replay.add(list(read_jsonl(path, data_stats)))
    state = RLState(reference, reward_model, replay)

    start = 0
    if cfg.resume:
        path = latest_checkpoint(out / "checkpoints") if cfg.resume == "latest" else Path(cfg.resume)
        if path is None:
            raise FileNotFoundError(f"--resume: no complete checkpoint in {out / 'checkpoints'}")
        start = load_checkpoint(path, model, optimizer, state, d)
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"grpo": asdict(cfg), "model": asdict(unwrap(model).config),
                                                     "world_size": d.world, "data": dict(data_stats)}, indent=2))
        print(f"{cfg.algo}: {len(questions)} questions ({dict(data_stats)}); {cfg.iterations} iterations × "
              f"{steps_per_iteration} steps of {cfg.batch_questions} questions × G = {cfg.group_size}; "
              f"{d.world} × {d.device.type}, {cfg.parallel}")
    log = MetricsLog(out, d, resumed_step=start)

    records = []
    bar = tqdm(range(start, total_steps), initial=start, total=total_steps, disable=not d.is_main,
               desc=cfg.algo, dynamic_ncols=True)
    for step in bar:
        t_step = time.perf_counter()
        iteration, k = divmod(step, steps_per_iteration)
        if k == 0 and reference is not None and cfg.algo == "grpo":
            copy_weights(model, reference)  # π_ref ← π_θ (Algorithm 1, line 2)
        if sampler is not unwrap(model) and cfg.algo != "rft":
            copy_weights(model, sampler)    # π_old ← π_θ (line 5): the sampler holds the current weights
        lr = lr_at(step, total_steps, cfg.lr, cfg.warmup_steps, "constant")
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = [questions[i] for i in step_questions(len(questions), step, cfg.batch_questions, d.rank,
                                                      d.world, cfg.seed)]
        generator = torch.Generator(device=d.device).manual_seed((cfg.seed << 40) + (step << 16) + d.rank)
        ro = explore(sampler, reference, batch, cfg, tokenizer, reward_model, reward_fn, generator, amp)
        t0 = time.perf_counter()
        upd = update(model, optimizer, ro, cfg, d, tokenizer.pad_id, amp)
        t_update = time.perf_counter() - t0

        record = step_record(step + 1, iteration, lr, ro.sums, upd, d)
        if reward_model is not None and k == steps_per_iteration - 1 and cfg.rm_questions:
            if sampler is not unwrap(model):
                copy_weights(model, sampler)
            record.update(retrain_reward_model(reward_model, sampler, questions, replay, cfg, d, tokenizer, iteration))
        record.update(t_update=t_update, t_step=time.perf_counter() - t_step)
        records.append(record)
        done = step + 1
        if done % cfg.log_every == 0 or done == total_steps:
            log.write(record)
            bar.set_postfix(reward=f"{record['reward']:.3f}", acc=f"{record['accuracy']:.3f}", kl=f"{record['kl']:.4f}")
        if cfg.save_every and (done % cfg.save_every == 0 or done == total_steps):
            save_checkpoint(out / "checkpoints", done, model, optimizer, state, d, cfg.keep)
    export_model(model, out / "final", d, tokenizer=tokenizer_path)
    return {"steps": total_steps, "records": records, "final": str(out / "final"), "data_stats": dict(data_stats)}


def step_record(step: int, iteration: int, lr: float, sums: dict, upd: dict, d) -> dict:
    """One metrics record: this stage's sums over all ranks turned into means; times are rank 0's."""
    keys = ["outputs", "groups", "reward", "accuracy", "format", "response_len", "truncated", "zero_adv_groups",
            "trained_outputs", "neg_logp"]
    totals = torch.tensor([float(sums[k]) for k in keys] + [upd.get(k, 0.0) for k in ("kl", "clip_frac", "tokens")],
                          dtype=torch.float64, device=d.device)
    dist.all_reduce(totals)
    g = dict(zip(keys + ["kl", "clip_frac", "tokens"], totals.tolist()))
    n, tokens = max(g["outputs"], 1.0), max(g["tokens"], 1.0)
    return {"step": step, "iteration": iteration, "lr": lr,
            "reward": g["reward"] / n, "accuracy": g["accuracy"] / n, "format": g["format"] / n,
            "kl": g["kl"] / tokens, "clip_frac": g["clip_frac"] / tokens, "ratio_dev": upd.get("ratio_dev", 0.0),
            "entropy": g["neg_logp"] / max(g["response_len"], 1.0), "response_len": g["response_len"] / n,
            "truncated": g["truncated"] / n, "zero_adv_groups": g["zero_adv_groups"] / max(g["groups"], 1.0),
            "trained_outputs": int(g["trained_outputs"]), "loss": upd["loss"], "grad_norm": upd["grad_norm"],
            "rollout_tok_per_s": g["response_len"] / max(sums["t_sample"], 1e-9),
            "t_sample": sums["t_sample"], "t_reward": sums["t_reward"], "t_reference": sums["t_reference"]}


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    d = GRPOConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a = p.add_argument
    a("--init", required=True, help="policy to start from: a model.py checkpoint folder (the SFT model) or a "
                                    "Hugging Face one (deepseek-math-7b-instruct)")
    a("--data", required=True, help='RL questions, JSONL {"question", "answer"} (bad lines skipped and counted)')
    a("--out", default=d.out, help="run folder: checkpoints/, final/, metrics.jsonl, log.txt, config.json")
    a("--tokenizer", default=d.tokenizer, help="tokenizer folder (default: the one --init names, or --init "
                                                "itself when it is a Hugging Face folder)")
    a("--template", default=d.template, choices=TEMPLATES, help="prompt: deepseek (User/Assistant + \\boxed "
                                                                 "instruction) or r1 (R1-Zero <think>/<answer>)")
    a("--algo", default=d.algo, choices=ALGOS, help="Table 10: grpo; online_rft (SFT on the live policy's "
                                                     "correct samples); rft (the same on the start model's)")
    a("--reward", default=d.reward, choices=REWARDS, help="rule: answer checked against the gold (DeepSeek-R1 "
                                                           "accuracy); orm / prm: a learned outcome / process model")
    a("--format-reward", action="store_true", help="add R1's format reward (<think>…</think><answer>…</answer>) to the rule reward")
    a("--reward-model", default=d.reward_model, help="ORM / PRM checkpoint folder for --reward orm|prm")
    a("--iterations", type=int, default=d.iterations, help="outer iterations of Algorithm 1 (π_ref ← π_θ each)")
    a("--steps-per-iteration", type=int, default=d.steps_per_iteration,
      help="steps per iteration (default: one pass over the questions)")
    a("--batch-questions", type=int, default=d.batch_questions, help="questions per step, all ranks together")
    a("--group-size", "-G", type=int, default=d.group_size, help="G, outputs sampled per question")
    a("--mu", type=int, default=d.mu, help="μ, optimiser steps on each exploration stage's samples")
    a("--max-new-tokens", type=int, default=d.max_new_tokens, help="longest output")
    a("--temperature", type=float, default=d.temperature, help="sampling temperature (log-probs use it too)")
    a("--top-p", type=float, default=d.top_p, help="nucleus sampling (1: off)")
    a("--truncated", default=d.truncated, choices=TRUNCATED,
      help="outputs without EOS within --max-new-tokens: keep (score as is), zero_reward, mask (no loss)")
    a("--rollout-batch", type=int, default=d.rollout_batch, help="sequences per generate call (KV-cache memory)")
    a("--lr", type=float, default=d.lr, help="policy learning rate (constant after warm-up)")
    a("--beta", type=float, default=d.beta, help="β, weight of the KL penalty to π_ref (Eq. 3)")
    a("--clip-eps", type=float, default=d.clip_eps, help="ε of the clipped ratio (Eq. 3)")
    a("--loss-agg", default=d.loss_agg, choices=AGGREGATIONS,
      help="sequence: Eq. 3 (token mean per output, then mean); token: DAPO; dr_grpo: sum / --max-new-tokens")
    a("--no-std", dest="scale_rewards", action="store_false", help="advantages not divided by the group std "
                                                                    "(Dr. GRPO)")
    a("--skip-equal-groups", action="store_true",
      help="leave groups whose rewards are all equal out of the loss (their fraction is always logged)")
    a("--adv-eps", type=float, default=d.adv_eps, help="added to the std when normalising rewards")
    a("--rm-questions", type=int, default=d.rm_questions,
      help="after each iteration, retrain the ORM/PRM on the policy's outputs for this many questions (0: never)")
    a("--rm-samples", type=int, default=d.rm_samples, help="policy outputs per question for the retraining")
    a("--rm-labels", default=d.rm_labels, choices=["mc", "exact"],
      help="PRM step labels: mc (Math-Shepherd completions) or exact (toy world; needs 'solution' in --data)")
    a("--rm-mc-samples", type=int, default=d.rm_mc_samples, help="completions per step prefix for --rm-labels mc")
    a("--rm-epochs", type=float, default=d.rm_epochs, help="passes over each retraining set")
    a("--rm-lr", type=float, default=d.rm_lr, help="reward-model learning rate (§4.2: 2e-5)")
    a("--rm-replay", type=float, default=d.rm_replay, help="share of older data replayed (§4.1.4: 10%%)")
    a("--rm-data", nargs="*", default=[], help="the reward model's own labelled training data (reward.py label), "
                                               "the replay's first history")
    a("--seed", type=int, default=d.seed, help="seed of question order and sampling")
    add_runtime_args(p, d)
    return p


@tears_down_distributed
def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    return train_grpo(GRPOConfig(**{f.name: getattr(args, f.name) for f in fields(GRPOConfig)}))


if __name__ == "__main__":
    main()
