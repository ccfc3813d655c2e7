"""Per-record backends behind one Protocol: `interp` (reference, traces) and `pycode` (fast)."""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple, Protocol

from ..ir import Plan


class RawDecision(NamedTuple):
    """What a backend computes for one record, in plan order; engine.policy turns it into a Decision."""

    key: object
    segments: tuple  # one value per segment step, in plan.segments order
    outputs: tuple  # one value per output, in plan.outputs order
    fired: list[str]
    errors: list[str]


class Executable(Protocol):
    def run(self, record: dict, as_of: dt.date, position: int | None = None) -> RawDecision:
        """Validate the record (RecordError if bad) and evaluate the plan on it."""


def compile_plan(plan: Plan, backend: str = "pycode") -> Executable:
    """Compile a plan with one of BACKENDS."""
    from . import interp, pycode
    return {"interp": interp.Interpreter, "pycode": pycode.compile_plan}[backend](plan)


BACKENDS = ("interp", "pycode")
