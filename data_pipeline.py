"""The math-corpus collection of DeepSeekMath §2.1 (subcommands of `python data_pipeline.py`).

DeepSeekMath §2.1 builds its 120B-token math corpus from Common Crawl in a loop:

  1. classify   fastText (dim 256, lr 0.1, wordNgrams 3, minCount 3, epoch 3) trained on 500K seed pages
                (OpenWebMath) as positives and 500K random web pages as negatives;
  2. recall     score every page of the (deduplicated) pool, keep the top-ranked (40B tokens in round 1);
  3. domains    a domain (base URL) with over 10% of its pages collected is math-related; its math URL
                paths (hand-annotated in the paper, e.g. mathoverflow.net/questions; a rule here) add their
                uncollected pages to the seed;
  4. iterate    repeat 1-3 (four iterations; 98% of the data was already collected in the third);
  5. dedup      URL-based duplicates and near-duplicates removed (before recall, as the paper recalls from
                deduplicated Common Crawl);
  6. decontaminate  any text segment containing a 10-gram that exactly matches a benchmark text (GSM8K,
                MATH, CMATH, AGIEval) is removed; benchmark texts of 3-9 grams are matched whole;
  7. tokenize   token shards with the pre-training mixture (56% math corpus in the 7B run).

Input: JSONL / JSONL.gz of {url, text}, Common Crawl WET files, or WARC files of HTML responses, whose text is
extracted keeping the LaTeX of MathJax / KaTeX pages (formats.py reads them all; webdocs.py holds the reading,
the word split, the HTML extraction and the parallel map every stage uses). Every stage streams documents,
works in `--workers` processes and writes its outputs plus a stats.json in which documents_in = kept +
sum(dropped by reason): bad input is skipped and counted, never silently lost.

    python data_pipeline.py run --pool pool.jsonl.gz --seed-corpus seed.jsonl.gz --bench gsm8k math \
        --data-dir DATA --tokenizer runs/tok --source general=general.jsonl.gz \
        --mix math=0.56,general=0.44 --out runs/corpus
    python data_pipeline.py <stage> --help    # extract, classify, recall, domains, iterate, dedup,
                                              # decontaminate, tokenize

The tokenizer lives in tokenizer.py and is re-exported here (`from data_pipeline import Tokenizer` stays
light: fasttext is imported only inside the functions that need it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from tqdm import tqdm

from flags import add_flags, check_ranges, config_from, flag, run_cli
from formats import (BENCH_TEXT_FIELDS, BENCHMARK_FILES, benchmark_rows, read_documents, read_jsonl,
                     write_jsonl)
from tokenizer import Tokenizer  # noqa: F401 (re-exported)
from webdocs import (WORKER_STATE, StageStats, chunked, drop_reason, extract_chunk, informative, is_html_warc,
                     iter_documents, match_words, parallel_map, url_set, words)


# ----------------------------------------------------------------------------- extract: WARC HTML -> text

PAGES = "pages.jsonl.gz"


def extract(paths, out_dir, common: Common) -> dict:
    """WARC HTML responses (and any other input) -> {url, text} pages in pages.jsonl.gz, extracted in
    `workers` processes, streaming. `run` starts with it when the pool holds WARC files."""
    check_ranges(common)
    out, stats = Path(out_dir), StageStats("extract")

    def records():
        for path in paths:
            bad = Counter()
            yield from read_documents(path, bad)
            stats.documents_in += sum(bad.values())
            stats.dropped.update(bad)

    def pages():
        chunks = tqdm(chunked(records(), common.chunk), desc="extract", unit=" chunks", disable=None)
        for chunk, texts in parallel_map(extract_chunk, chunks, common.workers, {}):
            for rec, text in zip(chunk, texts):
                stats.documents_in += 1
                if (reason := drop_reason(rec, text, common.max_chars, need_url=True)) is not None:
                    stats.dropped[reason] += 1
                else:
                    yield {"url": rec["url"], "text": text}

    stats.kept = write_jsonl(out / PAGES, pages())
    return stats.write(out)


# ----------------------------------------------------------------------------- classify

LABEL_MATH, LABEL_OTHER = "__label__math", "__label__other"
MODEL, TRAIN, HOLDOUT = "model.bin", "train.txt", "holdout.txt"


def ft_line(text: str) -> str:
    """The classifier's view of a page: one line of lowercased words and punctuation, space-separated."""
    return " ".join(words(text))


def math_probability(model, lines: list[str]) -> np.ndarray:
    """P(math) of each normalised line, in one batched call. (fasttext 0.9.3's single-string
    `predict` calls np.array(..., copy=False), which NumPy 2 rejects; the list form does not.)"""
    labels, probs = model.predict(lines, k=2)
    return np.array([dict(zip(l, p)).get(LABEL_MATH, 0.0) for l, p in zip(labels, probs)], dtype=np.float32)


def load_fasttext(path):
    """A fastText model, checked whole: fasttext loads a truncated file without a word (the missing
    weights read as zeros, every page then scores 0.5 and a cut-off of 0.5 keeps them all)."""
    import fasttext  # lazily: `from data_pipeline import Tokenizer` must not need it
    model = fasttext.load_model(str(path))
    if not model.is_quantized():
        # the file ends with the two dense matrices, each [rows int64, cols int64, rows*cols float32]
        (rows_in, dim), (rows_out, _) = model.get_input_matrix().shape, model.get_output_matrix().shape
        size, tail = Path(path).stat().st_size, 1 + 16 + rows_out * dim * 4
        with open(path, "rb") as f:
            f.seek(max(size - tail + 1, 0))
            out_shape = struct.unpack("<qq", f.read(16))
            f.seek(max(size - tail - rows_in * dim * 4 - 16, 0))
            in_shape = struct.unpack("<qq", f.read(16))
        if rows_out == 0 or out_shape != (rows_out, dim) or in_shape != (rows_in, dim):
            raise ValueError(f"{path}: not a complete fastText model (truncated or corrupt); train it again")
    return model


def train_fasttext(train_path: Path, model_path: Path, cfg: ClassifyConfig, seed: int) -> None:
    """Train and save a supervised fastText model in a fresh interpreter: fasttext 0.9.3 trained again
    and again inside one process gave a different model, or "Encountered NaN", on most runs (measured:
    17 NaN and 7 distinct models in 30 runs on the same file), while every fresh process gives the same
    model. (Such state leaking between runs fits its initialisation, which fills only `thread`/10 of the
    input matrix, DenseMatrix::uniform.)"""
    params = dict(input=str(train_path), dim=cfg.dim, lr=cfg.lr, wordNgrams=cfg.word_ngrams,
                  minCount=cfg.min_count, epoch=cfg.epoch, bucket=cfg.bucket, thread=cfg.threads, seed=seed,
                  verbose=0)
    code = ("import fasttext, json, sys; a = json.loads(sys.argv[1]); "
            "fasttext.train_supervised(**a['params']).save_model(a['out'])")
    done = subprocess.run([sys.executable, "-c", code,
                           json.dumps({"params": params, "out": str(model_path)})],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("fastText training failed (more examples or a lower --lr help against NaN):\n"
                           + done.stderr[-2000:])


def interleave(a: Path, n_a: int, b: Path, n_b: int, out: Path, rng: random.Random) -> None:
    """Merge two files of lines in random order: fastText learns in file order, so the positives must
    not come as one block."""
    with open(a) as fa, open(b) as fb, open(out, "w") as fo:
        while n_a + n_b:
            if rng.random() * (n_a + n_b) < n_a:
                fo.write(fa.readline())
                n_a -= 1
            else:
                fo.write(fb.readline())
                n_b -= 1


def precision_recall(true_pos: int, selected: int, relevant: int) -> tuple[float, float]:
    return true_pos / max(selected, 1), true_pos / max(relevant, 1)


def classify(seed_paths, pool_paths, out_dir, cfg: ClassifyConfig, common: Common,
             trusted: frozenset = frozenset()) -> dict:
    """§2.1: "we randomly select 500,000 data points from the seed corpus as positive training examples
    and another 500,000 web pages from Common Crawl as negative ones". Negatives come from the pool pages
    outside the seed and outside `trusted` URLs. iterate trusts what the previous round collected on
    math-related domains: in Common Crawl a random page is almost never math, but in a math-dense pool
    sampling those pages as negatives would teach the classifier to reject math it already found. Pages
    it collected on other domains stay candidate negatives, as any web page: trusting them too lets a
    false positive (a sports forum thread in the frame of a math forum) never be corrected, and such
    pages pile up round after round. Two streaming passes, count then write the sampled examples:
    memory holds sample indices and URLs, never page texts."""
    check_ranges(cfg)
    check_ranges(common)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats, rng = StageStats("classify"), random.Random(common.seed)
    seed_urls = url_set(seed_paths)

    def negative(doc) -> str | None:  # why a pool page cannot be a negative, or None
        return "in_seed" if doc["url"] in seed_urls else "trusted" if doc["url"] in trusted else None

    n_seed = sum(1 for _ in iter_documents(seed_paths, StageStats("count"), common.max_chars))
    n_pool = sum(negative(doc) is None for doc in iter_documents(pool_paths, StageStats("count"),
                                                                 common.max_chars))
    if n_seed == 0 or n_pool == 0:
        raise ValueError(f"classify needs positives and negatives: {n_seed} seed pages, "
                         f"{n_pool} pool pages outside the seed and the trusted pages")
    positives = rng.sample(range(n_seed), min(cfg.positives, n_seed))
    negatives = rng.sample(range(n_pool), min(cfg.negatives, len(positives), n_pool))  # 1:1 like 500K/500K
    counts = Counter()
    with open(out / HOLDOUT, "w") as held_out:
        for label, paths, sample, ineligible in [(LABEL_MATH, seed_paths, positives, lambda doc: None),
                                                 (LABEL_OTHER, pool_paths, negatives, negative)]:
            held, chosen = set(sample[:round(cfg.holdout * len(sample))]), set(sample)
            i = -1
            with open(out / f"{label}.txt", "w") as train:
                for doc in iter_documents(paths, stats, common.max_chars, desc=f"classify: {label}"):
                    if (reason := ineligible(doc)) is not None:
                        stats.dropped[reason] += 1
                        continue
                    i += 1
                    if i not in chosen:
                        stats.dropped["not_sampled"] += 1
                        continue
                    stats.kept += 1
                    (held_out if i in held else train).write(f"{label} {ft_line(doc['text'])}\n")
                    counts[label, i in held] += 1
    interleave(out / f"{LABEL_MATH}.txt", counts[LABEL_MATH, False], out / f"{LABEL_OTHER}.txt",
               counts[LABEL_OTHER, False], out / TRAIN, rng)
    for label in (LABEL_MATH, LABEL_OTHER):
        (out / f"{label}.txt").unlink()
    train_fasttext(out / TRAIN, out / MODEL, cfg, common.seed)

    # precision / recall of "P(math) >= 0.5" on the held-out examples (negatives are unlabelled web
    # pages, so some are math: the figures are a lower bound)
    model, truth, score = load_fasttext(out / MODEL), [], []
    with open(out / HOLDOUT) as f:
        for batch in chunked(f, 4096):
            labels, lines = zip(*(line.rstrip("\n").partition(" ")[::2] for line in batch))
            truth.extend(label == LABEL_MATH for label in labels)
            score.extend(math_probability(model, list(lines)))
    truth, predicted = np.array(truth, dtype=bool), np.array(score) >= 0.5
    p, r = precision_recall(int((truth & predicted).sum()), int(predicted.sum()), int(truth.sum()))
    stats.extra.update(seed_pages=n_seed, positives=counts[LABEL_MATH, False],
                       negatives=counts[LABEL_OTHER, False], holdout=len(truth),
                       holdout_precision=round(p, 4), holdout_recall=round(r, 4))
    print(f"classify: {n_seed} seed pages; trained on {counts[LABEL_MATH, False]} positives / "
          f"{counts[LABEL_OTHER, False]} negatives; held-out precision {p:.3f} recall {r:.3f} "
          f"(n={len(truth)})")
    return stats.write(out)


# ----------------------------------------------------------------------------- recall

COLLECTED = "collected.jsonl.gz"


def score_chunk(docs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Worker: P(math) and token count (words(), the budget's unit) of each page."""
    tokens = [words(doc["text"]) for doc in docs]
    return (math_probability(WORKER_STATE["model"], [" ".join(t) for t in tokens]),
            np.array([len(t) for t in tokens], dtype=np.int64))


def select_top(scores: np.ndarray, tokens: np.ndarray, min_score: float,
               token_budget: int | None) -> np.ndarray:
    """§2.1: "we rank the collected pages according to their scores ... and only preserve the
    top-ranking ones" (the top 40B tokens in the first iteration). Keeps pages scoring at least
    min_score and, given a budget, only the best-ranked whose tokens fit in it (ties: pool order)."""
    keep = scores >= min_score
    if token_budget is not None:
        order = np.argsort(-scores, kind="stable")
        fits = np.zeros_like(keep)
        fits[order[np.cumsum(tokens[order]) <= token_budget]] = True
        keep &= fits
    return keep


def recall(pool_paths, model_path, out_dir, cfg: RecallConfig, common: Common) -> dict:
    """Score every pool page (batched predict, `workers` processes), rank, keep the top: two passes,
    the first holding 12 bytes per page (score, tokens), the second writing the kept pages."""
    check_ranges(cfg)
    check_ranges(common)
    stats, model = StageStats("recall"), load_fasttext(model_path)
    docs = iter_documents(pool_paths, stats, common.max_chars, desc="recall: scoring")
    results = [r for _, r in parallel_map(score_chunk, chunked(docs, common.chunk), common.workers,
                                          {"model": model})]
    scores = np.concatenate([s for s, _ in results]) if results else np.zeros(0, np.float32)
    tokens = np.concatenate([t for _, t in results]) if results else np.zeros(0, np.int64)
    keep = select_top(scores, tokens, cfg.min_score, cfg.token_budget)
    again = iter_documents(pool_paths, StageStats("again"), common.max_chars)
    stats.kept = write_jsonl(Path(out_dir) / COLLECTED, ({**doc, "score": round(float(s), 6)}
                                                        for doc, s, k in zip(again, scores, keep) if k))
    stats.dropped["below_cut_off"] += len(scores) - stats.kept
    stats.extra.update(tokens=int(tokens[keep].sum()),
                       lowest_kept_score=round(float(scores[keep].min()), 6) if keep.any() else None)
    return stats.write(out_dir)


# ----------------------------------------------------------------------------- domains

ADDED, MATH_DOMAINS = "added.jsonl.gz", "math_domains.jsonl"


VARIABLE_SEGMENT = re.compile(r"\d+")  # years, months, days and numeric ids: /2019/05/, /questions/12345/


def url_parts(url: str, depth: int) -> tuple[str, list[str]] | None:
    """(base URL, path prefixes up to `depth` segments): "https://a.org/q/algebra/12" ->
    ("https://a.org", ["/q", "/q/algebra"]); the last segment names the page, not a path. On real URLs:
    a numeric folder (a blog's /2019/05/, an id) reads as "<n>", so that all of a blog's year folders form one
    path ("/<n>/<n>"), and a page named by its query ("/viewtopic.php?t=7", "/problem=7") has the part before
    the id as its last path segment ("/viewtopic.php?t=", "/problem="). None if unparseable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    segments = [s for s in parts.path.split("/") if s]
    page = segments.pop() if segments else ""
    segments = ["<n>" if VARIABLE_SEGMENT.fullmatch(s) else s for s in segments]
    if parts.query:
        segments.append(f"{page}?{parts.query.split('&')[0].split('=')[0]}=")
    elif "=" in page:
        segments.append(page.split("=")[0] + "=")
    return (f"{parts.scheme}://{parts.netloc}".lower(),
            ["/" + "/".join(segments[:d]) for d in range(1, min(depth, len(segments)) + 1)])


def domains(pool_paths, collected_path, seed_paths, out_dir, cfg: DomainConfig, common: Common) -> dict:
    """§2.1: "a domain is defined as web pages sharing the same base URL ... Domains where over 10% of
    the web pages have been collected are classified as math-related ... we manually annotate the URLs
    associated with mathematical content within these identified domains (e.g., mathoverflow.net/
    questions). Web pages linked to these URLs, yet uncollected, will be added to the seed corpus."
    The hand annotation is replaced by a rule: a path prefix of a math domain whose pages were mostly
    collected (path_fraction) is a math path. On real URLs a domain also needs a few collected pages
    (domain_min_collected: one recalled recipe page must not make a math domain of a recipe site), and numeric
    folders and query-string ids are read as url_parts says. math_domains.jsonl lists what was chosen, for
    review. Lines of the collected file that cannot be read are counted (collected_unreadable)."""
    check_ranges(cfg)
    check_ranges(common)
    out = Path(out_dir)
    stats, unread = StageStats("domains"), Counter()
    collected, seed_urls = url_set([collected_path], unread), url_set(seed_paths)
    pages, hits = Counter(), Counter()  # per domain; per (domain, path prefix)
    for doc in iter_documents(pool_paths, StageStats("count"), common.max_chars, desc="domains: counting"):
        if (parts := url_parts(doc["url"], cfg.path_depth)) is not None:
            domain, prefixes = parts
            for key in [domain, *((domain, p) for p in prefixes)]:
                pages[key] += 1
                hits[key] += doc["url"] in collected
    paths_of: dict[str, list[str]] = {}
    for key in pages:
        if isinstance(key, tuple):
            paths_of.setdefault(key[0], []).append(key[1])
    math_paths: dict[str, list[str]] = {}
    report = []
    for domain in sorted(k for k in pages if isinstance(k, str) and hits[k] > cfg.domain_fraction * pages[k]
                         and hits[k] >= cfg.domain_min_collected):
        chosen = math_paths.setdefault(domain, [])
        # shortest paths first: a chosen path covers its subpaths
        for path in sorted(paths_of.get(domain, ()), key=lambda p: (p.count("/"), p)):
            n, c = pages[domain, path], hits[domain, path]
            if n >= cfg.path_min_pages and c >= cfg.path_fraction * n and not any(
                    path == p or path.startswith(p + "/") for p in chosen):
                chosen.append(path)
        report.append({"domain": domain, "pages": pages[domain], "collected": hits[domain],
                       "math_paths": [{"path": p, "pages": pages[domain, p], "collected": hits[domain, p]}
                                      for p in chosen]})
    write_jsonl(out / MATH_DOMAINS, report)

    def added():
        for doc in iter_documents(pool_paths, stats, common.max_chars, desc="domains: adding"):
            parts = url_parts(doc["url"], cfg.path_depth)
            if doc["url"] in collected:
                stats.dropped["collected"] += 1
            elif doc["url"] in seed_urls:
                stats.dropped["in_seed"] += 1
            elif parts is None:
                stats.dropped["bad_url"] += 1
            elif not set(parts[1]) & set(math_paths.get(parts[0], ())):
                stats.dropped["outside_math_paths"] += 1
            else:
                yield {"url": doc["url"], "text": doc["text"]}

    stats.kept = write_jsonl(out / ADDED, added())
    stats.extra.update(math_domains=len(report), math_paths=sum(len(r["math_paths"]) for r in report),
                       collected_unreadable=dict(unread))
    return stats.write(out)


# ----------------------------------------------------------------------------- iterate

CORPUS = "corpus.jsonl.gz"


def math_truth(labels_path, pool_paths) -> set[str]:
    """Ground truth of a toy world: the URLs of the pool's math pages, per labels.jsonl."""
    is_math = {rec["url"]: bool(rec.get("is_math")) for rec in read_jsonl(labels_path)}
    return {url for url in url_set(pool_paths) if is_math.get(url)}


def iterate(pool_paths, seed_paths, out_dir, cfg: IterateConfig, classify_cfg: ClassifyConfig,
            recall_cfg: RecallConfig, domain_cfg: DomainConfig, common: Common, labels=None) -> dict:
    """§2.1: classify -> recall -> domains, the seed growing each round; "After four iterations ... we
    notice that nearly 98% of the data has already been collected in the third iteration, so we decide
    to cease data collection." The last round's collection is the corpus. Writes iterations.jsonl."""
    out, stats = Path(out_dir), StageStats("iterate")
    seeds, seen, rows, trusted = list(seed_paths), set(), [], frozenset()
    math = math_truth(labels, pool_paths) if labels else None
    columns = ["iteration", "pages", "tokens", "new_pages", "seed_pages", "added_to_seed",
               "classifier_precision", "classifier_recall"] + (["precision", "recall"] if labels else [])
    print(" ".join(f"{c:>12.12}" for c in columns))
    for it in range(1, cfg.iterations + 1):
        step = out / f"iteration{it}"
        c = classify(seeds, pool_paths, step / "classify", classify_cfg, common, trusted=trusted)
        r = recall(pool_paths, step / "classify" / MODEL, step / "recall", recall_cfg, common)
        if r["kept"] == 0:
            raise ValueError(f"iteration {it}: recall collected no page (P(math) >= --min-score "
                             f"{recall_cfg.min_score} nowhere in the pool; a lower --min-score or a larger "
                             f"seed helps)")
        d = domains(pool_paths, step / "recall" / COLLECTED, seeds, step / "domains", domain_cfg, common)
        collected = url_set([step / "recall" / COLLECTED])
        new = len(collected - seen)
        seen |= collected
        row = {"iteration": it, "pages": r["kept"], "tokens": r["tokens"], "new_pages": new,
               "seed_pages": c["seed_pages"], "added_to_seed": d["kept"],
               "classifier_precision": c["holdout_precision"], "classifier_recall": c["holdout_recall"]}
        if labels:
            p, rc = precision_recall(len(collected & math), len(collected), len(math))
            row.update(precision=round(p, 4), recall=round(rc, 4))
        rows.append(row)
        print(" ".join(f"{row[c]:>12}" for c in columns))
        if d["kept"]:  # an empty file is no seed (and reading one is an error)
            seeds.append(step / "domains" / ADDED)
        math_domains = {rec["domain"] for rec in read_jsonl(step / "domains" / MATH_DOMAINS)}
        trusted = frozenset(u for u in collected if (url_parts(u, 0) or ("",))[0] in math_domains)
        if it > 1 and new < cfg.min_new * max(len(collected), 1):
            break
    write_jsonl(out / "iterations.jsonl", rows)
    shutil.copyfile(step / "recall" / COLLECTED, out / CORPUS)
    stats.documents_in, stats.kept, stats.dropped = r["documents_in"], r["kept"], Counter(r["dropped"])
    stats.extra["iterations"] = rows
    return stats.write(out)


# ----------------------------------------------------------------------------- dedup

DEDUPED, REMOVED = "deduped.jsonl.gz", "removed.jsonl"
MERSENNE31 = (1 << 31) - 1


def minhash_params(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The num_perm hash functions h(x) = (a*x + b) mod p that stand in for random permutations."""
    rng = np.random.default_rng(seed)
    return (rng.integers(1, MERSENNE31, num_perm, dtype=np.uint64),
            rng.integers(0, MERSENNE31, num_perm, dtype=np.uint64))


def minhash(tokens: list[str], shingle: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signature [num_perm] of the set of word shingles: per hash function, the minimum over
    the shingles. Two pages agree at a position with probability = the Jaccard similarity of their sets."""
    n = max(len(tokens) - shingle + 1, 1)
    x = np.unique(np.fromiter((zlib.crc32(" ".join(tokens[i:i + shingle]).encode()) for i in range(n)),
                              dtype=np.uint64, count=n) % MERSENNE31)
    signature = np.full(len(a), MERSENNE31, dtype=np.uint64)
    for start in range(0, len(x), 4096):  # [num_perm, 4096] at a time: long pages stay in bounded memory
        block = x[start:start + 4096]  # a, b, x < 2**31: a*x + b < 2**63 never overflows uint64
        signature = np.minimum(signature,
                               ((a[:, None] * block[None, :] + b[:, None]) % MERSENNE31).min(axis=1))
    return signature.astype(np.uint32)


def dedup_keys(docs: list[dict]) -> list[tuple[bytes, np.ndarray]]:
    """Worker: (hash of the normalised text, MinHash signature) of each page."""
    shingle, a, b = WORKER_STATE["shingle"], WORKER_STATE["a"], WORKER_STATE["b"]
    keys = []
    for doc in docs:
        tokens = words(doc["text"])
        text_hash = hashlib.blake2b(" ".join(tokens).encode(), digest_size=8).digest()
        keys.append((text_hash, minhash(tokens, shingle, a, b)))
    return keys


def dedup(paths, out_dir, cfg: DedupConfig, common: Common) -> dict:
    """§2.1: "we remove URL-based duplicates and near-duplicates" (done here before recall, as the paper
    recalls from the deduplicated Common Crawl). In order, keeping the first of each group: a URL seen
    before; the same normalised text (exact); a near-duplicate: MinHash-LSH candidates (pages sharing any
    band of their signatures) verified by estimated Jaccard >= the threshold. Memory: the URLs, text
    hashes and signatures of the kept pages. removed.jsonl says which page each removal duplicates."""
    check_ranges(cfg)
    check_ranges(common)
    if cfg.num_perm % cfg.bands:
        raise ValueError(f"--num-perm {cfg.num_perm} must be a multiple of --bands {cfg.bands}")
    out, stats = Path(out_dir), StageStats("dedup")
    out.mkdir(parents=True, exist_ok=True)
    a, b = minhash_params(cfg.num_perm, common.seed)
    rows = cfg.num_perm // cfg.bands
    seen_urls, seen_texts = set(), {}          # url; text hash -> url of the kept page
    buckets = [{} for _ in range(cfg.bands)]   # per band: band bytes -> indices of kept pages
    signatures, kept_urls = [], []

    def survivors(removed):
        docs = iter_documents(paths, stats, common.max_chars, desc="dedup")
        state = {"shingle": cfg.shingle, "a": a, "b": b}
        for chunk, keys in parallel_map(dedup_keys, chunked(docs, common.chunk), common.workers, state):
            for doc, (text_hash, sig) in zip(chunk, keys):
                url, bands = doc["url"], [sig[i * rows:(i + 1) * rows].tobytes() for i in range(cfg.bands)]
                if url in seen_urls:
                    reason, of, jaccard = "duplicate_url", url, 1.0
                elif text_hash in seen_texts:
                    reason, of, jaccard = "exact_duplicate", seen_texts[text_hash], 1.0
                else:
                    candidates = sorted({j for band, key in zip(buckets, bands) for j in band.get(key, ())})
                    similar = [(j, float((signatures[j] == sig).mean())) for j in candidates]
                    match = next(((j, s) for j, s in similar if s >= cfg.jaccard), None)
                    if match is None:
                        reason = None
                    else:
                        reason, of, jaccard = "near_duplicate", kept_urls[match[0]], match[1]
                seen_urls.add(url)
                if reason:
                    stats.dropped[reason] += 1
                    removed.write(json.dumps({"url": url, "reason": reason, "duplicate_of": of,
                                              "jaccard": round(jaccard, 4)}) + "\n")
                    continue
                seen_texts[text_hash] = url
                for band, key in zip(buckets, bands):
                    band.setdefault(key, []).append(len(signatures))
                signatures.append(sig)
                kept_urls.append(url)
                yield doc

    with open(out / REMOVED, "w") as removed:
        stats.kept = write_jsonl(out / DEDUPED, survivors(removed))
    return stats.write(out)


# ----------------------------------------------------------------------------- decontaminate
# The unit of matching (what a "word" is, which n-grams are weak) is webdocs.match_words / informative; why it
# is that unit for real pages (calendars, numbered lists, formulas, CJK text) is written beside them.

CLEAN = "clean.jsonl.gz"


CHOICE_LABEL = re.compile(r"^\s*\(?[A-Ea-e]\)\s*")


def benchmark_index(benches, data_dir, bench_fields, n: int, min_words: int, min_content: int
                    ) -> tuple[dict, dict, dict, dict]:
    """Benchmark texts to match (§2.1): every n-gram of a text of >= n words -> its source (informative ones
    and weak ones apart, see contaminated_lines), and texts of min_words..n-1 words, whole, by length (those
    with at least one content word). `benches`: names
    of formats.BENCHMARK_FILES (gsm8k, math, cmath, agieval, toy; optionally ":split", default test) or paths
    to a JSONL file or a folder. Every row is read as stored (formats.benchmark_rows: a question without a
    gradable answer is still a leak to remove); a benchmark line that cannot be read is an error, as its leaks
    would stay in the corpus. Returns (n-grams, weak n-grams, short texts, counts for stats.json)."""
    unknown = set(bench_fields) - set(BENCH_TEXT_FIELDS)
    if unknown:
        raise ValueError(f"--bench-fields: unknown {sorted(unknown)}; choose from "
                         f"{sorted(BENCH_TEXT_FIELDS)}")
    ngrams, weak, short, counts = {}, {}, {}, Counter()
    for spec in benches:
        name, _, split = str(spec).partition(":")
        if name not in BENCHMARK_FILES:  # a path (which may itself hold a ':')
            name, split = str(spec), ""
        unreadable = Counter()
        for where, row in benchmark_rows(name, split or "test", data_dir, unreadable):
            ident = row.get("id", row.get("unique_id", row.get("idx", where.rpartition(":")[2])))
            texts = {role: next((row[k] for k in BENCH_TEXT_FIELDS[role] if row.get(k)), None)
                     for role in bench_fields}
            counts["benchmark_rows"] += 1
            counts["benchmark_rows_without_text"] += not any(texts.values())
            # a list (AGIEval's options) gives one text per item, its choice label "(A)" left out
            pieces = [(role, CHOICE_LABEL.sub("", str(item)) if isinstance(text, list) else str(text or ""))
                      for role, text in texts.items()
                      for item in (text if isinstance(text, list) else [text])]
            for role, text in pieces:
                tokens, source = match_words(text), f"{Path(name).name}:{ident}:{role}"
                grams = [tokens[i:i + n] for i in range(len(tokens) - n + 1)]
                # a text with no informative n-gram (a solution that is one line of formulas) would never be
                # found: its n-grams with a content word find it
                least = min_content if any(informative(g, min_content) for g in grams) else 1
                for gram in grams:
                    (ngrams if informative(gram, least) else weak).setdefault(" ".join(gram), source)
                if min_words <= len(tokens) < n and informative(tokens, 1):
                    short.setdefault(len(tokens), {}).setdefault(" ".join(tokens), source)
        if unreadable:
            raise ValueError(f"benchmark {spec}: {sum(unreadable.values())} lines could not be read "
                             f"({dict(unreadable)}); their problems would stay in the corpus: fix the file")
    return ngrams, weak, short, dict(counts)


def contaminated_lines(text: str, ngrams: dict, weak: dict, short: dict,
                       n: int) -> dict[int, tuple[str, str]]:
    """{line index: (matched words, benchmark source)}. A segment is a line of the page; a match that
    spans lines marks each line it touches. An uninformative n-gram (`weak`) never starts a match, but it
    extends one: a line it touches next to a line already matched goes too (a copied solution's formula-only
    lines, its Asymptote code), repeated along a run of such lines. Clean pages have no match to extend."""
    tokens, line_of = [], []
    for i, line in enumerate(text.split("\n")):
        w = match_words(line)
        tokens += w
        line_of += [i] * len(w)
    hits, weak_hits = {}, {}
    for size, table, found in [(n, ngrams, hits), (n, weak, weak_hits),
                               *((k, t, hits) for k, t in short.items())]:
        for s in range(len(tokens) - size + 1):
            key = " ".join(tokens[s:s + size])
            if (source := table.get(key)) is not None:
                for line in range(line_of[s], line_of[s + size - 1] + 1):
                    found.setdefault(line, (key, source))
    grown = bool(hits)
    while grown:
        grown = False
        for line, match in weak_hits.items():
            if line not in hits and (line - 1 in hits or line + 1 in hits):
                hits[line], grown = match, True
    return hits


def decontam_chunk(docs: list[dict]) -> list[dict]:
    s = WORKER_STATE
    return [contaminated_lines(doc["text"], s["ngrams"], s["weak"], s["short"], s["n"]) for doc in docs]


def decontaminate(paths, benches, out_dir, cfg: DecontamConfig, common: Common, data_dir=None) -> dict:
    """§2.1: "any text segment containing a 10-gram string that matches exactly with any sub-string from
    the evaluation benchmarks is removed ... For benchmark texts that are shorter than 10 grams but have
    at least 3 grams, we employ exact matching". Removes the matching lines (or, with --remove document,
    the page; a page left empty is dropped); removed.jsonl records each removal and its source."""
    check_ranges(cfg)
    check_ranges(common)
    if cfg.min_words > cfg.ngram:
        raise ValueError(f"--min-words {cfg.min_words} must not exceed --ngram {cfg.ngram}")
    out, stats = Path(out_dir), StageStats("decontaminate")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ngrams, weak, short, index_counts = benchmark_index(benches, data_dir, cfg.bench_fields.split(","),
                                                        cfg.ngram, cfg.min_words, cfg.min_content)
    index_counts["index_seconds"] = round(time.perf_counter() - started, 2)
    if not ngrams and not short:
        raise ValueError(f"no benchmark text to match in {benches}")
    counts = Counter()

    def clean(removed):
        docs = iter_documents(paths, stats, common.max_chars, desc="decontaminate")
        state = {"ngrams": ngrams, "weak": weak, "short": short, "n": cfg.ngram}
        for chunk, hits_list in parallel_map(decontam_chunk, chunked(docs, common.chunk), common.workers,
                                             state):
            for doc, hits in zip(chunk, hits_list):
                lines = doc["text"].split("\n")
                for i, (matched, source) in sorted(hits.items()):
                    record = {"url": doc.get("url"), "line": i, "segment": lines[i], "matched": matched,
                              "source": source, "action": cfg.remove}
                    removed.write(json.dumps(record, ensure_ascii=False) + "\n")
                rest = "\n".join(line for i, line in enumerate(lines) if i not in hits)
                if not hits:
                    yield doc
                elif cfg.remove == "document":
                    stats.dropped["contaminated"] += 1
                elif not rest.strip():
                    stats.dropped["contaminated_throughout"] += 1
                else:
                    counts["documents_cleaned"] += 1
                    counts["segments_removed"] += len(hits)
                    yield {**doc, "text": rest}

    with open(out / REMOVED, "w") as removed:
        stats.kept = write_jsonl(out / CLEAN, clean(removed))
    stats.extra.update(counts, **index_counts, benchmark_ngrams=len(ngrams), benchmark_ngrams_weak=len(weak),
                       benchmark_short_texts=sum(map(len, short.values())))
    return stats.write(out)


# ----------------------------------------------------------------------------- tokenize

def encode_chunk(docs: list[dict]) -> list[np.ndarray]:
    """Worker: the token ids of each document followed by EOS."""
    tok, dtype = WORKER_STATE["tokenizer"], WORKER_STATE["dtype"]
    return [np.array(tok.encode(doc["text"]) + [tok.eos_id], dtype=dtype) for doc in docs]


def tokenize(sources: dict[str, list], mix: dict[str, float], tokenizer_dir, out_dir,
             cfg: TokenizeConfig, common: Common) -> dict:
    """Token shards for pre-training (read by pretrain.py): per source, documents encoded in parallel with EOS
    after each, cut into .npy shards of shard_tokens; manifest.json holds the mixture weights
    (normalised to sum 1; the paper's 7B run: 56% math corpus, 4% AlgebraicStack, 10% arXiv, 20% code,
    10% Common Crawl) and each source's token and document counts."""
    check_ranges(cfg)
    check_ranges(common)
    if set(mix) != set(sources) or any(w <= 0 for w in mix.values()):
        raise ValueError(f"--mix {mix} must give a positive weight to each source {sorted(sources)}")
    out, stats = Path(out_dir), StageStats("tokenize")
    out.mkdir(parents=True, exist_ok=True)
    # hf reads a released tokenizer.json too; imported here, as it brings torch, which no other stage needs
    from hf import load_tokenizer
    tok = load_tokenizer(tokenizer_dir)
    dtype = np.uint16 if tok.vocab_size <= 65535 else np.uint32
    manifest = {"tokenizer": str(tokenizer_dir), "vocab_size": tok.vocab_size, "eos_id": tok.eos_id,
                "dtype": np.dtype(dtype).name, "sources": {}}
    for name, paths in sources.items():
        buffer, buffered, shards, n_tokens, n_docs = [], 0, [], 0, 0

        def flush(final: bool):
            nonlocal buffer, buffered
            data = np.concatenate(buffer) if buffer else np.zeros(0, dtype)
            while len(data) >= cfg.shard_tokens or (final and len(data)):
                shards.append(f"{name}-{len(shards):05d}.npy")
                np.save(out / shards[-1], data[:cfg.shard_tokens])
                data = data[cfg.shard_tokens:]
            buffer, buffered = [data], len(data)

        docs = iter_documents(paths, stats, common.max_chars, need_url=False, desc=f"tokenize: {name}")
        state = {"tokenizer": tok, "dtype": dtype}
        for _, arrays in parallel_map(encode_chunk, chunked(docs, common.chunk), common.workers, state):
            buffer += arrays
            buffered += sum(map(len, arrays))
            n_tokens += sum(map(len, arrays))
            n_docs += len(arrays)
            if buffered >= cfg.shard_tokens:
                flush(final=False)
        flush(final=True)
        if n_docs == 0:  # an empty source would only fail later, in the trainer, with less to go on
            raise ValueError(f"tokenize: source {name!r} has no documents in {[str(p) for p in paths]} "
                             f"(for the math corpus: did recall collect nothing? try a lower --min-score)")
        stats.kept += n_docs
        manifest["sources"][name] = {"weight": mix[name] / sum(mix.values()), "shards": shards,
                                     "tokens": n_tokens, "documents": n_docs}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    stats.extra["tokens"] = {name: s["tokens"] for name, s in manifest["sources"].items()}
    return stats.write(out)


# ----------------------------------------------------------------------------- settings

# Every setting is a flag (flags.py); its bounds are checked when the command line is parsed, so that a value
# that would silently change the method (a zero shard size writing empty shards forever, a shingle of 0 words
# making every page a duplicate, a Jaccard threshold above 1 turning near-dedup off) stops the run at once.

@dataclass
class Common:
    workers: int = flag(os.cpu_count() or 1, "processes for the CPU-bound work (scoring, hashing, matching, "
                                             "encoding)", min=1)
    max_chars: int = flag(1_000_000,
                          "documents longer than this (characters) are skipped and counted as too_long",
                          min=1)
    seed: int = flag(0, "random seed (sampling, MinHash permutations): the same seed gives the same corpus",
                     min=0)
    chunk: int = flag(256, "documents per unit of work sent to a worker process", min=1)


@dataclass
class ClassifyConfig:
    positives: int = flag(500_000, "positive examples sampled from the seed corpus (paper: 500K)", min=1)
    negatives: int = flag(500_000, "at most this many negatives, sampled from pool pages outside the seed, "
                                   "one per positive (paper: 500K)", min=1)
    holdout: float = flag(0.1, "fraction of the sampled examples held out to measure precision and recall",
                          min=0.0, max=0.5)
    dim: int = flag(256, "fastText vector size (paper: 256)", min=1)
    lr: float = flag(0.1, "fastText learning rate (paper: 0.1)", min=0.0, above=True)
    word_ngrams: int = flag(3, "fastText word n-gram length (paper: 3)", min=1)
    min_count: int = flag(3, "fastText minimal word count (paper: 3)", min=1)
    epoch: int = flag(3, "fastText epochs (paper: 3)", min=1)
    bucket: int = flag(2_000_000, "fastText hash buckets for word n-grams (fastText's default; the model "
                                  "takes bucket*dim*4 bytes)", min=1)
    threads: int = flag(1, "fastText training threads; more is faster but no longer reproducible", min=1)


@dataclass
class RecallConfig:
    min_score: float = flag(0.5, "keep pages whose fastText P(math) is at least this", min=0.0, max=1.0)
    token_budget: int = flag(None,
                             "also keep only the top-scoring pages that fit this many tokens (paper: 40B)",
                             int, min=1)


@dataclass
class DomainConfig:
    domain_fraction: float = flag(0.10, "a domain with more than this fraction of its pages collected is "
                                        "math-related (paper: 10 percent)", min=0.0, max=1.0)
    domain_min_collected: int = flag(3, "a math-related domain also needs at least this many collected "
                                        "pages (one recalled page must not make a recipe site a math domain)",
                                     min=1)
    path_fraction: float = flag(0.5, "in a math domain, a URL path with at least this fraction of its pages "
                                     "collected is a math path (the stand-in for the paper's hand "
                                     "annotation)", min=0.0, max=1.0)
    path_min_pages: int = flag(5, "a math path needs at least this many pages", min=1)
    path_depth: int = flag(2, "longest path prefix considered, in segments (/a/b has 2; date folders such as "
                              "/2019/05 are not counted)", min=1)


@dataclass
class IterateConfig:
    iterations: int = flag(4, "classify-recall-domains rounds (paper: 4)", min=1)
    min_new: float = flag(0.02, "stop when an iteration's new pages are under this fraction of its "
                                "collection (paper: 98 percent already seen)", min=0.0, max=1.0)


@dataclass
class DedupConfig:
    shingle: int = flag(5, "words per MinHash shingle", min=1)
    num_perm: int = flag(128, "MinHash permutations (signature length)", min=1)
    bands: int = flag(16, "LSH bands of num_perm/bands rows; pages sharing one band are candidate pairs",
                      min=1)
    jaccard: float = flag(0.8,
                          "a candidate whose estimated Jaccard similarity reaches this is a near-duplicate",
                          min=0.0, max=1.0, above=True)


@dataclass
class DecontamConfig:
    ngram: int = flag(10, "match benchmark texts by n-grams of this many words (paper: 10)", min=1)
    min_words: int = flag(3, "shorter benchmark texts, down to this many words, are matched whole (paper: 3)",
                          min=1)
    remove: str = flag("segment", "segment: drop the lines holding a match (paper); document: drop the page",
                       choices=("segment", "document"))
    min_content: int = flag(3, "an n-gram indexes a benchmark text only with at least this many content "
                               "words (two or more letters, or a CJK character): bare numbers and one-letter "
                               "variables match calendars and lists on clean pages", min=0)
    bench_fields: str = flag("question,solution,passage,options",
                             "benchmark record fields to match, comma-separated (formats.BENCH_TEXT_FIELDS)")


@dataclass
class TokenizeConfig:
    shard_tokens: int = flag(1 << 27, "tokens per .npy shard", min=1)


# ----------------------------------------------------------------------------- run: every stage

def toy_figures(out: Path, labels_path) -> dict:
    """The toy world's checks against its labels: corpus precision / recall, planted near-duplicates
    removed (one page of each planted pair gone) and clean pages removed, leaks cleaned."""
    labels = {rec["url"]: rec for rec in read_jsonl(labels_path)}
    math = math_truth(labels_path, [out / "dedup" / DEDUPED])
    corpus = url_set([out / "decontaminate" / CLEAN])
    precision, recall_ = precision_recall(len(corpus & math), len(corpus), len(math))
    removed = {rec["url"] for rec in read_jsonl(out / "dedup" / REMOVED)}
    planted = {u: rec["duplicate_of"] for u, rec in labels.items() if rec.get("duplicate_of")}
    in_pair = set(planted) | set(planted.values())
    cleaned = {rec["url"] for rec in read_jsonl(out / "decontaminate" / REMOVED)}
    leaked = {u for u in url_set([out / "iterate" / CORPUS]) if labels.get(u, {}).get("leaked_from")}
    return {"precision": round(precision, 4), "recall": round(recall_, 4),
            "planted_duplicates_removed": round(sum(u in removed or d in removed for u, d in planted.items())
                                             / max(len(planted), 1), 4),
            "clean_pages_removed_by_dedup": len(removed - in_pair),
            "leaks_cleaned": f"{len(leaked & cleaned)}/{len(leaked)}",
            "clean_pages_touched": len(cleaned - leaked)}


def run(args: argparse.Namespace) -> dict:
    """[extract, when the pool holds WARC files of HTML] -> dedup -> iterate -> decontaminate -> tokenize
    (when --tokenizer is given)."""
    out, common, summary, pool = Path(args.out), config_from(Common, args), {}, args.pool
    if any(is_html_warc(p) for p in pool):
        summary["extract"] = extract(pool, out / "extract", common)
        pool = [out / "extract" / PAGES]
    summary["dedup"] = dedup(pool, out / "dedup", config_from(DedupConfig, args), common)
    summary["iterate"] = iterate([out / "dedup" / DEDUPED], args.seed_corpus, out / "iterate",
                                 config_from(IterateConfig, args), config_from(ClassifyConfig, args),
                                 config_from(RecallConfig, args), config_from(DomainConfig, args), common,
                                 labels=args.labels)
    summary["decontaminate"] = decontaminate([out / "iterate" / CORPUS], args.bench, out / "decontaminate",
                                             config_from(DecontamConfig, args), common, args.data_dir)
    if args.tokenizer:
        sources = {"math": [out / "decontaminate" / CLEAN], **parse_sources(args.source)}
        summary["tokenize"] = tokenize(sources, parse_mix(args.mix, sources), args.tokenizer, out / "tokens",
                                       config_from(TokenizeConfig, args), common)
    for stage, s in summary.items():
        print(f"{stage:>14}: {s['documents_in']} in, {s['kept']} kept, dropped {s['dropped']} "
              f"({s['seconds']} s)")
    if args.labels:
        summary["toy"] = toy_figures(out, args.labels)
        print("against the toy world's labels:", json.dumps(summary["toy"]))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def parse_sources(specs) -> dict[str, list[Path]]:
    sources: dict[str, list[Path]] = {}
    for spec in specs or ():
        name, eq, path = spec.partition("=")
        if not eq or not name or not path:
            raise ValueError(f"--source wants name=path, got {spec!r}")
        sources.setdefault(name, []).append(Path(path))
    return sources


def parse_mix(spec: str | None, sources: dict) -> dict[str, float]:
    if not spec:  # equal weights
        return {name: 1.0 for name in sources}
    try:
        return {name: float(w) for name, w in (item.split("=") for item in spec.split(","))}
    except ValueError:
        raise ValueError(f"--mix wants name=weight,name=weight..., got {spec!r}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, help, *configs, inputs=()):
        p = commands.add_parser(name, help=help, description=help)
        for flag_name, flag_help in inputs:
            p.add_argument(flag_name, nargs="+", type=Path, required=True, help=flag_help)
        p.add_argument("--out", type=Path, required=True,
                       help="folder for this stage's outputs and stats.json")
        add_flags(p, Common, *configs)
        return p

    pool = ("--pool", "web pages: JSONL / JSONL.gz of {url, text}, Common Crawl WET files (.warc.wet.gz) or "
                      "WARC files of HTML responses (.warc.gz; text extracted with the LaTeX kept)")
    seed = ("--seed-corpus", "the seed math corpus (JSONL of {url, text}), e.g. OpenWebMath")
    docs = ("--input", "documents: JSONL / JSONL.gz of {url, text}, WET or WARC files")
    command("extract", "the text of WARC HTML responses, formulas kept as LaTeX -> pages.jsonl.gz",
            inputs=[docs])
    command("classify", "train the fastText math classifier", ClassifyConfig, inputs=[seed, pool])
    p = command("recall", "score the pool and keep the top pages", RecallConfig, inputs=[pool])
    p.add_argument("--model", type=Path, required=True, help="a classifier trained by `classify` (model.bin)")
    p = command("domains", "math domains and paths; their uncollected pages join the seed", DomainConfig,
                inputs=[pool, seed])
    p.add_argument("--collected", type=Path, required=True, help="pages collected by `recall`")
    p = command("iterate", "classify -> recall -> domains, repeated", IterateConfig, ClassifyConfig,
                RecallConfig, DomainConfig, inputs=[pool, seed])
    p.add_argument("--labels", type=Path,
                   help="toy world labels.jsonl: also report precision/recall vs the truth")
    command("dedup", "URL, exact and MinHash-LSH near-duplicate removal", DedupConfig, inputs=[docs])
    bench = ("--bench", "benchmarks: gsm8k, math, cmath, agieval, toy (with --data-dir; add :split, default "
                        "test) or paths to a JSONL file or a folder of them")
    p = command("decontaminate", "remove text matching benchmark n-grams", DecontamConfig,
                inputs=[docs, bench])
    p.add_argument("--data-dir", type=Path, help="folder holding the named benchmarks")
    tok_flags = [("--tokenizer", "a tokenizer folder saved by tokenizer.py"),
                 ("--source", "a token source as name=path (repeat the flag; a name may take several paths)"),
                 ("--mix",
                  "mixture weights name=weight,... (normalised; default equal), e.g. math=0.56,general=0.44")]
    p = command("tokenize", "token shards and manifest.json with the mixture", TokenizeConfig)
    for name, help in tok_flags:
        p.add_argument(name, action="append" if name == "--source" else "store", required=name != "--mix",
                       help=help)
    p = command("run", "every stage: [extract] -> dedup -> iterate -> decontaminate -> tokenize", DedupConfig,
                IterateConfig, ClassifyConfig, RecallConfig, DomainConfig, DecontamConfig, TokenizeConfig,
                inputs=[pool, seed, bench])
    p.add_argument("--labels", type=Path, help="toy world labels.jsonl: report figures against the truth")
    p.add_argument("--data-dir", type=Path, help="folder holding the named benchmarks")
    for name, help in tok_flags:
        p.add_argument(name, action="append" if name == "--source" else "store",
                       help=help + (" (run: tokenize only when given; the corpus is the source 'math')"
                                    if name == "--tokenizer" else ""))
    args = parser.parse_args(argv)

    common = config_from(Common, args)
    if args.command == "classify":
        classify(args.seed_corpus, args.pool, args.out, config_from(ClassifyConfig, args), common)
    elif args.command == "recall":
        recall(args.pool, args.model, args.out, config_from(RecallConfig, args), common)
    elif args.command == "domains":
        domains(args.pool, args.collected, args.seed_corpus, args.out,
                config_from(DomainConfig, args), common)
    elif args.command == "iterate":
        iterate(args.pool, args.seed_corpus, args.out, config_from(IterateConfig, args),
                config_from(ClassifyConfig, args), config_from(RecallConfig, args),
                config_from(DomainConfig, args), common, labels=args.labels)
    elif args.command == "extract":
        extract(args.input, args.out, common)
    elif args.command == "dedup":
        dedup(args.input, args.out, config_from(DedupConfig, args), common)
    elif args.command == "decontaminate":
        decontaminate(args.input, args.bench, args.out, config_from(DecontamConfig, args), common,
                      args.data_dir)
    elif args.command == "tokenize":
        sources = parse_sources(args.source)
        tokenize(sources, parse_mix(args.mix, sources), args.tokenizer, args.out,
                 config_from(TokenizeConfig, args), common)
    elif args.command == "run":
        run(args)
    return 0


if __name__ == "__main__":
    run_cli(main)
