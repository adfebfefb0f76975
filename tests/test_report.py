"""report.py's sample section: the question it shows is one SFT got wrong and GRPO right, preferring a GRPO
solution whose every step is right arithmetic."""
from formats import write_jsonl
from report import sample_section, sound_steps


def test_sound_steps_checks_every_step():
    assert sound_steps("3 - 1 = 2\n2 + 5 = 7\nThe answer is \\boxed{7}.")
    # right answer, wrong steps
    assert not sound_steps("9 - 2 = 7\n7 - 7 = 2\n2 - 7 = 7\nThe answer is \\boxed{2}.")
    assert not sound_steps("The answer is \\boxed{7}.")  # no step at all
    assert not sound_steps("4 / 0 = 0")


def test_sample_section_prefers_a_right_answer_by_right_steps(tmp_path):
    def row(i, completion, correct, level=4):
        return {"id": f"q{i}", "level": level, "gold": "7", "prompt": f"User: question {i}",
                "samples": [{"completion": completion, "answer": "7" if correct else "5",
                             "correct": correct}]}
    sft = [row(0, "1 + 1 = 3", False), row(1, "2 + 2 = 5", False), row(2, "3 + 4 = 7", True)]
    rl = [row(0, "9 - 2 = 7\n7 - 7 = 2\n\\boxed{7}", True), row(1, "3 + 4 = 7\n\\boxed{7}", True),
          row(2, "3 + 4 = 7", True)]
    for name, rows in (("sft", sft), ("rl", rl)):
        (tmp_path / "eval" / name).mkdir(parents=True)
        write_jsonl(tmp_path / "eval" / name / "samples.jsonl", rows)
    text = "\n".join(sample_section(tmp_path))
    assert "Test question q1" in text and "accuracy reward 0" in text and "accuracy reward 1" in text
