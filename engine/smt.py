"""A plan's expressions as z3 terms, for verification: each value is a term and a `known` flag.

Missing values follow the language's three-valued logic: `known` is false where the value is
missing. Ints and dates are integers (a date is its day number), numbers are exact reals,
strings and enum or segment members are strings. What the encoding does not model (regular
expressions, population functions, lists, string lengths, rounding, case mapping, month counting) becomes a free
value, so a proof that something cannot happen still holds; such parts are named in `opaque`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

import z3

from . import ir

MIN_DAY, MAX_DAY = dt.date.min.toordinal(), dt.date.max.toordinal()
_INT64 = 2 ** 63
MAX_STRING = 1000  # a longer string constant is left to the cases: the solver slows down on it

# functions modelled exactly; every other one is opaque, with the sort of its result
_RESULT_SORT = {"matches": z3.BoolSort(), "contains": z3.BoolSort(), "lower": z3.StringSort(),
                "upper": z3.StringSort(), "len": z3.IntSort(), "round": z3.RealSort(), "months_since": z3.IntSort()}
_COMPARE = {"eq": lambda x, y: x == y, "ne": lambda x, y: x != y, "lt": lambda x, y: x < y,
            "le": lambda x, y: x <= y, "gt": lambda x, y: x > y, "ge": lambda x, y: x >= y}
_OPAQUE = ("matches", "lower", "upper", "round", "months_since", "len")  # len: z3 builds strings that long


@dataclass(frozen=True)
class Term:
    """A value: `val` (None for a constant missing value), whether it is `known`, and the parts
    of the plan that were not modelled on the way (shown to the analyst as "not analysed")."""

    val: z3.ExprRef | None
    known: z3.BoolRef
    opaque: frozenset[str] = frozenset()

    def holds(self) -> z3.BoolRef:
        """A condition holds only when it is known and true."""
        return z3.BoolVal(False) if self.val is None else z3.And(self.known, self.val)


_MISSING = Term(None, z3.BoolVal(False))


def _join(*terms: Term) -> frozenset[str]:
    return frozenset().union(*(t.opaque for t in terms))


def _same_sort(a: z3.ExprRef, b: z3.ExprRef) -> tuple[z3.ExprRef, z3.ExprRef]:
    """Ints meet numbers as reals, as the backends compare an int with a float."""
    if a.sort() == b.sort():
        return a, b
    if z3.is_int(a) and z3.is_real(b):
        return z3.ToReal(a), b
    if z3.is_real(a) and z3.is_int(b):
        return a, z3.ToReal(b)
    raise TypeError(f"mismatched sorts {a.sort()} and {b.sort()}")


def _real(a: z3.ExprRef) -> z3.ExprRef:
    return z3.ToReal(a) if z3.is_int(a) else a


class Encoder:
    """Encodes the expressions of one plan; field values and the as-of date are the free variables."""

    def __init__(self, plan: ir.Plan):
        self.plan = plan
        self.today = z3.Int("as_of")
        self.domain: list[z3.BoolRef] = [self.today >= MIN_DAY, self.today <= MAX_DAY]
        self.fields: dict[str, tuple[z3.ExprRef | None, z3.BoolRef | None]] = {}
        self._lets = {s.name: s for s in plan.steps if isinstance(s, ir.LetStep)}
        self._segs = {s.name: s for s in plan.segments}
        self._memo: dict[object, Term] = {}  # id(node) or ("segment", name)
        self._fresh = 0
        for i, spec in enumerate(plan.fields):
            self.fields[spec.name] = self._field_vars(i, spec)

    def _field_vars(self, i: int, spec: ir.FieldSpec):
        kind = spec.type.kind
        missing = z3.Bool(f"missing_{i}") if spec.optional and spec.default is None else None
        if kind == "list":
            return None, missing
        sort = {"int": z3.IntSort(), "date": z3.IntSort(), "number": z3.RealSort(), "bool": z3.BoolSort()}.get(
            kind, z3.StringSort())
        v = z3.Const(f"field_{i}", sort)
        if kind == "int":
            self.domain += [v >= -_INT64, v < _INT64]
        elif kind == "date":
            self.domain += [v >= MIN_DAY, v <= MAX_DAY]
        elif kind == "enum":
            self.domain.append(z3.Or([v == z3.StringVal(m) for m in spec.type.members]))
        return v, missing

    def fresh(self, sort: z3.SortRef, nullable: bool, why: str) -> Term:
        self._fresh += 1
        known = z3.Bool(f"known_{self._fresh}") if nullable else z3.BoolVal(True)
        return Term(z3.Const(f"opaque_{self._fresh}", sort), known, frozenset([why]))

    # ---- expressions
    def expr(self, node: ir.Expr) -> Term:
        term = self._memo.get(id(node))  # by identity: Const(1) == Const(True) as dataclasses
        if term is None:
            term = self._memo[id(node)] = getattr(self, "e_" + type(node).__name__)(node)
        return term

    def e_Const(self, n):
        v = n.value
        if v is None:
            return _MISSING
        if isinstance(v, bool):
            return Term(z3.BoolVal(v), z3.BoolVal(True))
        if isinstance(v, int):
            return Term(z3.IntVal(v), z3.BoolVal(True))
        if isinstance(v, float):
            return Term(z3.RealVal(Fraction(v)), z3.BoolVal(True))
        if isinstance(v, dt.date):
            return Term(z3.IntVal(v.toordinal()), z3.BoolVal(True))
        if len(v) > MAX_STRING:
            return self.fresh(z3.StringSort(), False, f"a string of {len(v):,} characters")
        return Term(z3.StringVal(v), z3.BoolVal(True))

    def e_Field(self, n):
        val, missing = self.fields[n.name]
        known = z3.BoolVal(True) if missing is None else z3.Not(missing)
        if val is None:
            return Term(None, known, frozenset([f"the list field `{n.name}`"]))
        return Term(val, known)

    def e_Var(self, n):
        return self.expr(self._lets[n.name].expr)

    def e_Seg(self, n):
        step = self._segs[n.name]
        if step.hit == "all":  # a set of members: only `has` (e_Has) looks inside it
            return Term(None, z3.BoolVal(True), frozenset([f"the `all` segment `{n.name}` as a list"]))
        return self.segment(step)

    def e_Today(self, n):
        return Term(self.today, z3.BoolVal(True))

    def e_Arith(self, n):
        a, b = self.expr(n.left), self.expr(n.right)
        if a.val is None or b.val is None:
            return _MISSING
        known = z3.And(a.known, b.known)
        op = n.op
        if op in ("date_add", "date_sub"):
            v = a.val + b.val if op == "date_add" else a.val - b.val
            return Term(v, z3.And(known, v >= MIN_DAY, v <= MAX_DAY), _join(a, b))
        if op == "date_diff":
            return Term(a.val - b.val, known, _join(a, b))
        if op == "div":
            x, y = _real(a.val), _real(b.val)
            return Term(x / y, z3.And(known, y != 0), _join(a, b))
        x, y = _same_sort(a.val, b.val)
        return Term({"add": x + y, "sub": x - y, "mul": x * y}[op], known, _join(a, b))

    def e_Neg(self, n):
        a = self.expr(n.arg)
        return a if a.val is None else Term(-a.val, a.known, a.opaque)

    def e_ToNumber(self, n):
        a = self.expr(n.arg)
        return a if a.val is None else Term(_real(a.val), a.known, a.opaque)

    def e_Compare(self, n):
        a, b = self.expr(n.left), self.expr(n.right)
        if a.val is None or b.val is None:
            return Term(None, z3.BoolVal(False), _join(a, b))
        x, y = _same_sort(a.val, b.val)
        v = _COMPARE[n.op](x, y)
        return Term(v, z3.And(a.known, b.known), _join(a, b))

    def e_Not(self, n):
        a = self.expr(n.arg)
        return a if a.val is None else Term(z3.Not(a.val), a.known, a.opaque)

    def _bools(self, args) -> list[tuple[z3.BoolRef, z3.BoolRef]]:
        """(known, value) pairs; a constant missing operand is unknown."""
        out = []
        for t in args:
            out.append((z3.BoolVal(False), z3.BoolVal(False)) if t.val is None else (t.known, t.val))
        return out

    def e_And(self, n):
        terms = [self.expr(a) for a in n.args]
        kv = self._bools(terms)
        known = z3.Or(z3.And([k for k, _ in kv]), z3.Or([z3.And(k, z3.Not(v)) for k, v in kv]))
        return Term(z3.And([z3.Implies(k, v) for k, v in kv]), known, _join(*terms))

    def e_Or(self, n):
        terms = [self.expr(a) for a in n.args]
        kv = self._bools(terms)
        known = z3.Or(z3.And([k for k, _ in kv]), z3.Or([z3.And(k, v) for k, v in kv]))
        return Term(z3.Or([z3.And(k, v) for k, v in kv]), known, _join(*terms))

    def e_In(self, n):
        x = self.expr(n.arg)
        items = [self.expr(i) for i in n.items]
        if x.val is None:
            return Term(None, z3.BoolVal(False), _join(x, *items))
        matches, knowns = [], []
        for item in items:
            if item.val is None:
                knowns.append(z3.BoolVal(False))
                continue
            a, b = _same_sort(x.val, item.val)
            matches.append(z3.And(item.known, a == b))
            knowns.append(item.known)
        hit = z3.Or(matches) if matches else z3.BoolVal(False)
        return Term(hit, z3.And(x.known, z3.Or(hit, z3.And(knowns))), _join(x, *items))

    def e_IsMissing(self, n):
        a = self.expr(n.arg)
        return Term(z3.Not(a.known), z3.BoolVal(True), a.opaque)

    def e_Coalesce(self, n):
        terms = [t for t in (self.expr(a) for a in n.args) if t.val is not None]
        if not terms:
            return _MISSING
        vals = [t.val for t in terms]
        if any(z3.is_real(v) for v in vals):
            vals = [_real(v) for v in vals]
        val, known = vals[-1], terms[-1].known
        for t, v in zip(reversed(terms[:-1]), reversed(vals[:-1])):
            val, known = z3.If(t.known, v, val), z3.Or(t.known, known)
        return Term(val, known, _join(*terms))

    def e_Call(self, n):
        fn = n.fn
        if fn in _OPAQUE:
            return self.fresh(_RESULT_SORT[fn], n.nullable, f"`{fn}`")
        args = [self.expr(a) for a in n.args]
        if fn == "contains" and args[0].val is None and args[0].opaque:  # of a list
            return self.fresh(_RESULT_SORT[fn], n.nullable, f"`{fn}` of a list")
        if any(a.val is None for a in args):
            return Term(None, z3.BoolVal(False), _join(*args))
        known = z3.And([a.known for a in args])
        vals = [a.val for a in args]
        if fn == "days_since":
            return Term(self.today - vals[0], known, _join(*args))
        if fn == "abs":
            v = vals[0]
            return Term(z3.If(v < 0, -v, v), known, _join(*args))
        if fn in ("min", "max"):
            if any(z3.is_real(v) for v in vals):
                vals = [_real(v) for v in vals]
            best = vals[0]
            for v in vals[1:]:
                best = z3.If(v < best, v, best) if fn == "min" else z3.If(v > best, v, best)
            return Term(best, known, _join(*args))
        if fn == "starts_with":
            return Term(z3.PrefixOf(vals[1], vals[0]), known, _join(*args))
        if fn == "ends_with":
            return Term(z3.SuffixOf(vals[1], vals[0]), known, _join(*args))
        if fn == "contains":
            return Term(z3.Contains(vals[0], vals[1]), known, _join(*args))
        raise ValueError(f"no encoding for function {fn}")

    def e_Population(self, n):
        sort = z3.RealSort() if n.fn == "percent_rank" else z3.IntSort()
        return self.fresh(sort, True, f"`{n.fn}`")

    def e_Has(self, n):
        step = self._segs[n.arg.name]
        rules = [(r, self.rule(r)) for r in step.rules]
        conds = [t for _, t in rules if t is not None]
        took = [t.holds() for r, t in rules if t is not None and r.member == n.member]
        last = step.rules[-1] if step.rules else None
        if last is not None and last.cond is None and last.member == n.member:
            took.append(z3.Not(z3.Or([t.holds() for t in conds])))
        return Term(z3.Or(took) if took else z3.BoolVal(False), z3.BoolVal(True), _join(*conds))

    # ---- segments
    def rule(self, rule: ir.Rule) -> Term | None:
        """A rule's condition; None for `otherwise`."""
        return None if rule.cond is None else self.expr(rule.cond)

    def segment(self, step: ir.SegmentStep) -> Term:
        """A segment's member as a string term, missing where no rule takes the record or rules conflict."""
        key = ("segment", step.name)
        if key in self._memo:
            return self._memo[key]
        terms = [(r, self.rule(r)) for r in step.rules]
        conds = [(r, t) for r, t in terms if t is not None]
        opaque = _join(*(t for _, t in conds))
        fallback = next((z3.StringVal(r.member) for r, t in terms if t is None), None)
        none_hold = z3.Not(z3.Or([t.holds() for _, t in conds]))
        if step.hit == "priority":
            order = {m: i for i, m in enumerate(step.members)}
            conds = sorted(conds, key=lambda rt: order[rt[0].member])
        val: z3.ExprRef = fallback if fallback is not None else z3.StringVal("")
        for r, t in reversed(conds):
            val = z3.If(t.holds(), z3.StringVal(r.member), val)
        known = z3.BoolVal(True) if fallback is not None else z3.Not(none_hold)
        if step.hit in ("unique", "any"):
            clash = [z3.And(a.holds(), b.holds()) for i, (ra, a) in enumerate(conds) for rb, b in conds[i + 1:]
                     if step.hit == "unique" or ra.member != rb.member]
            known = z3.And(known, z3.Not(z3.Or(clash))) if clash else known
        term = self._memo[key] = Term(val, known, opaque)
        return term

    def record(self, model: z3.ModelRef) -> tuple[dict, dt.date]:
        """The record and as-of date a model describes (missing fields are left out)."""
        record = {}
        for spec in self.plan.fields:
            val, missing = self.fields[spec.name]
            if missing is not None and z3.is_true(model.eval(missing, model_completion=True)):
                continue
            if val is None:
                record[spec.name] = []
                continue
            record[spec.name] = _python(model.eval(val, model_completion=True), spec.type.kind)
        return record, dt.date.fromordinal(model.eval(self.today, model_completion=True).as_long())


def _python(value: z3.ExprRef, kind: str):
    if kind == "bool":
        return z3.is_true(value)
    if kind == "int":
        return value.as_long()
    if kind == "date":
        return dt.date.fromordinal(value.as_long())
    if kind == "number":
        f = value.as_fraction() if z3.is_rational_value(value) else Fraction(value.as_decimal(20).rstrip("?"))
        return float(f)
    return _string(value)


def _string(value: z3.ExprRef) -> str:
    """A z3 string value as Python text (z3 prints characters outside ASCII as \\u{…})."""
    chars = []
    for i in range(z3.simplify(z3.Length(value)).as_long()):
        chars.append(chr(z3.simplify(z3.StrToCode(z3.SubString(value, i, 1))).as_long()))
    return "".join(chars)
