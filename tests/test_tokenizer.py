"""tokenizer.py: the BPE trainer, its tiktoken file format, and the Tokenizer API."""
import base64
import gzip
import json
import random

import numpy as np
import pytest
import regex
import requests
import tiktoken
from hypothesis import given, settings, strategies as st

from tokenizer import SPLIT_PATTERN, Tokenizer, bench_train, main, synthetic_text

# Text in several scripts so that merges build multi-byte characters; digits of two scripts.
MULTILINGUAL = [
    "Der Flächeninhalt eines Kreises ist πr². Übung: berechne ihn für r = 3.",
    "Η εξίσωση x² − 5x + 6 = 0 έχει ρίζες 2 και 3.",
    "方程 x + 7 = 12 的解是 x = 5。数学很有趣！",
    "Квадратный корень из 144 равен 12, а из 169 — 13.",
    "La dérivée de sin(x) est cos(x); ∫₀¹ x dx = ½. Don't, we'll, I'M",
    "日本語の文章と emoji 🙂🚀 and tabs\tand\r\nCRLF lines\n\n\n   indented",
    "¿Cuántos años tienes? Tengo ٣٤ años. $\\frac{1}{2} + \\sqrt{16}$",
]
VOCAB_SIZE = 1000


@pytest.fixture(scope="module")
def corpus():
    return synthetic_text(0.3, seed=1).split("\n\n") + MULTILINGUAL * 30


@pytest.fixture(scope="module")
def tok(corpus):
    return Tokenizer.train(corpus, VOCAB_SIZE)


@pytest.fixture(scope="module")
def saved(tok, tmp_path_factory):
    return tok.save(tmp_path_factory.mktemp("tok"))


def read_rank_file(path):
    """An independent reader of tiktoken's rank file: `base64(bytes) rank` per line."""
    ranks = {}
    for line in path.read_text().splitlines():
        token, rank = line.split(" ")
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


def reference_encode(text, ranks):
    """Naive BPE: split with the `regex` module (tiktoken uses Rust's fancy-regex), then in each
    chunk apply the trained merges in rank order, each to all its occurrences, left to right."""
    vocab = {rank: token for token, rank in ranks.items()}
    ids = []
    for chunk in regex.findall(SPLIT_PATTERN, text):
        parts = [bytes([b]) for b in chunk.encode("utf-8")]
        done = -1  # merges up to this rank have been applied
        while True:
            pending = [ranks[a + b] for a, b in zip(parts, parts[1:]) if ranks.get(a + b, -1) > done]
            if not pending:
                break
            done = min(pending)
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] + parts[i + 1] == vocab[done]:
                    merged.append(vocab[done])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids += [ranks[p] for p in parts]
    return ids


def random_text(rng, n):
    """Random text over letters of several scripts, digits, punctuation, apostrophes (contractions)
    and many kinds of whitespace, including the ones where Python's `re` and Rust disagree on \\s."""
    alphabet = ("aeinrstlSDTMLVE'   ,.;:!?()$\\{}^_=+-*/0123456789" "éüßçñΩπλΣжЖ中数学٣½²"
                "\n\n\r\t\x0b\x0c\x1c\x1f\x85\xa0\u2009\u3000🙂")
    return "".join(rng.choice(alphabet) for _ in range(n))


def test_hand_derived_merges():
    # chunks "ab" x1, " ab" x2, " cd" x1. Pair counts: (a,b) 3, (" ",a) 2, (" ",c) 1, (c,d) 1 -> "ab".
    # Then (" ","ab") 2 -> " ab". Then the tie (" ",c) vs (c,d) goes to the smaller ids: " c".
    tok = Tokenizer.train(["ab ab ab cd"], 256 + 3 + 3)
    assert [tok.ranks[t] for t in (b"ab", b" ab", b" c")] == [256, 257, 258]
    assert tok.encode("ab ab cd") == [256, 257, 258, ord("d")]
    assert (tok.bos_id, tok.eos_id, tok.pad_id, tok.vocab_size) == (259, 260, 261, 262)


def test_vocabulary_layout(tok):
    assert tok.vocab_size == VOCAB_SIZE
    assert sorted(tok.ranks.values()) == list(range(VOCAB_SIZE - 3))
    assert all(tok.ranks[bytes([b])] == b for b in range(256))  # ranks 0..255: bytes in byte order
    assert [tok.bos_id, tok.eos_id, tok.pad_id] == [VOCAB_SIZE - 3, VOCAB_SIZE - 2, VOCAB_SIZE - 1]
    assert all(tok.ranks[tok.token_bytes(i)] == i for i in range(len(tok.ranks)))
    assert any(len(t.decode("utf-8", "ignore")) == 1 and len(t) > 1 for t in tok.ranks)  # multi-byte chars


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_decode_inverts_encode_on_any_unicode(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_tiktoken_matches_naive_reference_on_random_text(tok, saved):
    ranks = read_rank_file(saved / "tokenizer.tiktoken")
    assert ranks == tok.ranks
    rng = random.Random(0)
    texts = [random_text(rng, rng.randint(0, 300)) for _ in range(300)]
    texts += synthetic_text(0.02, seed=7).split("\n\n") + MULTILINGUAL  # held out / trained on
    loaded = Tokenizer.load(saved)
    for text in texts:
        assert loaded.encode(text) == reference_encode(text, ranks), repr(text)


# Characters unassigned in Python's Unicode database (category Cn) are left out: the `regex` module
# knows a newer Unicode than tiktoken's Rust tables and calls some of them letters.
@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs", "Cn"))))
def test_tiktoken_matches_naive_reference_on_any_text(tok, text):
    assert tok.encode(text) == reference_encode(text, tok.ranks)


def test_digits_are_single_tokens(tok):
    # no token joins an ASCII digit to anything, although digits are frequent in the corpus
    digits = [t for t in tok.ranks if any(48 <= b <= 57 for b in t)]
    assert sorted(digits) == [str(d).encode() for d in range(10)]
    # nor any other number character (\p{N}: ٣, ½, ², ...) to another character
    for token in tok.ranks:
        chars = token.decode("utf-8", errors="ignore")
        assert not (regex.search(r"\p{N}", chars) and len(chars) > 1), token
    assert tok.encode("12345 + 678") == [49, 50, 51, 52, 53] + tok.encode(" +") + [32, 54, 55, 56]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["<|bos|>", "<|eos|>", "<|pad|>", "<|", "|>", "eos"]) | st.text(max_size=5)))
def test_special_tokens_never_come_from_text(tok, pieces):
    text = "".join(pieces)
    ids = tok.encode(text)
    assert not {tok.bos_id, tok.eos_id, tok.pad_id} & set(ids)
    assert tok.decode(ids) == text
    assert tok.decode([tok.bos_id, tok.eos_id, tok.pad_id]) == "<|bos|><|eos|><|pad|>"


def test_encode_batch_and_numpy_decode(tok, corpus):
    texts = corpus[:50]
    assert tok.encode_batch(texts, num_threads=2) == [tok.encode(t) for t in texts]
    ids = tok.encode(texts[0])
    assert tok.decode(np.array(ids, dtype=np.uint16)) == texts[0]  # token shards are uint16 arrays


def test_save_load_round_trip(tok, saved, corpus):
    assert sorted(p.name for p in saved.iterdir()) == ["tokenizer.json", "tokenizer.tiktoken"]
    config = json.loads((saved / "tokenizer.json").read_text())
    assert config == {"name": "bpe", "pattern": SPLIT_PATTERN,
                      "special_tokens": {"<|bos|>": 997, "<|eos|>": 998, "<|pad|>": 999}}
    loaded = Tokenizer.load(saved)
    assert (loaded.ranks, loaded.pattern, loaded.vocab_size) == (tok.ranks, tok.pattern, tok.vocab_size)
    assert (loaded.bos_id, loaded.eos_id, loaded.pad_id) == (tok.bos_id, tok.eos_id, tok.pad_id)
    assert loaded.encode_batch(corpus) == tok.encode_batch(corpus)


def test_resaving_a_folder_loads_the_new_ranks(tmp_path):
    # tiktoken's own loader caches rank files by path; ours must not
    first = Tokenizer.train(["aaa bbb"] * 3, 262)
    second = Tokenizer.train(["xyz xyz"] * 3, 262)
    first.save(tmp_path)
    assert Tokenizer.load(tmp_path).ranks == first.ranks
    second.save(tmp_path)
    assert Tokenizer.load(tmp_path).ranks == second.ranks != first.ranks


def test_train_is_deterministic_and_independent_of_text_order(tok, corpus):
    assert Tokenizer.train(corpus, VOCAB_SIZE).ranks == tok.ranks
    assert Tokenizer.train(reversed(corpus), VOCAB_SIZE).ranks == tok.ranks


def test_vocab_size_limits():
    with pytest.raises(ValueError, match="at least 259"):
        Tokenizer.train(["hello"], 258)
    with pytest.warns(UserWarning, match="no pairs left"):
        # 3 merges: "ab"; then of (ab,c), (c,d) the smaller ids "cd"; "abcd"
        small = Tokenizer.train(["abcd"], 300)
    assert small.vocab_size == 256 + 3 + 3
    assert small.encode("abcd") == [258]


def test_load_errors(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="no tokenizer folder at .*nowhere"):
        Tokenizer.load(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text((saved / "tokenizer.json").read_text())
    (broken / "tokenizer.tiktoken").write_text("YQ== 0\nnot-a-rank-line\n")
    with pytest.raises(ValueError, match="tokenizer.tiktoken:2"):
        Tokenizer.load(broken)


def test_tiktoken_name_offline_gives_a_clear_error(monkeypatch):
    def offline(name):
        raise requests.exceptions.ConnectionError("Failed to resolve 'openaipublic.blob.core.windows.net'")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with pytest.raises(ConnectionError, match=r"(?s)internet.*offline.*python tokenizer.py train"):
        Tokenizer.load("cl100k_base")


def test_tiktoken_name_online_gets_our_special_tokens(monkeypatch, tok):
    # stands in for the download: an encoding with its own special token after the ranks
    n = len(tok.ranks)
    online = tiktoken.Encoding("cl100k_base", pat_str=tok.pattern, mergeable_ranks=tok.ranks,
                               special_tokens={"<|endoftext|>": n})
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: online)
    loaded = Tokenizer.load("cl100k_base")
    assert (loaded.bos_id, loaded.eos_id, loaded.pad_id, loaded.vocab_size) == (n, n + 1, n + 2, n + 3)
    assert loaded.encode(MULTILINGUAL[0]) == tok.encode(MULTILINGUAL[0])


def test_cli_train_skips_and_counts_bad_lines_then_encodes(tmp_path, capsys):
    data = tmp_path / "docs.jsonl.gz"
    docs = [json.dumps({"text": t}).encode() for t in synthetic_text(0.05, seed=3).split("\n\n")]
    bad = [b'{"text": "broken', b'{"text": "\xff\xfe"}', b'{"url": "no text"}', b'["not", "an object"]']
    with gzip.open(data, "wb") as f:
        f.write(b"\n".join(docs[:10] + bad + docs[10:]) + b"\n")
    out = tmp_path / "tok"
    assert main(["train", "--input", str(data), "--vocab-size", "400", "--out", str(out)]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents"] == len(docs) and stats["vocab_size"] == 400
    skipped = (stats["bad_json"], stats["invalid_utf8"], stats["missing_field"], stats["not_an_object"])
    assert skipped == (1, 1, 1, 1)

    capsys.readouterr()
    assert main(["encode", "--tokenizer", str(out), "--pieces", "Tom has 12 apples."]) == 0
    ids_line, pieces_line = capsys.readouterr().out.splitlines()
    assert json.loads(ids_line) == Tokenizer.load(out).encode("Tom has 12 apples.")
    assert "".join(json.loads(pieces_line)) == "Tom has 12 apples."


def test_bench_reports_figures():
    figures = bench_train(mb=0.05, vocab_size=300)
    assert figures["vocab_size"] == 300 and 0.04 < figures["mb"] < 0.06
    assert figures["train_s"] >= figures["merge_s"] > 0


def test_synthetic_text_is_seeded():
    assert synthetic_text(0.01, seed=5) == synthetic_text(0.01, seed=5) != synthetic_text(0.01, seed=6)
