"""The public face of a compiled policy: compile, evaluate, save and load compiled artifacts."""
from __future__ import annotations

import datetime as dt
import json
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from . import cache, ir
from .backends import compile_plan
from .diagnostics import Diagnostic, PolicyError
from .io import atomic_write
from .population import Population, fit, load_stats, require, save_stats
from .records import RecordError, problems
from .source import Source

if TYPE_CHECKING:  # pydantic, a tenth of a second to import, is loaded when a record is decided
    from .decision import Decision, Reject

ENGINE_VERSION = "0.1.0"
ARTIFACT_FORMAT = "customer-rules/compiled-policy"
ARTIFACT_VERSION = 1


class ArtifactError(Exception):
    """A compiled artifact that cannot be loaded: unreadable, or from an incompatible engine."""


class Policy:
    """A checked and compiled policy. Evaluate records with `evaluate` and `evaluate_many`."""

    def __init__(self, plan: ir.Plan, source: Source, diagnostics: list[Diagnostic] = (), backend: str = "pycode",
                 populations: list[Population] | None = None):
        self.plan = plan
        self.source = source
        self.diagnostics = list(diagnostics)
        self.backend = backend
        self.populations = populations
        self._seg_names = tuple(s.name for s in plan.segments)
        self._out_names = tuple(o.name for o in plan.outputs)

    @cached_property
    def _exe(self):
        """The per-record evaluator, compiled when first used (a batch run in SQL never needs it), then
        a plain attribute: `evaluate` pays nothing for the laziness."""
        return compile_plan(self.plan, self.backend)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def version(self) -> str:
        return self.plan.version

    @property
    def content_hash(self) -> str:
        return self.plan.content_hash

    @property
    def segment_names(self) -> tuple[str, ...]:
        return self._seg_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._out_names

    @property
    def uses_population(self) -> bool:
        """Whether the policy ranks records against the batch (quintile, ntile, percent_rank)."""
        return bool(self.plan.sites)

    def with_backend(self, backend: str) -> "Policy":
        """The same policy compiled with another backend (see engine.backends.BACKENDS)."""
        return Policy(self.plan, self.source, self.diagnostics, backend, self.populations)

    def with_stats(self, stats: str | os.PathLike | list[Population]) -> "Policy":
        """The same policy ranking every record against frozen populations (a `rules fit` stats file)."""
        populations = stats if isinstance(stats, list) else load_stats(self.plan, stats)
        return Policy(self.plan, self.source, self.diagnostics, self.backend, populations)

    def fit(self, records: Iterable[dict], as_of: dt.date | str | None = None) -> tuple[list[Population], int]:
        """The populations of the policy's call sites over the valid records, and how many records that was."""
        day = _as_of(as_of)
        rows = []
        for record in records:
            try:
                rows.append(self._exe.first_pass(record, day))
            except RecordError:
                continue
        return fit(self.plan, rows), len(rows)

    def save_stats(self, records: Iterable[dict], path: str | os.PathLike, as_of: dt.date | str | None = None) -> int:
        """Fit the populations on records and write them as a stats file; returns the records used."""
        day = _as_of(as_of)
        populations, count = self.fit(records, day)
        save_stats(self.plan, populations, count, day, path)
        return count

    def evaluate(self, record: dict, as_of: dt.date | str | None = None) -> Decision:
        """Decide one record; raises RecordError if it does not fit the input schema.

        >>> policy.evaluate({"customer_id": "c1", ...}, as_of="2026-11-22").segments["value_tier"]
        """
        return self._exe.run(record, _as_of(as_of), None, self.populations)

    def evaluate_many(self, records: Iterable[dict], as_of: dt.date | str | None = None,
                      rank_in_batch: bool = True) -> Iterator[Decision | Reject]:
        """Decide each record in order, yielding a Decision, or a Reject for a record that fails validation.

        Nothing is dropped: one result per record, with `row` its 0-based position. Every record
        is decided as of the same date. A policy with population functions ranks each record
        against this batch (read in full first), unless it was given frozen stats; with
        `rank_in_batch=False` it needs frozen stats (PopulationError otherwise).
        """
        day = _as_of(as_of)
        populations = self.populations
        if self.plan.sites and populations is None:
            if not rank_in_batch:
                require(self.plan, None)
            records = list(records)
            populations, _ = self.fit(records, day)
        run = self._exe.run
        for row, record in enumerate(records):
            try:
                yield run(record, day, row, populations)
            except RecordError as exc:
                yield self._reject(record, row, exc)

    def _reject(self, record, row: int, first: RecordError) -> Reject:
        """A reject naming the first bad field and giving the reason for every bad field."""
        from .decision import Reject
        found = problems(record, self.plan.fields) or [first]
        return Reject.model_construct(row=row, key=self._key_of(record), field=found[0].field,
                                      value=_plain(found[0].value), reason="; ".join(e.reason for e in found), ok=False)

    def row(self, decision: Decision) -> dict:
        """A decision as one flat row: the key column (named after the key field, else `row`), one column
        per segment, one per output, and `errors`."""
        out = {self.plan.key or "row": decision.key if self.plan.key else decision.row}
        out.update(decision.segments)
        out.update(decision.outputs)
        out["errors"] = "; ".join(decision.errors)
        return out

    @property
    def row_columns(self) -> list[str]:
        return [self.plan.key or "row", *self._seg_names, *self._out_names, "errors"]

    def _key_of(self, record) -> Any:
        key = self.plan.key
        if key is None or not isinstance(record, dict):
            return None
        spec = next(f for f in self.plan.fields if f.name == key)
        value = record.get(key, record.get(spec.column) if spec.column else None)
        return _plain(value)

    def to_sql(self, dialect: str = "duckdb", table: str = "customers", as_of: dt.date | str | None = None) -> str:
        """The policy as one SQL query over `table` for a dialect (duckdb, postgres, spark, snowflake, bigquery).

        The query gives one row per table row: the key, segments, outputs, `rules_fired`, `errors`,
        and `rejected` naming the fields that failed validation. Frozen stats (with_stats) become
        constants in the query; otherwise population functions rank over the table.
        """
        from .sql import to_sql
        return to_sql(self.plan, dialect, table, _as_of(as_of), self.populations)

    # ---- compiled artifacts
    def save(self, path: str | os.PathLike) -> None:
        """Write the compiled artifact (JSON; see docs/artifact.md), atomically."""
        doc = {
            "format": ARTIFACT_FORMAT, "format_version": ARTIFACT_VERSION, "engine_version": ENGINE_VERSION,
            "policy": self.plan.name, "version": self.plan.version, "content_hash": self.plan.content_hash,
            "source_path": self.source.path, "source": self.source.text, "plan": ir.to_json(self.plan),
        }
        with atomic_write(path) as f:
            f.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))


def compile_policy(text: str, name: str = "<string>", backend: str = "pycode") -> Policy:
    """Parse, check and compile policy text; raise PolicyError with every diagnostic if it has errors.

    `name` is the file name shown in diagnostics.
    """
    from .checker import check
    from .lower import lower
    from .parser import parse
    source = Source(text, name)
    checked = check(parse(source))
    if checked.errors:
        raise PolicyError(checked.diagnostics, source)
    return Policy(lower(checked, source), source, checked.diagnostics, backend)


def check_file(path: str | os.PathLike, verify: bool = True) -> tuple[Source, list[Diagnostic]]:
    """Parse, check and verify a policy file without compiling it: see check_text."""
    return check_text(read_policy_text(path), str(path), verify)


def check_text(text: str, name: str = "<string>", verify: bool = True) -> tuple[Source, list[Diagnostic]]:
    """Parse and check policy text: its source and every diagnostic, in source order.

    With `verify` (the default), a policy without errors is also verified (engine.verify): rules
    that never fire, overlaps, gaps, unused names, each with a witness record where one exists.
    """
    from .checker import check
    from .lower import lower
    from .parser import parse
    source = Source(text, name)
    try:
        checked = check(parse(source))
    except PolicyError as exc:
        return source, exc.diagnostics
    if not verify or checked.errors:
        return source, checked.diagnostics
    from .verify import verify as prove
    found = prove(checked, lower(checked, source))
    return source, sorted(checked.diagnostics + found, key=lambda d: d.span.start)


def read_policy_text(path: str | os.PathLike) -> str:
    """A policy file's text: UTF-8 (a BOM is fine), or GB18030 as Chinese Windows editors save it."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def load_policy(path: str | os.PathLike, backend: str = "pycode", cached: bool = False) -> Policy:
    """Read and compile a `.rules` file.

    `cached`: take the plan this engine compiled from the same text before, kept in the user's cache
    folder (engine.cache), else compile and keep it. A hit skips parsing and checking (and importing
    the parser): the policy then has no warnings in `diagnostics`, as one from load_compiled.
    """
    text = read_policy_text(path)
    if not cached:
        return compile_policy(text, str(path), backend)
    key = cache.entry_key("plan", str(path), text)
    found = cache.read("plans", key)
    if found is not None:
        try:
            return Policy(ir.from_json(found["plan"]), Source(text, str(path)), [], backend)
        except (KeyError, TypeError, ValueError):
            pass  # an entry this engine cannot read: compiled again below
    policy = compile_policy(text, str(path), backend)
    cache.write("plans", key, {"plan": ir.to_json(policy.plan)})
    return policy


def load_compiled(path: str | os.PathLike, backend: str = "pycode") -> Policy:
    """Load an artifact written by Policy.save (or `rules compile`) without parsing the policy again."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: cannot read the compiled policy ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{path}: not a compiled policy (compile one with `rules compile POLICY -o FILE`)")
    if doc.get("format_version") != ARTIFACT_VERSION:
        raise ArtifactError(
            f"{path}: compiled by customer-rules {doc.get('engine_version', '?')} in artifact format "
            f"{doc.get('format_version')}; this engine ({ENGINE_VERSION}) reads format {ARTIFACT_VERSION}. "
            f"Recompile the policy with `rules compile`.")
    try:
        plan = ir.from_json(doc["plan"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: the compiled policy is damaged ({exc}); recompile it with `rules compile`") from None
    return Policy(plan, Source(doc.get("source", ""), doc.get("source_path", str(path))), [], backend)


def _as_of(value: dt.date | str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"as-of date {value!r} is not a date; write it as YYYY-MM-DD") from None


def _plain(value: Any) -> Any:
    """A value safe to put in a reject: JSON types and dates stay, anything else becomes its repr."""
    if value is None or isinstance(value, (str, int, float, bool, dt.date)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)
