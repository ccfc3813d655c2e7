"""The one registry of built-in functions: signature, missing-value rule, implementation, docs.

Adding a function is one entry here; the checker and every backend read this table. Infix string
operators (`starts_with`, `ends_with`, `contains`, `matches`) are entries too.
Implementations receive present values only when `nulls == "propagate"` (a missing argument makes
the result missing without calling them).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import re2

from .records import INT_MAX, INT_MIN
from .types import BOOL, INT, NUMBER, STRING, Type


class SignatureError(Exception):
    """An argument list a function does not accept; `index` is the offending argument (or None)."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Function:
    name: str
    signature: str  # as shown in docs, e.g. "days_since(date) -> int"
    doc: str
    arity: tuple[int, int | None]  # min, max (None: any number)
    result: Callable[[list[Type]], Type]  # raises SignatureError
    py: Callable
    nulls: str = "propagate"  # or "coalesce": missing arguments are skipped
    needs_as_of: bool = False  # the implementation takes the as-of date as its last argument
    constant_args: tuple[int, ...] = ()  # arguments that must be literals (validated by `validate`)
    validate: Callable[[int, object], str | None] | None = None
    population: bool = False  # computed over all records of a batch (see engine/population.py)


def _expect(types: list[Type], index: int, ok: Callable[[Type], bool], what: str) -> None:
    if not ok(types[index]):
        raise SignatureError(f"expects {what}, got {types[index]}", index)


def _one_date(types):
    _expect(types, 0, lambda t: t.kind == "date", "a date")
    return INT


def _numeric_same(types):
    _expect(types, 0, lambda t: t.numeric, "a number")
    return types[0]


def _common(types: list[Type]) -> Type:
    """All numbers (int only if all are ints), all dates, or all strings."""
    if all(t.numeric for t in types):
        return INT if all(t.kind == "int" for t in types) else NUMBER
    for kind in ("date", "string"):
        if all(t.kind == kind for t in types):
            return types[0]
    first = types[0]
    for i, t in enumerate(types):
        if t.kind != first.kind and not (t.numeric and first.numeric):
            raise SignatureError(f"mixes {first} and {t}", i)
    raise SignatureError(f"expects numbers, dates or strings, got {first}", 0)


def _coalesce(types: list[Type]) -> Type:
    from .types import assignable
    target = _common(types) if all(t.numeric for t in types) else types[0]
    for i, t in enumerate(types):
        if not assignable(t, target):
            raise SignatureError(f"mixes {target} and {t}", i)
    return target


def _round(types):
    _expect(types, 0, lambda t: t.numeric, "a number")
    if len(types) > 1:
        _expect(types, 1, lambda t: t.kind == "int", "a whole number of decimal places")
    return NUMBER


def _string_fn(result):
    def check(types):
        _expect(types, 0, lambda t: t.kind == "string", "a string")
        return result
    return check


def _len(types):
    _expect(types, 0, lambda t: t.kind in ("string", "list"), "a string or a list")
    return INT


def _string_pair(types):
    _expect(types, 0, lambda t: t.kind == "string", "a string on the left")
    _expect(types, 1, lambda t: t.kind == "string", "a string on the right")
    return BOOL


def _contains(types):
    if types[0].kind == "list":
        _expect(types, 1, lambda t: t.kind == "string", "a string to look for")
        return BOOL
    return _string_pair(types)


_INF = float("inf")


def in_range(value):
    """An arithmetic result as every backend keeps it: an int within 64 bits, a finite double; else
    missing (None), as SQL's checked BIGINT and DOUBLE arithmetic gives it."""
    if value.__class__ is int:
        return value if INT_MIN <= value <= INT_MAX else None
    return value if -_INF < value < _INF else None


def months_since(d: dt.date, as_of: dt.date) -> int:
    """Whole months from d to as_of: a month counts once its day of the month is reached."""
    months = (as_of.year - d.year) * 12 + (as_of.month - d.month)
    return months - 1 if as_of.day < d.day and months > 0 else (months + 1 if as_of.day > d.day and months < 0 else months)


def round_half_away(x: float, digits: int = 0) -> float:
    """Round half away from zero, as SQL's ROUND does (Python's round() rounds half to even)."""
    if digits > 300:  # beyond any double's precision: nothing to round
        return float(x)
    if digits < -300:
        return 0.0
    scale = 10.0 ** digits
    v = abs(x) * scale
    if v >= 4503599627370496.0:  # 2**52: already whole at this scale (and no floor of infinity)
        return float(x)
    r = math.floor(v)
    if v - r >= 0.5:
        r += 1
    return math.copysign(r / scale, x) if r else 0.0


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors become diagnostics, not lines on stderr


@lru_cache(maxsize=256)
def compile_regex(pattern: str):
    return re2.compile(pattern, _RE2_OPTIONS)


def _regex_error(index: int, value: object) -> str | None:
    try:
        compile_regex(str(value))
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return f"not a valid regular expression: {reason}"
    return None


def _contains_py(container, item):
    return item in container


def _rank_arg(types):
    _expect(types, len(types) - 1, lambda t: t.numeric, "a number to rank")
    if len(types) == 2:
        _expect(types, 0, lambda t: t.kind == "int", "a whole number of tiles")
    return INT


REGISTRY: dict[str, Function] = {f.name: f for f in (
    Function("days_since", "days_since(date) -> int", "Days from the date to the as-of date (negative if later).",
             (1, 1), _one_date, lambda d, as_of: (as_of - d).days, needs_as_of=True),
    Function("months_since", "months_since(date) -> int",
             "Whole months from the date to the as-of date; a month counts once its day is reached.",
             (1, 1), _one_date, months_since, needs_as_of=True),
    Function("abs", "abs(number) -> number", "Absolute value; keeps int as int.", (1, 1), _numeric_same,
             lambda x: in_range(abs(x))),
    Function("min", "min(a, b, …) -> same type", "Smallest argument; missing if any argument is missing.",
             (2, None), _common, min),
    Function("max", "max(a, b, …) -> same type", "Largest argument; missing if any argument is missing.",
             (2, None), _common, max),
    Function("round", "round(number, digits = 0) -> number",
             "Round half away from zero to `digits` decimal places (as SQL ROUND).", (1, 2), _round, round_half_away),
    Function("coalesce", "coalesce(a, b, …) -> same type", "The first argument that is present (as `a ?? b`).",
             (2, None), _coalesce, None, nulls="coalesce"),
    Function("lower", "lower(string) -> string", "Lower-case letters.", (1, 1), _string_fn(STRING), str.lower),
    Function("upper", "upper(string) -> string", "Upper-case letters.", (1, 1), _string_fn(STRING), str.upper),
    Function("len", "len(string | list) -> int", "Number of characters (code points) or list items.",
             (1, 1), _len, len),
    Function("starts_with", "s starts_with prefix -> bool", "Whether the string starts with the prefix.",
             (2, 2), _string_pair, str.startswith),
    Function("ends_with", "s ends_with suffix -> bool", "Whether the string ends with the suffix.",
             (2, 2), _string_pair, str.endswith),
    Function("contains", "s contains part -> bool",
             "Whether the string contains the part, or the list(string) contains the item.",
             (2, 2), _contains, _contains_py),
    Function("matches", 's matches "regex" -> bool',
             "Whether the RE2 regular expression matches somewhere in the string (as DuckDB regexp_matches).",
             (2, 2), _string_pair, lambda s, p: compile_regex(p).search(s) is not None,
             constant_args=(1,), validate=_regex_error),
    Function("quintile", "quintile(number) -> int",
             "1 to 5: which fifth of the batch the value falls in (population function; see docs).",
             (1, 1), _rank_arg, None, population=True),
    Function("ntile", "ntile(n, number) -> int",
             "1 to n: which n-th of the batch the value falls in (population function; see docs).",
             (2, 2), _rank_arg, None, population=True),
    Function("percent_rank", "percent_rank(number) -> number",
             "0 to 1: the share of the batch's values below this one (population function; see docs).",
             (1, 1), lambda types: (_rank_arg(types), NUMBER)[1], None, population=True),
)}
