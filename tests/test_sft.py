"""Tests of sft.py: the loss mask, packing without leakage (against per-example computation), overlong
examples, the data order and its resume, the converters on the real benchmark files, a toy SFT run
(plus RFT on its model) through the real command line, and SFT of a toy pre-trained model raising its
toy-benchmark accuracy (world -> tokenizer -> token shards -> pre-training -> SFT -> evaluation)."""
import json
import math
import random
import shutil
import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import data_pipeline
import evaluate
import pretrain
import tokenizer
import toy_data
from formats import chat_prompt, gsm8k_answer, last_boxed, read_jsonl, write_jsonl
from model import ModelConfig, Transformer
from sampler import generate
from grader import accuracy_reward, format_reward
from sft import (IGNORE, Packer, SFTData, assistant_text, convert, encode_example, encode_prompt,
                 fit_to_context, gsm8k_to_sft, main, math_to_sft, sft_loss)
from tokenizer import Tokenizer

from conftest import DATA  # the benchmark-data folder: $BENCHMARK_DATA, else data/


def copy_record(n: int) -> dict:
    """The toy task of the SFT run: say the number of the question inside \\boxed{}."""
    return {"question": f"What is {n}?", "solution": f"The answer is \\boxed{{{n}}}.", "format": "cot"}


@pytest.fixture(scope="module")
def tok():
    texts = [chat_prompt(r["question"]) + " " + r["solution"] for r in map(copy_record, range(100, 1000))]
    texts += [chat_prompt(f"Tom has {a} apples and buys {b}. How many?") + f" {a} + {b} = {a + b}"
              for a in range(30)
              for b in range(30)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a small corpus runs out of merges: a smaller vocabulary is fine
        return Tokenizer.train(texts, 400)


def tiny_model(vocab: int, seq: int = 96, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=vocab, n_layers=2, d_model=64, n_heads=4, ffn_dim=128,
                                   max_seq_len=seq))


EXAMPLES = [("What is 12 + 30?", "12 + 30 = 42\nThe answer is \\boxed{42}."),
            ("Tom has 3 apples and buys 4. How many?", "3 + 4 = 7\nThe answer is \\boxed{7}."),
            ("What is 5?", "The answer is \\boxed{5}."),
            ("Ann has 10 pens and loses 2. How many are left?", "10 - 2 = 8\nThe answer is \\boxed{8}.")]


# ----------------------------------------------------------------------------- formatting and the mask

def test_encode_example_labels_exactly_the_answer(tok):
    for question, solution in EXAMPLES:
        ids, labels = encode_example(tok, question, solution)
        prompt = tok.encode(f"User: {question}\nPlease reason step by step, and put your final answer within "
                            f"\\boxed{{}}.\n\nAssistant:")  # the paper's format, spelled out here
        assert ids[:len(prompt)] == prompt == encode_prompt(tok, question)
        assert labels[:len(prompt)] == [IGNORE] * len(prompt)
        assert labels[len(prompt):] == ids[len(prompt):] and ids[-1] == tok.eos_id
        assert tok.decode(ids[len(prompt):-1]) == " " + solution
        # plain text, no specials inside
        assert tok.decode(ids[:-1]) == tok.decode(tok.encode(tok.decode(ids[:-1])))


def test_r1_pot_and_tool_targets(tok):
    question, solution = EXAMPLES[0]
    text = assistant_text(solution, "cot", "r1")
    assert text == f" <think>\n{solution}\n</think> <answer>42</answer>"
    assert format_reward(text) == 1.0 and accuracy_reward(text, "42") == 1.0  # the R1 rewards accept it
    ids, labels = encode_example(tok, question, solution, template="r1")
    prompt = tok.encode(chat_prompt(question, "r1"))
    assert ids[:len(prompt)] == prompt and set(labels[:len(prompt)]) == {IGNORE}
    assert tok.decode(ids[len(prompt):-1]) == text
    assert assistant_text(text.strip(), "cot", "r1") == text  # already R1-formatted: kept
    assert assistant_text("print(6 * 7)", "pot") == " ```python\nprint(6 * 7)\n```"
    assert assistant_text("```python\nprint(1)\n```", "pot") == " ```python\nprint(1)\n```"
    tool = "Let me compute.\n```python\nprint(6 * 7)\n```\n```output\n42\n```\nThe answer is \\boxed{42}."
    assert assistant_text(tool, "tool") == " " + tool
    with pytest.raises(ValueError, match="boxed"):
        assistant_text("print(6 * 7)", "pot", "r1")  # a program's answer exists only once it runs
    with pytest.raises(ValueError):
        assistant_text(solution, "essay")


def packed_batch(tok, examples, seq_len):
    packer = Packer(seq_len)
    for ex in examples:
        packer.add(*ex)
    tokens, targets, doc_ids = (torch.from_numpy(a) for a in packer.arrays(tok.pad_id))
    return {"tokens": tokens, "targets": targets, "doc_ids": doc_ids}, packer


def test_prompt_positions_carry_no_loss_even_packed(tok):
    examples = [encode_example(tok, q, s) for q, s in EXAMPLES]
    seq = max(len(i) for i, _ in examples) + 30
    batch, packer = packed_batch(tok, examples, seq)
    assert len(packer.rows) < len(examples)  # several examples share a row
    # where each example lies in the packed rows, found independently from the doc ids
    spans = []
    for r, row in enumerate(packer.rows):
        for d, (ids, _) in enumerate(row):
            where = (batch["doc_ids"][r] == d).nonzero()[:, 0]
            spans.append((r, int(where[0]), ids))
    for (question, solution), (r, start, ids) in zip(EXAMPLES, spans):
        n_prompt = len(encode_prompt(tok, question))
        targets = batch["targets"][r, start:start + len(ids) - 1].tolist()
        # position t predicts token t+1: the first n_prompt-1 positions predict prompt tokens (no loss)
        assert targets[:n_prompt - 1] == [IGNORE] * (n_prompt - 1)
        assert tok.decode(targets[n_prompt - 1:-1]) == " " + solution and targets[-1] == tok.eos_id

    model = tiny_model(tok.vocab_size, seq)
    hidden_seen = []  # the final hidden states: position t's reaches the loss only through its own logits

    def keep_hidden(module, inputs, out):
        out.retain_grad()
        hidden_seen.append(out)
    model.norm.register_forward_hook(keep_hidden)
    loss, n = sft_loss(model, batch)
    loss.backward()
    grad = hidden_seen[0].grad.abs().sum(-1)  # [rows, T]: how much each position affects the loss
    masked = batch["targets"] == IGNORE
    assert int(n) == int((~masked).sum())
    assert torch.all(grad[masked] == 0) and torch.all(grad[~masked] > 0)

    # perturbing one example's prompt tokens changes only that example's answer terms (through attention),
    # not those of the example packed right after it in the same row
    def per_position(b):  # the loss terms of every position, from the logits of sft_loss's own forward
        hidden_seen.clear()
        sft_loss(model, b)
        logits = model.lm_head(hidden_seen[0])
        return F.cross_entropy(logits.flatten(0, 1), b["targets"].flatten(), ignore_index=IGNORE,
                               reduction="none").view(b["targets"].shape).detach()
    assert len(packer.rows[0]) >= 2
    r, start, ids = spans[0]
    n_prompt = len(encode_prompt(tok, EXAMPLES[0][0]))
    other = dict(batch, tokens=batch["tokens"].clone())
    other["tokens"][r, start + 2:start + n_prompt - 1] = torch.randint(0, 256, (n_prompt - 3,))
    before, after = per_position(batch), per_position(other)
    assert torch.all(before[masked] == 0) and torch.all(after[masked] == 0)
    changed = (before - after).abs() > 1e-6
    mine = torch.zeros_like(changed)
    mine[r, start:start + len(ids) - 1] = True
    assert changed[mine & ~masked].any() and not changed[~mine].any()


# ----------------------------------------------------------------------------- packing equals per-example

def test_packed_loss_and_gradients_equal_per_example(tok):
    examples = [encode_example(tok, q, s) for q, s in EXAMPLES]
    examples.append(encode_example(tok, "What is 7?", "\\boxed{7}"))
    seq = max(len(i) for i, _ in examples) + 20
    model = tiny_model(tok.vocab_size, seq, seed=1)
    batch, packer = packed_batch(tok, examples, seq)
    assert len(packer.rows) >= 2 and (batch["tokens"] == tok.pad_id).any()  # padding present
    loss, n = sft_loss(model, batch)
    loss.backward()
    packed_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    # reference: every example alone, unpacked, no doc ids; the token-weighted mean of their losses
    total, count = 0.0, 0
    for ids, labels in examples:
        x, y = torch.tensor([ids[:-1]]), torch.tensor([labels[1:]])
        k = int((y != IGNORE).sum())
        _, loss_i = model(x, y)
        total, count = total + loss_i * k, count + k
    ref = total / count
    ref.backward()
    assert int(n) == count
    assert torch.allclose(loss, ref, rtol=1e-5, atol=1e-6)
    for g, p in zip(packed_grads, model.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------- overlong examples

def test_fit_to_context_truncates_or_drops(tok):
    ids, labels = encode_example(tok, *EXAMPLES[0])
    n_prompt = labels.count(IGNORE)
    seq = n_prompt + 3  # n_prompt - 1 positions predict prompt tokens, 4 predict answer tokens
    short_ids, short_labels, outcome = fit_to_context(ids, labels, seq, "truncate")
    assert outcome == "truncated" and short_ids == ids[:seq + 1] and short_labels == labels[:seq + 1]
    assert fit_to_context(ids, labels, seq, "drop") == (None, None, "dropped_overlong")
    assert fit_to_context(ids, labels, len(ids) - 1, "drop")[2] == "fits"
    # the answer's first token would sit beyond the context: nothing left to learn -> dropped
    assert fit_to_context(ids, labels, n_prompt - 1, "truncate") == (None, None, "dropped_answer_truncated")
    one = fit_to_context(ids, labels, n_prompt, "truncate")[1][1:]  # one position more: one answer target
    assert len(one) - one.count(IGNORE) == 1


@pytest.mark.parametrize("overlong", ["truncate", "drop"])
def test_overlong_examples_counted_and_never_nan(tok, tmp_path, overlong):
    seq = 48
    prompt_len = lambda q: len(encode_prompt(tok, q))
    short = [copy_record(n) for n in range(100, 110)]
    assert all(len(encode_example(tok, r["question"], r["solution"])[0]) - 1 <= seq for r in short)
    long_answer = {"question": "What is 5?", "solution": "5 " * 40 + "The answer is \\boxed{5}."}
    long_prompt = {"question": "What is " + "1 + " * 30 + "1?", "solution": "\\boxed{31}"}
    assert prompt_len(long_answer["question"]) < seq < prompt_len(long_prompt["question"])
    bad = [{"question": "", "solution": "x"}, {"question": "q"},
           {"question": "q", "solution": "s", "format": "essay"}]
    write_jsonl(tmp_path / "sft.jsonl", short + [long_answer, long_prompt] + bad)

    data = SFTData([(str(tmp_path / "sft.jsonl"), 1.0)], tok, seq_len=seq, rows=2, overlong=overlong)
    assert data.load_stats == Counter(no_question=1, no_solution=1, unknown_format=1) and not data.stats
    model = tiny_model(tok.vocab_size, seq)
    for _ in range(16):
        batch = data.next_batch()
        assert batch["tokens"].shape == (2, seq)
        loss, n = sft_loss(model, batch)
        assert int(n) > 0 and torch.isfinite(loss)
        for tokens, targets, docs in zip(batch["tokens"], batch["targets"], batch["doc_ids"]):
            for d in docs.unique():
                part = docs == d
                if not (tokens[part] == tok.pad_id).all():  # every packed example has targets
                    assert (targets[part] != IGNORE).any()
    epochs = data.consumed[0] // 12
    assert epochs >= 2
    if overlong == "truncate":  # the long answer is cut, the long prompt leaves no answer: dropped
        assert data.stats["truncated"] >= epochs and data.stats["dropped_answer_truncated"] >= epochs
        assert "dropped_overlong" not in data.stats
    else:
        assert data.stats["dropped_overlong"] >= 2 * epochs and "truncated" not in data.stats
    drops = data.stats["dropped_overlong"] + data.stats["dropped_answer_truncated"]
    assert data.stats["examples"] + drops == data.consumed[0]  # every record drawn is accounted for


# ----------------------------------------------------------------------------- data order, ranks, resume

def questions_of(tok, batch) -> list[str]:
    """The question of every example packed in a batch, read back from the tokens."""
    out = []
    for tokens, docs in zip(batch["tokens"], batch["doc_ids"]):
        for d in docs.unique():
            text = tok.decode(tokens[docs == d].tolist())
            if text.startswith("User: "):
                out.append(text[6:text.index("\n")])
    return out


def test_mixture_weights_ranks_and_exact_resume(tok, tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [copy_record(n) for n in range(100, 160)])
    write_jsonl(tmp_path / "b.jsonl", [copy_record(n) for n in range(500, 520)])
    files = [(str(tmp_path / "a.jsonl"), 3.0), (str(tmp_path / "b.jsonl"), 1.0)]
    make = lambda rank=0, world=1: SFTData(files, tok, seq_len=120, rows=2, seed=7, rank=rank,
                                           world_size=world)

    data = make()
    seen = [q for _ in range(10) for q in questions_of(tok, data.next_batch())]
    assert sum(data.consumed) == len(seen) and len(seen) >= 40
    from_a = [q for q in seen if int(q.split()[-1][:-1]) < 500]
    assert abs(len(from_a) - 0.75 * len(seen)) <= 1  # the 3:1 weights, within one example
    assert len(from_a) <= 60 and len(seen) - len(from_a) <= 20  # less than an epoch of each file ...
    assert len(set(seen)) == len(seen)  # ... so no example repeats
    assert from_a != [copy_record(n)["question"] for n in range(100, 100 + len(from_a))]  # shuffled

    # exact resume: a fresh object given the state continues with the same batches
    data = make()
    for _ in range(3):
        data.next_batch()
    state = json.loads(json.dumps(data.state_dict()))
    expected = [data.next_batch() for _ in range(4)]
    resumed = make()
    resumed.load_state_dict(state)
    for want in expected:
        got = resumed.next_batch()
        assert all(torch.equal(got[k], want[k]) for k in want)
    assert resumed.stats == data.stats
    with pytest.raises(ValueError, match="ranks"):
        make(rank=0, world=2).load_state_dict(state)

    # two ranks: disjoint examples within an epoch; together they cover the file
    write_jsonl(tmp_path / "c.jsonl", [copy_record(n) for n in range(200, 240)])
    halves = []
    for rank in (0, 1):
        d = SFTData([(str(tmp_path / "c.jsonl"), 1.0)], tok, seq_len=60, rows=1, seed=3, rank=rank,
                    world_size=2)
        halves.append([q for _ in range(20) for q in questions_of(tok, d.next_batch())])
        assert d.consumed == [20] and len(set(halves[-1])) == 20
    assert not set(halves[0]) & set(halves[1])
    assert set(halves[0]) | set(halves[1]) == {copy_record(n)["question"] for n in range(200, 240)}


# ----------------------------------------------------------------------------- converters

def test_gsm8k_and_math_converters_by_hand(tmp_path):
    row = {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many in "
                       "May.",
           "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nIn all she sold 48+24 = "
                     "<<48+24=72>>72 clips.\n#### 1,072"}
    rec = gsm8k_to_sft(row)
    assert rec == {"question": row["question"], "format": "cot",
                   "solution": "Natalia sold 48/2 = 24 clips in May.\nIn all she sold 48+24 = 72 clips.\n"
                               "The answer is \\boxed{1072}."}
    assert gsm8k_to_sft({"question": "q", "answer": "no final answer"}) is None
    assert math_to_sft({"problem": "p", "solution": "so $\\boxed{\\frac{1}{2}}$."})["solution"].endswith("$.")
    assert math_to_sft({"problem": "p", "solution": "no box"}) is None
    write_jsonl(tmp_path / "in.jsonl", [row, {"question": "q", "answer": "7"}, {"answer": "#### 3"}])
    with open(tmp_path / "in.jsonl", "a") as f:
        f.write("{broken\n")
    stats = main(["convert", "--from", "gsm8k", str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")])
    assert stats == Counter(rows=3, written=1, skipped_no_answer=2, bad_json=1)
    assert json.loads((tmp_path / "out.jsonl.stats.json").read_text()) == dict(stats)
    assert list(read_jsonl(tmp_path / "out.jsonl")) == [rec]


def test_gsm8k_conversion_on_the_real_file_keeps_every_answer(tmp_path):
    src = DATA / "gsm8k" / "train.jsonl"
    if not src.is_file():
        pytest.skip(f"{src} not present")
    stats = convert("gsm8k", src, tmp_path / "gsm8k_sft.jsonl")
    rows, out = list(read_jsonl(src)), list(read_jsonl(tmp_path / "gsm8k_sft.jsonl"))
    assert stats["rows"] == stats["written"] == len(rows) == len(out) == 7473
    for row, rec in zip(rows, out):
        assert rec["question"] == row["question"].strip()
        assert last_boxed(rec["solution"]) == gsm8k_answer(row["answer"])
        assert "<<" not in rec["solution"] and "####" not in rec["solution"]


def test_math_conversion_on_the_real_file_keeps_every_answer(tmp_path):
    src = DATA / "math" / "test4500.jsonl"
    if not src.is_file():
        pytest.skip(f"{src} not present")
    stats = convert("math", src, tmp_path / "math_sft.jsonl")
    rows, out = list(read_jsonl(src)), list(read_jsonl(tmp_path / "math_sft.jsonl"))
    assert stats["written"] == len(out) == len(rows) - stats["skipped_no_answer"]
    assert stats["skipped_no_answer"] == sum(last_boxed(r["solution"]) is None for r in rows)
    assert all(last_boxed(rec["solution"]) is not None for rec in out)


# ----------------------------------------------------------------------------- a toy SFT run, then RFT

def accuracy(model, tok, numbers) -> float:
    prompts = [encode_prompt(tok, f"What is {n}?") for n in numbers]
    completions, _ = generate(model.eval(), prompts, 16, temperature=0, stop_ids=(tok.eos_id,))
    return sum(accuracy_reward(tok.decode(c), str(n)) for c, n in zip(completions, numbers)) / len(numbers)


def test_toy_sft_raises_held_out_accuracy_and_rft_keeps_correct_solutions(tok, tmp_path):
    """An honest toy: the task (answer "What is 472?" with \\boxed{472}) starts at 0 accuracy for a
    fresh model, whose samples never contain the boxed number; SFT must teach both the chat format and
    the copying of digits from the prompt. Accuracy is measured on held-out numbers never trained on,
    so it rises only by learning the task, not by memorising answers (~160 steps of a 2-layer model;
    the pre-trained model on the toy benchmark is the next test)."""
    rng = random.Random(0)
    numbers = rng.sample(range(100, 1000), 530)
    held_out, train = numbers[:30], numbers[30:]
    write_jsonl(tmp_path / "sft.jsonl", [copy_record(n) for n in train])
    tok_dir = tok.save(tmp_path / "tok")
    init = tiny_model(tok.vocab_size, 128)
    init.save(tmp_path / "init", tokenizer=str(tok_dir))
    before = accuracy(init, tok, held_out)
    assert before <= 0.1

    main(["train", "--init", str(tmp_path / "init"), "--data", str(tmp_path / "sft.jsonl"), "--out",
          str(tmp_path / "run"), "--seq-len", "128", "--micro-batch", "4", "--batch-size", "4", "--steps",
          "160", "--lr", "3e-3", "--save-every", "0", "--log-every", "40", "--val-fraction", "0.05",
          "--eval-every", "80", "--eval-steps", "1"])
    final = tmp_path / "run" / "final"
    assert json.loads((final / "config.json").read_text())["tokenizer"] == str(tok_dir)
    after = accuracy(Transformer.load(final), tok, held_out)
    print(f"held-out accuracy: {before:.2f} before SFT, {after:.2f} after")
    assert after >= 0.8
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 160 and metrics[-1]["lr"] == 3e-3 and "val_loss" in metrics[-1]
    used = json.loads((tmp_path / "run" / "stats.json").read_text())["examples"]
    # nothing truncated or dropped
    assert used == {"examples": used["examples"]} and used["examples"] > 160 * 4

    # RFT from the SFT model: every kept solution is correct and distinct; every sample is accounted for
    rl = [{"question": f"What is {n}?", "answer": str(n)} for n in held_out[:8]]
    write_jsonl(tmp_path / "rl.jsonl",
                rl + [{"question": "What is 1?", "answer": "{"}, {"question": "no answer"}])
    stats = main(["rft", "--model-path", str(final), "--data", str(tmp_path / "rl.jsonl"), "--k", "4",
                  "--max-new-tokens", "16", "--batch-size", "16", "--out", str(tmp_path / "rft.jsonl")])
    kept = list(read_jsonl(tmp_path / "rft.jsonl"))
    gold = {r["question"]: r["answer"] for r in rl}
    assert stats["problems"] == 8 and stats["samples"] == 32
    assert stats["problems_bad_gold"] == 1 and stats["no_gradable_answer"] == 1
    assert stats["kept"] == len(kept) > 0
    outcomes = ("kept", "dropped_incorrect", "dropped_duplicate", "dropped_unfinished")
    assert sum(stats[outcome] for outcome in outcomes) == 32
    assert all(last_boxed(r["solution"]) == gold[r["question"]] for r in kept)
    assert len({(r["question"], r["solution"]) for r in kept}) == len(kept)
    assert stats["dropped_duplicate"] > 0  # a confident model repeats itself: duplicates are removed


def test_toy_sft_raises_the_toy_benchmark_accuracy_of_a_pretrained_model(tmp_path):
    """The end-to-end claim, through each stage's real entry point as toy.sh runs them: a toy
    world, a BPE tokenizer on its seed and general text, token shards, a 2-layer model pre-trained on them
    for 30 steps, then SFT on the world's sft.jsonl. The world is an easy one (one step,
    + and - of numbers up to 5, results up to 10) so that seconds of SFT suffice. Greedy zero-shot chat
    accuracy on 100 held-out test questions: 0% before SFT (the base model never writes \\boxed{}),
    62-70% after 250 steps with seeds 0-2 (the thresholds leave a wide margin)."""
    world, tok_dir, shards = tmp_path / "world", tmp_path / "tokenizer", tmp_path / "tokens"
    toy_data.main(["--out", str(world), "--seed", "0", "--pages", "1500", "--domains", "40", "--seed-pages",
                   "150", "--general-docs", "60", "--near-dups", "20", "--exact-dups", "4", "--leaks", "6",
                   "--pot-fraction", "0", "--train-size", "2000", "--test-size", "100", "--max-level", "1",
                   "--max-operand", "5", "--max-value", "10", "--op-weights", "1,1,0,0"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a small corpus may run out of merges: a smaller vocabulary is fine
        tokenizer.main(["train", "--input", str(world / "seed.jsonl.gz"), str(world / "general.jsonl.gz"),
                        "--vocab-size", "512", "--out", str(tok_dir)])
    data_pipeline.main(["tokenize", "--tokenizer", str(tok_dir), "--source",
                        f"math={world / 'seed.jsonl.gz'}", "--source",
                        f"general={world / 'general.jsonl.gz'}", "--mix", "math=0.56,general=0.44",
                        "--workers", "1", "--out", str(shards)])
    pretrain.main(["--data", str(shards), "--out", str(tmp_path / "pretrain"), "--n-layers", "2", "--d-model",
                   "64", "--n-heads", "2", "--n-kv-heads", "2", "--ffn-dim", "128", "--seq-len", "128",
                   "--steps", "30", "--batch-tokens", "2048", "--micro-batch", "16", "--lr", "3e-3",
                   "--warmup-steps", "5", "--save-every", "0", "--log-every", "10"])
    losses = [json.loads(line)["loss"]
              for line in (tmp_path / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    vocab = Tokenizer.load(tok_dir).vocab_size
    assert losses[-1] < math.log(vocab) - 1  # it learnt from the corpus: well below a uniform guess

    def score(model: Path, name: str) -> dict:
        return evaluate.main(["--model-path", str(model), "--benchmark", "toy", "--data-dir", str(world),
                              "--mode", "chat", "--max-new-tokens", "40", "--batch-size", "100",
                              "--no-progress", "--out", str(tmp_path / "eval" / name)])
    before = score(tmp_path / "pretrain" / "final", "base")
    main(["train", "--init", str(tmp_path / "pretrain" / "final"), "--data", str(world / "sft.jsonl"),
          "--out", str(tmp_path / "sft"), "--seq-len", "256", "--micro-batch", "4", "--batch-size", "8",
          "--steps", "250", "--lr", "3e-3", "--save-every", "0", "--log-every", "50"])
    after = score(tmp_path / "sft" / "final", "sft")
    print(f"toy benchmark, greedy zero-shot: {before['accuracy']:.0%} before SFT, {after['accuracy']:.0%} "
          f"after")
    assert before["questions"] == after["questions"] == 100
    assert before["accuracy"] <= 0.05
    assert after["accuracy"] >= 0.3
    assert after["counts"]["no_answer"] <= 5  # SFT taught the format: (nearly) every answer boxed


def test_sft_resume_continues_exactly(tok, tmp_path):
    """The data position goes through pretrain's DCP checkpoint: a run resumed from step 2 ends with
    the weights of the uninterrupted run."""
    write_jsonl(tmp_path / "sft.jsonl", [copy_record(n) for n in range(100, 140)])
    tok_dir = tok.save(tmp_path / "tok")
    tiny_model(tok.vocab_size, 64).save(tmp_path / "init", tokenizer=str(tok_dir))
    args = ["train", "--init", str(tmp_path / "init"), "--data", str(tmp_path / "sft.jsonl"), "--seq-len",
            "64", "--micro-batch", "2", "--batch-size", "4", "--steps", "4", "--lr", "1e-3", "--log-every",
            "1"]
    main(args + ["--out", str(tmp_path / "a"), "--save-every", "2", "--keep", "0"])
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    shutil.copytree(tmp_path / "a" / "checkpoints" / "step_00000002",
                    tmp_path / "b" / "checkpoints" / "step_00000002")
    main(args + ["--out", str(tmp_path / "b"), "--save-every", "0", "--resume"])
    a = torch.load(tmp_path / "a" / "final" / "model.pt")
    b = torch.load(tmp_path / "b" / "final" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(SystemExit):
        main(["train", "--init", str(tmp_path / "init"), "--out", str(tmp_path / "c")])  # no --data
