"""Computed columns and the chain of SELECTs that computes them in dependency order.

The compiler names every intermediate value (a let, a rule's condition, an overflow-checked
sum) as a column. A column is computed in the first SELECT after every column it reads, so a
value used in several places is computed once and no expression is ever copied into itself; a
value used in one place only is computed there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp


@dataclass
class Columns:
    """Named column expressions over a base relation whose columns are at level 0."""

    base: set[str]
    exprs: dict[str, exp.Expression] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    names: dict[exp.Expression, str] = field(default_factory=dict)  # each expression's column
    counter: int = 0

    def add(self, expr: exp.Expression, prefix: str = "t") -> exp.Column:
        """A column holding `expr` (the same column for the same expression: rules of two tables with
        the same test compute it once); returns a reference to it."""
        if expr in self.names:
            return exp.column(self.names[expr])
        self.counter += 1
        name = f"_{prefix}{self.counter}"
        self.names[expr] = name
        reads = {c.name for c in expr.find_all(exp.Column)}
        self.levels[name] = 1 + max((self.levels.get(r, 0) for r in reads if r in self.levels or r in self.base),
                                    default=0)
        self.exprs[name] = expr
        return exp.column(name)

    def simple(self, expr: exp.Expression, prefix: str = "t") -> exp.Expression:
        """`expr` itself when it is a column or a literal (cheap to repeat), else a column holding it."""
        if isinstance(expr, (exp.Column, exp.Literal, exp.Null, exp.Boolean)) or (
                isinstance(expr, exp.Cast) and isinstance(expr.this, exp.Literal)):
            return expr
        return self.add(expr, prefix)

    def chain(self, source: exp.Select, alias: str = "_l", keep: set[str] = frozenset()
              ) -> tuple[list[tuple[str, exp.Select]], str]:
        """CTEs computing every column level by level on top of `source`; returns them and the last name.

        `keep` are the columns read after the chain (by the final SELECT)."""
        self._inline(keep)
        ctes = [(f"{alias}0", source)]
        by_level: dict[int, list[str]] = {}
        for name, level in self.levels.items():
            by_level.setdefault(level, []).append(name)
        previous = f"{alias}0"
        for level in sorted(by_level):
            name = f"{alias}{level}"
            select = exp.select(exp.Star(), *[exp.alias_(self.exprs[c], c) for c in by_level[level]]).from_(previous)
            ctes.append((name, select))
            previous = name
        return ctes, previous

    def _inline(self, keep: set[str]) -> None:
        """A column read exactly once, by another column, is computed inside that one instead: fewer
        SELECT levels for the engine to pass every column through, and inside a CASE branch it is
        computed only for the rows that take the branch. Window functions stay columns of their own."""
        readers: dict[str, list[str]] = {}
        for name, expr in self.exprs.items():
            for c in expr.find_all(exp.Column):
                if c.name in self.exprs:
                    readers.setdefault(c.name, []).append(name)
        for name in list(self.exprs):  # in creation order: a column is made after those it reads
            found = readers.get(name, [])
            if name in keep or len(found) != 1 or self.exprs[name].find(exp.Window):
                continue
            target, expr = found[0], self.exprs.pop(name)
            self.exprs[target] = self.exprs[target].transform(
                lambda n: expr.copy() if isinstance(n, exp.Column) and n.name == name else n)
            for c in expr.find_all(exp.Column):
                if c.name in readers:
                    readers[c.name] = [target if r == name else r for r in readers[c.name]]
            del self.levels[name]
        for name, expr in self.exprs.items():
            reads = {c.name for c in expr.find_all(exp.Column)}
            self.levels[name] = 1 + max((self.levels.get(r, 0) for r in reads if r in self.levels or r in self.base),
                                        default=0)


_OPERATORS = (exp.Binary, exp.Not, exp.Neg, exp.In, exp.Between)
_NOT_OPERATORS = (exp.Dot, exp.PropertyEQ)


def parenthesize(tree: exp.Expression) -> exp.Expression:
    """Brackets around every operator that is an operand of another, so that printing a tree built
    by hand can never regroup it (`NOT (a OR b)` must not print as `NOT a OR b`)."""
    for node in list(tree.walk()):
        if not isinstance(node, _OPERATORS) or isinstance(node, _NOT_OPERATORS):
            continue
        for key in ("this", "expression", "low", "high"):
            child = node.args.get(key)
            if isinstance(child, _OPERATORS) and not isinstance(child, _NOT_OPERATORS):
                node.set(key, exp.Paren(this=child))
        if isinstance(node, exp.In):
            node.set("expressions", [exp.Paren(this=c) if isinstance(c, _OPERATORS) else c
                                     for c in node.expressions])
    return tree
