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
from decimal import Decimal, InvalidOperation

from .ir import FieldSpec
from .types import Type

_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?(%|万|亿)?$")
_SCALE = {"%": Decimal("0.01"), "万": Decimal(10_000), "亿": Decimal(100_000_000)}
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1  # ints are 64-bit, as SQL BIGINT
_TRUE = {"true", "yes", "y", "1", "t", "是", "真"}
_FALSE = {"false", "no", "n", "0", "f", "否", "假"}


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


def _parse_number(text: str) -> Decimal | None:
    m = _NUMBER.match(text)
    if not m:
        return None
    suffix = m.group(5) or ""
    try:
        value = Decimal(text[: len(text) - len(suffix)].replace(",", ""))
    except InvalidOperation:
        return None
    return value * _SCALE[suffix] if suffix else value


def coerce(spec: FieldSpec, value):
    """The field's value in its declared type; the default or None when missing; else RecordError."""
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
        elif isinstance(value, str):
            d = _parse_number(value.strip())
            if d is not None and d == d.to_integral_value():
                number = int(d)
        if number is not None:
            if INT_MIN <= number <= INT_MAX:
                return number
            raise RecordError(spec.name, value, describe(t), f"{spec.name}: {shown(value)} is too large for a whole "
                                                             f"number (the limit is ±9.2×10¹⁸, as in SQL BIGINT)")
    elif kind == "number":
        number = None
        try:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                number = float(value)
            elif isinstance(value, str) and (d := _parse_number(value.strip())) is not None:
                number = float(d)
        except OverflowError:
            number = None
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
    if kind == "date":
        def fast(value):
            if value.__class__ is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
                try:
                    return dt.date.fromisoformat(value)
                except ValueError:
                    pass
            return coerce(spec, value)
    elif kind in ("int", "number"):
        convert = int if kind == "int" else float

        def fast(value):
            if value.__class__ is str and value:
                try:
                    number = convert(value)
                except ValueError:
                    pass
                else:
                    if (INT_MIN <= number <= INT_MAX) if kind == "int" else math.isfinite(number):
                        return number
            return coerce(spec, value)
    elif kind == "bool":
        words = {w: True for w in _TRUE} | {w: False for w in _FALSE}

        def fast(value):
            if value.__class__ is str:
                found = words.get(value) if value in words else words.get(value.strip().lower())
                if found is not None:
                    return found
            return coerce(spec, value)
    else:
        def fast(value):
            return coerce(spec, value)
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


def validate(record, fields: tuple[FieldSpec, ...]) -> dict:
    """Every field of the schema coerced; extra keys are ignored. Raises RecordError on the first bad field."""
    if not isinstance(record, dict):
        raise RecordError("", record, "an object", f"a record must be an object of fields, not {type(record).__name__}")
    return {spec.name: coerce(spec, lookup(record, spec)) for spec in fields}
