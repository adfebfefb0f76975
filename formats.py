"""Every format the stages exchange, in one place.

  - JSONL (plain or .gz) read so that bad input never crashes a run: broken lines, invalid UTF-8 and
    truncated gzip are skipped and counted by reason; written atomically (temporary name, then rename);
  - Common Crawl WET files (.warc.wet.gz) and WARC files of HTML responses, the raw input of the corpus
    pipeline (any input that yields nothing is an error naming the file);
  - benchmarks (GSM8K, MATH, the toy benchmark) as one record shape, with their gold answers;
  - the chat templates of DeepSeekMath (§3.1) and DeepSeek-R1-Zero, and the zero-shot instructions.
Token shards and their manifest are written by data_pipeline.py (tokenize) and read by pretrain.py.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator


# ----------------------------------------------------------------------------- JSONL

def open_text_lines(path) -> Iterator[bytes]:
    """Raw lines of a plain or gzip file (by suffix), as bytes so that decoding errors are ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        yield from f


def read_jsonl(path, stats: Counter | None = None) -> Iterator[dict]:
    """Stream the objects of a .jsonl / .jsonl.gz file. Bad input is skipped and counted in
    `stats` by reason (invalid_utf8, bad_json, not_an_object, truncated_gzip); blank lines are
    ignored. A truncated gzip ends the stream where the data ends, keeping what came before."""
    stats = stats if stats is not None else Counter()
    lines = open_text_lines(path)
    while True:
        try:
            raw = next(lines)
        except StopIteration:
            return
        except (EOFError, gzip.BadGzipFile, zlib.error):
            stats["truncated_gzip"] += 1
            return
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            stats["invalid_utf8"] += 1
            continue
        except json.JSONDecodeError:
            stats["bad_json"] += 1
            continue
        if not isinstance(obj, dict):
            stats["not_an_object"] += 1
            continue
        yield obj


def write_jsonl(path, records: Iterable[dict]) -> int:
    """Write records (gzip when the name ends in .gz) to a temporary name, then rename: a crash
    never leaves a half-written file under the real name. Returns the number written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    raw = open(tmp, "wb")
    # mtime=0: the same records give byte-identical files (determinism checks compare bytes)
    f = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if path.suffix == ".gz" else raw
    with raw, f, io.TextIOWrapper(f, encoding="utf-8", newline="\n") as text:
        for rec in records:
            text.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n

# ----------------------------------------------------------------------------- web pages: JSONL, WET, WARC

def is_warc(path) -> bool:
    """Common Crawl's record files: WET (extracted text, .warc.wet.gz) and WARC (HTTP responses, .warc.gz)."""
    return Path(path).name.endswith((".wet", ".wet.gz", ".warc", ".warc.gz"))


def read_documents(path, stats: Counter) -> Iterator[dict]:
    """The pages of one input file: {url, text} JSONL (plain or .gz), or the records of a WET / WARC file
    (read_warc: {url, text} for WET, {url, html, charset} for an HTML response, whose text the caller
    extracts). Bad records are skipped and counted in `stats`. A file that yields no record at all (an empty
    file, a WARC of requests only, a file in another format) is an error naming it: reading never silently
    produces nothing."""
    seen = Counter()
    records = read_warc(path, stats, seen) if is_warc(path) else read_jsonl(path, stats)
    n = 0
    for rec in records:
        n += 1
        yield rec
    if n == 0 and not sum(stats.values()):
        found = f"; its WARC records: {dict(seen)}" if seen else ""
        raise ValueError(f"{path}: no documents read (empty, or not JSONL of {{url, text}}, WET or WARC "
                         f"with HTML responses){found}")


def read_warc(path, stats: Counter, seen: Counter | None = None) -> Iterator[dict]:
    """The page records of a WARC file (ISO 28500): gzip members (or plain text) of records, each a header
    block ("WARC-Type: ...", "WARC-Target-URI: <url>", "Content-Length: <bytes>"), a blank line and the body.
      - conversion (WET files): the page's UTF-8 text -> {url, text};
      - response: an HTTP message; a 2xx HTML one -> {url, html: bytes, charset: the HTTP header's or None};
        other responses are counted (http_status, not_html);
      - other types (warcinfo, request, metadata) are not documents and are passed over, counted in `seen`.
    Junk between records, a non-numeric Content-Length, invalid UTF-8 and a cut-off end are counted."""
    seen = seen if seen is not None else Counter()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        lost = False  # inside junk after a malformed record: skip to the next "WARC/" line
        while True:
            try:
                line = f.readline()
                if not line:
                    return
                if not line.startswith(b"WARC/"):
                    if line.strip() and not lost:
                        stats["bad_warc_record"] += 1
                        lost = True
                    continue
                lost = False
                headers = {}
                while (line := f.readline()).strip():
                    key, _, value = line.decode("utf-8", "replace").partition(":")
                    headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length", ""))
                body = f.read(length)
            except ValueError:  # no or non-numeric Content-Length
                stats["bad_warc_record"] += 1
                lost = True
                continue
            except (EOFError, gzip.BadGzipFile, zlib.error):
                stats["truncated_gzip"] += 1
                return
            kind = headers.get("warc-type")
            seen[kind] += 1
            if kind not in ("conversion", "response"):
                continue
            if len(body) < length:
                stats["truncated_record"] += 1
                return
            url = headers.get("warc-target-uri")
            if kind == "response":
                page = http_page(body, stats)
                if page is not None:
                    yield {"url": url, **page}
                continue
            try:
                yield {"url": url, "text": body.decode("utf-8")}
            except UnicodeDecodeError:
                stats["invalid_utf8"] += 1


def http_page(message: bytes, stats: Counter) -> dict | None:
    """{html, charset} of an HTTP response holding a page (status 2xx, Content-Type text/html or
    application/xhtml+xml); anything else is counted by reason and gives None. Common Crawl stores payloads
    decoded (its X-Crawler-* headers keep the original encodings); other crawlers' WARC files may hold the
    bytes as sent, chunked and gzip- or deflate-compressed, which are undone here."""
    head, sep, payload = message.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = message.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    status = lines[0].split() if lines else []
    if not sep or len(status) < 2 or not status[0].startswith("HTTP/"):
        stats["bad_http_response"] += 1
        return None
    if not status[1].startswith("2"):
        stats["http_status"] += 1
        return None
    fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    content_type = fields.get("content-type", "").lower()
    if content_type and not content_type.startswith(("text/html", "application/xhtml")):
        stats["not_html"] += 1
        return None
    try:
        if fields.get("transfer-encoding", "").lower() == "chunked":
            payload = dechunk(payload)
        encoding = fields.get("content-encoding", "").lower()
        if encoding in ("gzip", "x-gzip"):
            payload = gzip.decompress(payload)
        elif encoding == "deflate":
            payload = zlib.decompress(payload, -zlib.MAX_WBITS if payload[:1] != b"\x78" else zlib.MAX_WBITS)
    except (ValueError, EOFError, OSError, zlib.error):
        stats["bad_http_encoding"] += 1
        return None
    charset = re.search(r"charset=[\"']?([\w.:-]+)", content_type)
    return {"html": payload, "charset": charset.group(1) if charset else None}


def dechunk(data: bytes) -> bytes:
    """The body of an HTTP/1.1 chunked message: hex size line, that many bytes, CRLF, ..., a 0 size line."""
    out, at = [], 0
    while True:
        end = data.index(b"\r\n", at)
        size = int(data[at:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        if len(out[-1]) < size:
            raise ValueError("chunk cut short")
        at = end + 2 + size + 2


# ----------------------------------------------------------------------------- benchmarks

def last_boxed(text: str, max_chars: int = 10_000) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} in text, nested braces included; `\\boxed 5`
    gives "5" (up to a space or "$"). None if there is none, or its braces do not close within
    `max_chars` characters (no answer is that long, and the bound keeps adversarial text fast).
    MATH's reference answer is defined this way; reward.extract_answer reads boxes with it too."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    start += len("\\boxed" if text.startswith("\\boxed", start) else "\\fbox")
    arg = re.compile(r"\s*").match(text, start, start + 200).end()  # where the argument starts
    if not text.startswith("{", arg):
        token = re.compile(r"[^\s$]+").match(text, arg, arg + 200) if arg > start else None
        return token.group() if token else None
    depth = 0
    for brace in re.compile(r"[{}]").finditer(text, arg, arg + max_chars):
        depth += 1 if brace.group() == "{" else -1
        if depth == 0:
            return text[arg + 1:brace.start()]
    return None


def gsm8k_answer(solution: str) -> str:
    """GSM8K's final answer: the text after '#### ', thousands separators removed."""
    if "####" not in solution:
        raise ValueError("GSM8K solution without a '####' answer line")
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


# where a named benchmark's files lie under a data folder: tried in order, the first that exists is read
BENCHMARK_FILES = {"gsm8k": ["gsm8k/{split}.jsonl", "gsm8k/{split}*.jsonl"],
                   # MATH-500, 4500, released
                   "math": ["math/{split}.jsonl", "math/{split}*.jsonl", "math/{split}"],
                   "cmath": ["cmath/{split}.jsonl", "cmath/*{split}*.jsonl"],
                   "agieval": ["agieval/{split}", "agieval"],  # a folder of one JSONL file per task
                   "toy": ["bench_{split}.jsonl"]}

# the text fields of a benchmark row, by role, under the names each benchmark uses (GSM8K's "answer" is its
# solution; AGIEval's rows carry a passage and a list of options; CMATH's question is Chinese)
BENCH_TEXT_FIELDS = {"question": ("question", "problem"), "solution": ("solution", "answer"),
                     "passage": ("passage",), "options": ("options",)}


def benchmark_files(name_or_path, split: str = "test", data_dir=None) -> list[Path]:
    """The files of a benchmark: a name of BENCHMARK_FILES (under `data_dir`), or a path to a JSONL file or to
    a folder of JSONL files (or of MATH's one-JSON-per-problem files). An error lists what was looked for."""
    if str(name_or_path) in BENCHMARK_FILES:
        if data_dir is None:
            raise ValueError(f"benchmark {name_or_path!r} needs a data folder (--data-dir) holding its files")
        tried = [Path(data_dir) / p.format(split=split) for p in BENCHMARK_FILES[str(name_or_path)]]
    else:
        tried = [Path(name_or_path)]
    for pattern in tried:
        for path in sorted(pattern.parent.glob(pattern.name)) if pattern.parent.is_dir() else []:
            if path.is_file():
                return [path]
            files = sorted(path.glob("*.jsonl")) or sorted(path.rglob("*.json"))
            if files:
                return files
    raise FileNotFoundError(f"benchmark {str(name_or_path)!r} (split {split!r}): no file found; looked for "
                            + ", ".join(str(p) for p in tried) + " (a JSONL file or a folder of them)")


def benchmark_rows(name_or_path, split: str = "test", data_dir=None, stats: Counter | None = None
                   ) -> Iterator[tuple[str, dict]]:
    """(where, row) for every row of a benchmark's files (benchmark_files), as stored; `where` is
    "file:record number". Unreadable lines are counted in `stats` (read_jsonl's reasons)."""
    stats = stats if stats is not None else Counter()
    for path in benchmark_files(name_or_path, split, data_dir):
        if path.suffix == ".json":  # MATH as released: <split>/<type>/<n>.json
            name = f"{path.parent.name}/{path.stem}"  # <type>/<n>, MATH's own problem id
            try:
                yield name, {"idx": name, **json.loads(path.read_text())}
            except (json.JSONDecodeError, UnicodeDecodeError):
                stats["bad_json"] += 1
        else:
            for i, row in enumerate(read_jsonl(path, stats)):
                yield f"{path.name}:{i}", row


def load_benchmark(name_or_path, split: str = "test", data_dir=None,
                   stats: Counter | None = None) -> list[dict]:
    """Benchmark problems as records {"id", "question", "answer", "solution", "level", "type"}.

    `name_or_path`: "gsm8k" / "math" / "toy" (files under `data_dir`, found as BENCHMARK_FILES says),
    or a path: a JSONL of GSM8K rows ({"question", "answer" with '#### '}), MATH rows ({"problem",
    "solution"}), toy rows ({"question", "answer", "solution"}), or a folder of them or of MATH's original
    one-JSON-per-problem files. Records without a question or a gradable answer are skipped and
    counted in `stats`."""
    stats = stats if stats is not None else Counter()
    records = []
    for i, (_, row) in enumerate(benchmark_rows(name_or_path, split, data_dir, stats)):
        rec = benchmark_record(row, i)
        if rec is None:
            stats["no_gradable_answer"] += 1
            continue
        records.append(rec)
    return records


def benchmark_record(row: dict, index: int) -> dict | None:
    """One benchmark row of any supported shape -> the unified record (None if not gradable)."""
    question = row.get("question") or row.get("problem")
    solution = row.get("solution") or ""
    if "problem" in row:                      # MATH: gold = last \boxed{} of the solution
        answer = last_boxed(solution)
    elif "####" in str(row.get("answer", "")):  # GSM8K: the answer field is the whole solution
        solution, answer = row["answer"], gsm8k_answer(row["answer"])
    else:
        answer = row.get("answer")
    if not question or answer is None or not str(answer).strip():
        return None
    ident = row.get("id", row.get("unique_id", row.get("idx", index)))  # MATH-500 rows: unique_id, subject
    return {"id": str(ident), "question": question, "answer": str(answer),
            "solution": solution, "level": row.get("level"), "type": row.get("type", row.get("subject"))}


# ----------------------------------------------------------------------------- chat templates

# Zero-shot instructions after the question, one per solution format (§3.1, §5.1). BOXED_SUFFIX (chain of
# thought) is the paper's; TOOL_SUFFIX is DeepSeekMath's evaluation code's; the paper prints no PoT
# instruction, POT_SUFFIX is ours. SFT trains and evaluation prompts with the same text.
BOXED_SUFFIX = "Please reason step by step, and put your final answer within \\boxed{}."
POT_SUFFIX = "Please solve the problem with a Python program that prints the final answer."
TOOL_SUFFIX = ("Please integrate natural language reasoning with programs to solve the problem above, "
               "and put your final answer within \\boxed{}.")
SUFFIXES = {"cot": BOXED_SUFFIX, "pot": POT_SUFFIX, "tool": TOOL_SUFFIX, None: None}

# DeepSeek-R1 Table 1: the R1-Zero template (the `{prompt}` is the question)
R1_TEMPLATE = ("A conversation between User and Assistant. The user asks a question, and the Assistant "
               "solves it. The assistant first thinks about the reasoning process in the mind and then "
               "provides the user with the answer. The reasoning process and answer are enclosed within "
               "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
               "process here </think> <answer> answer here </answer>. User: {prompt}. Assistant:")


def chat_prompt(question: str, template: str = "deepseek", fmt: str | None = "cot") -> str:
    """The prompt a chat model completes. DeepSeekMath: `User: {q}\\n{instruction}\\n\\nAssistant:`
    with the instruction of the solution format `fmt` (cot, pot, tool; None: no instruction); the answer
    then follows after a space and ends with EOS. R1-Zero: the template above (it carries its own).
    hf: the user's message alone (question and instruction), which hf.chat_text puts into a released
    model's own chat template."""
    if fmt not in SUFFIXES:
        raise ValueError(f"unknown solution format {fmt!r}; choose from {[k for k in SUFFIXES if k]}")
    user = f"{question}\n{SUFFIXES[fmt]}" if fmt else question
    if template == "deepseek":
        return f"User: {user}\n\nAssistant:"
    if template == "hf":
        return user
    if template == "r1":
        return R1_TEMPLATE.format(prompt=question)
    raise ValueError(f"unknown chat template {template!r}; choose 'deepseek', 'r1' or 'hf'")


# ----------------------------------------------------------------------------- few-shot prompts (evaluation)

# Few-shot formats as in DeepSeekMath's evaluation code (github.com/deepseek-ai/DeepSeek-Math,
# evaluation/few_shot_prompts): GSM8K "Q: ... A: ...", MATH Minerva's "Problem: ... Solution: ...",
# program-of-thought PAL's "Q: ... # solution in Python:". The model's completion is cut at the
# start of a next exemplar (`stop`).

@dataclass(frozen=True)
class ShotFormat:
    header: str     # the question part, with {question}; the prompt ends with it
    answer: str     # what follows the header in an exemplar, with {solution} or {program}
    separator: str  # between exemplars
    stop: tuple[str, ...]


SHOT_FORMATS = {
    "gsm8k": ShotFormat("Q: {question}\nA:", " {solution}", "\n\n\n", ("\nQ:",)),
    "math": ShotFormat("Problem:\n{question}\n\nSolution:", "\n{solution}", "\n\n", ("\nProblem:",)),
    "toy": ShotFormat("Q: {question}\nA:", " {solution}", "\n\n\n", ("\nQ:",)),
    "pot": ShotFormat("Q: {question}\n\n# solution in Python:", "\n\n\n{program}", "\n\n\n", ("\nQ:",)),
}

# Wei et al. 2022 (Chain-of-Thought Prompting, Table 20), the 8 GSM8K exemplars as DeepSeekMath's
# evaluation code writes them. `program`: the same questions as program-of-thought in this project's
# convention (straight-line Python that prints the answer; PAL, Gao et al. 2022, uses these questions).
GSM8K_SHOTS = [
    {"question": "There are 15 trees in the grove. Grove workers will plant trees in the grove today. After "
                 "they are done, there will be 21 trees. How many trees did the grove workers plant today?",
     "solution": "There are 15 trees originally. Then there were 21 trees after some more were planted. "
                 "So there must have been 21 - 15 = 6. The answer is 6.",
     "program": "trees_before = 15\ntrees_after = 21\nprint(trees_after - trees_before)"},
    {"question": "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the "
                 "parking lot?",
     "solution": "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.",
     "program": "cars = 3\narrived = 2\nprint(cars + arrived)"},
    {"question": "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have "
                 "left in total?",
     "solution": "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. "
                 "After eating 35, they had 74 - 35 = 39. The answer is 39.",
     "program": "leah = 32\nsister = 42\neaten = 35\nprint(leah + sister - eaten)"},
    {"question": "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. "
                 "How many lollipops did Jason give to Denny?",
     "solution": "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. "
                 "So he gave Denny 20 - 12 = 8. The answer is 8.",
     "program": "before = 20\nafter = 12\nprint(before - after)"},
    {"question": "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. "
                 "How many toys does he have now?",
     "solution": "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more "
                 "toys. 5 + 4 = 9. The answer is 9.",
     "program": "toys = 5\nfrom_mom = 2\nfrom_dad = 2\nprint(toys + from_mom + from_dad)"},
    {"question": "There were nine computers in the server room. Five more computers were installed each day, "
                 "from monday to thursday. How many computers are now in the server room?",
     "solution": "There were originally 9 computers. For each of 4 days, 5 more computers were added. "
                 "So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.",
     "program": "computers = 9\nper_day = 5\ndays = 4  # monday to thursday\n"
                "print(computers + per_day * days)"},
    {"question": "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 "
                 "more. How many golf balls did he have at the end of wednesday?",
     "solution": "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. "
                 "After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33.",
     "program": "balls = 58\nlost_tuesday = 23\nlost_wednesday = 2\n"
                "print(balls - lost_tuesday - lost_wednesday)"},
    {"question": "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "solution": "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. "
                 "So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.",
     "program": "money = 23\nbagels = 5\nprice = 3\nprint(money - bagels * price)"},
]

# Minerva (Lewkowycz et al. 2022, App. D.2), the 4 MATH exemplars with \boxed{} answers and the closing
# "Final Answer" line, as DeepSeekMath's evaluation code writes them (the stray "}" of the first question
# is in the original prompt).
_FINAL = "\nFinal Answer: The final answer is ${}$. I hope it is correct."
MATH_SHOTS = [
    {"question": "Find the domain of the expression $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}",
     "solution": "The expressions inside each square root must be non-negative.\n"
                 "Therefore, $x-2 \\ge 0$, so $x\\ge2$, and $5 - x \\ge 0$, so $x \\le 5$.\n"
                 "Also, the denominator cannot be equal to zero, so $5-x>0$, which gives $x<5$.\n"
                 "Therefore, the domain of the expression is $\\boxed{[2,5)}$." + _FINAL.format("[2,5)")},
    {"question": "If $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ then find "
                 "$\\det (\\mathbf{A} \\mathbf{B}).$",
     "solution": "We have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) "
                 "= (2)(12) = \\boxed{24}.$" + _FINAL.format("24")},
    {"question": "Terrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights "
                 "instead, how many times must Terrell lift them in order to lift the same total weight?",
     "solution": "If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot "
                 "12\\cdot20=480$ pounds of weight.  If he lifts two 15-pound weights instead for $n$ times, "
                 "he will lift a total of $2\\cdot15\\cdot n=30n$ pounds of weight.  Equating this to 480 "
                 "pounds, we can solve for $n$: \\begin{align*}\n30n&=480\\\\\n\\Rightarrow\\qquad "
                 "n&=480/30=\\boxed{16}\n\\end{align*}"
                 + _FINAL.format("16")},
    {"question": "If the system of equations\n\n\\begin{align*}\n6x-4y&=a,\\\\\n6y-9x &=b.\n\\end{align*}has "
                 "a solution $(x, y)$ where $x$ and $y$ are both nonzero, find $\\frac{a}{b},$ assuming $b$ "
                 "is nonzero.",
     "solution": "If we multiply the first equation by $-\\frac{3}{2}$, we obtain\n\n"
                 "$$6y-9x=-\\frac{3}{2}a.$$Since we also know that $6y-9x=b$, we have\n\n"
                 "$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$"
                 + _FINAL.format("-\\frac{2}{3}")},
]
BUILTIN_SHOTS = {"gsm8k": GSM8K_SHOTS, "math": MATH_SHOTS}
