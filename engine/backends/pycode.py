"""The fast backend: one Python function per policy, built as a syntax tree with `ast` and compiled once.

Every name in the generated code is ours (f0, l1, s2, t3 …); field names, members and strings
from the policy only ever appear as constants or as objects bound in the function's namespace,
so nothing in a policy can inject code. Missing-value checks are emitted only where the checker
found that a value can be missing.
"""
from __future__ import annotations

import ast as py
import datetime as dt
import itertools
import math

from .. import ir
from ..functions import REGISTRY, compile_regex
from ..population import require
from ..records import INT_MAX, INT_MIN, coercer, not_a_record
from ..decision import Decision
from ..functions import in_range
from .runtime import date_shift, in_list, resolve

_CMP = {"eq": py.Eq, "ne": py.NotEq, "lt": py.Lt, "le": py.LtE, "gt": py.Gt, "ge": py.GtE}
_ARITH = {"add": py.Add, "sub": py.Sub, "mul": py.Mult, "div": py.Div}
_FAST_CLASS = {"int": int, "number": float, "string": str, "bool": bool, "date": dt.date}


def _name(id_: str, store: bool = False) -> py.Name:
    return py.Name(id_, py.Store() if store else py.Load())


def _const(value) -> py.Constant:
    return py.Constant(value)


def _is(left: py.expr, value) -> py.Compare:
    return py.Compare(left, [py.Is()], [_const(value)])


def _assign(target: str, value: py.expr) -> py.Assign:
    return py.Assign([_name(target, True)], value)


def _call(func: str, *args: py.expr) -> py.Call:
    return py.Call(_name(func), list(args), [])


def _args(*names: str) -> py.arguments:
    """Parameters; all but the first two default to None."""
    return py.arguments(posonlyargs=[], args=[py.arg(n) for n in names], kwonlyargs=[], kw_defaults=[],
                        defaults=[_const(None)] * (len(names) - 2))


def _dict(keys: list[str], values: list[py.expr]) -> py.Dict:
    return py.Dict([_const(k) for k in keys], values)


def _record_check(rec):
    if isinstance(rec, dict):
        return rec
    raise not_a_record(rec)


class _Codegen:
    def __init__(self, plan: ir.Plan):
        self.plan = plan
        self.ns: dict = {"_date_shift": date_shift, "_in_list": in_list, "_resolve": resolve, "_in_range": in_range,
                         "_INF": float("inf"), "_NINF": float("-inf"),
                         "_record_check": _record_check}
        self.temps = itertools.count()
        self.vars: dict[tuple[str, str], str] = {}
        self.bound: dict[int, str] = {}

    def bind(self, value) -> py.Name:
        """An object the generated code uses, passed in as a closure variable (fast to read)."""
        name = self.bound.get(id(value))
        if name is None:
            name = self.bound[id(value)] = f"_k{len(self.ns)}"
            self.ns[name] = value
        return _name(name)

    def temp(self) -> str:
        return f"t{next(self.temps)}"

    # ---- the functions
    def build(self) -> py.Module:
        """`make(<bound objects>)` returning (run, first_pass), so the code reads closure cells, not globals."""
        run = py.FunctionDef("run", _args("rec", "as_of", "position", "populations"), self.run_body(), [], None,
                             type_params=[])
        first = py.FunctionDef("first_pass", _args("rec", "as_of"), self.first_pass_body(), [], None,
                               type_params=[])
        outer_args = py.arguments(posonlyargs=[], args=[py.arg(n) for n in self.ns], kwonlyargs=[],
                                  kw_defaults=[], defaults=[])
        ret = py.Return(py.Tuple([_name("run"), _name("first_pass")], py.Load()))
        outer = py.FunctionDef("make", outer_args, [run, first, ret], [], None, type_params=[])
        return py.fix_missing_locations(py.Module([outer], []))

    def fields(self) -> list[py.stmt]:
        body: list[py.stmt] = [
            py.If(py.Compare(py.Attribute(_name("rec"), "__class__", py.Load()), [py.IsNot()], [self.bind(dict)]),
                  [_assign("rec", _call("_record_check", _name("rec")))], []),
            _assign("get", py.Attribute(_name("rec"), "get", py.Load())),
        ]
        for i, spec in enumerate(self.plan.fields):
            self.vars[("field", spec.name)] = f"f{i}"
            body.extend(self.field(spec, f"f{i}"))
        return body

    def first_pass_body(self) -> list[py.stmt]:
        """Validate the record and compute what each population call site ranks (see engine/population.py)."""
        body = self.fields()
        for i, step in enumerate(self.plan.steps):
            if isinstance(step, ir.LetStep) and step.early:
                self.vars[("let", step.name)] = f"l{i}"
                body.append(_assign(f"l{i}", self.ex(step.expr)))
        body.append(py.Return(py.Tuple([self.ex(site.arg) for site in self.plan.sites], py.Load())))
        return body

    def run_body(self) -> list[py.stmt]:
        plan = self.plan
        body = self.fields()
        body += [_assign("fired", py.List([], py.Load())), _assign("errors", py.List([], py.Load()))]
        if plan.sites:
            body.append(_assign("populations", py.Call(self.bind(require), [self.bind(plan), _name("populations")],
                                                       [])))
        for i, step in enumerate(plan.steps):
            if isinstance(step, ir.LetStep):
                self.vars[("let", step.name)] = f"l{i}"
                body.append(_assign(f"l{i}", self.ex(step.expr)))
            else:
                self.vars[("seg", step.name)] = f"s{i}"
                body.extend(self.segment(step, f"s{i}", f"b{i}"))
        body.extend(self.outputs())
        key = _name(self.vars[("field", plan.key)]) if plan.key else _name("position")
        segments = [s.name for s in plan.segments]
        decision = {
            "key": key, "row": _name("position"),
            "segments": _dict(segments, [_name(self.vars[("seg", s)]) for s in segments]),
            "labels": _dict(segments, [_name("b" + self.vars[("seg", s)][1:]) for s in segments]),
            "outputs": _dict([o.name for o in plan.outputs], [_name(f"o{i}") for i in range(len(plan.outputs))]),
            "rules_fired": _name("fired"), "errors": _name("errors"), "policy": _const(plan.name),
            "version": _const(plan.version), "content_hash": _const(plan.content_hash), "as_of": _name("as_of"),
            "ok": _const(True),
        }
        body.append(py.Return(py.Call(self.bind(Decision.build), [_dict(list(decision), list(decision.values()))], [])))
        return body

    def field(self, spec: ir.FieldSpec, var: str) -> list[py.stmt]:
        """`var = value` with a fast path for values already of the declared class."""
        get = py.Call(_name("get"), [_const(spec.name)], [])
        stmts: list[py.stmt] = []
        if spec.column is not None:
            stmts.append(_assign(var, py.IfExp(py.Compare(_const(spec.name), [py.In()], [_name("rec")]),
                                               py.Subscript(_name("rec"), _const(spec.name), py.Load()),
                                               py.Call(_name("get"), [_const(spec.column)], []))))
        else:
            stmts.append(_assign(var, get))
        # A value of the declared class passes as is; a missing one takes its default (or stays
        # missing if the field may be); an int for a number widens; anything else goes to coercer.
        kind = spec.type.kind
        cls = py.Attribute(_name(var), "__class__", py.Load())
        branch: list[py.stmt] = [_assign(var, py.Call(self.bind(coercer(spec)), [_name(var)], []))]
        in_range = py.Compare(self.bind(INT_MIN), [py.LtE(), py.LtE()], [_name(var), self.bind(INT_MAX)])
        if kind == "number":
            is_int = py.BoolOp(py.And(), [py.Compare(cls, [py.Is()], [self.bind(int)]), in_range])
            branch = [py.If(is_int, [_assign(var, py.Call(self.bind(float), [_name(var)], []))], branch)]
        if spec.default is not None or spec.optional:
            fill = [_assign(var, self.value(spec.default))] if spec.default is not None else [py.Pass()]
            branch = [py.If(_is(_name(var), None), fill, branch)]
        if kind in _FAST_CLASS:
            ok: py.expr = py.Compare(cls, [py.Is()], [self.bind(_FAST_CLASS[kind])])
            if kind == "number":  # NaN and infinities are not numbers a record may hold
                finite = py.Compare(self.bind(-math.inf), [py.Lt(), py.Lt()], [_name(var), self.bind(math.inf)])
                ok = py.BoolOp(py.And(), [ok, finite])
            elif kind == "int":
                ok = py.BoolOp(py.And(), [ok, in_range])
        elif kind == "enum":
            ok = py.BoolOp(py.And(), [py.Compare(cls, [py.Is()], [self.bind(str)]),
                                      py.Compare(_name(var), [py.In()], [self.bind(frozenset(spec.type.members))])])
        else:
            return stmts + branch
        return stmts + [py.If(py.UnaryOp(py.Not(), ok), branch, [])]

    def segment(self, step: ir.SegmentStep, var: str, label: str) -> list[py.stmt]:
        """`var` = the member (or missing), `label` = its label, and the deciding rules appended to `fired`."""
        conds = [(i, r) for i, r in enumerate(step.rules) if r.cond is not None]
        otherwise = step.rules[-1] if step.rules and step.rules[-1].cond is None else None
        if step.hit == "first":
            labels = dict(zip(step.members, step.labels))

            def choose(rule: ir.Rule) -> list[py.stmt]:
                return [_assign(var, _const(rule.member)), _assign(label, _const(labels[rule.member])),
                        self.fire(rule.id)]

            tail: list[py.stmt] = [_assign(var, _const(None)), _assign(label, _const(None))]
            if otherwise is not None:
                tail = choose(otherwise)
            for i, rule in reversed(conds):
                tail = [py.If(self.truth(rule.cond), choose(rule), tail)]
            return tail
        tagged = [m for m in step.members if otherwise is None or m != otherwise.member]
        if step.hit == "all" and [r.member for _, r in conds] == tagged:  # one rule per member, in order
            return self.tags(step, var, label, conds, otherwise)
        held = self.temp()
        stmts: list[py.stmt] = [_assign(held, py.List([], py.Load()))]
        for i, rule in conds:
            stmts.append(py.If(self.truth(rule.cond),
                               [py.Expr(py.Call(py.Attribute(_name(held), "append", py.Load()), [_const(i)], []))], []))
        ids = self.temp()
        stmts.append(py.Assign([py.Tuple([_name(var, True), _name(label, True), _name(ids, True)], py.Store())],
                               _call("_resolve", self.bind(step), _name(held), _name("errors"))))
        stmts.append(py.Expr(py.Call(py.Attribute(_name("fired"), "extend", py.Load()), [_name(ids)], [])))
        return stmts

    def tags(self, step: ir.SegmentStep, var: str, label: str, conds, otherwise) -> list[py.stmt]:
        """An `all` segment with one rule per member, in member order: append each member that holds."""
        labels = dict(zip(step.members, step.labels))
        append = lambda target, value: py.Expr(py.Call(py.Attribute(_name(target), "append", py.Load()),  # noqa: E731
                                                      [_const(value)], []))
        stmts: list[py.stmt] = [_assign(var, py.List([], py.Load())), _assign(label, py.List([], py.Load()))]
        for _, rule in conds:
            stmts.append(py.If(self.truth(rule.cond), [append(var, rule.member), append(label, labels[rule.member]),
                                                        self.fire(rule.id)], []))
        if otherwise is not None:
            stmts.append(py.If(py.UnaryOp(py.Not(), _name(var)),
                               [append(var, otherwise.member), append(label, labels[otherwise.member]),
                                self.fire(otherwise.id)], []))
        return stmts

    def fire(self, rule_id: str) -> py.stmt:
        return py.Expr(py.Call(py.Attribute(_name("fired"), "append", py.Load()), [_const(rule_id)], []))

    def truth(self, cond: ir.Expr) -> py.expr:
        """A Python test that holds exactly when the condition is true (neither false nor unknown)."""
        if not cond.nullable:
            return self.ex(cond)
        if isinstance(cond, (ir.And, ir.Or)):
            return py.BoolOp(py.And() if isinstance(cond, ir.And) else py.Or(), [self.truth(a) for a in cond.args])
        if isinstance(cond, ir.Not):
            return self.falsity(cond.arg)
        return _is(self.ex(cond), True)

    def falsity(self, cond: ir.Expr) -> py.expr:
        """A Python test that holds exactly when the condition is false (neither true nor unknown)."""
        if not cond.nullable:
            return py.UnaryOp(py.Not(), self.ex(cond))
        if isinstance(cond, (ir.And, ir.Or)):
            return py.BoolOp(py.Or() if isinstance(cond, ir.And) else py.And(), [self.falsity(a) for a in cond.args])
        if isinstance(cond, ir.Not):
            return self.truth(cond.arg)
        return _is(self.ex(cond), False)

    def outputs(self) -> list[py.stmt]:
        plan = self.plan
        index = {o.name: i for i, o in enumerate(plan.outputs)}
        stmts: list[py.stmt] = []
        for i, o in enumerate(plan.outputs):
            stmts.append(_assign(f"o{i}", _const(0) if o.combine == "count" else
                                 py.List([], py.Load()) if o.combine == "list" else _const(None)))
        for rule in plan.rules:
            body: list[py.stmt] = [self.fire(rule.id)]
            for a in rule.assigns:
                body.extend(self.accumulate(plan.outputs[index[a.output]], f"o{index[a.output]}", a.expr))
            stmts.append(py.If(self.truth(rule.cond), body, []))
        for i, o in enumerate(plan.outputs):
            var = f"o{i}"
            if o.combine == "list":
                continue
            present = py.UnaryOp(py.Not(), _is(_name(var), None))
            if o.combine == "sum":  # a sum beyond 64-bit ints or finite doubles is missing
                fits = self.finite(_name(var)) if o.type.kind == "number" else _call("_in_range", _name(var))
                stmts.append(py.If(present, [_assign(var, fits)], []))
            if o.clamp is not None:
                lo, hi = o.clamp
                clamped = py.IfExp(py.Compare(_name(var), [py.Lt()], [_const(lo)]), _const(lo),
                                   py.IfExp(py.Compare(_name(var), [py.Gt()], [_const(hi)]), _const(hi), _name(var)))
                stmts.append(py.If(py.UnaryOp(py.Not(), _is(_name(var), None)), [_assign(var, clamped)], []))
            if o.combine != "count" and o.default is not None:
                stmts.append(py.If(_is(_name(var), None), [_assign(var, self.value(o.default))], []))
            if o.type.kind == "number":  # -0.0 is written 0.0, as SQL's x + 0.0 gives it
                normal = _assign(var, py.BinOp(_name(var), py.Add(), _const(0.0)))
                stmts.append(normal if o.default is not None else py.If(present, [normal], []))
        return stmts

    def accumulate(self, spec: ir.OutputSpec, var: str, expr: ir.Expr) -> list[py.stmt]:
        mode = spec.combine
        if mode == "count":
            return [py.AugAssign(_name(var, True), py.Add(), _const(1))]
        if mode == "first":
            return [py.If(_is(_name(var), None), [_assign(var, self.ex(expr))], [])]
        t = self.temp()
        new = _name(t)
        if mode == "last":
            update: py.expr = new
        elif mode == "sum":
            update = py.IfExp(_is(_name(var), None), new, py.BinOp(_name(var), py.Add(), new))
        elif mode == "list":
            update = None
        else:
            op = py.Lt() if mode == "min" else py.Gt()
            update = py.IfExp(py.BoolOp(py.Or(), [_is(_name(var), None), py.Compare(new, [op], [_name(var)])]),
                              new, _name(var))
        stmts: list[py.stmt] = [_assign(t, self.ex(expr))]
        if update is None:
            action = [py.Expr(py.Call(py.Attribute(_name(var), "append", py.Load()), [new], []))]
        else:
            action = [_assign(var, update)]
        stmts.append(py.If(py.UnaryOp(py.Not(), _is(new, None)), action, []) if expr.nullable else action[0])
        return stmts

    # ---- expressions
    def value(self, v) -> py.expr:
        if v is None or isinstance(v, (bool, int, float, str)):
            return _const(v)
        return self.bind(v)

    def ex(self, n: ir.Expr) -> py.expr:
        return getattr(self, "x_" + type(n).__name__)(n)

    def guarded(self, args: list[ir.Expr], build) -> py.expr:
        """`None if <a nullable arg> is None … else build(arg codes)`; each arg is evaluated once.

        Expressions are pure and total, so the order in which arguments are evaluated does not matter.
        """
        codes: list[py.expr] = []
        checks: list[py.expr] = []
        for a in args:
            code = self.ex(a)
            if a.nullable:
                t = self.temp()
                checks.append(_is(py.NamedExpr(_name(t, True), code), None))
                code = _name(t)
            codes.append(code)
        if not checks:
            return build(codes)
        test = checks[0] if len(checks) == 1 else py.BoolOp(py.Or(), checks)
        return py.IfExp(test, _const(None), build(codes))

    def x_Const(self, n):
        return self.value(n.value)

    def x_Field(self, n):
        return _name(self.vars[("field", n.name)])

    def x_Var(self, n):
        return _name(self.vars[("let", n.name)])

    def x_Seg(self, n):
        return _name(self.vars[("seg", n.name)])

    def x_Today(self, n):
        return _name("as_of")

    def x_Arith(self, n):
        op = n.op
        if op == "div":
            divisor = self.temp()
            bind = py.NamedExpr(_name(divisor, True), self.ex(n.right))
            zero = py.Compare(_name(divisor), [py.Eq()], [_const(0)])
            test = py.BoolOp(py.Or(), [_is(bind, None), zero]) if n.right.nullable else \
                py.Compare(bind, [py.Eq()], [_const(0)])
            return self.guarded([n.left], lambda c: py.IfExp(test, _const(None), self.finite(
                py.BinOp(c[0], py.Div(), _name(divisor)))))
        if op in _ARITH:  # beyond 64-bit ints or finite doubles: missing
            return self.guarded([n.left, n.right], lambda c: _call("_in_range", py.BinOp(c[0], _ARITH[op](), c[1])))
        if op == "date_diff":
            return self.guarded([n.left, n.right],
                                lambda c: py.Attribute(py.BinOp(c[0], py.Sub(), c[1]), "days", py.Load()))
        sign = (lambda c: c) if op == "date_add" else (lambda c: py.UnaryOp(py.USub(), c))
        return self.guarded([n.left, n.right], lambda c: _call("_date_shift", c[0], sign(c[1])))

    def finite(self, value: py.expr) -> py.expr:
        """A double result, or None when it is infinite or NaN; inline, as it is on the hot path."""
        t = self.temp()
        test = py.Compare(_name("_NINF"), [py.Lt(), py.Lt()], [py.NamedExpr(_name(t, True), value), _name("_INF")])
        return py.IfExp(test, _name(t), _const(None))

    def x_Neg(self, n):
        if isinstance(n.arg, ir.Const):  # -literal always fits
            return self.guarded([n.arg], lambda c: py.UnaryOp(py.USub(), c[0]))
        return self.guarded([n.arg], lambda c: _call("_in_range", py.UnaryOp(py.USub(), c[0])))

    def x_ToNumber(self, n):
        return self.guarded([n.arg], lambda c: py.Call(self.bind(float), [c[0]], []))

    def x_Compare(self, n):
        return self.guarded([n.left, n.right], lambda c: py.Compare(c[0], [_CMP[n.op]()], [c[1]]))

    def x_Not(self, n):
        return self.guarded([n.arg], lambda c: py.UnaryOp(py.Not(), c[0]))

    def _logic(self, n, stop: bool) -> py.expr:
        """Three-valued and (stop=False) / or (stop=True), short-circuiting left to right."""
        if not n.nullable:
            return py.BoolOp(py.Or() if stop else py.And(), [self.ex(a) for a in n.args])
        nullable_temps: list[str] = []
        tests: list[py.expr] = []
        for a in n.args:
            code = self.ex(a)
            if a.nullable:
                t = self.temp()
                nullable_temps.append(t)
                tests.append(_is(py.NamedExpr(_name(t, True), code), stop))
            else:
                tests.append(code if stop else py.UnaryOp(py.Not(), code))
        unknown = py.BoolOp(py.Or(), [_is(_name(t), None) for t in nullable_temps]) if len(nullable_temps) > 1 \
            else _is(_name(nullable_temps[0]), None)
        result: py.expr = py.IfExp(unknown, _const(None), _const(not stop))
        for test in reversed(tests):
            result = py.IfExp(test, _const(stop), result)
        return result

    def x_And(self, n):
        return self._logic(n, False)

    def x_Or(self, n):
        return self._logic(n, True)

    def x_In(self, n):
        if all(isinstance(i, ir.Const) and i.value is not None for i in n.items):
            items = self.bind(frozenset(i.value for i in n.items))
            return self.guarded([n.arg], lambda c: py.Compare(c[0], [py.In()], [items]))
        items = py.Tuple([self.ex(i) for i in n.items], py.Load())
        return self.guarded([n.arg], lambda c: _call("_in_list", c[0], items))

    def x_IsMissing(self, n):
        return _is(self.ex(n.arg), None)

    def x_Coalesce(self, n):
        result = self.ex(n.args[-1])
        for a in reversed(n.args[:-1]):
            t = self.temp()
            result = py.IfExp(py.Compare(py.NamedExpr(_name(t, True), self.ex(a)), [py.IsNot()], [_const(None)]),
                              _name(t), result)
        return result

    def x_Call(self, n):
        fn = REGISTRY[n.fn]
        if n.fn == "matches" and isinstance(n.args[1], ir.Const):
            search = self.bind(compile_regex(n.args[1].value).search)
            return self.guarded([n.args[0]], lambda c: py.Compare(py.Call(search, [c[0]], []), [py.IsNot()],
                                                                  [_const(None)]))
        impl = self.bind(fn.py)
        extra = [_name("as_of")] if fn.needs_as_of else []
        return self.guarded(list(n.args), lambda c: py.Call(impl, c + extra, []))

    def x_Population(self, n):
        rank = py.Attribute(py.Subscript(_name("populations"), _const(n.site), py.Load()), "of", py.Load())
        return self.guarded([n.arg], lambda c: py.Call(rank, [c[0]], []))

    def x_Has(self, n):
        return py.Compare(_const(n.member), [py.In()], [self.ex(n.arg)])


class Compiled:
    """A plan compiled to one Python function; `source` is the generated code, for reading."""

    def __init__(self, plan: ir.Plan, functions, source: str):
        self.plan = plan
        self.run, self.first_pass = functions
        self.source = source


def generate(plan: ir.Plan) -> tuple[py.Module, dict]:
    gen = _Codegen(plan)
    return gen.build(), gen.ns


def compile_plan(plan: ir.Plan) -> Compiled:
    """Generate, compile and return the plan's evaluation function."""
    module, ns = generate(plan)
    code = compile(module, f"<policy {plan.name}>", "exec")
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the module is our own syntax tree; policy text is only constants
    return Compiled(plan, scope["make"](**ns), py.unparse(module))
