"""Web documents for the corpus pipeline (data_pipeline.py): how pages are read, split into words, accounted
for and processed in parallel, and how the text of an HTML page is extracted with its formulas kept as LaTeX.

    for doc in iter_documents(paths, stats, max_chars):   # JSONL / JSONL.gz, WET, WARC (HTML extracted here)
        ...                                               # stats: documents_in = kept + dropped by reason
    words("3+4=7.")                                       # ['3', '+', '4', '=', '7', '.']
    match_words("Tom's 3 apples cost $4.50;")             # decontamination's words: tom s 3 apples cost 4 50
    for chunk, result in parallel_map(fn, chunks, workers, state): ...
"""
from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time
import unicodedata
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import regex
from tqdm import tqdm

from formats import is_warc, read_documents


# ----------------------------------------------------------------------------- words

CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"  # scripts written without spaces: one character, one word
WORD_RE = regex.compile(rf"[{CJK}]|[^\W{CJK}]+|[^\w\s]")  # words, CJK characters, single symbols


def words(text: str, symbols: bool = True) -> list[str]:
    """Lowercased words, each symbol and each CJK character its own token ("3+4=7." -> 3 + 4 = 7 .): the unit
    of the classifier's input, the token budget and the dedup shingles (a Chinese page is not one long word).
    symbols=False: decontamination's words (match_words below)."""
    return WORD_RE.findall(text.lower()) if symbols else match_words(text)


# Decontamination's unit (§2.1's "10-gram"), chosen for real pages rather than toy ones:
#   - a word is a run of letters, a run of digits, or one CJK character: Chinese
#     and Japanese are written without spaces, so a run of them would be one "word" and a CMATH problem
#     would never form a 10-gram; a character is the unit Chinese n-gram matching commonly uses;
#   - text is NFKC-normalised and lowercased and punctuation and symbols are dropped, so a problem copied
#     with other spacing, case, punctuation, full-width characters or $...$ around it still matches;
#   - only informative n-grams find a leak: one with fewer than `min_content` content words (two or more
#     letters, or a CJK character) is weak. Bare numbers and one-letter variables ("1 2 3 4 5 6 7 8 9 10",
#     "10 11 ... 19", "such that a 2 b 2 c 2 d 2" from a^2+b^2=c^2+d^2) match calendars, numbered lists and
#     everyday formulas on clean pages; a copied problem still shares its many worded 10-grams, and its weak
#     n-grams then remove the formula lines next to them (contaminated_lines).
MATCH_WORD_RE = regex.compile(rf"[{CJK}]|\d+|[^\W\d_{CJK}]+")
CONTENT_RE = regex.compile(rf"[{CJK}]|[^\W\d_]{{2,}}")


def match_words(text: str) -> list[str]:
    """The words decontamination matches on: "Tom's 3 apples cost $4.50;" -> tom s 3 apples cost 4 50
    (a decimal point is punctuation too: "0.7" and "0,7" are the same words)."""
    return MATCH_WORD_RE.findall(unicodedata.normalize("NFKC", text).lower())


def informative(ngram: list[str], min_content: int) -> bool:
    return sum(CONTENT_RE.fullmatch(w) is not None for w in ngram) >= min_content


# ----------------------------------------------------------------------------- documents

@dataclass
class StageStats:
    """A stage's account, written as stats.json: every document read is kept or dropped for a reason."""
    stage: str
    documents_in: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    extra: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def write(self, out_dir) -> dict:
        if self.documents_in != self.kept + sum(self.dropped.values()):  # a bug, never bad input
            raise AssertionError(f"{self.stage}: {self.documents_in} in != {self.kept} kept + "
                                 f"{dict(self.dropped)}")
        record = {"stage": self.stage, "documents_in": self.documents_in, "kept": self.kept,
                  "dropped": dict(sorted(self.dropped.items())), **self.extra,
                  "seconds": round(time.perf_counter() - self.started, 2)}
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "stats.json").write_text(json.dumps(record, indent=2) + "\n")
        return record


def iter_documents(paths, stats: StageStats, max_chars: int, need_url: bool = True,
                   desc: str | None = None) -> Iterator[dict]:
    """Stream documents from JSONL / JSONL.gz, WET and WARC files (formats.read_documents; the text of a
    WARC's HTML responses is extracted here, in this process: the `extract` stage does it in parallel).
    Every record read counts in stats.documents_in; bad ones are dropped by reason: the readers'
    (bad_json, invalid_utf8, truncated_gzip, bad_warc_record, not_html, ...), bad_html, missing_field,
    empty_text, too_long (over max_chars). An input that yields nothing at all is an error naming it."""
    def documents():
        for path in paths:
            bad = Counter()
            for rec in read_documents(path, bad):
                stats.documents_in += 1
                text = html_text(rec) if "html" in rec else rec.get("text")
                if (reason := drop_reason(rec, text, max_chars, need_url)) is not None:
                    stats.dropped[reason] += 1
                else:
                    yield rec if "html" not in rec else {"url": rec["url"], "text": text}
            stats.documents_in += sum(bad.values())
            stats.dropped.update(bad)
    return iter(tqdm(documents(), desc=desc, unit=" docs", mininterval=2, disable=None if desc else True))


def drop_reason(rec: dict, text, max_chars: int, need_url: bool) -> str | None:
    """Why a record read is not a document, or None."""
    url = rec.get("url")
    if "html" in rec and text is None:
        return "bad_html"
    if not isinstance(text, str) or (need_url and not (isinstance(url, str) and url)):
        return "missing_field"
    if not text.strip():
        return "empty_text"
    return "too_long" if len(text) > max_chars else None


def chunked(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


WORKER_STATE: dict = {}  # what parallel_map's forked workers inherit (a loaded model, an index)


def parallel_map(fn, chunks: Iterable[list], workers: int, state: dict) -> Iterator[tuple[list, object]]:
    """(chunk, fn(chunk)) for each chunk, in input order, computed by `workers` forked processes that
    inherit `state` rather than unpickling it. At most two chunks per worker are in flight, so a pool
    larger than memory streams through; results do not depend on the number of workers."""
    WORKER_STATE.clear()
    WORKER_STATE.update(state)
    if workers <= 1:
        for chunk in chunks:
            yield chunk, fn(chunk)
        return
    with mp.get_context("fork").Pool(workers) as pool:
        pending = deque()
        for chunk in chunks:
            pending.append((chunk, pool.apply_async(fn, (chunk,))))
            if len(pending) > 2 * workers:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()


def url_set(paths, unread: Counter | None = None) -> set[str]:
    """The URLs of the documents in `paths`; what could not be read is counted in `unread` by reason."""
    stats = StageStats("urls")
    urls = {doc["url"] for doc in iter_documents(paths, stats, sys.maxsize)}
    if unread is not None:
        unread.update(stats.dropped)
    return urls


# ----------------------------------------------------------------------------- HTML -> text (WARC input)

def is_html_warc(path) -> bool:
    """A WARC file of HTTP responses (Common Crawl's CC-MAIN-*.warc.gz), not a WET file of their text."""
    return is_warc(path) and ".wet" not in Path(path).name

# Common Crawl's WET text drops the LaTeX of MathJax / KaTeX pages (it sits in <script> elements and MathML
# annotations, which text extraction skips) and much of the layout; OpenWebMath (Paster et al. 2023) found the
# extraction of math from HTML to matter more than the classifier. So before the text is extracted
# (Resiliparse: fast, C++ HTML parser, main-content and list/paragraph structure kept), each formula is
# replaced by its LaTeX source: $...$ inline, $$...$$ display. Inline \(...\) and $$...$$ in the HTML text
# stay as they are.
MATH_SOURCES = [  # (CSS selector, how to read its LaTeX, display?) in the order they are replaced
    # MathJax 2: <script type="math/tex; mode=display">
    ('script[type^="math/tex"]', "text", None),
    (".katex-display", "annotation", True),                     # KaTeX display: wraps a .katex
    (".katex", "annotation", False),                            # KaTeX: MathML with the TeX annotation + HTML
    ("math", "annotation", None),                               # MathML with <annotation encoding=x-tex>
]
# MathJax's output
RENDERED_MATH = ".MathJax_Preview, .MathJax, .MathJax_Display, .MathJax_SVG, mjx-container"


def html_text(rec: dict) -> str | None:
    """The text of an HTML page (formats.read_warc's {html, charset}) with its formulas as LaTeX, or None
    when the page cannot be parsed."""
    from resiliparse.extract.html2text import extract_plain_text  # lazily: only WARC input needs it
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from resiliparse.parse.html import HTMLTree
    try:
        html = bytes_to_str(rec["html"], rec.get("charset") or detect_encoding(rec["html"]))
        tree = HTMLTree.parse(html)
        if tree.body is None:
            return None
        for node in tree.body.query_selector_all(RENDERED_MATH):
            if node.parent is not None:
                node.parent.remove_child(node)
        for selector, source, display in MATH_SOURCES:
            for node in tree.body.query_selector_all(selector):
                if node.parent is None:
                    continue
                if source == "text":
                    tex, display = node.text, "mode=display" in (node.getattr("type") or "")
                else:
                    annotation = node.query_selector('annotation[encoding="application/x-tex"]')
                    if annotation is None:
                        continue  # MathML without TeX: its text (the symbols) is extracted as it is
                    tex = annotation.text
                    display = display if display is not None else node.getattr("display") == "block"
                fence = "$$" if display else "$"
                node.parent.replace_child(tree.create_text_node(f"{fence}{tex.strip()}{fence}"), node)
        return extract_plain_text(tree, preserve_formatting=True, main_content=True, list_bullets=True,
                                  alt_texts=False, comments=True)
    except Exception:  # noqa: BLE001 (Resiliparse raises its own parser errors; a bad page is counted)
        return None


def extract_chunk(records: list[dict]) -> list[str | None]:
    """Worker: the text of each record (extracted from HTML, or the record's own)."""
    return [html_text(rec) if "html" in rec else rec.get("text") for rec in records]
