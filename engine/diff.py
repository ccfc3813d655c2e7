"""`rules diff`: the impact of an edit to a policy, measured on real records.

Both policies decide the same records, read once from the file: for each record the old and
the new policy are evaluated one after the other (the per-record Python backend), and only
tallies are kept — counts per (old member, new member), per output the sums and the changed
values, and a few example records per change — so memory does not grow with the file.

- **Records.** Every record read is counted once: decided by both policies ("compared"), or
  rejected by the old policy only, the new policy only, or both. Changes are measured on the
  compared records; `rows_in = compared + rejected.old_only + rejected.new_only + rejected.both`.
- **Segments in both policies.** For a segment that gives one member per record, a transition
  matrix: rows are the old policy's members, columns the new one's, each with a last "(none)"
  row and column for records without a member; a cell counts the records that moved from its
  row to its column. For an `all` segment (tags) — or when one side is `all` and the other not —
  a record has a set of members, so there is no single "from" and "to": each member gets its
  count before and after and how many records kept, gained and lost it.
- **Segments and outputs in only one policy** are listed as added or removed, with their
  distribution over the compared records.
- **Outputs in both policies.** How many records change value; for numbers the total and mean
  before and after (over the records where the output is present) and how many are missing; for
  every output the most frequent value changes.
- **Personal data.** Example records show the input fields of both policies; the values of
  fields marked `pii` (and the key, when it is one) are replaced by `***`, and so are the values
  of outputs computed from them, unless `show_pii=True`.

    >>> impact = diff_policies(load_old("git:HEAD:policies/customer_value.rules"),
    ...                        load_policy("policies/customer_value.rules"), "examples/customer_value.csv",
    ...                        as_of="2026-11-22")
    >>> impact.segments[0].matrix, impact.outputs[0].new.mean
"""
from __future__ import annotations

import datetime as dt
import math
import os
import posixpath
import shutil
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel

from . import ir
from .batch import check_columns
from .io import format_from_path, read_records
from .policy import Policy, _as_of, compile_policy, load_compiled, load_policy
from .records import RecordError, lookup, problems

MASK = "***"
NONE_LABEL = "(none)"
TOP_TRANSITIONS = 10   # value changes listed per output
TRACK_LIMIT = 1_000    # distinct value changes tallied per output; the rest are counted together


class DiffError(Exception):
    """A diff that cannot be made (an unknown git revision, a missing file): the message says what to do."""


# ---- the result ------------------------------------------------------------------------------

class PolicyRef(BaseModel):
    name: str
    label: str | None
    version: str
    content_hash: str
    source: str


class Example(BaseModel):
    """One record that made a change: its 0-based row in the file, its key, and its input fields."""
    row: int
    key: Any = None
    fields: dict[str, Any]


class Member(BaseModel):
    """A row or column of a transition matrix; `id` None is the "(none)" row or column."""
    id: str | None
    label: str | None


class SegmentSize(BaseModel):
    """How many compared records a member holds before and after."""
    member: str | None
    label: str | None
    old: int
    new: int


class Transition(BaseModel):
    """Records that went from `old` to `new` (segment members, or output values)."""
    old: Any
    new: Any
    count: int
    examples: list[Example]


class TagChange(BaseModel):
    """One member of an `all` segment: records holding it before and after; kept, gained, lost."""
    member: str
    label: str | None
    old: int
    new: int
    kept: int
    gained: int
    lost: int
    examples_gained: list[Example]
    examples_lost: list[Example]


class SegmentImpact(BaseModel):
    """A segment in both policies. `kind` single: `matrix[i][j]` counts records from `rows[i]` to
    `columns[j]`, and `transitions` lists the non-empty cells off the diagonal, largest first.
    `kind` all: `tags` gives each member's changes (the matrix is empty)."""
    segment: str
    label: str | None
    kind: Literal["single", "all"]
    changed: int
    sizes: list[SegmentSize]
    rows: list[Member]
    columns: list[Member]
    matrix: list[list[int]]
    transitions: list[Transition]
    tags: list[TagChange]


class MemberCount(BaseModel):
    member: str | None
    label: str | None
    count: int


class SegmentOnly(BaseModel):
    """A segment that only one of the policies has, with its distribution over the compared records
    (for an `all` segment a record counts once for each member it holds)."""
    segment: str
    label: str | None
    kind: Literal["single", "all"]
    sizes: list[MemberCount]


class OutputStats(BaseModel):
    """`sum` and `mean` are over the records where the output is present (numbers only)."""
    present: int
    missing: int
    sum: float | int | None
    mean: float | None


class ValueCount(BaseModel):
    value: Any
    count: int


class OutputImpact(BaseModel):
    """An output in both policies: `changed` records; `transitions` the most frequent value changes
    (`other_transitions` counts the changed records beyond them). `masked`: its values are hidden
    because the policy computes it from personal data."""
    output: str
    label: str | None
    type: str
    numeric: bool
    changed: int
    old: OutputStats
    new: OutputStats
    transitions: list[Transition]
    other_transitions: int
    masked: bool


class OutputOnly(BaseModel):
    """An output that only one of the policies has: its values over the compared records."""
    output: str
    label: str | None
    type: str
    numeric: bool
    stats: OutputStats
    top_values: list[ValueCount]
    other_values: int
    masked: bool


class RejectExample(BaseModel):
    """A record one or both policies rejected; `by` old, new or both, with each policy's reason."""
    row: int
    key: Any = None
    by: Literal["old", "new", "both"]
    reason_old: str | None
    reason_new: str | None


class Rejected(BaseModel):
    old_only: int
    new_only: int
    both: int
    examples: list[RejectExample]


class Impact(BaseModel):
    """What changes when `old` is replaced by `new`, on the records of `data` (see the module doc)."""
    old: PolicyRef
    new: PolicyRef
    data: str | None
    as_of: dt.date
    rows_in: int
    compared: int
    rejected: Rejected
    segments: list[SegmentImpact]
    segments_added: list[SegmentOnly]
    segments_removed: list[SegmentOnly]
    outputs: list[OutputImpact]
    outputs_added: list[OutputOnly]
    outputs_removed: list[OutputOnly]
    pii_fields: list[str]
    pii_shown: bool

    def to_dict(self) -> dict:
        """JSON-ready dict (dates as YYYY-MM-DD)."""
        return self.model_dump(mode="json")


# ---- loading the old policy -------------------------------------------------------------------

def load_old(spec: str, backend: str = "pycode") -> Policy:
    """The policy before the edit: a `.rules` file, a compiled artifact, or `git:REV:PATH`.

    `git:REV:PATH` reads PATH as it was in revision REV (a commit, branch or tag, `HEAD~1`) of
    the git repository holding the current folder. PATH is relative to the current folder, or
    else to the repository's top folder. Raises DiffError with a message for the analyst when
    the revision or file does not exist; PolicyError when the old text does not compile.
    """
    if not spec.startswith("git:"):
        path = Path(spec)
        if not path.is_file():
            raise DiffError(f"{spec}: no such policy file" + (" (it is a folder)" if path.is_dir() else ""))
        with open(path, "rb") as f:
            compiled = f.read(64).lstrip().startswith(b"{")  # artifacts are JSON; policies never start with {
        return load_compiled(path, backend) if compiled else load_policy(path, backend)
    rev, sep, path = spec[4:].partition(":")
    if not sep or not rev or not path:
        raise DiffError(f"{spec}: write the old version as git:REVISION:PATH, "
                        f"e.g. git:HEAD:policies/customer_value.rules")
    if rev.startswith("-"):
        raise DiffError(f"{spec}: `{rev}` is not a git revision")
    text = _git_file(spec, rev, path)
    return compile_policy(text, spec, backend)


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, cwd=os.getcwd(), timeout=60)


def _git_file(spec: str, rev: str, path: str) -> str:
    if shutil.which("git") is None:
        raise DiffError(f"{spec}: reading an old version from git needs the `git` command, which is not installed")
    top = _git("rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise DiffError(f"{spec}: the current folder {os.getcwd()} is not inside a git repository; "
                        f"run the command from the repository, or give the old policy as a file")
    root = top.stdout.decode("utf-8", "replace").strip()
    if _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
        raise DiffError(f"{spec}: there is no revision `{rev}` in the git repository {root}; use a commit, "
                        f"branch or tag (`git log --oneline` lists the commits)")
    prefix = _git("rev-parse", "--show-prefix").stdout.decode("utf-8", "replace").strip()
    candidates = []
    here = posixpath.normpath(posixpath.join(prefix, path.replace(os.sep, "/")))
    if not here.startswith("../"):
        candidates.append(here)
    top_relative = posixpath.normpath(path.replace(os.sep, "/").lstrip("/"))
    if top_relative not in candidates:
        candidates.append(top_relative)
    for candidate in candidates:
        kind = _git("cat-file", "-t", f"{rev}:{candidate}")
        if kind.returncode != 0:
            continue
        if kind.stdout.strip() != b"blob":
            raise DiffError(f"{spec}: `{candidate}` is a folder in revision {rev}; name the .rules file")
        shown = _git("show", f"{rev}:{candidate}")
        if shown.returncode != 0:
            raise DiffError(f"{spec}: git could not show the file: "
                            f"{shown.stderr.decode('utf-8', 'replace').strip()}")
        data = shown.stdout
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return data.decode("gb18030", "replace")
    raise DiffError(f"{spec}: revision {rev} has no file `{candidates[0]}` (the path is relative to the current "
                    f"folder or to the repository's top folder, {root}); "
                    f"`git ls-tree -r --name-only {rev}` lists its files")


# ---- tallies ----------------------------------------------------------------------------------

class _Examples:
    """Up to `limit` example records per bucket; a record's example is built once, when first needed."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept: dict[Any, list[Example]] = {}

    def add(self, bucket, make) -> None:
        if self.limit <= 0:
            return
        found = self.kept.setdefault(bucket, [])
        if len(found) < self.limit:
            found.append(make())

    def get(self, bucket) -> list[Example]:
        return list(self.kept.get(bucket, ()))


class _SingleTally:
    def __init__(self, limit: int):
        self.pairs: Counter = Counter()
        self.examples = _Examples(limit)

    def add(self, old, new, make) -> None:
        self.pairs[(old, new)] += 1
        if old != new:
            self.examples.add((old, new), make)


class _SetTally:
    def __init__(self, limit: int):
        self.old: Counter = Counter()
        self.new: Counter = Counter()
        self.kept: Counter = Counter()
        self.changed = 0
        self.examples = _Examples(limit)

    def add(self, old: frozenset, new: frozenset, make) -> None:
        self.old.update(old)
        self.new.update(new)
        self.kept.update(old & new)
        if old != new:
            self.changed += 1
            for m in new - old:
                self.examples.add((m, "gained"), make)
            for m in old - new:
                self.examples.add((m, "lost"), make)


class _Side:
    """One policy's values of one output."""

    def __init__(self, numeric: bool):
        self.numeric = numeric
        self.present = 0
        self.missing = 0
        self.total: float | int = 0
        self.values: Counter = Counter()
        self.other_values = 0

    def add(self, value) -> None:
        if value is None:
            self.missing += 1
        else:
            self.present += 1
            if self.numeric:
                self.total += value
        key = _hashable(value)
        if key in self.values or len(self.values) < TRACK_LIMIT:
            self.values[key] += 1
        else:
            self.other_values += 1

    def stats(self) -> OutputStats:
        if not self.numeric:
            return OutputStats(present=self.present, missing=self.missing, sum=None, mean=None)
        total = self.total if math.isfinite(self.total) else None
        mean = total / self.present if self.present and total is not None else None
        return OutputStats(present=self.present, missing=self.missing, sum=total, mean=mean)


class _OutputTally:
    def __init__(self, numeric: bool, limit: int):
        self.old = _Side(numeric)
        self.new = _Side(numeric)
        self.changed = 0
        self.moves: Counter = Counter()
        self.other_moves = 0
        self.examples = _Examples(limit)

    def add(self, old, new, make) -> None:
        self.old.add(old)
        self.new.add(new)
        if _same(old, new):
            return
        self.changed += 1
        key = (_hashable(old), _hashable(new))
        if key in self.moves or len(self.moves) < TRACK_LIMIT:
            self.moves[key] += 1
            self.examples.add(key, make)
        else:
            self.other_moves += 1


# ---- the diff ---------------------------------------------------------------------------------

def diff_policies(old: Policy, new: Policy, records_source: str | os.PathLike | Iterable[dict],
                  as_of: dt.date | str | None = None, examples: int = 3, show_pii: bool = False,
                  encoding: str | None = None) -> Impact:
    """Decide every record with both policies and tally what changes (see the module doc).

    `records_source` is a file (CSV, TSV, JSON, JSONL, Parquet; read once, streamed) or an iterable
    of record dicts. A policy that ranks records against the batch (quintile, ntile,
    percent_rank) without frozen stats is first fitted on the same records, as `rules eval` does:
    the file is then read twice (an iterable is kept in memory). `examples` is the number of
    example records kept per change; `show_pii` shows personal data in them.
    """
    try:
        day = _as_of(as_of)
    except ValueError as exc:
        raise DiffError(str(exc)) from None
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
        raise DiffError(f"examples must be a whole number of 0 or more, not {examples!r}")
    is_path = isinstance(records_source, (str, os.PathLike))
    data_name = str(records_source) if is_path else None
    if is_path:
        format_from_path(records_source)  # an unknown extension fails before anything is read
    needs_fit = [p for p in (old, new) if p.uses_population and p.populations is None]
    if needs_fit and not is_path and not isinstance(records_source, (list, tuple)):
        records_source = list(records_source)

    def records() -> Iterable[dict]:
        if not is_path:
            return iter(records_source)
        found = read_records(records_source, encoding=encoding)
        if format_from_path(records_source) in ("csv", "tsv"):
            for policy in (new, old):
                found, _ = check_columns(policy, found, data_name)
        return found

    if old.uses_population and old.populations is None:
        old = old.with_stats(old.fit(records(), day)[0])
    if new.uses_population and new.populations is None:
        new = new.with_stats(new.fit(records(), day)[0])

    specs = _field_specs(new, old)
    pii_fields = sorted({s.name for s in (*old.plan.fields, *new.plan.fields) if s.pii})
    hidden = set() if show_pii else set(pii_fields)
    key_spec = next((s for s in (*new.plan.fields, *old.plan.fields) if s.name == (new.plan.key or old.plan.key)), None)

    old_segs = {s.name: s for s in old.plan.segments}
    new_segs = {s.name: s for s in new.plan.segments}
    common_segs = [n for n in new_segs if n in old_segs]
    single = {n: old_segs[n].hit != "all" and new_segs[n].hit != "all" for n in common_segs}
    seg_tallies = {n: _SingleTally(examples) if single[n] else _SetTally(examples) for n in common_segs}
    only_old_segs = {n: Counter() for n in old_segs if n not in new_segs}
    only_new_segs = {n: Counter() for n in new_segs if n not in old_segs}

    old_outs = {o.name: o for o in old.plan.outputs}
    new_outs = {o.name: o for o in new.plan.outputs}
    common_outs = [n for n in new_outs if n in old_outs]
    out_tallies = {n: _OutputTally(old_outs[n].type.numeric and new_outs[n].type.numeric, examples)
                   for n in common_outs}
    only_old_outs = {n: _Side(old_outs[n].type.numeric) for n in old_outs if n not in new_outs}
    only_new_outs = {n: _Side(new_outs[n].type.numeric) for n in new_outs if n not in old_outs}

    rows_in = compared = 0
    rejected = Counter()
    reject_examples: list[RejectExample] = []
    reject_seen = Counter()

    def key_of(record) -> Any:
        if key_spec is None or not isinstance(record, dict):
            return None
        return MASK if key_spec.name in hidden else _plain(lookup(record, key_spec))

    for row, record in enumerate(records()):
        rows_in += 1
        old_err = new_err = None
        try:
            d_old = old.evaluate(record, day)
        except RecordError as exc:
            d_old, old_err = None, exc
        try:
            d_new = new.evaluate(record, day)
        except RecordError as exc:
            d_new, new_err = None, exc
        if d_old is None or d_new is None:
            by = "both" if d_old is None and d_new is None else "old" if d_old is None else "new"
            rejected[by] += 1
            if reject_seen[by] < examples:
                reject_seen[by] += 1
                reject_examples.append(RejectExample(
                    row=row, key=key_of(record), by=by,
                    reason_old=_reason(record, old, old_err, hidden) if old_err else None,
                    reason_new=_reason(record, new, new_err, hidden) if new_err else None))
            continue
        compared += 1
        cached: list[Example] = []

        def make(record=record, row=row) -> Example:
            if not cached:
                shown = {s.name: MASK if s.name in hidden else _plain(lookup(record, s)) for s in specs}
                cached.append(Example(row=row, key=key_of(record), fields=shown))
            return cached[0]

        s_old, s_new = d_old.segments, d_new.segments
        for name in common_segs:
            tally = seg_tallies[name]
            if single[name]:
                tally.add(s_old[name], s_new[name], make)
            else:
                tally.add(_as_set(s_old[name]), _as_set(s_new[name]), make)
        for name, counter in only_old_segs.items():
            _count_member(counter, s_old[name])
        for name, counter in only_new_segs.items():
            _count_member(counter, s_new[name])
        o_old, o_new = d_old.outputs, d_new.outputs
        for name in common_outs:
            out_tallies[name].add(o_old[name], o_new[name], make)
        for name, side in only_old_outs.items():
            side.add(o_old[name])
        for name, side in only_new_outs.items():
            side.add(o_new[name])

    tainted = ir.personal_outputs(old.plan) | ir.personal_outputs(new.plan) if not show_pii else set()
    return Impact(
        old=_ref(old), new=_ref(new), data=data_name, as_of=day, rows_in=rows_in, compared=compared,
        rejected=Rejected(old_only=rejected["old"], new_only=rejected["new"], both=rejected["both"],
                          examples=reject_examples),
        segments=[_segment_impact(old_segs[n], new_segs[n], seg_tallies[n]) for n in common_segs],
        segments_added=[_segment_only(new_segs[n], c) for n, c in only_new_segs.items()],
        segments_removed=[_segment_only(old_segs[n], c) for n, c in only_old_segs.items()],
        outputs=[_output_impact(old_outs[n], new_outs[n], out_tallies[n], n in tainted) for n in common_outs],
        outputs_added=[_output_only(new_outs[n], s, n in tainted) for n, s in only_new_outs.items()],
        outputs_removed=[_output_only(old_outs[n], s, n in tainted) for n, s in only_old_outs.items()],
        pii_fields=pii_fields, pii_shown=show_pii)


def _field_specs(new: Policy, old: Policy) -> list[ir.FieldSpec]:
    """The input fields of both policies, the new policy's first; internal fields left out."""
    seen, out = set(), []
    for spec in (*new.plan.fields, *old.plan.fields):
        if spec.name not in seen:
            seen.add(spec.name)
            out.append(spec)
    return out


def _reason(record, policy: Policy, first: RecordError, hidden: set[str]) -> str:
    """Why a policy rejected the record, every bad field; the value of a personal-data field is not quoted."""
    found = problems(record, policy.plan.fields) or [first]
    return "; ".join(f"{e.field}: the value (hidden: personal data) is not {e.expected}" if e.field in hidden
                     else e.reason for e in found)


def _as_set(value) -> frozenset:
    if value is None:
        return frozenset()
    if isinstance(value, (list, tuple)):
        return frozenset(value)
    return frozenset((value,))


def _count_member(counter: Counter, value) -> None:
    if isinstance(value, (list, tuple)):
        counter.update(value)
        if not value:
            counter[None] += 1
    else:
        counter[value] += 1


def _ref(policy: Policy) -> PolicyRef:
    return PolicyRef(name=policy.name, label=policy.plan.label, version=policy.version,
                     content_hash=policy.content_hash, source=policy.source.path)


def _labels(step: ir.SegmentStep) -> dict:
    return {m: lab for m, lab in zip(step.members, step.labels)}


def _segment_impact(old: ir.SegmentStep, new: ir.SegmentStep, tally) -> SegmentImpact:
    old_labels, new_labels = _labels(old), _labels(new)
    label = new.label if new.label is not None else old.label
    if isinstance(tally, _SetTally):
        members = list(old.members) + [m for m in new.members if m not in old.members]
        members += sorted(m for m in tally.old | tally.new if m not in members)
        tags = [TagChange(member=m, label=new_labels.get(m, old_labels.get(m)), old=tally.old[m], new=tally.new[m],
                          kept=tally.kept[m], gained=tally.new[m] - tally.kept[m], lost=tally.old[m] - tally.kept[m],
                          examples_gained=tally.examples.get((m, "gained")),
                          examples_lost=tally.examples.get((m, "lost")))
                for m in members]
        sizes = [SegmentSize(member=t.member, label=t.label, old=t.old, new=t.new) for t in tags]
        return SegmentImpact(segment=new.name, label=label, kind="all", changed=tally.changed, sizes=sizes,
                             rows=[], columns=[], matrix=[], transitions=[], tags=tags)
    seen_old = {o for o, _ in tally.pairs}
    seen_new = {n for _, n in tally.pairs}
    rows = list(old.members) + sorted(m for m in seen_old if m is not None and m not in old.members) + [None]
    columns = list(new.members) + sorted(m for m in seen_new if m is not None and m not in new.members) + [None]
    matrix = [[tally.pairs.get((r, c), 0) for c in columns] for r in rows]
    row_total = {r: sum(line) for r, line in zip(rows, matrix)}
    col_total = {c: sum(matrix[i][j] for i in range(len(rows))) for j, c in enumerate(columns)}
    members = [m for m in rows if m is not None] + [m for m in columns if m is not None and m not in rows]
    sizes = [SegmentSize(member=m, label=new_labels.get(m, old_labels.get(m)), old=row_total.get(m, 0),
                         new=col_total.get(m, 0)) for m in members]
    if row_total[None] or col_total[None]:
        sizes.append(SegmentSize(member=None, label=None, old=row_total[None], new=col_total[None]))
    moves = sorted(((pair, n) for pair, n in tally.pairs.items() if pair[0] != pair[1]),
                   key=lambda item: (-item[1], rows.index(item[0][0]), columns.index(item[0][1])))  # all listed
    transitions = [Transition(old=o, new=n, count=count, examples=tally.examples.get((o, n)))
                   for (o, n), count in moves]
    return SegmentImpact(
        segment=new.name, label=label, kind="single", changed=sum(n for _, n in moves), sizes=sizes,
        rows=[Member(id=m, label=old_labels.get(m)) for m in rows],
        columns=[Member(id=m, label=new_labels.get(m)) for m in columns],
        matrix=matrix, transitions=transitions, tags=[])


def _segment_only(step: ir.SegmentStep, counter: Counter) -> SegmentOnly:
    labels = _labels(step)
    members = list(step.members) + sorted(m for m in counter if m is not None and m not in step.members)
    sizes = [MemberCount(member=m, label=labels.get(m), count=counter.get(m, 0)) for m in members]
    if counter.get(None):
        sizes.append(MemberCount(member=None, label=None, count=counter[None]))
    return SegmentOnly(segment=step.name, label=step.label, kind="all" if step.hit == "all" else "single", sizes=sizes)


def _output_impact(old: ir.OutputSpec, new: ir.OutputSpec, tally: _OutputTally, masked: bool) -> OutputImpact:
    moves: Counter = Counter()
    examples: dict = {}
    for (o, n), count in tally.moves.items():
        key = (MASK, MASK) if masked else (o, n)
        moves[key] += count
        examples.setdefault(key, []).extend(tally.examples.get((o, n)))
    top = sorted(moves.items(), key=lambda item: (-item[1], repr(item[0])))[:TOP_TRANSITIONS]
    listed = sum(count for _, count in top)
    transitions = [Transition(old=_json_value(o), new=_json_value(n), count=count,
                              examples=examples[(o, n)][:tally.examples.limit])
                   for (o, n), count in top]
    return OutputImpact(output=new.name, label=new.label if new.label is not None else old.label,
                        type=str(new.type), numeric=tally.old.numeric, changed=tally.changed,
                        old=tally.old.stats(), new=tally.new.stats(), transitions=transitions,
                        other_transitions=tally.changed - listed, masked=masked)


def _output_only(spec: ir.OutputSpec, side: _Side, masked: bool) -> OutputOnly:
    values: Counter = Counter()
    for value, count in side.values.items():
        values[MASK if masked and value is not None else value] += count
    top = sorted(values.items(), key=lambda item: (-item[1], repr(item[0])))[:TOP_TRANSITIONS]
    listed = sum(count for _, count in top)
    return OutputOnly(output=spec.name, label=spec.label, type=str(spec.type), numeric=side.numeric,
                      stats=side.stats(), top_values=[ValueCount(value=_json_value(v), count=c) for v, c in top],
                      other_values=side.present + side.missing - listed, masked=masked)


def _same(a, b) -> bool:
    """Equal output values; numbers within 1e-9 (as test cases compare them)."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
                and not isinstance(b, bool):
            return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _json_value(value):
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _plain(value) -> Any:
    """A record value as JSON holds it (Parquet gives dates, decimals, lists)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)
