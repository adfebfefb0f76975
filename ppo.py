"""PPO as DeepSeekMath §4.1.1 writes it: the method GRPO replaces, with its value model.

PPO maximises the clipped surrogate (Eq. 1)

  J(θ) = E[ 1/|o| Σ_t min(ρ_t A_t, clip(ρ_t, 1-ε, 1+ε) A_t) ],
  ρ_t = π_θ(o_t | q, o_<t) / π_old(o_t | q, o_<t)

where the advantage A_t comes from Generalized Advantage Estimation (GAE, Schulman et al. 2015) over the
per-token rewards and a learned value function V_ψ. The KL penalty sits *in the reward* (Eq. 2):

  r_t = r_φ(q, o_≤t) - β log(π_θ(o_t | q, o_<t) / π_ref(o_t | q, o_<t))

with r_φ the outcome reward at the last token (or a process reward at each step's last token) and 0
elsewhere; π_θ here is the sampling policy π_old, whose log-probs the rollout already holds. Then

  δ_t = r_t + γ V(s_{t+1}) - V(s_t)         (V = 0 after the last token)
  A_t = Σ_l (γλ)^l δ_{t+l},   returns R_t = A_t + V(s_t)

The paper gives no γ and λ; with a single outcome reward at the end the common LLM setting is γ = 1 (no
discount within an answer) and λ = 1 or 0.95 (InstructGPT-style RLHF, DeepSpeed-Chat: γ = 1, λ = 0.95), the
defaults here. The value model V_ψ is reward.RewardModel (the decoder with a scalar head per position; the
value of token t is read where o_t is predicted) trained with the clipped value loss of PPO2:

  L_V = 1/|o| Σ_t ½ max((V_t - R_t)², (V_old,t + clip(V_t - V_old,t, -ε_v, ε_v) - R_t)²)

It is initialised from the reward model (InstructGPT, DeepSpeed-Chat; --value-init reward) or from the
policy with a fresh head (--value-init policy, the default: the rule reward has no reward model).

Table 10 (§5.2.1): at ρ = 1 PPO's gradient coefficient is GC(q, o, t) = A_t, the GAE advantage, where GRPO's
is the group-normalised Â + β(π_ref/π_θ - 1). Everything else is GRPO's (grpo.py): the rollout engine
(`sample`), the rewards (`score`), π_ref's log-probs, the micro-batched update, the trainer (DDP/FSDP2,
train_step, checkpoints with exact resume, the value model and its optimiser included).
    python ppo.py --init runs/toy/sft/final --data runs/toy/world/rl.jsonl --out runs/table10/ppo -G 1 \\
        --batch-questions 64 --steps-per-iteration 35 --lr 2e-4 --max-new-tokens 100
    # the plan, to compare with grpo.py's
    python ppo.py --init 7b --dry-run --world-size 8 --parallel fsdp --activation-checkpointing
"""
from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from flags import add_flags, config_from, flag, run_cli
from grpo import (GRPOConfig, MicroBatches, ReplayState, build_models, equal_forwards, held_out_record,
                  memory_record, prepare_run, reference_logprobs, right_pad, sample, score, step_batch,
                  step_record, update, whole_policy)
from hf import checkpoint_config
from model import Transformer, read_config
from reward import RewardModel
from trainer import (MetricsLog, autocast_for, build_model, build_optimizer, copy_weights, export_model,
                     lr_at, model_config, rl_plan, save_checkpoint, start_or_resume, tears_down_distributed,
                     train_step, unwrap)


# ----------------------------------------------------------------------------- Eq. 2, GAE, the value loss

def token_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor | None,
                  mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Eq. 2: r_t = r_φ_t - β (log π_θ - log π_ref) on every completion token, 0 on padding.
    scores [N, C]: the reward model's (or rule's) rewards placed where they are given (`place_scores`)."""
    kl = (logprobs - ref_logprobs) if ref_logprobs is not None and beta else torch.zeros_like(logprobs)
    return (scores - beta * kl).masked_fill(~mask.bool(), 0.0)


def place_scores(rewards: list[list[float]], positions: list[list[int]], width: int) -> torch.Tensor:
    """[N, width]: rewards[i][j] at completion position positions[i][j] (outcome: the last token; process:
    each step's last token), 0 elsewhere."""
    out = torch.zeros(len(rewards), width)
    for i, (values, where) in enumerate(zip(rewards, positions, strict=True)):
        for value, position in zip(values, where, strict=True):
            out[i, position] += value
    return out


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized Advantage Estimation, right to left over completion positions: returns (A [N, C],
    R = A + V [N, C]), 0 on padding. Completions are right-padded, so a row's next state past its last
    token is terminal: V = 0 there and the recursion restarts."""
    mask = mask.float()
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0])
    last = rewards.shape[1] - 1
    for t in reversed(range(rewards.shape[1])):
        next_mask = mask[:, t + 1] if t < last else torch.zeros_like(running)
        next_value = values[:, t + 1] * next_mask if t < last else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * next_mask * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float = 0.2, denominator: float | None = None) -> torch.Tensor:
    """PPO2's clipped value loss, aggregated like Eq. 1 (the mean over each output's tokens, then over
    outputs; `denominator` replaces the number of outputs so micro-batches add up to the batch's loss)."""
    mask = mask.bool()
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    per_token = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2).masked_fill(~mask, 0.0)
    per_output = per_token.sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return per_output.sum() / (denominator if denominator is not None else max(mask.shape[0], 1))


# ----------------------------------------------------------------------------- the value model's inputs

def completion_values(value_model, prompts: list[list[int]], completions: list[list[int]], pad_id: int):
    """V at each completion token: the scalar head where o_t is predicted (the state q, o_<t), [N, C]."""
    device = next(value_model.parameters()).device
    tokens = right_pad([p + c for p, c in zip(prompts, completions, strict=True)], pad_id, device=device)
    scores = value_model(tokens)  # [N, T]
    starts = torch.tensor([len(p) - 1 for p in prompts], device=device)
    index = starts[:, None] + torch.arange(max(map(len, completions)), device=device)[None, :]
    return scores.gather(1, index.clamp(max=scores.shape[1] - 1))


@torch.no_grad()
def rollout_values(value_model, rollout, cfg, pad_id: int, amp=nullcontext()) -> torch.Tensor:
    """V_old of the training rows, once per stage, in the same micro-batches on every rank (FSDP)."""
    out = torch.zeros(rollout.mask.shape)
    rows = sorted(rollout.train_rows, key=lambda r: len(rollout.prompts[r]) + len(rollout.completions[r]))
    for i in range(equal_forwards(len(rows), cfg.micro_batch, next(value_model.parameters()).device)):
        chunk = rows[i * cfg.micro_batch:(i + 1) * cfg.micro_batch]
        with amp:
            values = completion_values(value_model, [rollout.prompts[r] for r in chunk or [0]],
                                       [rollout.completions[r] for r in chunk or [0]], pad_id)
        if chunk:
            out[chunk, :values.shape[1]] = values.float().cpu()
    return out


class ValueBatches(MicroBatches):
    """grpo.MicroBatches' rows with the value targets: returns R and V_old."""

    def __init__(self, rollout, size: int, returns: torch.Tensor, old_values: torch.Tensor):
        super().__init__(rollout, size)
        self.returns, self.old_values = returns, old_values

    def next_batch(self) -> dict:
        batch = super().next_batch()
        rows = self.rows[(self.i - 1) * self.size:self.i * self.size] or [0]
        width = batch["mask"].shape[1]
        return {**batch, "returns": self.returns[rows, :width], "old_values": self.old_values[rows, :width]}


# ----------------------------------------------------------------------------- configuration

@dataclass
class PPOConfig(GRPOConfig):
    """A PPO run: grpo.py's settings (sampling, rewards, trainer) plus GAE and the value model."""
    out: str = flag("runs/ppo",
                    "run folder: checkpoints/, final/ (policy), value/ (value model), metrics.jsonl")
    group_size: int = flag(1, "outputs sampled per question (PPO needs no group: 1)", min=1, alias="-G")
    gamma: float = flag(1.0, "γ, GAE discount (not given in the paper; 1: no discount within an answer)",
                        min=0.0, max=1.0)
    lam: float = flag(0.95, "λ, GAE trace decay (not given in the paper; DeepSpeed-Chat's 0.95)", min=0.0,
                      max=1.0)
    value_init: str = flag("policy", "value model's start: policy (its decoder, a fresh scalar head) or "
                                     "reward (--reward-model, as InstructGPT / DeepSpeed-Chat)",
                           choices=("policy", "reward"))
    value_lr: float | None = flag(None, "value model learning rate (default: --lr)", min=0.0)
    value_clip: float = flag(0.2, "ε_v of the clipped value loss", min=0.0, above=True)
    rm_questions: int = flag(0, "must be 0: PPO runs one iteration and does not retrain the reward model "
                                "(iterative retraining is grpo.py's --iterations)", min=0, max=0)

    def check(self):
        super().check()
        if self.algo != "grpo":
            raise ValueError("--algo chooses among grpo.py's methods; ppo.py is PPO")
        if self.skip_equal_groups:
            raise ValueError("--skip-equal-groups drops groups with no signal for GRPO's baseline; PPO's "
                             "baseline is the value model, and a group of one is always 'equal'")
        if self.iterations != 1:
            raise ValueError("--iterations > 1 is iterative GRPO (grpo.py); PPO keeps π_ref = the start "
                             "model")
        if self.value_init == "reward" and not self.reward_model:
            raise ValueError("--value-init reward needs --reward-model (a reward.py checkpoint)")
        return self


# ----------------------------------------------------------------------------- one PPO step

def sampled_kl(rollout, proc) -> float:
    """Mean of log π_old - log π_ref over the sampled tokens of all ranks: the KL that Eq. 2 charges."""
    mask = rollout.mask.float()
    totals = torch.stack([((rollout.old_logprobs - rollout.ref_logprobs) * mask).sum(), mask.sum()]).double()
    totals = totals.to(proc.device)
    dist.all_reduce(totals)
    return (totals[0] / totals[1].clamp(min=1)).item()


def update_values(value_model, optimizer, rollout, returns, old_values, cfg: PPOConfig, proc, pad_id: int,
                  amp=nullcontext()) -> float:
    """μ optimiser steps of the value model on the clipped value loss (trainer.train_step)."""
    n_micro = equal_forwards(len(rollout.train_rows), cfg.micro_batch, proc.device)
    if n_micro == 0:
        return 0.0

    def loss_fn(model, batch):
        values = completion_values(model, batch["prompts"], batch["completions"], pad_id)
        count = batch["mask"].any(dim=1).sum()
        return value_loss(values.float(), batch["old_values"], batch["returns"], batch["mask"],
                          cfg.value_clip, count.clamp(min=1)), count

    losses = [train_step(value_model, optimizer, ValueBatches(rollout, cfg.micro_batch, returns, old_values),
                         loss_fn, n_micro, cfg.grad_clip, proc, amp)[0] for _ in range(cfg.mu)]
    return sum(losses) / len(losses)


def build_value_model(cfg: PPOConfig, proc):
    """V_ψ: a RewardModel (decoder + scalar head), from the reward model or from the policy's decoder."""
    if cfg.value_init == "reward":
        return build_model(read_config(cfg.reward_model), replace(cfg, init=cfg.reward_model), proc,
                           RewardModel)
    return build_model(checkpoint_config(cfg.init), cfg, proc, RewardModel, adapt=RewardModel.from_lm_state)


def train_ppo(cfg: PPOConfig, reward_fn=None) -> dict:
    """PPO with `cfg` (grpo.train_grpo's loop with a value model; `reward_fn` as there, for tasks of one's
    own); returns {"steps", "records", "final", "value"}."""
    proc, tokenizer_path, tokenizer, questions, held_out, data_stats = prepare_run(cfg)
    out = Path(cfg.out)
    total_steps = cfg.steps_per_iteration or -(-len(questions) // cfg.batch_questions)

    model, optimizer, amp, reference, sampler, reward_model = build_models(cfg, proc)
    value_model = build_value_model(cfg, proc)
    value_peak_lr = cfg.value_lr if cfg.value_lr is not None else cfg.lr
    value_optimizer = build_optimizer(value_model, replace(cfg, lr=value_peak_lr))
    value_amp = autocast_for(value_model, cfg, proc.device)
    # π_ref and the reward model are reloaded from their folders; the value model trains: with its optimiser
    others = {"value": (value_model, value_optimizer)}
    start = start_or_resume(cfg, model, optimizer, ReplayState(None), proc, others)
    if proc.is_main:
        out.mkdir(parents=True, exist_ok=True)
        settings = {"ppo": asdict(cfg), "model": asdict(unwrap(model).config), "world_size": proc.world,
                    "data": dict(data_stats)}
        (out / "config.json").write_text(json.dumps(settings, indent=2))
    log = MetricsLog(out, proc, resumed_step=start)
    policy = whole_policy(model, sampler, cfg, proc) if held_out else None
    if start == 0 and (first := held_out_record(0, total_steps, model, policy, held_out, cfg, tokenizer, proc,
                                                amp)):
        log.write(first)
    policy_cfg = replace(cfg, beta=0.0)  # Eq. 1 has no KL term: it is in the reward (Eq. 2)

    records = []
    for step in tqdm(range(start, total_steps), initial=start, total=total_steps, disable=not proc.is_main,
                     desc="ppo", dynamic_ncols=True):
        t_step = time.perf_counter()
        if sampler is not unwrap(model):
            copy_weights(model, sampler)  # π_old ← π_θ
        lr = lr_at(step, total_steps, cfg.lr, cfg.warmup_steps, "constant")
        value_lr = lr_at(step, total_steps, value_peak_lr, cfg.warmup_steps, "constant")
        for group in optimizer.param_groups:
            group["lr"] = lr
        for group in value_optimizer.param_groups:
            group["lr"] = value_lr
        batch, generator = step_batch(questions, step, cfg, proc)
        t0 = time.perf_counter()
        rollout = sample(sampler, batch, cfg, tokenizer, generator, amp)
        t1 = time.perf_counter()
        # r_φ: rule, ORM or PRM, as GRPO scores
        score(rollout, batch, cfg, tokenizer, reward_model, reward_fn)
        scores = place_scores(rollout.given_rewards, rollout.reward_positions, rollout.mask.shape[1])
        t2 = time.perf_counter()
        rollout.ref_logprobs = reference_logprobs(reference, rollout, cfg, tokenizer.pad_id, amp)
        t3 = time.perf_counter()
        old_values = rollout_values(value_model, rollout, cfg, tokenizer.pad_id, value_amp)
        rollout.sums.update(t_sample=t1 - t0, t_reward=t2 - t1, t_reference=t3 - t2)
        t_values = time.perf_counter() - t3
        rewards = token_rewards(scores, rollout.old_logprobs, rollout.ref_logprobs, rollout.mask, cfg.beta)
        rollout.advantages, returns = gae(rewards, old_values, rollout.mask, cfg.gamma, cfg.lam)

        t0 = time.perf_counter()
        result = update(model, optimizer, rollout, policy_cfg, proc, tokenizer.pad_id, amp)
        result["value_loss"] = update_values(value_model, value_optimizer, rollout, returns, old_values, cfg,
                                             proc, tokenizer.pad_id, value_amp)
        record = step_record(step + 1, 0, lr, rollout.sums, result, proc)
        del record["zero_adv_groups"]  # GRPO's group-baseline metric: a group of one is always "equal"
        # the KL of Eq. 2 (log π_old - log π_ref on the sampled tokens), since the policy loss has none
        if rollout.ref_logprobs is not None:
            record["kl"] = sampled_kl(rollout, proc)
        record.update(value_loss=result["value_loss"], t_values=t_values, t_update=time.perf_counter() - t0,
                      t_step=time.perf_counter() - t_step)
        record.update(memory_record([(model, optimizer), (value_model, value_optimizer), (reference, None),
                                     (sampler, None), (reward_model, None)], proc.device))
        records.append(record)
        done = step + 1
        record.update(held_out_record(done, total_steps, model, policy, held_out, cfg, tokenizer, proc, amp))
        if done % cfg.log_every == 0 or done == total_steps or "test_accuracy" in record:
            log.write(record)
        if cfg.save_every and (done % cfg.save_every == 0 or done == total_steps):
            save_checkpoint(out / "checkpoints", done, model, optimizer, ReplayState(None), proc, cfg.keep,
                            others)
    export_model(model, out / "final", proc, tokenizer=tokenizer_path)
    export_model(value_model, out / "value", proc, tokenizer=tokenizer_path)
    return {"steps": total_steps, "records": records, "final": str(out / "final"),
            "value": str(out / "value")}


# ----------------------------------------------------------------------------- command line

def dry_run(cfg: PPOConfig) -> dict:
    """grpo.py's plan with the value model added (held training state, its update phase, its FLOPs): the
    memory PPO needs beside GRPO at the same batch, the paper's reason to drop the value model (§4.1.1)."""
    cfg.check()
    model_cfg = model_config(cfg)
    with torch.device("meta"):
        n_params = Transformer(model_cfg).num_params()
    reward_params = n_params if cfg.reward != "rule" else 0  # §4.2: reward models are the policy's size
    world = cfg.world_size or int(os.environ.get("WORLD_SIZE", 1))
    print(f"ppo: policy {cfg.init}, {n_params:,} parameters, value model of the same size; "
          f"{cfg.batch_questions} questions × {cfg.group_size} per step, μ = {cfg.mu}")
    return rl_plan(cfg, model_cfg, n_params, world, cfg.plan_prompt_tokens, reward_params,
                   value_params=n_params)


@tears_down_distributed
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_flags(parser, PPOConfig)
    cfg = config_from(PPOConfig, parser.parse_args(argv))
    return dry_run(cfg) if cfg.dry_run else train_ppo(cfg)


if __name__ == "__main__":
    run_cli(main)
