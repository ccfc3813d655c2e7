"""The policy's syntax tree: frozen dataclasses, no behaviour; `id` and `span` are left out of equality.

Types, resolutions and traces live in side tables keyed by `id` (see checker.py).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, fields

from .source import NO_SPAN, Span


@dataclass(frozen=True, kw_only=True)
class Node:
    id: int = field(default=0, compare=False)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class Ident(Node):
    name: str


# ---- expressions -------------------------------------------------------------------------

@dataclass(frozen=True)
class Expr(Node):
    """Any expression."""


@dataclass(frozen=True)
class Number(Expr):
    value: int | float
    text: str


@dataclass(frozen=True)
class String(Expr):
    value: str


@dataclass(frozen=True)
class DateLit(Expr):
    value: _dt.date


@dataclass(frozen=True)
class Duration(Expr):
    days: int
    text: str


@dataclass(frozen=True)
class Bool(Expr):
    value: bool


@dataclass(frozen=True)
class Today(Expr):
    """The as-of date."""


@dataclass(frozen=True)
class Name(Expr):
    name: str


@dataclass(frozen=True)
class Call(Expr):
    func: Ident
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "-" | "not"
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # + - * / and or ?? = != < <= > >= starts_with ends_with contains matches
    left: Expr
    right: Expr


@dataclass(frozen=True)
class InList(Expr):
    operand: Expr
    items: tuple[Expr, ...]
    negated: bool


@dataclass(frozen=True)
class Between(Expr):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool


@dataclass(frozen=True)
class IsMissing(Expr):
    operand: Expr
    negated: bool  # True for `is present` / `is not missing`


@dataclass(frozen=True)
class Has(Expr):
    operand: Expr
    member: Name


# ---- declarations ------------------------------------------------------------------------

@dataclass(frozen=True)
class TypeRef(Node):
    name: str  # int number bool string date enum list
    members: tuple[Ident, ...] = ()  # enum members
    elem: "TypeRef | None" = None  # list element type


@dataclass(frozen=True)
class Field(Node):
    name: Ident
    type: TypeRef
    optional: bool
    default: Expr | None
    key: bool
    pii: bool
    label: str | None
    column: str | None


@dataclass(frozen=True)
class Input(Node):
    name: Ident
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Let(Node):
    name: Ident
    expr: Expr


@dataclass(frozen=True)
class SegRule(Node):
    member: Ident
    label: str | None
    cond: Expr | None  # None: `otherwise`


@dataclass(frozen=True)
class Test(Node):
    """One unary test of a table cell: `op` is = != < <= > >= or `range`."""

    op: str
    value: Expr
    high: Expr | None = None
    low_closed: bool = True
    high_closed: bool = True


@dataclass(frozen=True)
class Cell(Node):
    """A table cell: `-` (any), or any of `tests`, negated by a leading `not`."""

    tests: tuple[Test, ...]  # empty: `-`
    negated: bool = False


@dataclass(frozen=True)
class Row(Node):
    cells: tuple[Cell, ...]
    member: Ident | None = None  # segment tables
    label: str | None = None
    results: tuple[Expr | None, ...] = ()  # strategy tables; None is `-` (sets nothing)


@dataclass(frozen=True)
class Table(Node):
    headers: tuple[Expr, ...]
    rows: tuple[Row, ...]
    members: tuple[tuple[Ident, str | None], ...] | None = None
    targets: tuple[Ident, ...] = ()  # strategy tables: the outputs after `->`


@dataclass(frozen=True)
class Segment(Node):
    name: Ident
    label: str | None
    hit: str  # first unique any priority all
    rules: tuple[SegRule, ...]
    table: Table | None


@dataclass(frozen=True)
class Output(Node):
    name: Ident
    type: TypeRef
    optional: bool
    default: Expr | None
    combine: str
    clamp: tuple[Expr, Expr] | None
    label: str | None


@dataclass(frozen=True)
class Assign(Node):
    target: Ident
    value: Expr


@dataclass(frozen=True)
class WhenRule(Node):
    cond: Expr
    assigns: tuple[Assign, ...]


@dataclass(frozen=True)
class ByRow(Node):
    member: Ident
    assigns: tuple[Assign, ...]


@dataclass(frozen=True)
class Strategy(Node):
    name: Ident
    rules: tuple[WhenRule, ...] = ()
    by: Ident | None = None
    by_rows: tuple[ByRow, ...] = ()
    table: Table | None = None


@dataclass(frozen=True)
class Policy(Node):
    name: Ident
    label: str | None
    version: str | None
    inputs: tuple[Input, ...]
    lets: tuple[Let, ...]
    segments: tuple[Segment, ...]
    outputs: tuple[Output, ...]
    strategies: tuple[Strategy, ...]


def walk(node: Node):
    """Yield node and every node below it, depth first, in field order."""
    yield node
    for f in fields(node):
        value = getattr(node, f.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, tuple):
                for sub in item:
                    if isinstance(sub, Node):
                        yield from walk(sub)
            elif isinstance(item, Node):
                yield from walk(item)
