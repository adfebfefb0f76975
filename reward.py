"""Rewards for math reasoning: answer checking, rule rewards, learned reward models.

GRPO (DeepSeekMath §4.1) and evaluation both stand on this file: a grader that is too strict
hides progress, one that is too lenient pays the policy for wrong answers (reward hacking).
  1. extract_answer: the final answer a completion states (\\boxed{}, "The answer is", ####, <answer>).
  2. math_equal: are two answers the same mathematical object? LaTeX normalisation, then numbers,
     fractions, roots, tuples, intervals, sets, matrices, evaluated by a small safe parser written
     here (model output is never passed to eval, and no sympy).
  3. Rule rewards of DeepSeek-R1 (arXiv 2501.12948 §2.2.2): accuracy and format.
  4. Learned reward models (§4.1.2-4.1.4): an outcome (ORM) or process (PRM) reward model, the
     decoder with a scalar head; step labels the Math-Shepherd way; a replay buffer for iterative RL.

    python reward.py label --policy runs/sft/final --data rl.jsonl --samples 8 --out rm_data.jsonl
    python reward.py train --kind prm --data rm_data.jsonl --init runs/sft/final --out runs/prm
Model-written programs run in sandbox.py (run_program, program_answer, ProgramResult are re-exported).
"""
from __future__ import annotations

import argparse
import cmath
import functools
import json
import math
import random
import re
import zlib
from collections import Counter
from dataclasses import asdict, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, set_model_state_dict
from tqdm import tqdm

from data_pipeline import last_boxed, read_jsonl, write_jsonl
from model import ModelConfig, Transformer, is_hf_folder, read_config, read_hf_state_dict
from pretrain import (TrainConfig, add_train_args, build_optimizer, cleanup_distributed, seed_all, setup_distributed,
                      train, unwrap, use_bf16, wrap_model)
from sandbox import ProgramResult, program_answer, run_program  # noqa: F401 (re-exported for callers of reward)
from sft import IGNORE, TEMPLATES, Packer, encode_prompt
from tokenizer import Tokenizer


# ----------------------------------------------------------------------------- extraction

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_ANSWER_PHRASE = re.compile(r"answer is", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_MAX_ANSWER_CHARS = 1000  # no real answer is longer; longer text is compared verbatim (bounds the work)


def extract_answer(text: str | None, fallback_last_number: bool = False) -> str | None:
    """The final answer stated in a completion, or None when it states none.

    An R1 `<answer>…</answer>` block wins (its content, unboxed if boxed). Otherwise, by priority,
    the last `\\boxed{…}` / `\\fbox{…}` (nested braces; `\\boxed 5` too), GSM8K's `#### …`, or
    the last "The answer is …" (also Minerva's "The final answer is $…$. I hope it is correct.").
    The last number of the text is a guess, not a stated answer: only with `fallback_last_number`.
    """
    if not text:
        return None
    inner = _answer_tag(text)
    if inner is not None:
        return _marked_answer(inner) or inner.strip() or None
    answer = _marked_answer(text)
    if answer is None and fallback_last_number:
        number = _last_match(_NUMBER, text)
        answer = number.group() if number else None
    return answer


def _answer_tag(text: str) -> str | None:
    """Content of the last closed <answer>…</answer> block."""
    start = text.rfind("<answer>")
    end = text.find("</answer>", start)
    return text[start + len("<answer>"):end] if start >= 0 and end >= 0 else None


def _marked_answer(text: str) -> str | None:
    """By priority: the last box, the last `####` line, the last "answer is" (a box is never overruled
    by a later "so our answer is correct")."""
    box = max(text.rfind(command) for command in _BOX_COMMANDS)
    hashes = text.rfind("####")
    phrase = _last_match(_ANSWER_PHRASE, text)
    if box >= 0:
        answer = last_boxed(text)
    elif hashes >= 0:
        answer = text[hashes + 4:].split("\n", 1)[0]
    elif phrase:
        answer = _phrase_answer(text[phrase.end():])
    else:
        return None
    return (answer.strip() or None) if answer else None


def _last_match(pattern: re.Pattern, text: str) -> re.Match | None:
    match = None
    for match in pattern.finditer(text):
        pass
    return match


def _phrase_answer(rest: str) -> str:
    """What follows "answer is": the rest of the line, up to the end of the sentence or the math."""
    line = rest.lstrip(" \t:").split("\n", 1)[0].strip()
    if line.startswith("$"):
        line = line.lstrip("$")
        end = line.find("$")
        return line[:end] if end >= 0 else line
    return re.split(r"\.(?:\s|$)", line, maxsplit=1)[0]  # "3.5." -> "3.5": only a period before a space ends it


# ----------------------------------------------------------------------------- normalisation

_TEXT_COMMAND = re.compile(r"(\s*)\\(?:text|textrm|textbf|textnormal|mbox|mathrm|mathbf)\s*\{([^{}]*)\}"
                           r"(\^\{?\d\}?)?")
_SPACING = re.compile(r"(?<!\\)\\[!,;:]|\\q?quad(?![a-zA-Z])")
_UNIT_WORDS = re.compile(r"(?<=[\d}])\s+[a-zA-Z]{2,}(?:\s+[a-zA-Z]{2,})*\.?$")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_VARIABLE_PREFIX = re.compile(r"(?:[a-zA-Z]|\\[a-zA-Z]+)\s*(?:=|\\in)\s*(.+)", re.DOTALL)


def _normalise(s: str) -> str:
    """Canonical text of an answer: formatting removed, meaning kept (`\\dfrac12 \\text{ cm}.` -> `\\frac12`)."""
    s = s.strip()
    if len(s) > _MAX_ANSWER_CHARS:
        return s
    s = re.sub(r"\s+", " ", s)  # single spaces from here on (keeps the patterns below linear)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "%").replace("{,}", "")
    s = re.sub(r"(\d),\\!(\d{3})", r"\1\2", s)  # thousands: 5,\!525
    s = re.sub(r"\\[dtc]frac", r"\\frac", s)
    s = re.sub(r"\\[dt]binom", r"\\binom", s)
    s = re.sub(r"\\(?:left|right)(?:\.|(?![a-zA-Z]))", "", s)
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree", "", s)
    s = _SPACING.sub("", s)
    s = re.sub(r"(?<!\\)\\ |~", " ", s)
    s = _TEXT_COMMAND.sub(_text_or_unit, s)
    s = re.sub(r" ?,? ?\band\b ?,? ?", ",", s)  # "12 and 13", "7, -2, and -5": a list
    s = re.sub(r"_\{(\w+)\}", r"_\1", s)  # base subscripts: 4210_{7} = 4210_7
    s = s.strip().rstrip(".,; ")
    s = _UNIT_WORDS.sub("", s)  # "18 dollars" -> "18"
    prefix = _VARIABLE_PREFIX.fullmatch(s)
    if prefix and s.count("=") <= 1:  # "x = 3" -> "3"
        s = prefix.group(1)
    # Spaces carry no meaning except between a command and a letter ("\pi r" is not "\pir").
    s = re.sub(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])", "\\1\0", s)
    s = re.sub(r"\s+", "", s).replace("\0", " ")
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if re.fullmatch(r"\([A-Z]\)", s):  # multiple choice "(C)" -> "C"
        s = s[1]
    mixed = re.fullmatch(r"(-?)(\d+)\\frac\{(\d+)\}\{(\d+)\}", s)
    if mixed:  # a mixed number: 2\frac{1}{2} is 2.5, not 2 * 1/2
        s = "%s(%s+\\frac{%s}{%s})" % mixed.groups()
    return s


def _text_or_unit(m: re.Match) -> str:
    """`\\text{…}` after a quantity is a unit (dropped, with its ^2); on its own it is the answer."""
    content = m.group(2).strip()
    if content in ("and", ", and"):
        return " and "  # a list: _normalise turns "and" into a comma
    before = m.string[m.start() - 1] if m.start() > 0 else ""
    if before and (before.isalnum() or before in "}.)"):
        return ""
    return m.group(1) + content + (m.group(3) or "")


# ----------------------------------------------------------------------------- equality

def math_equal(pred: str | None, gold: str | None, rel_tol: float = 1e-4) -> bool:
    """Whether two answers denote the same mathematical object.

    Numbers (integers, decimals, fractions, roots, pi, percentages: "50%" is 50 or 0.5) compare by
    value: exactly when both are exact ("10000" is not "10001", 1 is not 4036082/4036081), within
    `rel_tol` when either is approximate (0.3333 vs 1/3, \\sqrt2 vs 1.41421). Tuples and intervals
    compare element-wise with matching brackets, sets (and bare comma lists, e.g. all solutions of
    an equation) unordered, matrices entry-wise. Expressions with variables are evaluated at fixed
    random points (so 2x+1 = 1+2x); what the parser does not understand compares by normalised
    text. An empty answer is never equal to anything.
    """
    if pred is None or gold is None:
        return False
    a, b = _normalise(pred), _normalise(gold)
    if not a or not b:
        return False
    if a == b:
        return True
    if max(len(a), len(b)) > _MAX_ANSWER_CHARS:
        return False
    return _answers_equal(a, b, rel_tol, depth=0)


_MAX_NESTING = 8  # tuples of sets of tuples...: deeper structure compares as text


def _answers_equal(a: str, b: str, rel_tol: float, depth: int) -> bool:
    if a == b:
        return True
    kind_a, tag_a, items_a = _structure(a)
    kind_b, tag_b, items_b = _structure(b)
    if kind_a != kind_b or tag_a != tag_b or depth > _MAX_NESTING:
        return False
    if kind_a == "scalar":
        return _scalars_equal(a, b, rel_tol)
    equal = functools.partial(_answers_equal, rel_tol=rel_tol, depth=depth + 1)
    if kind_a in ("seq", "matrix"):
        return len(items_a) == len(items_b) and all(map(equal, items_a, items_b))
    return _match_unordered(items_a, items_b, equal)


def _structure(s: str) -> tuple[str, object, list[str]]:
    """(kind, tag, items): a matrix (tag: shape), a union of intervals, a set or bare comma list
    (unordered), a bracketed tuple/interval (tag: its brackets), or a scalar."""
    matrix = re.fullmatch(r"\\begin\{([pbBvV]?matrix)\}(.*)\\end\{\1\}", s, re.DOTALL)
    if matrix:
        rows = [row.split("&") for row in matrix.group(2).split("\\\\") if row.strip()]
        return "matrix", (len(rows), tuple(len(row) for row in rows)), [c for row in rows for c in row]
    if "\\cup" in s:
        return "set", None, s.split("\\cup")
    if s.startswith("\\{") and s.endswith("\\}"):
        return "set", None, _split_top(s[2:-2])
    if s[:1] in ("(", "[") and s[-1:] in (")", "]") and _closes_at_end(s):
        items = _split_top(s[1:-1])
        if len(items) > 1:
            return "seq", s[0] + s[-1], items
    items = _split_top(s)
    if len(items) > 1:
        return "set", None, items
    return "scalar", None, [s]


def _split_top(s: str) -> list[str]:
    """Split at the commas outside any bracket."""
    items, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(s[start:i])
            start = i + 1
    items.append(s[start:])
    return items


def _closes_at_end(s: str) -> bool:
    """Whether the bracket opening `s` is the one closing it ("(1,2]" yes, "(1)(2)" no)."""
    depth = 0
    for i, c in enumerate(s):
        depth += c in "([{"
        depth -= c in ")]}"
        if depth == 0:
            return i == len(s) - 1
    return False


def _match_unordered(xs: list[str], ys: list[str], equal) -> bool:
    if len(xs) != len(ys):
        return False
    if len(xs) > 32:  # the pairwise matching is quadratic; long lists must match as text
        return sorted(xs) == sorted(ys)
    unmatched = list(ys)
    for x in xs:
        j = next((j for j, y in enumerate(unmatched) if equal(x, y)), None)
        if j is None:
            return False
        del unmatched[j]
    return True


def _scalars_equal(a: str, b: str, rel_tol: float) -> bool:
    """Compare two single values. Exact when both are exact (integers, fractions, and what + - * /
    and integer powers make of them; or two decimal literals): 10000 != 10001 and 1 != 4036082/4036081
    whatever rel_tol says. Within rel_tol when either side is approximate (0.3333 vs 1/3, roots, pi)."""
    a_percent, b_percent = a.endswith("%"), b.endswith("%")
    a, b = a.rstrip("%"), b.rstrip("%")
    if a == b:
        return True
    literal_a, literal_b = _decimal_literal(a), _decimal_literal(b)
    if literal_a is not None and literal_b is not None:
        return any(x == y for x in _readings(literal_a, a_percent) for y in _readings(literal_b, b_percent))
    value_a, value_b = _evaluate(a), _evaluate(b)
    if value_a is None or value_b is None or value_a[1] != value_b[1]:  # unparsed, or other variables
        return False
    return any(all(map(functools.partial(_close, rel_tol=rel_tol), xs, ys))
               for xs in _readings(value_a[0], a_percent) for ys in _readings(value_b[0], b_percent))


def _readings(x, percent: bool) -> list:
    """A percentage "50%" may mean 50 or 0.5 (x: a Decimal or a tuple of values)."""
    if not percent:
        return [x]
    return [x, x / 100] if isinstance(x, Decimal) else [x, tuple(v / 100 for v in x)]


def _decimal_literal(s: str) -> Decimal | None:
    return Decimal(s) if re.fullmatch(r"-?(?:\d+\.?\d*|\.\d+)", s) else None


def _close(x: Fraction | complex, y: Fraction | complex, rel_tol: float) -> bool:
    if isinstance(x, Fraction) and isinstance(y, Fraction):
        return x == y
    try:
        x, y = complex(x), complex(y)
    except OverflowError:  # a huge exact number against an approximate one
        return False
    if not (cmath.isfinite(x) and cmath.isfinite(y)):
        return x == y  # infinities (interval ends) compare exactly
    return abs(x - y) <= rel_tol * max(abs(x), abs(y), 1e-6)


# ----------------------------------------------------------------------------- the expression parser

class _Unevaluable(Exception):
    """Outside what the parser understands: the caller falls back to comparing text."""


_POINTS = 3  # evaluation points for expressions with variables
_MAX_DEPTH = 40  # nesting limit of the recursive descent: a bounded stack on adversarial input
_MAX_EXACT_BITS = 20_000  # 9^9^9^9 would take forever to compute exactly; no answer is that big
_NUMBER_TOKEN = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_COMMAND = re.compile(r"\\([a-zA-Z]+)")
_GREEK = set("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
             "rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega"
             .split())
_FUNCTIONS = {"sin": cmath.sin, "cos": cmath.cos, "tan": cmath.tan, "sec": lambda z: 1 / cmath.cos(z),
              "csc": lambda z: 1 / cmath.sin(z), "cot": lambda z: 1 / cmath.tan(z), "arcsin": cmath.asin,
              "arccos": cmath.acos, "arctan": cmath.atan, "ln": cmath.log, "log": cmath.log, "exp": cmath.exp}
_PRODUCT_OPERATOR = re.compile(r"[*/]|\\(?:cdot|times|div)(?![a-zA-Z])")  # (\cdots is not \cdot)


@functools.lru_cache(maxsize=4096)
def _evaluate(s: str) -> tuple[tuple[Fraction | complex, ...], frozenset[str]] | None:
    """Values of an expression at the evaluation points, and its variables; None if unevaluable.

    A constant has one value. With variables, two expressions that agree at random points are
    (with high probability) the same function: polynomial identity testing instead of sympy.
    """
    try:
        first = _Parser(s, point=0)
        values = [first.parse()]
        if first.symbols:
            values += [_Parser(s, point=k).parse() for k in range(1, _POINTS)]
        return tuple(values), frozenset(first.symbols)
    except (_Unevaluable, ArithmeticError, ValueError):
        return None


class _Parser:
    """Recursive descent over LaTeX math, computing the value as it goes. Values stay exact
    (Fraction) through integers, + - * / and integer powers, and become complex numbers at the
    first approximate step (a decimal, a root, pi, i, a function).

        expr    := term (('+' | '-') term)*
        term    := unary ((('*' | '/' | \\cdot | \\times | \\div) unary) | unary)*   (juxtaposition multiplies)
        unary   := ('-' | '+') unary | power
        power   := postfix ('^' unary)?                                             (right-associative)
        postfix := atom '!'*
        atom    := number | '(' expr ')' | '{' expr '}' | \\frac arg arg | \\sqrt ['[' expr ']'] arg
                 | \\binom arg arg | \\sin arg ... | \\pi | \\infty | variable | i
        arg     := '{' expr '}' | one character | one command        (\\frac12, \\sqrt2, \\frac\\pi2)
    A variable is one letter or a Greek command; it takes a pseudo-random value per evaluation point.
    """

    def __init__(self, text: str, point: int):
        self.s, self.pos, self.point, self.depth = text, 0, point, 0
        self.symbols: set[str] = set()

    def parse(self):
        value = self.expr()
        if self.pos != len(self.s):
            raise _Unevaluable(f"unexpected {self.s[self.pos]!r}")
        return value

    def peek(self, token: str) -> bool:
        return self.s.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise _Unevaluable(f"expected {token!r}")

    def expr(self):
        value = self.term()
        while True:
            if self.take("+"):
                sign = 1
            elif self.take("-"):
                sign = -1
            else:
                return value
            right = self.term()
            value = _checked(value + sign * right, value, right)

    def term(self):
        value = self.unary()
        while True:
            operator = _PRODUCT_OPERATOR.match(self.s, self.pos)
            following = self.s[self.pos:self.pos + 1]
            if operator:
                self.pos = operator.end()
                right = self.unary()
                divide = operator.group() in ("/", "\\div")
                value = _checked(value / right if divide else value * right, value, right)
            elif following.isalnum() or following in ("(", "{", ".", "\\"):
                right = self.unary()  # juxtaposition: 2x, 3\sqrt{2}, (x+1)(x-2)
                value = _checked(value * right, value, right)
            else:
                return value

    def descend(self) -> None:
        """Count one level of nesting (undone by the caller on return)."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Unevaluable("nested too deeply")

    def unary(self):
        self.descend()
        if self.take("-"):
            value = -self.unary()
        elif self.take("+"):
            value = self.unary()
        else:
            value = self.power()
        self.depth -= 1
        return value

    def power(self):
        base = self.postfix()
        if not self.take("^"):
            return base
        exponent = self.unary()
        if isinstance(base, Fraction) and isinstance(exponent, Fraction) and exponent.denominator == 1:
            bits = max(base.numerator.bit_length(), base.denominator.bit_length()) * abs(exponent)
            if bits > _MAX_EXACT_BITS:
                raise _Unevaluable("too large")
            return _checked(base ** exponent)
        if abs(exponent) > 1e4 and abs(base) != 1:
            raise _Unevaluable("too large")
        return _checked(complex(base) ** complex(exponent), base, exponent)

    def postfix(self):
        value = self.atom()
        while self.take("!"):
            if not (isinstance(value, Fraction) and value.denominator == 1 and 0 <= value <= 170):
                raise _Unevaluable("factorial of a non-integer or a huge number")
            value = _checked(Fraction(math.factorial(int(value))))
        return value

    def atom(self):
        s, pos = self.s, self.pos
        number = _NUMBER_TOKEN.match(s, pos)
        if number:
            self.pos = number.end()
            text = number.group()
            return complex(float(text)) if "." in text else Fraction(int(text))
        for open_, close in (("(", ")"), ("{", "}")):
            if self.take(open_):
                value = self.expr()
                self.expect(close)
                return value
        if self.peek("\\"):
            return self.command()
        if s[pos:pos + 1].isalpha():
            if re.match(r"[a-zA-Z]{3}", s[pos:pos + 3]):  # a word ("Monday"), not a product of variables
                raise _Unevaluable("a word")
            self.pos += 1
            return self.letter(s[pos])
        raise _Unevaluable(f"unexpected {s[pos:pos + 1]!r}")

    def command(self):
        match = _COMMAND.match(self.s, self.pos)
        if not match:
            raise _Unevaluable("bad command")
        self.pos, name = match.end(), match.group(1)
        self.take(" ")  # the one space normalisation keeps: "\\pi r"
        if name == "frac":
            numerator, denominator = self.arg(), self.arg()
            return _checked(numerator / denominator, numerator, denominator)
        if name == "sqrt":
            index = Fraction(2)
            if self.take("["):
                index = self.expr()
                self.expect("]")
            radicand = self.arg()
            return _checked(complex(radicand) ** (1 / complex(index)), radicand, index)
        if name == "binom":
            n, k = self.arg(), self.arg()
            if not all(isinstance(v, Fraction) and v.denominator == 1 for v in (n, k)) or not 0 <= k <= n <= 1000:
                raise _Unevaluable("binomial of non-integers or huge numbers")
            return Fraction(math.comb(int(n), int(k)))
        if name in _FUNCTIONS:
            argument = self.arg() if self.peek("{") else self.unary()
            return _checked(_FUNCTIONS[name](complex(argument)), argument)
        if name == "pi":
            return complex(math.pi)
        if name == "infty":
            return complex(math.inf)
        if name in _GREEK:
            return self.variable(name)
        raise _Unevaluable(f"unknown command \\{name}")

    def arg(self):
        self.descend()  # \sqrt\sqrt\sqrt... nests without passing through unary
        self.take(" ")
        if self.take("{"):
            value = self.expr()
            self.expect("}")
        elif self.peek("\\"):
            value = self.command()
        elif self.s[self.pos:self.pos + 1].isalnum():
            c = self.s[self.pos]
            self.pos += 1
            value = Fraction(int(c)) if c.isdigit() else self.letter(c)
        else:
            raise _Unevaluable("missing argument")
        self.depth -= 1
        return value

    def letter(self, c: str):
        return 1j if c == "i" else self.variable(c)

    def variable(self, name: str) -> Fraction:
        self.symbols.add(name)
        return Fraction(1000 + zlib.crc32(f"{name}:{self.point}".encode()) % 9973, 5000)  # in [0.2, 2.2)


def _checked(value, *operands):
    """Exact values stay of a sane size (170!^200 is no answer); an approximate result that overflowed
    or is undefined must not pass for a value (e.g. equal \\infty)."""
    if isinstance(value, Fraction):
        if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_EXACT_BITS:
            raise _Unevaluable("too large")
        return value
    if cmath.isnan(value) or (cmath.isinf(value) and all(map(cmath.isfinite, operands))):
        raise _Unevaluable("overflow or undefined")
    return value


# ----------------------------------------------------------------------------- rule rewards (DeepSeek-R1)

_FORMAT = re.compile(r"\s*<think>(.*)</think>\s*<answer>(.*)</answer>\s*", re.DOTALL)
_FORMAT_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def accuracy_reward(completion: str, gold: str) -> float:
    """1.0 if the completion's final answer equals the reference answer, else 0.0.

    A completion without an answer (or an empty one) scores 0. A gold answer that is empty or
    unbalanced raises ValueError: it is a data bug, and a grader that quietly scored it would
    either hide the bug or, worse, pay for anything.
    """
    if not isinstance(gold, str) or not _normalise(gold) or gold.count("{") != gold.count("}"):
        raise ValueError(f"unusable gold answer: {gold!r}")
    return float(math_equal(extract_answer(completion), gold))


def format_reward(completion: str) -> float:
    """1.0 for `<think>…</think><answer>…</answer>` making up the whole completion (surrounding
    whitespace aside), each tag exactly once, both parts with visible content; else 0.0."""
    if any(completion.count(tag) != 1 for tag in _FORMAT_TAGS):
        return 0.0
    match = _FORMAT.fullmatch(completion)
    return float(bool(match and match.group(1).strip() and match.group(2).strip()))


def rule_reward(completion: str, gold: str, use_format: bool = False) -> float:
    """DeepSeek-R1's rule-based reward: accuracy, plus the format reward when `use_format`."""
    return accuracy_reward(completion, gold) + (format_reward(completion) if use_format else 0.0)


# ----------------------------------------------------------------------------- learned reward models
#
# Instead of rules, GRPO can be paid by a learned reward model (§4.1.2 outcome, §4.1.3 process
# supervision). Both kinds are the decoder with a scalar head, trained with binary cross-entropy:
#   ORM  one score at an output's last token: is its final answer right?
#   PRM  one score at the last token of each reasoning step: is the step good? Step labels come the
#        Math-Shepherd way (Wang et al. 2023, arXiv 2312.08935): from each step's prefix the policy
#        completes N times; the step is good if any completion reaches the right answer ("hard
#        estimation"). The toy world's steps can also be checked exactly (toy_step_labels).
# §4.2 builds the reward model's training set following Math-Shepherd and trains the first reward model
# from DeepSeekMath-Base 7B with learning rate 2e-5; in iterative RL (§4.1.4) it is retrained on samples
# of the new policy with "a replay mechanism that incorporates 10% of historical data" (ReplayBuffer).

KINDS = ("orm", "prm")


class RewardModel(nn.Module):
    """model.py's decoder with a scalar head: `rm(tokens[B, T], doc_ids=None) -> scores[B, T]`, one logit
    per position; sigmoid(score) is the probability that the output (ORM) or the step (PRM) is good.

    The head, Linear(d_model, 1), takes the place of the language-model head, so the decoder's own
    forward (RoPE, packed documents, input checks) runs unchanged and every parameter is trained."""

    def __init__(self, config: ModelConfig, kind: str = "orm"):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"reward model kind must be one of {KINDS}, got {kind!r}")
        self.config, self.kind = config, kind
        self.decoder = Transformer(config)
        self.decoder.lm_head = nn.Linear(config.d_model, 1)
        self.init_weights()

    @property
    def layers(self) -> nn.ModuleList:
        """The blocks, for pretrain.wrap_model (activation checkpointing, compile, FSDP per block)."""
        return self.decoder.layers

    def init_weights(self):
        self.decoder.init_weights()

    def forward(self, tokens, doc_ids=None):
        logits, _ = self.decoder(tokens, doc_ids=doc_ids)  # [B, T, 1]
        return logits[..., 0].float()

    @torch.no_grad()
    def probabilities(self, sequences: list[list[int]], positions: list[list[int]], batch_size: int = 16):
        """sigmoid(score) at `positions[i]` of `sequences[i]`. Batches are right-padded: with causal
        attention, tokens after a position never change its score."""
        device = self.decoder.embed.weight.device
        out = []
        for s in range(0, len(sequences), batch_size):
            chunk = sequences[s:s + batch_size]
            tokens = torch.zeros(len(chunk), max(map(len, chunk), default=1), dtype=torch.long)
            for i, (seq, pos) in enumerate(zip(chunk, positions[s:s + batch_size], strict=True)):
                if not seq or not all(0 <= p < len(seq) for p in pos):
                    raise ValueError(f"positions {pos} are not within a sequence of {len(seq)} tokens")
                tokens[i, :len(seq)] = torch.tensor(seq)
            probs = torch.sigmoid(self(tokens.to(device))).cpu()
            out += [probs[i, pos].tolist() for i, pos in enumerate(positions[s:s + batch_size])]
        return out

    def outcome_rewards(self, sequences: list[list[int]]) -> list[float]:
        """ORM: sigmoid(score at the last token) of each prompt + output."""
        return [p[0] for p in self.probabilities(sequences, [[len(s) - 1] for s in sequences])]

    def step_rewards(self, sequences: list[list[int]], step_ends: list[list[int]]) -> list[list[float]]:
        """PRM: sigmoid(score) at each step's last token (indices into the sequences)."""
        return self.probabilities(sequences, step_ends)

    def save(self, path, tokenizer: str | None = None):
        """A folder like model.py's: config.json (kind, decoder config, tokenizer location) + model.pt."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(
            {"kind": self.kind, "model": asdict(self.config), "tokenizer": tokenizer}, indent=2))
        torch.save(self.state_dict(), path / "model.pt")

    @classmethod
    def load(cls, path, device="cpu", dtype=None) -> "RewardModel":
        """A folder written by `save`: built on `meta`, then filled with the memory-mapped tensors."""
        path = Path(path)
        config = read_config(path)  # a clear error when there is no checkpoint at all
        kind = json.loads((path / "config.json").read_text()).get("kind")
        if kind is None:
            raise ValueError(f"{path} is a language-model checkpoint, not a reward model (no 'kind' in config.json)")
        if not (path / "model.pt").is_file():
            raise FileNotFoundError(f"{path}/model.pt is missing: not a reward model folder")
        with torch.device("meta"):
            model = cls(config, kind)
        model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", mmap=True, weights_only=True),
                              assign=True)
        model.decoder.init_rope()  # the RoPE tables are not stored: built off `meta`, moved, and
        model = model.to(device=device, dtype=dtype)
        model.decoder.init_rope()  # built again in fp32 on the target device (as Transformer.load)
        return model


def step_end_positions(completion_ids: list[int], tokenizer: Tokenizer) -> list[int]:
    """Indices into `completion_ids` of the last token of each reasoning step.

    Steps are the non-blank lines of the text. A step ends at the token holding its newline, so its
    score has seen the whole step and that it is over (Math-Shepherd marks step ends with a tag token
    for the same reason); the last step ends at the last token (EOS included), and a token holding
    several line ends closes them all. Newlines are looked for in each token's bytes (byte 0x0A never
    occurs inside a multi-byte UTF-8 character); special tokens carry no text."""
    specials = {tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id}
    ends, open_step = [], False  # open_step: the current line has visible text
    for i, token in enumerate(completion_ids):
        if token in specials:
            continue
        *closed, rest = tokenizer.token_bytes(token).split(b"\n")
        if closed:
            if open_step or any(part.strip() for part in closed):
                ends.append(i)
            open_step = False
        open_step |= bool(rest.strip())
    if open_step or (not ends and completion_ids):
        ends.append(len(completion_ids) - 1)
    elif ends:
        ends[-1] = len(completion_ids) - 1  # trailing blank lines and EOS belong to the last step
    return ends


def completion_steps(completion_ids: list[int], tokenizer: Tokenizer) -> list[str]:
    """The text of each step of step_end_positions."""
    ends = step_end_positions(completion_ids, tokenizer)
    return [plain_text(completion_ids[a + 1:b + 1], tokenizer) for a, b in zip([-1] + ends[:-1], ends)]


def plain_text(ids: list[int], tokenizer: Tokenizer) -> str:
    """The text of token ids without the special tokens (EOS, padding) a sample may hold."""
    return tokenizer.decode([t for t in ids if t not in (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id)])


# ----------------------------------------------------------------------------- step labels

_COMPUTATION = re.compile(r"\s*(-?\d+)\s*([-+*/])\s*(-?\d+)\s*=\s*(-?\d+)\s*\.?\s*")


def _computation(line: str) -> tuple[bool, int] | None:
    """A toy CoT line "a op b = c" -> (is a op b exactly c, c); None if the line is no computation."""
    m = _COMPUTATION.fullmatch(line)
    if not m:
        return None
    a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
    right = {"+": a + b == c, "-": a - b == c, "*": a * b == c, "/": b != 0 and a == b * c}[op]
    return right, c


def toy_step_labels(steps: list[str], reference: str, gold: str) -> list[int]:
    """Exact step labels in the toy world, whose CoT lines are computations "a op b = c" (toy_data.py).

    A step is good (1) if it is
      - an answer line (extract_answer finds one): the answer is right (accuracy_reward);
      - a computation that is right (a op b == c exactly) and whose result c is the reference chain's
        result at the same position (the k-th computation of the output against the k-th of the
        reference solution), whatever came before: from a result on the chain the right answer is
        still reachable, from one off it (toy problems have one chain of exact operations) it is not.
    Anything else is bad (0): wrong arithmetic, a result off the chain, a computation beyond the
    reference's, a line that is neither. This is Math-Shepherd's hard estimate with a completer that
    finishes every prefix correctly when it can."""
    chain = [c for _, c in filter(None, map(_computation, reference.split("\n")))]
    labels, k = [], 0
    for step in steps:
        computation = _computation(step)
        if extract_answer(step) is not None:
            labels.append(int(accuracy_reward(step, gold)))
        elif computation is None:
            labels.append(0)
        else:
            right, c = computation
            labels.append(int(right and k < len(chain) and c == chain[k]))
            k += 1
    return labels


def mc_step_labels(policy: Transformer, tokenizer: Tokenizer, prompt: list[int], completions: list[list[int]],
                   gold: str, n: int, max_new_tokens: int, temperature: float = 1.0, generator=None,
                   batch_size: int = 64) -> list[list[int]]:
    """Math-Shepherd's hard estimate for the outputs `completions` of one prompt: from the prefix ending
    at each step, the policy writes n completions; the step is good (1) if any reaches the gold answer.
    The last step's label is the output's own correctness (the output is its own completion)."""
    ends = [step_end_positions(c, tokenizer) for c in completions]
    labels = [[0] * (len(e) - 1) + [int(accuracy_reward(plain_text(c, tokenizer), gold))] if e else []
              for c, e in zip(completions, ends)]
    prefixes = [(i, j, c[:end + 1]) for i, c in enumerate(completions) for j, end in enumerate(ends[i][:-1])]
    rows = [p for p in prefixes for _ in range(n)]
    for s in range(0, len(rows), batch_size):
        outs, _ = policy.generate([prompt + prefix for _, _, prefix in rows[s:s + batch_size]], max_new_tokens,
                                  temperature, stop_ids=(tokenizer.eos_id,), generator=generator)
        for (i, j, prefix), out in zip(rows[s:s + batch_size], outs):
            labels[i][j] |= int(accuracy_reward(plain_text(prefix + out, tokenizer), gold))
    return labels


def label_samples(policy: Transformer, tokenizer: Tokenizer, records: list[dict], samples: int, method: str = "mc",
                  mc_samples: int = 8, template: str = "deepseek", max_new_tokens: int = 512,
                  temperature: float = 1.0, batch_size: int = 64, seed: int = 0, stats: Counter | None = None,
                  progress: bool = False) -> list[dict]:
    """Reward-model data: `samples` outputs of the policy per question ({"question", "answer"}; exact
    labels need the reference "solution" too), graded by accuracy_reward and labelled per step by
    `method` ("mc": mc_step_labels with `mc_samples` completions, none when 0, as an ORM needs none;
    "exact": toy_step_labels). Records {"question", "answer", "completion" (text), "finished" (ended with
    EOS), "correct", "step_labels" (None when not estimated)}. Skipped and counted in `stats`:
    no_question, bad_gold, no_solution (exact), prompt_too_long."""
    stats = stats if stats is not None else Counter()
    usable = []
    for rec in records:
        question, gold, solution = rec.get("question"), rec.get("answer"), rec.get("solution")
        gold = str(gold) if gold is not None else ""
        try:
            accuracy_reward("", gold)
        except ValueError:
            stats["bad_gold"] += 1
            continue
        if not isinstance(question, str) or not question.strip():
            stats["no_question"] += 1
        elif method == "exact" and not isinstance(solution, str):
            stats["no_solution"] += 1
        elif len(prompt := encode_prompt(tokenizer, question, template)) >= policy.config.max_seq_len:
            stats["prompt_too_long"] += 1
        else:
            usable.append((question, gold, solution, prompt))
    generator = torch.Generator(device=policy.embed.weight.device).manual_seed(seed)
    per_call, out = max(1, batch_size // samples), []
    for s in tqdm(range(0, len(usable), per_call), desc="label", disable=not progress):
        chunk = usable[s:s + per_call]
        completions, _ = policy.generate([c[3] for c in chunk for _ in range(samples)], max_new_tokens, temperature,
                                         stop_ids=(tokenizer.eos_id,), generator=generator)
        for q, (question, gold, solution, prompt) in enumerate(chunk):
            outputs = completions[q * samples:(q + 1) * samples]
            if method == "exact":
                step_labels = [toy_step_labels(completion_steps(c, tokenizer), solution, gold) for c in outputs]
            elif mc_samples > 0:
                step_labels = mc_step_labels(policy, tokenizer, prompt, outputs, gold, mc_samples, max_new_tokens,
                                             temperature, generator, batch_size)
            else:
                step_labels = [None] * len(outputs)
            for ids, labels in zip(outputs, step_labels):
                text, finished = plain_text(ids, tokenizer), ids[-1] == tokenizer.eos_id
                correct = int(accuracy_reward(text, gold))
                out.append({"question": question, "answer": gold, "completion": text, "finished": finished,
                            "correct": correct, "step_labels": labels})
                stats.update(samples=1, correct=correct, unfinished=int(not finished))
    return out


# ----------------------------------------------------------------------------- training

def reward_example(rec: dict, tokenizer: Tokenizer, kind: str, template: str = "deepseek"):
    """A labelled record -> (ids, labels) as sft.Packer takes them, or the reason it is unusable.

    The sequence is the chat prompt (encoded as grpo.py and the policy see it) + the completion (+ EOS
    if it finished); the labels are 0/1 at the scored positions (ORM: the last token; PRM: each step's
    end) and IGNORE elsewhere. Packer feeds ids[:-1] with targets labels[1:] (next-token style), while a
    reward label belongs to the token itself: hence one padding id after and one IGNORE before."""
    question, completion = rec.get("question"), rec.get("completion")
    if not isinstance(question, str) or not isinstance(completion, str) or "correct" not in rec:
        return "malformed_record"
    prompt = encode_prompt(tokenizer, question, template)
    ids = tokenizer.encode(completion) + ([tokenizer.eos_id] if rec.get("finished") else [])
    if not ids:
        return "empty_completion"
    if kind == "orm":
        ends, labels = [len(ids) - 1], [int(rec["correct"])]
    else:
        ends, labels = step_end_positions(ids, tokenizer), rec.get("step_labels") or []
        if len(ends) != len(labels):  # the re-encoded text splits into other steps than the sample's
            return "step_count_mismatch"
    targets = [IGNORE] * (len(prompt) + len(ids))
    for end, label in zip(ends, labels):
        targets[len(prompt) + end] = int(label)
    return prompt + ids + [tokenizer.pad_id], [IGNORE] + targets


class RewardData:
    """Packed reward-model batches for one rank, drawn by pretrain.train: {"tokens", "labels", "doc_ids"}
    [rows, seq_len], packed like SFT examples (sft.Packer; doc_ids keep examples apart). Each epoch is a
    permutation seeded by (seed, epoch) of which rank r of W takes every W-th example. State: the number
    of examples consumed, so a resumed run continues exactly."""

    def __init__(self, examples: list, seq_len: int, rows: int, pad_id: int, seed: int = 0, rank: int = 0,
                 world: int = 1):
        self.examples, self.seq_len, self.rows, self.pad_id = examples, seq_len, rows, pad_id
        self.seed, self.rank, self.world, self.consumed, self._order = seed, rank, world, 0, (None, None)

    def _example(self, k: int):
        shard = len(range(self.rank, len(self.examples), self.world))
        if shard == 0:
            raise ValueError(f"{len(self.examples)} training examples are fewer than the {self.world} ranks")
        epoch, pos = divmod(k, shard)
        if self._order[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.examples))
            self._order = (epoch, order[self.rank::self.world])
        return self.examples[self._order[1][pos]]

    def _batch(self, packer: Packer) -> dict:
        tokens, labels, doc_ids = (torch.from_numpy(a) for a in packer.arrays(self.pad_id))
        return {"tokens": tokens, "labels": labels, "doc_ids": doc_ids}

    def next_batch(self) -> dict:
        packer = Packer(self.seq_len)
        while True:
            ids, labels = self._example(self.consumed)
            if not packer.fits(ids) and len(packer.rows) == self.rows:
                return self._batch(packer)
            packer.add(ids, labels)
            self.consumed += 1

    def batches(self):
        """One pass over this rank's examples in order (validation)."""
        packer = Packer(self.seq_len)
        for ids, labels in self.examples[self.rank::self.world]:
            if not packer.fits(ids) and len(packer.rows) == self.rows:
                yield self._batch(packer)
                packer = Packer(self.seq_len)
            packer.add(ids, labels)
        if packer.rows[0]:
            yield self._batch(packer)

    def state_dict(self) -> dict:
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict):
        self.consumed = int(state["consumed"])


def reward_loss(model, batch: dict):
    """Binary cross-entropy of the scores at the labelled positions: (mean, number of labels)."""
    scores = model(batch["tokens"], doc_ids=batch["doc_ids"])
    labelled = batch["labels"] != IGNORE
    n = labelled.sum()
    loss = F.binary_cross_entropy_with_logits(scores[labelled], batch["labels"][labelled].float(), reduction="sum")
    return loss / n.clamp(min=1), n


def build_reward_model(kind: str, cfg: TrainConfig, d) -> nn.Module:
    """A RewardModel to train, wrapped as pretrain.build_model wraps the policy (built on `meta` and
    materialised after sharding on CUDA): the decoder from the --init checkpoint (native or Hugging
    Face folder), the scalar head fresh."""
    with torch.device("meta" if d.device.type == "cuda" else "cpu"):
        model = RewardModel(read_config(cfg.init), kind)
    model = wrap_model(model, d, cfg.parallel, mixed_precision=use_bf16(cfg, d.device),
                       activation_checkpointing=cfg.activation_checkpointing, compile=cfg.compile)
    if is_hf_folder(cfg.init):
        state = read_hf_state_dict(cfg.init)
    else:
        state = torch.load(Path(cfg.init) / "model.pt", map_location="cpu", mmap=True, weights_only=True)
    state = {"decoder." + k: v for k, v in state.items() if not k.startswith("lm_head.")}
    expected = {k: tuple(v.shape) for k, v in unwrap(model).state_dict().items() if "lm_head" not in k}
    if expected != {k: tuple(v.shape) for k, v in state.items()}:
        diff = sorted(expected.keys() ^ state.keys()) or "tensor shapes"
        raise ValueError(f"the weights in {cfg.init} do not match its config: they differ at {diff}")
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))
    return model


def export_reward_model(model: nn.Module, out_dir, d, tokenizer: str | None):
    """Gather the full state dict on rank 0 and write a RewardModel folder (as pretrain.export_model)."""
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if d.is_main:
        with torch.device("meta"):
            plain = RewardModel(unwrap(model).config, unwrap(model).kind)
        plain.load_state_dict(state, assign=True)
        plain.save(out_dir, tokenizer=tokenizer)
    dist.barrier()


class ReplayBuffer:
    """Iterative RL (§4.1.4): the reward model is retrained on samples of the new policy "using a replay
    mechanism that incorporates 10% of historical data". `mix(new)` returns the new records plus
    round(share × len(history)) records of the history, drawn uniformly without replacement (seeded by
    (seed, round)), then adds the new records to the history."""

    def __init__(self, share: float = 0.1, seed: int = 0):
        if not 0 <= share <= 1:
            raise ValueError(f"replay share must be in [0, 1], got {share}")
        self.share, self.seed, self.rounds, self.history = share, seed, 0, []

    def add(self, records: list[dict]):
        self.history.extend(records)

    def mix(self, new: list[dict]) -> list[dict]:
        replay = random.Random(f"{self.seed}/{self.rounds}").sample(self.history, round(self.share * len(self.history)))
        self.add(new)
        self.rounds += 1
        return list(new) + replay

    def state_dict(self) -> dict:
        return {"share": self.share, "seed": self.seed, "rounds": self.rounds, "history": list(self.history)}

    def load_state_dict(self, state: dict):
        self.share, self.seed, self.rounds, self.history = (state["share"], state["seed"], state["rounds"],
                                                           list(state["history"]))


def checkpoint_tokenizer(path) -> str:
    """The tokenizer folder a model checkpoint names in its config.json."""
    tokenizer = json.loads((Path(path) / "config.json").read_text()).get("tokenizer")
    if not tokenizer:
        raise ValueError(f"{path} names no tokenizer: pass --tokenizer")
    return tokenizer


def train_reward_model(args: argparse.Namespace) -> list[dict]:
    """`reward.py train`: pretrain.py's loop (AdamW, schedule, checkpoints and resume, metrics) on
    RewardData with reward_loss; the trained model goes to <out>/final as a RewardModel folder. Whole
    questions are held out for validation (by a hash of their text), so none is on both sides."""
    cfg = TrainConfig.from_args(args)
    d = setup_distributed()
    try:
        tokenizer_path = args.tokenizer or checkpoint_tokenizer(cfg.init)
        tokenizer, max_seq_len = Tokenizer.load(tokenizer_path), read_config(cfg.init).max_seq_len
        stats, buffer = Counter(), ReplayBuffer(args.replay_share, cfg.seed)
        for path in args.replay:
            buffer.add(list(read_jsonl(path, stats)))
        train_set, val_set = [], []
        for rec in buffer.mix(list(read_jsonl(args.data, stats))):
            example = reward_example(rec, tokenizer, args.kind, args.template)
            if isinstance(example, str):
                stats[example] += 1
            elif len(example[0]) - 1 > (cfg.seq_len or max_seq_len):
                stats["overlong"] += 1
            else:
                held_out = zlib.crc32(rec["question"].encode()) % 10_000 < cfg.val_fraction * 10_000
                (val_set if held_out else train_set).append(example)
        if not train_set:
            raise ValueError(f"{args.data}: no usable training example ({dict(stats)})")
        if cfg.steps is None and cfg.total_tokens is None:  # --epochs passes over the training tokens
            batch_tokens = replace(cfg, steps=1).resolved(d.world, max_seq_len).batch_tokens
            tokens = sum(len(ids) - 1 for ids, _ in train_set)
            cfg = replace(cfg, steps=max(1, math.ceil(args.epochs * tokens / batch_tokens)))
        cfg = cfg.resolved(d.world, max_seq_len)
        seed_all(cfg.seed)
        data, val = (RewardData(examples, cfg.seq_len, cfg.micro_batch, tokenizer.pad_id, cfg.seed, d.rank, d.world)
                     for examples in (train_set, val_set))
        model = build_reward_model(args.kind, cfg, d)
        if d.is_main:
            Path(cfg.out).mkdir(parents=True, exist_ok=True)
            (Path(cfg.out) / "config.json").write_text(json.dumps(
                {"kind": args.kind, "train": asdict(cfg), "data_stats": dict(stats), "train_examples": len(train_set),
                 "val_examples": len(val_set), "world_size": d.world}, indent=2))
            print(f"{args.kind}: {len(train_set)} training / {len(val_set)} validation examples, {cfg.steps} steps "
                  f"of {cfg.batch_tokens:,} tokens; skipped: {dict(stats)}")
        records = train(model, build_optimizer(model, cfg), data, reward_loss, cfg, d,
                        val_batches=val.batches if val_set else None,
                        flops_per_token=unwrap(model).decoder.flops_per_token(cfg.seq_len))
        export_reward_model(model, Path(cfg.out) / "final", d, tokenizer_path)
        return records
    finally:
        cleanup_distributed()


def label_main(args: argparse.Namespace) -> Counter:
    """`reward.py label`: writes the labelled JSONL and OUT.stats.json; returns the counts."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    policy = Transformer.load(args.policy, device=device, dtype=torch.bfloat16 if device.type == "cuda" else None)
    tokenizer = Tokenizer.load(args.tokenizer or checkpoint_tokenizer(args.policy))
    stats = Counter()
    records = list(read_jsonl(args.data, stats))[:args.limit]
    labelled = label_samples(policy.eval(), tokenizer, records, args.samples, args.labels,
                             args.mc_samples, args.template, args.max_new_tokens, args.temperature, args.batch_size,
                             args.seed, stats, progress=True)
    write_jsonl(args.out, labelled)
    Path(str(args.out) + ".stats.json").write_text(json.dumps(dict(stats), indent=2) + "\n")
    print(f"{len(labelled)} labelled samples written to {args.out}: {dict(stats)}")
    return stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    form = argparse.ArgumentDefaultsHelpFormatter
    p = commands.add_parser("label", formatter_class=form, help="sample outputs with a policy and label them")
    a = p.add_argument
    a("--policy", required=True, help="model.py checkpoint that writes the samples (and the MC completions)")
    a("--data", required=True, help="questions JSONL {question, answer}; --labels exact needs 'solution' too")
    a("--out", required=True, help="labelled JSONL to write (and OUT.stats.json)")
    a("--samples", type=int, default=8, help="outputs sampled per question (K)")
    a("--labels", choices=("mc", "exact"), default="mc",
      help="mc: Math-Shepherd's hard estimate with the policy; exact: toy-world check (toy_step_labels)")
    a("--mc-samples", type=int, default=8, help="completions per step prefix for --labels mc (N)")
    a("--max-new-tokens", type=int, default=512, help="length limit of samples and completions")
    a("--temperature", type=float, default=1.0, help="sampling temperature")
    a("--batch-size", type=int, default=64, help="sequences per generate call")
    a("--template", choices=TEMPLATES, default="deepseek", help="chat template of the prompt")
    a("--tokenizer", help="tokenizer folder (default: the one named in the --policy checkpoint)")
    a("--limit", type=int, help="label only the first N questions")
    a("--seed", type=int, default=0, help="sampling seed")
    p = add_train_args(commands.add_parser("train", formatter_class=form, conflict_handler="resolve",
                                           help="train an ORM or PRM with pretrain.py's trainer"))
    p.set_defaults(out="runs/rm", lr=2e-5, schedule="constant", warmup_steps=0, eval_every=100, save_every=0)
    a = p.add_argument
    a("--kind", choices=KINDS, required=True, help="orm: one score per output; prm: one per step")
    a("--data", required=True, help="labelled JSONL from `reward.py label`")
    a("--init", required=True, help="checkpoint the decoder starts from, its architecture too (§4.2: the base "
                                    "model; or the policy)")
    a("--val-fraction", type=float, default=0.05, help="share of the questions held out for validation (0: none)")
    a("--tokenizer", help="tokenizer folder (default: the one named in the --init checkpoint)")
    a("--template", choices=TEMPLATES, default="deepseek", help="chat template of the prompt")
    a("--epochs", type=float, default=1.0, help="passes over the data, unless --steps or --total-tokens is given")
    a("--replay", nargs="*", default=[], help="older labelled files: --replay-share of their records join (§4.1.4)")
    a("--replay-share", type=float, default=0.1, help="share of the older records replayed")
    args = parser.parse_args(argv)
    if args.command == "label":
        return label_main(args)
    if args.dry_run or any(getattr(args, f) is not None for f in ("n_layers", "d_model", "n_heads", "n_kv_heads",
                                                                  "ffn_dim")):
        parser.error("train: the architecture comes from --init (no --dry-run or model overrides)")
    return train_reward_model(args)


if __name__ == "__main__":
    main()
