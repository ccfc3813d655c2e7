"""A plan as one SQL query: a syntax tree giving one row per input record.

Same meaning as the per-record backends (engine/backends/interp.py is the reference): SQL NULL
is a missing value, rules fire only when true, `unique` / `any` conflicts make the segment
missing and add an error, outputs combine in file order. Results that leave the 64-bit int
range or the finite doubles are missing, as in the other backends. Policy names and strings
only ever become identifiers and literals of the tree.
"""
from __future__ import annotations

import datetime as dt

from sqlglot import exp

from .. import ir
from ..functions import REGISTRY
from .columns import Columns
from .dialects import DOUBLE_MAX, INT_MAX, INT_MIN, Dialect, case, fn, num

_CMP = {"eq": exp.EQ, "ne": exp.NEQ, "lt": exp.LT, "le": exp.LTE, "gt": exp.GT, "ge": exp.GTE}
_SQL_TYPES = {"int": "BIGINT", "number": "DOUBLE", "bool": "BOOLEAN", "string": "VARCHAR", "date": "DATE",
              "enum": "VARCHAR", "segment": "VARCHAR"}
_ROUND_EXACT = 4503599627370496.0  # 2**52: doubles this large are whole already
_MIN_DATE, _MAX_DATE = dt.date(1, 1, 1), dt.date(9999, 12, 31)


def sql_type(kind: str, dialect: Dialect) -> str:
    if kind == "list":
        return dialect.array_type("VARCHAR")
    return _SQL_TYPES[kind]


def paren(e: exp.Expression) -> exp.Expression:
    return e if isinstance(e, (exp.Column, exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Func, exp.Cast,
                               exp.Case)) else exp.Paren(this=e)


class Compiler:
    """Builds the columns of one plan over a base relation of validated fields.

    `fields` maps each field name to the column holding its typed value; `populations` are
    frozen cut points (from a stats file), else population functions rank over the rows whose
    `ok` column is true.
    """

    def __init__(self, plan: ir.Plan, dialect: Dialect, as_of: dt.date, cols: Columns,
                 fields: dict[str, exp.Column], ok: exp.Column, populations=None):
        self.plan, self.d, self.as_of, self.cols = plan, dialect, as_of, cols
        self.fields = fields
        self.ok = ok
        self.populations = populations
        self.kinds = {f.name: f.type.kind for f in plan.fields}
        self.lets: dict[str, exp.Expression] = {}
        self.let_kinds: dict[str, str] = {}
        self.segs: dict[str, exp.Expression] = {}
        self.seg_steps = {s.name: s for s in plan.segments}
        self.fired: list[exp.Expression] = []  # rule ids, or NULL, in the order decisions list them
        self.errors: list[exp.Expression] = []
        self.sites: dict[int, exp.Expression] = {}

    # ---- the whole plan
    def compile(self) -> dict[str, exp.Expression]:
        """The output columns: segments, outputs, rules_fired, errors (by the names decisions use)."""
        for step in self.plan.steps:
            if isinstance(step, ir.LetStep):
                self.lets[step.name] = self.cols.simple(self.x(step.expr), "l")
                self.let_kinds[step.name] = self.kind(step.expr)
            else:
                self.segs[step.name] = self.segment(step)
        holds = [self.cols.add(self.held(rule.cond), "g") for rule in self.plan.rules]
        for rule, h in zip(self.plan.rules, holds):
            self.fired.append(case((h, exp.Literal.string(rule.id))))
        out: dict[str, exp.Expression] = dict(self.segs)
        for spec in self.plan.outputs:
            terms = [(h, a.expr) for rule, h in zip(self.plan.rules, holds) for a in rule.assigns if a.output == spec.name]
            out[spec.name] = self.output(spec, terms)
        out["rules_fired"] = self.d.compact(self.fired)
        out["errors"] = self.d.compact(self.errors)
        return out

    def held(self, cond: ir.Expr) -> exp.Expression:
        """A rule's condition as a two-valued flag: true only when the condition is true.

        A condition that cannot be missing is true or false already on every valid row (a
        rejected row's results are discarded), so it needs no COALESCE, which costs DuckDB
        about a tenth of the query on customer_value."""
        value = self.x(cond)
        return exp.Coalesce(this=value, expressions=[exp.false()]) if cond.nullable else value

    # ---- segments
    def segment(self, step: ir.SegmentStep) -> exp.Expression:
        rules = [r for r in step.rules if r.cond is not None]
        other = step.rules[-1] if step.rules and step.rules[-1].cond is None else None
        holds = [self.cols.add(self.held(r.cond), "h") for r in rules]
        lit = exp.Literal.string
        none_held = exp.Not(this=paren(_or(holds))) if holds else exp.true()
        other_member = lit(other.member) if other else None
        if step.hit in ("first", "priority"):
            if step.hit == "first":
                order = list(range(len(rules)))
            else:
                rank = {m: i for i, m in enumerate(step.members)}
                order = sorted(range(len(rules)), key=lambda i: (rank[rules[i].member], i))
            value = case(*[(holds[i], lit(rules[i].member)) for i in order], default=other_member)
            fired = case(*[(holds[i], lit(rules[i].id)) for i in order],
                         default=lit(other.id) if other else None)
            self.fired.append(self.cols.add(fired, "r"))
            return self.cols.add(value, "s")
        self.fired.extend(case((h, lit(r.id))) for r, h in zip(rules, holds))
        if other:
            self.fired.append(case((none_held, lit(other.id))))
        if step.hit == "all":
            by_member = [(m, [h for r, h in zip(rules, holds) if r.member == m]) for m in step.members]
            present = [case((_or(hs), lit(m))) for m, hs in by_member if hs]
            value = self.d.compact(present)
            if other:
                value = case((none_held, self.d.array([lit(other.member)])), default=value)
            return self.cols.add(value, "s")
        count = self.cols.add(_sum([case((h, exp.Literal.number(1)), default=exp.Literal.number(0)) for h in holds])
                              if holds else exp.Literal.number(0), "n")
        first_member = case(*[(h, lit(r.member)) for r, h in zip(rules, holds)])
        if step.hit == "unique":
            single = exp.EQ(this=count, expression=exp.Literal.number(1))
            described = self.cols.add(self.d.compact(
                [case((h, lit(f"{r.id} (line {r.line})"))) for r, h in zip(rules, holds)]), "d")
            message = _concat(lit(f"segment `{step.name}` is unique, but rules "), self.d.element(described, 0),
                              lit(" and "), self.d.element(described, 1),
                              lit(f" both hold; `{step.name}` is missing for this record"))
            self.errors.append(case((exp.GT(this=count, expression=exp.Literal.number(1)), message)))
            return self.cols.add(case((exp.EQ(this=count, expression=exp.Literal.number(0)), other_member or exp.null()),
                                      (single, first_member)), "s")
        # any: every rule that holds must give the same member
        first = self.cols.add(first_member, "m")
        firsts = self.cols.add(case(*[(h, lit(f"{r.id} (line {r.line})")) for r, h in zip(rules, holds)]), "d")
        others = [case((exp.And(this=h, expression=exp.NEQ(this=first, expression=lit(r.member))),
                        lit(f"{r.id} (line {r.line})"))) for r, h in zip(rules, holds)]
        differing = self.cols.add(exp.Coalesce(this=others[0], expressions=others[1:]) if len(others) > 1
                                  else (others[0] if others else exp.null()), "d")
        conflict = exp.Not(this=exp.Is(this=differing, expression=exp.null()))
        message = _concat(lit(f"segment `{step.name}` is `any`, but rules "), firsts, lit(" and "), differing,
                          lit(f" give different members; `{step.name}` is missing for this record"))
        self.errors.append(case((conflict, message)))
        return self.cols.add(case((exp.EQ(this=count, expression=exp.Literal.number(0)), other_member or exp.null()),
                                  (conflict, exp.null()), default=first), "s")

    # ---- outputs
    def output(self, spec: ir.OutputSpec, terms: list[tuple[exp.Expression, ir.Expr]]) -> exp.Expression:
        kind = spec.type.kind
        mode = spec.combine
        if mode == "count":
            value = _sum([case((h, exp.Literal.number(1)), default=exp.Literal.number(0)) for h, _ in terms]) \
                if terms else exp.Literal.number(0)
        else:
            present = [case((h, self.x(e))) for h, e in terms]
            if mode == "list":
                return self.cols.add(self.d.compact(present, _SQL_TYPES.get(kind, "VARCHAR")), "o")
            if not present:
                value = exp.null()
            elif mode in ("first", "last"):
                ordered = present if mode == "first" else present[::-1]
                value = exp.Coalesce(this=ordered[0], expressions=ordered[1:]) if len(ordered) > 1 else ordered[0]
            elif mode in ("min", "max"):
                value = (self.d.least_present if mode == "min" else self.d.greatest_present)(present)
            else:  # sum, from 0, skipping missing values
                refs = [self.cols.simple(p, "p") for p in present]
                nothing = _and([exp.Is(this=r, expression=exp.null()) for r in refs])
                if kind == "int":
                    total = self.int_checked(_sum([exp.Literal.number(0)] + [
                        self.d.wide(exp.Coalesce(this=r, expressions=[exp.Literal.number(0)])) for r in refs]))
                else:
                    total = self.number_checked(_sum([num(0.0)] + [
                        exp.Coalesce(this=r, expressions=[num(0.0)]) for r in refs]))
                value = case((nothing, exp.null()), default=total)
        if spec.clamp is not None:
            v = self.cols.simple(value, "o")
            lo, hi = (self.const(b) for b in spec.clamp)
            value = case((exp.LT(this=v, expression=lo), lo), (exp.GT(this=v, expression=hi), hi), default=v)
        if spec.default is not None:
            value = exp.Coalesce(this=value, expressions=[self.const(spec.default)])
        if kind == "number":  # +0.0 turns -0.0 into 0.0, as the per-record backends do
            value = exp.Add(this=paren(exp.cast(value, "DOUBLE")), expression=num(0.0))
        elif kind in _SQL_TYPES:
            value = exp.cast(value, sql_type(kind, self.d))
        return self.cols.add(value, "o")

    # ---- expressions
    def const(self, value) -> exp.Expression:
        return constant(value, self.d)

    def x(self, node: ir.Expr) -> exp.Expression:
        return getattr(self, "x_" + type(node).__name__)(node)

    def x_Const(self, n):
        return self.const(n.value)

    def x_Field(self, n):
        return self.fields[n.name]

    def x_Var(self, n):
        return self.lets[n.name]

    def x_Seg(self, n):
        return self.segs[n.name]

    def x_Today(self, n):
        return self.d.date(self.as_of)

    def x_Arith(self, n):
        op = n.op
        a, b = self.x(n.left), self.x(n.right)
        if op == "date_diff":
            return self.d.date_diff(a, b)
        if op in ("date_add", "date_sub"):
            return self.date_shift(a, b, op == "date_sub")
        if op == "div":
            if self.d.name == "postgres":
                return self.pg_number(op, exp.cast(a, "DOUBLE"), exp.cast(b, "DOUBLE"))
            return self.number_checked(exp.Div(this=paren(exp.cast(a, "DOUBLE")), expression=exp.Nullif(
                this=exp.cast(b, "DOUBLE"), expression=exp.Literal.number(0)), typed=False, safe=False))
        node = {"add": exp.Add, "sub": exp.Sub, "mul": exp.Mul}[op]
        if self.kind(n) == "int":
            return self.int_checked(node(this=paren(self.d.wide(a)), expression=paren(b)))
        if self.d.name == "postgres":
            return self.pg_number(op, a, b)
        return self.number_checked(node(this=paren(a), expression=paren(b)))

    def int_checked(self, wide: exp.Expression) -> exp.Expression:
        """A wide int result as BIGINT, or missing when it leaves the 64-bit range."""
        t = self.cols.add(wide)
        return case((exp.Between(this=t, low=num(INT_MIN), high=num(INT_MAX)), exp.cast(t, "BIGINT")))

    def number_checked(self, value: exp.Expression) -> exp.Expression:
        """A double result, or missing when it is infinite or NaN."""
        t = self.cols.add(value)
        return case((self.d.finite(t), t))

    def pg_number(self, op: str, a, b) -> exp.Expression:
        """PostgreSQL raises on double overflow (and division by zero) instead of giving infinity or
        NULL: test the operands first; at the very edge of the double range this may say missing
        where the exact result would just fit."""
        a, b = self.cols.simple(a), self.cols.simple(b)
        big = num(DOUBLE_MAX)
        if op == "div":  # by zero is missing; by a tiny number may exceed the doubles
            fits = exp.And(this=exp.NEQ(this=b, expression=num(0.0)), expression=exp.Or(
                this=exp.GTE(this=exp.Abs(this=b), expression=num(1.0)),
                expression=exp.LTE(this=exp.Abs(this=a), expression=exp.Mul(this=big, expression=exp.Abs(this=b)))))
            result = exp.Div(this=a, expression=b, typed=False, safe=False)
        elif op == "mul":
            fits = exp.Or(this=exp.LTE(this=exp.Abs(this=a), expression=num(1.0)),
                          expression=exp.LTE(this=exp.Abs(this=b), expression=exp.Div(
                              this=big, expression=exp.Abs(this=a), typed=False, safe=False)))
            result = exp.Mul(this=a, expression=b)
        else:
            node = exp.Add if op == "add" else exp.Sub
            same_sign = exp.EQ(this=paren(exp.GTE(this=a, expression=num(0.0))),
                               expression=paren(exp.GTE(this=b, expression=num(0.0))))
            opposite = same_sign if op == "sub" else exp.Not(this=paren(same_sign))
            fits = exp.Or(this=paren(opposite), expression=exp.LTE(
                this=exp.Abs(this=a), expression=exp.Sub(this=big, expression=exp.Abs(this=b))))
            result = node(this=a, expression=b)
        return case((fits, result))

    def date_shift(self, d, days, back: bool) -> exp.Expression:
        d, days = self.cols.simple(d), self.cols.simple(days)
        lo = self.d.date_diff(self.d.date(_MIN_DATE), d)
        hi = self.d.date_diff(self.d.date(_MAX_DATE), d)
        if back:
            lo, hi = self.d.date_diff(d, self.d.date(_MAX_DATE)), self.d.date_diff(d, self.d.date(_MIN_DATE))
        shift = exp.Neg(this=paren(days)) if back else days
        return case((exp.Between(this=days, low=lo, high=hi), self.d.date_add(d, shift)))

    def x_Neg(self, n):
        a = self.x(n.arg)
        if self.kind(n) == "int":
            return self.int_checked(exp.Neg(this=paren(self.d.wide(a))))
        return exp.Neg(this=paren(a))

    def x_ToNumber(self, n):
        return exp.cast(self.x(n.arg), "DOUBLE")

    def x_Compare(self, n):
        node = _CMP[n.op](this=paren(self.x(n.left)), expression=paren(self.x(n.right)))
        if self.kind(n.left) == "string" and n.op not in ("eq", "ne"):
            node = self.d.string_compare(node)
        return node

    def x_Not(self, n):
        return exp.Not(this=paren(self.x(n.arg)))

    def x_And(self, n):
        return paren(_and([paren(self.x(a)) for a in n.args]))

    def x_Or(self, n):
        return paren(_or([paren(self.x(a)) for a in n.args]))

    def x_In(self, n):
        return exp.In(this=paren(self.x(n.arg)), expressions=[self.x(i) for i in n.items])

    def x_IsMissing(self, n):
        return exp.Is(this=paren(self.x(n.arg)), expression=exp.null())

    def x_Coalesce(self, n):
        args = [self.x(a) for a in n.args]
        return exp.Coalesce(this=args[0], expressions=args[1:])

    def x_Has(self, n):
        return self.d.list_contains(self.x(n.arg), exp.Literal.string(n.member))

    def x_Population(self, n):
        if n.site not in self.sites:  # compiled where first used: its argument's lets exist by then
            self.sites[n.site] = self.population(self.plan.sites[n.site])
        return self.sites[n.site]

    def x_Call(self, n):
        name = n.fn
        args = [self.x(a) for a in n.args]
        d = self.d
        if name == "days_since":
            return d.date_diff(d.date(self.as_of), args[0])
        if name == "months_since":
            return self.months_since(args[0])
        if name == "abs":
            if self.kind(n.args[0]) == "int":
                return self.int_checked(exp.Abs(this=d.wide(args[0])))
            return exp.Abs(this=args[0])
        if name in ("min", "max"):
            refs = [self.cols.simple(a) for a in args] if any(a.nullable for a in n.args) else args
            value = fn("LEAST" if name == "min" else "GREATEST", *refs)
            nullable = [r for r, a in zip(refs, n.args) if a.nullable]
            if not nullable:
                return value
            return case((_or([exp.Is(this=r, expression=exp.null()) for r in nullable]), exp.null()), default=value)
        if name == "round":
            return self.round(args[0], n.args[1] if len(n.args) > 1 else None, args[1] if len(args) > 1 else None)
        if name == "lower":
            return exp.Lower(this=args[0])
        if name == "upper":
            return exp.Upper(this=args[0])
        if name == "len":
            return d.list_len(args[0]) if self.kind(n.args[0]) == "list" else d.str_len(args[0])
        if name == "starts_with":
            return d.starts_with(args[0], args[1])
        if name == "ends_with":
            return d.ends_with(args[0], args[1])
        if name == "contains":
            if self.kind(n.args[0]) == "list":
                return d.list_contains(args[0], args[1])
            return d.str_contains(args[0], args[1])
        if name == "matches":
            return d.regex(args[0], n.args[1].value)
        raise ValueError(f"function {name} has no SQL form")  # every REGISTRY entry is handled above

    def months_since(self, date) -> exp.Expression:
        d = self.cols.simple(date)
        a = self.as_of
        months = self.cols.add(exp.Add(
            this=exp.Mul(this=paren(exp.Sub(this=num(a.year), expression=self.d.date_part("YEAR", d))),
                         expression=exp.Literal.number(12)),
            expression=paren(exp.Sub(this=num(a.month), expression=self.d.date_part("MONTH", d)))))
        day = self.cols.add(self.d.date_part("DAY", d))
        zero = exp.Literal.number(0)
        return case(
            (exp.And(this=exp.LT(this=num(a.day), expression=day), expression=exp.GT(this=months, expression=zero)),
             exp.Sub(this=months, expression=exp.Literal.number(1))),
            (exp.And(this=exp.GT(this=num(a.day), expression=day), expression=exp.LT(this=months, expression=zero)),
             exp.Add(this=months, expression=exp.Literal.number(1))),
            default=months)

    def round(self, x, digits_node: ir.Expr | None, digits) -> exp.Expression:
        """Half away from zero, exactly as functions.round_half_away computes it."""
        x = self.cols.simple(exp.cast(x, "DOUBLE"))
        if digits_node is None or isinstance(digits_node, ir.Const):
            k = 0 if digits_node is None else digits_node.value
            if k is None:
                return exp.null()
            if k > 300:
                return x
            if k < -300:
                return case((exp.Is(this=x, expression=exp.null()), exp.null()), default=num(0.0))
            scale = num(10.0 ** k)
            guards = []
        else:
            k = self.cols.simple(digits)
            scale = self.cols.add(fn("POWER", num(10.0), case(
                (exp.Between(this=k, low=exp.Literal.number(-300), high=exp.Literal.number(300)), k))))
            guards = [(exp.GT(this=k, expression=exp.Literal.number(300)), x),
                      (exp.LT(this=k, expression=exp.Literal.number(-300)), num(0.0))]
        v = self.cols.add(exp.Mul(this=exp.Abs(this=x), expression=scale))
        r = self.cols.add(case((exp.GTE(this=v, expression=num(_ROUND_EXACT)), exp.null()),
                               default=exp.Floor(this=v)))
        up = self.cols.add(case((exp.GTE(this=exp.Sub(this=v, expression=r), expression=num(0.5)),
                                 exp.Add(this=r, expression=num(1.0))), default=r))
        return case(*guards, (exp.GTE(this=v, expression=num(_ROUND_EXACT)), x),
                    (exp.EQ(this=up, expression=num(0.0)), case((exp.Is(this=x, expression=exp.null()), exp.null()),
                                                                default=num(0.0))),
                    default=exp.Mul(this=exp.Sign(this=x), expression=paren(exp.Div(
                        this=up, expression=scale, typed=False, safe=False))))

    # ---- population functions
    def population(self, site: ir.Site) -> exp.Expression:
        """The rank of each record's value at one call site, over the valid rows or frozen cut points."""
        arg = self.cols.simple(case((self.ok, self.x(site.arg))), "a")
        if self.populations is not None:
            pop = self.populations[site.site]
            if site.tiles:
                return case((exp.Is(this=arg, expression=exp.null()), exp.null()),
                            default=_sum([exp.Literal.number(1)] + [
                                case((exp.LT(this=self.const(p), expression=arg), exp.Literal.number(1)),
                                     default=exp.Literal.number(0)) for p in pop.points]))
            if pop.count <= 1:
                return case((exp.Is(this=arg, expression=exp.null()), exp.null()), default=num(0.0))
            below = _sum([case((exp.LT(this=self.const(p), expression=arg), exp.Literal.number(1)),
                               default=exp.Literal.number(0)) for p in pop.points])
            return case((exp.Is(this=arg, expression=exp.null()), exp.null()), default=fn(
                "LEAST", exp.Div(this=exp.cast(below, "DOUBLE"), expression=num(float(pop.count - 1)),
                                 typed=False, safe=False), num(1.0)))
        present = exp.Not(this=exp.Is(this=arg, expression=exp.null()))
        window = exp.Window(this=exp.Count(this=arg), partition_by=[])
        count = self.cols.add(window, "n")
        if site.tiles == 0:
            pr = exp.Window(this=exp.PercentRank(), partition_by=[present], order=exp.Order(
                expressions=[exp.Ordered(this=arg)]))
            return self.cols.add(case((present, exp.cast(pr, "DOUBLE"))), "q")
        position = self.cols.add(exp.Window(this=exp.RowNumber(), partition_by=[present], order=exp.Order(
            expressions=[exp.Ordered(this=arg)])), "k")
        cuts = []
        for k in range(1, site.tiles):
            # cut point k is the value at position ceil(k·N/n) of the sorted present values
            at = exp.IntDiv(this=paren(exp.Add(this=exp.Mul(this=exp.Literal.number(k), expression=count),
                                               expression=exp.Literal.number(site.tiles - 1))),
                            expression=exp.Literal.number(site.tiles))
            cut = exp.Window(this=exp.Max(this=case((exp.And(this=present, expression=exp.EQ(
                this=position, expression=at)), arg))), partition_by=[])
            cuts.append(self.cols.add(cut, "c"))
        tile = _sum([exp.Literal.number(1)] + [case((exp.LT(this=c, expression=arg), exp.Literal.number(1)),
                                                    default=exp.Literal.number(0)) for c in cuts])
        return self.cols.add(case((present, tile)), "q")

    # ---- types
    def kind(self, n: ir.Expr) -> str:
        """The value kind of a plan expression: int number bool string date list enum."""
        if isinstance(n, ir.Const):
            v = n.value
            return ("bool" if isinstance(v, bool) else "int" if isinstance(v, int) else "number"
                    if isinstance(v, float) else "date" if isinstance(v, dt.date) else "list"
                    if isinstance(v, tuple) else "string")
        if isinstance(n, ir.Field):
            return self.kinds[n.name]
        if isinstance(n, ir.Var):
            return self.let_kinds[n.name]
        if isinstance(n, ir.Seg):
            return "list" if self.seg_steps[n.name].hit == "all" else "segment"
        if isinstance(n, ir.Today):
            return "date"
        if isinstance(n, ir.Arith):
            if n.op in ("date_add", "date_sub"):
                return "date"
            if n.op == "date_diff":
                return "int"
            if n.op == "div":
                return "number"
            return "int" if self.kind(n.left) == self.kind(n.right) == "int" else "number"
        if isinstance(n, ir.Neg):
            return self.kind(n.arg)
        if isinstance(n, ir.ToNumber):
            return "number"
        if isinstance(n, ir.Coalesce):
            return self.kind(n.args[0])
        if isinstance(n, ir.Population):
            return "int" if n.tiles else "number"
        if isinstance(n, ir.Call):
            if n.fn in ("days_since", "months_since", "len"):
                return "int"
            if n.fn in ("abs", "min", "max"):
                kinds = {self.kind(a) for a in n.args}
                return "number" if "number" in kinds else kinds.pop()
            if n.fn == "round":
                return "number"
            if n.fn in ("lower", "upper"):
                return "string"
            return "bool"
        return "bool"


def constant(value, d: Dialect) -> exp.Expression:
    """A policy constant as a literal: policy text only ever reaches SQL this way, or as an identifier."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return num(value)
    if isinstance(value, dt.date):
        return d.date(value)
    if isinstance(value, tuple):
        return d.array([exp.Literal.string(v) for v in value])
    return exp.Literal.string(value)


def _and(args: list[exp.Expression]) -> exp.Expression:
    out = args[0]
    for a in args[1:]:
        out = exp.And(this=out, expression=a)
    return out


def _or(args: list[exp.Expression]) -> exp.Expression:
    out = args[0]
    for a in args[1:]:
        out = exp.Or(this=out, expression=a)
    return out


def _sum(args: list[exp.Expression]) -> exp.Expression:
    out = args[0]
    for a in args[1:]:
        out = exp.Add(this=out, expression=a)
    return out


def _concat(*parts: exp.Expression) -> exp.Expression:
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p, safe=True)
    return out


assert set(REGISTRY) == {"days_since", "months_since", "abs", "min", "max", "round", "coalesce", "lower", "upper",
                         "len", "starts_with", "ends_with", "contains", "matches", "quintile", "ntile",
                         "percent_rank"}, "a function was added: give it a SQL form in Compiler.x_Call"
