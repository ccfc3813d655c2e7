"""Names, types, members, dependency order: ast.Policy -> CheckedPolicy, every diagnostic collected.

Types, nullability and name resolutions go into side tables keyed by node id. A bare name next to
an enum- or segment-typed operand resolves to a member; anywhere else to a field, let or segment.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from . import ast
from .diagnostics import Diagnostic, did_you_mean
from .functions import REGISTRY, SignatureError
from .types import BOOL, DATE, DURATION, INT, LIST_STRING, NUMBER, STRING, Type, assignable, equatable, numeric_join, orderable

COMBINES_NUMERIC = ("sum", "min", "max")


@dataclass
class SegmentInfo:
    name: str
    hit: str
    members: tuple[str, ...]
    labels: dict[str, str | None]
    node: ast.Segment

    @property
    def nullable(self) -> bool:
        """Whether a record can end up with no member: no `otherwise`, or a conflict under unique/any."""
        total = self.hit in ("first", "priority") and any(r.cond is None for r in self.node.rules)
        return not (self.hit == "all" or total)

    @property
    def type(self) -> Type:
        return Type("set" if self.hit == "all" else "segment", self.members, self.name)


@dataclass
class CheckedPolicy:
    """The AST with its side tables; `order` lists lets and segments in evaluation order."""

    policy: ast.Policy
    types: dict[int, Type] = field(default_factory=dict)
    nullable: dict[int, bool] = field(default_factory=dict)
    resolved: dict[int, tuple[str, str]] = field(default_factory=dict)  # Name id -> (kind, name)
    fields: dict[str, ast.Field] = field(default_factory=dict)
    field_types: dict[str, Type] = field(default_factory=dict)
    lets: dict[str, ast.Let] = field(default_factory=dict)
    segments: dict[str, SegmentInfo] = field(default_factory=dict)
    outputs: dict[str, ast.Output] = field(default_factory=dict)
    output_types: dict[str, Type] = field(default_factory=dict)
    order: list[tuple[str, str]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    population_lets: set[str] = field(default_factory=set)  # lets whose value depends on the whole batch
    segment_lets: set[str] = field(default_factory=set)  # lets that read a segment, directly or not

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def check(policy: ast.Policy) -> CheckedPolicy:
    """Check a parsed policy; the result's `diagnostics` holds every finding (errors and warnings)."""
    return _Checker(policy).run()


def type_from_ref(ref: ast.TypeRef) -> Type:
    if ref.name == "enum":
        return Type("enum", tuple(m.name for m in ref.members))
    if ref.name == "list":
        return Type("list", elem=type_from_ref(ref.elem))
    return Type(ref.name)


class _Checker:
    def __init__(self, policy: ast.Policy):
        self.p = policy
        self.c = CheckedPolicy(policy)
        self.visiting: list[tuple[str, str]] = []
        self.done: set[str] = set()
        self.where = "let"  # let | segment | strategy: population functions and outputs depend on it
        self.in_population: ast.Expr | None = None  # the population call whose argument is being typed
        self.failed: set[int] = set()  # nodes whose errors were reported already

    # ---- helpers
    def err(self, code, message, node_or_span, help=None, label=None):
        span = node_or_span.span if isinstance(node_or_span, ast.Node) else node_or_span
        self.c.diagnostics.append(Diagnostic(code, message, span, help, label))

    def set(self, node: ast.Node, t: Type | None, nullable: bool) -> Type | None:
        if t is not None:
            self.c.types[node.id] = t
            self.c.nullable[node.id] = nullable
        return t

    def null(self, *nodes) -> bool:
        return any(self.c.nullable.get(n.id, False) for n in nodes)

    # ---- top level
    def run(self) -> CheckedPolicy:
        p, c = self.p, self.c
        if p.version is None:
            self.err("W402", "this policy has no `version`", p.name,
                     help='add `version "2026.11.1"` after the policy line; decisions record it')
        if len(p.inputs) != 1:
            span = p.inputs[1].name if p.inputs else p.name
            self.err("E109", "a policy needs exactly one `input` block" if p.inputs else "this policy has no `input` block",
                     span, help="declare the record's fields in one `input NAME { … }` block")
        self.names: dict[str, tuple[str, ast.Node]] = {}
        for inp in p.inputs[:1]:
            self.declare_fields(inp)
        for let in p.lets:
            self.declare(let.name, "let", let)
            c.lets[let.name.name] = let
        for seg in p.segments:
            self.declare(seg.name, "segment", seg)
            info = self.segment_members(seg)
            c.segments[seg.name.name] = info
        for out in p.outputs:
            self.declare(out.name, "output", out)
            c.outputs[out.name.name] = out
        for fld in c.fields.values():
            if fld.default is not None:
                self.constant(fld.default, c.field_types[fld.name.name], "default")
        for let in p.lets:
            self.visit("let", let.name.name)
        for seg in p.segments:
            self.visit("segment", seg.name.name)
        for out in p.outputs:
            self.check_output(out)
        for strat in p.strategies:
            self.check_strategy(strat)
        c.diagnostics.sort(key=lambda d: (d.span.start, d.code))
        return c

    def declare(self, ident: ast.Ident, kind: str, node: ast.Node) -> None:
        if ident.name in self.names:
            prev_kind, prev = self.names[ident.name]
            self.err("E102", f"`{ident.name}` is already declared as a {prev_kind}", ident,
                     help="every field, let, segment and output needs its own name")
            return
        self.names[ident.name] = (kind, node)

    def declare_fields(self, inp: ast.Input) -> None:
        keys = [f for f in inp.fields if f.key]
        for extra in keys[1:]:
            self.err("E110", f"`{extra.name.name}` is a second `key` field", extra.name,
                     help=f"only one field identifies a record; `{keys[0].name.name}` already does")
        for fld in inp.fields:
            self.declare(fld.name, "field", fld)
            self.c.fields.setdefault(fld.name.name, fld)
            t = type_from_ref(fld.type)
            self.check_members_unique(fld.type)
            self.c.field_types.setdefault(fld.name.name, t)

    def check_members_unique(self, ref: ast.TypeRef) -> None:
        seen = set()
        for m in ref.members:
            if m.name in seen:
                self.err("E104", f"`{m.name}` is listed twice in this enum", m)
            seen.add(m.name)

    def segment_members(self, seg: ast.Segment) -> SegmentInfo:
        members: list[str] = []
        labels: dict[str, str | None] = {}

        def add(ident: ast.Ident, label: str | None, from_rows: bool):
            if ident.name not in labels:
                if declared is not None and from_rows:
                    self.err("E305", f"`{ident.name}` is not in this table's `members (…)` list", ident,
                             help=f"add it to `members ({', '.join(declared)})` or fix the name"
                                  + (f"; {h}" if (h := did_you_mean(ident.name, declared)) else ""))
                    return
                members.append(ident.name)
                labels[ident.name] = label
            elif label is not None:
                if labels[ident.name] is None:
                    labels[ident.name] = label
                elif labels[ident.name] != label:
                    self.err("E104", f"`{ident.name}` already has the label \"{labels[ident.name]}\"", ident,
                             help="give a member its label once; drop this one or make them equal")

        declared = None
        if seg.table is not None and seg.table.members is not None:
            declared = [m.name for m, _ in seg.table.members]
            for m, label in seg.table.members:
                if m.name in labels:
                    self.err("E104", f"`{m.name}` is listed twice in `members (…)`", m)
                add(m, label, False)
        if seg.table is not None:
            for row in seg.table.rows:
                add(row.member, row.label, True)
        for rule in seg.rules:
            add(rule.member, rule.label, False)
        return SegmentInfo(seg.name.name, seg.hit, tuple(members), labels, seg)

    # ---- lets and segments, in dependency order
    def visit(self, kind: str, name: str, use: ast.Node | None = None) -> None:
        if name in self.done:
            return
        if (kind, name) in self.visiting:
            cycle = self.visiting[self.visiting.index((kind, name)):] + [(kind, name)]
            path = " -> ".join(n for _, n in cycle)
            self.err("E302", f"`{name}` depends on itself: {path}", use or self.names[name][1],
                     help="break the cycle: a let or segment cannot use itself, directly or through others")
            return
        self.visiting.append((kind, name))
        saved, self.where = self.where, kind
        saved_population, self.in_population = self.in_population, None
        if kind == "let":
            let = self.c.lets[name]
            self.expr(let.expr)
            if let.expr.id in self.c.types and self.c.types[let.expr.id].kind == "duration":
                self.err("E201", "a let cannot hold a bare duration", let.expr,
                         help="use durations only to shift or compare dates, e.g. `today - 30 days`")
        else:
            self.check_segment(self.c.segments[name])
        self.where = saved
        self.in_population = saved_population
        self.visiting.pop()
        self.done.add(name)
        self.c.order.append((kind, name))

    def check_segment(self, info: SegmentInfo) -> None:
        seg = info.node
        rules = seg.rules
        for i, rule in enumerate(rules):
            if rule.cond is None:
                if i != len(rules) - 1:
                    self.err("E301", "`otherwise` must be the last rule of the segment", rule,
                             help="rules after `otherwise` can never be chosen; move it to the end")
            else:
                self.condition(rule.cond)
        if seg.table is not None:
            self.check_table(seg.table)

    def check_table(self, table: ast.Table) -> None:
        header_types = [self.expr(h) for h in table.headers]
        for h, t in zip(table.headers, header_types):
            if t is not None and t.kind == "set":
                self.err("E308", f"{t} holds several members and cannot be a table column", h,
                         help=f"use a bool column instead, e.g. `{t.owner} has MEMBER`")
        for row in table.rows:
            if len(row.cells) != len(table.headers):
                self.err("E304", f"this row has {len(row.cells)} cell(s) but the table has {len(table.headers)} column(s)",
                         row, help="write one cell per column, `-` for any value")
                continue
            for cell, t in zip(row.cells, header_types):
                for test in cell.tests:
                    if t is None or t.kind == "set":
                        continue
                    if test.op == "range":
                        for bound in (test.value, test.high):
                            self.compare_to(t, bound, ordering=True)
                    else:
                        self.compare_to(t, test.value, ordering=test.op not in ("=", "!="))

    def compare_to(self, t: Type, node: ast.Expr, ordering: bool) -> None:
        vt = self.value(node, t)
        if vt is None:
            return
        ok = orderable(t, vt) if ordering else equatable(t, vt)
        if not ok:
            self.err("E201", f"cannot compare {t} with {vt}", node, label=f"this is {_a(vt)}",
                     help=_type_help(t, vt))

    # ---- outputs and strategies
    def check_output(self, out: ast.Output) -> None:
        t = type_from_ref(out.type)
        self.check_members_unique(out.type)
        name = out.name.name
        if out.combine == "count":
            if t.kind != "int":
                self.err("E207", f"`combine count` gives an int, but `{name}` is declared {t}", out.type,
                         help="declare it `: int`")
        elif out.combine == "list":
            pass
        elif out.combine in COMBINES_NUMERIC and not (t.numeric or (out.combine != "sum" and t.kind == "date")):
            self.err("E207", f"`combine {out.combine}` needs a number, but `{name}` is {t}", out.type,
                     help="use `combine first` or `combine last` for values that do not add up")
        self.c.output_types[name] = t
        if out.default is not None:
            self.constant(out.default, t, "default")
        elif not out.optional and out.combine not in ("count", "list"):
            self.err("E303", f"`{name}` has no default, so it is missing when no rule sets it", out.name,
                     help=f"declare it `{name} : {t}?`, or give a default with `= …`")
        if out.clamp is not None:
            if not t.numeric:
                self.err("E206", f"`clamp` needs a number, but `{name}` is {t}", out.clamp[0],
                         help="remove the `clamp`, or declare the output as an int or number")
            else:
                for bound in out.clamp:
                    self.constant(bound, NUMBER, "clamp bound")

    def constant(self, node: ast.Expr, t: Type, what: str) -> None:
        if isinstance(node, ast.Unary) and node.op == "-" and isinstance(node.operand, ast.Number):
            node_ok = True
        else:
            node_ok = isinstance(node, (ast.Number, ast.String, ast.DateLit, ast.Bool, ast.Name, ast.Duration))
        if not node_ok:
            self.err("E208", f"a {what} must be a constant value", node, help="write a literal such as 0, 5%, \"text\"")
            return
        if isinstance(node, ast.Name) and not (t.kind == "enum" and node.name in t.members):
            if t.kind == "enum":
                self.unknown_member(node, t)
            else:
                self.err("E208", f"a {what} must be a constant value, not the name `{node.name}`", node,
                         help=f"write a literal such as 0; to copy `{node.name}` into an output, use a strategy "
                              f"rule `when true then … = {node.name}`")
            return
        vt = self.value(node, t)
        if vt is not None and not assignable(vt, t):
            self.err("E203", f"this {what} is {_a(vt)}, but it should be {_a(t)}", node, help=_type_help(t, vt))

    def check_strategy(self, strat: ast.Strategy) -> None:
        self.where = "strategy"
        for rule in strat.rules:
            self.condition(rule.cond)
            self.assigns(rule.assigns)
        if strat.by is not None:
            info = self.c.segments.get(strat.by.name)
            if info is None:
                self.unknown_name(strat.by, kinds=("segment",))
            elif info.hit == "all":
                self.err("E308", f"`strategy by` needs a segment with one member per record; `{info.name}` is `all`",
                         strat.by, help=f"write `when {info.name} has MEMBER then …` rules instead")
            else:
                seen = set()
                for row in strat.by_rows:
                    if row.member.name not in info.members:
                        hint = did_you_mean(row.member.name, info.members)
                        self.err("E306", f"`{row.member.name}` is not a member of segment `{info.name}`", row.member,
                                 help=hint or f"members are: {', '.join(info.members)}")
                    seen.add(row.member.name)
                    self.assigns(row.assigns)
                missing = [m for m in info.members if m not in seen]
                if missing:
                    self.err("W401", f"no row for {', '.join(f'`{m}`' for m in missing)} of segment `{info.name}`",
                             strat.by, help="those records keep the outputs' defaults; add rows if that is not intended")
        if strat.table is not None:
            table = strat.table
            targets = []
            for ident in table.targets:
                if ident.name not in self.c.outputs:
                    self.unknown_output(ident)
                    targets.append(None)
                else:
                    targets.append(self.c.output_types.get(ident.name))
            self.check_table(table)
            for row in table.rows:
                if len(row.results) != len(targets):
                    self.err("E304", f"this row gives {len(row.results)} value(s) for {len(targets)} output(s)", row,
                             help="give one value per output named after `->`")
                    continue
                for value, t in zip(row.results, targets):
                    if t is not None:
                        self.assign_value(value, t)

    def assigns(self, assigns) -> None:
        seen = set()
        for a in assigns:
            if a.target.name not in self.c.outputs:
                self.unknown_output(a.target)
                self.expr(a.value)
                continue
            if a.target.name in seen:
                self.err("E102", f"`{a.target.name}` is set twice in this rule", a.target)
            seen.add(a.target.name)
            self.assign_value(a.value, self.c.output_types[a.target.name])

    def assign_value(self, value: ast.Expr, t: Type) -> None:
        vt = self.value(value, t)
        if vt is not None and not assignable(vt, t):
            self.err("E203", f"this value is {_a(vt)}, but the output is {_a(t)}", value, help=_type_help(t, vt))

    def unknown_output(self, ident: ast.Ident) -> None:
        hint = did_you_mean(ident.name, self.c.outputs)
        self.err("E105", f"`{ident.name}` is not a declared output", ident,
                 help=hint or f"declare it first: `output {ident.name} : TYPE = DEFAULT`")

    # ---- expressions
    def condition(self, node: ast.Expr) -> None:
        t = self.expr(node)
        if t is not None and t.kind != "bool":
            self.err("E202", f"a condition must be true or false, but this is {_a(t)}", node,
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
                self.err("E201", f"`not` needs true or false, but this is {_a(t)}", n.operand)
                return None
            return self.set(n, BOOL, self.null(n.operand))
        if not (t.numeric or t.kind == "duration"):
            self.err("E201", f"cannot negate {_a(t)}", n.operand)
            return None
        return self.set(n, t, self.null(n.operand))

    def e_Binary(self, n):
        op = n.op
        if op in ("and", "or"):
            lt, rt = self.expr(n.left), self.expr(n.right)
            for side, t in ((n.left, lt), (n.right, rt)):
                if t is not None and t.kind != "bool":
                    self.err("E201", f"`{op}` needs true or false on both sides, but this is {_a(t)}", side,
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
                self.err("E201", f"`??` gives {_a(lt)} on the left but {_a(rt)} on the right", n.right,
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
                self.err("E201", f"cannot {verb} {lt} with {rt}", n.right, label=f"this is {_a(rt)}",
                         help=_type_help(lt, rt))
                return None
            return self.set(n, BOOL, nullable)
        result = self.arith(op, lt, rt, n)
        # division by zero, and a date shifted off the calendar, give missing
        return self.set(n, result, nullable or op == "/" or result.kind == "date") if result else None

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
                self.err("E201", f"cannot compare {t} with {it}", item, label=f"this is {_a(it)}", help=_type_help(t, it))
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
                self.err("E201", f"cannot order {t} with {bt}", b, label=f"this is {_a(bt)}", help=_type_help(t, bt))
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
            self.err("E307", f"`has` needs an `all` segment, but this is {_a(t)}", n.operand,
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
            nullable = self.null(*args)
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


def _a(t: Type) -> str:
    text = str(t)
    if t.kind in ("enum", "segment", "set", "list"):
        return f"a value of {text}" if t.kind != "list" else f"a {text}"
    return ("an " if text[0] in "aeiou" else "a ") + text


def _type_help(expected: Type, got: Type) -> str | None:
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
