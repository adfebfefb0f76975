"""Tests of dpo.py: the loss against its formula, Table 10's gradient coefficient, packed log-ratios against
unpacked sequences, pairing, and tiny command-line runs."""
import json
import math
from collections import Counter

import pytest
import torch

from dpo import PairData, dpo_loss, example_logratios, main, make_pairs
from formats import write_jsonl
from model import ModelConfig, Transformer
from tokenizer import Tokenizer


def test_dpo_loss_by_hand():
    # r⁺ = 0.3, r⁻ = -0.2, β = 0.5: -log σ(0.25) = log(1 + e^-0.25)
    loss = dpo_loss(torch.tensor([0.3, 0.0]), torch.tensor([-0.2, 0.0]), beta=0.5)
    assert torch.allclose(loss, torch.tensor([math.log(1 + math.exp(-0.25)), math.log(2.0)]))


def test_gradient_is_table10_coefficient():
    """d(-J)/d log π_θ(o_t) = ∓ β GC / (|o| P), GC = σ(β r⁻ - β r⁺): - for o⁺ tokens, + for o⁻ (Table 10)."""
    g = torch.Generator().manual_seed(0)
    beta, lengths = 0.3, torch.tensor([[4, 2], [3, 5]])  # pair p: (|o⁺|, |o⁻|)
    lp = (-torch.rand(2, 2, 5, generator=g) * 2).requires_grad_()  # [pair, chosen/rejected, token]
    ref = lp.detach() + 0.4 * torch.randn(2, 2, 5, generator=g)
    mask = torch.arange(5)[None, None, :] < lengths[..., None]
    ratios = ((lp - ref) * mask).sum(-1) / lengths
    dpo_loss(ratios[:, 0], ratios[:, 1], beta).mean().backward()
    gc = torch.sigmoid(beta * (ratios[:, 1] - ratios[:, 0])).detach()
    sign = torch.tensor([1.0, -1.0])
    expected = -beta * gc[:, None, None] * sign[None, :, None] / (lengths[..., None] * 2) * mask
    assert torch.allclose(lp.grad, expected, atol=1e-7)


def test_make_pairs_matches_right_with_wrong_and_counts_the_rest():
    questions = [{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": "4"}]
    texts = ["\\boxed{2}", "\\boxed{3}", "\\boxed{2}", "\\boxed{5}",   # q0: 2 right, 2 wrong
             "\\boxed{4}", "\\boxed{4}", "\\boxed{1}", "\\boxed{4}"]   # q1: the wrong one is unfinished
    finished = [True] * 6 + [False, True]
    stats = Counter()
    pairs = make_pairs(questions, texts, finished, 4, stats)
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("\\boxed{2}", "\\boxed{3}"),
                                                             ("\\boxed{2}", "\\boxed{5}")]
    assert stats == Counter(pairs=2, judged=7, unfinished=1, questions_without_pair=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("dpo")
    tok = Tokenizer.train(["What is 12 + 30? The answer is \\boxed{42}."] * 5, vocab_size=270)
    tok.save(root / "tok")
    torch.manual_seed(0)
    Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layers=1, d_model=32, n_heads=2, ffn_dim=64,
                            max_seq_len=256)).save(root / "init", tokenizer=str(root / "tok"))
    pairs = [{"question": f"What is {a} + 1?",
              "chosen": f"\\boxed{{{a + 1}}}", "rejected": f"\\boxed{{{a + 2}}}"} for a in range(6)]
    write_jsonl(root / "pairs.jsonl", pairs + [{"question": "no answers"}])
    write_jsonl(root / "rl.jsonl",
                [{"question": f"What is {a} + 1?", "answer": str(a + 1)} for a in range(3)])
    return {"root": root, "tok": tok, "pairs": pairs}


def test_packed_logratios_equal_each_example_on_its_own(world):
    torch.manual_seed(1)
    policy = Transformer.load(world["root"] / "init")
    reference = Transformer.load(world["root"] / "init")
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    data = PairData(world["root"] / "pairs.jsonl", world["tok"], seq_len=256, rows=2)
    assert data.stats["bad_pair"] == 1 and len(data.pairs) == 6
    batch = data.next_batch()
    ratios = example_logratios(policy, reference, batch)
    assert len(ratios) % 2 == 0 and data.consumed == len(ratios) // 2
    for p in range(len(ratios) // 2):  # the pairs in the order PairData drew them
        for side, (ids, labels) in enumerate(data._pair(p)):
            tokens = torch.tensor([ids])
            answer = torch.tensor(labels[1:]) != -100
            diff = (Transformer.token_logprobs(policy, tokens)
                    - Transformer.token_logprobs(reference, tokens))[0]
            assert torch.allclose(ratios[2 * p + side], diff[answer].mean(), atol=1e-5)


def test_train_command_moves_the_policy_toward_the_chosen(world, tmp_path):
    records = main(["train", "--init", str(world["root"] / "init"),
                    "--data", str(world["root"] / "pairs.jsonl"),
                    "--out", str(tmp_path), "--steps", "8", "--lr", "3e-3", "--micro-batch", "2",
                    "--seq-len", "256", "--log-every", "1", "--save-every", "0", "--beta", "0.5"])
    assert records[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # π_θ = π_ref at step 1: -log σ(0)
    assert records[-1]["loss"] < records[0]["loss"]
    trained, start = Transformer.load(tmp_path / "final"), Transformer.load(world["root"] / "init")
    assert trained.num_params() == start.num_params()


def test_pairs_command_writes_pairs_and_counts(world, tmp_path):
    stats = main(["pairs", "--model-path", str(world["root"] / "init"),
                  "--data", str(world["root"] / "rl.jsonl"),
                  "--out", str(tmp_path / "pairs.jsonl"), "--k", "3", "--max-new-tokens", "4"])
    written = (tmp_path / "pairs.jsonl").read_text().splitlines()
    assert len(written) == stats["pairs"]
    # every sample is accounted for: 3 questions × 3 samples, unfinished or judged
    assert json.loads((tmp_path / "pairs.jsonl.stats.json").read_text())["questions"] == 3
    assert stats["unfinished"] + stats["judged"] == 9


def test_pairs_limit_samples_only_the_first_questions(world, tmp_path):
    """--limit N: the same budget of samples as an RL run (N questions × k)."""
    stats = main(["pairs", "--model-path", str(world["root"] / "init"),
                  "--data", str(world["root"] / "rl.jsonl"),
                  "--out", str(tmp_path / "pairs.jsonl"), "--k", "3", "--max-new-tokens", "4",
                  "--limit", "2"])
    assert stats["unfinished"] + stats["judged"] == 2 * 3 and stats["sampled_questions"] == 2


def test_dry_run_plans_the_policy_and_the_frozen_reference():
    plan = main(["train", "--init", "7b", "--data", "unused.jsonl", "--dry-run", "--world-size", "8",
                     "--parallel", "fsdp", "--activation-checkpointing", "--micro-batch", "1"])
    P = 6_910_365_696
    assert plan["params"] == P
    assert plan["memory"]["AdamW moments (fp32)"] == pytest.approx(8 * P / 8)  # sharded over 8 ranks
    assert plan["memory"]["π_ref (bf16, whole)"] == 2 * P                     # a whole copy on every rank
    # the micro-batch that fits counts π_ref among what is held: the same plan without it fits more
    import trainer
    from dpo import DPOConfig
    without = trainer.dry_run(DPOConfig(init="7b", data="unused.jsonl", dry_run=True, world_size=8,
                                        parallel="fsdp", activation_checkpointing=True, micro_batch=1))
    per_sequence = without["memory"]["activations"]
    gained = without["fits_micro_batch"] - plan["fits_micro_batch"]
    assert gained == pytest.approx(2 * P / per_sequence, abs=1)
