"""The plan every backend compiles: typed expressions and steps in evaluation order.

Nodes are frozen dataclasses with a `nullable` flag (whether the value can be missing), so a
backend can skip missing-value checks where they cannot happen. The plan serializes to JSON for
compiled artifacts (see to_json / from_json).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from .types import Type


@dataclass(frozen=True)
class Expr:
    """Any plan expression; every concrete one has a `nullable` flag."""


@dataclass(frozen=True)
class Const(Expr):
    value: Any  # int float bool str date; None for missing
    nullable: bool = False


@dataclass(frozen=True)
class Field(Expr):
    name: str
    nullable: bool


@dataclass(frozen=True)
class Var(Expr):
    """A let's value."""
    name: str
    nullable: bool


@dataclass(frozen=True)
class Seg(Expr):
    """A segment's result: a member id (or missing); for `all` segments the tuple of members."""
    name: str
    nullable: bool


@dataclass(frozen=True)
class Today(Expr):
    nullable: bool = False


@dataclass(frozen=True)
class Arith(Expr):
    """op: add sub mul div (numbers), date_add date_sub (date and days), date_diff (days between)."""
    op: str
    left: Expr
    right: Expr
    nullable: bool


@dataclass(frozen=True)
class Neg(Expr):
    arg: Expr
    nullable: bool


@dataclass(frozen=True)
class ToNumber(Expr):
    """An int widened to number (a float), so every backend stores numbers alike."""
    arg: Expr
    nullable: bool


@dataclass(frozen=True)
class Compare(Expr):
    op: str  # eq ne lt le gt ge
    left: Expr
    right: Expr
    nullable: bool


@dataclass(frozen=True)
class Not(Expr):
    arg: Expr
    nullable: bool


@dataclass(frozen=True)
class And(Expr):
    args: tuple[Expr, ...]
    nullable: bool


@dataclass(frozen=True)
class Or(Expr):
    args: tuple[Expr, ...]
    nullable: bool


@dataclass(frozen=True)
class In(Expr):
    arg: Expr
    items: tuple[Expr, ...]
    nullable: bool


@dataclass(frozen=True)
class IsMissing(Expr):
    arg: Expr
    nullable: bool = False


@dataclass(frozen=True)
class Coalesce(Expr):
    args: tuple[Expr, ...]
    nullable: bool


@dataclass(frozen=True)
class Call(Expr):
    fn: str  # a key of functions.REGISTRY
    args: tuple[Expr, ...]
    nullable: bool


@dataclass(frozen=True)
class Population(Expr):
    """quintile / ntile / percent_rank of `arg` against the population of call site `site`."""
    fn: str
    tiles: int  # 5 for quintile, n for ntile, 0 for percent_rank
    arg: Expr
    site: int
    nullable: bool = True


@dataclass(frozen=True)
class Has(Expr):
    arg: Expr
    member: str
    nullable: bool = False


# ---- steps -------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: Type
    optional: bool
    default: Any
    column: str | None
    label: str | None
    key: bool
    pii: bool


@dataclass(frozen=True)
class LetStep:
    """`early` lets read only fields and other early lets: the first pass of a batch computes them."""
    name: str
    expr: Expr
    early: bool = False


@dataclass(frozen=True)
class Site:
    """A population function call: what it ranks (`arg`, computable in the first pass) and where."""
    site: int
    fn: str
    tiles: int
    arg: Expr
    line: int


@dataclass(frozen=True)
class Rule:
    """One rule: `id` names it in decisions; `cond` None is `otherwise`; `line` is where it is written."""
    id: str
    member: str
    cond: Expr | None
    line: int


@dataclass(frozen=True)
class SegmentStep:
    name: str
    label: str | None
    hit: str
    members: tuple[str, ...]
    labels: tuple[str | None, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: Type
    default: Any
    combine: str
    clamp: tuple[float, float] | None
    label: str | None


@dataclass(frozen=True)
class Assign:
    output: str
    expr: Expr


@dataclass(frozen=True)
class StrategyRule:
    id: str
    strategy: str
    cond: Expr
    assigns: tuple[Assign, ...]
    line: int


@dataclass(frozen=True)
class Plan:
    name: str
    label: str | None
    version: str
    content_hash: str
    fields: tuple[FieldSpec, ...]
    key: str | None
    steps: tuple[LetStep | SegmentStep, ...]
    outputs: tuple[OutputSpec, ...]
    rules: tuple[StrategyRule, ...]
    sites: tuple[Site, ...] = ()

    @property
    def segments(self) -> tuple[SegmentStep, ...]:
        return tuple(s for s in self.steps if isinstance(s, SegmentStep))


# ---- questions about a plan ----------------------------------------------------------------

def names_read(node: Expr) -> set[str]:
    """The fields and lets an expression reads directly (walked without recursion)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (Field, Var)):
            found.add(n.name)
        for f in fields(n):
            value = getattr(n, f.name)
            stack.extend(v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, Expr))
    return found


def personal(plan: Plan) -> set[str]:
    """Fields marked `pii`, and the lets computed from them (directly or through other lets): what
    explain, diff and the other reports mask unless asked."""
    private = {f.name for f in plan.fields if f.pii}
    for step in plan.steps:  # in evaluation order, so a let's inputs are settled before it
        if private and isinstance(step, LetStep) and names_read(step.expr) & private:
            private.add(step.name)
    return private


def personal_outputs(plan: Plan) -> set[str]:
    """Outputs some rule sets from personal data (see `personal`): reports mask their values too."""
    private = personal(plan)
    return {a.output for rule in plan.rules for a in rule.assigns if names_read(a.expr) & private}


# ---- serialization -----------------------------------------------------------------------

_CLASSES = {cls.__name__: cls for cls in (
    Const, Field, Var, Seg, Today, Arith, Neg, ToNumber, Compare, Not, And, Or, In, IsMissing, Coalesce,
    Call, Has, Population, FieldSpec, LetStep, Site, Rule, SegmentStep, OutputSpec, Assign, StrategyRule, Plan)}


def to_json(obj: Any) -> Any:
    """A JSON-ready form of a plan or any node in it."""
    if isinstance(obj, Type):
        return {"$type": obj.to_json()}
    if is_dataclass(obj):
        out = {"$": type(obj).__name__}
        for f in fields(obj):
            out[f.name] = to_json(getattr(obj, f.name))
        return out
    if isinstance(obj, tuple | list):
        return [to_json(x) for x in obj]
    if isinstance(obj, dt.date):
        return {"$date": obj.isoformat()}
    if isinstance(obj, float) and obj != obj:
        raise ValueError("NaN in a plan")
    return obj


def from_json(data: Any) -> Any:
    """Rebuild what to_json wrote."""
    if isinstance(data, list):
        return tuple(from_json(x) for x in data)
    if isinstance(data, dict):
        if "$type" in data:
            return Type.from_json(data["$type"])
        if "$date" in data:
            return dt.date.fromisoformat(data["$date"])
        cls = _CLASSES[data["$"]]
        return cls(**{k: from_json(v) for k, v in data.items() if k != "$"})
    return data
