"""Rule rewards for math reasoning: is a completion's final answer the right one?

GRPO (DeepSeekMath §4.1) and evaluation both stand on this file: a grader that is too strict
hides progress, one that is too lenient pays the policy for wrong answers, and a policy finds
such holes (reward hacking). Read top to bottom:
  1. The rule rewards of DeepSeek-R1 (arXiv 2501.12948 §2.2.2): accuracy and format, summed.
  2. extract_answer: the final answer a completion states (\\boxed{}, "The answer is", ####, <answer>).
  3. math_equal: are two answers the same mathematical object? LaTeX normalisation, then numbers,
     fractions, roots, tuples, intervals, sets, matrices, evaluated by a small safe parser written
     here (model output is never passed to eval, and no sympy).
reward.py (learned reward models) re-exports all of them.
"""
from __future__ import annotations

import cmath
import functools
import math
import re
import zlib
from decimal import Decimal
from fractions import Fraction

from formats import last_boxed


# ----------------------------------------------------------------------------- rule rewards (DeepSeek-R1)

def rule_reward(completion: str, gold: str, use_format: bool = False) -> float:
    """DeepSeek-R1's rule-based reward (§2.2.2): accuracy, plus the format reward when `use_format`.

    DeepSeek-R1 trains on rules alone, no neural reward model, because a learned one "may suffer from
    reward hacking"; DeepSeekMath's GRPO (§4.1) pays the same outcome reward through its reward model.
    Either way the reward is only as honest as `math_equal` below."""
    return accuracy_reward(completion, gold) + (format_reward(completion) if use_format else 0.0)


def accuracy_reward(completion: str, gold: str) -> float:
    """1.0 if the completion's final answer equals the reference answer, else 0.0 (R1 §2.2.2: "the
    model is required to provide the final answer in a specified format (e.g., within a box)").

    A completion without an answer (or an empty one) scores 0. A gold answer that is empty or
    unbalanced raises ValueError: it is a data bug, and a grader that quietly scored it would
    either hide the bug or, worse, pay for anything.
    """
    if not isinstance(gold, str) or not normalise_answer(gold) or gold.count("{") != gold.count("}"):
        raise ValueError(f"unusable gold answer: {gold!r}")
    return float(math_equal(extract_answer(completion), gold))


def format_reward(completion: str) -> float:
    """1.0 for R1's template, `<think>…</think><answer>…</answer>` making up the whole completion
    (surrounding whitespace aside), each tag exactly once, both parts with visible content; else 0.0."""
    if any(completion.count(tag) != 1 for tag in _FORMAT_TAGS):
        return 0.0
    match = _FORMAT.fullmatch(completion)
    return float(bool(match and match.group(1).strip() and match.group(2).strip()))


_FORMAT = re.compile(r"\s*<think>(.*)</think>\s*<answer>(.*)</answer>\s*", re.DOTALL)
_FORMAT_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def gradable(answer) -> bool:
    """Whether `answer` can serve as a gold answer (accuracy_reward raises on an empty or unbalanced one):
    the one check every stage makes before it samples a question, so that no reward is ever computed
    against it."""
    try:
        accuracy_reward("", str(answer) if answer is not None else "")
    except ValueError:
        return False
    return True


# DeepSeek-R1 §2.3.2: "a language consistency reward during RL training, calculated as the proportion of
# target language words in the CoT", added to the accuracy reward: it costs a little accuracy and reads
# better.
LANGUAGES = ("en", "zh")


# inline $…$ stays within a line, so that a lone "$5" (a price) cannot swallow the text up to the next one
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[A-Za-z]+", re.DOTALL)
_IDEOGRAPH = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_IDEOGRAPH}]|[^\W\d_{_IDEOGRAPH}]{{2,}}")
_ONE_IDEOGRAPH = re.compile(f"[{_IDEOGRAPH}]")


def language_words(text: str) -> list[str]:
    """The words of a text for the language-consistency reward (math and LaTeX left out): one CJK ideograph
    is one (Chinese) word; a run of two or more letters is a word, English if ASCII (single letters are
    mostly variables); anything else (é, ж) belongs to neither language."""
    return _WORD.findall(_MATH.sub(" ", text))


def word_language(word: str) -> str:
    """"zh" (a CJK ideograph), "en" (ASCII letters) or "other"."""
    if _ONE_IDEOGRAPH.fullmatch(word):
        return "zh"
    return "en" if word.isascii() else "other"


def reasoning_part(completion: str) -> str:
    """The chain of thought of a completion: inside <think>…</think> (to the end if never closed); before
    </think> when the prompt opened the tag itself (released R1 prompts end in "<think>\\n"); else the whole
    completion, which then has no separate reasoning part."""
    start = completion.find("<think>")
    if start >= 0:
        end = completion.find("</think>", start)
        return completion[start + len("<think>"):end if end >= 0 else len(completion)]
    end = completion.find("</think>")
    return completion[:end] if end >= 0 else completion


def language_consistency(completion: str, language: str = "en") -> float:
    """R1 §2.3.2: the proportion of target-language words in the chain of thought. A chain of thought
    without words (only numbers, or empty) scores 0: nothing in it is in the target language."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose from {LANGUAGES}")
    found = language_words(reasoning_part(completion))
    return sum(word_language(w) == language for w in found) / len(found) if found else 0.0


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
    # "3.5." -> "3.5": only a period before a space ends it
    return re.split(r"\.(?:\s|$)", line, maxsplit=1)[0]


# ----------------------------------------------------------------------------- normalisation

_TEXT_COMMAND = re.compile(r"(\s*)\\(?:text|textrm|textbf|textnormal|mbox|mathrm|mathbf)\s*\{([^{}]*)\}"
                           r"(\^\{?\d\}?)?")
# What may follow a unit: the end of the answer, or the next item of a list, tuple or matrix.
_AFTER_UNIT = re.compile(r"\s*(?:[.;]?\s*$|[,)\]&]|\\\}|\\\\)")
_SPACING = re.compile(r"(?<!\\)\\[!,;:]|\\q?quad(?![a-zA-Z])")
# Units a bare word may name after a number ("18 dollars", "5 square feet"); any other trailing word
# makes the answer not a number ("5 is not right", "5 apples").
# No one-letter units (m, s, g): "3 + 2 m" must not become 3 + 2.
_UNIT_NAMES = ("dollars? cents? units? square sq cubic cm mm km meters? metres? inch(?:es)? feet foot ft "
               "yards? yd miles? mph hours? hrs? minutes? mins? seconds? secs? days? weeks? months? years? "
               "degrees? pounds? lbs? ounces? oz grams? gm kg liters? litres? ml gallons? cups?").split()
_UNIT_WORDS = re.compile(r"(?<=[\d}])\s+(?:%s)(?:\s+(?:%s))*\.?$" % (("|".join(_UNIT_NAMES),) * 2))
_THOUSANDS = re.compile(r"-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")  # 1,000 (0,100 is a list)
_SPACED_THOUSANDS = re.compile(r"-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?")  # 118 000
_VARIABLE_PREFIX = re.compile(r"(?:[a-zA-Z]|\\[a-zA-Z]+)\s*(?:=|\\in)\s*(.+)", re.DOTALL)


def normalise_answer(s: str) -> str:
    """Canonical text of an answer: formatting removed, meaning kept
    (`\\dfrac12 \\text{ cm}.` -> `\\frac12`)."""
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
    if prefix and s.count("=") <= 1 and not re.search(r"[<>]", prefix.group(1)):  # "x = 3" -> "3"
        s = prefix.group(1)
    if _SPACED_THOUSANDS.fullmatch(s):
        s = s.replace(" ", "")
    # Spaces carry no meaning except between a command and a letter ("\pi r" is not "\pir") and between
    # two digits ("1 2" is not 12: it is no number at all).
    s = re.sub(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])|(?<=\d)\s+(?=\d)", lambda m: (m.group(1) or "") + "\0", s)
    s = re.sub(r"\s+", "", s).replace("\0", " ")
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if re.fullmatch(r"\([A-Z]\)", s):  # multiple choice "(C)" -> "C"
        s = s[1]
    mixed = re.fullmatch(r"(-?)(\d+)\\frac\{(\d+)\}\{(\d+)\}", s)
    if mixed:  # a mixed number: 2\frac{1}{2} is 2.5, not 2 * 1/2
        s = "%s(%s+\\frac{%s}{%s})" % mixed.groups()
    if s.count("\\pm") == 1 and "," not in s:  # 1\pm\sqrt2: the two solutions, 1+\sqrt2, 1-\sqrt2
        s = s.replace("\\pm", "+") + "," + s.replace("\\pm", "-")
    return _inequality_as_interval(s)


_BOUND = r"(<=|>=|<|>|\\leq?|\\geq?|\\lt|\\gt)"
_UPPER = {"<": ")", "\\lt": ")", "<=": "]", "\\le": "]", "\\leq": "]"}  # x < a: open at a; x <= a: closed
_LOWER = {">": "(", "\\gt": "(", ">=": "[", "\\ge": "[", "\\geq": "["}


def _inequality_as_interval(s: str) -> str:
    """The solution set of one variable as an interval: `x>3` is `(3,\\infty)`, `-1\\le x<2` is `[-1,2)`."""
    one = re.fullmatch(r"[a-zA-Z]%s ?(.+)" % _BOUND, s)
    if one and one.group(1) in _UPPER:
        return "(-\\infty,%s%s" % (one.group(2), _UPPER[one.group(1)])
    if one and one.group(1) in _LOWER:
        return "%s%s,\\infty)" % (_LOWER[one.group(1)], one.group(2))
    two = re.fullmatch(r"([^<>]+?)%s ?[a-zA-Z]%s([^<>]+)" % (_BOUND, _BOUND), s)
    if two and two.group(2) in _UPPER and two.group(3) in _UPPER:
        opening = {")": "(", "]": "["}[_UPPER[two.group(2)]]
        return "%s%s,%s%s" % (opening, two.group(1), two.group(4), _UPPER[two.group(3)])
    return s


def _text_or_unit(m: re.Match) -> str:
    """`\\text{…}` right after a quantity and ending the answer (or a list item) is a unit: dropped, with
    its ^2 (`5\\text{ cm}^2`). Anywhere else it is words of the answer: `5 \\text{ or } 6` stays `5 or 6`,
    never 56."""
    content = m.group(2).strip()
    if content in ("and", ", and"):
        return " and "  # a list: normalise_answer turns "and" into a comma
    before = m.string[m.start() - 1] if m.start() > 0 else ""
    if before and (before.isalnum() or before in "}.)") and _AFTER_UNIT.match(m.string, m.end()):
        return ""
    return m.group(1) + content + (m.group(3) or "")


# ----------------------------------------------------------------------------- equality

def math_equal(pred: str | None, gold: str | None, rel_tol: float = 1e-4) -> bool:
    """Whether two answers denote the same mathematical object.

    Numbers compare by value. Integers, fractions, decimals (`0.5`, `1e3`) and what + - * /, integer
    powers and perfect roots make of them are exact: equal only when equal (`10000.9` is not 10000,
    `0.50004` is not 1/2, `\\sqrt{10001}` is not 100). A decimal stands for a value it cannot write
    exactly (an irrational one such as \\sqrt2 or pi, or a non-terminating fraction such as 1/3) when
    it is that value rounded or cut to the places written (error below one unit of the last place)
    and within `rel_tol` of it (about five significant digits: 1.41421 is \\sqrt2, 1.414 is not;
    3.1416 is pi, 3.14 is not). Two irrational expressions compare to float precision.
    A percentage on one side only ("50%" against 50 or 0.5) may be read as written or as its value
    /100: the reference does not say whether the question asked for a percent; with % on both sides
    the values compare. A unit (a `\\text{}` ending the answer after a quantity, or a known unit word)
    is dropped; any other words make the answer text, compared as text.
    Tuples and intervals compare element-wise with matching brackets, sets (and bare comma lists,
    e.g. all solutions of an equation) unordered, matrices entry-wise. Expressions with variables are
    evaluated at fixed random points (so 2x+1 = 1+2x); what the parser does not understand compares by
    normalised text. An empty answer is never equal to anything.
    """
    if pred is None or gold is None:
        return False
    a, b = normalise_answer(pred), normalise_answer(gold)
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
    """Compare two single values (see math_equal for the rules on exactness and percentages)."""
    a_percent, b_percent = a.endswith("%"), b.endswith("%")
    a, b = a.rstrip("%"), b.rstrip("%")
    if a == b:
        return True
    value_a, value_b = _evaluate(a), _evaluate(b)
    if value_a is None or value_b is None or value_a[1] != value_b[1]:  # unparsed, or other variables
        return False
    readings_a = _readings(value_a[0], _decimal_places(a), a_percent and not b_percent)
    readings_b = _readings(value_b[0], _decimal_places(b), b_percent and not a_percent)
    return any(all(_close(x, y, places_x, places_y, rel_tol) for x, y in zip(xs, ys))
               for xs, places_x in readings_a for ys, places_y in readings_b)


def _readings(values: tuple, places: int | None, percent: bool) -> list[tuple[tuple, int | None]]:
    """(values, decimal places written): a percentage "50%" may mean 50 or 0.5 (two more places)."""
    if not percent:
        return [(values, places)]
    return [(values, places), (tuple(v / 100 for v in values), None if places is None else places + 2)]


def _decimal_places(s: str) -> int | None:
    """Digits after the point when `s` is a plain decimal ("0.50" -> 2), else None."""
    literal = re.fullmatch(r"-?\d*\.(\d+)", s)
    return len(literal.group(1)) if literal else None


_FLOAT_NOISE = 1e-9  # relative: two irrational expressions of one value differ by rounding only


def _close(x: Fraction | complex, y: Fraction | complex, places_x: int | None, places_y: int | None,
           rel_tol: float) -> bool:
    """Exact values equal exactly; a decimal (places_* not None) may stand for an irrational or
    non-terminating value it approximates; irrational values compare to float precision."""
    exact = isinstance(x, Fraction) and isinstance(y, Fraction)
    if exact and x == y:
        return True
    if (places_x is None) == (places_y is None):  # two decimals, or neither a decimal
        if exact or places_x is not None:
            return False
        return _within(x, y, None, _FLOAT_NOISE)
    decimal, places, value = (x, places_x, y) if places_x is not None else (y, places_y, x)
    if isinstance(value, Fraction) and _terminates(value):
        return False  # the value has a decimal of its own: only that one is right (100.51 is not 201/2)
    return _within(value, decimal, 10.0 ** -places, rel_tol)


def _terminates(q: Fraction) -> bool:
    """Whether q has a finite decimal (its denominator is 2^a 5^b)."""
    d = q.denominator
    d //= d & -d  # the factors 2
    while d % 5 == 0:
        d //= 5
    return d == 1


def _within(value: Fraction | complex, other: Fraction | complex, absolute: float | None,
            relative: float) -> bool:
    """|value - other| below `absolute` (None: no bound) and within `relative` of |value| (or of 1e-6
    near 0)."""
    try:
        x, y = complex(value), complex(other)
    except OverflowError:  # a huge exact number against an approximate one
        return False
    if not (cmath.isfinite(x) and cmath.isfinite(y)):
        return x == y  # infinities (interval ends) compare exactly
    error = abs(x - y)
    return (absolute is None or error < absolute) and error <= relative * max(abs(x), abs(y), 1e-6)


# ----------------------------------------------------------------------------- the expression parser

class _Unevaluable(Exception):
    """Outside what the parser understands: the caller falls back to comparing text."""


_POINTS = 3  # evaluation points for expressions with variables
_MAX_DEPTH = 40  # nesting limit of the recursive descent: a bounded stack on adversarial input
_MAX_EXACT_BITS = 20_000  # 9^9^9^9 would take forever to compute exactly; no answer is that big
_NUMBER_TOKEN = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d{1,4}(?!\d))?")  # 0.5, 1e3, 2.5e-3
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
        term    := unary ((('*' | '/' | \\cdot | \\times | \\div) unary) | unary)*
                                                                                    (juxtaposition multiplies)
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
        rational = isinstance(base, Fraction) and isinstance(exponent, Fraction)
        if rational and exponent.denominator <= _MAX_ROOT:
            base = _root(base, Fraction(exponent.denominator))  # 8^{2/3} = (8^{1/3})^2 = 4, exactly
            exponent = Fraction(exponent.numerator)
        if isinstance(base, Fraction) and isinstance(exponent, Fraction):
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
            return Fraction(Decimal(number.group()))  # a decimal is exact: 0.1 is 1/10
        for open_, close in (("(", ")"), ("{", "}")):
            if self.take(open_):
                value = self.expr()
                self.expect(close)
                return value
        if self.peek("\\"):
            return self.command()
        if s[pos:pos + 1].isalpha():
            run = re.match(r"[a-zA-Z]+", s[pos:pos + 64])
            if run and _is_word(run.group()):
                raise _Unevaluable("a word")  # "Monday", "no", "AB": compared as text, not as products
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
            return _root(self.arg(), index)
        if name == "binom":
            n, k = self.arg(), self.arg()
            integers = all(isinstance(v, Fraction) and v.denominator == 1 for v in (n, k))
            if not integers or not 0 <= k <= n <= 1000:
                raise _Unevaluable("binomial of non-integers or huge numbers")
            return Fraction(math.comb(int(n), int(k)))
        if name == "log" and self.take("_"):  # \log_2 8 = 3
            base = self.arg()
            self.take(" ")
            argument = self.arg() if self.peek("{") else self.unary()
            return _checked(cmath.log(complex(argument)) / cmath.log(complex(base)), argument, base)
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
        """i is the imaginary unit and e Euler's number (\\ln e = 1); other letters are variables."""
        return {"i": 1j, "e": complex(math.e)}.get(c) or self.variable(c)

    def variable(self, name: str) -> Fraction:
        self.symbols.add(name)
        return Fraction(1000 + zlib.crc32(f"{name}:{self.point}".encode()) % 9973, 5000)  # in [0.2, 2.2)


_MAX_ROOT = 64  # roots up to this index are taken exactly when they are exact
_WORDS = set("an as at be by do if in is it me my no of on or so to up us we".split())


def _root(value, index):
    """The principal root, exact when it is (\\sqrt{4} = 2, \\sqrt{9/4} = 3/2), else approximate
    (\\sqrt{10001} = 100.005...: it must not pass for 100)."""
    if isinstance(value, Fraction) and isinstance(index, Fraction) and index.denominator == 1 \
            and 1 <= index <= _MAX_ROOT and value >= 0:
        k = int(index)
        top, bottom = _integer_root(value.numerator, k), _integer_root(value.denominator, k)
        if top ** k == value.numerator and bottom ** k == value.denominator:
            return Fraction(top, bottom)
    return _checked(complex(value) ** (1 / complex(index)), value, index)


def _integer_root(n: int, k: int) -> int:
    """floor(n ** (1/k)) for n >= 0, by Newton's method on integers (floats lose digits past 2**53)."""
    if n < 2:
        return n
    x = 1 << -(-n.bit_length() // k)  # a power of two above the root
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _is_word(run: str) -> bool:
    """A run of letters that is a word or a name, not a product of variables: three letters or more
    ("odd"), a capital in it ("AB", a segment or choices, is not "BA"), or a two-letter English word."""
    return len(run) >= 3 or (len(run) == 2 and (not run.islower() or run in _WORDS))


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
