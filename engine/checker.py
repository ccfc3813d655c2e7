"""Names, types, members, dependency order: ast.Policy -> CheckedPolicy, every diagnostic collected.

Types, nullability and name resolutions go into side tables keyed by node id; expressions are
typed by engine/expressions.py, declarations (fields, segments, tables, outputs, strategies) here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import ast
from .diagnostics import Diagnostic, did_you_mean
from .expressions import Expressions, a_type, type_help
from .types import Type, assignable, equatable, orderable

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


class _Checker(Expressions):
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
            self.err("E201", f"cannot compare {t} with {vt}", node, label=f"this is {a_type(vt)}",
                     help=type_help(t, vt))

    # ---- outputs and strategies
    def check_output(self, out: ast.Output) -> None:
        t = type_from_ref(out.type)
        self.check_members_unique(out.type)
        name = out.name.name
        if out.combine == "count":
            if t.kind != "int":
                self.err("E207", f"`combine count` gives an int, but `{name}` is declared {t}", out.type,
                         help="declare it `: int`")
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
                    self.constant(bound, t, "clamp bound")

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
            self.err("E203", f"this {what} is {a_type(vt)}, but it should be {a_type(t)}", node, help=type_help(t, vt))

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
            self.err("E203", f"this value is {a_type(vt)}, but the output is {a_type(t)}", value, help=type_help(t, vt))

    def unknown_output(self, ident: ast.Ident) -> None:
        hint = did_you_mean(ident.name, self.c.outputs)
        self.err("E105", f"`{ident.name}` is not a declared output", ident,
                 help=hint or f"declare it first: `output {ident.name} : TYPE = DEFAULT`")

    # ---- expressions
