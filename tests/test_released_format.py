"""The released DeepSeekMath models' layout through every stage: a Hugging Face folder (LlamaForCausalLM
config.json + safetensors, tokenizer.json + tokenizer_config.json beside them) evaluated and trained as
it is, BOS at the start of every prompt, and trained weights exported back to that layout.

The folder is a miniature of deepseek-ai/deepseek-math-7b-instruct: a random 1-layer decoder written
by `hf.save_hf` and a byte-level BPE tokenizer.json with DeepSeek's pre-tokenizer and
special tokens (built by test_hf_tokenizer's helpers), with DeepSeek's tokenizer_config.json settings.
"""
import json

import pytest
import torch

import evaluate as ev
import grpo
import reward
import sft
from formats import chat_prompt, write_jsonl
from grpo import GRPOConfig, train_grpo
from model import ModelConfig, Transformer
from hf import load_model, load_tokenizer, save_hf
from trainer import cleanup_distributed
from reward import main as reward_main
from sampler import generate
from sft import IGNORE, encode_example, encode_prompt, main as sft_main
from test_hf_tokenizer import BOS, CONFIG, EOS, TEXTS, make_spec, write
from tokenizer import Tokenizer, checkpoint_tokenizer

SUMS = [(a, b) for a in range(3) for b in range(2)]
QUESTIONS = [f"What is {a} + {b}?" for a, b in SUMS]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A Hugging Face model folder, its tokenizer, and toy benchmark / RL files."""
    root = tmp_path_factory.mktemp("released")
    spec = make_spec(TEXTS * 3, num_merges=120)
    folder = write(root / "deepseek-math-tiny-instruct", spec, CONFIG)
    tok = load_tokenizer(folder)
    torch.manual_seed(0)
    # embedding rows past the tokenizer's ids, as the 7B models' 102,400 rows for some 100,000 ids
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size + 13, n_layers=1, d_model=32, n_heads=2,
                                    ffn_dim=64, max_seq_len=256))
    save_hf(model.config, model.state_dict(), folder)
    world = root / "world"
    records = [{"id": f"toy-{i}", "question": q, "answer": str(a + b), "level": 1,
                "solution": f"{a} + {b} = {a + b}\nThe answer is \\boxed{{{a + b}}}."}
               for i, (q, (a, b)) in enumerate(zip(QUESTIONS, SUMS))]
    write_jsonl(world / "bench_train.jsonl", records[:2])
    write_jsonl(world / "bench_test.jsonl", records[2:])
    write_jsonl(world / "rl.jsonl", [{"question": r["question"], "answer": r["answer"]} for r in records])
    return {"folder": folder, "tok": tok, "spec": spec, "model": model.eval(), "world": world,
            "test": records[2:]}


@pytest.fixture
def prompts_seen(monkeypatch):
    """Every prompt (token ids) a stage asks sampler.generate to complete, once per sample, in order."""
    seen = []

    def recording(model, prompts, *args, **kwargs):
        seen.extend(list(p) for p in prompts for _ in range(kwargs.get("group_size", 1)))
        return generate(model, prompts, *args, **kwargs)

    for stage in (ev, grpo, reward, sft):  # each calls the sampler by the name it imported
        monkeypatch.setattr(stage, "generate", recording)
    return seen


# ----------------------------------------------------------------------------- BOS

def test_bos_follows_the_tokenizer_config_then_the_post_processor_then_the_family(released, tmp_path):
    spec, tok = released["spec"], released["tok"]
    assert tok.add_bos and tok.token_bytes(tok.bos_id).decode() == BOS
    text = chat_prompt("What is 2 + 3?")
    assert tok.encode_prompt(text) == [tok.bos_id] + tok.encode(text)
    assert tok.encode_prompt(text, bos=False) == tok.encode(text)

    def add_bos(folder_spec, config=None, name="x"):
        return load_tokenizer(write(tmp_path / name, folder_spec, config)).add_bos

    assert add_bos(spec, {**CONFIG, "add_bos_token": False}, "told_not_to") is False
    assert add_bos(spec, None, "no_config") is True  # DeepSeek's BOS: its models expect it
    # another family, named "<bos>": BOS only when the post-processor's template starts with it
    renamed = json.loads(json.dumps(spec, ensure_ascii=False).replace(BOS, "<bos>"))
    assert add_bos(renamed, None, "other") is False
    template = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                                         {"Sequence": {"id": "A", "type_id": 0}}]}
    assert add_bos({**renamed, "post_processor": template}, None, "templated") is True
    in_sequence = {"type": "Sequence", "processors": [{"type": "ByteLevel"}, template]}
    assert add_bos({**renamed, "post_processor": in_sequence}, None, "sequence") is True


def test_our_tokenizers_add_no_bos_and_sft_examples_carry_the_models_convention(released, tmp_path):
    ours = Tokenizer.train(TEXTS, vocab_size=300)
    ours.save(tmp_path / "ours")
    assert not ours.add_bos and not load_tokenizer(tmp_path / "ours").add_bos
    hf, question = released["tok"], "What is 2 + 3?"
    assert encode_prompt(ours, question) == ours.encode(chat_prompt(question))
    assert encode_prompt(hf, question) == [hf.bos_id] + hf.encode(chat_prompt(question))
    # the save of a Hugging Face tokenizer writes its files back: add_bos survives
    hf.save(tmp_path / "again")
    assert load_tokenizer(tmp_path / "again").add_bos
    ids, labels = encode_example(hf, question, "2 + 3 = 5\nThe answer is \\boxed{5}.")
    prompt = encode_prompt(hf, question)
    assert ids[:len(prompt)] == prompt and ids[0] == hf.bos_id and ids[-1] == hf.eos_id
    assert labels[:len(prompt)] == [IGNORE] * len(prompt) and labels[len(prompt):] == ids[len(prompt):]


def test_ids_past_the_tokenizer_decode_to_the_replacement_character(released):
    """The model has more rows than the tokenizer has ids (7B: 102,400 rows for some 100,000 ids), and
    a random policy samples them: decoding shows them as U+FFFD instead of failing."""
    tok, past = released["tok"], released["tok"].vocab_size + 3
    assert past < released["model"].config.vocab_size
    ids = tok.encode("1 + 1 = 2")
    assert tok.decode(ids[:2] + [past] + ids[2:]) == tok.decode(ids[:2]) + "\ufffd" + tok.decode(ids[2:])
    assert tok.token_bytes(past) == "\ufffd".encode()


# ----------------------------------------------------------------------------- where the tokenizer is

def test_checkpoint_tokenizer_finds_ours_by_name_and_hugging_faces_beside_the_weights(released, tmp_path):
    folder, model = released["folder"], released["model"]
    assert checkpoint_tokenizer(folder) == str(folder)
    assert checkpoint_tokenizer(folder, "elsewhere") == "elsewhere"  # --tokenizer wins
    model.save(tmp_path / "named", tokenizer=str(folder))
    assert checkpoint_tokenizer(tmp_path / "named") == str(folder)
    (tmp_path / "moved" / "tok").mkdir(parents=True)
    model.save(tmp_path / "moved", tokenizer="tok")  # relative: beside the checkpoint
    assert checkpoint_tokenizer(tmp_path / "moved") == str(tmp_path / "moved" / "tok")
    model.save(tmp_path / "unnamed")
    with pytest.raises(FileNotFoundError, match="names no tokenizer.*--tokenizer"):
        checkpoint_tokenizer(tmp_path / "unnamed")
    with pytest.raises(FileNotFoundError, match="no model checkpoint"):
        checkpoint_tokenizer(tmp_path / "nothing")


def test_sft_and_reward_labelling_start_from_a_released_folder(released, prompts_seen, tmp_path):
    folder, tok, world = released["folder"], released["tok"], released["world"]
    write_jsonl(tmp_path / "sft.jsonl", [{"question": r["question"], "solution": r["solution"],
                                          "format": "cot"}
                                         for r in released["test"]])
    sft_main(["train", "--init", str(folder), "--data", str(tmp_path / "sft.jsonl"), "--out",
              str(tmp_path / "sft"), "--seq-len", "128", "--micro-batch", "2", "--batch-size", "2", "--steps",
              "1", "--save-every", "0"])
    assert checkpoint_tokenizer(tmp_path / "sft" / "final") == str(folder)
    reward_main(["label", "--policy", str(folder), "--data", str(world / "bench_test.jsonl"), "--labels",
                 "exact", "--out", str(tmp_path / "labels.jsonl"), "--samples", "2", "--max-new-tokens", "4"])
    assert len(prompts_seen) == 2 * len(released["test"])
    assert sorted(prompts_seen) == sorted(encode_prompt(tok, r["question"]) for r in released["test"]
                                          for _ in range(2))
    assert all(p[0] == tok.bos_id for p in prompts_seen)


# ----------------------------------------------------------------------------- evaluate.py

def test_evaluate_runs_a_released_folder_with_bos_before_every_prompt(released, prompts_seen, tmp_path):
    folder, tok, world = released["folder"], released["tok"], released["world"]
    common = ["--model-path", str(folder), "--benchmark", "toy", "--data-dir", str(world),
              "--max-new-tokens", "4", "--no-progress"]
    ev.main(common + ["--mode", "chat", "--out", str(tmp_path / "chat")])
    rows = [json.loads(line) for line in (tmp_path / "chat" / "samples.jsonl").read_text().splitlines()]
    results = json.loads((tmp_path / "chat" / "results.json").read_text())
    assert results["config"]["add_bos"] is True and results["questions"] == len(released["test"]) == len(rows)
    expected = sorted([tok.bos_id] + tok.encode(chat_prompt(r["question"])) for r in released["test"])
    assert sorted(prompts_seen) == expected
    assert sorted(tok.decode(p[1:]) for p in prompts_seen) == sorted(r["prompt"] for r in rows)
    assert all(0 < s["tokens"] <= 4 for r in rows for s in r["samples"])  # BOS never counted as generated

    prompts_seen.clear()  # few-shot, BOS turned off by the flag
    ev.main(common + ["--mode", "base", "--shots", "1", "--no-bos", "--out", str(tmp_path / "base")])
    rows = [json.loads(line) for line in (tmp_path / "base" / "samples.jsonl").read_text().splitlines()]
    assert json.loads((tmp_path / "base" / "results.json").read_text())["config"]["add_bos"] is False
    assert sorted(prompts_seen) == sorted(tok.encode(r["prompt"]) for r in rows)
    assert all(r["prompt"].startswith("Q: ") and r["prompt"].count("Q: ") == 2 for r in rows)


# ----------------------------------------------------------------------------- grpo.py, and back to HF

def test_grpo_trains_a_released_folder_and_its_export_goes_back_to_the_released_layout(released, prompts_seen,
                                                                                      tmp_path):
    folder, tok = released["folder"], released["tok"]
    cfg = GRPOConfig(init=str(folder), data=str(released["world"] / "rl.jsonl"), out=str(tmp_path / "run"),
                     group_size=4, batch_questions=2, steps_per_iteration=1, max_new_tokens=6, lr=1e-2,
                     micro_batch=8, save_every=0, log_every=1)
    # a reward a random policy's samples differ on, so the one step moves the weights
    try:
        summary = train_grpo(cfg, reward_fn=lambda record, text, ids: sum(i % 2 == 0 for i in ids) / len(ids))
    finally:
        cleanup_distributed()
    assert summary["steps"] == 1
    questions = {tuple(encode_prompt(tok, q)): q for q in QUESTIONS}
    assert len(prompts_seen) == 8 and all(p[0] == tok.bos_id and tuple(p) in questions for p in prompts_seen)

    final = tmp_path / "run" / "final"
    assert checkpoint_tokenizer(final) == str(folder)
    again = load_tokenizer(checkpoint_tokenizer(final))
    assert (again.vocab_size, again.bos_id, again.eos_id, again.add_bos) == (tok.vocab_size, tok.bos_id,
                                                                             tok.eos_id, True)
    trained, start = load_model(final).eval(), released["model"]
    assert trained.config == start.config
    assert any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(),
                                                     start.state_dict().values()))

    # the README's export: weights as a LlamaForCausalLM folder, the tokenizer's files beside them
    out = tmp_path / "exported"
    save_hf(trained.config, trained.state_dict(), out)
    load_tokenizer(checkpoint_tokenizer(final)).save(out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model-00001-of-00001.safetensors",
                                                     "model.safetensors.index.json", "tokenizer.json",
                                                     "tokenizer_config.json"]
    assert checkpoint_tokenizer(out) == str(out)
    exported = load_tokenizer(out)
    text = chat_prompt(QUESTIONS[0])
    assert exported.add_bos and exported.encode_prompt(text) == tok.encode_prompt(text)
    assert exported.token_bytes(exported.eos_id).decode() == EOS
    tokens = torch.tensor([exported.encode_prompt(text)])
    with torch.no_grad():
        assert torch.equal(load_model(out)(tokens)[0], trained(tokens)[0])
