"""evaluate.py: the metrics against naive computations, the prompts, and the whole scoring path.

An oracle "model" (sampler.generate's interface, answering with reference solutions) must score
100% on the real GSM8K and MATH files: any loss there is a bug in prompting, stop strings, answer
extraction or comparison. A tiny random checkpoint then runs through the command line end to end.
"""
import itertools
import json
import math
import re
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import evaluate as ev
import formats
from formats import BOXED_SUFFIX, POT_SUFFIX, TOOL_SUFFIX, load_benchmark, write_jsonl
from tokenizer import Tokenizer

from conftest import DATA  # the benchmark-data folder: $BENCHMARK_DATA, else data/


# ----------------------------------------------------------------------------- fakes

class CharTokenizer:
    """One id per character (its code point); BOS/EOS beyond Unicode. Exact round trips. Prompts are
    encoded by the real Tokenizer's encode_prompt over this encode."""
    bos_id, eos_id, add_bos = 0x110000, 0x110001, False
    stop_ids = (eos_id,)
    encode_prompt = Tokenizer.encode_prompt

    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


class OracleModel:
    """sampler.generate's interface (the fixture below routes the stages' calls to it); `respond(prompt
    text) -> completion text`. Like the real sampler it appends EOS when it stops and never returns more
    than max_new_tokens ids."""
    config = SimpleNamespace(max_seq_len=10 ** 9)

    def __init__(self, respond):
        self.respond, self.tok, self.calls = respond, CharTokenizer(), 0

    def generate(self, prompts, max_new_tokens, temperature=1.0, top_p=1.0, stop_ids=(), generator=None, **_):
        self.calls += 1
        assert stop_ids == (self.tok.eos_id,)
        outs = [(self.tok.encode(self.respond(self.tok.decode(p))) + [self.tok.eos_id])[:max_new_tokens]
                for p in prompts]
        return outs, [[0.0] * len(o) for o in outs]


ENGINE = ev.generate


def oracle_or_engine(model, *args, **kw):
    """evaluate.py samples with sampler.generate(model, ...); an OracleModel answers its own calls."""
    return model.generate(*args, **kw) if isinstance(model, OracleModel) else ENGINE(model, *args, **kw)


@pytest.fixture(autouse=True)
def oracles_answer_for_themselves(monkeypatch):
    monkeypatch.setattr(ev, "generate", oracle_or_engine)


def last_question(prompt: str, style: str) -> str:
    """The question a few-shot prompt ends with, read as a model would: after the last exemplar."""
    fmt = formats.SHOT_FORMATS[style]
    head, tail = fmt.header.split("{question}")
    assert prompt.endswith(tail)
    return prompt[:len(prompt) - len(tail)].rsplit(fmt.separator + head, 1)[-1]


class ReferenceAnswers:
    """The oracle: the reference solution of the question in the prompt, then a made-up next exemplar with
    a wrong answer (it must be cut at the stop string, or its answer would be the one extracted)."""

    def __init__(self, records, style, next_shot):
        self.solutions = {r["question"]: r["solution"] for r in records}
        self.style, self.next_shot = style, next_shot

    def __call__(self, prompt):
        return (" " if self.style == "gsm8k" else "\n") + self.solutions[last_question(prompt, self.style)] \
            + self.next_shot


def toy_records(n, split="test", start=0):
    """Toy benchmark rows in the toy world's format (toy_data.py): a + b, then optionally * c."""
    rows = []
    for i in range(start, start + n):
        a, b, c = 3 + i, 4 + 2 * i, 2 + i % 3
        steps = [f"{a} + {b} = {a + b}"] + ([f"{a + b} * {c} = {(a + b) * c}"] if i % 2 else [])
        answer = (a + b) * c if i % 2 else a + b
        then = f" Then she gets {c} times as many." if i % 2 else ""
        question = f"Ann has {a} apples and gets {b} more.{then} How many apples does she have?"
        program = f"x = {a} + {b}\n" + (f"x = x * {c}\n" if i % 2 else "") + "print(x)"
        rows.append({"id": f"toy-{split}-{i:05d}", "question": question, "answer": str(answer),
                     "solution": "\n".join(steps + [f"The answer is \\boxed{{{answer}}}."]),
                     "program": program, "level": len(steps), "type": "count"})
    return rows


def first_completion(folder) -> str:
    """The first sample's completion in an evaluation's samples.jsonl."""
    return json.loads((folder / "samples.jsonl").read_text().splitlines()[0])["samples"][0]["completion"]


# ----------------------------------------------------------------------------- metrics

def test_pass_at_k_equals_enumeration_of_subsets():
    for n in range(1, 8):
        for c in range(n + 1):
            outcomes = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(outcomes, k))
                brute = sum(any(s) for s in subsets) / len(subsets)
                assert math.isclose(ev.pass_at_k(n, c, k), brute, abs_tol=1e-12), (n, c, k)
    assert math.isclose(ev.pass_at_k(200, 3, 100), 1 - math.comb(197, 100) / math.comb(200, 100))
    for bad in [(4, 5, 1), (4, 2, 0), (4, 2, 5), (4, -1, 1)]:
        with pytest.raises(ValueError):
            ev.pass_at_k(*bad)


def test_majority_vote_groups_equal_answers_and_breaks_ties_by_first_appearance():
    assert ev.majority_vote(["3", "0.5", "\\frac{1}{2}", "3", "1/2"]) == "0.5"  # 3 votes for one half
    assert ev.majority_vote(["\\frac12", "3", "0.5"]) == "\\frac12"
    assert ev.majority_vote(["2", "3", "3", "2"]) == "2"  # tie: first seen wins
    assert ev.majority_vote(["3", "2", "2", "3"]) == "3"
    assert ev.majority_vote([None, None, None, "7"]) == "7"  # None never wins over an answer
    assert ev.majority_vote([None, None]) is None and ev.majority_vote([]) is None
    assert ev.majority_vote(["1,000", "999", "1000"]) == "1,000"
    assert ev.majority_vote([" 5 ", "5", "6"]) == "5"


def test_accuracy_standard_error_and_default_k_list():
    p, se = ev.accuracy_with_se([1, 0, 1, 1])
    assert p == 0.75 and math.isclose(se, math.sqrt(0.75 * 0.25 / 4))
    assert ev.default_k_list(1) == [1] and ev.default_k_list(64) == [1, 2, 4, 8, 16, 32, 64]
    assert ev.default_k_list(6) == [1, 2, 4, 6]


def test_metrics_from_known_samples():
    """Two questions, 4 samples each: numbers derived by hand."""
    def row(gold, answers):
        return {"gold": gold, "level": "Level 1", "type": "Algebra",
                "samples": [{"answer": a, "correct": a is not None and a.replace(".0", "") == gold,
                             "finish": "eos", "tokens": 10} for a in answers]}
    rows = [row("4", ["4", "5", "5", None]), row("9", ["9", "1", "9.0", "2"])]
    cfg = ev.EvalConfig(n=4, temperature=1.0, k_list=[1, 2, 4]).resolved()
    m = ev.compute_metrics(rows, cfg)
    assert m["accuracy"] == pytest.approx((1 / 4 + 2 / 4) / 2)
    assert m["pass_at_k"]["1"] == pytest.approx(m["accuracy"])
    # C(3,2)/C(4,2), C(2,2)/C(4,2)
    assert m["pass_at_k"]["2"] == pytest.approx(((1 - 3 / 6) + (1 - 1 / 6)) / 2)
    assert m["pass_at_k"]["4"] == 1.0
    # maj@1: "4", "9" (both right); maj@2: ties, first seen wins: "4", "9"; maj@4: "5" (wrong), "9" and "9.0"
    assert m["maj_at_k"] == {"1": 1.0, "2": 1.0, "4": 0.5}
    assert m["counts"]["no_answer"] == 1 and m["by_level"]["Level 1"]["questions"] == 2


# ----------------------------------------------------------------------------- prompts

@pytest.mark.parametrize("style,pool,k", [("gsm8k", formats.GSM8K_SHOTS, 8), ("math", formats.MATH_SHOTS, 4)])
def test_few_shot_prompt_never_contains_the_test_question(style, pool, k):
    for q in [pool[2]["question"], "  " + pool[0]["question"].replace(" ", "  ") + "\n", "What is 6 * 7?"]:
        shots = ev.pick_shots(pool, q, k)
        prompt = ev.build_prompt(q, "base", shots=shots, style=style)
        asked = " ".join(q.split())
        assert " ".join(prompt.split()).count(asked) == 1  # only as the question under test, at the end
        assert last_question(prompt, style) == q
        head = formats.SHOT_FORMATS[style].header.split("{question}")[0]
        assert prompt.count(formats.SHOT_FORMATS[style].separator + head) == len(shots)
        assert len(shots) == (k if asked == "What is 6 * 7?" else k - 1)  # the built-in pool has no spare


def test_a_shot_equal_to_the_test_question_is_replaced_by_the_next():
    pool = toy_records(6, "train")
    shots = ev.pick_shots(pool, pool[1]["question"], 3)
    assert [s["id"] for s in shots] == [pool[0]["id"], pool[2]["id"], pool[3]["id"]]
    prompt = ev.build_prompt(pool[1]["question"], "base", shots=shots, style="toy")
    assert prompt.count(pool[1]["question"]) == 1 and prompt.endswith(f"Q: {pool[1]['question']}\nA:")
    pot = ev.build_prompt(pool[1]["question"], "pot",
                          shots=ev.pick_shots(pool, pool[1]["question"], 2, "program"))
    assert pot.count("# solution in Python:") == 3 and pool[0]["program"] in pot


def test_real_benchmark_prompts_hold_their_question_once():
    if not DATA.is_dir():
        pytest.skip(f"real benchmark files not found at {DATA}")
    for style, path in [("gsm8k", DATA / "gsm8k" / "test.jsonl"), ("math", DATA / "math" / "test4500.jsonl")]:
        pool = formats.BUILTIN_SHOTS[style]
        for r in load_benchmark(path)[:300]:
            prompt = ev.build_prompt(r["question"], "base", shots=ev.pick_shots(pool, r["question"], 8),
                                     style=style)
            assert prompt.count(r["question"]) == 1 and last_question(prompt, style) == r["question"]


def test_chat_tool_and_pot_prompts_follow_the_templates():
    q = "What is 2 + 3?"
    assert ev.build_prompt(q, "chat") == f"User: {q}\n{BOXED_SUFFIX}\n\nAssistant:"
    assert ev.build_prompt(q, "tool") == f"User: {q}\n{TOOL_SUFFIX}\n\nAssistant:"
    assert ev.build_prompt(q, "pot") == f"User: {q}\n{POT_SUFFIX}\n\nAssistant:"
    r1_prompt = ev.build_prompt(q, "chat", template="r1")
    assert "<think>" in r1_prompt and q in r1_prompt
    with pytest.raises(ValueError, match="zero-shot"):
        ev.EvalConfig(mode="chat", shots=2).resolved()


# ----------------------------------------------------------------------------- the scoring path on real data

@pytest.mark.parametrize("style,path,next_shot", [
    ("gsm8k", "gsm8k/test.jsonl", "\n\n\nQ: What is 1 + 1?\nA: 1 + 1 = 2. The answer is 2."),
    ("math", "math/test4500.jsonl", "\n\nProblem:\nWhat is $1+1$?\n\nSolution:\n$1+1=\\boxed{2}$."),
])
def test_oracle_scores_100_percent_on_real_benchmarks(style, path, next_shot, tmp_path):
    if not (DATA / path).is_file():
        pytest.skip(f"real benchmark file {DATA / path} not found")
    records = load_benchmark(DATA / path)
    model = OracleModel(ReferenceAnswers(records, style, next_shot))
    cfg = ev.EvalConfig(mode="base", style=style, batch_size=256, max_new_tokens=10 ** 6, progress=False,
                        out=str(tmp_path))
    m = ev.evaluate(model, CharTokenizer(), records, cfg)
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    misses = [(r["id"], r["gold"], r["samples"][0]["answer"]) for r in rows if not r["samples"][0]["correct"]]
    for miss in misses[:20]:
        print("MISS id=%s gold=%r extracted=%r" % miss)
    assert not misses, f"{len(misses)} of {len(rows)} reference solutions scored wrong (printed above)"
    assert m["accuracy"] == 1.0 and m["questions"] == len(records) == len(rows)
    assert m["counts"] == {"no_answer": 0, "stop": len(records)}  # every completion cut at the next exemplar
    assert all(next_shot.strip()[:8] not in r["samples"][0]["completion"] for r in rows)
    if style == "math":
        assert sum(g["questions"] for g in m["by_level"].values()) == len(records)
        assert len(m["by_type"]) == 7


# ----------------------------------------------------------------------------- programs and tools

def test_program_of_thought_runs_the_program_and_counts_failures():
    records = [{k: r[k] for k in ("id", "question", "answer", "solution", "level", "type")}
               for r in toy_records(5)]
    programs = {r["question"]: p["program"] for r, p in zip(records, toy_records(5))}
    programs[records[3]["question"]] = "print(1 / 0)"  # a crash: no answer, wrong
    programs[records[4]["question"]] = "while True:\n    pass"  # a timeout: no answer, wrong

    def write_program(prompt):
        question = prompt.split("User: ", 1)[1].split("\n" + POT_SUFFIX)[0]
        return f" Here it is.\n```python\n{programs[question]}\n```\nDone."

    cfg = ev.EvalConfig(mode="pot", progress=False, program_timeout=1.0)
    m = ev.evaluate(OracleModel(write_program), CharTokenizer(), records, cfg)
    assert m["accuracy"] == pytest.approx(3 / 5) and m["counts"]["no_answer"] == 2

    gsm = [{"id": "g1", "question": "Tom has 4 boxes of 6 pens. How many pens?", "answer": "24",
            "solution": "", "level": None, "type": None}]
    few_shot = OracleModel(lambda p: "\n\n\nboxes = 4\npens = 6\nprint(boxes * pens)\n\n\nQ: next\n\n"
                                     "print(0)")
    m = ev.evaluate(few_shot, CharTokenizer(), gsm, ev.EvalConfig(mode="pot", style="gsm8k", shots=8,
                                                                  progress=False, out=None))
    assert m["accuracy"] == 1.0 and m["counts"]["stop"] == 1
    with pytest.raises(ValueError, match="program"):  # Minerva's exemplars have no programs
        ev.evaluate(few_shot, CharTokenizer(), gsm, ev.EvalConfig(mode="pot", style="math", shots=4))


def test_tool_integrated_rounds_execute_code_and_feed_back_its_output(tmp_path):
    records = toy_records(4)
    programs = {r["question"]: r["program"] for r in records}

    def solve_with_tool(prompt):
        done = re.search(r"```output\n(.*)\n```\n$", prompt)
        if done:  # the answer can only be right if our runner's real output was appended
            return f"So the answer is $\\boxed{{{done.group(1)}}}$."
        question = prompt.split("User: ", 1)[1].split("\n" + TOOL_SUFFIX)[0]
        return (f" Let me compute.\n```python\n{programs[question]}\n```\n```output\n999\n```\n"
                f"The answer is 999.")

    model = OracleModel(solve_with_tool)
    m = ev.evaluate(model, CharTokenizer(), records,
                    ev.EvalConfig(mode="tool", progress=False, out=str(tmp_path)))
    assert m["accuracy"] == 1.0 and model.calls == 2 and m["counts"]["eos"] == 4
    completion = first_completion(tmp_path)
    assert "999" not in completion and completion.count("```output") == 1  # the made-up output was cut

    always_code = OracleModel(lambda p: "```python\nprint(7)\n```\n```output")
    m = ev.evaluate(always_code, CharTokenizer(), records[:1], ev.EvalConfig(mode="tool", progress=False,
                                                                             out=str(tmp_path)))
    completion = first_completion(tmp_path)
    assert always_code.calls == 3 and completion.count("```output\n7\n```") == 2  # at most 2 code rounds


# ----------------------------------------------------------------------------- distributed

def _sharded_worker(rank, world, init_file, records, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    ev.generate = oracle_or_engine  # a spawned process: the fixture's patch is not here
    try:
        model = OracleModel(_ToySolutions(records))
        m = ev.evaluate(model, CharTokenizer(), records,
                        ev.EvalConfig(mode="chat", progress=False, out=out_dir))
        assert (m is None) == (rank != 0)
    finally:
        dist.destroy_process_group()


class _ToySolutions:
    def __init__(self, records):
        self.by_question = {r["question"]: r for r in records}

    def __call__(self, prompt):
        r = self.by_question[prompt.split("User: ", 1)[1].split("\n" + BOXED_SUFFIX)[0]]
        return " " + (r["solution"] if int(r["id"][-2:]) % 3 else "The answer is 0.")  # every 3rd one wrong


def test_questions_sharded_over_ranks_are_gathered_in_order(tmp_path):
    records = toy_records(10)
    single = ev.evaluate(OracleModel(_ToySolutions(records)), CharTokenizer(), records,
                         ev.EvalConfig(mode="chat", progress=False, out=str(tmp_path / "one")))
    mp.spawn(_sharded_worker, args=(2, str(tmp_path / "init"), records, str(tmp_path / "two")), nprocs=2)
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    for key in ("questions", "samples", "accuracy", "accuracy_se", "pass_at_k", "maj_at_k", "by_level",
                "counts"):
        assert two[key] == single[key], key
    assert single["accuracy"] == pytest.approx(6 / 10)
    one, two = ((tmp_path / run / "samples.jsonl").read_text() for run in ("one", "two"))
    assert two == one


# ----------------------------------------------------------------------------- end to end, command line

def test_end_to_end_tiny_checkpoint_writes_consistent_outputs(tmp_path, capsys):
    from model import ModelConfig, Transformer
    from tokenizer import Tokenizer

    world = tmp_path / "world"
    train, test = toy_records(4, "train", start=100), toy_records(6, "test")
    write_jsonl(world / "bench_train.jsonl", train)
    write_jsonl(world / "bench_test.jsonl", test)
    tok = Tokenizer.train([r["question"] + "\n" + r["solution"] for r in train + test] * 3, vocab_size=300)
    tok.save(tmp_path / "tok")
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layers=1, d_model=32, n_heads=2, ffn_dim=64,
                                    max_seq_len=512))
    model.save(tmp_path / "ckpt", tokenizer=str(tmp_path / "tok"))

    out = tmp_path / "eval"
    m = ev.main(["--model-path", str(tmp_path / "ckpt"), "--benchmark", "toy", "--data-dir", str(world),
                 "--mode", "base", "--shots", "2", "--n", "4", "--temperature", "1.0", "--k-list", "1,2,4",
                 "--max-new-tokens", "12", "--batch-size", "8", "--out", str(out), "--no-progress"])
    results = json.loads((out / "results.json").read_text())
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert results == json.loads(json.dumps(m))
    assert results["questions"] == len(rows) == 6 and results["samples"] == 24
    assert [r["id"] for r in rows] == [r["id"] for r in test]
    assert all(len(r["samples"]) == 4 for r in rows)
    assert sum(v for k, v in results["counts"].items() if k != "no_answer") == 24
    assert results["counts"]["no_answer"] == sum(s["answer"] is None for r in rows for s in r["samples"])
    correct = [sum(s["correct"] for s in r["samples"]) / 4 for r in rows]
    assert results["accuracy"] == pytest.approx(sum(correct) / 6) == pytest.approx(results["pass_at_k"]["1"])
    assert sum(g["questions"] for g in results["by_level"].values()) == 6
    assert results["generated_tokens"] == sum(s["tokens"] for r in rows for s in r["samples"]) <= 24 * 12
    for r in rows:  # 2 train exemplars, never the test question, then the test question
        assert r["prompt"].count("Q: ") == 3 and r["prompt"].count(r["question"]) == 1
        assert r["prompt"].startswith(f"Q: {train[0]['question']}")
    summary = (out / "summary.md").read_text()
    assert "| 6 | 24 |" in summary and "![Pass@K and Maj@K](curves.png)" in summary
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Pass@K and Maj@K" in capsys.readouterr().out
    # the trainers' dtype flag: bf16 weights decode on the CPU too (greedy, same questions)
    bf16 = ev.main(["--model-path", str(tmp_path / "ckpt"), "--benchmark", "toy", "--data-dir", str(world),
                    "--mode", "chat", "--dtype", "bf16", "--max-new-tokens", "8", "--out",
                    str(tmp_path / "bf16"), "--no-progress"])
    assert bf16["questions"] == 6 and bf16["samples"] == 6


def test_command_line_errors_are_clear(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ev.main(["--model-path", str(tmp_path / "nothing"), "--benchmark", "toy", "--data-dir", str(tmp_path),
                 "--out", str(tmp_path / "o")])
    assert "bench_test.jsonl" in capsys.readouterr().err
    write_jsonl(tmp_path / "bench_test.jsonl", toy_records(2))
    with pytest.raises(SystemExit):
        ev.main(["--model-path", str(tmp_path / "nothing"), "--benchmark", "toy", "--data-dir", str(tmp_path),
                 "--out", str(tmp_path / "o")])
    assert "no model checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ev.main(["--model-path", "x", "--benchmark", "toy", "--data-dir", str(tmp_path), "--n", "4",
                 "--out", str(tmp_path / "o")])
    assert "temperature" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ev.main(["--model-path", "x", "--benchmark", "toy", "--data-dir", str(tmp_path), "--levels", "9",
                 "--out", str(tmp_path / "o")])
    assert "no questions left" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the dtype names are the trainers' (auto, bf16, fp32)
        ev.main(["--model-path", "x", "--benchmark", "toy", "--data-dir", str(tmp_path), "--dtype", "float32",
                 "--out", str(tmp_path / "o")])
    assert "invalid choice" in capsys.readouterr().err


def test_subsets_by_level_type_and_id_file(tmp_path):
    records = [{"id": "precalculus/807", "level": "Level 5", "type": "Precalculus"},
               {"id": "algebra/12", "level": "Level 2", "type": "Algebra"},
               {"id": "algebra/13", "level": "Level ?", "type": "Algebra"}]
    assert [r["id"] for r in ev.select_records(records, levels=[5, 2])] == ["precalculus/807", "algebra/12"]
    assert [r["id"] for r in ev.select_records(records, types=["algebra"])] == ["algebra/12", "algebra/13"]
    write_jsonl(tmp_path / "math500.jsonl", [{"unique_id": "test/precalculus/807.json"},
                                             {"unique_id": "test/x/1.json"}])
    ids = ev.read_ids(tmp_path / "math500.jsonl")
    assert [r["id"] for r in ev.select_records(records, ids=ids)] == ["precalculus/807"]
    (tmp_path / "ids.txt").write_text("algebra/13\nalgebra/12\n")
    assert len(ev.select_records(records, ids=ev.read_ids(tmp_path / "ids.txt"), limit=1)) == 1


def test_prompt_style_from_name_path_or_records():
    math_row = {"level": "Level 3", "solution": "so $\\boxed{2}$"}
    gsm_row = {"level": None, "solution": "2 + 2 = 4\n#### 4"}
    toy_row = {"level": 2, "solution": "1 + 1 = 2\nThe answer is \\boxed{2}."}
    assert ev.guess_style("math", []) == "math" and ev.guess_style("data/MATH/test", [toy_row]) == "math"
    assert ev.guess_style("prm800k/math_splits/test.jsonl", [toy_row]) == "math"
    assert ev.guess_style("downloads/gsm8k_test.jsonl", [toy_row]) == "gsm8k"
    assert ev.guess_style("x/test.jsonl", [math_row]) == "math"
    assert ev.guess_style("x.jsonl", [gsm_row]) == "gsm8k"
    assert ev.guess_style("x.jsonl", [toy_row]) == "toy"


# ----------------------------------------------------------------------------- DeepSeek-compatible scoring

def test_deepseek_scoring_reads_and_compares_as_their_scripts_do():
    """Hand-derived from the rules of DeepSeek's evaluation scripts (deepseek_answer's docstring)."""
    gsm_base = (" She sells 16 - 3 - 4 = 9 eggs, so she makes 9 * 2 = $18 a day. The answer is 18.\n\n\n"
                "Q: 7 cats")
    assert ev.deepseek_answer(gsm_base, "base", "gsm8k") == "18."         # cut at the next "Q: ", last number
    assert ev.deepseek_answer("The answer is 18 dollars, not 20", "base", "gsm8k") == "20"  # the last number
    assert ev.deepseek_answer("in total 1,000", "base", "gsm8k") == "000"  # their regex splits at commas
    assert ev.deepseek_answer("x = 1\nThe final answer is $\\frac{3}{4}$. I hope it is correct.\n\n"
                              "Problem: 9", "base", "math") == "\\frac{3}{4}"
    assert ev.deepseek_answer("so \\boxed{2} and \\boxed{\\frac{1}{2}} then 7",
                              "chat", "math") == "\\frac{1}{2}"
    assert ev.deepseek_answer("The answer is: 12.\nmore", "chat", "gsm8k") == "12"
    assert ev.deepseek_answer("we get 1,250 and then 3.5", "chat", "gsm8k") == "3.5"
    assert ev.deepseek_answer("no numbers", "chat", "gsm8k") is None
    # Numbers: within 1e-3 absolute, and the reference read as a percentage either way.
    assert ev.deepseek_equal("18.", "18") and ev.deepseek_equal("18.0005", "18")
    assert not ev.deepseek_equal("18.002", "18")
    assert ev.deepseek_equal("5000", "50") and ev.deepseek_equal("0.5", "50")
    assert not ev.deepseek_equal("5", "50")
    assert ev.deepseek_equal("50\\%", "0.5") and ev.deepseek_equal("1,000", "1000")
    assert not ev.deepseek_equal("000", "1000") and not ev.deepseek_equal(None, "5")
    # not plain numbers: grader.math_equal stands in for sympy
    assert ev.deepseek_equal("\\frac{1}{2}", "0.5")
    # The default grader disagrees where DeepSeek is lenient.
    assert not ev.math_equal("5000", "50") and not ev.math_equal("18.0005", "18")


def test_scoring_flag_selects_the_rules_end_to_end(tmp_path):
    """The same completions scored both ways through evaluate(): base GSM8K with a stated answer followed by
    another number (DeepSeek reads the last number), and an answer 100x smaller than the reference (DeepSeek
    accepts it)."""
    records = [{"id": f"g{i}", "question": q, "answer": a, "solution": "", "level": None, "type": None}
               for i, (q, a) in enumerate([("How many eggs?", "9"), ("What percent?", "50"), ("Sum?", "7")])]
    replies = {"How many eggs?": " 16 - 7 = 9. The answer is 9. Check: 16 - 9 = 7.",
               "What percent?": " It is 0.5 of them. The answer is 0.5.",
               "Sum?": " 3 + 4 = 7. The answer is 7."}
    model = OracleModel(lambda prompt: replies[last_question(prompt, "gsm8k")])
    correct = {}
    for scoring in ev.SCORINGS:
        ev.evaluate(model, CharTokenizer(), records, ev.EvalConfig(mode="base", style="gsm8k", shots=1,
                    scoring=scoring, progress=False, out=str(tmp_path / scoring)))
        rows = [json.loads(line) for line in (tmp_path / scoring / "samples.jsonl").open()]
        correct[scoring] = [row["samples"][0]["correct"] for row in rows]
        assert json.loads((tmp_path / scoring / "results.json").read_text())["config"]["scoring"] == scoring
    assert correct == {"default": [True, False, True], "deepseek": [False, True, True]}
    with pytest.raises(ValueError, match="scoring"):
        ev.EvalConfig(scoring="sympy").resolved()
    with pytest.raises(SystemExit):
        ev.build_parser().parse_args(["--model-path", "m", "--benchmark", "gsm8k", "--out", "o",
                                      "--scoring", "x"])
