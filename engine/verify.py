"""`rules check` beyond types: what a policy can and cannot do, proved with the z3 SMT solver.

Findings: rules that can never fire (and the earlier rules that shadow them), overlapping rules
in `unique` segments, `any` rows that disagree, records no rule takes, outputs no rule can set,
lets and outputs never used. A finding that something can happen comes with a witness record,
and the reference interpreter must agree on that record before it is shown; a question the
encoding cannot settle (regex, population functions, lists, a question beyond the solver's work
limit, a witness the interpreter does not confirm) is reported as not analysed, never guessed.
The limits count the solver's own deterministic work units (z3's rlimit), not seconds, so the
same policy gets the same findings on a fast machine and a busy one.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
import time

import z3

from . import ir
from .backends.interp import Interpreter
from .checker import CheckedPolicy
from .io import jsonable
from .diagnostics import Diagnostic
from .population import fit
from .records import RecordError
from .smt import Encoder, Term
from .source import Span

QUERY_WORK = 1_000_000  # z3 work units for one question (about 0.2 s here); beyond it, not analysed
POLICY_WORK = 5_000_000  # for all questions about one policy; what is left after it is not analysed
BUDGET_S = 10.0  # wall-clock backstop for very large policies, whose encoding itself takes time
MAX_PAIRS = 5  # overlap findings shown per segment


def _work(solver: z3.Solver) -> int:
    """The solver's cumulative work units (z3 counts them across questions)."""
    stats = solver.statistics()
    return stats.get_key_value("rlimit count") if "rlimit count" in stats.keys() else 0


# z3's Python API shares one context across threads and is not safe to use from two at once; the
# service checks files (its watcher) and workbench edits (request threads) at the same time
_Z3 = threading.Lock()


def verify(checked: CheckedPolicy, plan: ir.Plan) -> list[Diagnostic]:
    """Every verification finding for a policy that checked without errors, in source order."""
    with _Z3:
        found = _Verifier(checked, plan).run()
    return sorted(found, key=lambda d: (d.span.start, d.code))


class _Verifier:
    def __init__(self, checked: CheckedPolicy, plan: ir.Plan):
        self.c = checked
        self.plan = plan
        self.enc = Encoder(plan)
        self.solver = z3.Solver()
        self.solver.add(*self.enc.domain)
        if not _reads(plan, _all_exprs(plan))[1]:  # the as-of date plays no part: witnesses use today's
            self.solver.add(self.enc.today == dt.date.today().toordinal())
        self.deadline = time.monotonic() + BUDGET_S
        self.work = 0  # z3 work units spent so far
        self.out: list[Diagnostic] = []
        self.spans = self._rule_spans()
        self.never: set[str] = set()  # rules proved never to fire
        self.noted: set[str] = set()  # rules already reported as not analysed

    def run(self) -> list[Diagnostic]:
        self.unused()
        for step in self.plan.segments:
            self.segment(step)
        for rule in self.plan.rules:
            self.strategy_rule(rule)
        self.outputs()
        return self.out

    # ---- where each rule is written
    def _rule_spans(self) -> dict[str, Span]:
        """Rule id -> the span to point at, in the same order lower.py gives rules their ids."""
        spans: dict[str, Span] = {}
        for step in self.plan.segments:
            seg = self.c.segments[step.name].node
            nodes = [r.member for r in seg.rules] + ([row for row in seg.table.rows] if seg.table else [])
            spans.update((r.id, n.span) for r, n in zip(step.rules, nodes))
        by_strategy: dict[str, list[Span]] = {}
        for strat in self.c.policy.strategies:
            nodes = [r.cond for r in strat.rules] + [row.member for row in strat.by_rows]
            nodes += list(strat.table.rows) if strat.table else []
            by_strategy[strat.name.name] = [n.span for n in nodes]
        for rule in self.plan.rules:
            spans[rule.id] = by_strategy[rule.strategy].pop(0)
        return spans

    # ---- solver questions
    def ask(self, *facts: z3.BoolRef, assumptions: tuple = ()) -> z3.CheckSatResult:
        left = POLICY_WORK - self.work
        if left <= 0 or time.monotonic() > self.deadline:
            return z3.unknown
        self.solver.push()
        try:
            self.solver.set("rlimit", min(QUERY_WORK, left))
            self.solver.add(*facts)
            start = _work(self.solver)
            result = self.solver.check(*assumptions)
            self.model = self.solver.model() if result == z3.sat else None
            self.core = self.solver.unsat_core() if result == z3.unsat and assumptions else []
            self.work += _work(self.solver) - start
            return result
        finally:
            self.solver.pop()

    def witness(self) -> tuple[dict, dt.date, dict] | None:
        """The record of the last model, its as-of date and the interpreter's view of it: rule id ->
        whether its condition held, and segment -> member. None if the interpreter rejects it."""
        record, day = self.enc.record(self.model)
        interp = Interpreter(self.plan)
        trace: dict = {}
        try:
            populations = fit(self.plan, [interp.first_pass(record, day)]) if self.plan.sites else None
            decision = interp.run(record, day, None, populations, trace=trace)
        except (RecordError, ValueError, OverflowError):
            return None
        held = {r.id: trace.get(id(r.cond)) is True for s in self.plan.segments for r in s.rules if r.cond is not None}
        held.update((r.id, trace.get(id(r.cond)) is True) for r in self.plan.rules)
        return record, day, {"held": held, "segments": decision.segments}

    # ---- findings
    def add(self, code: str, message: str, span: Span, help: str | None = None,
            seen: tuple[dict, dt.date, dict] | None = None) -> None:
        witness = None if seen is None else {"record": jsonable(seen[0]), "as_of": seen[1].isoformat()}
        self.out.append(Diagnostic(code, message, span, help, witness=witness))

    def not_analysed(self, rule_id: str, terms: list[Term], what: str) -> None:
        if rule_id in self.noted:
            return
        self.noted.add(rule_id)
        parts = sorted(set().union(*(t.opaque for t in terms if t is not None)))
        why = (f"it uses {', '.join(parts)}, which the analysis does not model" if parts
               else "the solver could not settle it within its work limit")
        self.add("N507", f"{what} was not analysed: {why}", self.spans[rule_id],
                 help="cases in the .cases.yaml file are the way to cover it")

    def segment(self, step: ir.SegmentStep) -> None:
        rules = [(r, self.enc.rule(r)) for r in step.rules]
        conds = [(r, t) for r, t in rules if t is not None]
        for i, (rule, term) in enumerate(rules):
            earlier = conds[:i] if step.hit == "first" else []
            if term is None:
                self.otherwise(step, rule, conds)
            else:
                self.can_fire(step, rule, term, earlier)
        if step.hit in ("unique", "any"):
            self.overlaps(step, conds)
        if step.hit != "all" and all(t is not None for _, t in rules):
            self.gap(step, conds)

    def can_fire(self, step: ir.SegmentStep, rule: ir.Rule, term: Term, earlier: list) -> None:
        marks = [z3.Bool(f"earlier_{i}") for i in range(len(earlier))]
        facts = [term.holds()] + [z3.Implies(m, z3.Not(t.holds())) for m, (_, t) in zip(marks, earlier)]
        result = self.ask(*facts, assumptions=tuple(marks))
        if result == z3.unknown:
            self.not_analysed(rule.id, [term], f"whether rule {rule.id} can fire")
        elif result == z3.unsat:
            core = [earlier[marks.index(m)][0] for m in marks if any(z3.eq(m, c) for c in self.core)]
            core = self.minimal(term, earlier, core)
            self.never.add(rule.id)
            if core:
                names = ", ".join(f"{r.id} (line {r.line})" for r in core)
                self.add("W501", f"rule {rule.id} can never fire: every record it takes is taken first by {names}",
                         self.spans[rule.id], help="move it above the rule(s) that shadow it, or remove it")
            else:
                self.add("W501", f"rule {rule.id} can never fire: no record satisfies its condition",
                         self.spans[rule.id], help="check the comparisons and constants; the condition contradicts itself")

    def minimal(self, term: Term, earlier: list, core: list[ir.Rule]) -> list[ir.Rule]:
        """Drop rules from an unsat core while the rest still shadow the rule (for a shorter message)."""
        terms = {r.id: t for r, t in earlier}
        keep = list(core)
        for r in list(core):
            if len(keep) <= 1 and keep:
                break
            trial = [k for k in keep if k is not r]
            if self.ask(term.holds(), *[z3.Not(terms[k.id].holds()) for k in trial]) == z3.unsat:
                keep = trial
        return keep

    def otherwise(self, step: ir.SegmentStep, rule: ir.Rule, conds: list) -> None:
        result = self.ask(*[z3.Not(t.holds()) for _, t in conds])
        if result == z3.unsat:
            self.never.add(rule.id)
            self.add("W501", f"`otherwise` in segment `{step.name}` is never reached: the rules above take every record",
                     self.spans[rule.id], help="remove it, or keep it as a safeguard for later edits")
        elif result == z3.unknown:
            self.not_analysed(rule.id, [t for _, t in conds], f"whether `otherwise` in `{step.name}` is reached")

    def overlaps(self, step: ir.SegmentStep, conds: list) -> None:
        shown = 0
        for i, (a, ta) in enumerate(conds):
            for b, tb in conds[i + 1:]:
                if shown >= MAX_PAIRS or (step.hit == "any" and a.member == b.member):
                    continue
                result = self.ask(ta.holds(), tb.holds())
                if result == z3.unsat:
                    continue
                seen = self.witness() if result == z3.sat else None
                if seen is None or not (seen[2]["held"][a.id] and seen[2]["held"][b.id]):
                    self.not_analysed(b.id, [ta, tb], f"whether rules {a.id} and {b.id} overlap")
                    continue
                shown += 1
                record, day, _ = seen
                if step.hit == "unique":
                    self.add("E502", f"segment `{step.name}` is unique, but rules {a.id} (line {a.line}) and {b.id} "
                             f"both hold for some records", self.spans[b.id],
                             help=f"for example {self.show(record, day, [a, b])}; make the conditions exclusive", seen=seen)
                else:
                    self.add("E503", f"rows {a.id} (line {a.line}) and {b.id} of `any` segment `{step.name}` both hold "
                             f"for some records but give different members", self.spans[b.id],
                             help=f"for example {self.show(record, day, [a, b])}; make the rows exclusive", seen=seen)

    def gap(self, step: ir.SegmentStep, conds: list) -> None:
        if not conds:
            return
        result = self.ask(*[z3.Not(t.holds()) for _, t in conds])
        if result == z3.unsat:
            return
        seg_span = self.c.segments[step.name].node.name.span
        seen = self.witness() if result == z3.sat else None
        if seen is None or any(seen[2]["held"][r.id] for r, _ in conds):
            parts = sorted(set().union(*(t.opaque for _, t in conds)))
            why = f"it uses {', '.join(parts)}, which the analysis does not model" if parts else "the solver could not settle it within its work limit"
            self.add("N507", f"whether every record gets a `{step.name}` was not analysed: {why}", seg_span,
                     help="cases in the .cases.yaml file are the way to cover it")
            return
        record, day, _ = seen
        self.add("W504", f"some records get no `{step.name}`: none of its rules takes them", seg_span,
                 help=f"for example {self.show(record, day, [r for r, _ in conds])}; "
                      f"add an `otherwise` rule if every record should get one", seen=seen)

    def strategy_rule(self, rule: ir.StrategyRule) -> None:
        term = self.enc.expr(rule.cond)
        result = self.ask(term.holds())
        if result == z3.unsat:
            self.never.add(rule.id)
            self.add("W501", f"strategy rule {rule.id} can never fire: no record satisfies its condition",
                     self.spans[rule.id], help="check its condition against the segments and fields it reads")
        elif result == z3.unknown:
            self.not_analysed(rule.id, [term], f"whether strategy rule {rule.id} can fire")

    def outputs(self) -> None:
        for out in self.c.policy.outputs:
            name = out.name.name
            setters = [r for r in self.plan.rules if any(a.output == name for a in r.assigns)]
            if not setters:
                self.add("W506", f"output `{name}` is never set by any strategy", out.name.span,
                         help="set it in a strategy, or remove it" + ("" if out.default is None
                                                                      else "; every record gets its default"))
            elif all(r.id in self.never for r in setters):
                self.add("W505", f"no rule can set output `{name}`: every rule that sets it can never fire",
                         out.name.span, help="see the warnings on those rules")

    def unused(self) -> None:
        read = {name for kind, name in self.c.resolved.values() if kind == "let"}
        for let in self.c.policy.lets:
            if let.name.name not in read:
                self.add("W506", f"let `{let.name.name}` is never used", let.name.span,
                         help="use it in a rule, or remove it")

    # ---- witnesses
    def show(self, record: dict, day: dt.date, rules: list) -> str:
        """The witness as an analyst reads it: the fields the rules read, and the as-of date if they use it."""
        names, today = _reads(self.plan, [r.cond for r in rules if r.cond is not None])
        shown = {f.name: record.get(f.name) for f in self.plan.fields if f.name in names}
        text = "{" + ", ".join(f"{k}: {_value(v)}" for k, v in shown.items()) + "}"
        return text + (f" as of {day.isoformat()}" if today else "")


def _value(v) -> str:
    if v is None:
        return "missing"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _reads(plan: ir.Plan, exprs: list[ir.Expr]) -> tuple[set[str], bool]:
    """Fields the expressions read (through lets and segments) and whether they use the as-of date."""
    lets = {s.name: s for s in plan.steps if isinstance(s, ir.LetStep)}
    segs = {s.name: s for s in plan.segments}
    names: set[str] = set()
    today = False
    seen: set[str] = set()
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Field):
            names.add(node.name)
        elif isinstance(node, ir.Today):
            today = True
        elif isinstance(node, ir.Call) and node.fn in ("days_since", "months_since"):
            today = True
        if isinstance(node, ir.Var) and node.name not in seen:
            seen.add(node.name)
            stack.append(lets[node.name].expr)
        elif isinstance(node, ir.Seg) and node.name not in seen:
            seen.add(node.name)
            stack.extend(r.cond for r in segs[node.name].rules if r.cond is not None)
        for child in _children(node):
            stack.append(child)
    return names, today


def _all_exprs(plan: ir.Plan) -> list[ir.Expr]:
    out = [s.expr for s in plan.steps if isinstance(s, ir.LetStep)]
    out += [r.cond for s in plan.segments for r in s.rules if r.cond is not None]
    for rule in plan.rules:
        out.append(rule.cond)
        out.extend(a.expr for a in rule.assigns)
    return out


def _children(node: ir.Expr) -> list[ir.Expr]:
    out = []
    for name in ("left", "right", "arg"):
        child = getattr(node, name, None)
        if isinstance(child, ir.Expr):
            out.append(child)
    for name in ("args", "items"):
        out.extend(getattr(node, name, ()))
    return out

