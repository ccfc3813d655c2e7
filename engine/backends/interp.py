"""The reference backend: walks the plan per record and can record the value of every node.

Slow and plain on purpose: it is what the other backends are tested against, and what
`explain` uses to show why a record got its segment.
"""
from __future__ import annotations

import datetime as dt

from .. import ir
from ..functions import REGISTRY, in_range
from ..population import require
from ..records import validate
from ..decision import Decision
from .runtime import combine, date_shift, in_list, resolve

_CMP = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
}


class Interpreter:
    """Evaluates a plan by walking it; pass `trace={}` to `run` to get every node's value by id(node)."""

    def __init__(self, plan: ir.Plan):
        self.plan = plan

    def first_pass(self, record: dict, as_of: dt.date) -> tuple:
        """Validate the record and compute what each population call site ranks."""
        env = _Env(validate(record, self.plan.fields), as_of, None, None)
        for step in self.plan.steps:
            if isinstance(step, ir.LetStep) and step.early:
                env.lets[step.name] = env.eval(step.expr)
        return tuple(env.eval(site.arg) for site in self.plan.sites)

    def run(self, record: dict, as_of: dt.date, position: int | None = None, populations=None,
            trace: dict | None = None) -> Decision:
        plan = self.plan
        if plan.sites:
            populations = require(plan, populations)
        env = _Env(validate(record, plan.fields), as_of, populations, trace)
        errors: list[str] = []
        fired: list[str] = []
        segs, labels = {}, {}
        for step in plan.steps:
            if isinstance(step, ir.LetStep):
                env.lets[step.name] = env.eval(step.expr)
                continue
            held = [i for i, r in enumerate(step.rules) if r.cond is not None and env.eval(r.cond) is True]
            value, labels[step.name], ids = resolve(step, held, errors)
            env.segs[step.name] = segs[step.name] = value
            fired.extend(ids)
        collected: dict[str, list] = {o.name: [] for o in plan.outputs}
        for rule in plan.rules:
            if env.eval(rule.cond) is True:
                fired.append(rule.id)
                for a in rule.assigns:
                    collected[a.output].append(env.eval(a.expr))
        outputs = tuple(combine(o, collected[o.name]) for o in plan.outputs)
        key = env.fields[plan.key] if plan.key else position
        return Decision.build({
            "key": key, "row": position, "segments": segs, "labels": labels,
            "outputs": {o.name: v for o, v in zip(plan.outputs, outputs)}, "rules_fired": fired, "errors": errors,
            "policy": plan.name, "version": plan.version, "content_hash": plan.content_hash, "as_of": as_of, "ok": True})


class _Env:
    def __init__(self, fields: dict, as_of: dt.date, populations, trace: dict | None):
        self.fields = fields
        self.populations = populations
        self.lets: dict = {}
        self.segs: dict = {}
        self.as_of = as_of
        self.trace = trace

    def eval(self, node: ir.Expr):
        value = getattr(self, "e_" + type(node).__name__)(node)
        if self.trace is not None:
            self.trace[id(node)] = value
        return value

    def e_Const(self, n):
        return n.value

    def e_Field(self, n):
        return self.fields[n.name]

    def e_Var(self, n):
        return self.lets[n.name]

    def e_Seg(self, n):
        return self.segs[n.name]

    def e_Today(self, n):
        return self.as_of

    def e_Arith(self, n):
        a, b = self.eval(n.left), self.eval(n.right)
        if a is None or b is None:
            return None
        op = n.op
        if op == "add":
            return in_range(a + b)
        if op == "sub":
            return in_range(a - b)
        if op == "mul":
            return in_range(a * b)
        if op == "div":
            return None if b == 0 else in_range(a / b)
        if op == "date_add":
            return date_shift(a, b)
        if op == "date_sub":
            return date_shift(a, -b)
        return (a - b).days  # date_diff

    def e_Neg(self, n):
        a = self.eval(n.arg)
        return None if a is None else in_range(-a)

    def e_ToNumber(self, n):
        a = self.eval(n.arg)
        return None if a is None else float(a)

    def e_Compare(self, n):
        a, b = self.eval(n.left), self.eval(n.right)
        return None if a is None or b is None else _CMP[n.op](a, b)

    def e_Not(self, n):
        a = self.eval(n.arg)
        return None if a is None else not a

    def _logic(self, n, stop: bool):
        """Three-valued and (stop=False) / or (stop=True), left to right, stopping at the deciding value."""
        unknown = False
        for arg in n.args:
            v = self.eval(arg)
            if v is stop:
                return stop
            unknown = unknown or v is None
        return None if unknown else not stop

    def e_And(self, n):
        return self._logic(n, False)

    def e_Or(self, n):
        return self._logic(n, True)

    def e_In(self, n):
        x = self.eval(n.arg)
        items = [self.eval(i) for i in n.items]
        return None if x is None else in_list(x, items)

    def e_IsMissing(self, n):
        return self.eval(n.arg) is None

    def e_Coalesce(self, n):
        for arg in n.args:
            v = self.eval(arg)
            if v is not None:
                return v
        return None

    def e_Call(self, n):
        fn = REGISTRY[n.fn]
        args = [self.eval(a) for a in n.args]
        if any(a is None for a in args):
            return None
        if fn.needs_as_of:
            args.append(self.as_of)
        return fn.py(*args)

    def e_Population(self, n):
        x = self.eval(n.arg)
        return None if x is None else self.populations[n.site].of(x)

    def e_Has(self, n):
        return n.member in self.eval(n.arg)
