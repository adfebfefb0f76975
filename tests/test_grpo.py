"""Tests of grpo.py against hand-derived numbers, a naive per-token loop of Eq. 3/4, Table 10 and toy runs."""
import copy
import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

import grpo

from formats import BOXED_SUFFIX, write_jsonl
from grpo import (GRPOConfig, ReplayState, completion_logprobs, completion_mask, explore, grpo_loss, kl_k3,
                  load_questions, main, outcome_advantages, policy_loss, process_advantages, right_pad,
                  sample_groups, step_questions, train_grpo, update)
from model import ModelConfig, Transformer
from sampler import generate
from trainer import build_optimizer, load_checkpoint, setup_distributed, wrap_model
from trainer import unwrap as trainer_unwrap
from reward import ReplayBuffer, RewardModel
from tokenizer import Tokenizer

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- advantages

def test_outcome_advantages_by_hand():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0],     # mean 1/2, population std 1/2
                            [0.0, 0.0, 1.0, 0.0],     # mean 1/4, std sqrt(3/16)
                            [0.5, 0.5, 0.5, 0.5]])    # all equal: no signal
    s = math.sqrt(3 / 16)
    expected = torch.tensor([[1.0, -1.0, -1.0, 1.0],
                             [-0.25 / s, -0.25 / s, 0.75 / s, -0.25 / s],
                             [0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(outcome_advantages(rewards, eps=0.0)[:2], expected[:2], atol=1e-6)
    adv = outcome_advantages(rewards)  # default eps = 1e-4: barely moves the values, keeps 0/0 away
    assert torch.allclose(adv, expected, atol=1e-3) and torch.equal(adv[2], torch.zeros(4))
    # without std division (Dr. GRPO): only centred
    assert torch.allclose(outcome_advantages(rewards, scale=False)[1],
                          torch.tensor([-0.25, -0.25, 0.75, -0.25]))


def test_process_advantages_by_hand():
    # output 0: two steps, rewards 1.0 (ends at token 1) and 0.0 (ends at token 3);
    # output 1: one step, reward 0.8, ending at token 2 (its last token). Group mean 0.6.
    s = math.sqrt((0.4 ** 2 + 0.6 ** 2 + 0.2 ** 2) / 3)  # population std of all three step rewards
    r = [0.4 / s, -0.6 / s, 0.2 / s]                     # normalised step rewards
    adv = process_advantages([[1.0, 0.0], [0.8]], [[1, 3], [2]], length=4, eps=0.0)
    expected = torch.tensor([[r[0] + r[1], r[0] + r[1], r[1], r[1]],   # t <= 1: both steps end at or after t
                             [r[2], r[2], r[2], 0.0]])                  # past its end: nothing
    assert torch.allclose(adv, expected, atol=1e-5)


# ----------------------------------------------------------------------------- the loss against Eq. 3/4

def naive_loss(lp, old, ref, adv, lengths, eps, beta):
    """Eq. 3 and Eq. 4 written as a per-token Python loop over scalars, negated."""
    total = 0.0
    for i, n in enumerate(lengths):
        per_output = 0.0
        for t in range(n):
            rho = torch.exp(lp[i, t] - old[i, t])
            clipped = torch.clamp(rho, 1 - eps, 1 + eps)
            kl = torch.exp(ref[i, t] - lp[i, t]) - (ref[i, t] - lp[i, t]) - 1
            per_output = per_output + torch.min(rho * adv[i, t], clipped * adv[i, t]) - beta * kl
        total = total + per_output / n
    return -total / len(lengths)


def random_batch(n=5, t=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = [7, 3, 5, 1, 6][:n]
    lp = (-torch.rand(n, t, generator=g) * 3).requires_grad_()
    old = lp.detach() + 0.4 * torch.randn(n, t, generator=g)  # ratios well inside and outside the clip range
    ref = lp.detach() + 0.5 * torch.randn(n, t, generator=g)
    adv = torch.randn(n, t, generator=g)
    mask = torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]
    return lp, old, ref, adv, mask, lengths


def test_grpo_loss_value_and_gradient_match_naive_loop():
    lp, old, ref, adv, mask, lengths = random_batch()
    loss, stats = grpo_loss(lp, old, ref, adv, mask, clip_eps=0.2, beta=0.04)
    (grad,) = torch.autograd.grad(loss, lp)
    lp2 = lp.detach().clone().requires_grad_()
    naive = naive_loss(lp2, old, ref, adv, lengths, 0.2, 0.04)
    naive.backward()
    assert torch.allclose(loss, naive, atol=1e-6)
    assert torch.allclose(grad, lp2.grad, atol=1e-6)
    assert 0 < stats["clip_frac"] < 1 and stats["tokens"] == sum(lengths)
    naive_kl = sum(kl_k3(lp[i, :n], ref[i, :n]).sum() for i, n in enumerate(lengths)) / sum(lengths)
    assert torch.allclose(stats["kl"], naive_kl)


def test_gradient_at_ratio_one_is_table10_coefficient():
    """At π_θ = π_old, d(-J)/d log π_θ(o_i,t) = -(Â + β(π_ref/π_θ - 1)) / (|o_i| G) (§5.2.1, Table 10)."""
    lp, _, ref, adv, mask, lengths = random_batch(seed=1)
    beta = 0.04
    loss, stats = grpo_loss(lp, lp.detach(), ref, adv, mask, clip_eps=0.2, beta=beta)
    loss.backward()
    coefficient = adv + beta * (torch.exp(ref - lp.detach()) - 1)
    expected = -coefficient / (torch.tensor(lengths)[:, None] * len(lengths)) * mask
    assert torch.allclose(lp.grad, expected, atol=1e-7)
    assert stats["clip_frac"] == 0 and stats["ratio_dev"] == 0


def test_kl_is_added_to_the_loss_and_vanishes_at_the_reference():
    lp, _, ref, _, mask, _ = random_batch(seed=2)
    zero = torch.zeros_like(lp)
    # with no advantage the whole loss is β·KL >= 0: a penalty, not a bonus
    loss, stats = grpo_loss(lp, lp.detach(), ref, zero, mask, beta=0.1)
    assert loss > 0 and stats["kl"] > 0
    assert torch.allclose(loss, 0.1 * naive_loss(lp, lp.detach(), ref, zero, mask.sum(1).tolist(), 0.2, 1.0))
    # π_θ = π_ref: KL 0 and its gradient 0
    lp.grad = None
    loss, stats = grpo_loss(lp, lp.detach(), lp.detach(), zero, mask, beta=0.1)
    loss.backward()
    assert stats["kl"] == 0 and loss == 0 and torch.equal(lp.grad, torch.zeros_like(lp))


def test_aggregations_token_mean_and_dr_grpo():
    lp, old, ref, adv, mask, lengths = random_batch(seed=3)
    ratio = torch.exp(lp - old)
    per_token = torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv) - 0.04 * kl_k3(lp, ref)
    per_token = per_token * mask
    token, _ = grpo_loss(lp, old, ref, adv, mask, beta=0.04, agg="token")
    assert torch.allclose(token, -per_token.sum() / sum(lengths))
    dr, _ = grpo_loss(lp, old, ref, adv, mask, beta=0.04, agg="dr_grpo", max_len=10)
    assert torch.allclose(dr, -per_token.sum() / 10 / len(lengths))
    with pytest.raises(ValueError):
        grpo_loss(lp, old, ref, adv, mask, agg="dr_grpo")
    # micro-batches with the whole batch's denominator add up to the whole batch's loss
    halves = [grpo_loss(lp[s], old[s], ref[s], adv[s], mask[s], beta=0.04, denominator=len(lengths))[0]
              for s in (slice(0, 2), slice(2, None))]
    whole, _ = grpo_loss(lp, old, ref, adv, mask, beta=0.04)
    assert torch.allclose(halves[0] + halves[1], whole)


# ----------------------------------------------------------------------------- a tiny world

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A byte-level tokenizer with a few merges, a random 1-layer policy saved as a checkpoint, and
    16 addition questions."""
    root = tmp_path_factory.mktemp("grpo")
    tok = Tokenizer.train(["What is 12 + 30? The answer is 42."] * 5, vocab_size=270)
    tok.save(root / "tok")
    torch.manual_seed(0)
    policy = Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layers=1, d_model=32, n_heads=2, ffn_dim=64,
                                     max_seq_len=128))
    policy.save(root / "init", tokenizer=str(root / "tok"))
    write_jsonl(root / "rl.jsonl", [{"question": f"What is {a} + {b}?", "answer": str(a + b)}
                                    for a in range(4) for b in range(4)])
    digits = {i for i in range(tok.vocab_size) if tok.token_bytes(i).isdigit()}
    return {"root": root, "tok": tok, "policy": policy.eval(), "digits": digits}


def digit_reward(digits):
    """A task a random tiny policy can learn by RL alone: the share of its tokens that are digits."""
    return lambda question, text, ids: sum(t in digits for t in ids) / len(ids)


def config(world, out, **kw):
    settings = dict(group_size=8, batch_questions=4, max_new_tokens=8, micro_batch=32, save_every=0,
                    log_every=100)
    return GRPOConfig(init=str(world["root"] / "init"), data=str(world["root"] / "rl.jsonl"), out=str(out),
                      **{**settings, **kw})


# ----------------------------------------------------------------------------- traps

def test_old_logprobs_from_generate_equal_recomputed_ones_at_the_sampling_temperature(world):
    policy, prompts = world["policy"], [[5, 6, 7], [8, 9, 10, 11, 12]]
    g = torch.Generator().manual_seed(0)
    completions, old = sample_groups(policy, prompts, group_size=3, max_new_tokens=6, temperature=0.7,
                                     top_p=1.0, stop_ids=world["tok"].stop_ids, slots=4, generator=g)
    rows = [p for p in prompts for _ in range(3)]
    mask = completion_mask([len(c) for c in completions], max(map(len, completions)))
    old = right_pad(old, 0.0, mask.shape[1], dtype=torch.float32)
    with torch.no_grad():
        same_t = completion_logprobs(policy, rows, completions, 0.7, world["tok"].pad_id)
        other_t = completion_logprobs(policy, rows, completions, 1.0, world["tok"].pad_id)
    assert torch.allclose(same_t[mask], old[mask], atol=1e-5)         # ρ = 1 before the first update
    assert (other_t[mask] - old[mask]).abs().max() > 1e-2             # the trap: another temperature, ρ ≠ 1


def test_eos_stays_in_the_mask_when_pad_equals_eos(world):
    policy, eos = world["policy"], world["tok"].eos_id
    prompts, completions = [[5, 6], [7, 8, 9]], [[10, 11, eos], [12, eos]]
    mask = completion_mask([len(c) for c in completions], 3)
    assert mask.tolist() == [[True, True, True], [True, True, False]]
    padded = right_pad(completions, eos)
    assert (padded != eos).sum() == 3  # what a mask built from `!= pad_id` would keep: no EOS at all
    with torch.no_grad():
        lp = completion_logprobs(policy, prompts, completions, 1.0, pad_id=eos)
        for i, (p, c) in enumerate(zip(prompts, completions)):  # each row alone, no padding anywhere
            full = torch.log_softmax(policy(torch.tensor([p + c]))[0][0], dim=-1)
            expected = torch.stack([full[len(p) - 1 + t, c[t]] for t in range(len(c))])
            assert torch.allclose(lp[i, :len(c)], expected, atol=1e-5)
    # the loss pushes on EOS like on any token: Table 10's -Â/(|o_i| G) at ρ = 1, and nothing on the padding
    lp = lp.detach().requires_grad_()
    grpo_loss(lp, lp.detach(), None, torch.ones(2), mask, beta=0.0)[0].backward()
    assert torch.allclose(lp.grad, torch.tensor([[-1 / 6, -1 / 6, -1 / 6], [-1 / 4, -1 / 4, 0.0]]))


class FixedSampler:
    """Returns the given completions in turn (a controlled input for `explore`), with the log-probs of
    `policy` at the sampling temperature when one is given."""

    def __init__(self, completions, policy=None):
        self.completions, self.policy = completions, policy

    def generate(self, prompts, max_new_tokens, temperature, top_p, stop_ids, group_size, slots, generator):
        prompts = [p for p in prompts for _ in range(group_size)]
        out = [self.completions[i % len(self.completions)] for i in range(len(prompts))]
        if self.policy is None:
            return out, [[-1.0] * len(c) for c in out]
        with torch.no_grad():
            lp = completion_logprobs(self.policy, prompts, out, temperature, pad_id=0)
        return out, [lp[i, :len(c)].tolist() for i, c in enumerate(out)]


@pytest.fixture(autouse=True)
def fixed_samplers_answer_for_themselves(monkeypatch):
    """grpo.py samples with sampler.generate(model, ...); a FixedSampler answers its own calls."""
    monkeypatch.setattr(grpo, "generate", lambda model, *args, **kw: model.generate(*args, **kw)
                        if isinstance(model, FixedSampler) else generate(model, *args, **kw))


@pytest.mark.parametrize("mode", ["keep", "zero_reward", "mask"])
def test_truncated_outputs_follow_the_flag(world, mode, tmp_path):
    tok = world["tok"]
    eos, d7 = tok.eos_id, tok.encode("7")[0]
    # two questions × G=4; outputs 1 and 3 never reach EOS; the reward counts 7s, so truncated ones score high
    sampler = FixedSampler([[d7, eos], [d7, d7, d7, d7], [5, eos], [d7, d7, 5, d7]])
    cfg = config(world, tmp_path, truncated=mode, group_size=4, beta=0.0)
    questions = [{"question": "q", "answer": "7", "prompt": [5, 6]},
                 {"question": "r", "answer": "3", "prompt": [7]}]
    reward = lambda q, text, ids: float(ids.count(d7))
    ro = explore(sampler, None, questions, cfg, tok, None, reward, None)
    raw = torch.tensor([1.0, 4.0, 0.0, 3.0])
    if mode == "zero_reward":
        raw = torch.tensor([1.0, 0.0, 0.0, 0.0])
    assert torch.allclose(ro.advantages[:4, 0], outcome_advantages(raw[None])[0])
    assert ro.sums["truncated"] == 4
    assert ro.train_rows == ([0, 2, 4, 6] if mode == "mask" else list(range(8)))
    assert ro.mask[1].tolist() == [True] * 4 and ro.mask[0].tolist() == [True, True, False, False]


def test_skip_equal_groups_drops_them_and_their_share_is_reported(world, tmp_path):
    tok = world["tok"]
    eos = tok.eos_id
    sampler = FixedSampler([[5, eos], [6, eos]])
    questions = [{"question": "q", "answer": "7", "prompt": [5]},
                 {"question": "r", "answer": "3", "prompt": [6]}]
    reward = lambda q, text, ids: float(ids[0] == 5 and q["question"] == "q")  # group 2 is all 0
    for skip in (False, True):
        cfg = config(world, tmp_path, group_size=2, beta=0.0, skip_equal_groups=skip)
        ro = explore(sampler, None, questions, cfg, tok, None, reward, None)
        assert ro.sums["zero_adv_groups"] == 1
        assert ro.train_rows == ([0, 1] if skip else [0, 1, 2, 3])
        assert torch.equal(ro.advantages[2:], torch.zeros_like(ro.advantages[2:]))


# ----------------------------------------------------------------------------- Table 10

def test_online_rft_is_sft_on_the_correct_outputs(world):
    """Table 10: online RFT's gradient is 1/|o| Σ_t 1[correct] ∇ log π_θ, averaged over the sampled
    outputs."""
    policy = world["policy"]
    prompts, completions = [[5, 6], [7], [8, 9], [10]], [[11, 12, 13], [14], [15, 16], [17, 18, 19, 20]]
    correct = torch.tensor([1.0, 0.0, 1.0, 1.0])
    mask = completion_mask([len(c) for c in completions], 4)
    grads = []
    for form in ("policy_loss", "naive"):
        policy.zero_grad()
        lp = completion_logprobs(policy, prompts, completions, 1.0, world["tok"].pad_id)
        if form == "policy_loss":
            stale = torch.randn_like(lp)  # RFT ignores π_old and π_ref: no ratio, no clip, no KL
            loss, stats = policy_loss("online_rft", lp, stale, stale, torch.randn_like(lp), correct, mask,
                                      clip_eps=0.2, beta=0.04)
            assert stats["kl"] == 0
        else:
            loss = -sum(correct[i] * lp[i, :len(c)].sum() / len(c) for i, c in enumerate(completions)) / 4
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in policy.parameters()]))
    assert grads[0].abs().max() > 0 and torch.allclose(grads[0], grads[1], atol=1e-6)
    policy.zero_grad()
    # and it is GRPO's loss with its coefficient: Â = 1[correct], β = 0, at ρ = 1
    lp = torch.randn(4, 4, requires_grad=True)
    a, _ = policy_loss("online_rft", lp, None, None, None, correct, mask, 0.2, 0.04)
    b, _ = grpo_loss(lp, lp.detach(), None, correct, mask, beta=0.0)
    assert torch.allclose(torch.autograd.grad(a, lp)[0], torch.autograd.grad(b, lp)[0])


# ----------------------------------------------------------------------------- whole runs (Algorithm 1)

def mean_digit_share(model_dir, world, n=64):
    """The task's reward, measured afresh: n samples of a checkpoint on one question."""
    model = Transformer.load(model_dir)
    prompt = world["tok"].encode("User: What is 1 + 2?\n\nAssistant:")
    completions, _ = generate(model, [prompt], 8, temperature=1.0, stop_ids=(world["tok"].eos_id,),
                              group_size=n, generator=torch.Generator().manual_seed(123))
    reward = digit_reward(world["digits"])
    return sum(reward(None, None, c) for c in completions) / n


def test_toy_grpo_run_learns_and_follows_algorithm_1(world, tmp_path):
    """A random 1-layer policy learns by GRPO alone to emit digits (about 10 of the 270 tokens: 4% at
    the start), measured on fresh samples of the saved models. Along the way: ρ = 1 at every (single,
    μ = 1) update, and KL = 0 exactly at the first step of each iteration, where π_ref ← π_θ."""
    cfg = config(world, tmp_path, lr=1e-2, iterations=2, steps_per_iteration=10)
    summary = train_grpo(cfg, reward_fn=digit_reward(world["digits"]))
    records = summary["records"]
    before, after = mean_digit_share(world["root"] / "init", world), mean_digit_share(summary["final"], world)
    assert before < 0.1 and after > 0.5, (before, after)
    assert max(r["ratio_dev"] for r in records) < 1e-4
    kl = [r["kl"] for r in records]
    assert kl[0] < 1e-6 and kl[10] < 1e-6 and min(kl[1:10] + kl[11:]) > 1e-4
    assert [r["iteration"] for r in records] == [0] * 10 + [1] * 10
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["step"] == 20  # log_every 100: the last step only


def test_rft_samples_from_the_start_model_and_online_rft_from_the_live_one(world, tmp_path):
    any_digit = lambda question, text, ids: float(any(t in world["digits"] for t in ids))  # "correct"
    runs = {}
    for name, algo, lr in (("rft", "rft", 3e-2), ("rft_frozen", "rft", 0.0), ("online", "online_rft", 3e-2)):
        cfg = config(world, tmp_path / name, algo=algo, lr=lr, steps_per_iteration=3)
        runs[name] = train_grpo(cfg, reward_fn=any_digit)["records"]
    sampled = lambda records: [(r["response_len"], r["entropy"]) for r in records]
    assert sampled(runs["rft"]) == sampled(runs["rft_frozen"])     # the policy moved, the samples did not
    assert sampled(runs["online"])[0] == sampled(runs["rft"])[0]   # same start, same seed
    assert sampled(runs["online"])[1:] != sampled(runs["rft"])[1:]


def test_mu_updates_reuse_the_samples_and_the_clip_engages(world, tmp_path):
    """μ = 4 optimiser steps on one exploration stage: ρ = 1 at the first, then π_θ moves away from
    π_old and the clip of Eq. 3 cuts the gradient of some tokens."""
    cfg = config(world, tmp_path, mu=4, lr=5e-2, steps_per_iteration=1)
    (record,) = train_grpo(cfg, reward_fn=digit_reward(world["digits"]))["records"]
    assert record["ratio_dev"] < 1e-5 and record["clip_frac"] > 0.01 and record["kl"] > 0


def test_resume_continues_exactly(world, tmp_path):
    """4 steps in 2 iterations, resumed from step 3: the reference (π_θ after step 2), optimiser and step
    must all come back for the final weights to match the uninterrupted run."""
    cfg = config(world, tmp_path / "a", lr=1e-2, iterations=2, steps_per_iteration=2, save_every=1, keep=0)
    full = train_grpo(cfg, reward_fn=digit_reward(world["digits"]))
    checkpoint = tmp_path / "a" / "checkpoints" / "step_00000003"
    resumed = train_grpo(replace(cfg, out=str(tmp_path / "b"), resume=str(checkpoint)),
                         reward_fn=digit_reward(world["digits"]))
    timing = lambda record: {k: v for k, v in record.items()  # noqa: E731 (what depends on the machine)
                             if not (k.startswith("t_") or k.endswith("per_s") or k == "peak_memory_mib")}
    assert [r["step"] for r in resumed["records"]] == [4]
    assert timing(resumed["records"][0]) == timing(full["records"][3])
    a, b = (torch.load(Path(run["final"]) / "model.pt") for run in (full, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("agg", ["sequence", "token", "dr_grpo"])
def test_update_gradient_does_not_depend_on_the_micro_batch_split(world, tmp_path, agg):
    """The DDP-wrapped update accumulates micro-batches into the gradient of the whole batch's loss."""
    d = setup_distributed()
    policy = copy.deepcopy(world["policy"])
    reference = copy.deepcopy(policy)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.05 * torch.randn_like(p))  # a reference apart from the policy: the KL term is live
    cfg = config(world, tmp_path, loss_agg=agg, group_size=4, grad_clip=1e9)
    questions = [{"question": "q", "answer": "3", "prompt": [5, 6, 7]},
                 {"question": "r", "answer": "4", "prompt": [8]}]
    eos, d1, d2 = world["tok"].eos_id, *world["tok"].encode("12")
    sampler = FixedSampler([[d1, eos], [30, d2, 40, 50, eos], [d1, d2, d1, 60, 70, 80], [90, eos]], policy)
    ro = explore(sampler, reference, questions, cfg, world["tok"], None, digit_reward(world["digits"]), None)
    assert ro.ref_logprobs is not None
    grads = []
    for micro in (1, 3, 8):
        model = wrap_model(copy.deepcopy(policy), d, "ddp")
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        stats = update(model, optimizer, ro, replace(cfg, micro_batch=micro), d, world["tok"].pad_id)
        assert stats["updates"] == 1 and stats["ratio_dev"] < 1e-5
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    # the gradient of Eq. 3's loss over the whole batch at once, on the plain model
    plain = copy.deepcopy(policy)
    lp = completion_logprobs(plain, ro.prompts, ro.completions, cfg.temperature, world["tok"].pad_id)
    loss, _ = grpo_loss(lp, ro.old_logprobs, ro.ref_logprobs, ro.advantages, ro.mask, cfg.clip_eps, cfg.beta,
                        agg, max_len=cfg.max_new_tokens)
    expected = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(plain.parameters()))])
    assert expected.abs().max() > 0
    for g in grads:
        assert torch.allclose(g, expected, atol=1e-7)


# ----------------------------------------------------------------------------- learned rewards (ORM / PRM)

def tiny_reward_model(world, kind, path):
    torch.manual_seed(1)
    rm = RewardModel(world["policy"].config, kind)
    rm.save(path, tokenizer=str(world["root"] / "tok"))
    return rm.eval()


def test_process_supervision_scores_each_step_and_normalises_the_group(world, tmp_path):
    tok = world["tok"]
    rm = tiny_reward_model(world, "prm", tmp_path / "prm")
    pieces = [["12\n", "3\n", "4"], ["2\n", "30"], ["1"], ["4\n", "1\n"]]  # steps end at their newline
    completions, ends = [], []
    for steps in pieces:
        ids = [t for step in steps for t in tok.encode(step)] + [tok.eos_id]
        lengths = [len(tok.encode(step)) for step in steps]
        step_ends = [sum(lengths[:j + 1]) - 1 for j in range(len(steps))]
        step_ends[-1] = len(ids) - 1  # the last step ends at the last token (its EOS)
        completions.append(ids)
        ends.append(step_ends)
    questions = [{"question": "q", "answer": "7", "prompt": [5, 6, 7]},
                 {"question": "r", "answer": "3", "prompt": [8]}]
    cfg = config(world, tmp_path, reward="prm", reward_model=str(tmp_path / "prm"), group_size=2, beta=0.0)
    ro = explore(FixedSampler(completions), None, questions, cfg, tok, rm, None, None)
    C = ro.advantages.shape[1]
    for q, question in enumerate(questions):
        rows = range(2 * q, 2 * q + 2)
        rewards = []
        for r in rows:  # the PRM's probability at each step end, one sequence at a time
            with torch.no_grad():
                probs = torch.sigmoid(rm(torch.tensor([question["prompt"] + completions[r]])))[0]
            rewards.append([probs[len(question["prompt"]) + e].item() for e in ends[r]])
        assert torch.allclose(ro.advantages[2 * q:2 * q + 2],
                              process_advantages(rewards, [ends[r] for r in rows], C), atol=1e-5)


def test_orm_run_retrains_the_reward_model_with_replay_and_checkpoints_it(world, tmp_path):
    rm = tiny_reward_model(world, "orm", tmp_path / "orm")
    old_data = tmp_path / "rm_data.jsonl"
    write_jsonl(old_data, [{"question": "What is 1 + 1?", "answer": "2",
                            "completion": "The answer is \\boxed{2}.", "finished": True, "correct": 1,
                            "step_labels": [1]}] * 20)
    cfg = config(world, tmp_path / "run", reward="orm", reward_model=str(tmp_path / "orm"), iterations=2,
                 steps_per_iteration=1, group_size=2, rm_questions=4, rm_samples=2, rm_data=[str(old_data)],
                 save_every=1, keep=0, rm_lr=1e-2)
    records = train_grpo(cfg)["records"]
    # each iteration: 4 questions × 2 outputs, plus 10% of the history (20, then 28 records)
    assert [(r["rm_samples"], r["rm_examples"]) for r in records] == [(8, 8 + 2), (8, 8 + 3)]
    proc = setup_distributed()
    model = wrap_model(Transformer.load(cfg.init), proc, "ddp")
    state, reward_model = ReplayState(ReplayBuffer(0.1)), RewardModel.load(tmp_path / "orm")
    optimizer = build_optimizer(model, cfg)
    # π_ref and the reward model are in the (sharded) DCP checkpoint with the policy
    reference = Transformer.load(cfg.init)
    load_checkpoint(tmp_path / "run" / "checkpoints" / "step_00000002", model, optimizer, state, proc,
                    {"reference": reference, "reward_model": reward_model})
    assert len(state.replay.history) == 20 + 8 + 8 and state.replay.rounds == 2
    trained = reward_model.state_dict()
    assert any(not torch.equal(trained[k], v) for k, v in rm.state_dict().items())  # the reward model moved
    assert (tmp_path / "run" / "reward_model" / "iteration_1" / "metrics.jsonl").is_file()


def test_prm_retraining_with_exact_labels_labels_the_policy_s_samples_by_the_solutions(world, tmp_path):
    """--rm-labels exact labels each new sample's steps against the question's reference solution, which
    must travel with the RL question; without solutions there is nothing new to learn from, and retraining
    on the replayed history alone is refused rather than done silently."""
    tiny_reward_model(world, "prm", tmp_path / "prm")
    with_solutions = tmp_path / "rl_solutions.jsonl"
    write_jsonl(with_solutions, [{"question": f"What is {a} + {b}?", "answer": str(a + b),
                                  "solution": f"{a} + {b} = {a + b}\nThe answer is \\boxed{{{a + b}}}."}
                                 for a in range(4) for b in range(4)])
    settings = dict(reward="prm", reward_model=str(tmp_path / "prm"), iterations=1, steps_per_iteration=1,
                    group_size=2, rm_questions=4, rm_samples=2, rm_labels="exact")
    record, = train_grpo(replace(config(world, tmp_path / "run", **settings),
                                 data=str(with_solutions)))["records"]
    assert record["rm_samples"] == 8 and record["rm_examples"] == 8
    with pytest.raises(ValueError, match="solution"):
        train_grpo(config(world, tmp_path / "bare", **settings))  # rl.jsonl has no solutions


# ---------------------------------------------------------------------- scale: ranks, FSDP, command line

def test_unusable_questions_are_skipped_and_counted(world, tmp_path):
    path = tmp_path / "rl.jsonl"
    path.write_bytes(b'{"question": "What is 1 + 1?", "answer": "2"}\n{broken\n\xff\xfe\n'
                     b'{"question": "", "answer": "1"}\n{"question": "No answer?"}\n'
                     b'{"question": "q", "answer": "{"}\n'
                     + json.dumps({"question": "long " * 200, "answer": "1"}).encode() + b"\n")
    stats = Counter()
    questions = load_questions(path, world["tok"], "deepseek", 128, stats)
    assert [q["answer"] for q in questions] == ["2"]
    prompt = "User: What is 1 + 1?\n" + BOXED_SUFFIX + "\n\nAssistant:"
    assert questions[0]["prompt"] == world["tok"].encode(prompt)
    assert stats == Counter(questions=1, bad_json=1, invalid_utf8=1, no_question=1, bad_gold=2,
                            prompt_too_long=1)


def test_each_rank_gets_whole_groups_of_one_global_batch():
    n, batch = 10, 4
    for step in range(6):
        alone = step_questions(n, step, batch, rank=0, world=1, seed=3)
        split = [step_questions(n, step, batch, rank=r, world=2, seed=3) for r in range(2)]
        assert split[0] + split[1] == alone and len(set(alone)) == batch
    epoch = [i for step in range(5) for i in step_questions(n, step, 2, 0, 1, seed=3)]
    assert sorted(epoch) == list(range(n))  # an epoch visits every question once


def test_fsdp_policy_with_a_rollout_copy_matches_ddp(world, tmp_path):
    """Under FSDP the sampler is a separate full copy, refreshed from the sharded policy each step."""
    runs = [train_grpo(config(world, tmp_path / p, parallel=p, lr=1e-2, steps_per_iteration=3, micro_batch=8),
                       reward_fn=digit_reward(world["digits"]))["records"] for p in ("ddp", "fsdp")]
    same = lambda records: [r[k] for r in records for k in ("reward", "kl", "entropy", "loss", "grad_norm")]
    assert same(runs[1]) == pytest.approx(same(runs[0]), rel=1e-5, abs=1e-7)


def test_command_line_under_torchrun_on_two_ranks(world, tmp_path):
    args = ["--init", str(world["root"] / "init"), "--data", str(world["root"] / "rl.jsonl"),
            "--out", str(tmp_path), "-G", "4", "--batch-questions", "4", "--max-new-tokens", "6",
            "--steps-per-iteration", "2", "--lr", "1e-2", "--format-reward", "--truncated", "zero_reward",
            "--save-every", "0"]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           "2", str(REPO / "grpo.py"), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(r["trained_outputs"] == 16 for r in records)  # 4 questions × G over both ranks
    assert Transformer.load(tmp_path / "final").num_params() == world["policy"].num_params()


@pytest.mark.parametrize("flags", [["--algo", "ppo"], ["--reward", "orm"],
                                   ["--algo", "rft", "--skip-equal-groups"],
                                   ["--loss-agg", "mean"], ["-G", "0"]])
def test_bad_settings_are_refused(world, flags):
    base = ["--init", str(world["root"] / "init"), "--data", str(world["root"] / "rl.jsonl")]
    with pytest.raises((SystemExit, ValueError)):
        main(base + flags)


UNEVEN_RANKS = """
import json, sys
import torch
from grpo import GRPOConfig, train_grpo
from trainer import tears_down_distributed
# question 0's groups all score 0: with --skip-equal-groups its rank trains nothing
def reward(question, text, ids):
    return 0.0 if question["question"].startswith("What is 0 + 0") else (sum(ids) % 7) / 7
cfg = GRPOConfig(**json.loads(sys.argv[1]))
tears_down_distributed(train_grpo)(cfg, reward_fn=reward)
"""


def test_fsdp_with_one_rank_holding_no_training_rows_finishes_and_matches_one_process(world, tmp_path):
    """Ranks with uneven rows (--skip-equal-groups) must run the same number of sharded forwards (π_ref and
    the update): one rank's only group is all-equal, the other's is not. Two FSDP ranks finish (no hang in
    the π_ref pass: the reference is sharded too) and their updates equal those of two DDP ranks, which
    sample the same outputs (one generator per rank) and whose whole-copy reference needs no collective."""
    data = tmp_path / "rl.jsonl"
    write_jsonl(data, [{"question": "What is 0 + 0?", "answer": "0"},
                       {"question": "What is 1 + 2?", "answer": "3"}])
    script = tmp_path / "uneven.py"
    script.write_text(UNEVEN_RANKS)
    common = dict(init=str(world["root"] / "init"), data=str(data), group_size=4, batch_questions=2,
                  max_new_tokens=6, micro_batch=2, steps_per_iteration=2, lr=1e-2, beta=0.04,
                  skip_equal_groups=True, save_every=0)
    results = {}
    for parallel in ("fsdp", "ddp"):
        out = tmp_path / parallel
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node", "2", str(script),
                               json.dumps({**common, "out": str(out), "parallel": parallel})],
                              cwd=REPO, capture_output=True, text=True, timeout=240,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[parallel] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    fsdp, ddp = results["fsdp"], results["ddp"]
    assert [r["trained_outputs"] for r in fsdp] == [4, 4]
    assert [r["zero_adv_groups"] for r in fsdp] == [0.5, 0.5]
    keys = ("loss", "grad_norm", "kl", "reward")
    assert [r[k] for r in fsdp for k in keys] == pytest.approx([r[k] for r in ddp for k in keys], rel=1e-4,
                                                               abs=1e-6)


def test_dry_run_plan_for_the_papers_7b_recipe_matches_a_hand_calculation(capsys):
    """The paper's 7B recipe on 8 × 80 GB (FSDP, bf16, activation checkpointing), each phase by hand."""
    plan = main(["--init", "7b", "--dry-run", "--world-size", "8", "--parallel", "fsdp",
                 "--activation-checkpointing", "--rollout-batch", "32", "--micro-batch", "4",
                 "--plan-prompt-tokens", "256"])
    P, world, seq, d, ffn, layers, vocab = 6_910_365_696, 8, 256 + 1024, 4096, 11008, 30, 102400
    held = plan["phases"]["held"]
    assert held["policy: weights, gradients, AdamW"] == pytest.approx(16 * P / world)  # fp32 w + g, 2 moments
    assert held["π_ref"] == pytest.approx(4 * P / world)                # fp32, sharded like π_θ
    assert held["rollout copy (bf16)"] == pytest.approx(2 * P)          # whole, for the sampler
    kv_per_token = 2 * layers * 32 * 128 * 2                            # k and v, bf16
    assert plan["phases"]["rollout"]["KV cache"] == pytest.approx(32 * seq * kv_per_token)
    # checkpointed activations: every block's input, one block recomputed, the logits
    # (bf16 + fp32 + log-softmax)
    per_token = layers * d * 2 + (16 * d + 4 * ffn) * 2 + (2 + 8) * vocab
    assert plan["phases"]["update"]["activations"] == pytest.approx(4 * seq * per_token)
    assert plan["peak"] == pytest.approx(sum(held.values()) + 32 * seq * kv_per_token + 32 * vocab * 4)
    assert plan["fits"]["rollout_batch"] == int((80e9 - sum(held.values())) // (seq * kv_per_token))
    # time: new tokens = 1024 questions × 64 × 512 (half of 1024 on average), decode memory-bound
    step_bytes = 2 * P + 32 * kv_per_token * (256 + 512)
    tok_s = 32 / (step_bytes / (3.35e12 * 0.6))
    assert plan["seconds"]["rollout"] == pytest.approx(1024 * 64 * 512 / (tok_s * world))
    update_flops = 1024 * 64 * (256 + 512) * 8 * P
    assert plan["seconds"]["update"] == pytest.approx(update_flops / (world * 989e12 * 0.4))
    out = capsys.readouterr().out
    assert "peak = held + largest phase" in out and "fits" in out


@pytest.mark.parametrize("first, second", [(2, 1), (1, 2)])
def test_resume_on_another_world_size_restores_the_reference_and_continues(world, tmp_path, first, second):
    """π_ref lives in the sharded DCP checkpoint with the policy: a run saved by N ranks resumes on M (FSDP),
    π_ref comes back as it was saved (π_θ at the start of the iteration, not a copy of the policy at the
    resumed step), and the run finishes."""
    out, script = tmp_path / "run", tmp_path / "run.py"
    # a reward that varies within groups, so the policy (and then π_ref) moves
    script.write_text(UNEVEN_RANKS)
    common = dict(init=str(world["root"] / "init"), data=str(world["root"] / "rl.jsonl"), out=str(out),
                  group_size=4, batch_questions=2, max_new_tokens=4, steps_per_iteration=2, iterations=2,
                  lr=5e-2, parallel="fsdp", save_every=1, keep=0)

    def run(ranks, **extra):
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node", str(ranks), str(script), json.dumps({**common, **extra})],
                              cwd=REPO, capture_output=True, text=True, timeout=180,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr[-3000:]

    def saved_reference(step: int) -> dict:
        whole = tmp_path / f"step{step}.pt"
        dcp_to_torch_save(out / "checkpoints" / f"step_{step:08d}", whole)
        return torch.load(whole, weights_only=False)["train"]["reference"]

    run(first)
    shutil.rmtree(out / "checkpoints" / "step_00000004")
    at_step3 = saved_reference(3)       # π_ref of iteration 2 = π_θ after 2 updates
    run(second, resume="latest")        # resumes from step 3 of 4 on the other world size
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    at_step4 = saved_reference(4)
    init = world["policy"].state_dict()
    assert at_step3.keys() == at_step4.keys() and at_step3
    for name in at_step3:
        assert torch.equal(at_step3[name], at_step4[name]), name
    assert any(not torch.equal(at_step3[k], init[k]) for k in at_step3)  # π_ref moved on at iteration 2


def test_reward_model_retraining_checkpoints_activations_and_packs_rows_of_the_data(world, tmp_path,
                                                                                    monkeypatch):
    """§4.1.4's retraining at 7B ran out of memory: it packed rows of the model's whole context at the run's
    micro-batch without activation checkpointing. Now --activation-checkpointing applies to it too and its
    rows are as long as the longest labelled sequence."""
    import reward
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper
    tiny_reward_model(world, "orm", tmp_path / "orm")
    seen = []
    original = reward.train

    def spy(model, optimizer, data, loss_fn, cfg, proc, **kw):
        seen.append((cfg, [type(block) for block in trainer_unwrap(model).decoder.layers], data))
        return original(model, optimizer, data, loss_fn, cfg, proc, **kw)
    monkeypatch.setattr(reward, "train", spy)
    cfg = config(world, tmp_path / "run", reward="orm", reward_model=str(tmp_path / "orm"), iterations=1,
                 steps_per_iteration=1, group_size=2, rm_questions=4, rm_samples=2,
                 activation_checkpointing=True)
    train_grpo(cfg)
    (rm_cfg, blocks, data), = seen
    assert rm_cfg.activation_checkpointing and all(b is CheckpointWrapper for b in blocks)
    longest = max(len(ids) - 1 for ids, _ in data.examples)
    assert rm_cfg.seq_len == longest < world["policy"].config.max_seq_len


# ----------------------------------------------------------------------------- held-out accuracy (Fig. 5)

def naive_greedy_texts(policy, tok, prompts, max_new_tokens):
    """Greedy decoding by the plain forward pass, one token at a time: the reference for the sampler's
    temperature-0 path."""
    texts = []
    for prompt in prompts:
        ids, new = list(prompt), []
        for _ in range(max_new_tokens):
            with torch.no_grad():
                logits, _ = policy(torch.tensor([ids]))
            token = int(logits[0, -1].argmax())
            if token in tok.stop_ids:
                break
            new.append(token)
            ids.append(token)
        texts.append(tok.decode(new))
    return texts


def parity(text: str) -> int:
    return sum(map(ord, text)) % 2


@pytest.mark.parametrize("parallel, algo", [("ddp", "grpo"), ("fsdp", "grpo"), ("fsdp", "rft")])
def test_held_out_accuracy_is_the_greedy_accuracy_of_the_current_policy(world, tmp_path, monkeypatch,
                                                                        parallel, algo):
    """test_accuracy at step 0 and after each step equals the accuracy of a plain greedy loop over the policy
    then; the judge is a parity rule (gold "1": the answer text's code points sum to an odd number, "0": to an
    even one), so about half the questions count as right and any changed token can change the count. Under
    FSDP (and for RFT, whose sampler is the start model) the evaluated copy follows π_θ."""
    monkeypatch.setattr(grpo, "accuracy_reward", lambda text, gold: float(parity(text) == int(gold)))
    held_out = tmp_path / "test.jsonl"
    write_jsonl(held_out, [{"question": f"What is {a} + {b}?", "answer": str((a + b) % 2)}
                           for a in range(3) for b in range(3)])
    cfg = config(world, tmp_path / "run", parallel=parallel, algo=algo, beta=0.0 if algo == "rft" else 0.04,
                 lr=3e-2, steps_per_iteration=2, eval_data=str(held_out), eval_every=1)
    result = train_grpo(cfg, reward_fn=digit_reward(world["digits"]) if algo == "grpo" else None)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    measured = {r["step"]: r["test_accuracy"] for r in records if "test_accuracy" in r}
    assert sorted(measured) == [0, 1, 2]
    questions = load_questions(held_out, world["tok"], "deepseek", 128, Counter())
    def expected(policy):
        texts = naive_greedy_texts(policy, world["tok"], [q["prompt"] for q in questions], cfg.max_new_tokens)
        return sum(parity(t) == int(q["answer"]) for t, q in zip(texts, questions)) / len(questions)
    assert measured[0] == pytest.approx(expected(world["policy"]))
    assert measured[2] == pytest.approx(expected(Transformer.load(result["final"]).eval()))
    assert measured[2] != measured[0] or algo == "rft"  # the policy moved (lr 3e-2) and the metric with it


def test_held_out_flags_need_the_data(world):
    base = ["--init", str(world["root"] / "init"), "--data", str(world["root"] / "rl.jsonl")]
    with pytest.raises(ValueError, match="--eval-data"):
        main(base + ["--eval-every", "5"])
