"""Data: every format the pipeline exchanges, and the math-corpus collection of DeepSeekMath §2.1.

Part 1, formats (used by every later stage):
  - JSONL reading that never crashes on bad input: broken lines are skipped and counted by reason;
  - benchmarks (GSM8K, MATH, the toy benchmark) as one record shape;
  - the chat templates of DeepSeekMath (§3.1) and DeepSeek-R1-Zero.
Part 2, the corpus pipeline (subcommands of `python data_pipeline.py`), comes after.
The tokenizer lives in tokenizer.py and is re-exported here.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from collections import Counter
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


# ----------------------------------------------------------------------------- benchmarks

def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} in text, nested braces included; None if
    there is none or its braces never close. MATH's reference answer is defined this way."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = start + (6 if text.startswith("\\boxed", start) else 5)
    while i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] != "{":  # "\boxed 5": the answer runs to the next space or "$"
        end = i
        while end < len(text) and text[end] not in " $\n":
            end += 1
        return text[i:end] or None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return None


def gsm8k_answer(solution: str) -> str:
    """GSM8K's final answer: the text after '#### ', thousands separators removed."""
    if "####" not in solution:
        raise ValueError("GSM8K solution without a '####' answer line")
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


BENCHMARK_FILES = {"gsm8k": "gsm8k/{split}.jsonl", "math": "math/{split}.jsonl", "toy": "bench_{split}.jsonl"}


def load_benchmark(name_or_path, split: str = "test", data_dir=None, stats: Counter | None = None) -> list[dict]:
    """Benchmark problems as records {"id", "question", "answer", "solution", "level", "type"}.

    `name_or_path`: "gsm8k" / "math" / "toy" (files under `data_dir`, laid out as BENCHMARK_FILES),
    or a path: a JSONL of GSM8K rows ({"question", "answer" with '#### '}), MATH rows ({"problem",
    "solution"}), toy rows ({"question", "answer", "solution"}), or a folder of MATH's original
    one-JSON-per-problem files. Records without a question or a gradable answer are skipped and
    counted in `stats`."""
    stats = stats if stats is not None else Counter()
    if str(name_or_path) in BENCHMARK_FILES:
        if data_dir is None:
            raise ValueError(f"benchmark {name_or_path!r} needs data_dir (the folder holding its files)")
        path = Path(data_dir) / BENCHMARK_FILES[str(name_or_path)].format(split=split)
    else:
        path = Path(name_or_path)
    if path.is_dir():  # MATH as released: <split>/<type>/<n>.json
        rows = []
        for f in sorted(path.rglob("*.json")):
            try:
                rows.append({"idx": str(f.relative_to(path).with_suffix("")), **json.loads(f.read_text())})
            except (json.JSONDecodeError, UnicodeDecodeError):
                stats["bad_json"] += 1
    else:
        rows = read_jsonl(path, stats)
    records = []
    for i, row in enumerate(rows):
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
    return {"id": str(row.get("id", row.get("idx", index))), "question": question, "answer": str(answer),
            "solution": solution, "level": row.get("level"), "type": row.get("type")}


# ----------------------------------------------------------------------------- chat templates

# DeepSeekMath-Instruct/RL are evaluated zero-shot with this suffix (§3.1, §5.1)
BOXED_SUFFIX = "Please reason step by step, and put your final answer within \\boxed{}."

# DeepSeek-R1 Table 1: the R1-Zero template (the `{prompt}` is the question)
R1_TEMPLATE = ("A conversation between User and Assistant. The user asks a question, and the Assistant "
               "solves it. The assistant first thinks about the reasoning process in the mind and then "
               "provides the user with the answer. The reasoning process and answer are enclosed within "
               "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
               "process here </think> <answer> answer here </answer>. User: {prompt}. Assistant:")


def chat_prompt(question: str, template: str = "deepseek", suffix: bool = True) -> str:
    """The prompt a chat model completes. DeepSeekMath: `User: {q}\\n\\nAssistant:` (the answer then
    follows after a space and ends with EOS); R1-Zero: the template above."""
    if template == "deepseek":
        q = f"{question}\n{BOXED_SUFFIX}" if suffix else question
        return f"User: {q}\n\nAssistant:"
    if template == "r1":
        return R1_TEMPLATE.format(prompt=question)
    raise ValueError(f"unknown chat template {template!r}; choose 'deepseek' or 'r1'")
