"""grader.math_equal against an independent oracle, math-verify, on a fixed sample of the real reference
answers of MATH and GSM8K (tests/grader_agreement.py measures all of them; the table is in README)."""

import pytest

from grader_agreement import judge, labelled_pairs, reference_answers

from conftest import DATA  # the benchmark-data folder: $BENCHMARK_DATA, else data/
# Measured on this sample when the test was written: the floor it must stay at or above.
FLOOR = {"MATH: same answer, other form": 1.0, "GSM8K: same answer, other form": 1.0,
         "other problems' answers": 1.0}


def test_agreement_with_math_verify_on_a_fixed_sample():
    pytest.importorskip("math_verify")
    if not (DATA / "math" / "test4500.jsonl").exists():
        pytest.skip(f"{DATA} not present (a fresh clone has no benchmark files)")
    answers = {name: golds[:250] for name, golds in reference_answers(DATA).items()}
    rows = judge(labelled_pairs(answers, other_pairs=400))
    for name, floor in FLOOR.items():
        judged = [(pred, gold, ours, theirs) for set_name, pred, gold, ours, theirs in rows
                  if set_name == name]
        disagreements = [row for row in judged if row[2] != row[3]]
        print(f"\n{name}: {len(judged) - len(disagreements)}/{len(judged)} agree; {disagreements[:10]}")
        assert len(judged) > 200 and 1 - len(disagreements) / len(judged) >= floor, disagreements
