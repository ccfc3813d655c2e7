"""What evaluating a policy gives: a Decision per good record, a Reject per bad one."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from .io import jsonable


class Decision(BaseModel):
    """The result for one record: its segments (member ids and labels), outputs and why.

    `row` is the record's 0-based position in a batch (None for a single evaluate);
    `errors` lists run-time conflicts, e.g. two rules holding in a `unique` segment.
    """

    key: Any = None
    row: int | None = None
    segments: dict[str, Any]
    labels: dict[str, Any]
    outputs: dict[str, Any]
    rules_fired: list[str]
    errors: list[str]
    policy: str
    version: str
    content_hash: str
    as_of: dt.date

    ok: bool = True

    @classmethod
    def build(cls, values: dict) -> "Decision":
        """A Decision from values the engine produced (already of the right types), without re-validating.

        What `model_construct` does, at a fifth of its cost: this is on the per-record path.
        tests/test_api.py checks the result equals `model_construct`'s.
        """
        d = _new(cls)
        _setattr(d, "__dict__", values)
        _set_fields_set(d, _DECISION_FIELDS)
        _set_extra(d, None)
        _set_private(d, None)
        return d

    def to_dict(self) -> dict:
        """JSON-ready dict of the whole decision."""
        return jsonable(self.model_dump(exclude={"ok"}))


_DECISION_FIELDS = frozenset(Decision.model_fields)
_new = Decision.__new__
_setattr = object.__setattr__
_set_fields_set = BaseModel.__pydantic_fields_set__.__set__
_set_extra = BaseModel.__pydantic_extra__.__set__
_set_private = BaseModel.__pydantic_private__.__set__


class Reject(BaseModel):
    """A record that failed input validation: where it was, which field, and why."""

    row: int | None = None
    key: Any = None
    field: str
    value: Any = None
    reason: str

    ok: bool = False

    def to_dict(self) -> dict:
        return jsonable(self.model_dump(exclude={"ok"}))
