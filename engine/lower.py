"""CheckedPolicy -> ir.Plan: resolve names, desugar tables, `between`, `not in`, `??`, widen ints."""
from __future__ import annotations

import hashlib
from collections import Counter

from . import ast, ir
from .checker import CheckedPolicy, type_from_ref
from .functions import REGISTRY
from .source import Source, Span
from .types import Type

_CMP = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


def content_hash(text: str) -> str:
    """The policy's content hash as recorded in decisions: sha256 of the source text, 16 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def lower(checked: CheckedPolicy, source: Source, origins: dict[int, Span] | None = None) -> ir.Plan:
    """Build the evaluation plan of a policy that checked without errors.

    Pass `origins={}` to get, by id() of plan node, the source span each condition, operand and
    table cell came from (explain shows conditions with their parts' values this way).
    """
    return _Lowerer(checked, source, origins).plan()


def _nullable(*nodes: ir.Expr) -> bool:
    return any(n.nullable for n in nodes)


def _and(args: list[ir.Expr]) -> ir.Expr:
    flat: list[ir.Expr] = []
    for a in args:
        flat.extend(a.args if isinstance(a, ir.And) else (a,))
    if not flat:
        return ir.Const(True)
    return flat[0] if len(flat) == 1 else ir.And(tuple(flat), _nullable(*flat))


def _or(args: list[ir.Expr]) -> ir.Expr:
    flat: list[ir.Expr] = []
    for a in args:
        flat.extend(a.args if isinstance(a, ir.Or) else (a,))
    return flat[0] if len(flat) == 1 else ir.Or(tuple(flat), _nullable(*flat))


def widen(e: ir.Expr, from_t: Type | None, to_t: Type) -> ir.Expr:
    """Wrap an int-typed expression so it yields a number (float) where a number is declared."""
    if from_t is not None and from_t.kind == "int" and to_t.kind == "number":
        if isinstance(e, ir.Const) and e.value is not None:
            return ir.Const(float(e.value))
        return ir.ToNumber(e, e.nullable)
    return e


class _Lowerer:
    def __init__(self, checked: CheckedPolicy, source: Source, origins: dict[int, Span] | None):
        self.c = checked
        self.src = source
        self.origins = origins
        self.extra_lets: list[ir.LetStep] = []
        self.sites: list[ir.Site] = []

    def line(self, node: ast.Node) -> int:
        return self.src.line_col(node.span.start)[0]

    def plan(self) -> ir.Plan:
        c, p = self.c, self.c.policy
        fields = []
        for fld in c.fields.values():
            t = c.field_types[fld.name.name]
            default = self.constant(fld.default, t) if fld.default is not None else None
            fields.append(ir.FieldSpec(fld.name.name, t, fld.optional, default, fld.column, fld.label, fld.key, fld.pii))
        steps: list = []
        for kind, name in c.order:
            if kind == "let":
                early = name not in c.population_lets and name not in c.segment_lets
                steps.append(ir.LetStep(name, self.expr(c.lets[name].expr), early))
            else:
                seg = self.segment(name)
                steps.extend(self.extra_lets)
                self.extra_lets = []
                steps.append(seg)
        outputs = tuple(self.output(o) for o in p.outputs)
        rules = []
        for strat in p.strategies:
            rules.extend(self.strategy(strat))
        steps.extend(self.extra_lets)  # header lets of strategy tables come after every segment
        key = next((f.name for f in fields if f.key), None)
        return ir.Plan(p.name.name, p.label, p.version or "", content_hash(self.src.text), tuple(fields), key,
                       tuple(steps), outputs, tuple(rules), tuple(self.sites))

    def constant(self, node: ast.Expr, t: Type):
        if isinstance(node, ast.Unary):
            return -self.constant(node.operand, t)
        if isinstance(node, ast.Name):
            return node.name
        value = getattr(node, "value", None)
        if isinstance(node, ast.Duration):
            value = node.days
        return float(value) if t.kind == "number" and isinstance(value, int) else value

    # ---- segments and strategies
    def segment(self, name: str) -> ir.SegmentStep:
        info = self.c.segments[name]
        seg = info.node
        ids = _RuleIds(name)
        rules = [ir.Rule(ids.next(r.member.name), r.member.name, None if r.cond is None else self.expr(r.cond),
                         self.line(r)) for r in seg.rules]
        if seg.table is not None:
            headers = self.headers(name, seg.table)
            for row in seg.table.rows:
                rules.append(ir.Rule(ids.next(row.member.name), row.member.name, self.row(row, headers), self.line(row)))
        return ir.SegmentStep(name, seg.label, info.hit, info.members, tuple(info.labels[m] for m in info.members),
                              tuple(rules))

    def strategy(self, strat: ast.Strategy) -> list[ir.StrategyRule]:
        name = strat.name.name
        out: list[ir.StrategyRule] = []
        for i, rule in enumerate(strat.rules, 1):
            out.append(ir.StrategyRule(f"{name}.{i}", name, self.expr(rule.cond), self.assigns(rule.assigns), self.line(rule)))
        if strat.by is not None:
            ids = _RuleIds(name)
            seg = self.c.segments[strat.by.name]
            for row in strat.by_rows:
                cond = ir.Compare("eq", ir.Seg(seg.name, seg.nullable), ir.Const(row.member.name), seg.nullable)
                out.append(ir.StrategyRule(ids.next(row.member.name), name, cond, self.assigns(row.assigns), self.line(row)))
        if strat.table is not None:
            headers = self.headers(name, strat.table)
            for i, row in enumerate(strat.table.rows, 1):
                assigns = tuple(self.assign(t.name, v) for t, v in zip(strat.table.targets, row.results))
                out.append(ir.StrategyRule(f"{name}.{i}", name, self.row(row, headers), assigns, self.line(row)))
        return out

    def assigns(self, assigns) -> tuple[ir.Assign, ...]:
        return tuple(self.assign(a.target.name, a.value) for a in assigns)

    def assign(self, output: str, value: ast.Expr) -> ir.Assign:
        t = self.c.output_types[output]
        return ir.Assign(output, widen(self.expr(value), self.c.types.get(value.id), t))

    def output(self, out: ast.Output) -> ir.OutputSpec:
        t = type_from_ref(out.type)
        if out.combine == "count":
            default = self.constant(out.default, t) if out.default is not None else 0
        elif out.combine == "list":
            default = ()
        else:
            default = self.constant(out.default, t) if out.default is not None else None
        clamp = None
        if out.clamp is not None:
            clamp = tuple(self.constant(b, t) for b in out.clamp)  # ints for an int output
        return ir.OutputSpec(out.name.name, t, default, out.combine, clamp, out.label)

    # ---- tables
    def headers(self, owner: str, table: ast.Table) -> list[tuple[ir.Expr, Type]]:
        """Header expressions; a computed one becomes a hidden let so each record computes it once."""
        out = []
        for i, h in enumerate(table.headers, 1):
            e = self.expr(h)
            if not isinstance(e, (ir.Field, ir.Var, ir.Seg, ir.Const)):
                hidden = f"{owner}#col{i}"
                self.extra_lets.append(ir.LetStep(hidden, e))
                e = self.origin(ir.Var(hidden, e.nullable), h.span)
            out.append((e, self.c.types[h.id]))
        return out

    def row(self, row: ast.Row, headers) -> ir.Expr:
        parts = []
        for cell, (h, _) in zip(row.cells, headers):
            if not cell.tests:
                continue
            test = _or([self.test(t, h) for t in cell.tests])
            parts.append(ir.Not(test, test.nullable) if cell.negated else test)
        return _and(parts)

    def test(self, t: ast.Test, h: ir.Expr) -> ir.Expr:
        if t.op == "range":
            lo, hi = self.expr(t.value), self.expr(t.high)
            return self.origin(_and([ir.Compare("ge" if t.low_closed else "gt", h, lo, _nullable(h, lo)),
                                     ir.Compare("le" if t.high_closed else "lt", h, hi, _nullable(h, hi))]), t.span)
        v = self.expr(t.value)
        return self.origin(ir.Compare(_CMP[t.op], h, v, _nullable(h, v)), t.span)

    # ---- expressions
    def expr(self, n: ast.Expr) -> ir.Expr:
        e = getattr(self, "x_" + type(n).__name__)(n)
        if not (isinstance(n, ast.Binary) and n.op in ("and", "or")):  # explain shows the parts of and/or
            self.origin(e, n.span)
        return e

    def origin(self, e: ir.Expr, span: Span) -> ir.Expr:
        if self.origins is not None:
            self.origins.setdefault(id(e), span)
        return e

    def nullable(self, n: ast.Expr) -> bool:
        return self.c.nullable.get(n.id, False)

    def x_Number(self, n):
        return ir.Const(n.value)

    def x_String(self, n):
        return ir.Const(n.value)

    def x_DateLit(self, n):
        return ir.Const(n.value)

    def x_Duration(self, n):
        return ir.Const(n.days)

    def x_Bool(self, n):
        return ir.Const(n.value)

    def x_Today(self, n):
        return ir.Today()

    def x_Name(self, n):
        kind, name = self.c.resolved[n.id]
        nullable = self.nullable(n)
        if kind == "member":
            return ir.Const(name)
        return {"field": ir.Field, "let": ir.Var, "segment": ir.Seg}[kind](name, nullable)

    def x_Unary(self, n):
        arg = self.expr(n.operand)
        return ir.Not(arg, arg.nullable) if n.op == "not" else ir.Neg(arg, self.nullable(n))

    def x_Binary(self, n):
        op = n.op
        if op == "and":
            return _and([self.expr(n.left), self.expr(n.right)])
        if op == "or":
            return _or([self.expr(n.left), self.expr(n.right)])
        if op == "??":
            t = self.c.types[n.id]
            args = []
            for side in (n.left, n.right):
                e = widen(self.expr(side), self.c.types.get(side.id), t)
                args.extend(e.args if isinstance(e, ir.Coalesce) else (e,))
            return ir.Coalesce(tuple(args), self.nullable(n))
        left, right = self.expr(n.left), self.expr(n.right)
        if op in _CMP:
            return ir.Compare(_CMP[op], left, right, self.nullable(n))
        if op in _ARITH:
            lt, rt = self.c.types[n.left.id], self.c.types[n.right.id]
            kind = _ARITH[op]
            if lt.kind == "date" and rt.kind == "date":
                kind = "date_diff"
            elif lt.kind == "date":
                kind = "date_add" if op == "+" else "date_sub"
            elif rt.kind == "date":
                kind, left, right = "date_add", right, left
            return ir.Arith(kind, left, right, self.nullable(n))
        return ir.Call(op, (left, right), self.nullable(n))

    def x_InList(self, n):
        e = ir.In(self.expr(n.operand), tuple(self.expr(i) for i in n.items), self.nullable(n))
        return ir.Not(e, e.nullable) if n.negated else e

    def x_Between(self, n):
        x, lo, hi = self.expr(n.operand), self.expr(n.low), self.expr(n.high)
        e = _and([ir.Compare("ge", x, lo, _nullable(x, lo)), ir.Compare("le", x, hi, _nullable(x, hi))])
        return ir.Not(e, e.nullable) if n.negated else e

    def x_IsMissing(self, n):
        e = ir.IsMissing(self.expr(n.operand))
        return ir.Not(e, False) if n.negated else e

    def x_Has(self, n):
        return ir.Has(self.expr(n.operand), n.member.name)

    def x_Call(self, n):
        t = self.c.types[n.id]
        args = [self.expr(a) for a in n.args]
        if REGISTRY[n.func.name].population:
            tiles = n.args[0].value if n.func.name == "ntile" else 5 if n.func.name == "quintile" else 0
            site = ir.Site(len(self.sites), n.func.name, tiles, args[-1], self.line(n))
            self.sites.append(site)
            return ir.Population(site.fn, tiles, site.arg, site.site)
        if n.func.name in ("min", "max", "coalesce"):
            args = [widen(e, self.c.types.get(a.id), t) for e, a in zip(args, n.args)]
        if n.func.name == "coalesce":
            return ir.Coalesce(tuple(args), self.nullable(n))
        return ir.Call(n.func.name, tuple(args), self.nullable(n))


class _RuleIds:
    """Rule ids `owner.member`, with `#2`, `#3` … when a member has several rules."""

    def __init__(self, owner: str):
        self.owner = owner
        self.seen: Counter = Counter()

    def next(self, member: str) -> str:
        self.seen[member] += 1
        n = self.seen[member]
        return f"{self.owner}.{member}" + (f"#{n}" if n > 1 else "")
