"""The stages on today's released families, through their command lines: a tiny random Qwen2-shaped (q/k/v
biases, tied head, NFC tokenizer, ChatML template) and Llama-3-shaped (llama3 RoPE scaling, θ 500000, BOS
from the template) checkpoint written by transformers, with a tokenizer of the family's layout, is
fine-tuned (SFT, its own chat template), trained by GRPO for one step and evaluated; the result is
exported back to a folder that transformers loads with the same logits."""
import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

import evaluate as ev  # noqa: E402
from formats import write_jsonl  # noqa: E402
from grpo import main as grpo_main  # noqa: E402
from hf import chat_text, load_model, load_tokenizer, save_hf  # noqa: E402
from trainer import cleanup_distributed  # noqa: E402
from sft import encode_example, encode_prompt, main as sft_main  # noqa: E402
from test_hf_families_tokenizer import FAMILIES, build  # noqa: E402
from tokenizer import checkpoint_tokenizer  # noqa: E402

RECORDS = [{"id": f"toy-{a}-{b}", "question": f"What is {a} + {b}?", "answer": str(a + b), "level": 1,
            "solution": f"{a} + {b} = {a + b}\nThe answer is \\boxed{{{a + b}}}."} for a in range(3)
           for b in range(2)]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def released(request, tmp_path_factory):
    family, root = request.param, tmp_path_factory.mktemp(request.param)
    folder = root / f"{family}-tiny"
    build(family, folder)
    tok = load_tokenizer(folder)
    # the ids as the released config.json gives them (save_pretrained writes generation_config.json from them)
    common = dict(bos_token_id=tok.bos_id, eos_token_id=list(tok.stop_ids), pad_token_id=None,
                  vocab_size=tok.vocab_size + 5, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    config = transformers.Qwen2Config(**common, tie_word_embeddings=True) if family == "qwen2" else \
        transformers.LlamaConfig(**common, rope_theta=500000.0, rope_scaling=dict(
            rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
            original_max_position_embeddings=32))
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    world = root / "world"
    write_jsonl(world / "bench_train.jsonl", RECORDS[:2])
    write_jsonl(world / "bench_test.jsonl", RECORDS[2:])
    write_jsonl(world / "rl.jsonl", [{"question": r["question"], "answer": r["answer"]} for r in RECORDS])
    write_jsonl(world / "sft.jsonl", [{"question": r["question"], "solution": r["solution"], "format": "cot"}
                                      for r in RECORDS])
    return family, folder, tok, world


def test_sft_examples_follow_the_checkpoints_chat_template(released):
    family, folder, tok, _ = released
    question = RECORDS[0]["question"]
    prompt = encode_prompt(tok, question, "hf")
    assert tok.decode(prompt) == chat_text(tok, f"{question}\nPlease reason step by step, and put your final "
                                                "answer within \\boxed{}.")
    assert (prompt[0] == tok.bos_id) == (family == "llama3")
    ids, labels = encode_example(tok, question, RECORDS[0]["solution"], "hf")
    assert ids[:len(prompt)] == prompt and labels[len(prompt):] == ids[len(prompt):]
    assert tok.decode(ids[len(prompt):-1]) == RECORDS[0]["solution"]  # no space after the template's newline
    # the answer ends where transformers' rendering of the whole exchange ends the assistant's turn (Qwen:
    # <|im_end|>, not the tokenizer's EOS <|endoftext|>), and generation stops there
    user = f"{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
    rendered = transformers.AutoTokenizer.from_pretrained(folder).apply_chat_template(
        [{"role": "user", "content": user}, {"role": "assistant", "content": RECORDS[0]["solution"]}],
        tokenize=False)
    assert rendered.startswith(tok.decode(ids)) and rendered[len(tok.decode(ids)):].strip() == ""
    assert tok.decode(ids[-1:]) == {"qwen2": "<|im_end|>", "llama3": "<|eot_id|>"}[family]
    assert ids[-1] in tok.stop_ids


def test_sft_grpo_evaluate_and_export_on_each_family(released, tmp_path):
    family, folder, tok, world = released
    sft_main(["train", "--init", str(folder), "--data", str(world / "sft.jsonl"), "--out",
              str(tmp_path / "sft"), "--template", "hf", "--seq-len", "512", "--micro-batch", "2",
              "--batch-size", "2", "--steps", "3", "--lr", "1e-2", "--save-every", "0"])
    start, tuned = load_model(folder), load_model(tmp_path / "sft" / "final")
    assert tuned.config == start.config
    assert (tuned.lm_head.weight is tuned.embed.weight) == (family == "qwen2")
    assert any(not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(),
                                                     start.state_dict().values()))
    assert checkpoint_tokenizer(tmp_path / "sft" / "final") == str(folder)

    try:
        summary = grpo_main(["--init", str(tmp_path / "sft" / "final"), "--data", str(world / "rl.jsonl"),
                             "--out", str(tmp_path / "grpo"), "--template",
                             "hf" if family == "llama3" else "r1", "--group-size", "4", "--batch-questions",
                             "2", "--steps-per-iteration", "1", "--max-new-tokens", "6", "--micro-batch", "8",
                             "--save-every", "0"])
    finally:
        cleanup_distributed()
    assert summary["steps"] == 1

    ev.main(["--model-path", str(tmp_path / "grpo" / "final"), "--benchmark", "toy", "--data-dir", str(world),
             "--mode", "chat", "--template", "hf", "--max-new-tokens", "4", "--no-progress",
             "--out", str(tmp_path / "eval")])
    rows = [json.loads(line) for line in (tmp_path / "eval" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == len(RECORDS) - 2
    assert all(r["prompt"] == chat_text(tok, f"{r['question']}\nPlease reason step by step, and put your "
                                             f"final answer within \\boxed{{}}.") for r in rows)

    trained = load_model(tmp_path / "grpo" / "final").eval()
    save_hf(trained.config, trained.state_dict(), tmp_path / "exported")
    theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "exported").eval()
    tokens = torch.tensor([encode_prompt(tok, RECORDS[0]["question"], "hf")])
    with torch.no_grad():
        assert (theirs(tokens).logits - trained(tokens)[0]).abs().max() < 1e-4
