"""The tokenizer: a byte-level BPE trained by this project and run by tiktoken.

DeepSeekMath uses the tokenizer of DeepSeek LLM: byte-level BPE whose pre-tokenizer splits numbers
into single digits, so "1234" is always the four tokens 1 2 3 4 and arithmetic sees every digit
(DeepSeek LLM, arXiv 2401.02954, §2.1; the 7B vocabulary has 102,400 entries). tiktoken ships no such
encoding and cannot download its own ones offline, so we train the merges here and hand them to
`tiktoken.Encoding`, which does the fast encoding (Rust, many threads). Training is plain Python:

  1. pre-tokenize: split every text with SPLIT_PATTERN and count the distinct chunks;
  2. merge: start from the 256 bytes and repeatedly give the most frequent adjacent pair of tokens a
     new id (its rank), until the vocabulary is full (Sennrich et al. 2016, with GPT-2's bytes).

Saved as a folder: `tokenizer.tiktoken`, tiktoken's rank file (one line per token,
`base64(bytes) rank`, ranks 0..255 are the single bytes), and `tokenizer.json` (name, split pattern,
special tokens).

A Hugging Face `tokenizer.json` of byte-level BPE, such as the ones released with DeepSeekMath, Qwen2.5
and Llama 3, becomes this class too: hf.py (built on this file) turns it into ranks and a pre-tokenizer,
and `hf.load_tokenizer` reads either kind of folder; same API, same tiktoken engine. The released models
were trained with BOS before every text, ours without: `add_bos` says which, and `encode_prompt` is
where every stage turns a prompt into ids. `checkpoint_tokenizer` finds the tokenizer of a model folder
(ours name it in config.json; a Hugging Face folder holds it).

    python tokenizer.py train --input corpus.jsonl.gz --vocab-size 4096 --out runs/tok
    python tokenizer.py encode --tokenizer runs/tok "What is 12 + 30?"
    python tokenizer.py bench --mb 10 --vocab-size 4096 [--tokenizer DIR]
"""
from __future__ import annotations

import argparse
import base64
import functools
import heapq
import json
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Protocol

import regex  # tiktoken's own dependency; the same \p{L} / possessive syntax as tiktoken's Rust regex
import tiktoken
from tqdm import tqdm

from flags import run_cli
from formats import read_jsonl

# GPT-4's split (tiktoken's cl100k_base pattern) with one change: `\p{N}{1,3}+` (numbers in groups of up
# to three digits) became `\p{N}`, one digit per chunk, as in DeepSeek LLM. No other alternative can take
# a digit, so no merge ever joins a digit to anything. The alternatives, in order: English contractions;
# a word with at most one leading non-letter (" the", "(x"); one digit; punctuation runs with an optional
# leading space; whitespace, split so that a space before a word stays with the word.
SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
SPECIAL_TOKENS = (BOS, EOS, PAD)  # ids follow the ordinary ranks, in this order
RANKS_FILE, CONFIG_FILE = "tokenizer.tiktoken", "tokenizer.json"
NO_TOKEN = "\ufffd".encode()  # what an id that is no token decodes to: U+FFFD, the replacement character
# A tokenizer with its own pre-tokenizer (Hugging Face's) hands tiktoken its pieces many at a time: joined
# by PIECE_SEPARATOR, cut apart again by PIECES_PATTERN, and each piece BPE-encoded on its own.
PIECE_SEPARATOR, PIECES_PATTERN = "\x00", r"[^\x00]+"


# ----------------------------------------------------------------------------- training

def count_chunks(texts: Iterable[str], pattern: str = SPLIT_PATTERN,
                 progress: bool = False) -> Counter[bytes]:
    """Step 1: split each text into pre-token chunks and count them, as UTF-8 bytes.
    Merges never cross a chunk boundary, so BPE only needs each distinct chunk once, with its count:
    10 MB of text is ~2M chunks but only 40k-200k distinct ones. (The `regex` module reads the pattern
    as tiktoken's Rust regex does; their Unicode tables differ only on the newest characters, where
    a mismatch would only shift the statistics.)"""
    split = regex.compile(pattern)
    counts: Counter[str] = Counter()
    for text in tqdm(texts, desc="pre-tokenize", unit=" texts", disable=not progress):
        counts.update(split.findall(text))
    chunk_counts: Counter[bytes] = Counter()
    for chunk, n in counts.items():
        # a lone surrogate (possible in JSON strings) is not UTF-8; tiktoken replaces it too
        chunk_counts[chunk.encode("utf-8", errors="replace")] += n
    return chunk_counts


def train_bpe(chunk_counts: Mapping[bytes, int], num_merges: int,
              progress: bool = False) -> dict[bytes, int]:
    """Step 2: byte-level BPE merges. Returns tiktoken ranks {token bytes: id}: ids 0..255 are the
    bytes, then one id per merge in the order the merges were made.

    Each chunk is a list of token ids ("word"). Each step merges the most frequent adjacent pair
    (ties: the smallest pair of ids, so the result never depends on the order of the texts) in
    every word, left to right. Instead of recounting all pairs after each merge, we keep
    - pair_counts: occurrences of each pair, weighted by the word's count,
    - where: the words each pair occurs in (may hold stale entries, which are skipped),
    - a max-heap of (count, pair) entries, checked against pair_counts when popped,
    and update them only for the words that contain the merged pair.
    """
    vocab = [bytes([b]) for b in range(256)]  # id -> bytes
    ranks = {token: i for i, token in enumerate(vocab)}
    words = [list(chunk) for chunk in chunk_counts]
    counts = list(chunk_counts.values())
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for w, (word, n) in enumerate(zip(words, counts)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += n
            where[pair].add(w)
    heap = [(-n, pair) for pair, n in pair_counts.items()]
    heapq.heapify(heap)

    bar = tqdm(total=num_merges, desc="BPE merges", unit=" merges", disable=not progress)
    while len(vocab) < 256 + num_merges and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair) != -negative_count:
            continue  # stale entry: this pair's count changed since it was pushed
        token = vocab[pair[0]] + vocab[pair[1]]
        # should two different pairs ever spell the same bytes ("a"+"bc", "ab"+"c"; never seen in our
        # tests, but nothing we know of rules it out), the second reuses the first one's id: tiktoken
        # keys tokens by their bytes, so a duplicate would silently drop a rank
        new_id = ranks.setdefault(token, len(vocab))
        if new_id == len(vocab):
            vocab.append(token)
            bar.update()

        delta: dict[tuple[int, int], int] = defaultdict(int)  # change of each pair's count
        for w in where.pop(pair):
            word = words[w]
            merged = merge_pair(word, pair, new_id)
            if len(merged) == len(word):
                continue  # stale: an earlier merge already consumed this pair in this word
            n = counts[w]
            for old in zip(word, word[1:]):
                delta[old] -= n
            for new in zip(merged, merged[1:]):
                delta[new] += n
                if new_id in new:  # the word's other pairs are indexed already
                    where[new].add(w)
            words[w] = merged
        for changed, d in delta.items():
            if d:
                n = pair_counts[changed] + d
                if n:
                    pair_counts[changed] = n
                    heapq.heappush(heap, (-n, changed))
                else:
                    del pair_counts[changed]
    bar.close()
    return ranks


def merge_pair(word: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `word`, left to right, by `new_id`."""
    first, second = pair
    out, i, n = [], 0, len(word)
    while i < n:
        if word[i] == first and i + 1 < n and word[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


# ----------------------------------------------------------------------------- the tokenizer

class PreTokenizer(Protocol):
    """What splits a text before BPE when `pattern` cannot (hf.HFPreTokenizer: Hugging Face's pipeline):
    pieces of text to BPE-encode, and the ids of added tokens cut out whole."""

    def split(self, text: str) -> list[str | int]: ...


class Tokenizer:
    """Byte-level BPE ranks + split pattern + special tokens, run by `tiktoken.Encoding`.

    Every way of making one (train, load a folder, load a tiktoken encoding by name, read a Hugging Face
    tokenizer.json) ends in this constructor, so a new source of ranks only has to produce (pattern, ranks,
    special tokens). A Hugging Face tokenizer also brings its `pre_tokenizer` (hf.HFPreTokenizer, a
    `PreTokenizer`), which then splits the text in Python instead of `pattern`, and the files it was read from
    (`hf_files`), which `save` writes back. `add_bos`: the model was trained with BOS before every text, so
    prompts must start with it too (`encode_prompt`); never so for the tokenizers this project trains, whose
    models learn without BOS (documents are only followed by EOS). `stop_ids`: EOS and any other id that ends
    a completion (a released model's generation_config.json may list several).
    """

    def __init__(self, name: str, pattern: str, ranks: dict[bytes, int],
                 special_tokens: Mapping[str, int] | None = None, *, bos: str = BOS, eos: str = EOS,
                 pad: str = PAD, pre_tokenizer: PreTokenizer | None = None,
                 hf_files: Mapping[str, dict | str] | None = None, add_bos: bool = False,
                 stop_ids: Iterable[int] = ()):
        if special_tokens is None:  # ours come right after the ordinary ranks
            first = max(ranks.values()) + 1
            special_tokens = {token: first + i for i, token in enumerate(SPECIAL_TOKENS)}
        missing = [t for t in (bos, eos, pad) if t not in special_tokens]
        if missing:
            raise ValueError(f"tokenizer {name!r} lacks the special tokens {missing}")
        self.name, self.pattern, self.ranks = name, pattern, ranks
        self.special_tokens = dict(special_tokens)
        self.pre_tokenizer, self.hf_files, self.add_bos = pre_tokenizer, dict(hf_files or {}), add_bos
        self.encoding = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks,
                                          special_tokens=self.special_tokens)
        self.bos_id, self.eos_id, self.pad_id = (self.special_tokens[t] for t in (bos, eos, pad))
        self.stop_ids = tuple(sorted({self.eos_id, *stop_ids}))  # ids that end a completion

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included (the model's embedding needs at least this many rows)."""
        return self.encoding.n_vocab

    # ------------------------------------------------------------------ encode / decode

    def encode(self, text: str) -> list[int]:
        """Plain text to ids. Special tokens never come from text, even from the string "<|eos|>":
        documents are plain text, and only the code that packs them adds BOS/EOS ids."""
        if self.pre_tokenizer is None:
            return self.encoding.encode_ordinary(text)
        plan = self._plan(text)
        return self._assemble(plan, map(self.encoding.encode_ordinary, self._runs([plan])))

    def encode_prompt(self, text: str, bos: bool | None = None) -> list[int]:
        """The ids of a prompt the model completes or is trained on: BOS first when the model was trained
        that way (`bos`, default `self.add_bos`: the released DeepSeek models were, ours were not), then
        `encode(text)`. Every stage encodes its prompts here, so training and generation agree."""
        return ([self.bos_id] if (self.add_bos if bos is None else bos) else []) + self.encode(text)

    def encode_batch(self, texts: Iterable[str], num_threads: int = 8) -> list[list[int]]:
        """`encode` on many texts at once, on tiktoken's thread pool."""
        if self.pre_tokenizer is None:
            return self.encoding.encode_ordinary_batch(list(texts), num_threads=num_threads)
        plans = [self._plan(text) for text in texts]  # pre-tokenizing is Python: one thread
        encoded = iter(self.encoding.encode_ordinary_batch(self._runs(plans), num_threads=num_threads))
        return [self._assemble(plan, encoded) for plan in plans]

    def _plan(self, text: str) -> list:
        """A Hugging Face tokenizer's text as tiktoken will take it: the pre-tokenizer's pieces joined
        by PIECE_SEPARATOR into runs (str), which PIECES_PATTERN cuts apart again so that one Rust
        call BPE-encodes every piece of the run on its own; added tokens' ids (int); and a piece that
        contains PIECE_SEPARATOR itself (rare: "\\x00" in the text) alone, as a 1-tuple."""
        plan, run = [], []
        for piece in self.pre_tokenizer.split(text):
            if isinstance(piece, str) and PIECE_SEPARATOR not in piece:
                run.append(piece)
                continue
            if run:
                plan.append(PIECE_SEPARATOR.join(run))
                run = []
            plan.append(piece if isinstance(piece, int) else (piece,))
        if run:
            plan.append(PIECE_SEPARATOR.join(run))
        return plan

    @staticmethod
    def _runs(plans: list[list]) -> list[str]:
        """The runs of all the plans, in order, for one tiktoken batch."""
        return [item for plan in plans for item in plan if isinstance(item, str)]

    def _assemble(self, plan: list, encoded_runs: Iterator[list[int]]) -> list[int]:
        ids = []
        for item in plan:
            if isinstance(item, str):
                ids += next(encoded_runs)
            elif isinstance(item, int):
                ids.append(item)
            else:
                ids += self._single_piece.encode_ordinary(item[0])
        return ids

    @functools.cached_property
    def _single_piece(self) -> tiktoken.Encoding:
        """The same ranks with a pattern that takes the whole text as one piece (built on first use)."""
        return tiktoken.Encoding(f"{self.name}-piece", pat_str=r"[\s\S]+", mergeable_ranks=self.ranks,
                                 special_tokens={})

    def decode(self, ids: Iterable[int]) -> str:
        """Ids to text; bytes that are not valid UTF-8 (a cut multi-byte character) become U+FFFD.
        Special and added tokens give their text. An id that is no token becomes U+FFFD as well: a model
        may have more embedding rows than its tokenizer has ids (DeepSeekMath 7B: 102,400 rows for some
        100,000 ids), and a sampled completion can hold one."""
        ids = [int(i) for i in ids]
        try:
            return self.encoding.decode(ids)
        except (KeyError, OverflowError):
            return b"".join(map(self.token_bytes, ids)).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token (a special token gives its own name), e.g. to print a vocabulary;
        U+FFFD's bytes for an id that is no token."""
        try:
            return self.encoding.decode_single_token_bytes(token_id)
        except (KeyError, OverflowError):
            return NO_TOKEN

    def __repr__(self) -> str:
        return f"Tokenizer({self.name!r}, vocab_size={self.vocab_size}, add_bos={self.add_bos})"

    # ------------------------------------------------------------------ train

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, *, pattern: str = SPLIT_PATTERN,
              name: str = "bpe", progress: bool = False) -> Tokenizer:
        """Train byte-level BPE on `texts` (any iterable, read once) to `vocab_size` ids in all:
        256 bytes, vocab_size - 259 merges, 3 special tokens. Deterministic: the result depends only
        on the multiset of texts, not their order. A corpus that runs out of pairs to merge gives a
        smaller vocabulary (with a warning)."""
        num_merges = vocab_size - 256 - len(SPECIAL_TOKENS)
        if num_merges < 0:
            raise ValueError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)} "
                             f"(256 bytes + {len(SPECIAL_TOKENS)} special tokens), got {vocab_size}")
        chunk_counts = count_chunks(texts, pattern, progress=progress)
        ranks = train_bpe(chunk_counts, num_merges, progress=progress)
        if len(ranks) < 256 + num_merges:
            warnings.warn(f"the training text has no pairs left to merge after {len(ranks) - 256} "
                          f"merges: vocab_size is {len(ranks) + len(SPECIAL_TOKENS)}, not {vocab_size}")
        return cls(name, pattern, ranks)

    # ------------------------------------------------------------------ save / load

    def save(self, directory) -> Path:
        """Write `tokenizer.tiktoken` (tiktoken's rank file) and `tokenizer.json` into `directory`;
        a tokenizer read from Hugging Face files writes those files back instead, unchanged."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.hf_files:
            for filename, content in self.hf_files.items():  # JSON files, and a chat template's text
                text = json.dumps(content, indent=2, ensure_ascii=False) + "\n" if isinstance(content, dict) \
                    else content
                (directory / filename).write_text(text)
            return directory
        with open(directory / RANKS_FILE, "wb") as f:
            for token, rank in sorted(self.ranks.items(), key=lambda item: item[1]):
                f.write(base64.b64encode(token) + b" " + str(rank).encode() + b"\n")
        config = {"name": self.name, "pattern": self.pattern, "special_tokens": self.special_tokens}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        return directory

    @classmethod
    def load(cls, dir_or_name) -> Tokenizer:
        """A folder written by `save`, or the name of a tiktoken encoding ("cl100k_base", ...: needs the
        internet the first time) with our three special tokens appended after its ranks. A Hugging Face
        `tokenizer.json` is hf.load_tokenizer's (which hands every other folder to this method)."""
        path = Path(dir_or_name)
        file = path / CONFIG_FILE if path.is_dir() else path
        if file.is_file():
            config = read_json(file)
            if isinstance(config.get("model"), dict):  # Hugging Face's: {"model": {"type", "vocab", ...}}
                raise ValueError(f"{file} is a Hugging Face tokenizer.json: read it with hf.load_tokenizer")
            if not {"name", "pattern", "special_tokens"} <= config.keys():
                raise ValueError(f"{file} is neither a Hugging Face tokenizer.json (no \"model\") nor the "
                                 f"{CONFIG_FILE} of a folder written by Tokenizer.save")
            ranks = read_ranks(file.parent / RANKS_FILE)
            return cls(config["name"], config["pattern"], ranks, config["special_tokens"])
        if path.is_dir():
            raise FileNotFoundError(f"{path} has no {CONFIG_FILE}: a tokenizer folder holds either "
                                    f"{RANKS_FILE} and {CONFIG_FILE} (written by Tokenizer.save) or a "
                                    f"Hugging Face tokenizer.json")
        if str(dir_or_name) in tiktoken.list_encoding_names():
            return cls.from_tiktoken(str(dir_or_name))
        raise FileNotFoundError(
            f"no tokenizer folder at {path} (a folder with {RANKS_FILE} and {CONFIG_FILE}, written by "
            f"Tokenizer.save, or with a Hugging Face tokenizer.json), nor a tiktoken encoding name "
            f"({', '.join(tiktoken.list_encoding_names())})")

    @classmethod
    def from_tiktoken(cls, name: str) -> Tokenizer:
        """One of tiktoken's published encodings, which tiktoken downloads on first use."""
        try:
            base = tiktoken.get_encoding(name)
        except OSError as e:  # requests' ConnectionError and friends are OSErrors
            raise ConnectionError(
                f"could not get tiktoken's {name!r}: tiktoken downloads it from the internet on first use "
                f"(then caches it, see TIKTOKEN_CACHE_DIR) and that failed, probably because this machine "
                f"is offline ({type(e).__name__}: {e}). Offline, train a tokenizer instead: "
                f"`python tokenizer.py train --input CORPUS.jsonl.gz --vocab-size 4096 --out DIR`, "
                f"then Tokenizer.load(DIR).") from e
        # tiktoken's documented way to extend an encoding: reuse its pattern and ranks
        return cls(name, base._pat_str, base._mergeable_ranks)


def checkpoint_tokenizer(model_dir, override=None) -> str:
    """Where the tokenizer of a model folder is, for every stage that loads a model: `override` (a
    --tokenizer flag) if given; else the "tokenizer" that our checkpoints name in config.json (a path as
    written at training time: tried as given, then relative to the model folder); else the folder
    itself, as a Hugging Face model folder holds its tokenizer.json beside the weights."""
    if override:
        return str(override)
    model_dir = Path(model_dir)
    config = model_dir / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"no model checkpoint at {model_dir}: {config} is missing")
    saved = read_json(config).get("tokenizer")
    if not saved:
        if not (model_dir / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{config} names no tokenizer and {model_dir} holds no {CONFIG_FILE}: "
                                    f"pass --tokenizer")
        return str(model_dir)
    beside = model_dir / saved
    return str(beside) if not Path(saved).exists() and beside.exists() else str(saved)


def read_json(path) -> dict:
    """A JSON object from a file, with the file's name in the error if it is not one."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a JSON file ({e})") from e
    if not isinstance(content, dict):
        raise ValueError(f"{path}: not a JSON object")
    return content


def read_ranks(path) -> dict[bytes, int]:
    """tiktoken's rank file: one `base64(token) rank` line per token. (tiktoken.load.load_tiktoken_bpe
    reads it too, but caches files by path: a folder re-saved in place would load the old ranks.)"""
    ranks = {}
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
            except ValueError as e:
                raise ValueError(f"{path}:{number}: not a `base64 rank` line: {line[:80]!r}") from e
    if not ranks:
        raise ValueError(f"{path}: no tokens")
    if len(set(ranks.values())) != len(ranks):
        raise ValueError(f"{path}: two tokens share a rank")
    return ranks


# ----------------------------------------------------------------------------- benchmark

def synthetic_text(mb: float, seed: int = 0) -> str:
    """About `mb` megabytes (10^6 UTF-8 bytes) of web-like text from a fixed seed: words of a Zipf
    vocabulary of 30,000 made-up words (some with accents or Greek letters), numbers, punctuation,
    capitalised sentences and paragraphs. Stands in for a corpus in the benchmark and the tests."""
    import numpy as np

    rng = np.random.default_rng(seed)
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiouy"] + ["é", "ü", "th", "qu", "π", "λ"]
    lengths = rng.integers(1, 5, size=30_000)  # syllables per word
    picks = iter(rng.integers(0, len(syllables), size=lengths.sum()).tolist())
    lexicon = ["".join(syllables[next(picks)] for _ in range(n)) for n in lengths]
    zipf = 1.0 / np.arange(1, len(lexicon) + 1) ** 1.1
    n_words = int(mb * 1e6 / 6.5)  # ~6.5 bytes per word with its separator
    word_ids = rng.choice(len(lexicon), size=n_words, p=zipf / zipf.sum())
    kinds, numbers = rng.random(n_words), rng.integers(0, 10 ** rng.integers(1, 6, n_words))
    ends = rng.choice(["", "", "", "", "", "", "", ",", ".", ".\n\n"], size=n_words)
    pieces, capital = [], True
    for word_id, kind, number, end in zip(word_ids, kinds, numbers, ends):
        word = str(number) if kind < 0.08 else ("=" if kind < 0.09 else lexicon[word_id])
        pieces.append((word.capitalize() if capital else word) + end + ("" if end.endswith("\n") else " "))
        capital = end.startswith(".")
    return "".join(pieces)


def bench_train(mb: float = 10, vocab_size: int = 4096, seed: int = 0) -> dict:
    """Time `Tokenizer.train` (both steps) on `synthetic_text(mb, seed)`; returns the figures."""
    text = synthetic_text(mb, seed)
    texts = text.split("\n\n")  # paragraphs as documents
    megabytes = len(text.encode()) / 1e6
    start = time.perf_counter()
    chunk_counts = count_chunks(texts)
    split_done = time.perf_counter()
    ranks = train_bpe(chunk_counts, vocab_size - 256 - len(SPECIAL_TOKENS))
    end = time.perf_counter()
    return {"mb": round(megabytes, 2), "vocab_size": len(ranks) + len(SPECIAL_TOKENS),
            "distinct_chunks": len(chunk_counts), "pretokenize_s": round(split_done - start, 2),
            "merge_s": round(end - split_done, 2), "train_s": round(end - start, 2),
            "mb_per_s": round(megabytes / (end - start), 3)}


def bench_encode(tok: Tokenizer, mb: float = 10, seed: int = 0, num_threads: int = 8) -> dict:
    """Time `tok.encode_batch` on the paragraphs of `synthetic_text(mb, seed)`; returns the figures."""
    text = synthetic_text(mb, seed)
    texts = text.split("\n\n")
    megabytes = len(text.encode()) / 1e6
    start = time.perf_counter()
    tokens = sum(map(len, tok.encode_batch(texts, num_threads=num_threads)))
    seconds = time.perf_counter() - start
    return {"tokenizer": tok.name, "mb": round(megabytes, 2), "tokens": tokens, "encode_s": round(seconds, 2),
            "mb_per_s": round(megabytes / seconds, 3), "bytes_per_token": round(megabytes * 1e6 / tokens, 2)}


# ----------------------------------------------------------------------------- command line

def read_texts(paths: Iterable, field: str, stats: Counter) -> Iterator[str]:
    """The `field` string of every record of the JSONL files; bad lines are skipped and counted in
    `stats` by reason (formats.read_jsonl), as are records without a string `field`."""
    for path in paths:
        for record in read_jsonl(path, stats):
            text = record.get(field)
            if not isinstance(text, str):
                stats["missing_field"] += 1
                continue
            stats["documents"] += 1
            stats["bytes"] += len(text.encode("utf-8", errors="replace"))
            yield text


def main(argv=None, load=Tokenizer.load) -> int:
    """The command line. `load` reads --tokenizer: `python hf.py encode|bench` passes hf.load_tokenizer,
    which reads a Hugging Face tokenizer.json too."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a tokenizer on JSONL text and save it")
    train.add_argument("--input", nargs="+", required=True, help="JSONL files (.jsonl or .jsonl.gz)")
    train.add_argument("--field", default="text", help="the record field holding the text (default: text)")
    train.add_argument("--vocab-size", type=int, required=True, help="ids in all, 3 special tokens included")
    train.add_argument("--out", required=True,
                       help="folder to write tokenizer.tiktoken, tokenizer.json, stats.json")
    train.add_argument("--name", default="bpe", help="the encoding's name (default: bpe)")
    encode = commands.add_parser("encode", help="print the ids of a text (JSON list)")
    encode.add_argument("--tokenizer", required=True,
                        help="a saved tokenizer folder or a tiktoken encoding name (`python hf.py encode`: "
                             "a Hugging Face one too)")
    encode.add_argument("--pieces", action="store_true", help="also print each token's text")
    encode.add_argument("text", help="the text to encode")
    bench = commands.add_parser("bench", help="time training (or, with --tokenizer, encoding) on synthetic "
                                              "text; prints the figures")
    bench.add_argument("--mb", type=float, default=10, help="megabytes of synthetic text (default: 10)")
    bench.add_argument("--vocab-size", type=int, default=4096, help="vocabulary size (default: 4096)")
    bench.add_argument("--seed", type=int, default=0, help="seed of the synthetic text (default: 0)")
    bench.add_argument("--tokenizer", help="time encode_batch with this tokenizer instead of training (a "
                                           "folder or a tiktoken name; `python hf.py bench`: Hugging Face's)")
    args = parser.parse_args(argv)

    if args.command == "train":
        stats: Counter = Counter()
        start = time.perf_counter()
        tok = Tokenizer.train(read_texts(args.input, args.field, stats), args.vocab_size,
                              name=args.name, progress=True)
        tok.save(args.out)
        result = {"inputs": [str(p) for p in args.input], "vocab_size": tok.vocab_size, **stats,
                  "seconds": round(time.perf_counter() - start, 2)}
        (Path(args.out) / "stats.json").write_text(json.dumps(result, indent=2) + "\n")
        skipped = {k: v for k, v in stats.items() if k not in ("documents", "bytes")}
        print(f"trained {tok} on {stats['documents']} documents ({stats['bytes'] / 1e6:.1f} MB) in "
              f"{result['seconds']} s; skipped: {skipped or 'nothing'}; saved to {args.out}")
    elif args.command == "encode":
        tok = load(args.tokenizer)
        ids = tok.encode(args.text)
        print(json.dumps(ids))
        if args.pieces:
            print(json.dumps([tok.token_bytes(i).decode("utf-8", errors="replace") for i in ids],
                             ensure_ascii=False))
    elif args.command == "bench" and args.tokenizer:
        figures = bench_encode(load(args.tokenizer), args.mb, args.seed)
        print(f"encode_batch with {figures['tokenizer']}: {figures['mb']} MB in {figures['encode_s']} s "
              f"({figures['mb_per_s']} MB/s, {figures['bytes_per_token']} bytes per token)")
        print(json.dumps(figures))
    elif args.command == "bench":
        figures = bench_train(args.mb, args.vocab_size, args.seed)
        print(f"BPE training: {figures['mb']} MB to {figures['vocab_size']} ids in {figures['train_s']} s "
              f"({figures['mb_per_s']} MB/s; pre-tokenize {figures['pretokenize_s']} s, "
              f"merges {figures['merge_s']} s, {figures['distinct_chunks']} distinct chunks)")
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    run_cli(main)
