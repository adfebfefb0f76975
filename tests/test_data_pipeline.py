"""The corpus pipeline of DeepSeekMath §2.1 (data_pipeline.py).

Unit tests on small hand-made inputs whose right answer is derived here by hand or by a naive
re-computation, then the whole pipeline on a scaled-down toy world scored against its labels."""
import gzip
import json
import random
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import data_pipeline as dp
from formats import load_benchmark

from conftest import DATA  # the benchmark-data folder: $BENCHMARK_DATA, else data/
ONE = dp.Common(workers=1, max_chars=10_000, seed=0, chunk=4)


def write_lines(path: Path, lines: list[bytes]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    return path


def doc_line(url, text) -> bytes:
    return json.dumps({"url": url, "text": text}).encode()


def read_gz(path) -> list[dict]:
    return [json.loads(line) for line in gzip.open(path, "rt")]


def balanced(stats: dict) -> bool:
    return stats["documents_in"] == stats["kept"] + sum(stats["dropped"].values())


# ----------------------------------------------------------------------------- reading documents

def test_bad_input_is_skipped_and_counted_by_reason(tmp_path):
    lines = [doc_line("u1", "good one"), b'{"url": "u2", "text": "cut', b'{"url": "u3", "text": "caf\xe9"}',
             doc_line("u4", "   "), doc_line("u5", "x" * 10_001), json.dumps({"text": "no url"}).encode(),
             json.dumps({"url": "u7"}).encode(), b"[1, 2]", b"", doc_line("u9", "good two")]
    path = write_lines(tmp_path / "pool.jsonl.gz", lines)
    stats = dp.StageStats("test")
    docs = list(dp.iter_documents([path], stats, max_chars=10_000))
    assert [d["url"] for d in docs] == ["u1", "u9"]
    assert stats.dropped == Counter(bad_json=1, invalid_utf8=1, empty_text=1, too_long=1, missing_field=2,
                                    not_an_object=1)
    stats.kept = len(docs)
    assert stats.documents_in == sum(1 for line in lines if line.strip())
    assert stats.documents_in == stats.kept + sum(stats.dropped.values())

    # a gzip cut short keeps what came before and counts the loss once
    whole = gzip.compress(b"\n".join(doc_line(f"v{i}", f"text {i} " * 50) for i in range(200)) + b"\n")
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[:len(whole) // 2])
    stats = dp.StageStats("test")
    docs = list(dp.iter_documents([tmp_path / "cut.jsonl.gz"], stats, max_chars=10_000))
    assert 0 < len(docs) < 200 and [d["url"] for d in docs] == [f"v{i}" for i in range(len(docs))]
    assert stats.dropped == Counter(truncated_gzip=1) and stats.documents_in == len(docs) + 1

    with pytest.raises(FileNotFoundError):
        list(dp.iter_documents([tmp_path / "missing.jsonl"], dp.StageStats("test"), 100))


def warc_record(headers: dict, body: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n"
                                    for k, v in {**headers, "Content-Length": len(body)}.items())
    return head.encode() + b"\r\n" + body + b"\r\n\r\n"


def test_common_crawl_wet_records(tmp_path):
    pages = [("https://a.org/x", "Théorème: 2 + 2 = 4\nsecond line"), ("https://b.com/y", "plain text")]
    members = [warc_record({"WARC-Type": "warcinfo"}, b"software: test\r\n")]
    members += [warc_record({"WARC-Type": "conversion", "WARC-Target-URI": url}, text.encode())
                for url, text in pages]
    members += [warc_record({"WARC-Type": "conversion", "WARC-Target-URI": "https://c.net/z"},
                            b"bad \xff byte"),
                b"garbage between records\r\n",
                warc_record({"WARC-Type": "conversion", "WARC-Target-URI": "https://d.io/w"}, b"after junk")]
    data = b"".join(gzip.compress(m) for m in members)  # one gzip member per record, as Common Crawl writes
    path = tmp_path / "CC-MAIN-test.warc.wet.gz"
    path.write_bytes(data)
    stats = dp.StageStats("test")
    docs = list(dp.iter_documents([path], stats, max_chars=10_000))
    assert [(d["url"], d["text"]) for d in docs] == pages + [("https://d.io/w", "after junk")]
    assert stats.dropped == Counter(invalid_utf8=1, bad_warc_record=1)
    assert stats.documents_in == 5  # the warcinfo record is not a document

    path.write_bytes(data[:-20])  # the last member cut short
    stats = dp.StageStats("test")
    assert len(list(dp.iter_documents([path], stats, max_chars=10_000))) == 2
    assert stats.dropped["truncated_gzip"] == 1


def test_stage_stats_refuse_an_unbalanced_account(tmp_path):
    stats = dp.StageStats("test", documents_in=3, kept=1, dropped=Counter(x=1))
    with pytest.raises(AssertionError):
        stats.write(tmp_path)
    stats.dropped["y"] += 1
    stats.write(tmp_path)
    assert json.loads((tmp_path / "stats.json").read_text())["dropped"] == {"x": 1, "y": 1}


# ----------------------------------------------------------------------------- recall cut-off

def test_select_top_keeps_the_best_ranked_pages_within_the_budget():
    scores = np.array([0.9, 0.3, 0.95, 0.6, 0.95], dtype=np.float32)
    tokens = np.array([10, 5, 20, 30, 5])
    assert dp.select_top(scores, tokens, 0.5, None).tolist() == [True, False, True, True, True]
    # ranked: #2 (20 tokens), #4 (5, tie broken by pool order), #0 (10) -> 35 tokens; #3 would make 65
    assert dp.select_top(scores, tokens, 0.5, 35).tolist() == [True, False, True, False, True]
    assert dp.select_top(scores, tokens, 0.92, 35).tolist() == [False, False, True, False, True]


# ----------------------------------------------------------------------------- domain rule

def test_domain_rule_adds_uncollected_pages_under_dense_math_paths(tmp_path):
    pool, collected = [], []
    for i in range(10):  # a.org: /math mostly collected, /news not: the domain is 8/20 = 40% collected
        pool.append(doc_line(f"https://a.org/math/algebra/p{i}.html", f"math page {i}"))
        pool.append(doc_line(f"https://a.org/news/today/n{i}.html", f"news page {i}"))
        if i < 8:
            collected.append(doc_line(f"https://a.org/math/algebra/p{i}.html", f"math page {i}"))
    for i in range(30):  # b.com: 2 of 30 collected (6.7%): not math-related
        pool.append(doc_line(f"https://b.com/math/p{i}.html", f"b page {i}"))
    collected += [doc_line(f"https://b.com/math/p{i}.html", f"b page {i}") for i in range(2)]
    seed = [doc_line("https://a.org/math/algebra/p9.html", "already a seed page")]
    paths = [write_lines(tmp_path / n, lines) for n, lines in
             [("pool.jsonl.gz", pool), ("collected.jsonl.gz", collected), ("seed.jsonl.gz", seed)]]
    stats = dp.domains([paths[0]], paths[1], [paths[2]], tmp_path / "out", dp.DomainConfig(), ONE)
    assert [d["url"] for d in read_gz(tmp_path / "out" / dp.ADDED)] == ["https://a.org/math/algebra/p8.html"]
    report = [json.loads(line) for line in open(tmp_path / "out" / dp.MATH_DOMAINS)]
    assert report == [{"domain": "https://a.org", "pages": 20, "collected": 8,
                       "math_paths": [{"path": "/math", "pages": 10, "collected": 8}]}]
    assert stats["dropped"] == {"collected": 10, "in_seed": 1, "outside_math_paths": 38} and balanced(stats)


# ----------------------------------------------------------------------------- dedup

def words_text(rng, n):
    names = ["alpha", "beta", "gamma", "delta", "sigma", "omega", "theta", "kappa", "lambda", "zeta", "rho",
             "tau", "phi", "chi", "psi"]
    return " ".join(rng.choice(names) + str(rng.randrange(40)) for _ in range(n))


def shingles(text, k=5):
    w = dp.words(text)
    return {tuple(w[i:i + k]) for i in range(len(w) - k + 1)}


def test_minhash_estimates_the_jaccard_similarity():
    rng = random.Random(0)
    a, b = dp.minhash_params(256, seed=1)
    base = words_text(rng, 300).split()
    for keep in (40, 150, 280):  # share a prefix of `keep` words, the rest differs
        other = base[:keep] + words_text(rng, 300 - keep).split()
        x, y = " ".join(base), " ".join(other)
        exact = len(shingles(x) & shingles(y)) / len(shingles(x) | shingles(y))
        estimate = (dp.minhash(dp.words(x), 5, a, b) == dp.minhash(dp.words(y), 5, a, b)).mean()
        assert abs(estimate - exact) < 0.1, (keep, exact, estimate)


def test_dedup_removes_url_exact_and_near_duplicates_only(tmp_path):
    rng = random.Random(1)
    a_text, b_text = words_text(rng, 200), words_text(rng, 200)
    near = a_text.split()
    near[100] = "changed"
    half = a_text.split()[:70] + words_text(rng, 130).split()  # Jaccard ~0.2 with A: a different page
    docs = [("https://x.org/a", a_text), ("https://x.org/b", b_text),
            ("https://mirror.net/a", "Mirror of x.org.\n" + " ".join(near)),
            ("https://x.org/a?utm=1", a_text.upper().replace(" ", "  ")),  # same words: exact duplicate
            ("https://x.org/b", "another text at a seen URL"), ("https://y.org/c", " ".join(half))]
    path = write_lines(tmp_path / "in.jsonl", [doc_line(u, t) for u, t in docs])
    stats = dp.dedup([path], tmp_path / "one", dp.DedupConfig(), ONE)
    kept = [d["url"] for d in read_gz(tmp_path / "one" / dp.DEDUPED)]
    assert kept == ["https://x.org/a", "https://x.org/b", "https://y.org/c"]
    removed = {r["url"]: (r["reason"], r["duplicate_of"])
               for r in map(json.loads, open(tmp_path / "one" / dp.REMOVED))}
    assert removed == {"https://mirror.net/a": ("near_duplicate", "https://x.org/a"),
                       "https://x.org/a?utm=1": ("exact_duplicate", "https://x.org/a"),
                       "https://x.org/b": ("duplicate_url", "https://x.org/b")}
    assert stats["dropped"] == {"near_duplicate": 1, "exact_duplicate": 1, "duplicate_url": 1}
    assert balanced(stats)
    # processes change nothing
    dp.dedup([path], tmp_path / "two", dp.DedupConfig(), dp.Common(workers=2, chunk=2))
    assert (tmp_path / "one" / dp.DEDUPED).read_bytes() == (tmp_path / "two" / dp.DEDUPED).read_bytes()
    with pytest.raises(ValueError):
        dp.dedup([path], tmp_path / "bad", dp.DedupConfig(num_perm=100, bands=16), ONE)


# ----------------------------------------------------------------------------- decontamination

def test_decontamination_removes_matching_segments(tmp_path):
    long_q = "A farmer has 17 sheep and buys 5 more each week; how many sheep after 3 weeks?"
    short_q = "Compute $\\dbinom{9}{8}$ quickly."  # 5 words: compute dbinom 9 8 quickly
    bench = tmp_path / "bench.jsonl"
    bench.write_text("\n".join(json.dumps(r) for r in [
        {"id": "q1", "question": long_q, "answer": "32"}, {"id": "q2", "question": short_q, "answer": "9"},
        {"id": "q3", "question": "Find x.", "answer": "1"}]) + "\n")
    docs = [("https://p/1", "Intro line.\nA FARMER has 17 sheep and buys 5 more\n"
                            "each week; how many sheep after 3 weeks?\nOutro."),
            ("https://p/2", "Warm-up: compute \\dbinom{9}{8} quickly!\nNext exercise."),
            # 9 words only
            ("https://p/3", "A farmer has 17 sheep and buys 5 more\nunrelated words follow here."),
            ("https://p/4", "We find x. Then we compute dbinom of 9."),
            ("https://p/5", long_q)]
    path = write_lines(tmp_path / "docs.jsonl", [doc_line(u, t) for u, t in docs])
    stats = dp.decontaminate([path], [bench], tmp_path / "seg", dp.DecontamConfig(), ONE)
    clean = {d["url"]: d["text"] for d in read_gz(tmp_path / "seg" / dp.CLEAN)}
    assert clean == {"https://p/1": "Intro line.\nOutro.", "https://p/2": "Next exercise.",
                     "https://p/3": docs[2][1], "https://p/4": docs[3][1]}
    removed = [json.loads(line) for line in open(tmp_path / "seg" / dp.REMOVED)]
    assert [(r["url"], r["line"], r["source"]) for r in removed] == [
        ("https://p/1", 1, "bench.jsonl:q1:question"), ("https://p/1", 2, "bench.jsonl:q1:question"),
        ("https://p/2", 0, "bench.jsonl:q2:question"), ("https://p/5", 0, "bench.jsonl:q1:question")]
    assert stats["dropped"] == {"contaminated_throughout": 1} and stats["segments_removed"] == 3
    assert balanced(stats)

    stats = dp.decontaminate([path], [bench], tmp_path / "doc", dp.DecontamConfig(remove="document"), ONE)
    assert [d["url"] for d in read_gz(tmp_path / "doc" / dp.CLEAN)] == ["https://p/3", "https://p/4"]
    assert stats["dropped"] == {"contaminated": 3}


@pytest.mark.skipif(not (DATA / "math" / "test4500.jsonl").exists(),
                    reason="needs the MATH test file under $BENCHMARK_DATA")
def test_decontamination_against_real_gsm8k_and_math(tmp_path):
    gsm8k = load_benchmark("gsm8k", data_dir=DATA)
    math = load_benchmark(DATA / "math" / "test4500.jsonl")
    docs = [("https://leak/1", f"Homework help\n{gsm8k[7]['question']}\nThanks!"),
            ("https://leak/2", f"Solution posted:\n{math[3]['solution']}"),
            ("https://clean/1", "Our bakery opens at nine and sells fresh bread every morning.")]
    path = write_lines(tmp_path / "docs.jsonl", [doc_line(u, t) for u, t in docs])
    stats = dp.decontaminate([path], ["gsm8k", "math:test4500"], tmp_path / "out", dp.DecontamConfig(), ONE,
                             DATA)
    touched = {json.loads(line)["url"] for line in open(tmp_path / "out" / dp.REMOVED)}
    assert touched == {"https://leak/1", "https://leak/2"} and stats["benchmark_ngrams"] > 100_000
    assert "Thanks!" in {d["url"]: d["text"] for d in read_gz(tmp_path / "out" / dp.CLEAN)}["https://leak/1"]


# ----------------------------------------------------------------------------- token shards

def test_token_shards_hold_every_document_and_eos(tmp_path):
    math = [f"Problem {i}: {i} + {i} = {2 * i}." for i in range(30)]
    general = [f"The weather on day {i} was mild." for i in range(20)]
    tok = dp.Tokenizer.train(math + general, 280)
    tok.save(tmp_path / "tok")
    sources = {"math": [write_lines(tmp_path / "m.jsonl.gz",
                                    [doc_line(f"m{i}", t) for i, t in enumerate(math)])],
               "general": [write_lines(tmp_path / "g.jsonl",
                                       [json.dumps({"text": t}).encode() for t in general])]}
    stats = dp.tokenize(sources, {"math": 0.56, "general": 0.14}, tmp_path / "tok", tmp_path / "shards",
                        dp.TokenizeConfig(shard_tokens=64), dp.Common(workers=2, chunk=8))
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert manifest["dtype"] == "uint16" and manifest["eos_id"] == tok.eos_id
    for name, texts in (("math", math), ("general", general)):
        expected = [i for text in texts for i in tok.encode(text) + [tok.eos_id]]
        arrays = [np.load(tmp_path / "shards" / s, mmap_mode="r")
                  for s in manifest["sources"][name]["shards"]]
        assert all(a.dtype == np.uint16 and len(a) <= 64 for a in arrays) and len(arrays) > 1
        assert np.concatenate(arrays).tolist() == expected
        assert manifest["sources"][name]["tokens"] == len(expected)
        assert manifest["sources"][name]["documents"] == len(texts)
    assert manifest["sources"]["math"]["weight"] == pytest.approx(0.8)
    assert stats["kept"] == 50 and balanced(stats)
    with pytest.raises(ValueError):
        dp.tokenize(sources, {"math": 1.0}, tmp_path / "tok", tmp_path / "x", dp.TokenizeConfig(), ONE)
    empty = {"math": [write_lines(tmp_path / "none.jsonl", [b"{broken"])]}  # nothing collected: said at once
    with pytest.raises(ValueError, match="'math' has no documents"):
        dp.tokenize(empty, {"math": 1.0}, tmp_path / "tok", tmp_path / "y", dp.TokenizeConfig(), ONE)


def test_command_line_rejects_bad_flags(capsys):
    with pytest.raises(SystemExit) as exit_:
        dp.main(["recall", "--help"])
    assert exit_.value.code == 0 and "--token-budget" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        dp.main(["dedup", "--input", "x.jsonl", "--out", "o", "--bands", "many"])
    assert exit_.value.code == 2
    with pytest.raises(ValueError):
        dp.parse_mix("math=lots", {"math": []})


# ----------------------------------------------------------------------------- flags: every bound checked

@pytest.mark.parametrize("command, flag_value, message", [
    ("tokenize", ["--shard-tokens", "0"], "argument --shard-tokens: must be >= 1, got 0"),
    ("tokenize", ["--shard-tokens", "-5"], "argument --shard-tokens: must be >= 1, got -5"),
    ("dedup", ["--shingle", "0"], "argument --shingle: must be >= 1, got 0"),
    ("dedup", ["--num-perm", "0"], "argument --num-perm: must be >= 1, got 0"),
    ("dedup", ["--jaccard", "5"], "argument --jaccard: must be <= 1.0, got 5"),
    ("dedup", ["--jaccard", "0"], "argument --jaccard: must be > 0.0, got 0"),
    ("dedup", ["--max-chars", "-1"], "argument --max-chars: must be >= 1, got -1"),
    ("dedup", ["--workers", "0"], "argument --workers: must be >= 1, got 0"),
    ("recall", ["--min-score", "2"], "argument --min-score: must be <= 1.0, got 2"),
    ("recall", ["--token-budget", "0"], "argument --token-budget: must be >= 1, got 0"),
    ("classify", ["--epoch", "0"], "argument --epoch: must be >= 1, got 0"),
    ("classify", ["--lr", "0"], "argument --lr: must be > 0.0, got 0"),
    ("classify", ["--holdout", "0.9"], "argument --holdout: must be <= 0.5, got 0.9"),
    ("domains", ["--domain-fraction", "1.5"], "argument --domain-fraction: must be <= 1.0, got 1.5"),
    ("domains", ["--path-min-pages", "0"], "argument --path-min-pages: must be >= 1, got 0"),
    ("iterate", ["--iterations", "0"], "argument --iterations: must be >= 1, got 0"),
    ("decontaminate", ["--ngram", "0"], "argument --ngram: must be >= 1, got 0"),
    ("decontaminate", ["--remove", "page"], "argument --remove: invalid choice: 'page'"),
])
def test_every_numeric_flag_is_checked_at_parse_time(command, flag_value, message, capsys):
    inputs = {"tokenize": ["--tokenizer", "t", "--source", "math=m.jsonl"], "dedup": ["--input", "x.jsonl"],
              "recall": ["--pool", "p.jsonl", "--model", "m.bin"],
              "classify": ["--pool", "p", "--seed-corpus", "s"],
              "domains": ["--pool", "p", "--seed-corpus", "s", "--collected", "c"],
              "iterate": ["--pool", "p", "--seed-corpus", "s"],
              "decontaminate": ["--input", "x", "--bench", "b"]}
    with pytest.raises(SystemExit) as exit_:
        dp.main([command, *inputs[command], "--out", "o", *flag_value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_configs_built_in_code_are_checked_as_the_command_line_is(tmp_path):
    with pytest.raises(ValueError, match=r"--shard-tokens must be >= 1, got 0"):
        dp.tokenize({}, {}, tmp_path / "tok", tmp_path / "out", dp.TokenizeConfig(shard_tokens=0), ONE)
    with pytest.raises(ValueError, match=r"--jaccard must be <= 1.0, got 5"):
        dp.dedup([], tmp_path / "out", dp.DedupConfig(jaccard=5.0), ONE)


def test_a_truncated_fasttext_model_is_refused(tmp_path):
    rng = random.Random(0)
    vocab = {dp.LABEL_MATH: "integer prime sum equation root proof lemma solve".split(),
             dp.LABEL_OTHER: "cake bread sugar football music travel film song".split()}
    lines = [f"{label} " + " ".join(rng.choice(vocab[label]) for _ in range(12))
             for _ in range(1000) for label in vocab]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    cfg = dp.ClassifyConfig(dim=16, epoch=5, bucket=1000, min_count=1, word_ngrams=2)
    dp.train_fasttext(tmp_path / "train.txt", tmp_path / "whole.bin", cfg, seed=0)
    model = dp.load_fasttext(tmp_path / "whole.bin")  # a whole model loads and separates the two
    assert dp.math_probability(model, ["prime sum equation", "cake and music"]).round().tolist() == [1.0, 0.0]
    data = (tmp_path / "whole.bin").read_bytes()
    for cut in (len(data) // 2, len(data) - 4):  # fasttext itself loads both without a word
        (tmp_path / "cut.bin").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.bin: not a complete fastText model"):
            dp.load_fasttext(tmp_path / "cut.bin")


# ----------------------------------------------------------------------------- WARC / HTML input

def http_response(url: str, html: str, status="200 OK", content_type="text/html; charset=utf-8",
                  payload: bytes | None = None, headers: str = "") -> bytes:
    payload = html.encode() if payload is None else payload
    http = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{headers}"
            f"Content-Length: {len(payload)}\r\n\r\n")
    return warc_record({"WARC-Type": "response", "WARC-Target-URI": url,
                        "Content-Type": "application/http; msgtype=response"}, http.encode() + payload)


def chunks(data: bytes) -> bytes:
    """HTTP/1.1 chunked transfer encoding, in two chunks."""
    half = len(data) // 2
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (data[:half], data[half:])) + b"0\r\n\r\n"


def warc_file(path: Path, records: list[bytes]) -> Path:
    path.write_bytes(b"".join(gzip.compress(r) for r in records))  # one gzip member per record
    return path


FORUM_THREAD = """<html><head><title>Sum of squares - Math Forum</title>
<script type="text/javascript">window.MathJax = {tex2jax: {inlineMath: [['$','$']]}};</script></head>
<body><nav><a href="/">Home</a> | <a href="/questions">Questions</a> | <a href="/login">Log in</a></nav>
<div id="question"><h1>Which integers are sums of two squares?</h1>
<p>For which $n$ does <script type="math/tex">n = a^2 + b^2</script> have a solution? I tried:</p>
<script type="math/tex; mode=display">\\sum_{k=1}^{n} k^2 = \\frac{n(n+1)(2n+1)}{6}</script>
<ol><li>small cases by hand</li><li>primes of the form 4k+1</li></ol></div>
<div class="answer"><p>Fermat: an odd prime is a sum of two squares iff
<span class="katex"><span class="katex-mathml"><math><semantics><mrow><mi>p</mi></mrow>
<annotation encoding="application/x-tex">p \\equiv 1 \\pmod 4</annotation></semantics></math></span>
<span class="katex-html" aria-hidden="true"><span class="base">p≡1(mod4)</span></span></span>.</p>
<p>See also <math display="block"><semantics><mi>x</mi>
<annotation encoding="application/x-tex">x^2+y^2=z^2</annotation></semantics></math>
and \\(e^{i\\pi} + 1 = 0\\), or $$\\int_0^1 x\\,dx = \\tfrac12$$.</p></div>
<footer>Copyright 2024 Math Forum. All rights reserved. Terms | Privacy</footer></body></html>"""


def test_warc_html_responses_keep_their_latex(tmp_path):
    chinese = "<html><body><article><p>小明有3个苹果，又买了5个。他现在有几个苹果？</p></article></body></html>"
    records = [warc_record({"WARC-Type": "warcinfo"}, b"software: test\r\n"),
               warc_record({"WARC-Type": "request", "WARC-Target-URI": "https://mo.org/q/1"},
                           b"GET /q/1 HTTP/1.1\r\n"),
               http_response("https://mo.org/q/1", FORUM_THREAD),
               http_response("https://zh.example.cn/a", chinese),
               http_response("https://mo.org/gone", "<html>gone</html>", status="404 Not Found"),
               http_response("https://mo.org/logo.png", "PNG", content_type="image/png"),
               http_response("https://mo.org/empty", "<html><body></body></html>"),
               # as another crawler writes it: gzip-compressed, then sent in two chunks; and a broken gzip
               http_response("https://wget.example/p", "", payload=chunks(gzip.compress((
                   "<html><body><p>Sent in chunks: <script type='math/tex'>x_1</script></p>"
                   "</body></html>").encode())),
                   headers="Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
               http_response("https://wget.example/d", "", payload=zlib.compress(b"<p>deflated</p>"),
                             headers="Content-Encoding: deflate\r\n"),
               http_response("https://wget.example/bad", "", payload=b"not gzip",
                             headers="Content-Encoding: gzip\r\n")]
    path = warc_file(tmp_path / "CC-MAIN-test.warc.gz", records)
    stats = dp.StageStats("test")
    docs = list(dp.iter_documents([path], stats, max_chars=10_000))
    assert [d["url"] for d in docs] == ["https://mo.org/q/1", "https://zh.example.cn/a",
                                        "https://wget.example/p", "https://wget.example/d"]
    assert [d["text"] for d in docs[2:]] == ["Sent in chunks: $x_1$", "deflated"]
    text = docs[0]["text"]
    for latex in ["$n = a^2 + b^2$", "$$\\sum_{k=1}^{n} k^2 = \\frac{n(n+1)(2n+1)}{6}$$",
                  "$p \\equiv 1 \\pmod 4$", "$$x^2+y^2=z^2$$", "\\(e^{i\\pi} + 1 = 0\\)",
                  "$$\\int_0^1 x\\,dx"]:
        assert latex in text, latex
    assert "p≡1(mod4)" not in text  # KaTeX's rendered copy is not kept twice
    assert "1. small cases by hand\n" in text.replace("  ", "")
    assert "Log in" not in text and "Copyright" not in text
    assert docs[1]["text"] == "小明有3个苹果，又买了5个。他现在有几个苹果？"
    assert stats.dropped == Counter(http_status=1, not_html=1, empty_text=1, bad_http_encoding=1)
    assert stats.documents_in == 8

    # the extract stage (parallel) gives the same pages
    out = dp.extract([path], tmp_path / "extract", dp.Common(workers=2, chunk=1, max_chars=10_000))
    assert read_gz(tmp_path / "extract" / dp.PAGES) == docs and balanced(out) and out["kept"] == 4


def test_an_input_that_yields_nothing_is_an_error_naming_it(tmp_path):
    requests = warc_file(tmp_path / "requests.warc.gz", [
        warc_record({"WARC-Type": "request", "WARC-Target-URI": "https://a.org/"}, b"GET / HTTP/1.1\r\n")])
    with pytest.raises(ValueError, match=r"requests.warc.gz: no documents read.*'request': 1"):
        list(dp.iter_documents([requests], dp.StageStats("t"), 100))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="empty.jsonl: no documents read"):
        dp.dedup([tmp_path / "empty.jsonl"], tmp_path / "out", dp.DedupConfig(), ONE)


# ----------------------------------------------------------------------------- benchmarks by name, CJK

def test_benchmarks_are_found_by_name_or_path_with_a_clear_error(tmp_path):
    (tmp_path / "math").mkdir()
    row = {"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$."}
    (tmp_path / "math" / "test4500.jsonl").write_text(json.dumps(row) + "\n")  # not test.jsonl
    assert [r["answer"] for r in load_benchmark("math", data_dir=tmp_path)] == ["2"]
    assert [r["answer"] for r in load_benchmark(tmp_path / "math")] == ["2"]  # a folder of JSONL files
    with pytest.raises(FileNotFoundError, match=r"'gsm8k'.*gsm8k/test.jsonl.*gsm8k/test\*.jsonl"):
        load_benchmark("gsm8k", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere.jsonl"):
        load_benchmark(tmp_path / "nowhere.jsonl")


def test_decontamination_against_agieval_and_cmath_folders(tmp_path):
    """AGIEval is a folder of one JSONL per task whose rows carry a passage and options (no gradable answer
    field load_benchmark knows); CMATH's Chinese questions are matched by characters."""
    (tmp_path / "agieval").mkdir()
    (tmp_path / "cmath").mkdir()
    options = ["(A)The committee approved the budget after a long debate",
               "(B)None of the council members voted"]
    passage = ("In 1998 the city council of Springfield decided to rebuild the old harbour bridge over the "
               "river.")
    (tmp_path / "agieval" / "lsat-lr.jsonl").write_text(json.dumps(
        {"passage": passage, "question": "Which one of the following is most strongly supported?",
         "options": options, "label": "A"}) + "\n")
    (tmp_path / "agieval" / "sat-en.jsonl").write_text(json.dumps({"passage": None,
                                                                   "question": "Which choice?",
                                                                   "options": ["(A)yes", "(B)no"]}) + "\n")
    cmath = "学校图书馆有故事书120本，科技书比故事书少30本，科技书有多少本？"
    (tmp_path / "cmath" / "cmath_test.jsonl").write_text(json.dumps({"id": 7, "question": cmath,
                                                                     "golden": "90"},
                                                                    ensure_ascii=False) + "\n")
    docs = [("https://exam.example/1", f"Practice set\n{passage}\nGood luck"),
            ("https://exam.example/2",
             "Answer choices:\nthe committee approved the budget after a long debate!"),
            ("https://zh.example/1", f"练习：{cmath}"),
            ("https://zh.example/2", "学校图书馆今天开门，欢迎同学们来看书。")]
    path = write_lines(tmp_path / "docs.jsonl", [json.dumps({"url": u, "text": t},
                                                            ensure_ascii=False).encode()
                                                 for u, t in docs])
    stats = dp.decontaminate([path], ["agieval", "cmath"], tmp_path / "out", dp.DecontamConfig(), ONE,
                             tmp_path)
    sources = {json.loads(line)["url"]: json.loads(line)["source"]
               for line in open(tmp_path / "out" / dp.REMOVED)}
    assert sources == {"https://exam.example/1": "agieval:0:passage",
                       "https://exam.example/2": "agieval:0:options",
                       "https://zh.example/1": "cmath:7:question"}
    assert stats["benchmark_rows"] == 3 and stats["dropped"] == {"contaminated_throughout": 1}  # zh/1
    assert stats["documents_cleaned"] == 2 and balanced(stats)


def test_match_words_split_cjk_into_characters_and_ignore_form():
    words = ["tom", "s", "3", "apples", "cost", "4", "50", "été"]
    assert dp.match_words("Tom's 3 apples cost $4.50; ÉTÉ!") == words
    assert dp.match_words("小明有3个苹果") == ["小", "明", "有", "3", "个", "苹", "果"]
    assert dp.words("小明有3个苹果。") == ["小", "明", "有", "3", "个", "苹", "果", "。"]  # classifier, dedup
    assert dp.match_words("ＡＢＣ　１２３") == dp.match_words("abc 123") == ["abc", "123"]  # full-width forms
    assert not dp.informative("such that a 2 b 2 c 2 d 2".split(), 3)
    assert not dp.informative([str(i) for i in range(1, 11)], 3)
    assert dp.informative("how many apples does she have left 3 4".split(), 3)


def test_decontamination_of_real_looking_pages(tmp_path):
    """Leaks are removed however they were copied; calendars, numbered lists, everyday formulas and a
    Chinese page that share only numbers and one-letter variables with the benchmark are not touched."""
    gsm = ("Janet has 16 ducks that lay eggs every morning. She sells the rest for $2 each. How much does "
           "she make?")
    counting = "How many of the numbers 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 are prime?"
    solution = ("The primes are 2, 3, 5, 7 and 11, while 10 11 12 13 14 15 16 17 18 19 20 are the teens, "
                "so the answer is \\boxed{5}.")
    formula = "Find all integers such that $a^2+b^2=c^2+d^2$ and $a+b+c+d=20$ holds."
    cmath = "小明有3个苹果，妈妈又给了他5个苹果，他现在一共有几个苹果？"
    bench = write_lines(tmp_path / "bench.jsonl", [json.dumps(r, ensure_ascii=False).encode() for r in [
        {"id": "gsm", "question": gsm, "answer": "#### 32"},
        {"id": "count", "problem": counting, "solution": solution},
        {"id": "formula", "problem": formula, "solution": "No gradable answer here."},
        {"id": "cmath", "question": cmath, "golden": "8"}]])
    calendar = "March 2024\nMon Tue Wed Thu Fri Sat Sun\n" + "\n".join(
        " ".join(str(d) for d in range(w * 7 + 1, min(w * 7 + 8, 32))) for w in range(5))
    numbered = "Top 20 hiking trails\n" + "\n".join(f"{i}. Trail number {i}" for i in range(1, 21))
    everyday = "Pythagoras, and a fun fact: numbers with a^2 + b^2 = c^2 + d^2 are called taxicab-like."
    chinese_clean = "小明今天去公园玩，他看见了很多花和小鸟，天气非常好。"
    forum = ("Re: homework help\nposted by user123\nHi all, my teacher gave us this one:\n"
             + "JANET HAS 16 DUCKS that lay eggs   every morning.  She sells the rest, for 2$ each!\n"
             + "How much does she make?? Thanks in advance.")
    docs = [("https://cal.example/march", calendar), ("https://hike.example/top", numbered),
            ("https://fun.example/math", everyday), ("https://zh.example/park", chinese_clean),
            ("https://forum.example/t/1", forum),
            ("https://leak.example/count", f"Warm-up\n{counting.upper()}\nGood luck"),
            # its last line holds weak n-grams only
            ("https://leak.example/formula", "Intro\nfind all integers, such that\n"
                                             "$$a^2 + b^2 = c^2 + d^2$$\nand a+b+c+d = 20 HOLDS"),
            ("https://zh.example/leak", f"今天的题目：\n{cmath.replace('，', ', ')}\n答案明天公布。")]
    path = write_lines(tmp_path / "docs.jsonl", [json.dumps({"url": u, "text": t},
                                                            ensure_ascii=False).encode()
                                                 for u, t in docs])
    stats = dp.decontaminate([path], [bench], tmp_path / "out", dp.DecontamConfig(), ONE)
    removed = [json.loads(line) for line in open(tmp_path / "out" / dp.REMOVED)]
    touched = {r["url"] for r in removed}
    assert touched == {u for u, _ in docs if "leak" in u or "forum" in u}, removed
    clean = {d["url"]: d["text"] for d in read_gz(tmp_path / "out" / dp.CLEAN)}
    assert clean["https://forum.example/t/1"] == ("Re: homework help\nposted by user123\n"
                                                  "Hi all, my teacher gave us this one:")
    assert clean["https://zh.example/leak"] == "今天的题目：\n答案明天公布。"
    assert clean["https://leak.example/count"] == "Warm-up\nGood luck"
    assert clean["https://leak.example/formula"] == "Intro"
    assert stats["benchmark_rows"] == 4 and stats["benchmark_ngrams_weak"] > 0 and balanced(stats)

    # a benchmark line that cannot be read is an error: its leaks would stay in the corpus
    broken = write_lines(tmp_path / "broken.jsonl",
                         [json.dumps({"question": gsm}).encode(), b'{"question": "cut'])
    with pytest.raises(ValueError, match=r"broken.jsonl: 1 lines could not be read \({'bad_json': 1}\)"):
        dp.decontaminate([path], [broken], tmp_path / "bad", dp.DecontamConfig(), ONE)


# ----------------------------------------------------------------------------- domain rule, real URL shapes

def test_domain_rule_on_real_url_shapes(tmp_path):
    pool, collected = [], []

    def page(url, hit):
        pool.append(doc_line(url, f"page {url}"))
        if hit:
            collected.append(doc_line(url, f"page {url}"))

    for i in range(5):  # a recipe site with one recalled page (20%): too few to be a math domain
        page(f"https://recipes.example/cakes/c{i}", i == 0)
    for i in range(20):  # a problem archive: the id is the page (/problem=N); 15 of 20 recalled
        page(f"https://euler.example/problem={i}", i < 15)
    for i in range(12):  # a forum: /viewtopic.php?t=N; 9 of 12 recalled
        page(f"https://forum.example/viewtopic.php?t={i}&start=0", i < 9)
    for i in range(24):  # a blog in year folders (2 posts per month): 18 of 24 recalled; and an about page
        page(f"https://blog.example/{2019 + i // 12}/{i % 12 + 1:02d}/post-{i}", i < 18)
    page("https://blog.example/about/me", False)
    paths = [write_lines(tmp_path / n, lines or [doc_line("https://seed.example/0", "seed")]) for n, lines in
             [("pool.jsonl", pool), ("collected.jsonl", collected + [b'{"url": "cut']), ("seed.jsonl", [])]]
    stats = dp.domains([paths[0]], paths[1], [paths[2]], tmp_path / "out", dp.DomainConfig(), ONE)
    report = {r["domain"]: [p["path"] for p in r["math_paths"]]
              for r in map(json.loads, open(tmp_path / "out" / dp.MATH_DOMAINS))}
    assert report == {"https://euler.example": ["/problem="], "https://forum.example": ["/viewtopic.php?t="],
                      "https://blog.example": ["/<n>"]}
    added = {d["url"] for d in read_gz(tmp_path / "out" / dp.ADDED)}
    assert added == ({f"https://euler.example/problem={i}" for i in range(15, 20)}
                     | {f"https://forum.example/viewtopic.php?t={i}&start=0" for i in range(9, 12)}
                     | {f"https://blog.example/{2019 + i // 12}/{i % 12 + 1:02d}/post-{i}"
                        for i in range(18, 24)})
    assert stats["collected_unreadable"] == {"bad_json": 1} and balanced(stats)  # the broken line is counted


# ----------------------------------------------------------------------------- run: WARC in, corpus out

def test_run_end_to_end_on_a_warc_pool(tmp_path):
    rng = random.Random(0)
    math_words = "prime integer equation divisor polynomial theorem proof lemma root modulo".split()
    other_words = "recipe football weather concert holiday garden fashion movie travel coffee".split()
    leak = ("A farmer has 17 sheep and buys 5 more each week; how many sheep does the farmer have after 3 "
            "weeks?")

    def body(vocab, n=40):
        return " ".join(rng.choice(vocab) for _ in range(n))

    records, seed = [], []
    for i in range(150):
        extra = f"<p>{leak}</p>" if i == 7 else ""
        records.append(http_response(f"https://mathforum.example/questions/{i}/q", (
            f"<html><body><article><h1>Question {i}</h1><p>{body(math_words)} "
            f"<script type=\"math/tex\">x^{i % 9 + 2} + {i} = 0</script></p>{extra}"
            f"</article></body></html>")))
        records.append(http_response(f"https://news.example/story/{i}", f"<html><body><article><p>"
                                     f"{body(other_words)}</p></article></body></html>"))
        seed.append(doc_line(f"https://seed.example/{i}", body(math_words)))
    pool = warc_file(tmp_path / "CC-MAIN-pool.warc.gz", records)
    seed_path = write_lines(tmp_path / "seed.jsonl", seed)
    bench = write_lines(tmp_path / "bench.jsonl",
                        [json.dumps({"id": "q1", "question": leak, "answer": "32"}).encode()])
    code = dp.main(["run", "--pool", str(pool), "--seed-corpus", str(seed_path), "--bench", str(bench),
                    "--out", str(tmp_path / "run"), "--workers", "2", "--iterations", "1", "--dim", "16",
                    "--bucket", "10000", "--epoch", "10", "--min-count", "1"])
    assert code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["extract"]["kept"] == 300 and summary["dedup"]["documents_in"] == 300
    corpus = {d["url"]: d["text"] for d in read_gz(tmp_path / "run" / "decontaminate" / dp.CLEAN)}
    assert {u for u in corpus if "mathforum" in u} == {f"https://mathforum.example/questions/{i}/q"
                                                       for i in range(150)}
    assert not any("news" in u for u in corpus)
    assert "$x^2 + 9 = 0$" in corpus["https://mathforum.example/questions/9/q"]
    assert "farmer" not in corpus["https://mathforum.example/questions/7/q"]
    assert summary["decontaminate"]["segments_removed"] == 1


# ----------------------------------------------------------------------------- the toy world, end to end

# a scaled-down world (the default is 20k pages) so that the test stays well under a minute of pipeline
TOY = ["--seed", "0", "--pages", "8000", "--domains", "80", "--seed-pages", "800", "--general-docs", "300",
       "--train-size", "400", "--test-size", "200", "--near-dups", "100", "--exact-dups", "20",
       "--leaks", "20"]
# the paper's fastText settings except the epochs: the toy seed is ~600x smaller than the paper's 500K
PIPELINE = ["--workers", "2", "--bucket", "200000", "--epoch", "10", "--shard-tokens", "100000",
            "--min-score", "0.6"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    toy_data = pytest.importorskip("toy_data")
    world = tmp_path_factory.mktemp("toy")
    toy_data.main(["--out", str(world / "world"), *TOY])
    w, out = world / "world", world / "run"
    texts = [json.loads(line)["text"] for line in gzip.open(w / "general.jsonl.gz")]
    dp.Tokenizer.train(texts, 512).save(world / "tok")
    code = dp.main(["run", "--pool", str(w / "pool.jsonl.gz"), "--seed-corpus", str(w / "seed.jsonl.gz"),
                       "--bench", str(w / "bench_test.jsonl"), "--labels", str(w / "labels.jsonl"),
                       "--tokenizer", str(world / "tok"), "--source", f"general={w / 'general.jsonl.gz'}",
                       "--mix", "math=0.56,general=0.44", "--out", str(out), *PIPELINE])
    assert code == 0
    labels = {rec["url"]: rec for rec in map(json.loads, open(w / "labels.jsonl"))}
    return w, out, labels


def test_toy_corpus_matches_the_ground_truth(toy):
    world, out, labels = toy
    pool = {d["url"] for d in read_gz(out / "dedup" / dp.DEDUPED)}
    math = {u for u in pool if labels[u]["is_math"]}
    corpus = {d["url"] for d in read_gz(out / "decontaminate" / dp.CLEAN)}
    precision, recall = len(corpus & math) / len(corpus), len(corpus & math) / len(math)
    assert precision >= 0.95 and recall >= 0.90, (precision, recall)
    rows = [json.loads(line) for line in open(out / "iterate" / "iterations.jsonl")]
    first = {d["url"] for d in read_gz(out / "iterate" / "iteration1" / "recall" / dp.COLLECTED)}
    assert rows[0]["recall"] == round(len(first & math) / len(math), 4)
    # the domain rule at work: the seed lacks forum threads, the first classifier misses them
    assert rows[-1]["recall"] >= rows[0]["recall"] + 0.2 and rows[0]["added_to_seed"] > 0
    assert json.loads((out / "summary.json").read_text())["toy"]["precision"] == round(precision, 4)


def test_toy_negatives_exclude_only_math_domain_collections(toy):
    """Iteration 2's negatives may not be pages iteration 1 collected on math-related domains, and may
    be the ones it collected elsewhere (its false positives, e.g. docs of numeric libraries)."""
    world, out, labels = toy
    first = out / "iterate" / "iteration1"
    collected = {d["url"] for d in read_gz(first / "recall" / dp.COLLECTED)}
    math_domains = {r["domain"] for r in map(json.loads, open(first / "domains" / dp.MATH_DOMAINS))}
    trusted = {u for u in collected if dp.url_parts(u, 0)[0] in math_domains}
    stats = json.loads((out / "iterate" / "iteration2" / "classify" / "stats.json").read_text())
    assert stats["dropped"]["trusted"] == len(trusted) < len(collected)
    assert any(not labels[u]["is_math"] for u in collected - trusted)


def test_toy_dedup_removes_planted_duplicates_and_no_clean_page(toy):
    world, out, labels = toy
    removed = {r["url"] for r in map(json.loads, open(out / "dedup" / dp.REMOVED))}
    pool = dp.iter_documents([world / "pool.jsonl.gz"], dp.StageStats("t"), 10**6)
    text = {d["url"]: d["text"] for d in pool}
    planted = {u: r["duplicate_of"] for u, r in labels.items() if r["duplicate_of"]}
    near = {u: original for u, original in planted.items() if text[u] != text[original]}
    assert len(near) >= 90  # the world's 100, less a few whose original is itself a copy's original
    # one page of each planted pair goes (whichever comes second in the pool)
    assert sum(u in removed or original in removed for u, original in near.items()) >= 0.95 * len(near)
    # and every exact copy
    assert all(u in removed or original in removed for u, original in planted.items() if u not in near)
    assert not removed - set(planted) - set(planted.values()), "a page outside every planted pair was removed"


def test_toy_decontamination_cleans_every_leak(toy):
    world, out, labels = toy
    removed = [json.loads(line) for line in open(out / "decontaminate" / dp.REMOVED)]
    corpus = read_gz(out / "iterate" / dp.CORPUS)
    leaks = {d["url"]: labels[d["url"]]["leaked_from"] for d in corpus if labels[d["url"]]["leaked_from"]}
    bench = {r["id"]: r for r in map(json.loads, open(world / "bench_test.jsonl"))}
    assert leaks
    clean = {d["url"]: d["text"] for d in read_gz(out / "decontaminate" / dp.CLEAN)}
    for url, test_id in leaks.items():  # the leaked question and its solution are gone from the page
        rest = dp.words(clean.get(url, ""), symbols=False)
        for field in ("question", "solution"):
            leaked = dp.words(bench[test_id][field], symbols=False)
            assert not any(rest[i:i + len(leaked)] == leaked for i in range(len(rest))), (url, field)
    # the toy world promises that clean pages share no 10-gram with the test set and hold no whole test
    # text of 3-9 words (a one-step solution): nothing may be removed from them
    assert all(labels[r["url"]]["leaked_from"] for r in removed), [r for r in removed
                                                                   if not labels[r["url"]]["leaked_from"]][:3]


def test_toy_stages_account_for_every_document(toy):
    world, out, labels = toy
    stats = [json.loads(p.read_text()) for p in sorted(out.rglob("stats.json"))]
    assert len(stats) >= 4 + 3 * 2 and all(balanced(s) for s in stats)
    pool_lines = sum(1 for line in gzip.open(world / "pool.jsonl.gz") if line.strip())
    dedup = json.loads((out / "dedup" / "stats.json").read_text())
    assert dedup["documents_in"] == pool_lines and dedup["dropped"]["bad_json"] == 2
    manifest = json.loads((out / "tokens" / "manifest.json").read_text())
    assert manifest["sources"]["math"]["documents"] == json.loads(
        (out / "decontaminate" / "stats.json").read_text())["kept"]
    assert manifest["sources"]["general"]["weight"] == pytest.approx(0.44)


def test_toy_same_seed_same_corpus(toy, tmp_path):
    """Every stage is deterministic: re-running iteration 1 and dedup (with one process instead of
    two) gives byte-identical files."""
    world, out, labels = toy
    common = dp.Common(workers=1, seed=0)
    cfg = dp.ClassifyConfig(bucket=200000, epoch=10)
    pool, first = [out / "dedup" / dp.DEDUPED], out / "iterate" / "iteration1"
    dp.classify([world / "seed.jsonl.gz"], pool, tmp_path / "classify", cfg, common)
    assert (tmp_path / "classify" / dp.MODEL).read_bytes() == (first / "classify" / dp.MODEL).read_bytes()
    dp.recall(pool, tmp_path / "classify" / dp.MODEL, tmp_path / "recall", dp.RecallConfig(min_score=0.6),
              common)
    assert (tmp_path / "recall" / dp.COLLECTED).read_bytes() == (first / "recall" / dp.COLLECTED).read_bytes()
    dp.dedup([world / "pool.jsonl.gz"], tmp_path / "dedup", dp.DedupConfig(), common)
    assert (tmp_path / "dedup" / dp.DEDUPED).read_bytes() == (out / "dedup" / dp.DEDUPED).read_bytes()
