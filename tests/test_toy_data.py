"""The toy world (toy_data.py): deterministic files, solutions that compute their answers, and ground-truth
labels that match the pages (leaks, duplicates, malformed lines, pure math sections, the seed)."""
import gzip
import hashlib
import json
import operator
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

import grader
import toy_data

SMALL = ["--pages", "1500", "--domains", "40", "--seed-pages", "100", "--general-docs", "40",
         "--train-size", "400", "--test-size", "200", "--near-dups", "40", "--exact-dups", "8",
         "--leaks", "12", "--malformed", "2"]
FILES = ["pool.jsonl.gz", "labels.jsonl", "seed.jsonl.gz", "general.jsonl.gz", "bench_train.jsonl",
         "bench_test.jsonl", "sft.jsonl", "rl.jsonl"]
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}
STEP = re.compile(r"^(\d+) ([-+*/]) (\d+) = (\d+)$")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    toy_data.main(["--out", str(out), "--seed", "7", *SMALL])
    return out


def jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def gz_jsonl(path):
    return [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]


def pool_lines(out):
    """Every pool line classified by hand: ("page", record) or (malformed kind, record or None)."""
    result = []
    for raw in gzip.open(out / "pool.jsonl.gz", "rb").read().splitlines():
        try:
            rec = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            result.append(("invalid_utf8", None))
            continue
        except json.JSONDecodeError:
            result.append(("broken_json", None))
            continue
        kind = "missing_text" if "text" not in rec else "empty_text" if not rec["text"].strip() else "page"
        result.append((kind, rec))
    return result


def pages_and_labels(out):
    pages = [rec for kind, rec in pool_lines(out) if kind == "page"]
    return pages, jsonl(out / "labels.jsonl")


def bench(out):
    return jsonl(out / "bench_train.jsonl"), jsonl(out / "bench_test.jsonl")


# ---------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_bytes_and_another_seed_does_not(world, tmp_path):
    toy_data.main(["--out", str(tmp_path / "again"), "--seed", "7", *SMALL])
    for name in FILES:
        assert (world / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    toy_data.main(["--out", str(tmp_path / "other"), "--seed", "8", *SMALL])
    for name in ("pool.jsonl.gz", "bench_test.jsonl", "seed.jsonl.gz"):
        assert (world / name).read_bytes() != (tmp_path / "other" / name).read_bytes(), name


# The default world's files as toy_data.py wrote them before the flags of DeepSeek-R1's world
# (--second-language, --chat-records) existed: first 16 hex digits of their SHA-256, seed 7, SMALL. Pinned
# rather than recomputed from older code, so that the test needs nothing outside the repository; toy.sh's
# numbers depend on these bytes, so a change to the default world must be deliberate (and update the pins).
DEFAULT_WORLD = {"pool.jsonl.gz": "d630e4defd9c67fc", "labels.jsonl": "e47a0d7b84cea67a",
                 "seed.jsonl.gz": "d271b0d54244b1e7", "general.jsonl.gz": "68b0fb0d12c23541",
                 "bench_train.jsonl": "269fa25ef27b0415", "bench_test.jsonl": "5249be29feb2ecdb",
                 "sft.jsonl": "f6ca503608d019fd", "rl.jsonl": "2e7c21f4c7cb8ef4"}


def test_the_default_world_is_byte_for_byte_the_pinned_one(world):
    hashes = {name: hashlib.sha256((world / name).read_bytes()).hexdigest()[:16] for name in FILES}
    assert hashes == DEFAULT_WORLD
    assert not (world / "chat.jsonl").exists()


def test_second_language_and_chat_records_change_only_their_own_records(world, tmp_path):
    toy_data.main(["--out", str(tmp_path), "--seed", "7", *SMALL, "--second-language", "0.25",
                   "--chat-records", "10"])
    for name in FILES:
        if name != "sft.jsonl":
            assert (tmp_path / name).read_bytes() == (world / name).read_bytes(), name
    before, after = jsonl(world / "sft.jsonl"), jsonl(tmp_path / "sft.jsonl")
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == 100  # round(0.25 × 400 train problems), all of them CoT records
    for old, new in changed:
        lines, answer = old["solution"].split("\n"), re.search(r"boxed\{(\d+)\}", old["solution"]).group(1)
        assert lines[-1] == f"The answer is \\boxed{{{answer}}}."
        assert new == {**old, "solution": "\n".join(lines[:-1] + [f"所以答案是 \\boxed{{{answer}}}。"])}
        assert grader.language_consistency(new["solution"], "zh") == 1.0  # 所 以 答 案 是: 5 Chinese words
        assert grader.accuracy_reward(new["solution"], answer) == 1.0
    general, chat = gz_jsonl(world / "general.jsonl.gz"), jsonl(tmp_path / "chat.jsonl")
    assert len(chat) == 10
    for doc, rec in zip(general, chat):
        title, body = doc["text"].split("\n", 1)
        assert rec["question"] == f'Write the first sentence of a short text titled "{title}".'
        assert body.startswith(rec["solution"]) and rec["solution"][-1] in ".!?" and rec["format"] == "cot"
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["sft_second_language"] == 100 and stats["chat"] == 10


# ---------------------------------------------------------------------------- the benchmark

def implied_numbers(question):
    """Operands a question gives in words rather than digits."""
    words = set(re.findall(r"[a-z]+", question.lower()))
    twos = {2} if words & {"twice", "double", "doubles", "half"} else set()
    threes = {3} if words & {"triples", "third"} else set()
    return twos | threes


def test_every_cot_step_is_a_true_computation_on_known_numbers(world):
    for rec in [r for split in bench(world) for r in split]:
        *steps, last = rec["solution"].split("\n")
        assert last == f"The answer is \\boxed{{{rec['answer']}}}."
        assert len(steps) == rec["level"] >= 1
        known = {int(n) for n in re.findall(r"\d+", rec["question"])} | implied_numbers(rec["question"])
        for line in steps:
            a, op, b, c = STEP.match(line).groups()
            a, b, c = int(a), int(b), int(c)
            assert (a == b * c) if op == "/" else OPS[op](a, b) == c, line      # division only when exact
            assert {a, b} <= known, (line, rec["question"])                     # operands come from the text
            assert 0 <= c <= toy_data.MAX_VALUE
            known.add(c)
        assert c == int(rec["answer"])


def run_program(code):
    printed = []
    exec(code, {"__builtins__": {"print": lambda *args: printed.append(" ".join(map(str, args)))}})
    return printed


def test_every_program_prints_the_answer(world):
    train, test = bench(world)
    for rec in train + test:
        assert run_program(rec["program"]) == [rec["answer"]], rec["program"]
    answer_of = {r["question"]: r["answer"] for r in train}
    pot = [r for r in jsonl(world / "sft.jsonl") if r["format"] == "pot"]
    assert pot
    for rec in pot:
        code = re.fullmatch(r"```python\n(.*)\n```", rec["solution"], re.S).group(1)
        assert run_program(code) == [answer_of[rec["question"]]]


def test_split_is_disjoint_and_levels_are_balanced(world):
    train, test = bench(world)
    assert len(train) == 400 and len(test) == 200
    assert not {r["question"] for r in train} & {r["question"] for r in test}
    assert len({r["question"] for r in train}) == len(train)
    assert len({r["id"] for r in train + test}) == len(train) + len(test)
    assert Counter(r["level"] for r in test) == {1: 50, 2: 50, 3: 50, 4: 50}
    assert Counter(r["level"] for r in train) == {1: 100, 2: 100, 3: 100, 4: 100}
    assert {r["type"] for r in test} == {"count", "compare"}


def test_sft_and_rl_records_come_from_train(world):
    train, _ = bench(world)
    by_question = {r["question"]: r for r in train}
    sft = jsonl(world / "sft.jsonl")
    assert Counter(r["format"] for r in sft) == {"cot": 400, "pot": 120}       # pot_fraction 0.3
    for r in sft:
        if r["format"] == "cot":
            assert r["solution"] == by_question[r["question"]]["solution"]
    rl = jsonl(world / "rl.jsonl")
    pairs = lambda records: sorted((r["question"], r["answer"]) for r in records)  # noqa: E731
    assert pairs(rl) == pairs(train)


# ---------------------------------------------------------------------------- the pool and its labels

def test_malformed_lines_exist_and_have_no_labels(world):
    lines = pool_lines(world)
    assert Counter(kind for kind, _ in lines if kind != "page") == {
        "broken_json": 2, "empty_text": 2, "invalid_utf8": 2, "missing_text": 2}
    pages, labels = pages_and_labels(world)
    assert len(pages) == 1500
    assert [p["url"] for p in pages] == [lb["url"] for lb in labels]         # one label per page, in order
    assert len({lb["url"] for lb in labels}) == len(labels)
    malformed_urls = {rec["url"] for kind, rec in lines if rec is not None and kind != "page"}
    assert malformed_urls and not malformed_urls & {lb["url"] for lb in labels}
    for lb in labels:
        assert isinstance(lb["is_math"], bool) and lb["is_math"] == lb["style"].startswith("math-")


def words10(text):
    """10-word windows, split independently of toy_data (whitespace, punctuation stripped)."""
    words = [w.strip(".,?!:;$()").lower() for w in text.split()]
    words = [w for w in words if w]
    return {tuple(words[i:i + 10]) for i in range(len(words) - 9)}


def test_leaks_are_verbatim_and_every_other_page_is_clean(world):
    pages, labels = pages_and_labels(world)
    test = {r["id"]: r for r in bench(world)[1]}
    leaked = [(p, lb) for p, lb in zip(pages, labels) if lb["leaked_from"]]
    assert len(leaked) == 12 and len({lb["leaked_from"] for _, lb in leaked}) == 12
    for page, lb in leaked:
        assert test[lb["leaked_from"]]["question"] in page["text"]
        assert lb["is_math"] and lb["duplicate_of"] is None
    test_windows = set().union(*(words10(r["question"]) for r in test.values()))
    for page, lb in zip(pages, labels):
        if not lb["leaked_from"]:
            assert not words10(page["text"]) & test_windows, page["url"]


def test_no_clean_page_holds_a_short_test_text(world):
    """The paper matches benchmark texts of 3..9 words whole (a one-step solution is 8): no page but a
    planted leak may hold one, or decontamination would cut honest pages. With small numbers, web
    pages would hold one-step test solutions by chance (this test fails without the check)."""
    pages, labels = pages_and_labels(world)
    short = set()
    for r in bench(world)[1]:
        for text in (r["question"], r["solution"]):
            words = re.findall(r"[a-z]+|\d+", text.lower())
            if 3 <= len(words) < 10:
                short.add(" ".join(words))
    assert short  # the one-step solutions
    for page, lb in zip(pages, labels):
        if not lb["leaked_from"]:
            text = " " + " ".join(re.findall(r"[a-z]+|\d+", page["text"].lower())) + " "
            assert not any(f" {s} " in text for s in short), page["url"]


@pytest.mark.parametrize("max_value, max_operand, weights", [(30, 9, "7,6,1,1"), (200, 40, "7,6,0,3")])
def test_difficulty_flags_bound_numbers_and_operations(tmp_path, max_value, max_operand, weights):
    toy_data.main(["--out", str(tmp_path), "--seed", "3", *SMALL, "--max-value", str(max_value),
                   "--max-operand", str(max_operand), "--op-weights", weights])
    records = [r for split in bench(tmp_path) for r in split]
    ops, biggest = Counter(), 0
    for rec in records:
        steps = rec["solution"].split("\n")[:-1]
        for i, line in enumerate(steps):
            a, op, b, c = STEP.match(line).groups()
            ops[op] += 1
            biggest = max(biggest, int(c))
            assert int(a) <= max_value and int(c) <= max_value, line
            together = "together" in rec["question"] and i == len(steps) - 1  # first + last person: any size
            if op in "+-" and not together:
                assert int(b) <= max_operand, (line, rec["question"])
    assert biggest > max(max_operand, max_value // 2)  # results grow past one operand, toward the bound
    w = dict(zip("+-*/", map(float, weights.split(","))))
    assert all((ops[op] > 0) == (w[op] > 0) for op in "+-*/"), ops  # a 0 weight drops the operation
    assert ops["+"] > ops["/"]


def shingles(text):
    words = text.lower().split()
    return {" ".join(words[i:i + 5]) for i in range(len(words) - 4)}


def jaccard(a, b):
    return len(a & b) / len(a | b)


def test_duplicates_are_as_labelled_and_clean_pages_are_far_apart(world):
    pages, labels = pages_and_labels(world)
    text_of = {p["url"]: p["text"] for p in pages}
    label_of = {lb["url"]: lb for lb in labels}
    exact = near = 0
    for page, lb in zip(pages, labels):
        if lb["duplicate_of"] is None:
            continue
        original = label_of[lb["duplicate_of"]]
        assert original["duplicate_of"] is None and original["leaked_from"] is None
        assert (lb["is_math"], lb["style"]) == (original["is_math"], original["style"])
        if page["text"] == text_of[original["url"]]:
            exact += 1
        else:
            near += 1
            assert jaccard(shingles(page["text"]), shingles(text_of[original["url"]])) >= 0.8
    assert (exact, near) == (8, 40)
    clean = [p["text"] for p, lb in zip(pages, labels) if lb["duplicate_of"] is None]
    assert len(set(clean)) == len(clean)
    # MinHash estimate of every pair's Jaccard (64 permutations), then the exact value where it is high
    sets = [shingles(t) for t in clean]
    prime = np.uint64(2**31 - 1)
    a, b = (np.random.default_rng(0).integers(1, 2**31 - 1, size=64, dtype=np.uint64) for _ in range(2))
    hashes = [np.array([zlib.crc32(s.encode()) for s in sh], dtype=np.uint64) for sh in sets]
    sig = np.stack([((h[:, None] * a + b) % prime).min(0) for h in hashes])
    for i in range(len(sig)):
        similar = np.flatnonzero((sig[i + 1:] == sig[i]).mean(1) >= 0.35) + i + 1
        for j in similar:
            assert jaccard(sets[i], sets[j]) < 0.5, (clean[i], clean[j])


def test_math_and_non_math_never_share_a_depth2_path(world):
    """The domain rule's ground truth: a site's sections hold math pages or non-math pages, not both."""
    pages, labels = pages_and_labels(world)
    kinds = defaultdict(set)
    for page, lb in zip(pages, labels):
        if lb["duplicate_of"] is None:
            site, first, second = page["url"].split("/")[2:5]
            kinds[site, first, second].add(lb["is_math"])
    assert all(len(k) == 1 for k in kinds.values())
    per_site = defaultdict(set)
    for (site, _, _), k in kinds.items():
        per_site[site] |= k
    assert sum(len(k) == 2 for k in per_site.values()) >= 3    # news and Q&A sites with a math section


def test_seed_is_separate_and_in_the_seed_styles_only(world):
    pages, labels = pages_and_labels(world)
    seed = gz_jsonl(world / "seed.jsonl.gz")
    assert len(seed) == 100
    assert not {s["url"] for s in seed} & {p["url"] for p in pages}
    assert not {s["text"] for s in seed} & {p["text"] for p in pages}
    math_sites = {p["url"].split("/")[2] for p, lb in zip(pages, labels) if lb["is_math"]}
    assert {s["url"].split("/")[2] for s in seed} <= math_sites
    for s in seed:   # worked problems or definitions; never a forum thread
        assert ("Problem 1." in s["text"]) != ("Definition 1." in s["text"])
        assert "Reply from" not in s["text"]


def test_general_text_is_non_math_and_not_in_the_pool(world):
    general = gz_jsonl(world / "general.jsonl.gz")
    assert len(general) == 40 and all(set(g) == {"text"} and g["text"] for g in general)
    pool_texts = {p["text"] for p in pages_and_labels(world)[0]}
    for g in general:
        assert g["text"] not in pool_texts
        assert not re.search(r"\\boxed|Definition \d|\$", g["text"])


# ---------------------------------------------------------------------------- command line

def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as e:
        toy_data.main(["--help"])
    assert e.value.code == 0
    text = "".join(capsys.readouterr().out.split())    # argparse wraps lines, at hyphens too
    for f in fields(toy_data.ToyConfig):
        assert "--" + f.name.replace("_", "-") in text
        assert "".join(f.metadata["help"].split()) in text


@pytest.mark.parametrize("flags", [["--domains", "5"], ["--test-size", "0"], ["--leaks", "-1"],
                                   ["--pages", "100", "--near-dups", "50"], ["--op-weights", "7,0,1,1"],
                                   ["--op-weights", "7,6,1"], ["--max-value", "10", "--max-operand", "9"],
                                   ["--second-language", "1.5"],
                                   ["--general-docs", "5", "--chat-records", "6"]])
def test_bad_flags_are_refused(flags, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        toy_data.main(["--out", str(tmp_path), *flags])
    assert e.value.code == 2
    assert "error" in capsys.readouterr().err
