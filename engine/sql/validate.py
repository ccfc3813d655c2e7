"""Input validation in SQL: each field's raw column coerced to its type, or flagged bad.

The same rules as engine/records.py (the per-record path), written for DuckDB reading files:
text cells ("12", "1,234", "10万", "2026/11/01", "是") as CSV gives them, and native Parquet
types. For a warehouse table (`rules sql`), columns are taken to have the field's SQL type
already, and only what the type cannot promise is checked (missing required values, enum
members, finite numbers).
"""
from __future__ import annotations

from sqlglot import exp

from ..ir import FieldSpec
from ..records import BOOL_WORDS, DATE_PATTERN, NUMBER_PARTS, NUMBER_PATTERN, SPACE_CLASS, WHOLE_LIMIT
from .columns import Columns
from .compiler import constant
from .dialects import INT_MAX, INT_MIN, Dialect, case, fn, num

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                  "HUGEINT", "UHUGEINT"}
_WITHIN_BIGINT = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE"}
_NATIVE = {"int": "BIGINT", "number": "DOUBLE", "bool": "BOOLEAN", "date": "DATE"}


def _lit(s: str) -> exp.Expression:
    return exp.Literal.string(s)


def _is_null(e):
    return exp.Is(this=e, expression=exp.null())


def _not_null(e):
    return exp.Not(this=exp.Is(this=e, expression=exp.null()))


def _strip(text):
    """Python's str.strip(): Unicode whitespace off both ends."""
    return fn("REGEXP_REPLACE", text, _lit(f"^{SPACE_CLASS}+|{SPACE_CLASS}+$"), _lit(""), _lit("g"))


class Validator:
    """Adds, per field, a column with its typed value (missing when bad) and a flag saying it is bad."""

    def __init__(self, cols: Columns, native_dialect=None):
        self.cols = cols
        self.native = native_dialect  # set for `rules sql` on typed tables

    def field(self, spec: FieldSpec, raw: exp.Expression | None, source_type: str | None):
        """(value, bad) column references for one field read from `raw` of `source_type`."""
        kind = spec.type.kind
        if raw is None:
            value, bad = exp.null(), exp.false()
        elif self.native is not None:
            value, bad = self.native_value(spec, raw)
        elif source_type == "VARCHAR":
            value, bad = self.text(spec, raw)
        elif source_type == "JSON":
            value, bad = self.json(spec, raw)
        else:
            value, bad = self.typed(spec, raw, source_type)
        # a missing value takes the default; without one it is bad unless the field is optional
        value = self.cols.simple(value, "v")
        if spec.default is not None:
            default = constant(spec.default, self.native or Dialect())
            value = exp.Coalesce(this=value, expressions=[default])
        elif not spec.optional:
            bad = _is_null(value)  # a bad value is missing too: either way the row is rejected
        if kind in ("int", "number", "bool", "date"):
            value = exp.cast(value, {"int": "BIGINT", "number": "DOUBLE", "bool": "BOOLEAN", "date": "DATE"}[kind])
        return self.cols.simple(value, "f"), self.cols.simple(bad, "b")

    # ---- typed warehouse tables
    def native_value(self, spec: FieldSpec, raw):
        kind = spec.type.kind
        if kind in _NATIVE and self.native.name != "postgres":
            # a column of another type (text where an int belongs) is converted by the engine's own
            # TRY_CAST, and what does not convert is a reject, not a failed query
            cast = self.cols.simple(exp.TryCast(this=raw, to=exp.DataType.build(_NATIVE[kind]), safe=True), "v")
            cast_failed = exp.And(this=_not_null(raw), expression=_is_null(cast))
            raw = cast
        else:
            cast_failed = None
        value, bad = self._native_checked(spec, raw)
        if cast_failed is not None:
            bad = cast_failed if bad == exp.false() else exp.Or(this=cast_failed, expression=bad)
        return value, bad

    def _native_checked(self, spec: FieldSpec, raw):
        kind = spec.type.kind
        if kind == "number":
            return case((self.native.finite(raw), raw)), exp.And(
                this=_not_null(raw), expression=exp.Not(this=self.native.finite(raw)))
        if kind == "enum":
            members = [_lit(m) for m in spec.type.members]
            ok = exp.In(this=raw, expressions=members)
            return case((ok, raw)), exp.And(this=_not_null(raw), expression=exp.Not(this=ok))
        return raw, exp.false()

    # ---- text cells
    def text(self, spec: FieldSpec, raw):
        kind = spec.type.kind
        if kind == "string":
            return raw, exp.false()
        if kind == "enum":
            return self.enum_text(spec, raw)
        s = self.cols.add(_strip(raw), "s")
        empty = exp.Or(this=_is_null(s), expression=exp.EQ(this=s, expression=_lit("")))
        value = self.text_value(spec, s)
        v = self.cols.add(case((empty, exp.null()), default=value), "v")
        return v, exp.And(this=exp.Not(this=empty), expression=_is_null(v))

    def enum_text(self, spec: FieldSpec, raw):
        """A member named by the text, blanks around it ignored. The text is stripped (a regex) only
        when it is not a member as it stands, which is rare, so a column of clean values costs a lookup."""
        members = [m for m in spec.type.members if m.strip()]  # blank text is missing, never a member
        s = _strip(raw)
        value = case((exp.In(this=s, expressions=[_lit(m) for m in members]), s))
        exact = [_lit(m) for m in members if m == m.strip()]  # a member with blanks around it is never matched
        if exact:
            value = case((exp.In(this=raw, expressions=exact), raw), default=value)
        v = self.cols.add(value, "v")
        return v, case((exp.And(this=_is_null(v), expression=_not_null(raw)), exp.NEQ(this=_strip(raw), expression=_lit(""))),
                       default=exp.false())

    def text_value(self, spec: FieldSpec, s):
        kind = spec.type.kind
        if kind in ("int", "number"):
            parts = self.cols.add(fn("REGEXP_EXTRACT", s, _lit(NUMBER_PARTS),
                                     exp.Array(expressions=[_lit(n) for n in ("sign", "whole", "frac", "exp", "unit")])),
                                  "n")
            number = self.cols.add(self.number_from_parts(parts, s), "x")
            if kind == "number":
                return case((fn("ISFINITE", number), number))
            plain = fn("REGEXP_MATCHES", s, _lit(r"^[+-]?[0-9]+$"))
            return case((plain, exp.TryCast(this=s, to=exp.DataType.build("BIGINT"))),
                        (exp.And(this=exp.EQ(this=number, expression=exp.Floor(this=number)),
                                 expression=exp.LTE(this=exp.Abs(this=number), expression=num(WHOLE_LIMIT))),
                         exp.cast(number, "BIGINT")))
        if kind == "bool":
            low = exp.Lower(this=s)
            return case(*[(exp.In(this=low, expressions=[_lit(w) for w in words]), exp.Boolean(this=flag))
                          for flag, words in ((True, BOOL_WORDS[True]), (False, BOOL_WORDS[False]))])
        if kind == "date":
            parts = self.cols.add(fn("REGEXP_EXTRACT", s, _lit(DATE_PATTERN),
                                     exp.Array(expressions=[_lit(n) for n in ("y", "m", "d")])), "n")
            y, m, d = (exp.TryCast(this=exp.Dot(this=parts, expression=exp.to_identifier(k)),
                                   to=exp.DataType.build("BIGINT"))
                       for k in ("y", "m", "d"))
            matched = exp.NEQ(this=exp.Dot(this=parts, expression=exp.to_identifier("y")), expression=_lit(""))
            return case((exp.And(this=matched, expression=exp.GTE(this=y, expression=exp.Literal.number(1))),
                         fn("TRY", fn("MAKE_DATE", y, m, d))))
        # list(string): a JSON array of strings, or items separated by `;`
        x = exp.to_identifier("x")
        items = fn("LIST_FILTER", fn("LIST_TRANSFORM", fn("STRING_SPLIT", s, _lit(";")),
                                     exp.Lambda(this=_strip(exp.column(x)), expressions=[x])),
                   exp.Lambda(this=exp.NEQ(this=exp.column(x), expression=_lit("")), expressions=[x]))
        return case((fn("STARTS_WITH", s, _lit("[")), _json_strings(s)), default=items)

    @staticmethod
    def number_from_parts(parts, s):
        """The double a matched number spells: digits and exponent shifted by %, 万 or 亿, rounded once."""
        def part(name):
            return exp.Dot(this=parts, expression=exp.to_identifier(name))
        whole = fn("REPLACE", part("whole"), _lit(","), _lit(""))
        digits = exp.DPipe(this=exp.DPipe(this=case((exp.EQ(this=whole, expression=_lit("")), _lit("0")),
                                                    default=whole), expression=_lit(".")),
                           expression=part("frac"), safe=True)
        exponent = case((exp.EQ(this=part("exp"), expression=_lit("")), exp.Literal.number(0)),
                        # beyond ±999999 every double is 0 or infinite: clamp before the cast
                        (exp.GT(this=exp.Length(this=part("exp")), expression=exp.Literal.number(8)),
                         case((fn("STARTS_WITH", part("exp"), _lit("-")), exp.Literal.number(-999999)),
                              default=exp.Literal.number(999999))),
                        default=exp.TryCast(this=part("exp"), to=exp.DataType.build("BIGINT")))
        shift = case((exp.EQ(this=part("unit"), expression=_lit("%")), exp.Literal.number(-2)),
                     (exp.EQ(this=part("unit"), expression=_lit("万")), exp.Literal.number(4)),
                     (exp.EQ(this=part("unit"), expression=_lit("亿")), exp.Literal.number(8)),
                     default=exp.Literal.number(0))
        text = exp.DPipe(this=exp.DPipe(this=exp.DPipe(this=part("sign"), expression=digits, safe=True),
                                        expression=_lit("e"), safe=True),
                         expression=exp.cast(exp.Add(this=exponent, expression=shift), "VARCHAR"), safe=True)
        matched = fn("REGEXP_MATCHES", s, _lit(NUMBER_PATTERN))
        return case((matched, exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))))

    # ---- JSON values (JSONL files)
    def json(self, spec: FieldSpec, raw):
        """A JSON value by its JSON type, as records.coerce takes what json.loads gives."""
        kind = spec.type.kind
        t = self.cols.add(fn("JSON_TYPE", raw), "j")
        text = self.cols.add(fn("JSON_EXTRACT_STRING", raw, _lit("$")), "j")
        is_text = exp.EQ(this=t, expression=_lit("VARCHAR"))
        whole = exp.Or(this=exp.In(this=t, expressions=[_lit("BIGINT"), _lit("UBIGINT")]), expression=exp.And(
            this=exp.EQ(this=t, expression=_lit("DOUBLE")),
            expression=fn("REGEXP_MATCHES", text, _lit(r"^-?[0-9]+$"))))  # beyond 64 bits: still an int
        numeric = exp.In(this=t, expressions=[_lit("BIGINT"), _lit("UBIGINT"), _lit("DOUBLE")])
        if kind == "string":
            value = case((exp.Or(this=is_text, expression=whole), text))
        elif kind in ("int", "number", "bool"):
            from_text, _ = self.text(spec, case((is_text, text)))
            d = exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))
            if kind == "int":
                native = case((whole, exp.TryCast(this=text, to=exp.DataType.build("BIGINT"))),
                              (exp.And(this=exp.EQ(this=t, expression=_lit("DOUBLE")), expression=exp.And(
                                  this=fn("ISFINITE", d), expression=exp.EQ(this=d, expression=exp.Floor(this=d)))),
                               exp.TryCast(this=d, to=exp.DataType.build("BIGINT"))))
            elif kind == "number":
                native = case((exp.And(this=numeric, expression=fn("ISFINITE", d)), d))
            else:
                native = case((exp.EQ(this=t, expression=_lit("BOOLEAN")), exp.EQ(this=text, expression=_lit("true"))),
                              (exp.And(this=whole, expression=exp.In(this=text, expressions=[_lit("0"), _lit("1")])),
                               exp.EQ(this=text, expression=_lit("1"))))
            value = case((is_text, from_text), default=native)
        elif kind == "list":
            from_text, _ = self.text(spec, case((is_text, text)))
            value = case((is_text, from_text), (exp.EQ(this=t, expression=_lit("ARRAY")), _json_strings(raw)))
        else:  # date, enum: text only
            value, _ = self.text(spec, case((is_text, text)))
        v = self.cols.simple(value, "v")
        blank = exp.And(this=is_text, expression=exp.EQ(this=_strip(text), expression=_lit(""))) \
            if kind != "string" else exp.false()
        return v, exp.And(this=exp.And(this=_not_null(raw), expression=_is_null(v)), expression=exp.Not(this=blank))

    # ---- native Parquet / DuckDB types
    def typed(self, spec: FieldSpec, raw, source_type: str):
        kind = spec.type.kind
        t = source_type.upper()
        bad_if_present = (exp.null(), _not_null(raw))
        integer = t in _INTEGER_TYPES
        floating = t in _FLOAT_TYPES or t.startswith("DECIMAL")
        if kind == "int":
            if t in _WITHIN_BIGINT:
                return raw, exp.false()
            if integer:
                v = self.cols.add(case((exp.Between(this=raw, low=num(INT_MIN), high=num(INT_MAX)),
                                        exp.cast(raw, "BIGINT"))), "v")
                return v, exp.And(this=_not_null(raw), expression=_is_null(v))
            if floating:
                d = exp.cast(raw, "DOUBLE")
                ok = exp.And(this=exp.And(this=fn("ISFINITE", d), expression=exp.EQ(this=d, expression=exp.Floor(this=d))),
                             expression=exp.And(this=exp.GTE(this=d, expression=num(-9.223372036854775808e18)),
                                                expression=exp.LT(this=d, expression=num(9.223372036854775808e18))))
                v = self.cols.add(case((ok, exp.cast(d, "BIGINT"))), "v")
                return v, exp.And(this=_not_null(raw), expression=_is_null(v))
            return bad_if_present
        if kind == "number":
            if integer or floating:
                d = exp.cast(raw, "DOUBLE")
                v = self.cols.add(case((fn("ISFINITE", d), d)), "v")
                return v, exp.And(this=_not_null(raw), expression=_is_null(v))
            return bad_if_present
        if kind == "bool":
            if t == "BOOLEAN":
                return raw, exp.false()
            if integer:
                ok = exp.In(this=raw, expressions=[exp.Literal.number(0), exp.Literal.number(1)])
                return case((ok, exp.NEQ(this=raw, expression=exp.Literal.number(0)))), exp.And(
                    this=_not_null(raw), expression=exp.Not(this=ok))
            return bad_if_present
        if kind == "date":
            if t == "DATE" or t.startswith("TIMESTAMP"):
                d = exp.cast(raw, "DATE")
                ok = exp.Between(this=d, low=exp.cast(_lit("0001-01-01"), "DATE"),
                                 high=exp.cast(_lit("9999-12-31"), "DATE"))
                return case((ok, d)), exp.And(this=_not_null(raw), expression=exp.Not(this=ok))
            return bad_if_present
        if kind == "string":
            if integer:
                return exp.cast(raw, "VARCHAR"), exp.false()
            return bad_if_present
        if kind == "enum":
            if t.startswith("ENUM"):
                return self.text(spec, exp.cast(raw, "VARCHAR"))
            return bad_if_present
        if t == "VARCHAR[]":
            has_null = fn("LIST_CONTAINS", fn("LIST_TRANSFORM", raw, exp.Lambda(
                this=_is_null(exp.column("x")), expressions=[exp.to_identifier("x")])), exp.true())
            return case((has_null, exp.null()), default=raw), exp.And(this=_not_null(raw), expression=exp.Coalesce(
                this=has_null, expressions=[exp.false()]))
        return bad_if_present


def _json_strings(s):
    """A JSON array of strings as a list; missing when the text is not one (as json.loads would say)."""
    x = exp.to_identifier("x")
    items = fn("JSON_EXTRACT", s, _lit("$[*]"))
    all_strings = exp.Coalesce(this=fn("LIST_BOOL_AND", fn("LIST_TRANSFORM", items, exp.Lambda(
        this=exp.EQ(this=fn("JSON_TYPE", exp.column(x)), expression=_lit("VARCHAR")), expressions=[x]))),
        expressions=[exp.true()])
    is_array = exp.And(this=fn("JSON_VALID", s), expression=exp.EQ(this=fn("JSON_TYPE", s), expression=_lit("ARRAY")))
    return case((is_array, case((all_strings, fn("LIST_TRANSFORM", items, exp.Lambda(
        this=fn("JSON_EXTRACT_STRING", exp.column(x), _lit("$")), expressions=[x]))))))
