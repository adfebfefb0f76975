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
configuration -> questions -> one exploration stage (sample, score, π_ref) -> the policy update ->
Algorithm 1 -> command line. The machinery (DDP/FSDP2, the train step, checkpoints, the memory plan) is
trainer.py's; learned reward models and their retraining are reward.py's.
    python grpo.py --init runs/toy/sft/final --data runs/toy/world/rl.jsonl --out runs/toy/grpo -G 8 \\
        --batch-questions 16 --steps-per-iteration 35 --lr 2e-4 --max-new-tokens 100   # toy.sh's GRPO
    python grpo.py --init 7b --dry-run --world-size 8 --parallel fsdp --activation-checkpointing \\
        --rollout-batch 32 --micro-batch 4                             # memory and time of the 7B recipe
    torchrun --nproc_per_node 8 grpo.py --init ... --parallel fsdp --activation-checkpointing  # 7B: README
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from flags import add_flags, check_ranges, config_from, flag, run_cli
from formats import read_jsonl
from grader import LANGUAGES, accuracy_reward, format_reward, gradable, language_consistency
from hf import checkpoint_config, load_tokenizer
from model import Transformer
from sampler import generate
from reward import ReplayBuffer, RewardModel, retrain_reward_model, step_end_positions
from sft import TEMPLATES, encode_prompt
from tokenizer import Tokenizer, checkpoint_tokenizer
from trainer import (MetricsLog, RunConfig, autocast_for, build_model, build_optimizer, copy_weights,
                     export_model, frozen, load_frozen, lr_at, model_config, rl_plan, save_checkpoint,
                     seed_all, setup_distributed, start_or_resume, tears_down_distributed, train_step, unwrap)


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


def grpo_token_objective(logprobs, old_logprobs, ref_logprobs, advantages, clip_eps: float, beta: float):
    """Eq. 3 inside the sums, per token: min(ρ Â, clip(ρ, 1-ε, 1+ε) Â) - β D_KL (Eq. 4), ρ = π_θ/π_old.
    All [N, T]; ref_logprobs may be None when β = 0. Returns (objective, ρ, D_KL)."""
    ratio = torch.exp(logprobs - old_logprobs)
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages)
    kl = kl_k3(logprobs, ref_logprobs) if beta else torch.zeros_like(ratio)
    return surrogate - beta * kl, ratio, kl  # the KL is *subtracted* from J: added to the loss


def aggregate(objective, mask, agg: str = "sequence", max_len: int | None = None,
              denominator: float | None = None):
    """-J from per-token terms [N, T] (0 off the mask), the way `agg` averages them:
      "sequence"    Eq. 3: mean over each output's own tokens, then mean over outputs
      "token"       DAPO (arXiv 2503.14476): one mean over all tokens of the batch
      "dr_grpo"     Dr. GRPO (arXiv 2503.20783): sum over tokens / max_len (a constant), mean over outputs
    denominator: replaces the number of outputs ("sequence", "dr_grpo") or tokens ("token") that the sum is
    divided by, so that micro-batches (and ranks) add up to the loss of the whole batch."""
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
    return -total / (denominator if denominator is not None else max(float(count), 1.0))


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps: float = 0.2,
              beta: float = 0.04, agg: str = "sequence", max_len: int | None = None,
              denominator: float | None = None):
    """-J_GRPO (Eq. 3) on a batch of N outputs: `grpo_token_objective` on the completion tokens, averaged by
    `aggregate`. All [N, T] over completion tokens (T: the longest): logprobs log π_θ (with grad),
    old_logprobs log π_old (sampling time), ref_logprobs log π_ref (None when beta = 0), advantages Â ([N, T],
    or [N] for one value per output), mask 1 on completion tokens. Returns (loss, stats) with stats: kl (mean
    per token), clip_frac (tokens whose gradient the clip removes), ratio_dev (max |ρ - 1|), tokens
    (count)."""
    mask = mask.bool()
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(logprobs)
    # padding may hold anything: zero it so that exp() below never meets a stray large value
    logprobs, old_logprobs = logprobs.masked_fill(~mask, 0.0), old_logprobs.masked_fill(~mask, 0.0)
    ref_logprobs = ref_logprobs.masked_fill(~mask, 0.0) if beta else None
    objective, ratio, kl = grpo_token_objective(logprobs, old_logprobs, ref_logprobs, advantages, clip_eps,
                                                beta)
    loss = aggregate(objective.masked_fill(~mask, 0.0), mask, agg, max_len, denominator)

    with torch.no_grad():
        clipped = ((ratio > 1 + clip_eps) & (advantages > 0)) | ((ratio < 1 - clip_eps) & (advantages < 0))
        n = mask.sum().clamp(min=1)
        stats = {"kl": (kl * mask).sum() / n, "clip_frac": (clipped & mask).sum() / n,
                 "ratio_dev": ((ratio - 1).abs() * mask).max() if mask.any() else ratio.new_zeros(()),
                 "tokens": mask.sum()}
    return loss, stats


# ------------------------------------------------------------------------ Table 10: one loss, three methods

ALGOS = ("grpo", "online_rft", "rft")


def policy_loss(algo: str, logprobs, old_logprobs, ref_logprobs, advantages, correct, mask, clip_eps: float,
                beta: float, agg: str = "sequence", max_len: int | None = None,
                denominator: float | None = None):
    """The loss of `algo`, as the gradient coefficients of Table 10 (§5.2.1) put it.
      grpo:        GC = Â + β(π_ref/π_θ - 1)   -> grpo_loss as it is
      online_rft:  GC = 1[correct] on samples of the live policy  } grpo_loss with Â = 1[correct], β = 0 and
      rft:         GC = 1[correct] on samples of the start model  } π_old := π_θ (detached), so ρ ≡ 1 and
                   the gradient is exactly 1/|o| Σ_t 1[correct] ∇log π_θ: RFT's SFT on correct outputs.
    correct: [N] 0/1; the two RFTs differ only in where the samples come from (see `train_grpo`)."""
    if algo == "grpo":
        return grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps, beta, agg, max_len,
                         denominator)
    if algo in ("online_rft", "rft"):
        return grpo_loss(logprobs, logprobs.detach(), None, correct.to(logprobs.dtype), mask, clip_eps, 0.0,
                         agg, max_len, denominator)
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
    # where completion token 0 is predicted
    starts = torch.tensor([len(p) - 1 for p in prompts], device=device)
    index = (starts[:, None] + torch.arange(width, device=device)[None, :]).clamp(max=logprobs.shape[1] - 1)
    return logprobs.gather(1, index)


@torch.no_grad()
def sample_groups(model, prompts: list[list[int]], group_size: int, max_new_tokens: int, temperature: float,
                  top_p: float, stop_ids: tuple[int, ...], slots: int | None, generator=None):
    """G outputs for each prompt with sampler.py's engine, `slots` sequences decoding at once (None: as
    many as its KV-memory rule allows; each prompt is prefilled once for its G outputs).
    Returns (completions, logprobs) flattened prompt-major: row q*G + i is output i of prompt q. The
    log-probs are π_old's, taken now at the sampling temperature: GRPO's ratio ρ = π_θ/π_old needs them
    at that temperature (recomputing them at T = 1 would make ρ ≠ 1 before any update)."""
    return generate(model, prompts, max_new_tokens, temperature, top_p, stop_ids=stop_ids,
                    group_size=group_size, slots=slots, generator=generator)


# ----------------------------------------------------------------------------- configuration

REWARDS = ("rule", "orm", "prm")
TRUNCATED = ("keep", "zero_reward", "mask")
AGGREGATIONS = ("sequence", "token", "dr_grpo")


@dataclass
class GRPOConfig(RunConfig):
    """A GRPO run: the trainer's shared fields (trainer.RunConfig) plus these. Defaults: the paper's 7B
    recipe (§4.2) where it gives one; else marked."""
    init: str | None = flag(None, "policy to start from: a model.py checkpoint folder (the SFT model) or a "
                                  "Hugging Face one (deepseek-math-7b-instruct); with --dry-run also a "
                                  "preset name (7b)", required=True)
    data: str | None = flag(None, 'RL questions, JSONL {"question", "answer"} (bad lines skipped and '
                                  'counted); required except with --dry-run')
    out: str = flag("runs/grpo", "run folder: checkpoints/, final/, metrics.jsonl, log.txt, config.json")
    tokenizer: str | None = flag(None, "tokenizer folder (default: the one --init names, or --init itself "
                                       "when it is a Hugging Face folder)")
    template: str = flag("deepseek", "prompt: deepseek (User/Assistant + \\boxed instruction), r1 (R1-Zero "
                                     "<think>/<answer>) or hf (the checkpoint's own chat template)",
                         choices=TEMPLATES)
    algo: str = flag("grpo", "Table 10: grpo; online_rft (SFT on the live policy's correct samples); rft "
                             "(the same on the start model's)", choices=ALGOS)
    reward: str = flag("rule", "rule: answer checked against the gold (DeepSeek-R1 accuracy); orm / prm: a "
                               "learned outcome / process model", choices=REWARDS)
    format_reward: bool = flag(False, "add R1's format reward (<think>…</think><answer>…</answer>) to the "
                                      "rule reward")
    language_reward: float = flag(0.0, "DeepSeek-R1 §2.3.2: add WEIGHT × the chain of thought's share of "
                                       "--language words to the rule reward (grader.language_consistency; "
                                       "R1: weight 1)", min=0.0)
    language: str = flag("en", "target language of --language-reward", choices=LANGUAGES)
    reward_model: str | None = flag(None, "ORM / PRM checkpoint folder for --reward orm|prm")
    # Algorithm 1
    iterations: int = flag(1, "outer iterations of Algorithm 1 (π_ref ← π_θ each)", min=1)
    steps_per_iteration: int | None = flag(None, "steps per iteration (default: one pass over the questions)",
                                           min=1)
    batch_questions: int = flag(1024, "questions per step, all ranks together (§4.2: 1024)", min=1)
    group_size: int = flag(64, "G, outputs sampled per question (a group of one has no baseline)", min=2,
                           alias="-G")
    mu: int = flag(1, "μ, optimiser steps on each exploration stage's samples (§4.2: 1)", min=1)
    # sampling
    max_new_tokens: int = flag(1024, "longest output (§4.2: 1024)", min=1)
    temperature: float = flag(1.0, "sampling temperature, > 0 (log-probs use it too; not given in the paper)",
                              min=0.0, above=True)
    top_p: float = flag(1.0, "nucleus sampling (1: off)", min=0.0, max=1.0, above=True)
    truncated: str = flag("keep", "outputs without EOS within --max-new-tokens: keep (score as is), "
                                  "zero_reward, mask (no loss)", choices=TRUNCATED)
    rollout_batch: int | None = flag(None, "sampler slots: sequences decoding at once (default: as many as a "
                                           "quarter of the free GPU memory holds, 1 GiB on a CPU)", min=1)
    # objective
    lr: float = flag(1e-6, "policy learning rate, constant after warm-up (§4.2: 1e-6)", min=0.0)
    beta: float = flag(0.04, "β, weight of the KL penalty to π_ref (Eq. 3; §4.2: 0.04)", min=0.0)
    clip_eps: float = flag(0.2, "ε of the clipped ratio (Eq. 3; not given in the paper: PPO's value)",
                           min=0.0, max=1.0, above=True)
    loss_agg: str = flag("sequence", "sequence: Eq. 3 (token mean per output, then mean); token: DAPO; "
                                     "dr_grpo: sum / --max-new-tokens", choices=AGGREGATIONS)
    scale_rewards: bool = flag(True, "divide advantages by the group std (--no-scale-rewards: Dr. GRPO)")
    skip_equal_groups: bool = flag(False, "leave groups whose rewards are all equal out of the loss (their "
                                          "fraction is always logged)")
    adv_eps: float = flag(1e-4, "added to the std when normalising rewards", min=0.0, above=True)
    # reward-model retraining after each iteration (§4.1.4; --reward orm|prm)
    rm_questions: int = flag(512, "after each iteration, retrain the ORM/PRM on the policy's outputs for "
                                  "this many questions (0: never; not given in the paper)", min=0)
    rm_samples: int = flag(8, "policy outputs per question for the retraining", min=1)
    rm_labels: str = flag("mc", "PRM step labels: mc (Math-Shepherd completions) or exact (toy world; needs "
                                "'solution' in --data)", choices=("mc", "exact"))
    rm_mc_samples: int = flag(8, "completions per step prefix for --rm-labels mc", min=1)
    rm_epochs: float = flag(1.0, "passes over each retraining set", min=0.0, above=True)
    rm_lr: float = flag(2e-5, "reward-model learning rate (§4.2: 2e-5)", min=0.0)
    rm_replay: float = flag(0.1, "share of older data replayed (§4.1.4: 10%%)", min=0.0, max=1.0)
    rm_data: list[str] = flag([], "the reward model's own labelled training data (reward.py label), the "
                                  "replay's first history", nargs="*")
    # the optimiser's settings that differ from pre-training (weight decay is not given in the paper)
    warmup_steps: int = flag(0, "linear warm-up steps", min=0)
    weight_decay: float = flag(0.0, "AdamW weight decay (not on norms)", min=0.0)
    micro_batch: int = flag(4, "sequences per forward/backward per rank", min=1)
    log_every: int = flag(1, "metrics record every N steps", min=1)
    save_every: int = flag(50, "training checkpoint every N steps (0: never)", min=0)
    plan_prompt_tokens: int = flag(256, "dry run: prompt tokens per question", min=1)
    # held-out accuracy during training (the y-axis of §5.2's Fig. 5 and Fig. 6)
    eval_data: str | None = flag(None, 'held-out questions, JSONL {"question", "answer"}: greedy accuracy '
                                       'at step 0, every --eval-every steps and at the end (metrics '
                                       'test_accuracy)')
    eval_every: int = flag(0, "steps between held-out evaluations (0: only at step 0 and the end)", min=0)
    eval_limit: int | None = flag(None, "evaluate on the first N held-out questions (default: all)", min=1)

    def check(self):
        """The settings that only make sense together (each flag's own range is checked at parse time)."""
        if not self.init or not (self.data or self.dry_run):
            raise ValueError("--init (a model checkpoint) and --data (RL questions JSONL) are required")
        if self.reward != "rule" and not self.reward_model:
            raise ValueError(f"--reward {self.reward} needs --reward-model (a reward.py checkpoint)")
        if self.format_reward and self.reward != "rule":
            raise ValueError("--format-reward adds to the rule reward: it needs --reward rule")
        if self.language_reward and self.reward != "rule":
            raise ValueError("--language-reward adds to the rule reward: it needs --reward rule")
        if (self.eval_every or self.eval_limit) and not self.eval_data:
            raise ValueError("--eval-every / --eval-limit need --eval-data (held-out questions JSONL)")
        if self.algo != "grpo" and (self.reward != "rule" or self.skip_equal_groups):
            raise ValueError(f"--algo {self.algo} rewards correct answers (Table 10): it needs --reward rule "
                             f"and trains on all-correct groups too (no --skip-equal-groups)")
        return self


# ----------------------------------------------------------------------------- questions

def load_questions(path, tokenizer: Tokenizer, template: str, max_seq_len: int, stats: Counter) -> list[dict]:
    """RL records {"question", "answer"} -> {"question", "answer", "prompt" (ids)}, with the reference
    "solution" when the record has one (--rm-labels exact labels the reward model's new data by it).
    Skipped and counted in `stats`: read_jsonl's reasons, no_question, bad_gold (no answer, or one the grader
    cannot use: every reward kind reports accuracy), prompt_too_long (no room left in the context to
    answer)."""
    questions = []
    for rec in read_jsonl(path, stats):
        question, answer = rec.get("question"), rec.get("answer")
        if not isinstance(question, str) or not question.strip():
            stats["no_question"] += 1
            continue
        if not gradable(answer):
            stats["bad_gold"] += 1
            continue
        prompt = encode_prompt(tokenizer, question, template)
        if len(prompt) >= max_seq_len:
            stats["prompt_too_long"] += 1
            continue
        questions.append({"question": question, "answer": str(answer), "prompt": prompt,
                          **({"solution": rec["solution"]} if isinstance(rec.get("solution"), str) else {})})
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
            generator = torch.Generator().manual_seed(seed * 7919 + epoch)
            perms[epoch] = torch.randperm(n_questions, generator=generator)
        out.append(int(perms[epoch][i]))
    return out


def step_batch(questions: list[dict], step: int, cfg, proc) -> tuple[list[dict], torch.Generator]:
    """This rank's questions of one step and the generator its sampling draws from: both functions of (seed,
    step, rank) only, so a resumed run samples what an uninterrupted one would have."""
    batch = [questions[i] for i in step_questions(len(questions), step, cfg.batch_questions, proc.rank,
                                                  proc.world, cfg.seed)]
    seed = (cfg.seed << 40) + (step << 16) + proc.rank
    return batch, torch.Generator(device=proc.device).manual_seed(seed)


# ----------------------------------------------------------------------------- one exploration stage

@dataclass
class Rollout:
    """One exploration stage on this rank: G outputs for each of its questions (row q·G + i: output i of
    question q). Tensors are [N, C] over completion positions (C: the longest completion)."""
    prompts: list[list[int]]
    completions: list[list[int]]
    mask: torch.Tensor              # bool, True on completion tokens (EOS included)
    old_logprobs: torch.Tensor      # log π_old at sampling time, at the sampling temperature
    truncated: torch.Tensor         # [N] bool: no EOS within --max-new-tokens
    texts: list[str]                # the completions decoded (EOS dropped), for the rewards
    ref_logprobs: torch.Tensor | None = None
    advantages: torch.Tensor | None = None
    correct: torch.Tensor | None = None  # [N] 1.0 where the answer is right (the RFT coefficient)
    train_rows: list[int] = field(default_factory=list)  # rows in the loss (--truncated, --skip-equal-groups)
    sums: dict = field(default_factory=dict)              # metric sums over this rank's outputs
    # the rewards as scored, where they are given: one per output at its last token (outcome), or one per step
    # at the step's last token (process); completion positions. ppo.py builds Eq. 2's per-token rewards
    # on them
    given_rewards: list[list[float]] = field(default_factory=list)
    reward_positions: list[list[int]] = field(default_factory=list)


def explore(sampler, reference, questions: list[dict], cfg: GRPOConfig, tokenizer: Tokenizer, reward_model,
            reward_fn, generator, amp=nullcontext()) -> Rollout:
    """Algorithm 1, lines 6-9 on this rank: sample G outputs per question from π_old, score them, turn the
    scores into advantages, and take π_ref's log-probs of the outputs that train."""
    t0 = time.perf_counter()
    rollout = sample(sampler, questions, cfg, tokenizer, generator, amp)
    t1 = time.perf_counter()
    score(rollout, questions, cfg, tokenizer, reward_model, reward_fn)
    t2 = time.perf_counter()
    rollout.ref_logprobs = reference_logprobs(reference, rollout, cfg, tokenizer.pad_id, amp)
    rollout.sums.update(t_sample=t1 - t0, t_reward=t2 - t1, t_reference=time.perf_counter() - t2)
    return rollout


def sample(sampler, questions: list[dict], cfg: GRPOConfig, tokenizer: Tokenizer, generator,
           amp=nullcontext()) -> Rollout:
    """G outputs per question from π_old, with π_old's log-probs at the sampling temperature."""
    # EOS, and a released model's other end-of-turn ids (generation_config.json)
    stops = set(tokenizer.stop_ids)
    with amp:
        completions, logprobs = sample_groups(sampler, [q["prompt"] for q in questions], cfg.group_size,
                                              cfg.max_new_tokens, cfg.temperature, cfg.top_p,
                                              tokenizer.stop_ids, cfg.rollout_batch, generator)
    lengths = [len(c) for c in completions]
    width = max(lengths)
    return Rollout(prompts=[q["prompt"] for q in questions for _ in range(cfg.group_size)],
                   completions=completions, mask=completion_mask(lengths, width),
                   old_logprobs=right_pad(logprobs, 0.0, width, dtype=torch.float32),
                   truncated=torch.tensor([c[-1] not in stops for c in completions]),
                   texts=[tokenizer.decode(c[:-1] if c[-1] in stops else c) for c in completions])


def score(rollout: Rollout, questions: list[dict], cfg: GRPOConfig, tokenizer: Tokenizer, reward_model,
          reward_fn):
    """Rewards -> advantages (§4.1.2 outcome: one reward per output; §4.1.3 process: one per reasoning step),
    which rows train, and the stage's metric sums. Fills rollout.advantages, .correct, .train_rows, .sums."""
    G, Q = cfg.group_size, len(questions)
    N, C = rollout.mask.shape
    golds = [q for q in questions for _ in range(G)]
    if reward_fn is not None:  # a task of one's own: its reward takes the accuracy reward's part
        correct = torch.tensor([float(reward_fn(q, t, c))
                                for q, t, c in zip(golds, rollout.texts, rollout.completions)])
    else:
        correct = torch.tensor([accuracy_reward(t, q["answer"]) for t, q in zip(rollout.texts, golds)])
    formatted = torch.tensor([format_reward(t) for t in rollout.texts])
    zero = rollout.truncated & torch.tensor(cfg.truncated == "zero_reward")
    correct = correct.masked_fill(zero, 0.0)
    sequences = [p + c for p, c in zip(rollout.prompts, rollout.completions)]
    if cfg.reward == "prm":
        step_ends = [step_end_positions(c, tokenizer) for c in rollout.completions]
        step_rewards = reward_model.step_rewards(sequences, [[len(p) + e for e in ends]
                                                             for p, ends in zip(rollout.prompts, step_ends)])
        step_rewards = [[0.0] * len(r) if z else r for r, z in zip(step_rewards, zero.tolist())]
        groups = [slice(q * G, (q + 1) * G) for q in range(Q)]
        advantages = torch.cat([process_advantages(step_rewards[g], step_ends[g], C, cfg.scale_rewards,
                                                   cfg.adv_eps)
                                for g in groups])
        equal = torch.tensor([len({r for rs in step_rewards[g] for r in rs}) <= 1 for g in groups])
        rewards = torch.tensor([sum(r) / max(len(r), 1) for r in step_rewards])  # for the metrics
        rollout.given_rewards, rollout.reward_positions = step_rewards, step_ends
    else:
        if cfg.reward == "orm":
            rewards = torch.tensor(reward_model.outcome_rewards(sequences))
        else:  # DeepSeek-R1's rule reward (grader.rule_reward), kept in parts for the metrics
            rewards = correct + formatted if cfg.format_reward else correct.clone()
            if cfg.language_reward:  # R1 §2.3.2: the chain of thought's share of target-language words
                rewards += cfg.language_reward * torch.tensor([language_consistency(t, cfg.language)
                                                               for t in rollout.texts])
        rewards = rewards.masked_fill(zero, 0.0).view(Q, G)
        per_output = outcome_advantages(rewards, cfg.scale_rewards, cfg.adv_eps).view(N, 1)
        advantages = per_output.expand(N, C).clone()
        equal = rewards.max(dim=1).values == rewards.min(dim=1).values
        rewards = rewards.view(N)
        rollout.given_rewards = [[r] for r in rewards.tolist()]
        rollout.reward_positions = [[n - 1] for n in rollout.mask.sum(dim=1).tolist()]

    # which outputs train: drop truncated ones (--truncated mask) and groups with no signal
    # (--skip-equal-groups)
    drop = rollout.truncated & torch.tensor(cfg.truncated == "mask")
    if cfg.skip_equal_groups:
        drop |= equal.repeat_interleave(G)
    train_rows = (~drop).nonzero()[:, 0].tolist()
    rollout.advantages, rollout.correct, rollout.train_rows = advantages, correct, train_rows
    lengths = rollout.mask.sum(dim=1)
    rollout.sums = {"outputs": N, "groups": Q, "reward": rewards.sum().item(),
                    "accuracy": correct.sum().item(), "format": formatted.sum().item(),
                    "response_len": lengths.sum().item(), "truncated": rollout.truncated.sum().item(),
                    "zero_adv_groups": equal.sum().item(), "trained_outputs": len(rollout.train_rows),
                    # entropy, estimated from the sampled tokens: E[-log π(o_t)] under the
                    # (temperature-scaled) sampling distribution, with no extra pass over the vocabulary
                    "neg_logp": -(rollout.old_logprobs * rollout.mask).sum().item()}


def equal_forwards(n_rows: int, size: int, device) -> int:
    """Micro-batches every rank runs for `n_rows` rows of its own: the most any rank needs. A sharded model
    (FSDP) all-gathers its weights in every forward, so ranks with fewer rows (--skip-equal-groups,
    --truncated mask) must still run as many forwards, on a padding row, or the others wait forever."""
    count = torch.tensor(-(-n_rows // size), device=device)
    dist.all_reduce(count, op=dist.ReduceOp.MAX)
    return int(count)


@torch.no_grad()
def reference_logprobs(reference, rollout: Rollout, cfg: GRPOConfig, pad_id: int, amp=nullcontext()):
    """π_ref's log-probs of the training rows, at the sampling temperature like π_θ's, once per stage
    (π_ref is frozen within an iteration). None when the loss has no KL term."""
    if reference is None or cfg.algo != "grpo" or cfg.beta == 0:
        return None
    out = torch.zeros(rollout.mask.shape)
    rows_by_length = sorted(rollout.train_rows,
                            key=lambda r: len(rollout.prompts[r]) + len(rollout.completions[r]))
    device = next(reference.parameters()).device  # NCCL all-reduces tensors on the GPU
    for i in range(equal_forwards(len(rows_by_length), cfg.micro_batch, device)):
        rows = rows_by_length[i * cfg.micro_batch:(i + 1) * cfg.micro_batch]
        with amp:
            lp = completion_logprobs(reference, [rollout.prompts[r] for r in rows or [0]],
                                     [rollout.completions[r] for r in rows or [0]], cfg.temperature, pad_id)
        if rows:
            out[rows, :lp.shape[1]] = lp.float().cpu()
    return out


# ----------------------------------------------------------------------------- the policy update

class MicroBatches:
    """The training rows of a Rollout in micro-batches, as trainer.train_step draws them (`next_batch`).
    Rows are sorted by length, so a micro-batch pads to rows of about its own length rather than to the
    longest of the stage (the loss weighting is unchanged: train_step weights each micro-batch by its
    count). Every rank draws as many as the rank with the most rows (see `equal_forwards`), so one past
    this rank's rows holds a single row with an empty mask: no loss, no gradient."""

    def __init__(self, rollout: Rollout, size: int):
        self.rollout, self.size, self.i = rollout, size, 0
        length = lambda r: len(rollout.prompts[r]) + len(rollout.completions[r])  # noqa: E731
        self.rows = sorted(rollout.train_rows, key=length)
        self.computed = self.useful = 0  # tokens the forwards run on, and those of real rows
        # what the forwards would compute in sampling order (the same run's baseline for the sort)
        self.unsorted = sum(len(chunk) * max(map(length, chunk)) for chunk in
                            (rollout.train_rows[i:i + size] for i in range(0, len(rollout.train_rows), size)))

    def next_batch(self) -> dict:
        rollout = self.rollout
        rows = self.rows[self.i * self.size:(self.i + 1) * self.size]
        self.i += 1
        real = bool(rows)
        rows = rows or [0]
        width = max(len(rollout.completions[r]) for r in rows)
        full = [len(rollout.prompts[r]) + len(rollout.completions[r]) for r in rows]
        self.computed += len(rows) * max(full)
        self.useful += sum(full) if real else 0
        return {"prompts": [rollout.prompts[r] for r in rows],
                "completions": [rollout.completions[r] for r in rows],
                "mask": rollout.mask[rows, :width] & real, "old": rollout.old_logprobs[rows, :width],
                "ref": rollout.ref_logprobs[rows, :width] if rollout.ref_logprobs is not None else None,
                "adv": rollout.advantages[rows, :width], "correct": rollout.correct[rows]}


def update(model, optimizer, rollout: Rollout, cfg: GRPOConfig, proc, pad_id: int, amp=nullcontext()) -> dict:
    """μ optimiser steps on the objective of `cfg.algo` over this stage's outputs (Algorithm 1, the inner
    loop). Each step accumulates gradients over all micro-batches with trainer.train_step, which weights
    each micro-batch's loss by its count (outputs, or tokens for --loss-agg token) and divides by the count
    over all ranks: the step is that of the loss of the whole global batch. Returns the mean loss, the
    last gradient norm, kl and clip_frac summed over the tokens of all μ steps (with the token count),
    ratio_dev, max |ρ - 1| in the first step (0 up to rounding when π_old's log-probs are right), and the
    tokens the forwards computed against those of real rows (padding cost)."""
    n_micro = equal_forwards(len(rollout.train_rows), cfg.micro_batch, proc.device)
    totals = Counter()
    if n_micro == 0:  # every output of every rank was dropped: nothing to learn from
        return {"loss": 0.0, "grad_norm": 0.0, "updates": 0}

    def loss_fn(model, batch):
        logprobs = completion_logprobs(model, batch["prompts"], batch["completions"], cfg.temperature, pad_id)
        mask = batch["mask"]
        count = mask.sum() if cfg.loss_agg == "token" else mask.any(dim=1).sum()
        loss, stats = policy_loss(cfg.algo, logprobs.float(), batch["old"], batch["ref"], batch["adv"],
                                  batch["correct"], mask, cfg.clip_eps, cfg.beta, cfg.loss_agg,
                                  cfg.max_new_tokens, denominator=count.clamp(min=1))
        totals["kl"] += (stats["kl"] * stats["tokens"]).item()
        totals["clip_frac"] += (stats["clip_frac"] * stats["tokens"]).item()
        totals["tokens"] += stats["tokens"].item()
        if totals["updates"] == 0:  # ρ before the first update: 1 when π_old's log-probs are right
            totals["ratio_dev"] = max(totals["ratio_dev"], stats["ratio_dev"].item())
        return loss, count

    losses = []
    for _ in range(cfg.mu):
        batches = MicroBatches(rollout, cfg.micro_batch)
        loss, grad_norm = train_step(model, optimizer, batches, loss_fn, n_micro, cfg.grad_clip, proc, amp)
        losses.append(loss)
        totals["updates"] += 1
        totals["tokens_computed"] += batches.computed
        totals["tokens_useful"] += batches.useful
        totals["tokens_unsorted"] += batches.unsorted
    return {"loss": sum(losses) / len(losses), "grad_norm": grad_norm, **totals}


# ----------------------------------------------------------------------------- Algorithm 1

def build_models(cfg: GRPOConfig, proc):
    """π_θ (trained: DDP or FSDP2 via trainer.py) with its optimiser and autocast context; π_ref (frozen:
    sharded like the policy under FSDP, else a whole copy, bf16 on GPU and fp32 on CPU); the model that
    samples (π_θ itself, or under FSDP a whole copy refreshed before each rollout; for RFT the frozen start
    model); the reward model for --reward orm|prm."""
    model_cfg = checkpoint_config(cfg.init)
    model = build_model(model_cfg, cfg, proc)
    optimizer = build_optimizer(model, cfg)
    reference = sampler = reward_model = None
    if cfg.algo == "rft":
        reference = sampler = load_frozen(cfg.init, proc.device)  # RFT: samples come from the start model
    elif cfg.algo == "grpo" and cfg.beta > 0:
        reference = (frozen(build_model(model_cfg, cfg, proc)) if cfg.parallel == "fsdp"
                     else load_frozen(cfg.init, proc.device))
    if sampler is None:  # a sharded policy cannot run the KV-cache sampler
        sampler = load_frozen(cfg.init, proc.device) if cfg.parallel == "fsdp" else unwrap(model)
    if cfg.reward != "rule":
        reward_model = load_frozen(cfg.reward_model, proc.device, RewardModel)
    return model, optimizer, autocast_for(model, cfg, proc.device), reference, sampler, reward_model


def whole_policy(model, sampler, cfg: GRPOConfig, proc):
    """π_θ as one whole model on this rank, for the held-out evaluation: the policy itself (DDP), else the
    sampler's copy (FSDP; RFT's sampler is the start model, so it gets a copy of its own); refreshed from
    π_θ by `copy_weights` before each use when it is a copy."""
    if cfg.parallel != "fsdp":
        return unwrap(model)
    return sampler if cfg.algo != "rft" else load_frozen(cfg.init, proc.device)


def held_out_record(step: int, total_steps: int, model, policy, held_out: list[dict], cfg: GRPOConfig,
                    tokenizer, proc, amp) -> dict:
    """{"step", "test_accuracy"} of π_θ after `step` updates when an evaluation is due (step 0, every
    --eval-every steps, the last step), else {}; every rank takes part (collectives)."""
    due = step in (0, total_steps) or (cfg.eval_every and step % cfg.eval_every == 0)
    if not held_out or not due:
        return {}
    if policy is not unwrap(model):
        copy_weights(model, policy)
    return {"step": step, "test_accuracy": test_accuracy(policy, held_out, cfg, tokenizer, proc, amp)}


def prepare_run(cfg: GRPOConfig):
    """What an RL run (this file's, ppo.py's) does first: check the settings, join the process group, seed,
    load the tokenizer, the questions and the held-out ones (--eval-data). Returns (proc, tokenizer_path,
    tokenizer, questions, held_out, data_stats)."""
    check_ranges(cfg)
    cfg.check()
    proc = setup_distributed(cfg.dist_timeout)
    if cfg.batch_questions % proc.world:
        raise ValueError(f"--batch-questions {cfg.batch_questions} must divide by the {proc.world} ranks")
    seed_all(cfg.seed)
    tokenizer_path = checkpoint_tokenizer(cfg.init, cfg.tokenizer)
    tokenizer = load_tokenizer(tokenizer_path)
    data_stats, eval_stats = Counter(), Counter()
    max_seq_len = checkpoint_config(cfg.init).max_seq_len
    questions = load_questions(cfg.data, tokenizer, cfg.template, max_seq_len, data_stats)
    held_out = []
    if cfg.eval_data:
        held_out = load_questions(cfg.eval_data, tokenizer, cfg.template, max_seq_len,
                                  eval_stats)[:cfg.eval_limit]
        data_stats.update({f"eval_{k}": v for k, v in eval_stats.items()})
    return proc, tokenizer_path, tokenizer, questions, held_out, data_stats


def train_grpo(cfg: GRPOConfig, reward_fn=None) -> dict:
    """Run Algorithm 1 with `cfg`; returns a summary {"steps", "records", "final", "data_stats"}.
    reward_fn(question_record, completion_text, completion_ids) -> float, for tasks of one's own, replaces
    the rule accuracy reward (1.0 = correct: it is also the accuracy metric and RFT's coefficient).
    Works as one process or under torchrun (rank 0 logs)."""
    proc, tokenizer_path, tokenizer, questions, held_out, data_stats = prepare_run(cfg)
    out = Path(cfg.out)
    steps_per_iteration = cfg.steps_per_iteration or -(-len(questions) // cfg.batch_questions)
    total_steps = cfg.iterations * steps_per_iteration

    model, optimizer, amp, reference, sampler, reward_model = build_models(cfg, proc)
    replay = None
    if reward_model is not None:
        replay = ReplayBuffer(cfg.rm_replay, cfg.seed)
        for path in cfg.rm_data:  # the reward model's own training data: the first "historical data"
            replay.add(list(read_jsonl(path, data_stats)))
    # what a checkpoint holds besides π_θ, its optimiser and the step: π_ref and the reward model (sharded,
    # in the DCP checkpoint) and the replay buffer (per-rank file; the same on every rank). Question order
    # and sampling seeds are functions of the step, so they need no state.
    others = {}
    # RFT's reference is the start model: reloaded from --init
    if reference is not None and cfg.algo == "grpo":
        others["reference"] = reference
    if reward_model is not None:                       # retrained after each iteration (§4.1.4)
        others["reward_model"] = reward_model
    start = start_or_resume(cfg, model, optimizer, ReplayState(replay), proc, others)
    if proc.is_main:
        out.mkdir(parents=True, exist_ok=True)
        run_config = {"grpo": asdict(cfg), "model": asdict(unwrap(model).config), "world_size": proc.world,
                      "data": dict(data_stats)}
        (out / "config.json").write_text(json.dumps(run_config, indent=2))
        print(f"{cfg.algo}: {len(questions)} questions ({dict(data_stats)}); {cfg.iterations} iterations × "
              f"{steps_per_iteration} steps of {cfg.batch_questions} questions × G = {cfg.group_size}; "
              f"{proc.world} × {proc.device.type}, {cfg.parallel}")
    log = MetricsLog(out, proc, resumed_step=start)
    policy = whole_policy(model, sampler, cfg, proc) if held_out else None
    if start == 0 and (first := held_out_record(0, total_steps, model, policy, held_out, cfg, tokenizer, proc,
                                                amp)):
        log.write(first)

    records = []
    bar = tqdm(range(start, total_steps), initial=start, total=total_steps, disable=not proc.is_main,
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
        batch, generator = step_batch(questions, step, cfg, proc)
        rollout = explore(sampler, reference, batch, cfg, tokenizer, reward_model, reward_fn, generator, amp)
        t0 = time.perf_counter()
        result = update(model, optimizer, rollout, cfg, proc, tokenizer.pad_id, amp)
        t_update = time.perf_counter() - t0

        record = step_record(step + 1, iteration, lr, rollout.sums, result, proc)
        if reward_model is not None and k == steps_per_iteration - 1 and cfg.rm_questions:
            if sampler is not unwrap(model):
                copy_weights(model, sampler)
            record.update(retrain_reward_model(reward_model, sampler, questions, replay, cfg, proc, tokenizer,
                                               iteration))
        record.update(t_update=t_update, t_step=time.perf_counter() - t_step)
        record.update(memory_record([(model, optimizer), (reference, None), (sampler, None),
                                     (reward_model, None)],
                                    proc.device))
        records.append(record)
        done = step + 1
        record.update(held_out_record(done, total_steps, model, policy, held_out, cfg, tokenizer, proc, amp))
        if done % cfg.log_every == 0 or done == total_steps or "test_accuracy" in record:
            log.write(record)
            bar.set_postfix(reward=f"{record['reward']:.3f}", acc=f"{record['accuracy']:.3f}",
                            kl=f"{record['kl']:.4f}")
        if cfg.save_every and (done % cfg.save_every == 0 or done == total_steps):
            save_checkpoint(out / "checkpoints", done, model, optimizer, ReplayState(replay), proc, cfg.keep,
                            others)
    export_model(model, out / "final", proc, tokenizer=tokenizer_path)
    return {"steps": total_steps, "records": records, "final": str(out / "final"),
            "data_stats": dict(data_stats)}


class ReplayState:
    """The reward model's replay buffer as checkpoint state (one JSON string; nothing without one)."""

    def __init__(self, replay):
        self.replay = replay

    def state_dict(self) -> dict:
        return {"replay": json.dumps(self.replay.state_dict()) if self.replay is not None else ""}

    def load_state_dict(self, state: dict):
        if self.replay is not None:
            self.replay.load_state_dict(json.loads(state["replay"]))


@torch.no_grad()
def test_accuracy(policy, questions: list[dict], cfg: GRPOConfig, tokenizer: Tokenizer, proc,
                  amp=nullcontext()) -> float:
    """Greedy accuracy on held-out questions (the y-axis of Fig. 5), the rollouts' sampler at temperature 0;
    each rank answers every world-th question and the counts are summed over ranks."""
    mine = questions[proc.rank::proc.world]
    correct = 0.0
    if mine:
        with amp:
            completions, _ = generate(policy, [q["prompt"] for q in mine], cfg.max_new_tokens,
                                      temperature=0.0, stop_ids=tokenizer.stop_ids, slots=cfg.rollout_batch)
        stops = set(tokenizer.stop_ids)
        correct = sum(accuracy_reward(tokenizer.decode(c[:-1] if c[-1] in stops else c), q["answer"])
                      for c, q in zip(completions, mine, strict=True))
    totals = torch.tensor([correct, len(mine)], dtype=torch.float64, device=proc.device)
    dist.all_reduce(totals)
    return (totals[0] / totals[1]).item()


def memory_record(models, device) -> dict:
    """The training process's memory: the state it holds (parameters, gradients and optimiser moments of
    every model in `models`, this rank's shards under FSDP) and its peak (GPU: allocated by torch; CPU: the
    resident set, interpreter and libraries included), in MiB. §4.1.1's case against PPO is the first.
    models: (model, its optimiser or None) pairs; None models (a run without π_ref) are left out."""
    held = {}  # by storage address: the policy and its sampler are one model without FSDP
    for model, optimizer in models:
        if model is None:
            continue
        tensors = [p for p in model.parameters()] + [p.grad for p in model.parameters() if p.grad is not None]
        if optimizer is not None:
            tensors += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
        for tensor in tensors:
            local = getattr(tensor, "_local_tensor", tensor)  # an FSDP2 DTensor: this rank's shard
            held[local.data_ptr()] = local.nbytes
    held = sum(held.values())
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:  # ru_maxrss is in KiB on Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"held_state_mib": held / 2 ** 20, "peak_memory_mib": peak / 2 ** 20}


def step_record(step: int, iteration: int, lr: float, sums: dict, result: dict, proc) -> dict:
    """One metrics record: this stage's sums over all ranks turned into means; times are rank 0's."""
    keys = ["outputs", "groups", "reward", "accuracy", "format", "response_len", "truncated",
            "zero_adv_groups", "trained_outputs", "neg_logp"]
    update_keys = ["kl", "clip_frac", "tokens", "tokens_computed", "tokens_useful", "tokens_unsorted"]
    totals = torch.tensor([float(sums[k]) for k in keys] + [float(result.get(k, 0.0)) for k in update_keys],
                          dtype=torch.float64, device=proc.device)
    dist.all_reduce(totals)
    g = dict(zip(keys + update_keys, totals.tolist()))
    n, tokens = max(g["outputs"], 1.0), max(g["tokens"], 1.0)
    return {"step": step, "iteration": iteration, "lr": lr,
            "reward": g["reward"] / n, "accuracy": g["accuracy"] / n, "format": g["format"] / n,
            "kl": g["kl"] / tokens, "clip_frac": g["clip_frac"] / tokens,
            "ratio_dev": result.get("ratio_dev", 0.0),
            "entropy": g["neg_logp"] / max(g["response_len"], 1.0), "response_len": g["response_len"] / n,
            "truncated": g["truncated"] / n, "zero_adv_groups": g["zero_adv_groups"] / max(g["groups"], 1.0),
            "trained_outputs": int(g["trained_outputs"]), "loss": result["loss"],
            "grad_norm": result["grad_norm"],
            # tokens the update's forwards computed ÷ tokens of real rows, sorted by length and in
            # sampling order
            "pad_cost": g["tokens_computed"] / max(g["tokens_useful"], 1.0),
            "pad_cost_unsorted": g["tokens_unsorted"] / max(g["tokens_useful"], 1.0),
            "rollout_tok_per_s": g["response_len"] / max(sums["t_sample"], 1e-9),
            "t_sample": sums["t_sample"], "t_reward": sums["t_reward"], "t_reference": sums["t_reference"]}


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_flags(parser, GRPOConfig)
    return parser


def dry_run(cfg: GRPOConfig) -> dict:
    """Memory per GPU of every phase and time per step, before spending GPU hours (trainer.rl_plan)."""
    cfg.check()
    model_cfg = model_config(cfg)
    with torch.device("meta"):
        n_params = Transformer(model_cfg).num_params()
    reward_params = 0
    if cfg.reward != "rule":  # §4.2: the reward model is trained from the base model: the policy's size
        reward_cfg = model_config(replace(cfg, init=cfg.reward_model)) if cfg.reward_model else model_cfg
        with torch.device("meta"):
            reward_params = Transformer(reward_cfg).num_params()
    world = cfg.world_size or int(os.environ.get("WORLD_SIZE", 1))
    print(f"{cfg.algo}: policy {cfg.init}, {n_params:,} parameters; {cfg.batch_questions} questions × G = "
          f"{cfg.group_size} per step, μ = {cfg.mu}")
    return rl_plan(cfg, model_cfg, n_params, world, cfg.plan_prompt_tokens, reward_params)


@tears_down_distributed
def main(argv=None) -> dict:
    cfg = config_from(GRPOConfig, build_parser().parse_args(argv))
    return dry_run(cfg) if cfg.dry_run else train_grpo(cfg)


if __name__ == "__main__":
    run_cli(main)
