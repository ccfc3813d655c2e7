"""Why a record got its segments and outputs: the reference interpreter's trace, rule by rule.

Every rule is shown with its source line, whether its condition held (true, false, or unknown
because a value was missing), and each part of its condition as written with the values it read
(`annual_spend (85,000) >= 10万 → false`); then which rule decided each segment and why, and
which rules set each output and how their values combined. Personal data stays masked.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import fields, is_dataclass
from functools import lru_cache

from . import ir
from .diagnostics import PolicyError
from .io import jsonable, read_records
from .policy import Policy, _as_of
from .source import Span


def explain(policy: Policy, record: dict, as_of: dt.date | str | None = None, show_pii: bool = False) -> dict:
    """A JSON-ready explanation of one record's decision; raises RecordError for a bad record.

    Values of fields marked `pii` (and of lets computed from them) are shown as *** unless `show_pii`.

    >>> explain(policy, {"customer_id": "c1", ...}, as_of="2026-11-22")["segments"][0]["member"]
    """
    trace: dict[int, object] = {}
    day = _as_of(as_of)
    plan, origins = _plan_with_origins(policy)
    from .backends.interp import Interpreter  # with the Decision model (pydantic): only when explaining
    decision = Interpreter(plan).run(record, day, None, policy.populations, trace=trace)
    view = _View(plan, policy.source, origins, trace, ir.personal(plan) if not show_pii else set())
    fired = set(decision.rules_fired)

    segments = []
    for step in plan.segments:
        rules = [view.rule(r, r.id in fired) for r in step.rules]
        segments.append({"segment": step.name, "label": step.label, "hit": step.hit,
                         "member": decision.segments[step.name], "member_label": decision.labels[step.name],
                         "why": _why(step, rules, decision.errors), "rules": rules})
    hidden = ir.personal_outputs(plan) if not show_pii else set()
    strategies = []
    for rule in plan.rules:
        shown = view.rule(rule, rule.id in fired)
        if rule.id in fired:
            shown["sets"] = {a.output: _masked(view.value(a.expr), a.output in hidden) for a in rule.assigns}
        strategies.append(shown)
    outputs = []
    for spec in plan.outputs:
        set_by = [{"rule": r["rule"], "line": r["line"], "value": r["sets"][spec.name]}
                  for r in strategies if spec.name in r.get("sets", {})]
        value = _masked(jsonable(decision.outputs[spec.name]), spec.name in hidden)
        outputs.append({"output": spec.name, "label": spec.label, "combine": spec.combine,
                        "clamp": list(spec.clamp) if spec.clamp else None, "default": jsonable(spec.default),
                        "value": value, "set_by": set_by, "how": _how(spec, set_by, value)})
    lets = {s.name: view.value(ir.Var(s.name, s.expr.nullable), trace.get(id(s.expr)))
            for s in plan.steps if isinstance(s, ir.LetStep) and "#" not in s.name}
    key = jsonable(decision.key)
    if plan.key in view.private and key is not None:
        key = MASK
    result = decision.to_dict()
    result["key"] = key
    result["outputs"] = {k: _masked(v, k in hidden) for k, v in result["outputs"].items()}
    return {"policy": policy.name, "version": policy.version, "as_of": day.isoformat(), "key": key,
            "lets": lets, "segments": segments, "strategy_rules": strategies, "outputs": outputs, "decision": result}


MASK = "***"


def find_record(policy: Policy, path: str, key: str, encoding: str | None = None) -> dict:
    """The record of a data file whose key field (or its `from` column) is `key`, compared as text.

    Raises LookupError with a message for the analyst when the policy has no key or no record matches.
    """
    spec = next((f for f in policy.plan.fields if f.key), None)
    if spec is None:
        raise LookupError(f"policy {policy.name} has no `key` field, so records cannot be found by key; "
                          "pass the record with --record instead")
    names = [spec.name] + ([spec.column] if spec.column else [])
    for record in read_records(path, encoding=encoding):
        if any(name in record and record[name] is not None and str(record[name]).strip() == key for name in names):
            return record
    raise LookupError(f"{path}: no record with {spec.name} = {key}")


def _masked(value, hidden: bool):
    return MASK if hidden and value not in (None, [], "") else value


@lru_cache(maxsize=32)
def _plan_with_origins(policy: Policy) -> tuple[ir.Plan, dict[int, Span]]:
    """The policy's plan lowered again from its source, with where each condition came from; kept
    per policy, as a service or `rules test` explains many records of one policy."""
    from .checker import check
    from .lower import lower
    from .parser import parse
    origins: dict[int, Span] = {}
    try:
        checked = check(parse(policy.source))
    except PolicyError:
        return policy.plan, origins
    if checked.errors or not policy.source.text:
        return policy.plan, origins
    plan = lower(checked, policy.source, origins)
    return (plan, origins) if plan.content_hash == policy.plan.content_hash else (policy.plan, {})


def _children(node) -> list:
    out = []
    if is_dataclass(node):
        for f in fields(node):
            value = getattr(node, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, ir.Expr):
                    out.append(item)
    return out


class _View:
    """Values and source text of plan nodes for one explained record."""

    def __init__(self, plan, source, origins, trace, private: set[str]):
        self.plan, self.source, self.origins, self.trace, self.private = plan, source, origins, trace, private

    def value(self, node, value=None):
        """The node's value in the trace (or `value`), masked if it is personal data."""
        value = self.trace.get(id(node)) if value is None else value
        if isinstance(node, (ir.Field, ir.Var)) and node.name in self.private:
            return MASK if value is not None else None
        return jsonable(value)

    def rule(self, rule, chosen: bool) -> dict:
        holds = "otherwise" if rule.cond is None else _truth(self.trace, rule.cond)
        out = {"rule": rule.id, "line": rule.line, "text": _line(self.source, rule.line), "holds": holds,
               "chosen": chosen, "reads": self.reads(rule.cond) if rule.cond is not None else {}}
        out["parts"] = [] if rule.cond is None else [self.part(p) for p in self.parts(rule.cond)]
        return out

    def parts(self, node) -> list:
        """The conditions an and/or is made of, down to the ones written in the source."""
        if id(node) in self.origins or not isinstance(node, (ir.And, ir.Or, ir.Not)):
            return [node]
        return [p for arg in _children(node) for p in self.parts(arg)]

    def part(self, node) -> dict:
        """One condition as written, each operand followed by its value: `annual_spend (85,000) >= 10万`."""
        span = self.origins.get(id(node))
        result = _truth(self.trace, node)
        if span is None:
            if isinstance(node, ir.Compare) and isinstance(node.left, ir.Seg):  # a `strategy by` row
                return {"text": f"{node.left.name} ({_show(self.value(node.left))}) is {node.right.value}",
                        "holds": result}
            return {"text": "(condition)", "holds": result}
        text = self.source.text[span.start:span.end]
        inserts, prefix = [], ""
        for operand in self.operands(node):
            o = self.origins[id(operand)]
            shown = f" ({_show(self.value(operand))})" if id(node) in self.trace else ""
            if o.start >= span.start and o.end <= span.end:
                inserts.append((o.end - span.start, shown))
            elif not prefix:  # a table cell: its column's header is written above the rows
                joint = " in " if text[:1] in "[(" else " " if text[:1] in "<>=!" else " = "
                prefix = f"{self.source.text[o.start:o.end]}{shown}{joint}"
        for at, insert in sorted(inserts, reverse=True):
            text = text[:at] + insert + text[at:]
        return {"text": prefix + " ".join(text.split()), "holds": result}

    def operands(self, node) -> list:
        """The operands worth a value: nearest descendants written in the source that are not constants."""
        found = []
        for child in _children(node):
            if isinstance(child, ir.ToNumber):
                child = child.arg
            if id(child) in self.origins:
                if not isinstance(child, ir.Const):
                    found.append(child)
            else:
                found.extend(self.operands(child))
        return found

    def reads(self, node) -> dict:
        """The fields, lets and segments a condition read, with the values they had (if it got to them)."""
        found: dict = {}

        def walk(n):
            if isinstance(n, (ir.Field, ir.Var, ir.Seg)) and "#" not in n.name:
                if id(n) in self.trace and n.name not in found:
                    found[n.name] = self.value(n)
                return
            for child in _children(n):
                walk(child)

        walk(node)
        return found


def _why(step, rules: list[dict], errors: list[str]) -> str:
    held = [r for r in rules if r["holds"] == "true"]
    chosen = [r for r in rules if r["chosen"]]
    clash = next((e for e in errors if f"segment `{step.name}`" in e), None)
    if clash:
        return clash
    if step.hit == "all":
        return (f"every member whose rule holds: {', '.join(r['rule'] for r in chosen)}" if chosen
                else "no rule holds, so no member")
    if not chosen:
        return "no rule holds and there is no `otherwise`, so it is missing"
    rule = chosen[0]
    if rule["holds"] == "otherwise":
        return f"no rule above holds, so `otherwise` (line {rule['line']})"
    if step.hit == "first":
        return f"{rule['rule']} (line {rule['line']}) is the first rule that holds"
    if step.hit == "priority" and len(held) > 1:
        return f"of the {len(held)} rules that hold, {rule['rule']} (line {rule['line']}) gives the member listed first"
    if step.hit == "any" and len(held) > 1:
        return f"the {len(held)} rules that hold agree on the member"
    return f"{rule['rule']} (line {rule['line']}) is the only rule that holds"


def _how(spec, set_by: list[dict], value) -> str:
    if not set_by:
        return f"no rule set it, so the default {_show(value)}" if value not in (None, []) else "no rule set it"
    values = [_show(s["value"]) for s in set_by]
    if spec.combine == "count":
        how = f"count of the {len(set_by)} rule(s) that set it"
    elif len(set_by) == 1 and spec.combine != "list":
        how = f"set by {set_by[0]['rule']} (line {set_by[0]['line']})"
    else:
        how = f"combine {spec.combine} of {', '.join(values)}"
    if spec.clamp:
        how += f", clamp {_show(spec.clamp[0])} .. {_show(spec.clamp[1])}"
    return how


def render(view: dict) -> str:
    """The explanation as text for an analyst: one block per segment, the strategy rules, the outputs.

    ▶ marks the rules that decided (a segment's chosen rule, the strategy rules that fired);
    · a condition that was false, ? one that was unknown because a value was missing. Under each
    rule, the parts of its condition with the values they read.
    """
    mark = {"false": "·", "unknown": "?"}
    record = "" if view["key"] is None else f", record {_show(view['key'])}"
    out = [f"{view['policy']} {view['version']}, as of {view['as_of']}{record}", ""]
    if view["lets"]:
        out.append("lets: " + ", ".join(f"{k} = {_show(v)}" for k, v in view["lets"].items()))
        out.append("")
    for seg in view["segments"]:
        member = seg["member"]
        shown = ", ".join(member) if isinstance(member, list) else _show(member)
        label = seg["member_label"]
        label = ", ".join(x or "" for x in label) if isinstance(label, list) else (label or "")
        out.append(f"{seg['segment']}{' ' + seg['label'] if seg['label'] else ''} = {shown} {label}".rstrip())
        out.append(f"  because {seg['why']}")
        for r in seg["rules"]:
            out.extend(_rule_lines(r, mark))
        out.append("")
    if view["strategy_rules"]:
        out.append("strategy rules:")
        for r in view["strategy_rules"]:
            lines = _rule_lines(r, mark)
            if "sets" in r:
                lines[0] += "  => " + ", ".join(f"{k} = {_show(v)}" for k, v in r["sets"].items())
            out.extend(lines)
        out.append("")
    out.append("outputs:" if view["outputs"] else "outputs: none")
    for o in view["outputs"]:
        out.append(f"  {o['output']} = {_show(o['value'])}   ({o['how']})")
    errors = view["decision"]["errors"]
    if errors:
        out.extend(f"error: {e}" for e in errors)
    return "\n".join(out)


def _rule_lines(r: dict, mark: dict) -> list[str]:
    sign = "▶" if r["chosen"] else mark.get(r["holds"], " ")
    lines = [f"  {sign} {r['holds']:<9} line {r['line']:<4} {r['text']}"]
    for part in r["parts"]:
        lines.append(f"        {part['text']} → {part['holds']}")
    return lines


def _truth(trace: dict, cond: ir.Expr) -> str:
    if id(cond) not in trace:
        return "not evaluated"
    return {True: "true", False: "false", None: "unknown"}[trace[id(cond)]]


def _line(source, line: int) -> str:
    """A rule's source line without its comment."""
    try:
        text = source.line_text(line)
    except IndexError:
        return ""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return text[:i].strip()
    return text.strip()


def _show(value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.15g}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)

