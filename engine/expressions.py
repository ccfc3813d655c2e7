"""Typing expressions: each node's type and nullability into the side tables, bare names resolved.

A bare name next to an enum- or segment-typed operand resolves to its member; anywhere else to a
field, let or segment. The declaration-level checks (checker.py) use this through `Expressions`.
"""
from __future__ import annotations

from . import ast
from .diagnostics import did_you_mean
from .functions import REGISTRY, SignatureError
from .types import BOOL, DATE, DURATION, INT, NUMBER, STRING, Type, assignable, equatable, numeric_join, orderable


class Expressions:
    """Expression typing for _Checker (which provides err, set, null, names, visit and the CheckedPolicy c)."""

    def condition(self, node: ast.Expr) -> None:
        t = self.expr(node)
        if t is not None and t.kind != "bool":
            self.err("E202", f"a condition must be true or false, but this is {a_type(t)}", node,
                     help="compare it with something, e.g. `x > 0` or `x is present`")

    def value(self, node: ast.Expr, expected: Type | None) -> Type | None:
        """Type a node where a value of `expected` type is wanted: a bare member name resolves to it."""
        if isinstance(node, ast.Name) and expected is not None and expected.enumlike:
            if node.name in expected.members:
                self.c.resolved[node.id] = ("member", node.name)
                return self.set(node, Type(expected.kind if expected.kind != "set" else "segment",
                                           expected.members, expected.owner), False)
            if node.name not in self.names or self.names[node.name][0] == "output":
                self.unknown_member(node, expected)
                return None
        if isinstance(node, ast.String) and expected is not None and expected.kind in ("enum", "segment"):
            if node.value not in expected.members:
                self.unknown_member(node, expected, node.value)
                return None
            return self.set(node, expected, False)
        return self.expr(node)

    def unknown_member(self, node: ast.Expr, t: Type, name: str | None = None) -> None:
        name = name or node.name
        owner = f"segment `{t.owner}`" if t.owner else str(t)
        hint = did_you_mean(name, t.members)
        self.err("E103", f"`{name}` is not a member of {owner}", node,
                 help=hint or f"members are: {', '.join(t.members)}")

    def unknown_name(self, node, kinds=None) -> None:
        name = node.name
        if kinds is None:
            candidates = [n for n, (k, _) in self.names.items() if k != "output"]
        else:
            candidates = [n for n, (k, _) in self.names.items() if k in kinds]
        hint = did_you_mean(name, candidates)
        what = "segment" if kinds == ("segment",) else "name"
        self.err("E101", f"unknown {what} `{name}`", node,
                 help=hint or ("declare it as an input field or a `let`" if kinds is None else "declare the segment first"))

    def context_type(self, node: ast.Expr) -> Type | None:
        """The type of a node when it can set the context for a bare member name next to it."""
        if isinstance(node, ast.Name):
            entry = self.names.get(node.name)
            if entry is None or entry[0] == "output":
                return None
        return self.expr(node)

    def expr(self, node: ast.Expr) -> Type | None:
        """The node's type, typing it once: a node that failed is not reported again."""
        if node.id in self.c.types:
            return self.c.types[node.id]
        if node.id in self.failed:
            return None
        t = getattr(self, "e_" + type(node).__name__)(node)
        if t is None:
            self.failed.add(node.id)
        return t

    def e_Number(self, n):
        return self.set(n, INT if isinstance(n.value, int) else NUMBER, False)

    def e_String(self, n):
        return self.set(n, STRING, False)

    def e_DateLit(self, n):
        return self.set(n, DATE, False)

    def e_Duration(self, n):
        return self.set(n, DURATION, False)

    def e_Bool(self, n):
        return self.set(n, BOOL, False)

    def e_Today(self, n):
        return self.set(n, DATE, False)

    def e_Name(self, n):
        entry = self.names.get(n.name)
        if entry is None:
            self.unknown_name(n)
            return None
        kind, decl = entry
        if kind == "output":
            self.err("E106", f"`{n.name}` is an output; conditions and values cannot read outputs", n,
                     help="compute it with a `let` and use the let in both places")
            return None
        self.c.resolved[n.id] = (kind, n.name)
        if kind == "field":
            fld = self.c.fields[n.name]
            return self.set(n, self.c.field_types[n.name], fld.optional and fld.default is None)
        if kind == "let":
            self.visit("let", n.name, n)
            if n.name in self.c.population_lets:
                self.uses_population(n, f"let `{n.name}`, which uses a population function")
            if n.name in self.c.segment_lets:
                self.uses_segment(n, f"let `{n.name}`, which reads a segment")
            let = self.c.lets[n.name]
            t = self.c.types.get(let.expr.id)
            return self.set(n, t, self.c.nullable.get(let.expr.id, False)) if t else None
        info = self.c.segments[n.name]
        self.visit("segment", n.name, n)
        self.uses_segment(n, f"segment `{n.name}`")
        return self.set(n, info.type, info.nullable)

    def e_Unary(self, n):
        t = self.expr(n.operand)
        if t is None:
            return None
        if n.op == "not":
            if t.kind != "bool":
                self.err("E201", f"`not` needs true or false, but this is {a_type(t)}", n.operand)
                return None
            return self.set(n, BOOL, self.null(n.operand))
        if not (t.numeric or t.kind == "duration"):
            self.err("E201", f"cannot negate {a_type(t)}", n.operand)
            return None
        # -x of the smallest int leaves the 64-bit range: missing
        overflows = t.kind == "int" and not isinstance(n.operand, ast.Number)
        return self.set(n, t, self.null(n.operand) or overflows)

    def e_Binary(self, n):
        op = n.op
        if op in ("and", "or"):
            lt, rt = self.expr(n.left), self.expr(n.right)
            for side, t in ((n.left, lt), (n.right, rt)):
                if t is not None and t.kind != "bool":
                    self.err("E201", f"`{op}` needs true or false on both sides, but this is {a_type(t)}", side,
                             help="compare it with something, e.g. `x > 0`")
                    return None
            return self.set(n, BOOL, self.null(n.left, n.right)) if lt and rt else None
        if op in REGISTRY:
            return self.call_types(n, op, [n.left, n.right], n)
        if op == "??":
            lt = self.context_type(n.left) if isinstance(n.left, ast.Name) else self.expr(n.left)
            if lt is None and isinstance(n.left, ast.Name):
                self.expr(n.left)
                self.expr(n.right)
                return None
            rt = self.value(n.right, lt)
            if lt is None or rt is None:
                return None
            target = numeric_join(lt, rt) if lt.numeric and rt.numeric else lt
            if not assignable(rt, target):
                self.err("E201", f"`??` gives {a_type(lt)} on the left but {a_type(rt)} on the right", n.right,
                         help="both sides of `??` must have the same type")
                return None
            return self.set(n, target, self.null(n.right))
        lt, rt = self.operands(n.left, n.right)
        if lt is None or rt is None:
            return None
        nullable = self.null(n.left, n.right)
        if op in ("=", "!=", "<", "<=", ">", ">="):
            ok = equatable(lt, rt) if op in ("=", "!=") else orderable(lt, rt)
            if not ok:
                verb = "compare" if op in ("=", "!=") else "order"
                self.err("E201", f"cannot {verb} {lt} with {rt}", n.right, label=f"this is {a_type(rt)}",
                         help=type_help(lt, rt))
                return None
            return self.set(n, BOOL, nullable)
        result = self.arith(op, lt, rt, n)
        # division by zero, a date shifted off the calendar, and a result beyond 64-bit ints or
        # finite doubles give missing
        overflows = result is not None and result.numeric
        return self.set(n, result, nullable or op == "/" or result.kind == "date" or overflows) if result else None

    def arith(self, op: str, lt: Type, rt: Type, n: ast.Binary) -> Type | None:
        if lt.numeric and rt.numeric:
            return NUMBER if op == "/" else numeric_join(lt, rt)
        if op in ("+", "-") and lt.kind == "date" and rt.kind == "duration":
            return DATE
        if op == "+" and lt.kind == "duration" and rt.kind == "date":
            return DATE
        if op == "-" and lt.kind == rt.kind == "date":
            return INT
        if op in ("+", "-") and lt.kind == rt.kind == "duration":
            return DURATION
        help = None
        if lt.kind == "date" and rt.numeric:
            help = f"shift a date by a duration, e.g. `{op} 30 days`"
        elif "string" in (lt.kind, rt.kind) and op == "+":
            help = "strings cannot be added; compare them or test them with `contains`"
        self.err("E201", f"cannot use `{op}` on {lt} and {rt}", n, help=help)
        return None

    def operands(self, left: ast.Expr, right: ast.Expr) -> tuple[Type | None, Type | None]:
        """Type both sides of a comparison, resolving a bare name on one side against the other's type."""
        if isinstance(right, ast.Name) or isinstance(right, ast.String):
            lt = self.context_type(left)
            if lt is not None and lt.enumlike:
                return lt, self.value(right, lt)
            if lt is None and isinstance(left, ast.Name):
                lt = self.expr(left)
        if isinstance(left, (ast.Name, ast.String)):
            rt = self.context_type(right)
            if rt is not None and rt.enumlike:
                return self.value(left, rt), rt
        return self.expr(left), self.expr(right)

    def e_InList(self, n):
        t = self.context_type(n.operand) if isinstance(n.operand, ast.Name) else self.expr(n.operand)
        if t is None:
            self.expr(n.operand)
            for item in n.items:
                self.expr(item)
            return None
        ok = True
        for item in n.items:
            it = self.value(item, t)
            if it is not None and not equatable(t, it):
                self.err("E201", f"cannot compare {t} with {it}", item, label=f"this is {a_type(it)}", help=type_help(t, it))
                ok = False
            ok = ok and it is not None
        return self.set(n, BOOL, self.null(n.operand, *n.items)) if ok else None

    def e_Between(self, n):
        t = self.expr(n.operand)
        bounds = [self.expr(b) for b in (n.low, n.high)]
        if t is None or None in bounds:
            return None
        for b, bt in zip((n.low, n.high), bounds):
            if not orderable(t, bt):
                self.err("E201", f"cannot order {t} with {bt}", b, label=f"this is {a_type(bt)}", help=type_help(t, bt))
                return None
        return self.set(n, BOOL, self.null(n.operand, n.low, n.high))

    def e_IsMissing(self, n):
        t = self.expr(n.operand)
        return self.set(n, BOOL, False) if t else None

    def e_Has(self, n):
        t = self.expr(n.operand)
        if t is None:
            return None
        if t.kind == "list" and t.elem == STRING:
            self.err("E307", "use `contains` to look for an item in a list", n,
                     help=f"write `… contains \"{n.member.name}\"`")
            return None
        if t.kind != "set":
            self.err("E307", f"`has` needs an `all` segment, but this is {a_type(t)}", n.operand,
                     help="for one-member segments write `segment is MEMBER`")
            return None
        if n.member.name not in t.members:
            self.unknown_member(n.member, t)
            return None
        self.c.resolved[n.member.id] = ("member", n.member.name)
        return self.set(n, BOOL, False)

    def e_Call(self, n):
        return self.call_types(n, n.func.name, list(n.args), n.func)

    def call_types(self, n: ast.Expr, fname: str, args: list[ast.Expr], where: ast.Node) -> Type | None:
        fn = REGISTRY.get(fname)
        if fn is None:
            self.err("E107", f"unknown function `{fname}`", where,
                     help=did_you_mean(fname, REGISTRY) or f"functions are: {', '.join(sorted(REGISTRY))}")
            for a in args:
                self.expr(a)
            return None
        lo, hi = fn.arity
        if len(args) < lo or (hi is not None and len(args) > hi):
            count = str(lo) if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
            self.err("E107", f"`{fname}` takes {count} argument(s), not {len(args)}", n, help=f"use it as {fn.signature}")
            for a in args:
                self.expr(a)
            return None
        if fn.population:
            return self.population_call(n, fn, args)
        types = [self.expr(a) for a in args]
        if None in types:
            return None
        for i in fn.constant_args:
            if not isinstance(args[i], ast.String):
                self.err("E204", f"`{fname}` needs a string literal here", args[i], help=f"use it as {fn.signature}")
                return None
            problem = fn.validate(i, args[i].value) if fn.validate else None
            if problem:
                self.err("E205", problem, args[i], help="RE2 syntax, as in DuckDB: e.g. \"^1[3-9]\\\\d{9}$\"")
                return None
        try:
            result = fn.result(types)
        except SignatureError as exc:
            at = args[exc.index] if exc.index is not None else n
            self.err("E204", f"`{fname}` {exc}", at, help=f"use it as {fn.signature}")
            return None
        if fn.nulls == "coalesce":
            nullable = all(self.c.nullable.get(a.id, False) for a in args)
        else:
            nullable = self.null(*args) or (fname == "abs" and result.kind == "int")  # abs of the smallest int
        return self.set(n, result, nullable)


    def population_call(self, n: ast.Expr, fn, args: list[ast.Expr]) -> Type | None:
        """quintile / ntile / percent_rank: only in a let, never nested, ranking a value of each record."""
        if self.where != "let":
            self.err("E108", f"`{fn.name}` ranks a value across the batch, so it may only be used in a `let`", n,
                     help=f"write `let rank = {fn.name}(…)` and use `rank` here")
            return None
        self.uses_population(n, f"`{fn.name}`")
        if fn.name == "ntile" and not (isinstance(args[0], ast.Number) and isinstance(args[0].value, int)
                                       and args[0].value >= 1):
            self.err("E204", "`ntile` needs a whole number of tiles, written as a number", args[0],
                     help="e.g. `ntile(10, x)` for deciles")
            return None
        saved, self.in_population = self.in_population, n
        types = [self.expr(a) for a in args]
        self.in_population = saved
        if None in types:
            return None
        try:
            result = fn.result(types)
        except SignatureError as exc:
            self.err("E204", f"`{fn.name}` {exc}", args[exc.index] if exc.index is not None else n,
                     help=f"use it as {fn.signature}")
            return None
        return self.set(n, result, True)

    def uses_segment(self, node: ast.Node, what: str) -> None:
        """Note that the let being checked reads a segment; a population argument may not."""
        if self.in_population is not None:
            self.err("E108", f"the value ranked by a population function cannot use {what}", node,
                     help="rank a field or a let computed from fields only")
        if self.visiting and self.visiting[-1][0] == "let":
            self.c.segment_lets.add(self.visiting[-1][1])

    def uses_population(self, node: ast.Node, what: str) -> None:
        """Note that the let being checked depends on the batch; inside a population argument that is an error."""
        if self.in_population is not None:
            self.err("E108", f"population functions cannot be nested: this uses {what}", node,
                     help="rank a field or a let computed from fields, not another ranking")
        if self.visiting and self.visiting[-1][0] == "let":
            self.c.population_lets.add(self.visiting[-1][1])


def a_type(t: Type) -> str:
    text = str(t)
    if t.kind in ("enum", "segment", "set", "list"):
        return f"a value of {text}" if t.kind != "list" else f"a {text}"
    return ("an " if text[0] in "aeiou" else "a ") + text


def type_help(expected: Type, got: Type) -> str | None:
    if expected.numeric and got.kind == "string":
        return "write the number without quotes, e.g. 2万 or 20_000"
    if expected.kind == "date" and got.kind == "string":
        return "write the date without quotes: 2026-11-22"
    if expected.kind == "string" and (got.numeric or got.kind == "date"):
        return "quote the text: \"…\""
    if expected.kind == "bool":
        return "use true or false"
    if expected.kind in ("enum", "segment") and got.kind == "string":
        return f"use one of the members: {', '.join(expected.members)}"
    return None
