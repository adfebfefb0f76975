"""The toy world: a synthetic miniature of everything the DeepSeekMath pipeline consumes.

    python toy_data.py --out runs/toy/world --seed 0     # defaults: 20k web pages, 6,500 problems, ~10 s

The whole pipeline then runs anywhere in minutes, and every stage is scored against ground truth.
Files written to --out (the same seed and flags give byte-identical files, stats.json aside):

    pool.jsonl.gz      the "Common Crawl": web pages {"url", "text"} on 200 sites, shuffled, plus
                       malformed lines on purpose (--malformed of each kind): broken JSON, empty text,
                       invalid UTF-8, a record without "text"
    labels.jsonl       ground truth for every well-formed pool record, in pool order: {"url", "is_math",
                       "duplicate_of": url | null, "leaked_from": test id | null, "style"}
    seed.jsonl.gz      the seed math corpus, OpenWebMath's role {"url", "text"}
    general.jsonl.gz   general non-math text for the pre-training mixture {"text"}
    bench_train.jsonl  the toy benchmark {"id", "question", "answer", "solution", "program", "level", "type"}
    bench_test.jsonl
    sft.jsonl          {"question", "solution", "format": "cot" | "pot"} from the train split
    rl.jsonl           {"question", "answer"} for every train question (overlapping SFT, as in the paper)
    chat.jsonl         only with --chat-records N: N non-reasoning SFT records {"question", "solution"}
    stats.json         counts by kind, file sizes, seconds (also printed)

Design:
- Benchmark: arithmetic word problems; `level` = number of steps (1..4, equally many per level in each
  split; no test question in train). Every CoT line is one computation "a op b = c" (op + - * /,
  mostly + and -; division only when exact; start values and added or subtracted numbers 1..9,
  multipliers and divisors 2..9; results 1..30; the difficulty flags --max-level, --max-value,
  --max-operand, --op-weights change these). This difficulty is tuned for toy.sh: a 1M-parameter
  model reaches ~35% after minutes of SFT (75% on one step, 14% on four), leaving room for RL; with
  larger numbers (up to 100, or 500 with many * and /) it stays under 10% and RL has little to
  reinforce. The last
  line "The answer is \\boxed{N}."; the PoT program is straight-line Python printing N. Two template
  families ("count": one quantity changed step by step; "compare": people relative to each other),
  6 scenes, 30 names, 25 objects: a model must read the question, memorising does not help.
- Web pool: ~19% math pages in four styles (worked word problems, definitions and theorems, algebra,
  forum Q&A) and non-math pages (sports, cooking, travel, news, software, forum threads on those).
  Vocabulary overlaps on purpose (numbers, "percent", "average", "function", "equation" and the forum
  frame of greetings and thanks appear on both sides), and 1% of pages are non-math but math-heavy
  (news about math exams, docs of numeric libraries): a good classifier is near, not at, perfect.
  Worked pages tell problems like the benchmark's (same arithmetic, same CoT format) in other words,
  so pre-training on them helps without sharing a 10-gram with any test question.
- Sites and URLs (https://site/section/sub/slug-id.html): pure math sites, math forums, news sites
  with a math section (/homework/, /math/ or /learn/ next to /news/, /sports/...), Q&A sites
  (/questions/math/ next to /questions/cooking/), mirrors hosting copies, single-topic non-math sites.
  On every site but the mirrors, each depth-2 path prefix is all math or all non-math, and so is a
  math section at depth 1: the domain rule (site >10% collected, then path prefixes dense in collected
  pages) has a true answer.
- Seed corpus: separate pages (URLs and texts not in the pool) on the 5 "seed" math sites, in two
  styles only: worked problems and definitions. A classifier trained on it misses forum Q&A; those
  threads sit in the same math sections as pages it does collect, so the domain rule adds them to
  the next seed and the next classifier learns the style. A seed outside the pool keeps the pool the
  one thing scored against labels.
- Planted: near-duplicates (a page copied with ~1% of its words changed and a one-line header and
  footer, on the same site or a mirror), exact duplicates (same text under a tracking-parameter or
  mirror URL), leaks (a test question verbatim, with its solution, in an otherwise clean worked page
  or forum thread). Every other page shares no 10-gram of words (lowercase alphanumeric runs) with
  any test question or test solution, nor holds a whole test text of 3..9 words (the paper matches those
  exactly; a one-step solution is 8 words), checked while generating: decontamination has a true answer.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from flags import add_flags, config_from, flag, run_cli
from formats import write_jsonl
from toy_templates import (BORDERLINE, CHAT_QUESTION, COMMON, COMPARE, CONNECTORS, COUNT_SCENES, DEF_BANK,
                           FORUM, ITEMS, NAMES, PRONOUNS, SECOND_LANGUAGE_ANSWER, THINGS, TOPICS, WORKED,
                           alts)
from webdocs import words as words_of  # decontamination's own split of text into words


@dataclass
class ToyConfig:
    out: str = flag("runs/toy/world", "output folder (created)")
    seed: int = flag(0, "random seed; the same seed and flags give byte-identical files")
    pages: int = flag(20_000, "well-formed web pages in pool.jsonl.gz, planted copies included")
    domains: int = flag(200, "web sites (at least 15: every kind of site needs one)")
    seed_pages: int = flag(2_000, "pages of the seed math corpus seed.jsonl.gz (not in the pool)")
    general_docs: int = flag(2_500, "documents of general non-math text in general.jsonl.gz")
    train_size: int = flag(6_000, "benchmark train problems (SFT and RL records come from them)")
    test_size: int = flag(500, "benchmark test problems")
    max_level: int = flag(4, "most steps in a problem; levels 1..max_level are equally frequent")
    max_value: int = flag(30, "largest number in a problem: start values and every step's result lie in "
                               "1..max_value")
    max_operand: int = flag(9, "largest start value and largest number added or subtracted in one step")
    op_weights: str = flag("7,6,1,1", "relative frequency of + - * / steps (a 0 drops * or /)")
    pot_fraction: float = flag(0.3, "fraction of train problems also given as a program-of-thought SFT record")
    near_dups: int = flag(300, "planted near-duplicates (a few words changed, header and footer added)")
    exact_dups: int = flag(40, "planted exact duplicates (same text, another URL)")
    leaks: int = flag(40, "pool pages with a benchmark test question planted verbatim")
    borderline: float = flag(0.01, "fraction of pool pages that are non-math but math-heavy")
    malformed: int = flag(2, "malformed pool lines of each kind (broken JSON, empty text, bad UTF-8, no text)")
    # DeepSeek-R1's recipe (r1.sh); at 0 the world is byte for byte the one without these flags
    second_language: float = flag(0.0, "share of the CoT SFT records whose answer sentence is in a second "
                                        "language (Chinese), so that language mixing can happen",
                                  min=0.0, max=1.0)
    chat_records: int = flag(0, "non-reasoning SFT records to write to chat.jsonl (from the general text)",
                             min=0)


# ============================================================================ the toy benchmark
# A problem is a chain of `level` computations: the question tells them in words, the CoT lists them
# one per line, the program replays them in Python. Small numbers keep every single step learnable by
# a toy model with digit tokens; the number of steps is what makes a problem hard.

MAX_VALUE = 30
OP_WEIGHTS = {"+": 7, "-": 6, "*": 1, "/": 1}
OP_KEYS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
PY_OP = {"+": "+", "-": "-", "*": "*", "/": "//"}


@dataclass(frozen=True)
class Difficulty:
    """What makes a problem hard for a small model: its number of steps, and the size of its numbers
    (each step's arithmetic is learned digit by digit). The defaults are the world described above."""
    max_level: int = 4
    max_value: int = MAX_VALUE
    max_operand: int = 9
    op_weights: tuple = tuple(OP_WEIGHTS.values())   # + - * /

    @classmethod
    def of(cls, cfg: "ToyConfig") -> "Difficulty":
        return cls(cfg.max_level, cfg.max_value, cfg.max_operand,
                   tuple(float(w) for w in cfg.op_weights.split(",")))


# The scenes (toy_templates.py) are told in two voices: "bench", the benchmark's wording, and "web",
# the pool's worked-problem pages (the same arithmetic in other words). Why two: template text
# repeats, so pool pages in the benchmark's wording would share 10-grams with test questions, and
# decontamination (10-gram match, as in the paper) could not tell a planted leak from an honest page.


@dataclass
class Problem:
    question: str
    steps: list          # [(a, op, b, c)]: CoT line "a op b = c"
    program: str         # PoT: Python that prints the answer
    type: str            # template family: "count" or "compare"

    @property
    def answer(self) -> int:
        return self.steps[-1][3]

    @property
    def level(self) -> int:
        return len(self.steps)

    def solution(self, language: str = "en") -> str:
        """The CoT, one computation a line, then the answer sentence in `language` ("en" or "zh")."""
        lines = [f"{a} {op} {b} = {c}" for a, op, b, c in self.steps]
        answer = SECOND_LANGUAGE_ANSWER if language == "zh" else "The answer is \\boxed{{{n}}}."
        return "\n".join(lines + [answer.format(n=self.answer)])


def apply(a: int, op: str, b: int) -> int:
    return {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]


def _operand(rng, op, cur, fixed, diff):
    """A random x for `cur op x` with a whole result in 1..max_value; None if there is none."""
    if op == "+":
        choices = range(1, min(diff.max_operand, diff.max_value - cur) + 1)
    elif op == "-":
        choices = range(1, min(diff.max_operand, cur - 1) + 1)
    elif op == "*":
        choices = [k for k in range(2, 10) if cur * k <= diff.max_value]
    else:
        choices = [k for k in range(2, 10) if cur % k == 0]
    if fixed is not None:
        choices = [fixed] if fixed in choices else []
    return rng.choice(choices) if choices else None


def _pick_step(rng, table, cur, diff):
    """(op, template, x) for the next step; ops drawn by their weights among those valid at `cur`."""
    while True:
        op = rng.choices(list(OP_WEIGHTS), weights=diff.op_weights)[0]
        if not table.get(OP_KEYS[op]):
            continue
        template = rng.choice(table[OP_KEYS[op]])
        template, fixed = (template, None) if isinstance(template, str) else template
        x = _operand(rng, op, cur, fixed, diff)
        if x is not None:
            return op, template, x


def make_problem(rng: random.Random, level: int, voice: str = "bench", diff: Difficulty = Difficulty()) -> Problem:
    """A word problem whose chain of thought has exactly `level` steps, worded in `voice`."""
    if rng.random() < 0.35:
        return _compare_problem(rng, level, voice, diff)
    return _count_problem(rng, level, voice, diff)


def _count_problem(rng, level, voice, diff):
    scene = rng.choice(COUNT_SCENES)
    words = scene[voice]
    (name, pron), (friend, _) = (p.split(":") for p in rng.sample(NAMES, 2))
    slots = dict(N=name, F=friend, I=rng.choice(scene.get("items", ITEMS)), T=rng.choice(THINGS), **PRONOUNS[pron])
    var = scene["var"].format(**slots).replace(" ", "_")
    steps = []
    if level >= 2 and "box" in words and rng.random() < 0.3 and diff.op_weights[2] > 0:
        x = rng.randint(2, min(12, diff.max_value // 2))
        y = rng.randint(2, min(12, diff.max_value // x))
        sentences, code, cur = [rng.choice(words["box"]).format(x=x, y=y, **slots)], [f"{var} = {x} * {y}"], x * y
        steps.append((x, "*", y, cur))
    else:
        cur = rng.randint(2, diff.max_operand)
        sentences, code = [rng.choice(words["start"]).format(x=cur, **slots)], [f"{var} = {cur}"]
    while len(steps) < level:
        op, template, x = _pick_step(rng, words, cur, diff)
        sentence = template.format(x=x, **slots)
        if voice == "bench" and rng.random() < 0.4 and not template.startswith(("{N}", "{F}")):
            sentence = rng.choice(CONNECTORS) + sentence[0].lower() + sentence[1:]
        sentences.append(sentence)
        steps.append((cur, op, x, apply(cur, op, x)))
        code.append(f"{var} = {var} {PY_OP[op]} {x}")
        cur = steps[-1][3]
    sentences.append(rng.choice(words["ask"]).format(**slots))
    return Problem(" ".join(sentences), steps, "\n".join(code + [f"print({var})"]), "count")


def _compare_problem(rng, level, voice, diff):
    words, item = COMPARE[voice], rng.choice(ITEMS)
    together = level >= 2 and rng.random() < 0.4   # the last step adds the first and the last person
    people = [p.split(":")[0] for p in rng.sample(NAMES, level + 1 - together)]
    cur = rng.randint(2, diff.max_operand)
    sentences, code, steps = [words["start"].format(X=people[0], I=item, x=cur)], [f"{people[0].lower()} = {cur}"], []
    for prev, who in zip(people, people[1:]):
        op, template, x = _pick_step(rng, words, cur, diff)
        sentences.append(template.format(X=prev, Y=who, I=item, x=x))
        steps.append((cur, op, x, apply(cur, op, x)))
        code.append(f"{who.lower()} = {prev.lower()} {PY_OP[op]} {x}")
        cur = steps[-1][3]
    first, last = people[0], people[-1]
    if together:
        if steps[0][0] + cur > diff.max_value:
            return _compare_problem(rng, level, voice, diff)
        steps.append((steps[0][0], "+", cur, steps[0][0] + cur))
        code.append(f"total = {first.lower()} + {last.lower()}")
        sentences.append(words["together"].format(X=first, Y=last, I=item))
    else:
        sentences.append(words["ask"].format(X=last, I=item))
    var = "total" if together else last.lower()
    return Problem(" ".join(sentences), steps, "\n".join(code + [f"print({var})"]), "compare")


def bench_record(p: Problem, split: str, i: int) -> dict:
    return {"id": f"toy-{split}-{i:05d}", "question": p.question, "answer": str(p.answer),
            "solution": p.solution(), "program": p.program, "level": p.level, "type": p.type}


def make_benchmark(cfg: ToyConfig) -> tuple[list[Problem], list[Problem]]:
    """(train, test), questions unique across both. Levels cycle, so a split of size S has
    S // max_level problems per level (the remainder goes to the lowest levels)."""
    rng, diff = random.Random(f"{cfg.seed}/bench"), Difficulty.of(cfg)
    seen, splits = set(), []
    for size in (cfg.test_size, cfg.train_size):
        problems = []
        while len(problems) < size:
            p = make_problem(rng, 1 + len(problems) % cfg.max_level, diff=diff)
            if p.question not in seen:
                seen.add(p.question)
                problems.append(p)
        rng.shuffle(problems)
        splits.append(problems)
    test, train = splits
    return train, test


# ============================================================================ web text
# Prose comes from templates with {slots}, filled from the topic's bank, from COMMON, or with a random
# number. Slot-dense templates keep any two pages far apart (no accidental near-duplicates).

SLOT = re.compile(r"\{(\w+)\}")
NUMBERS = {"n": lambda r: r.randint(2, 99), "d": lambda r: r.randint(1, 9), "big": lambda r: r.randint(100, 9999),
           "pct": lambda r: r.randint(2, 60), "year": lambda r: r.randint(1995, 2024),
           "dec": lambda r: f"{r.randint(1, 9)}.{r.randint(0, 9)}", "temp": lambda r: 10 * r.randint(16, 23)}


def fill(rng: random.Random, template: str, bank: dict) -> str:
    """Replace each {slot} by a random number (NUMBERS) or a random value from `bank` or COMMON,
    which may hold slots itself. Unknown slots stay as they are."""
    def one(m):
        key = m.group(1)
        if key in NUMBERS:
            return str(NUMBERS[key](rng))
        values = bank.get(key) or COMMON.get(key)
        return fill(rng, rng.choice(values), bank) if values else m.group(0)
    return SLOT.sub(one, template)


def article_page(rng, topic, extra_lines=()):
    """A title and 2-4 paragraphs of 3-5 sentences; `extra_lines` are mixed in (twice as likely)."""
    t = TOPICS[topic]
    lines = [fill(rng, rng.choice(t["titles"]), t["bank"])]
    for _ in range(rng.randint(2, 4)):
        sentences = rng.sample(t["lines"] + list(extra_lines) * 2, rng.randint(3, 5))
        lines.append(" ".join(fill(rng, s, t["bank"]) for s in sentences))
    return "\n".join(lines)


def forum_page(rng, title, question, answer, bank):
    """A thread: the question post, 3-5 replies (the first answers it), the asker's thanks."""
    f = partial(fill, rng, bank=bank)
    asker = f("{user}")
    posts = [title, fill(rng, rng.choice(FORUM["meta"]), {**bank, "user": [asker]}),
             " ".join([f(rng.choice(FORUM["opener"])), f(rng.choice(FORUM["stuck"])), question,
                       f(rng.choice(FORUM["attempt"]))]),
             f(rng.choice(FORUM["reply"])), answer + " " + f(rng.choice(FORUM["chatter"]))]
    for _ in range(rng.randint(2, 4)):
        posts += [f(rng.choice(FORUM["reply"])), " ".join(f(s) for s in rng.sample(FORUM["chatter"], 2))]
    return "\n".join(posts + [f"Reply from {asker}:", f(rng.choice(FORUM["thanks"]))])


def topic_forum_page(rng, topic):
    t = TOPICS[topic]
    question = fill(rng, rng.choice(t["forum_q"]), t["bank"])
    answer = " ".join(fill(rng, s, t["bank"]) for s in rng.sample(t["forum_a"], 2))
    return forum_page(rng, question, question, answer, t["bank"])


# ---------------------------------------------------------------------------- math pages
# Worked problems and definitions are the seed styles; forum threads are what the first classifier
# misses. LaTeX is built with f-strings, never passed through fill().


def fresh_problem(rng, test_questions, diff):
    """A web-voice problem that is not a test question."""
    while True:
        p = make_problem(rng, rng.randint(1, diff.max_level), voice="web", diff=diff)
        if p.question not in test_questions:
            return p


def worked_page(rng, test_questions, diff, leak=None):
    problems = [fresh_problem(rng, test_questions, diff) for _ in range(rng.randint(3, 5))]
    if leak is not None:
        problems[rng.randrange(len(problems))] = leak
    f = partial(fill, rng, bank={})
    lines = [f(rng.choice(WORKED["titles"])), f(rng.choice(WORKED["intros"]))]
    for i, p in enumerate(problems, 1):
        lines.append(f"Problem {i}. {p.question}")
        if p is leak or rng.random() < 0.65:    # the benchmark's CoT format (always for a leak)
            lines.append("Solution:\n" + p.solution())
        else:
            steps = " ".join(f"Step {j}: {a} {op} {b} = {c}." for j, (a, op, b, c) in enumerate(p.steps, 1))
            lines.append(f"Solution: {steps} Answer: {p.answer}.")
    return "\n".join(lines + [f(rng.choice(WORKED["outros"]))])


def _concepts(r):
    """(definition, example) per concept; the examples carry fresh numbers."""
    a, b, c, k = r.randint(2, 9), r.randint(2, 9), r.randint(2, 12), r.randint(3, 7)
    d, t = r.randint(2, 9), r.randint(1, 20)
    p, g = r.choice([7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]), r.randint(2, 9)
    m, n, s = r.choice([2, 3, 5]), r.choice([7, 11, 13]), r.randint(1, 4)
    tri = r.choice([(3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25)])
    fact = 1
    for i in range(2, k + 1):
        fact *= i
    return [
        ("A prime number is a {whole} greater than 1 whose only positive divisors are 1 and itself.",
         f"For example, ${p}$ is prime, while ${a * b} = {a} \\cdot {b}$ is not."),
        ("The greatest common divisor $\\gcd(a, b)$ of two integers is the largest integer dividing both.",
         f"For instance, $\\gcd({g * m}, {g * n}) = {g}$ because ${m}$ and ${n}$ share no factor."),
        ("An integer $n$ is even if $n = 2k$ for some integer $k$, and odd if $n = 2k + 1$.",
         f"Thus ${2 * c} = 2 \\cdot {c}$ is even and ${2 * c + 1} = 2 \\cdot {c} + 1$ is odd."),
        ("The factorial of a {whole} $n$ is the product $n! = 1 \\cdot 2 \\cdots n$, and $0! = 1$.",
         f"For example, ${k}! = {fact}$."),
        ("An arithmetic sequence adds the same difference $d$ to each term to get the next one.",
         f"The sequence ${t}, {t + d}, {t + 2 * d}, {t + 3 * d}$ has difference $d = {d}$ and its four "
         f"terms sum to $\\frac{{4({t} + {t + 3 * d})}}{{2}} = {2 * (2 * t + 3 * d)}$."),
        ("A geometric sequence multiplies each term by the same ratio $r$ to get the next one.",
         f"The sequence ${a}, {a * m}, {a * m * m}, {a * m ** 3}$ has ratio $r = {m}$."),
        ("We say that $a$ divides $b$, written $a \\mid b$, if $b = ak$ for some integer $k$.",
         f"So ${a} \\mid {a * c}$ since ${a * c} = {a} \\cdot {c}$, but ${a} \\nmid {a * c + 1}$."),
        ("The arithmetic mean of $n$ numbers is their sum divided by $n$.",
         f"The mean of ${c}, {c + d}, {c + 2 * d}$ is $\\frac{{{3 * c + 3 * d}}}{{3}} = {c + d}$."),
        ("A rectangle with sides $a$ and $b$ has area $ab$ and perimeter $2(a + b)$.",
         f"A ${a} \\times {c}$ rectangle has area ${a * c}$ and perimeter ${2 * (a + c)}$."),
        ("Pythagoras: in a right triangle with legs $a$, $b$ and hypotenuse $c$ we have $a^2 + b^2 = c^2$.",
         f"For legs ${tri[0] * s}$ and ${tri[1] * s}$: ${(tri[0] * s) ** 2} + {(tri[1] * s) ** 2} = "
         f"{(tri[2] * s) ** 2} = {tri[2] * s}^2$."),
        ("Division with remainder: for integers $a$ and $b > 0$ there are unique $q$, $r$ with $a = bq + r$ "
         "and $0 \\le r < b$.", f"For $a = {b * c + b - 1}$ and $b = {b}$ we get $q = {c}$ and $r = {b - 1}$."),
        ("The slope of the line through $(x_1, y_1)$ and $(x_2, y_2)$ is $\\frac{y_2 - y_1}{x_2 - x_1}$.",
         f"Through $(1, {t})$ and $({1 + a}, {t + a * m})$ the slope is $\\frac{{{a * m}}}{{{a}}} = {m}$."),
        ("A perfect square is a {whole} of the form $n^2$ for an integer $n$.",
         f"For example ${c * c} = {c}^2$, while ${c * c + 1}$ lies strictly between ${c}^2$ and ${c + 1}^2$."),
    ]


def definitions_page(rng):
    f = partial(fill, rng, bank=DEF_BANK)
    lines = [f(rng.choice(alts("Lecture notes on {subject}, part {d} | {subject}: definitions and examples | "
                               "Chapter {d}. Basic notions | Study guide: key definitions in {subject}"))),
             f(rng.choice(alts("In this section we recall basic facts used later. | We fix notation first. | "
                               "Throughout, all numbers are integers unless stated otherwise.")))]
    for i, (definition, example) in enumerate(rng.sample(_concepts(rng), rng.randint(4, 6)), 1):
        lines += [f"Definition {i}. " + f(definition), f"Example {i}. {example}",
                  f(rng.choice(alts("Exercise {d}.{d}. Check the definition on {n}, {n} and {n}. | Remark. Small "
                                    "cases such as {d}, {n} and {n} are worth trying by hand. | Exercise. Find two "
                                    "more examples between {n} and {big}. | Theorem {d}.{d}. The statement holds for "
                                    "every {whole} up to {big}; see section {d}.")))]
    return "\n".join(lines)


def _signed(v):
    """The term ' + v' or ' - |v|' of a polynomial."""
    return f"+ {v}" if v >= 0 else f"- {-v}"


def algebra_page(rng):
    f = partial(fill, rng, bank={})
    lines = [f(rng.choice(alts("Solving equations, lesson {d} | Algebra practice: equations, set {n} | How to "
                               "solve linear and quadratic equations | Equations worksheet {n}"))),
             f(rng.choice(alts("Solve each equation and check the answer by substitution. | Work through the "
                               "exercises below; full solutions follow each one. | Show every step.")))]
    for i in range(1, rng.randint(5, 7)):
        a, x, b, y = rng.randint(2, 12), rng.randint(1, 25), rng.randint(1, 60), rng.randint(1, 30)
        r, s = rng.choice([v for v in range(-9, 16) if v]), rng.randint(1, 15)
        head = f"{rng.choice(['Exercise', 'Problem', 'Task'])} {i}. Solve"
        lines += rng.choice([
            [f"{head} $ {a}x + {b} = {a * x + b} $.",
             rng.choice([f"Subtract ${b}$ from both sides: $ {a}x = {a * x} $.",
                         f"Moving ${b}$ to the right-hand side gives $ {a}x = {a * x + b} - {b} = {a * x} $."]) + " "
             + rng.choice([f"Divide both sides by ${a}$: $ x = {x} $.", f"Dividing by ${a}$, $ x = {x} $."]),
             f"Check: $ {a} \\cdot {x} + {b} = {a * x} + {b} = {a * x + b} $."],
            [f"{head} $ x^2 {_signed(-(r + s))}x {_signed(r * s)} = 0 $.",
             f"Factor: $ (x {_signed(-r)})(x {_signed(-s)}) = 0 $, so $ x = {r} $ or $ x = {s} $.",
             f"Check: the roots add up to ${r + s}$ and multiply to ${r * s}$, as Vieta's formulas say."],
            [f"{head} the system $ x + y = {x + y} $, $ x - y = {x - y} $.",
             f"Adding the equations gives $ 2x = {2 * x} $, so $ x = {x} $; then $ y = {x + y} - {x} = {y} $."]])
    return "\n".join(lines + [f(rng.choice(alts("Next time: inequalities. | Answers to the {n} extra exercises are "
                                                "at the back. | Practice makes perfect.")))])


def math_forum_page(rng, test_questions, diff, leak=None):
    """A homework-help thread: the shared forum frame around a math question and a casual answer."""
    kind = "word" if leak is not None else rng.choice(["linear", "word", "percent", "concept"])
    a, x, b = rng.randint(2, 9), rng.randint(1, 12), rng.randint(1, 30)
    if kind == "linear":
        question = f"how do I solve {a}x + {b} = {a * x + b} for x?"
        answer = (f"Subtract {b} from both sides to get {a}x = {a * x}, then divide both sides by {a}, "
                  f"so x = {x}. Check: {a} * {x} + {b} = {a * x + b}.")
    elif kind == "percent":
        p, n = rng.choice([5, 10, 20, 25, 50]), 20 * rng.randint(1, 25)
        question = f"what is {p} percent of {n}? is there a quick trick?"
        answer = f"{p} percent means {p}/100, so {n} * {p} / 100 = {n * p // 100}."
    elif kind == "concept":   # little math in many words
        x += 1
        question, answer = rng.choice([
            ("what's the difference between a prime and a composite number?",
             f"Think of {a * x}: it is {a} times {x}, so it has divisors other than 1 and itself. A prime like "
             f"{rng.choice([7, 11, 13, 17])} only has 1 and itself."),
            ("why is any number to the power 0 equal to 1?",
             f"Look at the pattern: {a}^3 = {a ** 3}, {a}^2 = {a * a}, {a}^1 = {a}. Each step divides by {a}, "
             f"so the next one is {a} / {a} = 1."),
            ("is zero even or odd?",
             f"Even. A number is even when it is 2 times a whole number, like {2 * x} = 2 * {x}, and 0 = 2 * 0.")])
    else:
        prob = leak if leak is not None else fresh_problem(rng, test_questions, diff)
        question = prob.question
        answer = ("Go one step at a time: " + ", then ".join(f"{a} {op} {b} = {c}" for a, op, b, c in prob.steps)
                  + f". So the answer is {prob.answer}.")
    title = fill(rng, rng.choice(alts("Help with a {what} question | Stuck on {what} homework | Quick {what} "
                                      "question | Can't get this {what} problem")),
                 dict(what=alts("math | algebra | word problem | percent | homework")))
    return forum_page(rng, title, question, answer, {})


def borderline_page(rng, style, test_questions, diff):
    """News about math exams or docs of a numeric library, labelled non-math (their purpose is news
    or software). Half are mostly prose; half are mostly quoted math (examples with their working),
    the false positives a good classifier still makes."""
    parent, lines = BORDERLINE[style]
    if rng.random() < 0.5:
        return article_page(rng, parent, lines)
    t = TOPICS[parent]
    text = [fill(rng, rng.choice(t["titles"]), t["bank"]),
            " ".join(fill(rng, s, t["bank"]) for s in rng.sample(t["lines"] + lines, 3))]
    for i in range(1, rng.randint(3, 4)):
        if style == "news-math-education":
            p = fresh_problem(rng, test_questions, diff)
            steps = "; ".join(f"{a} {op} {b} = {c}" for a, op, b, c in p.steps)
            text.append(f"Question {i} of this year's exam read: {p.question} The official solution: {steps}.")
        else:
            a, b, x = rng.randint(2, 9), rng.randint(1, 30), rng.randint(1, 12)
            text.append(f"Example {i}: solve_linear({a}, {b}, {a * x + b}) solves $ {a}x + {b} = {a * x + b} $ and "
                        f"returns {x}, because $ x = ({a * x + b} - {b}) / {a} = {x} $.")
    return "\n".join(text)


# ============================================================================ sites and pages

MATH_STYLES = ("math-worked", "math-definitions", "math-algebra", "math-forum")
MATH_SUBS = {"math-worked": ["word-problems", "problems", "exercises"], "math-definitions": ["notes", "definitions"],
             "math-algebra": ["algebra", "equations"], "math-forum": ["forum", "questions", "discuss"]}
FORUM_TOPICS = ("software", "cooking", "travel", "sports")
# kind: (share of the sites, share of the original pages, name parts "first words|second words")
KINDS = {
    "seed-math": (0.025, 0.05, "math algebra number proof calc theorem integer equation|hub corner lab notes world"),
    "math": (0.05, 0.06, "math algebra number proof calc theorem integer equation|zone den base academy center"),
    "math-forum": (0.025, 0.03, "mathhelp askmath mathchat homeworkhelp mathtalk|forum board community club"),
    "mixed-edu": (0.075, 0.12, "daily city campus metro valley family school|times post gazette journal online"),
    "mixed-qa": (0.025, 0.06, "ask answer question howto curious|box spot base hive pal"),
    "mirror": (0.015, 0.0, "mirror archive repost feed cache|zone net hub store"),
}
NONMATH_SHARE = 1 - sum(share for _, share, _ in KINDS.values())
TOPIC_NAMES = {"sports": "goal match league score pitch court team fan|report central zone daily world",
               "cooking": "recipe kitchen baking spice taste pantry chef food|box corner diary lab notes",
               "travel": "travel trip wander journey roam nomad route voyage|guide notes diary planet tales",
               "news": "news daily morning evening metro national local capital|post wire herald today report",
               "software": "code dev stack byte build debug git cloud|blog docs labs works central"}


@dataclass
class Domain:
    name: str
    kind: str                # a KINDS key or "nonmath-<topic>"
    styles: dict             # style -> probability that a page of this site has it
    paths: dict              # style -> the path prefixes its pages live under
    n_pages: int = 0


def _site_name(rng, words, taken):
    first, second = (w.split() for w in words.split("|"))
    while True:
        name = f"{rng.choice(first)}{rng.choice(second)}.{rng.choice(['com', 'org', 'net', 'io', 'info'])}"
        if name not in taken:
            taken.add(name)
            return name


def _site(rng, kind, border):
    """(styles, paths) of one site of this kind; math always sits in sections of its own."""
    if kind.startswith("nonmath-"):
        topic = kind[len("nonmath-"):]
        t, other = TOPICS[topic], rng.choice([x for x in TOPICS if x != topic])
        sec = rng.choice(t["section"])
        styles = {topic: 0.8, other: 0.05}
        paths = {topic: [f"/{sec}/{s}" for s in rng.sample(t["sub"], 3)],
                 other: [f"/{TOPICS[other]['section'][0]}/{rng.choice(TOPICS[other]['sub'])}"]}
        if topic in FORUM_TOPICS:
            styles[f"forum-{topic}"], paths[f"forum-{topic}"] = 0.15, [f"/forum/{s}" for s in rng.sample(t["sub"], 2)]
        for style, (parent, _) in BORDERLINE.items():
            if parent == topic:
                styles[style], paths[style] = border, [f"/{sec}/{'education' if topic == 'news' else 'numeric'}"]
        return styles, paths
    if kind == "math-forum":
        sec = rng.choice(["threads", "community", "t", "board"])
        return ({"math-forum": 0.85, "math-algebra": 0.15},
                {"math-forum": [f"/{sec}/{s}" for s in ("homework", "arithmetic", "help")],
                 "math-algebra": [f"/{sec}/solved"]})
    if kind == "mixed-qa":       # one Q&A section for every topic; math threads are 20%
        sec = rng.choice(["questions", "answers", "q"])
        styles = {"math-forum": 0.2, "forum-software": 0.25, "forum-cooking": 0.2, "forum-travel": 0.2,
                  "forum-sports": 0.15}
        return styles, {s: [f"/{sec}/{s.split('-')[1]}"] for s in styles}
    if kind == "mirror":         # hosts planted copies only
        return {}, {}
    weights = {"seed-math": (0.45, 0.35, 0.1, 0.1), "math": (0.35, 0.25, 0.2, 0.2),
               "mixed-edu": (0.135, 0.06, 0.045, 0.06)}[kind]     # mixed-edu: a 30% math section
    sec = rng.choice(["homework", "math", "learn"] if kind == "mixed-edu" else ["math", "learn", "study", "practice"])
    styles = dict(zip(MATH_STYLES, weights))
    paths = {s: [f"/{sec}/{rng.choice(MATH_SUBS[s])}"] for s in MATH_STYLES}
    if kind == "mixed-edu":
        for topic, w in (("news", 0.3), ("sports", 0.15), ("travel", 0.15), ("cooking", 0.1)):
            styles[topic] = w
            paths[topic] = [f"/{TOPICS[topic]['section'][0]}/{s}" for s in rng.sample(TOPICS[topic]["sub"], 2)]
    return styles, paths


def make_domains(cfg: ToyConfig, rng: random.Random) -> list[Domain]:
    """The sites, their sections and style mixes, and how many original pages each holds."""
    counts = {k: max(1, round(share * cfg.domains)) for k, (share, _, _) in KINDS.items()}
    n_nonmath = cfg.domains - sum(counts.values())
    kinds = [k for k, n in counts.items() for _ in range(n)] + [f"nonmath-{list(TOPICS)[i % len(TOPICS)]}"
                                                                for i in range(n_nonmath)]
    border = min(0.5, cfg.borderline / (0.4 * NONMATH_SHARE))   # news and software: 2 of the 5 topics
    taken, domains = set(), []
    for kind in kinds:
        name = _site_name(rng, TOPIC_NAMES[kind[8:]] if kind.startswith("nonmath-") else KINDS[kind][2], taken)
        domains.append(Domain(name, kind, *_site(rng, kind, border)))
    originals = cfg.pages - cfg.near_dups - cfg.exact_dups
    for kind, (_, share, _) in list(KINDS.items()) + [("nonmath", (0, NONMATH_SHARE, ""))]:
        group = [d for d in domains if d.kind == kind or d.kind.startswith("nonmath-") and kind == "nonmath"]
        for d, n in zip(group, _split(round(share * originals), [rng.uniform(0.5, 1.5) for _ in group])):
            d.n_pages = n
    domains[-1].n_pages += originals - sum(d.n_pages for d in domains)   # rounding, to a non-math site
    return domains


def _split(total, weights):
    """Integers proportional to `weights` that sum to `total` (largest remainders round up)."""
    raw = [total * w / sum(weights) for w in weights]
    out = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: out[i] - raw[i])[:total - sum(out)]:
        out[i] += 1
    return out


def word_ngrams(text: str, n: int = 10) -> set:
    """Word n-grams over lowercase alphanumeric runs. A 10-gram match under a coarser split (whitespace,
    punctuation kept) is also one here, so pages clean by this test are clean for either split."""
    words = words_of(text, symbols=False)
    return set(zip(*(words[i:] for i in range(n))))


class PageMaker:
    """Page texts by style; none matches a test question or solution under the paper's decontamination
    rule (a shared 10-gram, or a whole text of 3..9 words such as a one-step solution "7 * 2 = 14 / The
    answer is \\boxed{14}."), except planted leaks."""

    def __init__(self, test: list[Problem], diff: Difficulty):
        self.test_questions = {p.question for p in test}
        self.diff = diff
        self.forbidden = set().union(*(word_ngrams(p.question) | word_ngrams(p.solution()) for p in test))
        self.short = {}   # length n in words -> the short test texts of n words, as word tuples
        for words in (tuple(words_of(t, symbols=False)) for p in test for t in (p.question, p.solution())):
            if 3 <= len(words) < 10:
                self.short.setdefault(len(words), set()).add(words)

    def make(self, rng: random.Random, style: str, leak: Problem | None = None) -> str:
        while True:   # an accidental match (a short chain of small numbers) is drawn again
            text = self._draft(rng, style, leak)
            rest = text.replace(leak.question, "\n").replace(leak.solution(), "\n") if leak else text
            if word_ngrams(rest).isdisjoint(self.forbidden) and not any(
                    word_ngrams(rest, n).intersection(texts) for n, texts in self.short.items()):
                return text

    def _draft(self, rng, style, leak):
        if style == "math-worked":
            return worked_page(rng, self.test_questions, self.diff, leak)
        if style == "math-forum":
            return math_forum_page(rng, self.test_questions, self.diff, leak)
        if style == "math-definitions":
            return definitions_page(rng)
        if style == "math-algebra":
            return algebra_page(rng)
        if style.startswith("forum-"):
            return topic_forum_page(rng, style[len("forum-"):])
        if style in BORDERLINE:
            return borderline_page(rng, style, self.test_questions, self.diff)
        return article_page(rng, style)


def page_url(domain: Domain, prefix: str, text: str, page_id: int) -> str:
    slug = "-".join(re.findall(r"[a-z0-9]+", text.split("\n", 1)[0].lower())[:5]) or "page"
    return f"https://{domain.name}{prefix}/{slug}-{page_id}.html"


# ============================================================================ the pool and its plants

HEADERS = alts("Reposted from {src}. | Originally published on {src}. | Archived copy. | Mirror of {src}.")
FOOTERS = alts("Share this page. | Comments are closed. | All rights reserved. | Read more on {src}.")
EDIT_WORDS = alts("really | also | very | quite | new | great | small | local | simple | other | some")


def near_copy(rng: random.Random, text: str, src: str) -> str:
    """The text with ~1% of its words replaced (at least one) and a one-line header and footer."""
    tokens = re.split(r"(\s+)", text)
    words = [i for i, t in enumerate(tokens) if t.isalpha() and len(t) > 3]
    for i in rng.sample(words, min(len(words), 1 + len(words) // 100)):
        tokens[i] = rng.choice([w for w in EDIT_WORDS if w != tokens[i]])
    return f"{rng.choice(HEADERS).format(src=src)}\n{''.join(tokens)}\n{rng.choice(FOOTERS).format(src=src)}"


def make_pool(cfg: ToyConfig, test: list[Problem], maker: PageMaker):
    """(records, seed, domains). Records, in pool order: {"url", "text", "label"} or, for a malformed
    line, {"raw": bytes, "kind"}. The seed: new pages on the seed sites, not in the pool."""
    rng = random.Random(f"{cfg.seed}/pool")
    domains = make_domains(cfg, rng)
    ids = iter(range(10_000, 10**9))
    pages = []   # (domain, prefix, style)
    for d in domains:
        for _ in range(d.n_pages):
            style = rng.choices(list(d.styles), weights=list(d.styles.values()))[0]
            pages.append((d, rng.choice(d.paths[style]), style))
    # leaks: three in four in worked pages, the rest in forum threads; each a different test problem
    leak_pages = []
    for style, k in (("math-worked", cfg.leaks - cfg.leaks // 4), ("math-forum", cfg.leaks // 4)):
        candidates = [i for i, pg in enumerate(pages) if pg[2] == style]
        leak_pages += rng.sample(candidates, min(k, len(candidates)))
    leaks = dict(zip(leak_pages, rng.sample(range(len(test)), len(leak_pages))))
    records = []
    for i, (d, prefix, style) in enumerate(pages):
        text = maker.make(rng, style, leak=test[leaks[i]] if i in leaks else None)
        label = dict(is_math=style in MATH_STYLES, duplicate_of=None,
                     leaked_from=f"toy-test-{leaks[i]:05d}" if i in leaks else None, style=style)
        records.append(dict(url=page_url(d, prefix, text, next(ids)), text=text, label=label, site=(d, prefix)))
    # duplicates of clean pages long enough for the near-copy edits to stay small
    mirrors = [d for d in domains if d.kind == "mirror"]
    candidates = [r for r in records if r["label"]["leaked_from"] is None and len(r["text"].split()) >= 120]
    n_near = min(cfg.near_dups, len(candidates))
    for n, orig in enumerate(rng.sample(candidates, min(len(candidates), cfg.near_dups + cfg.exact_dups))):
        exact = n >= n_near
        text = orig["text"] if exact else near_copy(rng, orig["text"], orig["site"][0].name)
        if exact and rng.random() < 0.5:
            url = orig["url"] + "?utm_source=newsletter"
        elif rng.random() < 0.5:
            url = page_url(*orig["site"], text, next(ids))
        else:
            url = page_url(rng.choice(mirrors), f"/archive/{rng.randint(2015, 2024)}", text, next(ids))
        records.append(dict(url=url, text=text, copy="exact" if exact else "near",
                            label=dict(orig["label"], duplicate_of=orig["url"])))
    rng.shuffle(records)
    for kind in ("broken_json", "empty_text", "invalid_utf8", "missing_text"):
        for _ in range(cfg.malformed):
            url = f"https://{rng.choice(domains).name}/broken/page-{next(ids)}.html"
            records.insert(rng.randrange(len(records) + 1), dict(raw=_malformed(kind, url), kind=kind))
    seed_sites, seed = [d for d in domains if d.kind == "seed-math"], []
    for _ in range(cfg.seed_pages):
        d = rng.choice(seed_sites)
        style = rng.choices(["math-worked", "math-definitions"], weights=[0.55, 0.45])[0]
        prefix, text = rng.choice(d.paths[style]), maker.make(rng, style)
        seed.append({"url": page_url(d, prefix, text, next(ids)), "text": text})
    return records, seed, domains


def _malformed(kind, url):
    """One deliberately bad pool line (bytes, without its newline)."""
    if kind == "broken_json":
        return json.dumps({"url": url, "text": "This page was cut off in the middle of"}).encode()[:-12]
    if kind == "empty_text":
        return json.dumps({"url": url, "text": ""}).encode()
    if kind == "invalid_utf8":
        return b'{"url": "' + url.encode() + b'", "text": "Caf\xe9 menu: \xff\xfe prices in Latin-1"}'
    return json.dumps({"url": url, "title": "A record without text"}).encode()


def make_general(cfg: ToyConfig, maker: PageMaker) -> list[dict]:
    """General non-math text for the pre-training mixture: articles and threads on every topic."""
    rng = random.Random(f"{cfg.seed}/general")
    styles = list(TOPICS) + [f"forum-{t}" for t in FORUM_TOPICS]
    return [{"text": maker.make(rng, styles[i % len(styles)])} for i in range(cfg.general_docs)]


def chat_records(general: list[dict]) -> list[dict]:
    """Non-reasoning SFT records, one per general text: its title -> its first sentence. DeepSeek-R1 mixes
    such data (writing, factual QA, translation) into the SFT after rejection sampling (§2.3.3)."""
    records = []
    for doc in general:
        title, body = doc["text"].split("\n", 1)
        first = re.match(r".*?[.!?](?=\s|$)", body, re.DOTALL)
        records.append({"question": CHAT_QUESTION.format(title=title),
                        "solution": (first.group(0) if first else body).strip(), "format": "cot"})
    return records


# ============================================================================ writing

def write_pool(path: Path, records: list[dict]) -> None:
    """The pool needs raw bytes for its malformed lines, so it is written here, not by write_jsonl."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        for r in records:
            line = r["raw"] if "raw" in r else json.dumps({"url": r["url"], "text": r["text"]}, ensure_ascii=False)
            f.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")


def write_toy_world(cfg: ToyConfig) -> dict:
    """Make the whole world and write it to cfg.out; returns the stats (also in stats.json)."""
    t0 = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = make_benchmark(cfg)
    maker = PageMaker(test, Difficulty.of(cfg))
    records, seed, domains = make_pool(cfg, test, maker)
    general = make_general(cfg, maker)
    rng = random.Random(f"{cfg.seed}/sft")
    # its own random stream, so that --second-language 0 leaves every other draw (and file) as it was
    second = set(random.Random(f"{cfg.seed}/second-language").sample(range(len(train)),
                                                                     round(cfg.second_language * len(train))))
    sft = [{"question": p.question, "solution": p.solution("zh" if i in second else "en"), "format": "cot"}
           for i, p in enumerate(train)]
    sft += [{"question": p.question, "solution": f"```python\n{p.program}\n```", "format": "pot"}
            for p in rng.sample(train, round(cfg.pot_fraction * len(train)))]
    rng.shuffle(sft)
    rl = [{"question": p.question, "answer": str(p.answer)} for p in train]
    rng.shuffle(rl)

    write_pool(out / "pool.jsonl.gz", records)
    pages = [r for r in records if "raw" not in r]
    write_jsonl(out / "labels.jsonl", ({"url": r["url"], **r["label"]} for r in pages))
    write_jsonl(out / "seed.jsonl.gz", seed)
    write_jsonl(out / "general.jsonl.gz", general)
    write_jsonl(out / "bench_train.jsonl", (bench_record(p, "train", i) for i, p in enumerate(train)))
    write_jsonl(out / "bench_test.jsonl", (bench_record(p, "test", i) for i, p in enumerate(test)))
    write_jsonl(out / "sft.jsonl", sft)
    write_jsonl(out / "rl.jsonl", rl)
    if cfg.chat_records:
        write_jsonl(out / "chat.jsonl", chat_records(general[:cfg.chat_records]))

    stats = {
        "config": vars(cfg),
        "pool": {"pages": len(pages), "math": sum(r["label"]["is_math"] for r in pages),
                 "near_duplicates": sum(r.get("copy") == "near" for r in pages),
                 "exact_duplicates": sum(r.get("copy") == "exact" for r in pages),
                 "leaks": sum(r["label"]["leaked_from"] is not None for r in pages),
                 "malformed": dict(Counter(r["kind"] for r in records if "raw" in r)),
                 "styles": dict(sorted(Counter(r["label"]["style"] for r in pages).items())),
                 "sites": dict(sorted(Counter(d.kind.split("-")[0] if d.kind.startswith("nonmath") else d.kind
                                              for d in domains).items()))},
        "seed_pages": len(seed), "general_docs": len(general),
        "bench_levels": {name: dict(sorted(Counter(p.level for p in ps).items()))
                         for name, ps in (("train", train), ("test", test))},
        "sft": dict(sorted(Counter(r["format"] for r in sft).items())), "sft_second_language": len(second),
        "chat": cfg.chat_records, "rl": len(rl),
        "megabytes": {f.name: round(f.stat().st_size / 1e6, 2) for f in sorted(out.iterdir())
                      if f.name != "stats.json"},
        "seconds": round(time.time() - t0, 1),
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def print_stats(stats: dict) -> None:
    p = stats["pool"]
    print(f"pool: {p['pages']} pages, {p['math']} math, on {sum(p['sites'].values())} sites {p['sites']}")
    print(f"  planted: {p['near_duplicates']} near-duplicates, {p['exact_duplicates']} exact duplicates, "
          f"{p['leaks']} leaks; malformed lines {p['malformed']}")
    for style, n in p["styles"].items():
        print(f"  {style:20s} {n:6d}")
    print(f"seed: {stats['seed_pages']} pages; general: {stats['general_docs']} docs")
    print(f"benchmark levels {stats['bench_levels']}; sft {stats['sft']} ({stats['sft_second_language']} in "
          f"the second language); chat {stats['chat']}; rl {stats['rl']}")
    print("files (MB): " + ", ".join(f"{k} {v}" for k, v in stats["megabytes"].items()))
    print(f"done in {stats['seconds']} s")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_flags(parser, ToyConfig)
    cfg = config_from(ToyConfig, parser.parse_args(argv))
    if cfg.domains < 15:
        parser.error("--domains must be at least 15 (every kind of site needs one)")
    if min(cfg.pages, cfg.test_size, cfg.train_size, cfg.max_level, cfg.seed_pages) < 1:
        parser.error("--pages, --test-size, --train-size, --max-level and --seed-pages must be positive")
    if cfg.chat_records > cfg.general_docs:
        parser.error("--chat-records cannot exceed --general-docs (each record is made from one general "
                     "text)")
    if min(cfg.near_dups, cfg.exact_dups, cfg.leaks, cfg.malformed, cfg.general_docs) < 0:
        parser.error("counts of planted pages, malformed lines and general docs cannot be negative")
    weights = cfg.op_weights.split(",")
    if (len(weights) != 4 or not all(re.fullmatch(r"\d+(\.\d*)?", w) for w in weights)
            or min(map(float, weights[:2])) <= 0):
        parser.error("--op-weights takes four numbers for + - * /, e.g. 7,6,4,3; + and - must be positive")
    if cfg.max_operand < 2 or cfg.max_value < 2 * cfg.max_operand:
        parser.error("--max-operand must be at least 2 and --max-value at least twice --max-operand")
    if cfg.near_dups + cfg.exact_dups + cfg.leaks > cfg.pages // 10 or cfg.leaks > cfg.test_size:
        parser.error("too many planted pages: near + exact duplicates + leaks must stay within 10%% of --pages, "
                     "and --leaks within --test-size")
    stats = write_toy_world(cfg)
    print_stats(stats)
    return stats


if __name__ == "__main__":
    run_cli(main)
