"""hf.py reading Hugging Face `tokenizer.json` files of byte-level BPE (DeepSeek LLM's layout) for Tokenizer.

The tests write their own tokenizer.json (no downloads): a small vocabulary trained below by a naive BPE
trainer that records its merges like Hugging Face's, written with GPT-2's byte-to-character map, with
DeepSeek LLM's pre-tokenizer (regex Splits, single digits, ByteLevel) and added tokens. A naive reference
of Hugging Face's algorithm (cut out added tokens; split piece by piece; BPE each piece by repeatedly
merging the pair that comes first in `merges`) must give the same ids as tiktoken's encoding.
"""
import json
import random
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings, strategies as st

from hf import HFPreTokenizer, hf_split, load_tokenizer
from tokenizer import Tokenizer, bench_encode, main

REPO = Path(__file__).resolve().parents[1]

# DeepSeek LLM's pre-tokenizer (tokenizer.json of deepseek-llm-7b / deepseek-math-7b). The letter class is
# partly written with \u escapes: some of its characters (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A)
# are canonical singletons that NFC-normalising editors silently replace by other code points.
LETTERS = ("\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-Ֆ"
           "Ⴀ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝ"
           "\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb"
           "\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126"
           "\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e"
           "ↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+")
SPLITS = ["[\r\n]", LETTERS, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+"]
DEEPSEEK_PRE_TOKENIZER = {"type": "Sequence", "pretokenizers": [
    *({"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False} for p in SPLITS),
    {"type": "Digits", "individual_digits": True},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
NEVER_IN_UTF8 = [0xC0, 0xC1, *range(0xF5, 0x100)]  # DeepSeek's trainer never saw these bytes ...
BYTE_TOKENS = ["ü", "õ", "À"]  # ... and added some as tokens: GPT-2's characters for 0xFC, 0xF5, 0xC0

TEXTS = [
    "Janet’s ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with 4933828.",
    "The answer is $\\boxed{18}$.\n\nLet $f(x) = 3x^2 - 5x + 2$; then f'(x) = 6x - 5, f(1.5) = 0.5.",
    "Der Flächeninhalt ist πr². Übung für Schüler: r = 3, über 28,27 m².  \r\n  Ende   ",
    "Η εξίσωση x² − 5x + 6 = 0 έχει ρίζες 2 και 3. Квадратный корень из 144 равен 12.",
    "方程 x + 7 = 12 的解是 x = 5。数学很有趣！（答案：５）한국어 문장도 있습니다",
    "emoji 🙂🚀 tabs\tand\x0bodd\u2009spaces\u3000here\n\n\n   indented\n",
    "¿Cuántos años tienes? Tengo ٣٤ años. ½ + ¼ = ¾. Ⅻ o'clock, don't, WE'LL, it's",
]


def gpt2_bytes_to_unicode():
    """GPT-2's encoder.py mapping, as published: printable Latin-1 bytes keep their character, the rest
    (in byte order) take the characters from U+0100 on."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


CHAR = gpt2_bytes_to_unicode()


def to_chars(text):
    return "".join(CHAR[b] for b in text.encode("utf-8", errors="replace"))


# ----------------------------------------------------------------------------- the naive reference

def reference_pieces(text, spec):
    """Hugging Face's pre-tokenization, naively: added non-special tokens cut out first (the longest one
    starting leftmost), then each Split (Isolated) on every piece, keeping the text between matches; Digits
    by Unicode category; ByteLevel (prefix space, GPT-2 split). Yields str pieces and int ids."""
    added = {t["content"]: t["id"] for t in spec["added_tokens"] if not t["special"]}
    segments, i, start = [], 0, 0
    while i < len(text):
        found = max((c for c in added if text.startswith(c, i)), key=len, default=None)
        if found:
            segments += [text[start:i], added[found]] if i > start else [added[found]]
            i = start = i + len(found)
        else:
            i += 1
    segments += [text[start:]] if start < len(text) else []
    steps = spec["pre_tokenizer"]["pretokenizers"]  # a Sequence in every test file
    for segment in segments:
        if isinstance(segment, int):
            yield segment
            continue
        pieces = [segment]
        for step in steps:
            out = []
            for piece in pieces:
                if step["type"] == "Split":
                    end = 0
                    for m in regex.finditer(step["pattern"]["Regex"], piece, flags=regex.MULTILINE):
                        out += [piece[end:m.start()], m.group()]
                        end = m.end()
                    out.append(piece[end:])
                elif step["type"] == "Digits":  # cut around numbers (N*); glue them unless individual
                    groups = []
                    for char in piece:
                        number = unicodedata.category(char).startswith("N")
                        if groups and groups[-1][0] == number and not (number and step["individual_digits"]):
                            groups[-1][1] += char
                        else:
                            groups.append([number, char])
                    out += [text for _, text in groups]
                else:  # ByteLevel
                    if step["add_prefix_space"] and not piece.startswith(" "):
                        piece = " " + piece
                    gpt2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
                    out += regex.findall(gpt2, piece) if step["use_regex"] else [piece]
            pieces = [p for p in out if p]
        yield from pieces


def reference_bpe(piece, vocab, merge_rank):
    """Hugging Face's BPE on one piece: start from its byte characters; while some adjacent pair is a merge,
    merge the leftmost occurrence of the pair that comes first in `merges`."""
    parts = list(to_chars(piece))
    while True:
        ranked = [(merge_rank[pair], i) for i, pair in enumerate(zip(parts, parts[1:])) if pair in merge_rank]
        if not ranked:
            return [vocab[p] for p in parts]
        _, i = min(ranked)
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def reference_encode(text, spec):
    vocab = spec["model"]["vocab"]
    merges = spec["model"]["merges"]
    merge_rank = {tuple(m.split(" ") if isinstance(m, str) else m): rank for rank, m in enumerate(merges)}
    ids = []
    for piece in reference_pieces(text, spec):
        ids += [piece] if isinstance(piece, int) else reference_bpe(piece, vocab, merge_rank)
    return ids


# ----------------------------------------------------------------------------- a small tokenizer.json

def train_merges(texts, spec, num_merges):
    """Naive BPE training as Hugging Face's trainer does it: over the pre-tokenized pieces, merge the most
    frequent adjacent pair (ties: the smallest pair), record it, give the new token the next id."""
    words = Counter(tuple(to_chars(p)) for t in texts for p in reference_pieces(t, spec)
                    if isinstance(p, str))
    merges, made = [], set()
    for _ in range(num_merges):
        pairs = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                if "".join(pair) not in made:  # never re-make a token (HF would, see test_remade_token_warns)
                    pairs[pair] += n
        if not pairs:
            break
        pair = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(pair)
        made.add("".join(pair))
        merged = {}
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if word[i:i + 2] == pair:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + n
        words = merged
    return merges


def make_spec(texts, num_merges=300, pre_tokenizer=DEEPSEEK_PRE_TOKENIZER, pair_merges=False):
    """A DeepSeek-like tokenizer.json: alphabet of the 243 bytes that UTF-8 text can hold (ids in character
    order, as Hugging Face's trainer sorts its alphabet), then one id per merge, then added tokens: BOS, EOS
    (special) and byte characters (not special)."""
    alphabet = sorted(CHAR[b] for b in range(256) if b not in NEVER_IN_UTF8)
    spec = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": pre_tokenizer, "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                        "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False}}
    merges = train_merges(texts, spec, num_merges)
    vocab = {char: i for i, char in enumerate(alphabet)}
    for pair in merges:
        vocab["".join(pair)] = len(vocab)
    spec["model"]["vocab"] = vocab
    spec["model"]["merges"] = [list(p) for p in merges] if pair_merges else [" ".join(p) for p in merges]
    contents = [(BOS, True), (EOS, True)] + [(c, False) for c in BYTE_TOKENS]
    spec["added_tokens"] = [{"id": len(vocab) + i, "content": c, "single_word": False, "lstrip": False,
                             "rstrip": False, "normalized": True, "special": special}
                            for i, (c, special) in enumerate(contents)]
    return spec


def write(folder, spec, config=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
    if config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


CONFIG = {"add_bos_token": True, "add_eos_token": False,
          "bos_token": {"__type": "AddedToken", "content": BOS},
          "eos_token": {"__type": "AddedToken", "content": EOS}, "pad_token": None, "model_max_length": 4096}


@pytest.fixture(scope="module")
def spec():
    return make_spec(TEXTS * 3)


@pytest.fixture(scope="module")
def folder(spec, tmp_path_factory):
    return write(tmp_path_factory.mktemp("deepseek"), spec, CONFIG)


@pytest.fixture(scope="module")
def tok(folder):
    return load_tokenizer(folder)


def random_text(rng, n):
    alphabet = ("aeinrstlSDTMLVE'   ,.;:!?()$\\{}^_=+-*/0123456789" "éüõÀößçñΩπλΣжЖ中数学한٣½²Ⅻ"
                "\n\n\r\t\x0b\x0c\x1c\x85\xa0\u2009\u3000！（：🙂\x00")
    return "".join(rng.choice(alphabet) for _ in range(n))


# ----------------------------------------------------------------------------- tests

def test_gpt2_byte_map():
    assert len(set(CHAR.values())) == 256
    assert (CHAR[ord(" ")], CHAR[ord("\n")], CHAR[ord("a")], CHAR[0xFC]) == ("Ġ", "Ċ", "a", "ü")


def test_split_behaviors_match_hugging_face_docs():
    # the examples of `tokenizers`' SplitDelimiterBehavior documentation: "-" in "the-final--countdown"
    dash, text = regex.compile("-"), "the-final--countdown"
    assert hf_split(dash, "Removed", False, text) == ["the", "final", "countdown"]
    assert hf_split(dash, "Isolated", False, text) == ["the", "-", "final", "-", "-", "countdown"]
    assert hf_split(dash, "MergedWithPrevious", False, text) == ["the-", "final-", "-", "countdown"]
    assert hf_split(dash, "MergedWithNext", False, text) == ["the", "-final", "-", "-countdown"]
    assert hf_split(dash, "Contiguous", False, text) == ["the", "-", "final", "--", "countdown"]
    # invert: the text between matches is what counts as the delimiter
    assert hf_split(regex.compile(r"\d+"), "Removed", True, "ab12cd3") == ["12", "3"]
    # Hugging Face's regexes are Oniguruma's, in Ruby syntax: ^ and $ match at every line
    anchored = HFPreTokenizer({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "^a|b$"}, "behavior": "Isolated"},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}, [])
    assert anchored.split("abc\nab\nab") == ["a", "bc\n", "a", "b", "\n", "a", "b"]
    anchored = HFPreTokenizer({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "^a|b$"}, "behavior": "Contiguous"},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}, [])
    assert anchored.split("abc\nab\nab") == ["a", "bc\n", "ab", "\n", "ab"]


def test_deepseek_pre_tokenizer_pieces(tok, spec):
    text = "Hello wörld, 12345 个数学！\r\n  x = 3.14;  \n\tend   "
    pieces = tok.pre_tokenizer.split(text)
    assert pieces == list(reference_pieces(text, spec))
    # each split works inside the previous one's pieces: the punctuation class `:-~` holds the ASCII
    # letters, so " wörld" (one letters piece) is cut again around "ö"; digits come one by one
    assert pieces[:4] == ["Hello", " w", "ö", "rld"]
    assert pieces[6:11] == ["1", "2", "3", "4", "5"]


def test_encodes_like_naive_hugging_face_reference(tok, spec):
    rng = random.Random(0)
    texts = TEXTS + [random_text(rng, rng.randint(0, 200)) for _ in range(200)]
    for text in texts:
        assert tok.encode(text) == reference_encode(text, spec), repr(text)
    assert tok.encode_batch(texts, num_threads=2) == [tok.encode(t) for t in texts]


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs", "Cn"))))
def test_any_text_encodes_like_reference_and_decodes_back(tok, spec, text):
    ids = tok.encode(text)
    assert ids == reference_encode(text, spec)
    assert tok.decode(ids) == text


def test_digits_are_single_tokens(tok, spec):
    ids = tok.encode("x = 4933828 + 16")
    vocab = spec["model"]["vocab"]
    assert [vocab[d] for d in "4933828"] == ids[ids.index(vocab["4"]):][:7]
    assert all(len(token) == 1 for token in vocab if any(ch in "0123456789" for ch in token))


def test_special_tokens(tok, spec, folder, tmp_path):
    ids = {t["content"]: t["id"] for t in spec["added_tokens"]}
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (ids[BOS], ids[EOS], ids[EOS])  # no pad token: PAD = EOS
    assert tok.vocab_size == max(ids.values()) + 1
    assert tok.decode([tok.bos_id, *tok.encode("1+1=2"), tok.eos_id]) == BOS + "1+1=2" + EOS
    # special tokens never come from text, not even from their own spelling
    assert not {tok.bos_id, tok.eos_id} & set(tok.encode(f"{BOS}Hi{EOS}"))
    assert tok.decode(tok.encode(f"{BOS}Hi{EOS}")) == f"{BOS}Hi{EOS}"
    # without tokenizer_config.json, BOS / EOS are found by name; a pad_token there is used
    bare = load_tokenizer(write(tmp_path / "bare", spec))
    assert (bare.bos_id, bare.eos_id, bare.pad_id) == (ids[BOS], ids[EOS], ids[EOS])
    padded = load_tokenizer(write(tmp_path / "pad", spec, {**CONFIG, "pad_token": BOS}))
    assert padded.pad_id == ids[BOS]


def test_added_byte_tokens_come_from_text_and_decode_to_it(tok, spec):
    # like DeepSeek's "ü" (id 100010 there): Hugging Face cuts it out of the text as an added token
    ids = {t["content"]: t["id"] for t in spec["added_tokens"]}
    encoded = tok.encode("für Àpfel")
    assert ids["ü"] in encoded and ids["À"] in encoded
    assert tok.decode(encoded) == "für Àpfel"  # its text (Hugging Face's decoder would give "\ufffd")


def test_added_token_options(spec, tmp_path):
    # single_word, lstrip, rstrip as Hugging Face's AddedVocabulary applies them; a non-normalized token
    # is cut out before normalized ones
    extra = [{"id": 900, "content": "<think>", "special": False, "lstrip": True, "rstrip": True},
             {"id": 901, "content": "kw", "special": False, "single_word": True},
             {"id": 902, "content": "qz", "special": False, "normalized": True},
             {"id": 903, "content": "zj", "special": False, "normalized": False}]
    assert not {t["content"] for t in extra} & spec["model"]["vocab"].keys()
    tok = load_tokenizer(write(tmp_path / "x", {**spec, "added_tokens": spec["added_tokens"] + extra}))
    assert tok.encode("a  <think> \n b") == tok.encode("a") + [900] + tok.encode("b")
    assert tok.decode(tok.encode("a  <think> \n b")) == "a<think>b"  # the stripped spaces belong to the token
    assert tok.encode("kw, kwa") == [901] + tok.encode(", kwa")  # the second "kw" is inside a word
    assert 901 not in tok.encode(", kwa")
    assert tok.encode("qzj") == tok.encode("q") + [903]  # "zj" (not normalized) is cut out before "qz"
    assert tok.encode("qz") == [902]


def test_pair_merges_gpt2_layout_and_contiguous_digits(tmp_path):
    # newer files write merges as [a, b]; GPT-2's own pre-tokenizer is ByteLevel alone with its regex;
    # Digits without individual_digits keeps runs of digits together
    gpt2 = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
    spec = make_spec(TEXTS * 3, num_merges=150, pre_tokenizer=gpt2, pair_merges=True)
    tok = load_tokenizer(write(tmp_path / "gpt2", spec) / "tokenizer.json")  # the file itself
    rng = random.Random(1)
    content = {t["id"]: t["content"] for t in spec["added_tokens"]}
    for text in TEXTS + [random_text(rng, 100) for _ in range(50)]:
        assert tok.encode(text) == reference_encode(text, spec), repr(text)
        # decoding keeps the spaces add_prefix_space put in front of pieces (so does Hugging Face's)
        pieces = reference_pieces(text, spec)
        assert tok.decode(tok.encode(text)) == "".join(content[p] if isinstance(p, int) else p
                                                       for p in pieces)
    # ByteLevel's prefix space goes in front of every piece the earlier steps left, as in Hugging Face
    assert tok.pre_tokenizer.split("ab 2024x") == [" ab", " ", " 2024", " x"]


def test_nul_characters_take_the_single_piece_path(tok, spec):
    # pieces are joined by "\x00" for tiktoken; a piece holding "\x00" itself is encoded alone
    for text in ["a\x00b", "\x00\x00 x\x00", "Ĳ\x00\x00\n1"]:
        assert tok.encode(text) == reference_encode(text, spec)
        assert tok.decode(tok.encode(text)) == text


def test_save_writes_the_files_back(tok, folder, tmp_path):
    saved = tok.save(tmp_path / "copy")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert json.loads((saved / name).read_text()) == json.loads((folder / name).read_text())
    again = load_tokenizer(saved)
    assert [again.bos_id, again.eos_id, again.pad_id] == [tok.bos_id, tok.eos_id, tok.pad_id]
    assert again.vocab_size == tok.vocab_size
    assert again.encode_batch(TEXTS) == tok.encode_batch(TEXTS)


def test_cli_and_bench(folder):
    """tokenizer.py's commands read a Hugging Face tokenizer.json when run as `python hf.py` (tokenizer.py
    itself knows only its own folders: hf.py is built on it)."""
    run = subprocess.run([sys.executable, "hf.py", "encode", "--tokenizer", str(folder), "--pieces",
                          "Tom has 12 apples."], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    ids_line, pieces_line = run.stdout.splitlines()
    assert json.loads(ids_line) == load_tokenizer(folder).encode("Tom has 12 apples.")
    assert "".join(json.loads(pieces_line)) == "Tom has 12 apples."
    with pytest.raises(ValueError, match="is a Hugging Face tokenizer.json: read it with hf.load_tokenizer"):
        main(["encode", "--tokenizer", str(folder), "Tom"])
    figures = bench_encode(load_tokenizer(folder), mb=0.02)
    assert figures["tokens"] > 0 and 0.01 < figures["mb"] < 0.03


def broken(spec, **changes):
    out = json.loads(json.dumps(spec))
    for path, value in changes.items():
        *keys, last = path.split("__")
        target = out
        for key in keys:
            target = target[key]
        target[last] = value
    return out


@pytest.mark.parametrize("change, message", [
    ({"model__type": "WordPiece"}, "'WordPiece'; only byte-level BPE"),
    ({"model__type": "Unigram"}, "'Unigram'; only byte-level BPE"),
    ({"normalizer": {"type": "Lowercase"}}, "normalizer ['Lowercase'] is not supported"),
    ({"decoder": {"type": "Metaspace"}}, "decoder 'Metaspace' is not supported"),
    ({"model__dropout": 0.1}, "dropout=0.1 is not supported"),
    ({"pre_tokenizer": {"type": "Metaspace"}}, "needs ByteLevel as the last step"),
    ({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]}},
     "needs ByteLevel as the last step"),
    ({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"},
                                                              {"type": "ByteLevel"}]}},
     "pre-tokenizer 'Whitespace' is not supported"),
    ({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "[z-a]"}, "behavior": "Isolated"}, {"type": "ByteLevel"}]}},
     "does not compile"),
    ({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "-"}, "behavior": "Sideways"}, {"type": "ByteLevel"}]}},
     "behavior 'Sideways' is unknown"),
])
def test_unsupported_files_give_clear_errors(spec, tmp_path, change, message):
    with pytest.raises(ValueError, match=regex.escape(message)):
        load_tokenizer(write(tmp_path / "t", broken(spec, **change)))


def test_inconsistent_vocabularies_give_clear_errors(spec, tmp_path):
    merges = spec["model"]["merges"]
    swapped = broken(spec, model__merges=[merges[1], merges[0], *merges[2:]])  # ids no longer increase
    with pytest.raises(ValueError, match="ids must increase with merge order"):
        load_tokenizer(write(tmp_path / "a", swapped))
    with pytest.raises(ValueError, match="is not a pair of vocabulary tokens"):
        load_tokenizer(write(tmp_path / "b", broken(spec, model__merges=merges + ["Ġ nowhere"])))
    no_space = {token: i for token, i in spec["model"]["vocab"].items() if "Ġ" not in token}  # "Ġ": byte " "
    with pytest.raises(ValueError, match=r"lacks the single bytes \[32\]"):
        load_tokenizer(write(tmp_path / "c", broken(spec, model__vocab=no_space, model__merges=[
            m for m in merges if "Ġ" not in m])))
    with pytest.raises(ValueError, match="eos_token 'nope' is not one of the added tokens"):
        load_tokenizer(write(tmp_path / "d", spec, {**CONFIG, "eos_token": "nope"}))


def test_remade_and_unmade_tokens_warn(spec, tmp_path):
    # Hugging Face's trainer may merge a second pair into an existing token, and a vocabulary may hold
    # tokens no merge makes: tiktoken treats both slightly differently, which is counted in a warning
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
    made_by = {m.replace(" ", ""): m for m in merges}
    other = next(f"{t[:i]} {t[i:]}" for t in made_by for i in range(1, len(t))
                 if t[:i] in vocab and t[i:] in vocab and f"{t[:i]} {t[i:]}" != made_by[t])
    with pytest.warns(UserWarning, match="0 multi-byte tokens come from no merge .* 1 merges re-make"):
        load_tokenizer(write(tmp_path / "a", broken(spec, model__merges=merges + [other])))
    with pytest.warns(UserWarning, match="1 multi-byte tokens come from no merge"):
        load_tokenizer(write(tmp_path / "b", broken(spec, model__vocab={**vocab, "qqqq": 5000})))


def test_our_own_tokenizer_json_still_loads_as_ours(tmp_path):
    # our saved folder also has a tokenizer.json (name, pattern, special tokens): told apart by content
    ours = Tokenizer.train(["ab ab ab cd"], 262).save(tmp_path / "ours")
    for path in (ours, ours / "tokenizer.json"):
        loaded = load_tokenizer(path)
        # merges "ab", " ab", " c" (test_tokenizer.py derives them by hand)
        assert loaded.pre_tokenizer is None and loaded.encode("ab cd") == [256, 258, ord("d")]


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer folder at .*nowhere"):
        load_tokenizer(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no tokenizer.json"):
        load_tokenizer(tmp_path / "empty")
    (tmp_path / "odd.json").write_text('{"name": "x"}')
    with pytest.raises(ValueError, match="neither a Hugging Face tokenizer.json"):
        load_tokenizer(tmp_path / "odd.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a JSON file"):
        load_tokenizer(tmp_path / "bad.json")
