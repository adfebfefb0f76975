"""Learned reward models (reward.py, section 4): step ends, step labels, replay, checkpoints, and ORM / PRM
trained through pretrain.py's loop that tell good toy solutions from bad ones they never saw."""
import functools
import json
import math
import random

import pytest
import torch

import reward
import toy_data
from formats import chat_prompt, write_jsonl
from model import ModelConfig, Transformer
from trainer import TrainConfig, build_model, cleanup_distributed, setup_distributed
from reward import (ReplayBuffer, RewardModel, completion_steps, mc_step_labels, step_end_positions,
                    toy_step_labels)
from sft import encode_prompt
from tokenizer import SPLIT_PATTERN, Tokenizer


# ----------------------------------------------------------------------------- step ends

@pytest.fixture(scope="module")
def byte_tokenizer():
    """Byte-level ids (id = byte value) plus one merge, ".\\n" -> 256, so positions can be derived by hand."""
    return Tokenizer("bytes", SPLIT_PATTERN, {**{bytes([i]): i for i in range(256)}, b".\n": 256})


def test_step_end_positions_hand_examples(byte_tokenizer):
    tok, b = byte_tokenizer, lambda s: list(s.encode())
    assert step_end_positions(b("ab\ncd\n\nef"), tok) == [2, 5, 8]       # a blank line is no step
    assert step_end_positions(b("ab\ncd\n") + [tok.eos_id], tok) == [2, 6]  # the last step ends at EOS
    assert step_end_positions(b("\n\nab"), tok) == [3]                    # leading blank lines
    assert step_end_positions(b("ab"), tok) == [1]
    assert step_end_positions(b("  \n "), tok) == [3]                     # nothing visible: one step
    assert step_end_positions([tok.eos_id], tok) == [0]
    assert step_end_positions([], tok) == []
    assert step_end_positions(b("é\nx"), tok) == [2, 3]                   # é is two bytes
    assert step_end_positions(b("a") + [tok.pad_id] + b("\nb"), tok) == [2, 3]  # specials carry no text
    ids = tok.encode("x = 1.\ny")
    assert ids == [120, 32, 61, 32, 49, 256, 121]  # "x", " =", " ", "1", ".\n" merged, "y"
    assert step_end_positions(ids, tok) == [5, 6]
    assert completion_steps(b("ab\ncd\n\nef"), tok) == ["ab\n", "cd\n", "\nef"]


# ----------------------------------------------------------------------------- step labels

REFERENCE = "12 + 5 = 17\n17 * 3 = 51\n51 - 9 = 42\nThe answer is \\boxed{42}."


@pytest.mark.parametrize("solution, expected", [
    (REFERENCE, [1, 1, 1, 1]),
    # slip, then off the chain
    ("12 + 5 = 18\n18 * 3 = 54\n54 - 9 = 45\nThe answer is \\boxed{45}.", [0, 0, 0, 0]),
    ("12 + 5 = 17\n17 * 3 = 52\n51 - 9 = 42\nThe answer is \\boxed{42}.", [1, 0, 1, 1]),  # a slip left behind
    ("5 + 12 = 17\n3 * 17 = 51\n51 - 9 = 42.\nThe answer is \\boxed{42}.", [1, 1, 1, 1]),  # other order
    ("12 + 5 = 17\nso multiply by 3\n17 * 3 = 51\n51 - 9 = 42\n\\boxed{42}", [1, 0, 1, 1, 1]),  # a prose line
    # extra
    ("12 + 5 = 17\n17 * 3 = 51\n51 - 9 = 42\n42 + 0 = 42\nThe answer is \\boxed{42}.", [1, 1, 1, 0, 1]),
    ("12 + 5 = 17\n17 * 3 = 51\nThe answer is \\boxed{51}.", [1, 1, 0]),  # stops early
    ("84 / 2 = 42\nThe answer is 42", [0, 1]),  # right arithmetic, not the chain's; right answer
    ("85 / 2 = 42", [0]),  # inexact division
])
def test_toy_step_labels_hand_examples(solution, expected):
    assert toy_step_labels(solution.split("\n"), REFERENCE, "42") == expected


class PerfectCompleter:
    """A policy for Math-Shepherd's estimate that knows the reference chain: from a prefix whose last result
    is the chain's, it writes the rest of the chain and the right answer; otherwise it boxes its last result.
    Only every `tries`-th completion it writes makes the attempt; the others give up with a wrong answer."""

    def __init__(self, tokenizer, chain, answer, tries=1):
        self.tok, self.chain, self.answer, self.tries, self.calls = tokenizer, chain, answer, tries, 0

    def generate(self, prompts, max_new_tokens, temperature=1.0, top_p=1.0, stop_ids=(), group_size=1,
                 slots=None, generator=None):
        outs = []
        for prompt in (p for p in prompts for _ in range(group_size)):
            self.calls += 1
            lines = self.tok.decode(prompt).split("Assistant:")[-1].strip().split("\n")
            results = [int(line.split("=")[1].rstrip(".")) for line in lines if "=" in line]
            k = len(results)
            if self.calls % self.tries:
                text = "\nThe answer is \\boxed{-1}."
            elif results and results[-1] == self.chain[k - 1][3]:
                text = "".join(f"\n{a} {op} {b} = {c}" for a, op, b, c in self.chain[k:])
                text += f"\nThe answer is \\boxed{{{self.answer}}}."
            else:
                text = f"\nThe answer is \\boxed{{{results[-1] if results else 0}}}."
            outs.append(self.tok.encode(text) + [self.tok.eos_id])
        return outs, [[0.0] * len(o) for o in outs]


@pytest.fixture(autouse=True)
def completers_answer_for_themselves(monkeypatch):
    """reward.py samples with sampler.generate(model, ...); a PerfectCompleter answers its own calls."""
    engine = reward.generate
    monkeypatch.setattr(reward, "generate", lambda model, *args, **kw: model.generate(*args, **kw)
                        if isinstance(model, PerfectCompleter) else engine(model, *args, **kw))


def test_mc_labels_with_a_perfect_completer_equal_the_exact_labels(byte_tokenizer):
    """The hard estimate ("good if any of N completions reaches the answer") with a completer that succeeds
    whenever success is possible gives the exact labels; with a completer that always fails, only the last
    step (the output's own correctness) can be good."""
    tok = byte_tokenizer
    chain = [(12, "+", 5, 17), (17, "*", 3, 51), (51, "-", 9, 42)]
    prompt = tok.encode(chat_prompt("q"))
    outputs = [" 12 + 5 = 17\n17 * 3 = 51\n51 - 9 = 42\nThe answer is \\boxed{42}.",
               " 12 + 5 = 17\n17 * 3 = 52\n52 - 9 = 43\nThe answer is \\boxed{43}.",
               " 12 + 5 = 18\n17 * 3 = 51\n51 - 9 = 42\nThe answer is \\boxed{42}."]
    ids = [tok.encode(o) + [tok.eos_id] for o in outputs]
    exact = [toy_step_labels(completion_steps(i, tok), REFERENCE, "42") for i in ids]
    assert exact == [[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 1]]
    policy = PerfectCompleter(tok, chain, 42, tries=2)  # of the 2 completions of a prefix, the second tries
    assert mc_step_labels(policy, tok, prompt, ids, "42", n=2, max_new_tokens=64, batch_size=5) == exact
    assert policy.calls == 2 * 9  # 3 prefixes (all steps but the last) per output, 2 completions each
    policy = PerfectCompleter(tok, chain, 42, tries=10 ** 9)  # never tries
    single = mc_step_labels(policy, tok, prompt, ids, "42", n=1, max_new_tokens=64)
    assert [labels[:-1] for labels in single] == [[0, 0, 0]] * 3 and [s[-1] for s in single] == [1, 0, 1]


# ----------------------------------------------------------------------------- replay

def test_replay_buffer_mixes_an_exact_share_of_the_history():
    buffer = ReplayBuffer(share=0.1, seed=3)
    first = [{"i": i} for i in range(500)]
    assert buffer.mix(first) == first  # nothing older yet
    second = [{"i": 1000 + i} for i in range(300)]
    mixed = buffer.mix(second)
    replayed = mixed[300:]
    assert mixed[:300] == second and len(replayed) == 50  # 10% of the 500 older records
    assert all(r in first for r in replayed) and len({r["i"] for r in replayed}) == 50
    restored = ReplayBuffer(share=0.5)
    restored.load_state_dict(json.loads(json.dumps(buffer.state_dict())))  # survives JSON (a checkpoint)
    third = [{"i": 2000 + i} for i in range(200)]
    again = buffer.mix(third)
    assert restored.mix(third) == again and len(again) == 200 + 80  # 10% of 800
    assert ReplayBuffer(share=0.25).mix([]) == [] and len(ReplayBuffer(0.25, 1).history) == 0
    with pytest.raises(ValueError):
        ReplayBuffer(share=1.5)


# ----------------------------------------------------------------------------- the model and its folder

CONFIG = ModelConfig(vocab_size=300, n_layers=2, d_model=32, n_heads=2, ffn_dim=64, max_seq_len=64)


def test_save_load_round_trip_and_padding(tmp_path):
    torch.manual_seed(0)
    rm = RewardModel(CONFIG, kind="prm")
    sequences = [[5, 6, 7, 8, 9, 10], [11, 12, 13], list(range(20, 60))]
    ends = [[2, 5], [2], [0, 10, 39]]
    rm.save(tmp_path / "prm", tokenizer="tok/dir")
    saved = json.loads((tmp_path / "prm" / "config.json").read_text())
    assert saved["kind"] == "prm" and saved["tokenizer"] == "tok/dir" and saved["model"]["d_model"] == 32
    loaded = RewardModel.load(tmp_path / "prm")
    assert loaded.kind == "prm" and loaded.config == CONFIG
    assert loaded.step_rewards(sequences, ends) == rm.step_rewards(sequences, ends)
    assert loaded.outcome_rewards(sequences) == rm.outcome_rewards(sequences)
    # right padding in a batch changes nothing: each sequence alone gives the same probabilities
    alone = [rm.step_rewards([s], [e])[0] for s, e in zip(sequences, ends)]
    flat = lambda lists: [x for xs in lists for x in xs]
    assert flat(rm.step_rewards(sequences, ends)) == pytest.approx(flat(alone), abs=1e-6)
    with torch.no_grad():
        expected = torch.sigmoid(rm(torch.tensor([sequences[0]])))[0, [2, 5]].tolist()
    assert alone[0] == pytest.approx(expected, abs=1e-6)
    assert all(0 < p < 1 for p in rm.outcome_rewards(sequences))


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        RewardModel(CONFIG, kind="value")
    with pytest.raises(FileNotFoundError):
        RewardModel.load(tmp_path / "missing")
    Transformer(CONFIG).save(tmp_path / "policy")
    with pytest.raises(ValueError, match="not a reward model"):
        RewardModel.load(tmp_path / "policy")
    rm = RewardModel(CONFIG)
    with pytest.raises(ValueError, match="positions"):
        rm.step_rewards([[1, 2, 3]], [[3]])
    with pytest.raises(ValueError, match="positions"):
        rm.outcome_rewards([[]])
    with pytest.raises(SystemExit):
        reward.main(["train", "--kind", "value", "--data", "x", "--init", "y"])


def test_decoder_starts_from_the_init_checkpoint(tmp_path):
    torch.manual_seed(1)
    policy = Transformer(CONFIG)
    policy.save(tmp_path / "policy")
    d = setup_distributed()
    try:
        model = build_model(CONFIG, TrainConfig(init=str(tmp_path / "policy"), dtype="fp32"), d,
                            make=functools.partial(RewardModel, kind="orm"), adapt=RewardModel.from_lm_state)
    finally:
        cleanup_distributed()
    state = reward.unwrap(model).state_dict()
    for name, tensor in policy.state_dict().items():
        if name != "lm_head.weight":
            assert torch.equal(state["decoder." + name], tensor), name
    assert state["decoder.lm_head.weight"].shape == (1, CONFIG.d_model)


# ----------------------------------------------------------------------------- trained on the toy world

def _slip(problem: toy_data.Problem, rng: random.Random) -> str:
    """A wrong solution: one result gets an extra digit (17 -> 174) and the chain carries on from it. A
    magnitude slip is what a tiny model can learn to spot within a CPU test's budget; subtler slips (17 -> 18)
    need a bigger model and longer training."""
    steps, k = [list(s) for s in problem.steps], rng.randrange(len(problem.steps))
    steps[k][3] = steps[k][3] * 10 + rng.randrange(10)
    for j in range(k + 1, len(steps)):  # the operand that was the previous result takes the new one
        operand = [problem.steps[j][0], None, problem.steps[j][2]].index(problem.steps[j - 1][3])
        steps[j][operand] = steps[j - 1][3]
        steps[j][3] = toy_data.apply(*steps[j][:3])
    lines = [f"{a} {op} {b} = {c}" for a, op, b, c in steps]
    return "\n".join(lines + [f"The answer is \\boxed{{{steps[-1][3]}}}."])


@pytest.fixture(scope="module")
def toy_world(tmp_path_factory):
    """Toy problems (2-3 steps); for each, the reference solution and a slipped one, labelled by
    accuracy_reward (ORM) and toy_step_labels (PRM); a fresh 2-layer decoder as --init. Held-out problems are
    never trained on."""
    root, rng = tmp_path_factory.mktemp("rm"), random.Random(0)
    problems = [toy_data.make_problem(rng, 2 + i % 2) for i in range(900)]
    train, held_out = problems[:750], problems[750:]
    tok = Tokenizer.train([chat_prompt(p.question) + " " + p.solution() for p in train], 800)
    tok.save(root / "tok")
    torch.manual_seed(0)
    Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layers=2, d_model=64, n_heads=4, ffn_dim=192,
                            max_seq_len=256)).save(root / "init", tokenizer=str(root / "tok"))

    def records(ps):
        out = []
        for p in ps:
            for text in (" " + p.solution(), " " + _slip(p, rng)):
                ids = tok.encode(text) + [tok.eos_id]
                out.append({"question": p.question, "answer": str(p.answer), "completion": text,
                            "finished": True, "correct": int(reward.accuracy_reward(text, str(p.answer))),
                            "step_labels": toy_step_labels(completion_steps(ids, tok), p.solution(),
                                                           str(p.answer))})
        return out
    write_jsonl(root / "rm_data.jsonl", records(train))
    return root, tok, records(held_out)


def _auc(scores, labels):
    """P(a good item scores above a bad one), ties counting half: the Mann-Whitney statistic, pair by pair."""
    good = [s for s, y in zip(scores, labels) if y]
    bad = [s for s, y in zip(scores, labels) if not y]
    return sum((g > b) + 0.5 * (g == b) for g in good for b in bad) / (len(good) * len(bad))


def _train(root, kind):
    records = reward.main(["train", "--kind", kind, "--data", str(root / "rm_data.jsonl"), "--init",
                           str(root / "init"), "--out", str(root / kind), "--steps", "200", "--lr", "3e-3",
                           "--warmup-steps", "10", "--micro-batch", "8", "--seq-len", "256", "--log-every",
                           "25", "--eval-every", "200", "--val-fraction", "0.05"])
    assert records[-1]["step"] == 200 and records[-1]["loss"] < records[0]["loss"] - 0.1
    assert math.isfinite(records[-1]["val_loss"])  # whole questions held out, scored at the end
    return RewardModel.load(root / kind / "final")


def test_orm_separates_good_from_bad_held_out_solutions(toy_world):
    root, tok, held_out = toy_world
    rm = _train(root, "orm")
    assert rm.kind == "orm"
    sequences = [encode_prompt(tok, r["question"]) + tok.encode(r["completion"]) + [tok.eos_id]
                 for r in held_out]
    labels = [r["correct"] for r in held_out]
    auc = _auc(rm.outcome_rewards(sequences), labels)
    print(f"\nORM held-out AUC {auc:.3f} ({sum(labels)} correct / {len(labels) - sum(labels)} wrong "
          f"solutions)")
    assert auc > 0.75


def test_prm_separates_good_from_bad_held_out_steps(toy_world):
    root, tok, held_out = toy_world
    rm = _train(root, "prm")
    prompts = [encode_prompt(tok, r["question"]) for r in held_out]
    completions = [tok.encode(r["completion"]) + [tok.eos_id] for r in held_out]
    ends = [[len(p) + e for e in step_end_positions(c, tok)] for p, c in zip(prompts, completions)]
    scores = rm.step_rewards([p + c for p, c in zip(prompts, completions)], ends)
    labels = [label for r in held_out for label in r["step_labels"]]
    auc = _auc([s for ss in scores for s in ss], labels)
    # the first bad step of each slipped solution against the good steps before it: finding where it
    # goes wrong
    first_bad = [(ss[:r["step_labels"].index(0) + 1], [1] * r["step_labels"].index(0) + [0])
                 for ss, r in zip(scores, held_out) if 0 in r["step_labels"]]
    where = _auc([s for ss, _ in first_bad for s in ss], [y for _, ys in first_bad for y in ys])
    print(f"\nPRM held-out step AUC {auc:.3f} ({sum(labels)} good / {len(labels) - sum(labels)} bad steps); "
          f"first bad step vs the good ones before it: AUC {where:.3f}")
    assert auc > 0.75 and where > 0.75


def test_label_command_writes_graded_and_step_labelled_samples(toy_world, tmp_path):
    """`reward.py label` with a (random, untrained) policy: every sample is graded, its step labels line up
    with the steps `reward.py train` will find, and unusable questions are counted, not lost."""
    root, tok, _ = toy_world
    rng = random.Random(5)
    problems = [toy_data.make_problem(rng, 2) for _ in range(3)]
    rows = [toy_data.bench_record(p, "train", i) for i, p in enumerate(problems)]
    rows += [{"question": "No gold?", "answer": "", "solution": "1 + 1 = 2"},
             {"question": "1 + 1?", "answer": "2"}]
    write_jsonl(tmp_path / "rl.jsonl", rows)
    common = ["label", "--policy", str(root / "init"), "--data", str(tmp_path / "rl.jsonl"), "--samples", "2",
              "--max-new-tokens", "12", "--batch-size", "4"]
    stats = reward.main(common + ["--labels", "exact", "--out", str(tmp_path / "exact.jsonl")])
    assert stats["bad_gold"] == 1 and stats["no_solution"] == 1 and stats["samples"] == 6
    exact = [json.loads(line) for line in (tmp_path / "exact.jsonl").open()]
    solutions = {row["question"]: row["solution"] for row in rows[:3]}
    for rec in exact:
        assert rec["correct"] == reward.accuracy_reward(rec["completion"], rec["answer"])
        ids = tok.encode(rec["completion"]) + [tok.eos_id] * rec["finished"]
        assert rec["step_labels"] == toy_step_labels(completion_steps(ids, tok), solutions[rec["question"]],
                                                     rec["answer"])
        assert not isinstance(reward.reward_example(rec, tok, "prm"), str)  # the steps line up in training
    assert json.loads((tmp_path / "exact.jsonl.stats.json").read_text())["samples"] == 6
    stats = reward.main(common + ["--labels", "mc", "--mc-samples", "1", "--out", str(tmp_path / "mc.jsonl")])
    mc = [json.loads(line) for line in (tmp_path / "mc.jsonl").open()]
    # the question without a solution is fine
    assert stats["samples"] == len(mc) == 8 and stats["bad_gold"] == 1
    for rec in mc:
        assert rec["step_labels"][-1] == rec["correct"]  # the last step is the output's own correctness
        assert not isinstance(reward.reward_example(rec, tok, "prm"), str)
