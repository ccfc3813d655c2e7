"""Input records: validate and coerce each field against the policy's input schema.

Values as read from CSV arrive as strings ("12", "2026-11-01", "10万"); JSON gives numbers and
bools. Each field is coerced to its declared type or the record is rejected with a RecordError
naming the field, the value and what was expected. Missing fields take their default.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal

from .ir import FieldSpec
from .types import Type

# Patterns shared with the SQL validation (engine/sql/validate.py): written so Python's `re` and
# RE2 read them alike (ASCII digits; whitespace as Python's str.strip() sees it).
NUMBER_PATTERN = r"^[+-]?(([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?(%|万|亿)?$"
NUMBER_PARTS = r"^([+-]?)([0-9,]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?(%|万|亿)?$"
DATE_PATTERN = (r"^([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?"
                r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?$")
SPACE_CLASS = "[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NUMBER = re.compile(NUMBER_PATTERN)
_PARTS = re.compile(NUMBER_PARTS)
_PLAIN_INT = re.compile(r"^[+-]?[0-9]+$")
_SHIFT = {"%": -2, "万": 4, "亿": 8}
_DATE = re.compile(DATE_PATTERN)
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1  # ints are 64-bit, as SQL BIGINT
WHOLE_LIMIT = 2.0 ** 53  # an int written with a point, exponent or unit is read as a double first
BOOL_WORDS = {True: ("true", "yes", "y", "1", "t", "是", "真"), False: ("false", "no", "n", "0", "f", "否", "假")}
_strip = str.strip  # the whitespace SPACE_CLASS lists
_TRUE = set(BOOL_WORDS[True])
_FALSE = set(BOOL_WORDS[False])


class RecordError(ValueError):
    """A record that does not fit the input schema: which field, what value, what was expected."""

    def __init__(self, field: str, value, expected: str, message: str | None = None):
        self.field = field
        self.value = value
        self.expected = expected
        self.reason = message or f"{field}: {shown(value)} is not {expected}"
        super().__init__(self.reason)


def shown(value) -> str:
    """A value as a reject's reason quotes it, cut short if it is long."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def describe(t: Type) -> str:
    """How a type is named in record errors."""
    return {
        "int": "a whole number", "number": "a number", "bool": "true or false", "string": "a string",
        "date": "a date (YYYY-MM-DD)", "list": "a list of strings",
    }.get(t.kind) or f"one of {', '.join(t.members)}"


def parse_number(text: str) -> float | None:
    """The double a number cell spells (`1,234.5`, `1e3`, `10%`, `1.5万`), rounded once; None if it is not one.

    万, 亿 and % shift the decimal exponent before the one conversion, as the SQL path does.
    """
    if not _NUMBER.match(text):
        return None
    sign, whole, frac, exponent, unit = _PARTS.match(text).groups()
    exponent = int(exponent or 0) + _SHIFT.get(unit, 0)
    return float(f"{sign}{whole.replace(',', '') or '0'}.{frac or ''}e{exponent}")


PII_MASK = "***"


def coerce(spec: FieldSpec, value):
    """The field's value in its declared type; the default or None when missing; else RecordError,
    which for a field marked `pii` does not quote the value."""
    try:
        return _coerce(spec, value)
    except RecordError as exc:
        if not spec.pii:
            raise
        raise RecordError(exc.field, PII_MASK, exc.expected,
                          exc.reason.replace(shown(exc.value), PII_MASK)) from None


def _coerce(spec: FieldSpec, value):
    t = spec.type
    if value is None or (isinstance(value, str) and t.kind != "string" and not value.strip()):
        if spec.default is not None:
            return spec.default
        if spec.optional:
            return None
        raise RecordError(spec.name, value, describe(t), f"{spec.name}: required field is missing")
    kind = t.kind
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    elif kind == "int":
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            number = int(value)
        elif isinstance(value, str):
            text = _strip(value)
            if _PLAIN_INT.match(text):
                number = int(text)
            elif (x := parse_number(text)) is not None and x.is_integer() and abs(x) <= WHOLE_LIMIT:
                number = int(x)
        if number is not None:
            if INT_MIN <= number <= INT_MAX:
                return number
            raise RecordError(spec.name, value, describe(t), f"{spec.name}: {shown(value)} is too large for a whole "
                                                             f"number (the limit is ±9.2×10¹⁸, as in SQL BIGINT)")
    elif kind == "number":
        number = None
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = None
        elif isinstance(value, str):
            number = parse_number(_strip(value))
        if number is not None and math.isfinite(number):
            return number
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            low = value.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
    elif kind == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            m = _DATE.match(value.strip())
            if m:
                try:
                    return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                except ValueError:
                    pass
    elif kind == "enum":
        if isinstance(value, str) and value.strip() in t.members:
            return value.strip()
    elif kind == "list":
        if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
            return tuple(value)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except ValueError:
                    items = None
                if isinstance(items, list) and all(isinstance(x, str) for x in items):
                    return tuple(items)
            else:
                return tuple(p.strip() for p in text.split(";") if p.strip())
    raise RecordError(spec.name, value, describe(t))


def coercer(spec: FieldSpec):
    """`coerce` for one field, with a fast path for text as CSV gives it ("12", "3.5", "2026-11-01")."""
    kind = spec.type.kind
    slow = coerce if spec.pii else _coerce  # only personal fields pay for masking the value in errors
    if kind == "date":
        def fast(value):
            if value.__class__ is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
                try:
                    return dt.date.fromisoformat(value)
                except ValueError:
                    pass
            return slow(spec, value)
    elif kind in ("int", "number"):
        convert = int if kind == "int" else float

        def fast(value):
            # int() and float() also take "1_000", "١٢" and ".5e"-less oddities the SQL path refuses:
            # only plain ASCII without underscores takes the shortcut
            if value.__class__ is str and value and value.isascii() and "_" not in value:
                try:
                    number = convert(value)
                except ValueError:
                    pass
                else:
                    if (INT_MIN <= number <= INT_MAX) if kind == "int" else math.isfinite(number):
                        return number
            return slow(spec, value)
    elif kind == "bool":
        words = {w: True for w in _TRUE} | {w: False for w in _FALSE}

        def fast(value):
            if value.__class__ is str:
                found = words.get(value) if value in words else words.get(value.strip().lower())
                if found is not None:
                    return found
            return slow(spec, value)
    else:
        def fast(value):
            return slow(spec, value)
    return fast


def lookup(record: dict, spec: FieldSpec):
    """A field's raw value: by its name, else by its `from` column; None when absent."""
    if spec.name in record:
        return record[spec.name]
    if spec.column is not None:
        return record.get(spec.column)
    return None


def problems(record, fields: tuple[FieldSpec, ...]) -> list[RecordError]:
    """Every field that does not fit, for reporting a rejected record in full."""
    if not isinstance(record, dict):
        try:
            validate(record, fields)
        except RecordError as exc:
            return [exc]
    found = []
    for spec in fields:
        try:
            coerce(spec, lookup(record, spec))
        except RecordError as exc:
            found.append(exc)
    return found


class RaggedRow:
    """A CSV row with more cells than the header has columns: rejected as a whole, saying where it is
    (its cells are not kept: which belongs to which column is unknown, and some may be personal)."""

    __slots__ = ("problem",)

    def __init__(self, problem: str):
        self.problem = problem


def not_a_record(record) -> RecordError:
    """The reason a value that is not a dict of fields is rejected."""
    if isinstance(record, RaggedRow):
        return RecordError("", None, "a row as wide as the header", record.problem)
    return RecordError("", record, "an object", f"a record must be an object of fields, not {type(record).__name__}")


def validate(record, fields: tuple[FieldSpec, ...]) -> dict:
    """Every field of the schema coerced; extra keys are ignored. Raises RecordError on the first bad field."""
    if not isinstance(record, dict):
        raise not_a_record(record)
    return {spec.name: coerce(spec, lookup(record, spec)) for spec in fields}
