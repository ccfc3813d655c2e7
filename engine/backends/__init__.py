"""Per-record backends behind one Protocol: `interp` (reference, traces) and `pycode` (fast)."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

from ..ir import Plan

if TYPE_CHECKING:
    from ..decision import Decision


class Executable(Protocol):
    def run(self, record: dict, as_of: dt.date, position: int | None = None, populations=None) -> Decision:
        """Validate the record (RecordError if bad) and decide it; `position` is its row in a batch.

        `populations` (one per plan.sites entry) is required when the policy has population functions.
        """

    def first_pass(self, record: dict, as_of: dt.date) -> tuple:
        """Validate the record and compute the value each population call site ranks."""


def compile_plan(plan: Plan, backend: str = "pycode") -> Executable:
    """Compile a plan with one of BACKENDS."""
    from . import interp, pycode
    return {"interp": interp.Interpreter, "pycode": pycode.compile_plan}[backend](plan)


BACKENDS = ("interp", "pycode")
