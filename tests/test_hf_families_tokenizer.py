"""tokenizer.json files in the style of Qwen2 (NFC normaliser, GPT-4-style split with single digits,
ByteLevel) and Llama 3 (the same split with groups of 1-3 digits, BOS by its post-processor), built and
trained here by the `tokenizers` library, encode and decode through hf.py + tiktoken exactly as `tokenizers`
does; their chat templates render and encode as transformers' apply_chat_template; generation_config.json's
stop ids."""
import json
import random

import pytest

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

from hf import chat_text, encode_chat_text, end_of_turn, load_tokenizer  # noqa: E402

# the released files' split patterns (Qwen2.5's and Llama 3's tokenizer.json), which differ in digits only
SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|DIGITS| ?[^\s\p{L}\p{N}]+[\r\n]*"""
         r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
FAMILIES = {
    "qwen2": dict(split=SPLIT.replace("DIGITS", r"\p{N}"), nfc=True, bos=None, eos="<|endoftext|>",
                  specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], added=["<think>", "</think>"],
                  template=("{%- for message in messages %}{%- if loop.first and messages[0]['role'] != "
                            "'system' %}{{- '<|im_start|>system\\nPlease reason step by step, and put your "
                            "final answer within \\\\boxed{}.<|im_end|>\\n' }}{%- endif %}{{- '<|im_start|>' "
                            "+ message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- "
                            "endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- "
                            "endif %}"),
                  stops=["<|im_end|>", "<|endoftext|>"]),
    "llama3": dict(split=SPLIT.replace("DIGITS", r"\p{N}{1,3}"), nfc=False, bos="<|begin_of_text|>",
                   eos="<|eot_id|>", specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                               "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>"],
                   added=["<answer>"],
                   template=("{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + "
                             "message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + "
                             "'<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- "
                             "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"),
                   stops=["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"]),
}
TEXTS = [
    "Tom has 48 apples and buys 1234567 more: 48 + 1234567 = 1234615.",
    "Let $f(x) = \\frac{x^2 - 1}{x + 1}$. Then $\\lim_{x \\to -1} f(x) = -2$, so \\boxed{-2}.",
    "数学是科学的语言。方程 x² + y² = z² 有无穷多整数解。",
    "Emoji 🧮➗🙂👍🏽 and flags 🇫🇷, café vs cafe\u0301 (NFD), Å vs \u212b (angstrom sign), ﬁ ligature",
    "  leading spaces,\ttabs\t\tand\n\n\nnewlines   \r\n trailing   ",
    "I'm sure they'll say it's 3.14159, isn't it? DON'T SHOUT'S",
    "def f(n):\n    return sum(i * i for i in range(n))  # 0..n-1\n",
    "<think> The answer is 42 </think> <answer>42</answer>",
    "١٢٣ Arabic-Indic digits, ½ fractions, ²³ superscripts, Ⅻ Roman numeral",
    "Ελληνικά, русский текст, עברית, हिन्दी, 한국어 텍스트",
]


def random_text(rng, n):
    pool = list("abc xyz 0123456789 \n\t.,;!?'\"()[]{}\\$^_=+-*/é中文字🙂🏽\u0301\u212bÅﬁ١²")
    pool += ["'s", "'LL", "  ", "<think>"]
    return "".join(rng.choice(pool) for _ in range(n))


def build(family, folder):
    """A tokenizer.json of `family`'s layout trained by `tokenizers` on TEXTS, special tokens appended after
    the merges (as in the released files), with tokenizer_config.json and generation_config.json."""
    from tokenizers import (AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors,
                            trainers)
    spec = FAMILIES[family]
    hf = tokenizers.Tokenizer(models.BPE())
    if spec["nfc"]:
        hf.normalizer = normalizers.NFC()
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(spec["split"]), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    hf.train_from_iterator(TEXTS * 5, trainer)
    hf.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in spec["specials"]])
    hf.add_tokens([AddedToken(t, special=False, normalized=family == "llama3") for t in spec["added"]])
    if spec["bos"]:
        bos_id = hf.token_to_id(spec["bos"])
        hf.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{spec['bos']} $A",
                                          pair=f"{spec['bos']} $A {spec['bos']} $B",
                                          special_tokens=[(spec["bos"], bos_id)])])
    else:
        hf.post_processor = processors.ByteLevel(trim_offsets=False)
    folder.mkdir(parents=True, exist_ok=True)
    hf.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": spec["eos"],
              "bos_token": spec["bos"], "chat_template": spec["template"], "model_max_length": 4096}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "generation_config.json").write_text(json.dumps(
        {"eos_token_id": [hf.token_to_id(t) for t in spec["stops"]]}))
    return hf


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    reference = build(request.param, folder)
    return request.param, folder, reference, load_tokenizer(folder)


def test_varied_text_encodes_and_decodes_as_tokenizers_does(family):
    name, _, reference, ours = family
    rng = random.Random(0)
    texts = TEXTS + [random_text(rng, rng.randint(1, 80)) for _ in range(300)] + ["", " ", "\n", "9" * 17]
    for text in texts:
        expected = reference.encode(text, add_special_tokens=False).ids
        assert ours.encode(text) == expected, text
        assert ours.decode(expected) == reference.decode(expected, skip_special_tokens=False), text
    assert ours.encode_batch(texts) == [reference.encode(t, add_special_tokens=False).ids for t in texts]
    # the family's digit rule really is in force (and the NFC normaliser for Qwen2)
    digits = [ours.decode([i]) for i in ours.encode("1234567")]
    assert digits == (list("1234567") if name == "qwen2" else ["123", "456", "7"])
    assert (ours.encode("cafe\u0301") == ours.encode("café")) == (name == "qwen2")


def test_bos_stop_ids_and_special_tokens(family):
    name, folder, reference, ours = family
    spec = FAMILIES[name]
    assert ours.add_bos == (name == "llama3")
    text = "What is 2 + 3?"
    assert ours.encode_prompt(text) == reference.encode(text).ids  # BOS as the post-processor adds it
    assert ours.token_bytes(ours.eos_id).decode() == spec["eos"]
    assert ours.stop_ids == tuple(sorted(reference.token_to_id(t) for t in spec["stops"]))
    # special tokens never come from data text; added (non-special) tokens do, as in tokenizers
    assert reference.token_to_id(spec["specials"][0]) not in ours.encode(spec["specials"][0])
    assert reference.token_to_id(spec["added"][0]) in ours.encode(f"x {spec['added'][0]} y")
    ours.save(folder.parent / f"{name}-again")
    again = load_tokenizer(folder.parent / f"{name}-again")
    assert (again.stop_ids, again.add_bos) == (ours.stop_ids, ours.add_bos)
    assert again.encode(TEXTS[3]) == ours.encode(TEXTS[3])


def test_the_end_of_turn_is_what_the_template_writes_after_an_answer_and_stops_generation(family, tmp_path):
    name, folder, _, ours = family
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    rendered = hf_tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"},
                                           {"role": "assistant", "content": "2 + 3 = 5"}], tokenize=False)
    end = {"qwen2": "<|im_end|>", "llama3": "<|eot_id|>"}[name]  # read off the two templates by hand
    assert rendered.split("2 + 3 = 5", 1)[1].startswith(end)
    assert end_of_turn(ours) == tuple(hf_tok.encode(end, add_special_tokens=False))
    # a base model's generation_config.json names only its EOS (Qwen2.5-Math-1.5B: <|endoftext|>); a model
    # SFT'd in the template still stops at the template's end of turn
    base = tmp_path / "base"
    base.mkdir()
    for file in folder.glob("tokenizer*.json"):
        (base / file.name).write_text(file.read_text())
    (base / "generation_config.json").write_text(json.dumps({"eos_token_id": ours.eos_id}))
    assert load_tokenizer(base).stop_ids == tuple(sorted({ours.eos_id, hf_tok.convert_tokens_to_ids(end)}))
    # a template that writes nothing after the answer ends it with EOS; one that cannot render an exchange
    # is an error when its end of turn is asked for, and leaves the stops as generation_config.json says
    config = json.loads((base / "tokenizer_config.json").read_text())
    for template, expected in (("{% for m in messages %}{{ m['content'] }}{% endfor %}", (ours.eos_id,)),
                               ("{{ raise_exception('system message required') }}", None)):
        (base / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}))
        plain = load_tokenizer(base)
        if expected:
            assert end_of_turn(plain) == expected
            continue
        assert plain.stop_ids == (ours.eos_id,)
        with pytest.raises(ValueError,
                           match="cannot render a user/assistant exchange.*system message required"):
            end_of_turn(plain)


def test_chat_template_renders_and_encodes_as_transformers(family):
    name, folder, _, ours = family
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    for question in ("What is 2 + 3?", "Solve $x^2 = 4$.\nPlease reason step by step.", "  数学 🙂  "):
        messages = [{"role": "user", "content": question}]
        expected_text = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert chat_text(ours, question) == expected_text
        expected_ids = hf_tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True,
                                                  return_dict=True)["input_ids"]
        assert encode_chat_text(ours, expected_text) == expected_ids
    if name == "llama3":
        assert encode_chat_text(ours, chat_text(ours, "hi"))[0] == ours.bos_id  # the template writes BOS once


def test_a_tokenizer_without_chat_template_says_so(family, tmp_path):
    name, folder, _, _ = family
    config = json.loads((folder / "tokenizer_config.json").read_text())
    del config["chat_template"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    (tmp_path / "tokenizer.json").write_text((folder / "tokenizer.json").read_text())
    with pytest.raises(ValueError, match="has no chat template"):
        chat_text(load_tokenizer(tmp_path), "hi")


def test_stop_ids_that_are_no_special_token_are_refused(family, tmp_path):
    _, folder, _, _ = family
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_text((folder / name).read_text())
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [5]}))
    with pytest.raises(ValueError, match=r"generation_config.json: eos_token_id \[5\]"):
        load_tokenizer(tmp_path)
