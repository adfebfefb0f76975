"""Agreement of grader.math_equal with an independent answer checker, math-verify (Hugging Face's, used
in its RL stack; a test-only dependency) on the real reference answers of MATH and GSM8K:
  - each reference answer against itself rewritten in other forms (the pair is equal),
  - each against the answer of another problem (the pair is almost always different).
Prints the agreement table and every disagreement, grouped by which side says equal.

    python -m tests.grader_agreement --data DIR      # DIR holds gsm8k/{train,test}.jsonl, math/test4500.jsonl
"""
import argparse
import random
import re
import signal
import sys
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

from formats import last_boxed, read_jsonl
from grader import math_equal


def reference_answers(data: Path) -> dict[str, list[str]]:
    """The final answers of MATH's test problems (last box) and of GSM8K's train and test (after ####)."""
    gsm8k = [row["answer"].split("####")[-1].strip()
             for split in ("train", "test") for row in read_jsonl(data / "gsm8k" / f"{split}.jsonl")]
    return {"MATH": [last_boxed(row["solution"]) for row in read_jsonl(data / "math" / "test4500.jsonl")],
            "GSM8K": gsm8k}


def decimal_of(answer: str) -> str | None:
    """The decimal of an integer or a simple fraction when it terminates (computed here, not by the
    grader)."""
    match = re.fullmatch(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}|(-?\d+)", answer.strip())
    if not match:
        return None
    if match[4]:
        value = Fraction(int(match[4]))
    else:
        value = Fraction(int(match[2]), int(match[3])) * (-1 if match[1] else 1)
    for places in range(7):
        if (value * 10 ** places).denominator == 1:
            return f"{float(value):.{places}f}" if places else f"{value.numerator}.0"
    return None


def rewrites(answer: str) -> list[str]:
    """The same answer in other forms a solver might write."""
    forms = [answer.replace("\\frac", "\\dfrac"), re.sub(r",(?![\\!}]|\d{3})", ", ", answer),
             re.sub(r"^(\(|\[)(.*)(\)|\])$", r"\\left\1\2\\right\3", answer)]
    if "=" not in answer and "," not in answer:
        forms.append(f"x = {answer}")
    decimal = decimal_of(answer)
    if decimal:
        forms.append(decimal)
    if re.fullmatch(r"\d{4,}", answer):
        forms.append(f"{int(answer):,}")
    return forms


def labelled_pairs(answers: dict[str, list[str]], other_pairs: int,
                   seed: int = 0) -> list[tuple[str, str, str]]:
    """(set, pred, gold): every distinct answer against itself and its rewrites, and `other_pairs` pairs of
    different problems' answers (pairs whose text agrees after trivial clean-up are the same answer, and are
    left out)."""
    pairs = list(dict.fromkeys((f"{name}: same answer, other form", form, gold)
                               for name, golds in answers.items()
                               for gold in golds for form in [gold] + rewrites(gold)))  # distinct pairs
    pool = [gold for golds in answers.values() for gold in golds]
    naive = lambda s: re.sub(r"\s|\$|\\left|\\right", "", s).replace("\\dfrac", "\\frac")
    rng = random.Random(seed)
    while other_pairs:
        a, b = rng.sample(pool, 2)
        if naive(a) != naive(b):
            pairs.append(("other problems' answers", a, b))
            other_pairs -= 1
    return pairs


def oracle_equal(pred: str, gold: str) -> bool:
    """math-verify's judgement: both parsed as LaTeX math, gold first (its verify is not symmetric)."""
    from math_verify import parse, verify  # test-only dependency, imported only here
    return bool(verify(parse(f"${gold}$"), parse(f"${pred}$")))


def judge(pairs) -> list[tuple[str, str, str, bool, bool]]:
    """(set, pred, gold, ours, theirs) for every pair; math-verify's own time limit is per call."""
    return [(name, pred, gold, math_equal(pred, gold), oracle_equal(pred, gold))
            for name, pred, gold in pairs]


OUTCOMES = ("both equal", "both different", "only ours equal", "only math-verify equal")


def outcome(ours: bool, theirs: bool) -> str:
    return OUTCOMES[0] if ours and theirs else OUTCOMES[1] if not (ours or theirs) else \
        OUTCOMES[2] if ours else OUTCOMES[3]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="folder with gsm8k/ and math/ (see the docstring)")
    parser.add_argument("--other-pairs", type=int, default=10_000,
                        help="pairs of different problems' answers")
    args = parser.parse_args(argv)
    started = time.time()
    rows = judge(labelled_pairs(reference_answers(args.data), args.other_pairs))
    table = Counter((name, outcome(ours, theirs)) for name, _, _, ours, theirs in rows)
    print("| pairs | " + " | ".join(OUTCOMES) + " | agreement |\n|" + " --- |" * (len(OUTCOMES) + 2))
    for name in dict.fromkeys(name for name, *_ in rows):
        counts = [table[name, o] for o in OUTCOMES]
        agreement = sum(counts[:2]) / sum(counts)
        print(f"| {name} | " + " | ".join(f"{c:,}" for c in counts) + f" | {agreement:.2%} |")
    print(f"\n{len(rows):,} pairs in {time.time() - started:.0f} s\n")
    for name, pred, gold, ours, theirs in rows:
        if ours != theirs:
            print(f"{outcome(ours, theirs):24} {name:32} pred={pred!r:40} gold={gold!r}")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # | head
    main(sys.argv[1:])
