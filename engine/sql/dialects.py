"""What differs between SQL engines, as sqlglot syntax trees: one class per target dialect.

The compiler asks a dialect for each construct whose spelling or meaning differs (dates, string
tests, regular expressions, arrays, overflow-safe arithmetic); everything else is plain sqlglot
and is printed by sqlglot for the dialect. Nothing here ever formats SQL text.
"""
from __future__ import annotations

import datetime as dt

from sqlglot import exp

INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1
DOUBLE_MAX = 1.7976931348623157e308


def num(value: int | float) -> exp.Expression:
    """A numeric literal; floats are typed DOUBLE (a bare `0.1` is a DECIMAL in several engines)."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, float):
        return exp.cast(exp.Literal.string(repr(value)), "DOUBLE")
    literal = exp.Literal.number(abs(value))
    return exp.Neg(this=literal) if value < 0 else literal


def fn(name: str, *args: exp.Expression) -> exp.Expression:
    """A call of a function sqlglot does not model; the name is ours, never the policy's."""
    return exp.Anonymous(this=name, expressions=list(args))


def case(*whens: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None) -> exp.Expression:
    node = exp.Case()
    for cond, value in whens:
        node = node.when(cond, value)
    return node.else_(default) if default is not None else node


class Dialect:
    """The defaults, written for DuckDB; other engines override what they spell differently."""

    name = "duckdb"
    wide_int = "HUGEINT"  # holds any sum or product of two 64-bit ints

    def date(self, value: dt.date) -> exp.Expression:
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")

    def row_number(self) -> exp.Expression:
        """Each row's 0-based position in scan order."""
        return exp.Sub(this=exp.Window(this=exp.RowNumber()), expression=exp.Literal.number(1))

    def date_diff(self, a, b) -> exp.Expression:
        """Days from b to a, an int."""
        return exp.Sub(this=a, expression=b)

    def date_add(self, d, days) -> exp.Expression:
        """d plus a number of days already known to stay in the calendar."""
        return exp.Add(this=d, expression=days)

    def date_part(self, part: str, d) -> exp.Expression:
        return exp.Extract(this=exp.var(part), expression=d)

    def regex(self, s, pattern: str) -> exp.Expression:
        """The RE2 pattern found somewhere in s."""
        return exp.RegexpLike(this=s, expression=exp.Literal.string(pattern))

    def starts_with(self, s, p):
        return exp.StartsWith(this=s, expression=p)

    def ends_with(self, s, p):
        return fn("ENDS_WITH", s, p)

    def str_contains(self, s, p):
        return fn("CONTAINS", s, p)

    def list_contains(self, items, x):
        return fn("LIST_CONTAINS", items, x)

    def list_len(self, items):
        return fn("LEN", items)

    def str_len(self, s):
        return exp.Length(this=s)

    def string_compare(self, node: exp.Expression) -> exp.Expression:
        """Strings compare by code point; engines with collations need telling."""
        return node

    def array(self, items: list[exp.Expression], element_type: str = "VARCHAR") -> exp.Expression:
        if not items:
            return exp.cast(exp.Array(expressions=[]), f"{element_type}[]")
        return exp.Array(expressions=items)

    def compact(self, items: list[exp.Expression], element_type: str = "VARCHAR") -> exp.Expression:
        """The present items, in order, as an array (empty when none)."""
        if not items:
            return self.array([], element_type)
        x = exp.to_identifier("x")
        return fn("LIST_FILTER", self.array(items, element_type),
                  exp.Lambda(this=exp.Not(this=exp.Is(this=exp.column(x), expression=exp.null())), expressions=[x]))

    def element(self, items, index0: int) -> exp.Expression:
        """The item at a 0-based position (missing beyond the end); sqlglot shifts it to the dialect's base."""
        return exp.Bracket(this=items, expressions=[exp.Literal.number(index0)])

    def join(self, items, sep: str) -> exp.Expression:
        return fn("ARRAY_TO_STRING", items, exp.Literal.string(sep))

    def finite(self, x) -> exp.Expression:
        """Whether a double is neither infinite nor NaN (x is a column reference)."""
        return fn("ISFINITE", x)

    def wide(self, x) -> exp.Expression:
        return exp.cast(x, self.wide_int)

    def array_type(self, element: str) -> str:
        return f"{element}[]"

    def least_present(self, args: list[exp.Expression]) -> exp.Expression:
        """The smallest of the present args (missing only when all are)."""
        return fn("LEAST", *args) if len(args) > 1 else args[0]

    def greatest_present(self, args: list[exp.Expression]) -> exp.Expression:
        return fn("GREATEST", *args) if len(args) > 1 else args[0]

    def struct(self, pairs: list[tuple[str, exp.Expression]]) -> exp.Expression:
        return exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(k, quoted=True), expression=v)
                                       for k, v in pairs])


class Postgres(Dialect):
    name = "postgres"
    wide_int = "NUMERIC"

    def ends_with(self, s, p):
        return exp.EQ(this=fn("RIGHT", s, exp.Length(this=p)), expression=p)

    def str_contains(self, s, p):
        return exp.GT(this=fn("STRPOS", s, p), expression=exp.Literal.number(0))

    def regex(self, s, pattern):
        return exp.RegexpLike(this=s, expression=exp.Literal.string(pattern))

    def list_contains(self, items, x):
        return exp.EQ(this=x, expression=exp.Any(this=items))

    def list_len(self, items):
        return fn("CARDINALITY", items)

    def string_compare(self, node):
        for side in ("this", "expression"):
            node.set(side, exp.Collate(this=node.args[side], expression=exp.to_identifier("C", quoted=True)))
        return node

    def compact(self, items, element_type="VARCHAR"):
        if not items:
            return self.array([], element_type)
        return fn("ARRAY_REMOVE", self.array(items, element_type), exp.null())

    def array(self, items, element_type="VARCHAR"):
        if not items:
            return exp.cast(exp.Array(expressions=[]), f"{element_type}[]")
        return exp.cast(exp.Array(expressions=items), f"{element_type}[]")

    def finite(self, x):
        # overflow raises in PostgreSQL before a value exists; see `guarded` in the compiler
        return exp.EQ(this=exp.Sub(this=x, expression=x), expression=exp.Literal.number(0))

    def struct(self, pairs):
        return fn("JSON_BUILD_OBJECT", *[e for k, v in pairs for e in (exp.Literal.string(k), v)])


class Spark(Dialect):
    name = "spark"
    wide_int = "DECIMAL(38, 0)"

    def row_number(self):
        # Spark numbers rows only in an ordered window; engine.spark passes positions instead
        return exp.Sub(this=exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[exp.Ordered(
            this=fn("MONOTONICALLY_INCREASING_ID"))])), expression=exp.Literal.number(1))

    def date_diff(self, a, b):
        return fn("DATEDIFF", a, b)

    def date_add(self, d, days):
        return fn("DATE_ADD", d, exp.cast(days, "INT"))

    def starts_with(self, s, p):
        return fn("STARTSWITH", s, p)

    def ends_with(self, s, p):
        return fn("ENDSWITH", s, p)

    def list_contains(self, items, x):
        return fn("ARRAY_CONTAINS", items, x)

    def list_len(self, items):
        return fn("SIZE", items)

    def array(self, items, element_type="VARCHAR"):
        if not items:
            return exp.cast(fn("ARRAY"), f"ARRAY<{'STRING' if element_type == 'VARCHAR' else element_type}>")
        return fn("ARRAY", *items)

    def compact(self, items, element_type="VARCHAR"):
        if not items:
            return self.array([], element_type)
        return fn("FILTER", self.array(items, element_type),
                  exp.Lambda(this=exp.Not(this=exp.Is(this=exp.column("x"), expression=exp.null())),
                             expressions=[exp.to_identifier("x")]))

    def element(self, items, index0):
        return fn("TRY_ELEMENT_AT", items, exp.Literal.number(index0 + 1))

    def join(self, items, sep):
        return fn("ARRAY_JOIN", items, exp.Literal.string(sep))

    def finite(self, x):
        return exp.EQ(this=exp.Sub(this=x, expression=x), expression=exp.Literal.number(0))

    def array_type(self, element):
        return f"ARRAY<{'STRING' if element == 'VARCHAR' else element}>"

    def struct(self, pairs):
        return fn("NAMED_STRUCT", *[e for k, v in pairs for e in (exp.Literal.string(k), v)])


class Snowflake(Dialect):
    name = "snowflake"
    wide_int = "NUMBER(38, 0)"

    def date_diff(self, a, b):
        return fn("DATEDIFF", exp.var("DAY"), b, a)

    def date_add(self, d, days):
        return fn("DATEADD", exp.var("DAY"), days, d)

    def regex(self, s, pattern):  # REGEXP_LIKE must match the whole string; REGEXP_INSTR finds
        return exp.GT(this=fn("REGEXP_INSTR", s, exp.Literal.string(pattern)), expression=exp.Literal.number(0))

    def starts_with(self, s, p):
        return fn("STARTSWITH", s, p)

    def ends_with(self, s, p):
        return fn("ENDSWITH", s, p)

    def list_contains(self, items, x):
        return fn("ARRAY_CONTAINS", exp.cast(x, "VARIANT"), items)

    def list_len(self, items):
        return fn("ARRAY_SIZE", items)

    def array(self, items, element_type="VARCHAR"):
        return fn("ARRAY_CONSTRUCT", *items)

    def compact(self, items, element_type="VARCHAR"):
        return fn("ARRAY_COMPACT", self.array(items, element_type))

    def element(self, items, index0):
        return exp.cast(fn("GET", items, exp.Literal.number(index0)), "VARCHAR")

    def finite(self, x):
        return exp.EQ(this=exp.Sub(this=x, expression=x), expression=exp.Literal.number(0))

    def array_type(self, element):
        return "ARRAY"

    def least_present(self, args):
        return super().least_present([exp.Coalesce(this=a, expressions=[b for b in args if b is not a])
                                      for a in args])

    def greatest_present(self, args):
        return super().greatest_present([exp.Coalesce(this=a, expressions=[b for b in args if b is not a])
                                         for a in args])

    def struct(self, pairs):
        return fn("OBJECT_CONSTRUCT_KEEP_NULL", *[e for k, v in pairs for e in (exp.Literal.string(k), v)])


class BigQuery(Snowflake):
    name = "bigquery"
    wide_int = "BIGNUMERIC"

    def date_diff(self, a, b):
        return fn("DATE_DIFF", a, b, exp.var("DAY"))

    def date_add(self, d, days):
        return fn("DATE_ADD", d, exp.Interval(this=days, unit=exp.var("DAY")))

    def regex(self, s, pattern):
        return fn("REGEXP_CONTAINS", s, exp.Literal.string(pattern))

    def starts_with(self, s, p):
        return fn("STARTS_WITH", s, p)

    def ends_with(self, s, p):
        return fn("ENDS_WITH", s, p)

    def str_contains(self, s, p):
        return exp.GT(this=fn("STRPOS", s, p), expression=exp.Literal.number(0))

    def list_contains(self, items, x):
        return exp.In(this=x, unnest=exp.Unnest(expressions=[items]))

    def list_len(self, items):
        return fn("ARRAY_LENGTH", items)

    def array(self, items, element_type="VARCHAR"):
        if not items:
            return exp.cast(exp.Array(expressions=[]), f"ARRAY<{'STRING' if element_type == 'VARCHAR' else element_type}>")
        return exp.Array(expressions=items)

    def compact(self, items, element_type="VARCHAR"):
        if not items:
            return self.array([], element_type)
        x = exp.to_identifier("x")
        unnest = exp.Unnest(expressions=[self.array(items, element_type)], alias=exp.TableAlias(this=x))
        select = exp.select(exp.column(x)).from_(unnest).where(exp.Not(this=exp.Is(this=exp.column(x), expression=exp.null())))
        return exp.Array(expressions=[select])

    def element(self, items, index0):
        return exp.Bracket(this=items, expressions=[fn("SAFE_OFFSET", exp.Literal.number(index0))])

    def finite(self, x):
        return exp.EQ(this=exp.Sub(this=x, expression=x), expression=exp.Literal.number(0))

    def array_type(self, element):
        return f"ARRAY<{'STRING' if element == 'VARCHAR' else element}>"

    def struct(self, pairs):
        return exp.Struct(expressions=[exp.alias_(v, k, quoted=True) for k, v in pairs])


DIALECTS: dict[str, type[Dialect]] = {d.name: d for d in (Dialect, Postgres, Spark, Snowflake, BigQuery)}
