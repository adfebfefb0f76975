"""DeepSeek-R1's recipe (r1.py): the language-consistency reward against hand-counted strings, the filters of
rejection sampling against hand-made completions and their counts, cold-start records, distillation records,
the GRPO hook and the sft.py `think` template."""
from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

import grader
import r1
from formats import read_jsonl, write_jsonl
from grpo import GRPOConfig, Rollout, completion_mask, score
from grpo import main as grpo_main
from model import ModelConfig, Transformer
from sft import assistant_text, encode_example, encode_prompt, load_sft_records
from tokenizer import Tokenizer


FILTERS = r1.FilterConfig(language="en", min_consistency=0.9, max_paragraph_words=12)


# ----------------------------------------------------------------------------- language consistency

def test_words_leave_out_math_numbers_and_single_letters():
    # hand count: First add and to get is = 6 English words; 所 以 = 2 Chinese; 3, 4, $3+4=7$, x are not words
    text = "First, add 3 and 4 to get $3+4=7$. 所以 x is 7."
    assert grader.language_words(text) == ["First", "add", "and", "to", "get", "所", "以", "is"]
    assert grader.language_words("\\frac{12}{3} equals four \\(a+b\\) \\[c\\]") == ["equals", "four"]
    assert grader.language_words("It costs $5.\nThen we pay $3 more.") == ["It", "costs", "Then", "we", "pay",
                                                                           "more"]
    assert [grader.word_language(w) for w in ["the", "数", "число", "café"]] == ["en", "zh", "other", "other"]


@pytest.mark.parametrize("completion, language, expected", [
    ("<think>First, add 3 and 4 to get $3+4=7$. 所以 x is 7.</think><answer>7</answer>", "en", 6 / 8),
    ("<think>First, add 3 and 4 to get $3+4=7$. 所以 x is 7.</think><answer>7</answer>", "zh", 2 / 8),
    ("<think>我们先计算 3+4=7，然后 check 一下</think> 答案 7", "zh", 9 / 10),  # 我们先计算 然后 一下: 9
    ("<think>the число</think>", "en", 1 / 2),                                # Cyrillic: neither
    ("<think>only english words here</think> 这是总结", "en", 1.0),            # the summary is not the CoT
    ("<think>open but never closed, 中", "en", 4 / 5),                         # to the end
    ("reasoning before the close</think> 总结", "en", 1.0),                    # the prompt opened <think>
    ("no tags: all of it 是", "en", 5 / 6),                                   # the whole text is the CoT
    ("<think>3 + 4 = 7</think>", "en", 0.0),                                  # no words: nothing in English
    # the toy world's second language (toy_data.py --second-language): "The answer is" 3 English, 所以答案是 5
    ("<think>\n2 + 4 = 6\nThe answer is 6, 所以答案是 \\boxed{6}。\n</think>\n\nThe answer is $\\boxed{6}$.",
     "en", 3 / 8),
    ("<think>\n2 + 4 = 6\n所以答案是 \\boxed{6}。\n</think>\n\nThe answer is $\\boxed{6}$.", "en", 0.0),
    ("", "zh", 0.0),
])
def test_language_consistency_against_hand_counts(completion, language, expected):
    assert grader.language_consistency(completion, language) == pytest.approx(expected)


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        grader.language_consistency("<think>bonjour</think>", "fr")


def test_grpo_adds_weight_times_consistency_to_the_rule_reward():
    texts = ["<think>add the numbers</think> The answer is \\boxed{7}.",  # 1 + 0.5 × 1
             "<think>加 add</think> The answer is \\boxed{7}.",             # 1 + 0.5 × 1/2
             "<think>guess</think> The answer is \\boxed{8}.",              # 0 + 0.5 × 1
             "<think>猜</think> The answer is \\boxed{8}."]                 # 0 + 0.5 × 0
    lengths = [3, 3, 3, 3]
    rollout = Rollout(prompts=[[1]] * 4, completions=[[5, 6, 7]] * 4, mask=completion_mask(lengths, 3),
                      old_logprobs=torch.zeros(4, 3), truncated=torch.zeros(4, dtype=torch.bool), texts=texts)
    cfg = GRPOConfig(init="x", data="y", group_size=4, language_reward=0.5)
    score(rollout, [{"question": "q", "answer": "7"}], cfg, None, None, None)
    rewards = torch.tensor([1.5, 1.25, 0.5, 0.0])
    assert rollout.sums["reward"] == pytest.approx(rewards.sum().item())
    assert rollout.sums["accuracy"] == 2
    expected = (rewards - rewards.mean()) / (rewards.std(unbiased=False) + cfg.adv_eps)
    assert torch.allclose(rollout.advantages[:, 0], expected)
    with pytest.raises(ValueError, match="--language-reward adds to the rule reward"):
        GRPOConfig(init="x", data="y", reward="orm", reward_model="m", language_reward=1.0).check()


# ----------------------------------------------------------------------------- R1's filters

GOOD = "<think>\nWe add three and four.\n</think>\n\nThe answer is \\boxed{7}."


@pytest.mark.parametrize("text, fmt, reason", [
    (GOOD, "cot", None),
    (GOOD.replace("{7}", "{8}"), "cot", "incorrect"),
    ("<think>\nWe add three and four, 然后 检查.\n</think>\n\nThe answer is \\boxed{7}.", "cot",
     "language_mixing"),  # 5 English of 8 words < 0.9
    ("<think>\n" + "one two three four five six seven eight nine ten eleven twelve thirteen" +
     "\n</think>\n\nThe answer is \\boxed{7}.", "cot", "overlong_paragraph"),  # 13 words > 12
    ("<think>\nWe add.\n\n```python\nprint(3 + 4)\n```\n</think>\n\nThe answer is \\boxed{7}.", "cot",
     "code_block"),
    ("<think>\nWe add.\n\n```python\nprint(3 + 4)\n```\n</think>\n\nThe answer is \\boxed{7}.", "pot", None),
    ("  " + GOOD.replace("\n\n", "\n \n"), "cot", "duplicate"),  # only whitespace differs from GOOD
])
def test_each_filter_against_a_hand_made_completion(text, fmt, reason):
    seen = {r1.normalised(GOOD)} if reason == "duplicate" else set()
    assert r1.rejection_reason(text, "7", fmt, seen, FILTERS) == reason


def test_keep_samples_counts_every_sample_once_by_its_first_reason():
    problems = [{"question": "3 + 4?", "answer": "7"}, {"question": "2 + 2?", "answer": "4"}]
    samples = [[(GOOD, True), (GOOD, True), (GOOD, False), (GOOD.replace("{7}", "{8}"), True)],
               [(GOOD.replace("{7}", "{4}"), True), ("<think>\n猜\n</think>\n\n\\boxed{4}", True)]]
    stats = Counter()
    kept = r1.keep_samples(problems, samples, FILTERS, stats)
    assert kept == [{"question": "3 + 4?", "solution": GOOD, "format": "cot"},
                    {"question": "2 + 2?", "solution": GOOD.replace("{7}", "{4}"), "format": "cot"}]
    assert stats == Counter(samples=6, kept=2, dropped_duplicate=1, dropped_unfinished=1, dropped_incorrect=1,
                            dropped_language_mixing=1, problems=2, problems_with_a_kept_sample=2)


def test_non_reasoning_data_is_mixed_in_with_an_empty_chain_of_thought(tmp_path):
    pool = tmp_path / "chat.jsonl"
    write_jsonl(pool, [{"question": f"Write a haiku {i}", "solution": f"Poem {i}"} for i in range(5)]
                + [{"question": "no answer"}])
    reasoning = [{"question": f"q{i}", "solution": GOOD, "format": "cot"} for i in range(6)]
    stats = Counter()
    mixed = r1.mix_non_reasoning(reasoning, pool, 3, seed=0, stats=stats)
    assert mixed[:6] == reasoning and len(mixed) == 9 and stats["non_reasoning"] == 3
    assert stats["no_solution"] == 1  # the bad record is counted, not silently lost
    for rec in mixed[6:]:
        poem = rec["question"].replace("Write a haiku", "Poem")
        assert rec["solution"] == f"<think>\n\n</think>\n\n{poem}"
        assert assistant_text(rec["solution"], "cot", "think") == " " + rec["solution"]
    assert mixed == r1.mix_non_reasoning(reasoning, pool, 3, seed=0, stats=Counter())
    with pytest.raises(ValueError, match="chat.jsonl: 5 usable non-reasoning records, 6 needed"):
        r1.mix_non_reasoning(reasoning, pool, 6, seed=0, stats=Counter())


# ----------------------------------------------------------------------------- cold start and the template

def test_think_template_trains_the_readable_format_after_deepseeks_prompt():
    tok = Tokenizer.train(["What is 3 + 4? <think> We add. </think> The answer is 7."] * 3, vocab_size=270)
    assert encode_prompt(tok, "What is 3 + 4?", "think") == encode_prompt(tok, "What is 3 + 4?", "deepseek")
    ids, labels = encode_example(tok, "What is 3 + 4?", GOOD, "think")
    answer = [t for t, label in zip(ids, labels) if label != -100]
    assert tok.decode(answer[:-1]) == " " + GOOD and answer[-1] == tok.eos_id
    with pytest.raises(ValueError, match="think template needs a solution"):
        assistant_text("We add. The answer is \\boxed{7}.", "cot", "think")


def test_cold_start_from_r1_zero_outputs_keeps_the_readable_correct_ones(tmp_path):
    zero = tmp_path / "zero.jsonl"
    def output(completion, question="3 + 4?", answer="7"):
        return {"question": question, "answer": answer, "completion": completion}
    write_jsonl(zero, [output("<think>We add three and four.</think> <answer>7</answer>"),
                       output("We add. <answer>7</answer>"),                      # unformatted
                       output("<think>We add.</think> <answer>8</answer>"),       # wrong
                       output("<think>我们 add</think> <answer>7</answer>"),      # mixed languages
                       output("<think>a</think> <answer>7</answer>", question=""),
                       output("<think>a</think> <answer>4</answer>", answer="")])
    stats = Counter()
    records = r1.cold_start_from_zero(zero, FILTERS, stats)
    assert records == [{"question": "3 + 4?", "format": "cot", "solution":
                        "<think>\nWe add three and four.\n</think>\n\nThe answer is $\\boxed{7}$."}]
    assert stats == Counter(unformatted=1, no_question=1, bad_gold=1, samples=3, kept=1, dropped_incorrect=1,
                            dropped_language_mixing=1, problems=3, problems_with_a_kept_sample=1)
    write_jsonl(tmp_path / "cold.jsonl", records)
    assert load_sft_records(tmp_path / "cold.jsonl", "think") == [("3 + 4?", records[0]["solution"], "cot")]


def test_cold_start_from_written_chains_of_thought_makes_them_readable(tmp_path):
    written = tmp_path / "sft.jsonl"
    english, chinese = "3 + 4 = 7\nThe answer is \\boxed{7}.", "3 + 4 = 7\n所以答案是 \\boxed{7}。"
    write_jsonl(written, [{"question": "3 + 4?", "solution": english},
                          {"question": "3 + 4?", "solution": "print(3 + 4)", "format": "pot"},
                          {"question": "3 + 4?", "solution": "We add them."},   # no boxed answer
                          {"question": "4 + 3?", "solution": chinese},
                          {"question": "5 + 3?", "solution": "5 + 3 = 8\nThe answer is \\boxed{8}."}])
    def readable(solution):
        return f"<think>\n{solution}\n</think>\n\nThe answer is $\\boxed{{7}}$."
    stats = Counter()
    records = r1.cold_start_from_written(written, 2, FILTERS, stats)   # the first 2 usable records
    assert records == [{"question": "3 + 4?", "solution": readable(english), "format": "cot"}]
    assert stats == Counter(not_cot=1, no_boxed_answer=1, samples=2, kept=1, dropped_language_mixing=1,
                            problems=2, problems_with_a_kept_sample=1)
    unfiltered = r1.FilterConfig(min_consistency=0.0)   # r1.sh's cold start keeps the second language
    assert [r["solution"] for r in r1.cold_start_from_written(written, 2, unfiltered, Counter())] == [
        readable(english), readable(chinese)]
    write_jsonl(tmp_path / "cold.jsonl", records)
    assert load_sft_records(tmp_path / "cold.jsonl", "think") == [("3 + 4?", readable(english), "cot")]


def test_few_shot_prompt_shows_the_shots_then_asks():
    shots = [("1 + 1?", GOOD.replace("{7}", "{2}"), "cot"), ("2 + 3?", GOOD.replace("{7}", "{5}"), "cot")]
    prompt = r1.few_shot_prompt(shots, "3 + 4?")
    assert prompt == (f"Question: 1 + 1?\nAnswer: {shots[0][1]}\n\n"
                      f"Question: 2 + 3?\nAnswer: {shots[1][1]}\n\n"
                      "Question: 3 + 4?\nAnswer:")


# ----------------------------------------------------------------------------- sampling from a checkpoint

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("r1")
    tok = Tokenizer.train(["What is 12 + 30? The answer is 42."] * 5, vocab_size=270)
    tok.save(root / "tok")
    torch.manual_seed(0)
    Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layers=1, d_model=32, n_heads=2, ffn_dim=64,
                            max_seq_len=128)).save(root / "model", tokenizer=str(root / "tok"))
    write_jsonl(root / "rl.jsonl", [{"question": f"What is {a} + 1?", "answer": str(a + 1)} for a in range(3)]
                + [{"question": "What is nothing?", "answer": ""},
                   {"question": "Unbalanced?", "answer": "\\frac{1"}])
    return root


def test_reject_samples_k_per_question_and_accounts_for_every_sample(checkpoint):
    out = checkpoint / "reject"
    stats = r1.main(["reject", "--model-path", str(checkpoint / "model"),
                     "--data", str(checkpoint / "rl.jsonl"),
                     "--k", "3", "--max-new-tokens", "6", "--template", "deepseek", "--out", str(out)])
    assert stats["problems"] == 3 and stats["samples"] == 9
    assert stats["no_gradable_answer"] == 1 and stats["problems_bad_gold"] == 1  # load_benchmark, the grader
    dropped = sum(n for reason, n in stats.items() if reason.startswith("dropped_"))
    assert dropped + stats["kept"] == 9  # a random model: nearly all dropped, each for one counted reason
    assert json.loads((out / "stats.json").read_text()) == dict(stats)
    assert len(list(read_jsonl(out / "sft.jsonl"))) == stats["kept"]


def test_cold_start_command_counts_each_source_and_adds_them_up(checkpoint):
    written = checkpoint / "written.jsonl"
    write_jsonl(written, [{"question": f"What is {a} + 2?", "solution": f"{a} + 2 = {a + 2}\nThe answer is "
                           f"\\boxed{{{a + 2}}}."} for a in range(4)])
    torch.manual_seed(0)  # room for the R1 template and the few-shot prompts
    vocab = Tokenizer.load(checkpoint / "tok").vocab_size
    long_context = ModelConfig(vocab_size=vocab, n_layers=1, d_model=32, n_heads=2, ffn_dim=64,
                               max_seq_len=1024)
    Transformer(long_context).save(checkpoint / "long", tokenizer=str(checkpoint / "tok"))
    model, out = str(checkpoint / "long"), checkpoint / "cold"
    stats = r1.main(["cold-start", "--written", str(written), "--model-path", model, "--zero-model", model,
                     "--data", str(checkpoint / "rl.jsonl"), "--limit", "2", "--k", "3",
                     "--max-new-tokens", "6", "--out", str(out)])
    assert stats["written_kept"] == 4 and stats["written_samples"] == 4
    assert stats["zero_sampled"] == 2 * 3 and stats["few_shot_samples"] == 2 * 3  # --limit 2 questions, k 3
    zero_outputs = list(read_jsonl(out / "zero_outputs.jsonl"))
    assert len(zero_outputs) == stats["zero_sampled"] - stats["zero_unfinished"]
    kept = {source: stats.get(f"{source}_kept", 0) for source in ("written", "zero", "few_shot")}
    assert stats["records"] == sum(kept.values()) == len(list(read_jsonl(out / "cold_start.jsonl")))
    assert json.loads((out / "stats.json").read_text()) == dict(stats)
    with pytest.raises(ValueError, match="needs --shots, or --written"):
        r1.main(["cold-start", "--model-path", model, "--data", str(checkpoint / "rl.jsonl"),
                 "--out", str(out)])
    with pytest.raises(ValueError, match="--zero-outputs\\) or a model"):
        r1.main(["cold-start", "--zero-outputs", "x.jsonl", "--zero-model", model, "--data", "x",
                 "--out", str(out)])


def test_few_shot_samples_stop_at_the_next_question(checkpoint):
    tok = Tokenizer.load(checkpoint / "tok")
    model = Transformer.load(checkpoint / "model").eval()
    cfg = r1.ColdStartConfig(out="x", max_new_tokens=5)
    prompts = [tok.encode_prompt("Question: 1?\nAnswer:"), tok.encode_prompt("Question: 2?\nAnswer:")]
    groups = r1.sample_texts(model, tok, prompts, 2, cfg, stops=("\nQuestion:",))
    assert [len(g) for g in groups] == [2, 2]
    assert all("\nQuestion:" not in text for g in groups for text, _ in g)


# ----------------------------------------------------------------------------- distillation

class AsciiTokenizer:
    """A student tokenizer that cannot write non-ASCII text (it encodes it as '?')."""
    def encode(self, text):
        return list(text.encode("ascii", "replace"))

    def decode(self, ids):
        return bytes(ids).decode("ascii")


def test_distill_records_are_text_only_and_the_student_tokenises_them(tmp_path):
    samples = tmp_path / "samples.jsonl"
    write_jsonl(samples, [
        {"question": "3 + 4?", "solution": GOOD, "format": "cot", "completion_ids": [5, 6],
         "logprobs": [-1.0]},
        {"question": "3 + 4?", "solution": GOOD.replace("add", "加")},   # the student cannot write it
        {"question": "3 + 4?", "solution": GOOD, "format": "latex"},
        {"question": "3 + 4?"},
    ])
    stats = Counter()
    records = r1.distill_records(samples, AsciiTokenizer(), stats)
    assert records == [{"question": "3 + 4?", "solution": GOOD, "format": "cot"}]
    assert stats == Counter(fields_dropped_completion_ids=1, fields_dropped_logprobs=1, not_representable=1,
                            unknown_format=1, no_question_or_solution=1, records=1)
    student = Tokenizer.train(["3 + 4? We add three and four. The answer is 7."] * 4, vocab_size=280)
    ids, labels = encode_example(student, records[0]["question"], records[0]["solution"], "think")
    assert ids == encode_prompt(student, "3 + 4?", "think") + student.encode(" " + GOOD) + [student.eos_id]


def test_distill_command_writes_records_and_stats(checkpoint, tmp_path, capsys):
    samples = tmp_path / "samples.jsonl"
    write_jsonl(samples, [{"question": "3 + 4?", "solution": GOOD, "ids": [1, 2]}])
    stats = r1.main(["distill", "--samples", str(samples), "--student", str(checkpoint / "model"),
                     "--out", str(tmp_path / "distill")])
    assert stats["records"] == 1 and stats["fields_dropped_ids"] == 1
    assert list(read_jsonl(tmp_path / "distill" / "distill.jsonl")) == [
        {"question": "3 + 4?", "solution": GOOD, "format": "cot"}]
    assert "python sft.py train --init" in capsys.readouterr().out


def test_grpo_command_line_takes_the_language_reward(checkpoint):
    out = checkpoint / "grpo"
    grpo_main(["--init", str(checkpoint / "model"), "--data", str(checkpoint / "rl.jsonl"), "--out", str(out),
               "-G", "2", "--batch-questions", "2", "--steps-per-iteration", "1", "--max-new-tokens", "4",
               "--micro-batch", "4", "--save-every", "0", "--language-reward", "0.5", "--language", "zh"])
    saved = json.loads((out / "config.json").read_text())["grpo"]
    assert (saved["language_reward"], saved["language"]) == (0.5, "zh")
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["accuracy"] <= record["reward"] <= record["accuracy"] + 0.5  # consistency lies in [0, 1]
