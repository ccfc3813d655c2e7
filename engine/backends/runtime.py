"""Semantics shared by the per-record backends: hit policies, combining outputs, date shifts.

Both the interpreter and the generated code call these, so the rules exist once.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache, reduce

from ..functions import in_range
from ..ir import OutputSpec, SegmentStep

_ONE_DAY = dt.timedelta(days=1)


def date_shift(d: dt.date, days: int) -> dt.date | None:
    """d moved by a number of days; missing when the result leaves the calendar (years 1..9999)."""
    try:
        return d + dt.timedelta(days=days)
    except OverflowError:
        return None


def in_list(x, items) -> bool | None:
    """SQL IN: true on a match; else unknown if an item is missing; else false. x is present."""
    unknown = False
    for item in items:
        if item is None:
            unknown = True
        elif item == x:
            return True
    return None if unknown else False


def resolve(step: SegmentStep, held: list[int], errors: list[str]) -> tuple[object, object, list[str]]:
    """A segment's value, its label(s) and the ids of the rules that gave it, from the rules that held.

    `held` lists rule indices and excludes `otherwise`, which holds only when nothing else does.
    An `all` segment's value is the list of members that hold, in member order. Conflicts under
    `unique` and `any` append a message to `errors` and make the segment missing.
    """
    value, ids = _resolve(step, held, errors)
    labels = _labels(step)
    if step.hit == "all":
        return value, [labels[m] for m in value], ids
    return value, labels.get(value), ids


@lru_cache(maxsize=1024)
def _labels(step: SegmentStep) -> dict:
    return dict(zip(step.members, step.labels))


def _resolve(step: SegmentStep, held: list[int], errors: list[str]) -> tuple[object, list[str]]:
    rules = step.rules
    if not held:
        last = rules[-1] if rules else None
        if last is not None and last.cond is None:
            return ([last.member] if step.hit == "all" else last.member), [last.id]
        return ([], []) if step.hit == "all" else (None, [])
    hit = step.hit
    if hit == "first":
        rule = rules[held[0]]
        return rule.member, [rule.id]
    if hit == "all":
        present = {rules[i].member for i in held}
        return [m for m in step.members if m in present], [rules[i].id for i in held]
    if hit == "priority":
        order = {m: i for i, m in enumerate(step.members)}
        best = min(held, key=lambda i: (order[rules[i].member], i))
        return rules[best].member, [rules[best].id]
    ids = [rules[i].id for i in held]
    if hit == "unique" and len(held) > 1:
        a, b = rules[held[0]], rules[held[1]]
        errors.append(f"segment `{step.name}` is unique, but rules {a.id} (line {a.line}) and {b.id} "
                      f"(line {b.line}) both hold; `{step.name}` is missing for this record")
        return None, ids
    members = [rules[i].member for i in held]
    if hit == "any" and len(set(members)) > 1:
        a = rules[held[0]]
        b = next(rules[i] for i in held if rules[i].member != a.member)
        errors.append(f"segment `{step.name}` is `any`, but rules {a.id} (line {a.line}) and {b.id} "
                      f"(line {b.line}) give different members; `{step.name}` is missing for this record")
        return None, ids
    return members[0], ids


def combine(spec: OutputSpec, values: list):
    """The output's value from what the fired rules set, in file order: combine, clamp, default."""
    mode = spec.combine
    if mode == "count":
        value = len(values)
    else:
        present = [v for v in values if v is not None]
        if mode == "list":
            return present
        if not present:
            value = None
        elif mode == "first":
            value = present[0]
        elif mode == "last":
            value = present[-1]
        elif mode == "sum":  # from 0, as SQL adds: 0 + -0.0 is 0.0
            value = in_range(sum(present))
        elif mode == "min":
            value = reduce(lambda a, b: b if b < a else a, present)
        else:
            value = reduce(lambda a, b: b if b > a else a, present)
    if value is not None and spec.clamp is not None:
        lo, hi = spec.clamp
        value = lo if value < lo else hi if value > hi else value
    value = spec.default if value is None else value
    if value is not None and spec.type.kind == "number":
        value += 0.0  # -0.0 is written 0.0, as SQL's x + 0.0 gives it
    return value
