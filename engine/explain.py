"""Why a record got its segments and outputs: the reference interpreter's trace, rule by rule.

Every rule is shown with its source line, whether its condition held (true, false, or unknown
because a value was missing), and the fields, lets and segments it read with their values.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import fields, is_dataclass

from . import ir
from .backends.interp import Interpreter
from .decision import jsonable
from .policy import Policy, _as_of


def explain(policy: Policy, record: dict, as_of: dt.date | str | None = None) -> dict:
    """A JSON-ready explanation of one record's decision; raises RecordError for a bad record.

    >>> explain(policy, {"customer_id": "c1", ...}, as_of="2026-11-22")["segments"][0]["member"]
    """
    trace: dict[int, object] = {}
    day = _as_of(as_of)
    decision = Interpreter(policy.plan).run(record, day, None, policy.populations, trace=trace)
    source = policy.source

    fired = set(decision.rules_fired)

    def rule_view(rule, held) -> dict:
        return {"rule": rule.id, "line": rule.line, "text": _line(source, rule.line), "holds": held,
                "chosen": rule.id in fired, "reads": _reads(rule.cond, trace) if rule.cond is not None else {}}

    segments = []
    for step in policy.plan.segments:
        rules = [rule_view(r, "otherwise" if r.cond is None else _truth(trace, r.cond)) for r in step.rules]
        segments.append({"segment": step.name, "label": step.label, "hit": step.hit,
                         "member": decision.segments[step.name], "member_label": decision.labels[step.name],
                         "rules": rules})
    strategies = []
    for rule in policy.plan.rules:
        view = rule_view(rule, _truth(trace, rule.cond))
        if view["holds"] == "true":
            view["sets"] = {a.output: jsonable(trace.get(id(a.expr))) for a in rule.assigns}
        strategies.append(view)
    lets = {s.name: jsonable(trace.get(id(s.expr))) for s in policy.plan.steps
            if isinstance(s, ir.LetStep) and "#" not in s.name}
    return {"policy": policy.name, "version": policy.version, "as_of": day.isoformat(), "key": jsonable(decision.key),
            "lets": lets, "segments": segments, "strategy_rules": strategies, "decision": decision.to_dict()}


def render(view: dict) -> str:
    """The explanation as text for an analyst: one block per segment, then the strategy rules.

    ▶ marks the rules that decided (a segment's chosen rule, the strategy rules that fired);
    · a condition that was false, ? one that was unknown because a value was missing.
    """
    mark = {"false": "·", "unknown": "?"}
    out = [f"{view['policy']} {view['version']}, as of {view['as_of']}, record {view['key']}", ""]
    if view["lets"]:
        out.append("lets: " + ", ".join(f"{k} = {_show(v)}" for k, v in view["lets"].items()))
        out.append("")
    for seg in view["segments"]:
        member = seg["member"]
        shown = ", ".join(member) if isinstance(member, list) else _show(member)
        label = seg["member_label"]
        label = ", ".join(x or "" for x in label) if isinstance(label, list) else (label or "")
        out.append(f"{seg['segment']}{' ' + seg['label'] if seg['label'] else ''} = {shown} {label}".rstrip())
        for r in seg["rules"]:
            out.append(_rule_line(r, mark))
        out.append("")
    if view["strategy_rules"]:
        out.append("strategy rules:")
        for r in view["strategy_rules"]:
            line = _rule_line(r, mark)
            if "sets" in r:
                line += "  => " + ", ".join(f"{k} = {_show(v)}" for k, v in r["sets"].items())
            out.append(line)
        out.append("")
    outputs = view["decision"]["outputs"]
    out.append("outputs: " + ", ".join(f"{k} = {_show(v)}" for k, v in outputs.items()))
    errors = view["decision"]["errors"]
    if errors:
        out.extend(f"error: {e}" for e in errors)
    return "\n".join(out)


def _rule_line(r: dict, mark: dict) -> str:
    reads = ", ".join(f"{k} = {_show(v)}" for k, v in r["reads"].items())
    sign = "▶" if r["chosen"] else mark.get(r["holds"], " ")
    line = f"  {sign} {r['holds']:<9} line {r['line']:<4} {r['text']}"
    return line + (f"   [{reads}]" if reads else "")


def _truth(trace: dict, cond: ir.Expr) -> str:
    if id(cond) not in trace:
        return "not evaluated"
    return {True: "true", False: "false", None: "unknown"}[trace[id(cond)]]


def _reads(node, trace: dict) -> dict:
    """The fields, lets and segments a condition read, with the values they had (if it got to them)."""
    found: dict = {}

    def walk(n):
        if isinstance(n, (ir.Field, ir.Var, ir.Seg)) and "#" not in n.name:
            if id(n) in trace and n.name not in found:
                found[n.name] = jsonable(trace[id(n)])
            return
        if is_dataclass(n):
            for f in fields(n):
                value = getattr(n, f.name)
                for item in value if isinstance(value, tuple) else (value,):
                    if isinstance(item, ir.Expr):
                        walk(item)

    walk(node)
    return found


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
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)

