"""Fuzzing the grader (grader.py, math_equal): generated pairs of one value in different forms must be
equal, pairs of different values in any forms must not be, and nothing raises or takes long.

Each value is rendered here, independently of the grader, from an exact Fraction (or an integer under a
square root), so which pairs are equal is known without asking the code under test.
"""
import time
from decimal import Decimal, localcontext
from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from grader import accuracy_reward, math_equal

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
SLOWEST_CALL_S = 0.25  # every call within 50 ms is the target; 5x for a loaded machine
UNITS = ["cm", "dollars", "square units", "inches", "degrees", "km"]
NOT_UNITS = ["apples", "is not right", "or 7", "oranges", "maybe", "no"]


def timed_equal(a: str, b: str) -> bool:
    start = time.perf_counter()
    equal = math_equal(a, b)
    assert time.perf_counter() - start < SLOWEST_CALL_S, (a, b)
    assert equal == math_equal(b, a), (a, b)  # symmetric
    return equal


def decimal_text(q: Fraction) -> str | None:
    """The exact decimal of q when it terminates (denominator 2^a 5^b), else None."""
    d = q.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return None
    with localcontext() as context:
        context.prec = 60
        return format(Decimal(q.numerator) / Decimal(q.denominator), "f")


def forms(q: Fraction) -> list[str]:
    """Ways a person or a model writes the value q."""
    sign, p, d = ("-" if q < 0 else ""), abs(q.numerator), q.denominator
    out = [f"{sign}\\frac{{{p}}}{{{d}}}", f"{sign}\\dfrac{{{3 * p}}}{{{3 * d}}}", f"{q.numerator}/{d}",
           f"\\frac{{{q.numerator}}}{{{d}}}", f"{sign}\\frac{{{p}}}{{{d}}}\\text{{ cm}}",
           f"({q.numerator})/({d})"]
    if q >= 0:
        out += [f"\\sqrt{{\\frac{{{p * p}}}{{{d * d}}}}}", f"\\sqrt[3]{{{p ** 3}/{d ** 3}}}"]
    if d == 1:
        out += [str(q.numerator), f"{q.numerator}.0", f"{q.numerator} dollars", f"\\${q.numerator}",
                f"x = {q.numerator}", f"{q.numerator}^{{1}}"]
    decimal = decimal_text(q)
    if decimal is not None:
        out += [decimal, decimal + ("00" if "." in decimal else ".00"), f"{decimal_text(q * 100)}\\%",
                f"{decimal}\\text{{ km}}"]
    return out


def item_forms(q: Fraction) -> list[str]:
    """Forms of an item of a tuple or set (a bare unit word or "x =" ends a whole answer only)."""
    return [form for form in forms(q) if "dollars" not in form and "=" not in form]


fractions = st.builds(Fraction, st.integers(-10_000, 10_000),
                      st.sampled_from([1, 1, 2, 3, 4, 5, 7, 8, 12, 25, 40]))
nearby = st.builds(lambda q, sign, k: q + Fraction(sign, 10 ** k), fractions, st.sampled_from([-1, 1]),
                   st.integers(0, 9))


def percent_related(x: Fraction, y: Fraction) -> bool:
    """A percentage on one side may be read as written ("50%" is 50 or 0.5): x and 100x may then agree."""
    return x == 100 * y or y == 100 * x


@FUZZ
@given(fractions, st.data())
def test_one_value_in_two_forms_is_equal(q, data):
    a, b = data.draw(st.sampled_from(forms(q))), data.draw(st.sampled_from(forms(q)))
    assert timed_equal(a, b), (a, b)


@FUZZ
@given(fractions, st.one_of(fractions, nearby), st.data())
def test_different_values_are_never_equal(x, y, data):
    assume(x != y and not percent_related(x, y))
    a, b = data.draw(st.sampled_from(forms(x))), data.draw(st.sampled_from(forms(y)))
    assert not timed_equal(a, b), (a, b)


@FUZZ
@given(st.lists(fractions, min_size=2, max_size=4), st.data())
def test_structures(values, data):
    """Tuples are ordered, intervals keep their brackets, sets are unordered; other values never match."""
    write = [data.draw(st.sampled_from(item_forms(v))) for v in values]
    again = [data.draw(st.sampled_from(item_forms(v))) for v in values]
    tuple_, interval = "(" + ", ".join(write) + ")", f"[{write[0]}, {write[1]})"
    assert timed_equal(tuple_, "\\left(" + ",".join(again) + "\\right)")
    assert timed_equal(interval, f"[{again[0]},{again[1]})")
    assert timed_equal("\\{" + ",".join(write) + "\\}", "\\{" + ",".join(reversed(again)) + "\\}")
    assert not timed_equal(interval, f"({again[0]},{again[1]})")
    assert not timed_equal(interval, f"[{again[0]},{again[1]}]")
    if len(set(values)) > 1 and values != values[::-1]:
        assert not timed_equal(tuple_, "(" + ",".join(reversed(again)) + ")")
    changed = values[:-1] + [values[-1] + 1]
    assume(all(not percent_related(u, v) for u, v in zip(values, changed)))
    written = lambda: ",".join(data.draw(st.sampled_from(item_forms(v))) for v in changed)  # noqa: E731
    assert not timed_equal(tuple_, "(" + written() + ")")
    assert not timed_equal("\\{" + ",".join(write) + "\\}", "\\{" + written() + "\\}")


@FUZZ
@given(st.integers(0, 999), st.integers(0, 999), st.sampled_from(UNITS), st.sampled_from(NOT_UNITS))
def test_words_and_units(a, b, unit, words):
    """A unit after a number is dropped; words between or after numbers make the answer no number."""
    assert timed_equal(f"{a}\\text{{ {unit}}}", str(a)) and timed_equal(f"{a} {unit}", str(a))
    spaced = [f"{a} {b}"] if not (a and 100 <= b <= 999) else []  # "5 100" is 5100, thousands
    for joined in [f"{a} \\text{{ or }} {b}", f"{a}\\text{{ or }}{b}", f"{a} {words}"] + spaced:
        for number in {a, b, int(f"{a}{b}"), a + b, a * b}:
            assert not timed_equal(joined, str(number)), (joined, number)
    assert accuracy_reward(f"\\boxed{{{a} {words}}}", str(a)) == 0.0


@FUZZ
@given(st.integers(2, 10_000), st.integers(0, 9), st.sampled_from([-2, -1, 0, 1, 2]))
def test_decimals_against_irrational_roots_at_the_tolerance_edge(n, places, units):
    """sqrt(n) written as a decimal with `places` digits, moved by `units` of the last place: equal exactly
    when the error is below one unit of the last place and within 1e-4 of the value (math_equal's
    docstring); the error is computed here with 40-digit decimals."""
    assume(int(n ** 0.5) ** 2 != n)
    with localcontext() as context:
        context.prec = 40
        root = Decimal(n).sqrt()
        written = root.quantize(Decimal(1).scaleb(-places)) + units * Decimal(1).scaleb(-places)
        error = abs(written - root)
        expected = error < Decimal(1).scaleb(-places) and error <= Decimal("1e-4") * root
    text = format(written, "f")
    assert timed_equal(f"\\sqrt{{{n}}}", text) == expected, (n, text, error)
    assert not timed_equal(f"\\sqrt{{{n}}}", str(round(root)))  # an integer is exact: never an irrational


@FUZZ
@given(st.text(alphabet="0123456789.,-+/^{}()[]\\frac sqrt text%$ xie", max_size=40),
       st.text(alphabet="0123456789.,-+/^{}()[]\\frac sqrt text%$ xie", max_size=40))
def test_no_input_raises(a, b):
    timed_equal(a, b)
    accuracy_reward(f"\\boxed{{{a}}}", "5")
