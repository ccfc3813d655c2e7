"""`rules eval` on files: read records, decide them, write decisions and rejects, count segments."""
from __future__ import annotations

import datetime as dt
import difflib
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Iterable, Iterator

from .io import InputFileError, format_from_path, read_records, write_rows
from .policy import Policy
from .records import problems

if TYPE_CHECKING:
    from .decision import Decision, Reject

REJECT_COLUMNS = ["row", "key", "field", "value", "reason"]


@dataclass
class BatchResult:
    """Counts of one run: rows in = decided + rejected, always; segment member counts for the summary."""

    rows_in: int = 0
    decided: int = 0
    rejected: int = 0
    with_errors: int = 0
    counts: dict[str, Counter] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # optional fields with no column in the file


def tally(policy: Policy, results: Iterable[Decision | Reject], result: BatchResult) -> Iterable[Decision]:
    """Pass decisions through, keeping counts; rejects are kept in `result.rejects`."""
    for name in policy.segment_names:
        result.counts.setdefault(name, Counter())
    for r in results:
        result.rows_in += 1
        if not r.ok:
            result.rejected += 1
            result.rejects.append(r)
            continue
        result.decided += 1
        if r.errors:
            result.with_errors += 1
        for name, value in r.segments.items():
            if isinstance(value, list):
                result.counts[name].update(value or ["(none)"])
            else:
                result.counts[name][value] += 1
        yield r


def confirmed_reject(policy: Policy, record: dict, row: int, flagged: list[str], engine: str) -> Reject:
    """The reject of a raw row that a SQL engine flagged, with reasons from the per-record validation.

    Both validations must find the same bad fields; a difference is an engine bug, not bad data.
    """
    found = problems(record, policy.plan.fields)
    if sorted(p.field for p in found) != sorted(flagged):
        raise AssertionError(f"row {row}: {engine} rejected {flagged}, the record check found "
                             f"{[p.field for p in found]}; please report this engine bug")
    return policy._reject(record, row, found[0])


def check_columns(policy: Policy, records: Iterator[dict], name: str) -> tuple[Iterable[dict], list[str]]:
    """Compare a CSV's header with the input schema before deciding anything.

    A required field with no column would reject every row: that is an InputFileError naming
    the column the policy looks for and what the file has. Optional fields with no column are
    returned, to be reported.
    """
    first = next(records, None)
    if first is None:
        return iter(()), []
    header = list(first)
    missing, absent = [], []
    for spec in policy.plan.fields:
        if spec.name not in first and (spec.column is None or spec.column not in first):
            (absent if spec.optional or spec.default is not None else missing).append(spec)
    if missing:
        hint = ""
        for spec in missing:
            close = [c for want in (spec.column, spec.name) if want
                     for c in difflib.get_close_matches(want, header, n=1, cutoff=0.5)]
            if close:
                hint = f"; did you mean “{close[0]}”? (map it with `from \"{close[0]}\"` in the policy)"
                break
        raise InputFileError(f"{name} has no column for {', '.join(map(_wanted, missing))}, which the policy "
                             f"needs (the file's columns: {', '.join(header)}){hint}")
    return itertools.chain([first], records), [_wanted(s) for s in absent]


def _wanted(spec) -> str:
    return f"`{spec.name}`" + (f" or “{spec.column}”" if spec.column else "")


def evaluate_file(policy: Policy, *, data: str | None = None, stream: IO | None = None, records: list | None = None,
                  out: str | None = None, out_format: str | None = None, rejects: str | None = None,
                  as_of: dt.date | str | None = None, encoding: str | None = None, sink=None,
                  rank_in_batch: bool = True, results: Iterable[Decision | Reject] | None = None,
                  progress=None) -> BatchResult:
    """Decide every record of a file (or stream, or list) and write decisions to `out` or hand them to `sink`.

    CSV and table outputs hold one flat row per record; JSON and JSONL the whole decision.
    Rejects go to the `rejects` file when given (and are always kept on the result). Population
    functions rank against this batch unless `rank_in_batch` is False (then frozen stats are needed).
    `results` are decisions and rejects made elsewhere (the Spark backend), written the same way.
    `progress` (an engine.progress.Progress) draws how far the run has come.
    """
    result = BatchResult()
    if results is None:
        if records is None:
            records = read_records(data, encoding=encoding, stream=stream if data is None else None)
            if data is not None and format_from_path(data) in ("csv", "tsv"):
                records, result.absent = check_columns(policy, records, data)
        results = policy.evaluate_many(records, as_of=as_of, rank_in_batch=rank_in_batch)
    decisions = tally(policy, progress.track(results) if progress else results, result)
    fmt = out_format or (format_from_path(out) if out else "jsonl")
    if fmt in ("csv", "tsv", "table"):
        rows: Iterable[dict] = (policy.row(d) for d in decisions)
        columns = policy.row_columns
    else:
        rows = (d.to_dict() for d in decisions)
        columns = ["key", "row", "segments", "labels", "outputs", "rules_fired", "errors", "policy", "version",
                   "content_hash", "as_of"]
    if out is not None:
        write_rows(out, rows, columns, fmt if fmt != "table" else "csv")
    else:
        sink(rows, columns, fmt)
    if rejects is not None:
        write_rows(rejects, (r.to_dict() for r in result.rejects), REJECT_COLUMNS, format_from_path(rejects))
    return result
