"""Tests of ppo.py against hand-written loops of GAE, Eq. 2 and the value loss, Table 10, and tiny runs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from formats import write_jsonl
from grpo import grpo_loss
from model import ModelConfig, Transformer
from grpo import Rollout, score
from ppo import PPOConfig, gae, main, place_scores, token_rewards, value_loss
from reward import RewardModel, step_end_positions
from tokenizer import Tokenizer

REPO = Path(__file__).resolve().parents[1]


def gae_by_loop(rewards, values, gamma, lam):
    """GAE of one output, as Schulman et al. write it: A_t = Σ_l (γλ)^l δ_{t+l}, V = 0 after the end."""
    n = len(rewards)
    deltas = [rewards[t] + gamma * (values[t + 1] if t + 1 < n else 0.0) - values[t] for t in range(n)]
    return [sum((gamma * lam) ** l * deltas[t + l] for l in range(n - t)) for t in range(n)]


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (1.0, 1.0), (0.9, 0.8)])
def test_gae_matches_the_hand_written_sum(gamma, lam):
    g = torch.Generator().manual_seed(0)
    lengths = [5, 2, 4]
    rewards, values = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    mask = torch.arange(5)[None, :] < torch.tensor(lengths)[:, None]
    advantages, returns = gae(rewards * mask, values, mask, gamma, lam)
    for i, n in enumerate(lengths):
        expected = torch.tensor(gae_by_loop(rewards[i, :n].tolist(), values[i, :n].tolist(), gamma, lam))
        assert torch.allclose(advantages[i, :n], expected, atol=1e-5)
        assert torch.allclose(returns[i, :n], expected + values[i, :n], atol=1e-5)
        assert torch.all(advantages[i, n:] == 0) and torch.all(returns[i, n:] == 0)  # padding never leaks in


def test_gae_with_lambda_one_is_return_minus_value():
    # γ = λ = 1: A_t = Σ_{l ≥ t} r_l - V_t, whatever the values in between (the Monte-Carlo advantage)
    rewards = torch.tensor([[0.0, -0.1, 0.0, 1.0]])
    values = torch.tensor([[0.3, 0.5, -0.2, 0.7]])
    advantages, _ = gae(rewards, values, torch.ones(1, 4, dtype=torch.bool), 1.0, 1.0)
    assert torch.allclose(advantages, torch.tensor([[0.9 - 0.3, 0.9 - 0.5, 1.0 + 0.2, 1.0 - 0.7]]))


def test_eq2_per_token_rewards_by_hand():
    # two outputs of 3 and 2 tokens; outcome rewards 1 and 0 at their last tokens; β = 0.1
    logprobs = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5], [-0.3, -1.7, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    scores = place_scores([[1.0], [0.0]], [[2], [1]], 3)
    expected = torch.tensor([[-0.1 * 0.5, -0.1 * -1.0, 1.0 - 0.0],
                             [0.0, -0.1 * 1.0, 0.0]])
    assert torch.allclose(token_rewards(scores, logprobs, ref, mask, 0.1), expected)
    # process rewards at step ends (§4.1.3): steps end at tokens 0 and 2
    assert torch.equal(place_scores([[0.2, 0.7]], [[0, 2]], 4), torch.tensor([[0.2, 0.0, 0.7, 0.0]]))


def test_clipped_value_loss_by_hand():
    values = torch.tensor([[1.0, 0.0], [0.8, 0.0]], requires_grad=True)
    old = torch.tensor([[0.5, 0.1], [0.4, 0.0]])
    returns = torch.tensor([[0.0, 0.1], [1.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    # output 0, token 0: V moved 0.5 past V_old; clipped to 0.7; max((1-0)², (0.7-0)²) = 1
    # output 0, token 1: |ΔV| 0.1 ≤ 0.2, both terms (0-0.1)² = 0.01
    # output 1: V moved 0.4, clipped to 0.6: max((0.8-1)², (0.6-1)²) = 0.16, the clipped term (no gradient)
    expected = (0.5 * (1.0 + 0.01) / 2 + 0.5 * 0.16) / 2
    loss = value_loss(values, old, returns, mask, clip=0.2)
    assert torch.allclose(loss, torch.tensor(expected))
    loss.backward()
    # output 0 token 0: the unclipped term wins, gradient (V - R)/(|o| · N) = 1/4;
    # output 1: clipped, no gradient
    assert torch.allclose(values.grad, torch.tensor([[0.25, -0.1 / 4], [0.0, 0.0]]))


def test_gradient_at_ratio_one_is_table10_coefficient():
    """Table 10, at π_θ = π_old: PPO's GC is A_t (GAE, the KL inside r_t); GRPO's is Â + β(π_ref/π_θ - 1)."""
    g = torch.Generator().manual_seed(1)
    lengths = [4, 2, 3]
    mask = torch.arange(4)[None, :] < torch.tensor(lengths)[:, None]
    lp = (-torch.rand(3, 4, generator=g) * 2).requires_grad_()
    ref, values = lp.detach() + 0.3 * torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    scores = place_scores([[1.0], [0.0], [1.0]], [[n - 1] for n in lengths], 4)
    advantages, _ = gae(token_rewards(scores, lp.detach(), ref, mask, 0.05), values, mask, 1.0, 0.95)
    loss, stats = grpo_loss(lp, lp.detach(), None, advantages, mask, clip_eps=0.2, beta=0.0)  # ppo.py's Eq. 1
    loss.backward()
    per_token = torch.tensor(lengths)[:, None] * len(lengths)
    assert torch.allclose(lp.grad, -advantages / per_token * mask, atol=1e-7)
    assert stats["clip_frac"] == 0
    # GRPO's coefficient on the same tokens differs: the KL enters the gradient directly, not through A_t
    lp.grad = None
    outcome = torch.tensor([1.0, 0.0, 1.0])
    grpo_adv = ((outcome - outcome.mean()) / outcome.std(unbiased=False))[:, None].expand(3, 4)
    grpo_loss(lp, lp.detach(), ref, grpo_adv, mask, clip_eps=0.2, beta=0.05)[0].backward()
    grpo_gc = grpo_adv + 0.05 * (torch.exp(ref - lp.detach()) - 1)
    assert torch.allclose(lp.grad, -grpo_gc / per_token * mask, atol=1e-7)


class FixedRewardModel:
    """Stands in for a reward.RewardModel: an ORM score per sequence, PRM scores per step end."""

    def outcome_rewards(self, sequences):
        return [0.1 * len(s) for s in sequences]

    def step_rewards(self, sequences, step_ends):
        return [[0.5] * len(ends) for ends in step_ends]


@pytest.mark.parametrize("kind", ["rule", "orm", "prm"])
def test_scored_rewards_land_on_the_right_tokens(kind):
    """grpo.score leaves r_φ where Eq. 2 puts it: at the last token (rule, ORM) or at step ends (PRM)."""
    tok = Tokenizer.train(["Step one.\n\nStep two."] * 5, vocab_size=260)
    completions = [tok.encode("\\boxed{2}\n\nb") + [tok.eos_id], tok.encode("cc")]  # output 1: no EOS
    prompts = [[1, 2], [3]]
    width = max(map(len, completions))
    lengths = torch.tensor([len(c) for c in completions])
    rollout = Rollout(prompts=prompts, completions=completions,
                      mask=torch.arange(width)[None, :] < lengths[:, None],
                      old_logprobs=torch.zeros(2, width), truncated=torch.tensor([False, True]),
                      texts=["\\boxed{2}\n\nb", "cc"])
    cfg = PPOConfig(init="x", data="y", reward=kind, reward_model=None if kind == "rule" else "rm",
                    truncated="zero_reward")
    score(rollout, [{"question": "1 + 1?", "answer": "2"}] * 2, cfg, tok, FixedRewardModel(), None)
    scores = place_scores(rollout.given_rewards, rollout.reward_positions, width)
    last = [len(c) - 1 for c in completions]
    if kind == "prm":  # output 0's steps end where step_end_positions says; output 1 is truncated: 0
        ends = step_end_positions(completions[0], tok)
        expected = place_scores([[0.5] * len(ends), []], [ends, []], width)
    else:  # one score at the last token; the truncated output scores 0 (--truncated zero_reward)
        first = 1.0 if kind == "rule" else 0.1 * (len(prompts[0]) + len(completions[0]))
        expected = place_scores([[first], [0.0]], [[last[0]], [last[1]]], width)
    assert torch.allclose(scores, expected) and scores[0].sum() > 0


# ----------------------------------------------------------------------------- runs

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A byte-level tokenizer, a random 1-layer policy checkpoint and 8 addition questions."""
    root = tmp_path_factory.mktemp("ppo")
    tok = Tokenizer.train(["What is 12 + 30? The answer is 42."] * 5, vocab_size=270)
    tok.save(root / "tok")
    torch.manual_seed(0)
    Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layers=1, d_model=32, n_heads=2, ffn_dim=64,
                            max_seq_len=96)).save(root / "init", tokenizer=str(root / "tok"))
    write_jsonl(root / "rl.jsonl", [{"question": f"What is {a} + {b}?", "answer": str(a + b)}
                                    for a in range(4) for b in range(2)])
    return root


def args(world, out, *extra):
    return ["--init", str(world / "init"), "--data", str(world / "rl.jsonl"), "--out", str(out), "-G", "2",
            "--batch-questions", "2", "--max-new-tokens", "6", "--steps-per-iteration", "2", "--lr", "1e-2",
            "--micro-batch", "2", "--save-every", "1", "--log-every", "1", *extra]


def test_command_line_run_trains_policy_and_value_model(world, tmp_path):
    summary = main(args(world, tmp_path))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all(r["value_loss"] > 0 for r in records)
    policy, value = Transformer.load(tmp_path / "final"), RewardModel.load(tmp_path / "value")
    start = Transformer.load(world / "init")
    assert not torch.equal(policy.embed.weight, start.embed.weight)  # the policy moved
    # the value model started from the policy's decoder (--value-init policy) and was trained away from it
    assert not torch.equal(value.decoder.embed.weight, start.embed.weight)
    assert summary["steps"] == 2


def test_resume_restores_policy_value_model_and_its_optimiser_exactly(world, tmp_path):
    main(args(world, tmp_path / "straight"))
    main(args(world, tmp_path / "resumed", "--steps-per-iteration", "1"))  # stop after step 1 ...
    main(args(world, tmp_path / "resumed", "--resume"))                    # ... and continue to step 2
    for name, load in (("final", Transformer.load), ("value", RewardModel.load)):
        straight, resumed = load(tmp_path / "straight" / name), load(tmp_path / "resumed" / name)
        for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
            assert torch.equal(a, b), f"{name}: {key} differs after resume"


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_command_line_under_torchrun_on_two_ranks(world, tmp_path, parallel):
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           "2", str(REPO / "ppo.py"), *args(world, tmp_path, "--parallel", parallel)],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all(r["trained_outputs"] == 4 for r in records)
    value, policy = RewardModel.load(tmp_path / "value"), Transformer.load(tmp_path / "final")
    assert value.decoder.embed.weight.shape == policy.embed.weight.shape  # the policy-sized value model
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000001", "step_00000002"]


def test_dry_run_plans_the_value_model_beside_grpo(capsys):
    import grpo
    flags = ["--init", "7b", "--dry-run", "--world-size", "8", "--parallel", "fsdp",
             "--activation-checkpointing", "--micro-batch", "2", "--rollout-batch", "16",
             "-G", "8"]  # the same batch for both
    ppo_plan, grpo_plan = main(flags), grpo.main(flags)
    n = ppo_plan["phases"]["held"]["policy: weights, gradients, AdamW"]
    # the value model is a second policy-sized trained model: 16 bytes a parameter, sharded like the policy
    assert ppo_plan["phases"]["held"]["value model: weights, gradients, AdamW"] == n
    assert ppo_plan["totals"]["held"] == pytest.approx(grpo_plan["totals"]["held"] + n)
    assert ppo_plan["seconds"]["update"] > grpo_plan["seconds"]["update"]
    assert "value update" in capsys.readouterr().out


def test_held_state_is_grpo_s_plus_a_trained_value_model(world, tmp_path):
    """The measured memory record (grpo.memory_record), against the bytes counted by hand: GRPO holds π_θ's
    weights, gradients and two AdamW moments (16 bytes a parameter, fp32) and π_ref (4 bytes); the sampler
    is π_θ itself. PPO holds all that plus the value model trained the same way (16 bytes a parameter).
    AdamW's step counters (one scalar a tensor) are the relative 1e-3 left over."""
    import grpo
    common = args(world, tmp_path / "grpo", "--save-every", "0")
    grpo_held = grpo.main(common)["records"][-1]["held_state_mib"] * 2 ** 20
    ppo_run = main(args(world, tmp_path / "ppo", "--save-every", "0"))
    ppo_held = ppo_run["records"][-1]["held_state_mib"] * 2 ** 20
    policy_params = Transformer.load(world / "init").num_params()
    value_params = sum(p.numel() for p in RewardModel.load(tmp_path / "ppo" / "value").parameters())
    assert grpo_held == pytest.approx(20 * policy_params, rel=1e-3)
    assert ppo_held - grpo_held == pytest.approx(16 * value_params, rel=1e-3)


@pytest.mark.parametrize("flags", [["--algo", "rft"], ["--iterations", "2"], ["--value-init", "reward"],
                                   ["--lam", "1.5"], ["--skip-equal-groups"], ["--rm-questions", "8"]])
def test_bad_settings_are_refused(world, tmp_path, flags):
    with pytest.raises((SystemExit, ValueError)):
        main(args(world, tmp_path) + flags)
