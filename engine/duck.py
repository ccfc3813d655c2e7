"""`rules eval` in DuckDB: files of millions of rows decided by one SQL query, out of core.

The input file is scanned by DuckDB (CSV as text, Parquet with its own types), validated and
decided by the query from engine.sql, and the result lands in a temporary table that spills to
disk. From it come the decisions file, the rejects (their reasons written by the same code as
the per-record path, from the raw row) and the segment counts.
"""
from __future__ import annotations

import contextlib
import errno
import datetime as dt
import json
import os
import re
import tempfile
from collections import Counter, deque
from pathlib import Path

import duckdb
from sqlglot import exp

from .batch import REJECT_COLUMNS, BatchResult, check_columns, confirmed_reject
from .io import InputFileError, atomic_write, detect_encoding, file_mode, format_from_path, write_stream
from .policy import Policy, _as_of
from .sql import SourceColumn, build_query

MEMORY_LIMIT = "1GB"


def duckdb_reads(path: str) -> bool:
    """Whether the duckdb backend reads this file (by its extension): CSV, TSV, JSONL or Parquet."""
    return Path(str(path)).suffix.lower() in (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson")


def connect(temp_dir: str, progress: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to `temp_dir` beyond MEMORY_LIMIT and keeps rows in input order;
    RULES_THREADS caps its threads (the output is the same bytes with any number).

    With `progress`, DuckDB draws its progress bar for statements running longer than two seconds.
    """
    config = {"memory_limit": MEMORY_LIMIT, "temp_directory": temp_dir, "preserve_insertion_order": True}
    if os.environ.get("RULES_THREADS", "").isdigit() and int(os.environ["RULES_THREADS"]) > 0:
        config["threads"] = int(os.environ["RULES_THREADS"])  # default: every core
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = " + ("true" if progress else "false"))
    return con


def _utf8_copy(path: str, encoding: str | None, tmp: str) -> str:
    """The file itself when it is UTF-8, else a UTF-8 copy (GBK/GB18030 from Excel), made as a stream."""
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    found = encoding or detect_encoding(head)
    if found.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig"):
        return path
    target = os.path.join(tmp, "input.csv")
    with open(path, encoding=found, newline="") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    return target


class _NoRecords(Exception):
    """A CSV with a header only: nothing for DuckDB to scan (the per-record path writes the empty outputs)."""


def open_input(con, policy: Policy, path: str, encoding: str | None, tmp: str):
    """Register the file as view `_input`; return where each field is read from, the row column, absent fields."""
    fmt = format_from_path(path)
    if not Path(path).exists():
        raise InputFileError(f"no such file: {path}")
    if fmt in ("csv", "tsv"):
        from .io import read_records
        records = read_records(path, encoding=encoding)
        first_record = next(records, None)
        if first_record is None:
            raise _NoRecords
        header = list(first_record)
        _, absent = check_columns(policy, iter([first_record]), path)
        source = _utf8_copy(path, encoding, tmp)
        # the header is known: no sniffing, every cell as text (as the per-record reader sees it)
        def option(name, value):
            return exp.EQ(this=exp.var(name), expression=value)
        scan = exp.Anonymous(this="READ_CSV", expressions=[
            exp.Literal.string(source), option("header", exp.true()), option("auto_detect", exp.false()),
            option("delim", exp.Literal.string("\t" if fmt == "tsv" else ",")),
            option("quote", exp.Literal.string('"')), option("escape", exp.Literal.string('"')),
            option("columns", exp.Struct(expressions=[exp.PropertyEQ(this=exp.Literal.string(h),
                                                                     expression=exp.Literal.string("VARCHAR"))
                                                      for h in header]))])
        con.execute(exp.Create(this=exp.to_table("_input"), kind="VIEW", expression=exp.select("*").from_(
            exp.Table(this=scan))).sql("duckdb"))
        types = {name: "VARCHAR" for name in header}
        row_column = None
    elif fmt == "parquet":
        rel = con.read_parquet(path, file_row_number=True)
        rel.create_view("_input")
        types = {name: str(t) for name, t in zip(rel.columns, rel.types) if name != "file_row_number"}
        absent = [f"`{f.name}`" for f in policy.plan.fields
                  if f.name not in types and (f.column is None or f.column not in types)]
        missing = [f for f in policy.plan.fields if f"`{f.name}`" in absent and not f.optional and f.default is None]
        if missing:
            raise InputFileError(f"{path} has no column for {', '.join('`' + f.name + '`' for f in missing)}, which "
                                 f"the policy needs (the file's columns: {', '.join(types)})")
        row_column = "file_row_number"
    elif fmt == "jsonl":
        # every field as a JSON value (a record lacking a key gives NULL), coerced by its JSON type
        wanted = sorted({n for f in policy.plan.fields for n in (f.name, f.column) if n})
        scan = exp.Anonymous(this="READ_JSON", expressions=[
            exp.Literal.string(_utf8_copy(path, encoding, tmp)),
            exp.EQ(this=exp.var("format"), expression=exp.Literal.string("newline_delimited")),
            exp.EQ(this=exp.var("columns"), expression=exp.Struct(expressions=[
                exp.PropertyEQ(this=exp.Literal.string(n), expression=exp.Literal.string("JSON")) for n in wanted]))])
        fields = [exp.alias_(exp.Coalesce(this=exp.column(f.name, quoted=True),
                                          expressions=[exp.column(f.column, quoted=True)]) if f.column
                             else exp.column(f.name, quoted=True), f.name, quoted=True) for f in policy.plan.fields]
        con.execute(exp.Create(this=exp.to_table("_input"), kind="VIEW", expression=exp.select(*fields).from_(
            exp.Table(this=scan))).sql("duckdb"))
        types = {f.name: "JSON" for f in policy.plan.fields}
        absent, row_column = [], None
    else:
        raise InputFileError(f"{path}: the duckdb backend reads CSV, TSV, JSONL and Parquet; use --backend python "
                             f"for {fmt}")
    columns = {}
    for spec in policy.plan.fields:
        name = spec.name if spec.name in types else spec.column if spec.column in types else None
        if name is not None:
            columns[spec.name] = SourceColumn(name, types[name])
    return columns, row_column, absent


def evaluate_duckdb(policy: Policy, data: str, *, out: str | None = None, out_format: str | None = None,
                    rejects: str | None = None, as_of=None, encoding: str | None = None, sink=None,
                    table: str = "decisions", progress: bool = False) -> BatchResult:
    """Decide every row of a CSV or Parquet file in DuckDB; same results and files as batch.evaluate_file."""
    day = _as_of(as_of)
    result = BatchResult()
    for name in policy.segment_names:
        result.counts[name] = Counter()
    with tempfile.TemporaryDirectory(prefix="rules-duckdb-") as tmp:
        con = connect(tmp, progress)
        try:
            columns, row_column, result.absent = open_input(con, policy, data, encoding, tmp)
            query = build_query(policy.plan, "duckdb", exp.to_table("_input"), day, columns,
                                populations=policy.populations, row_column=row_column, keep_row=True,
                                # DuckDB keeps rows in scan order (preserve_insertion_order) unless a
                                # window function (quintile, ntile, percent_rank) reorders them
                                ordered=bool(policy.plan.sites))
            con.execute(exp.Create(this=exp.to_table("_decided"), kind="VIEW", expression=query).sql("duckdb"))
            fmt = out_format or (format_from_path(out) if out else "jsonl")
            with _staged(out, fmt) as target:
                _decide(con, policy, result, target, fmt, sink, table, day, row_column,
                        json_source=format_from_path(data) == "jsonl")
                if rejects is not None:
                    with atomic_write(rejects) as f:
                        write_stream(f, (r.to_dict() for r in result.rejects), REJECT_COLUMNS,
                                     format_from_path(rejects))
        except (duckdb.InterruptException, RuntimeError) as exc:  # Ctrl-C or SIGTERM while DuckDB ran
            if isinstance(exc, RuntimeError) and "interrupted" not in str(exc):
                raise
            raise KeyboardInterrupt from None  # unwind as Python does: no output is kept
        except duckdb.Error as exc:
            if not _reads_record_by_record(data, encoding):
                raise InputFileError(f"{data}: {str(exc).splitlines()[0]}") from None
            by_record = True  # e.g. CSV rows wider than the header: rejected one by one there
        except _NoRecords:
            by_record = True
        else:
            by_record = False
        finally:
            con.close()
    if by_record:
        from .batch import evaluate_file
        return evaluate_file(policy, data=data, out=out, out_format=out_format, rejects=rejects, as_of=day,
                             encoding=encoding, sink=sink)
    return result


def _reads_record_by_record(data: str, encoding: str | None) -> bool:
    """When DuckDB cannot read a file: whether the per-record reader can (then it decides the file,
    the same way); if that fails too, its message, which names the line, is raised. A CSV or JSONL
    file is read through once, as a stream."""
    from .io import read_records
    if format_from_path(data) not in ("csv", "tsv", "jsonl"):
        return False
    deque(read_records(data, encoding=encoding), maxlen=0)
    return True


def _decide(con, policy: Policy, result: BatchResult, target: str | None, fmt: str, sink, table: str,
            day: dt.date, row_column: str | None, json_source: bool) -> None:
    """Write the decisions of view `_decided` to `target` (or `sink`), find the rejects, count the segments.

    The decisions are written straight from the query. A Parquet output holds the segments to count.
    A Parquet input says in its metadata how many rows it has: when the output has as many, no row was
    rejected and the validation need not run again; otherwise a second pass, which computes only the
    validation (DuckDB prunes the rest), finds the rejected rows.
    """
    if fmt == "parquet" and target is not None and row_column is not None:
        write_result(con, policy, target, fmt, table, day)
        _count(con, policy, result, _read_parquet(target), decided_only=True)
        rows_in = con.execute(exp.select(exp.Count(this=exp.Star())).from_("_input").sql("duckdb")).fetchone()[0]
        if rows_in > result.decided:
            _narrow(con, policy, with_segments=False)
            result.rejects = list(_rejects(con, policy, row_column, json_source))
        if rows_in != result.decided + len(result.rejects):
            raise AssertionError(f"DuckDB read {rows_in} rows but decided {result.decided} and rejected "
                                 f"{len(result.rejects)}; please report this engine bug")
    else:
        _narrow(con, policy, with_segments=fmt != "parquet" or target is None)
        result.rejects = list(_rejects(con, policy, row_column, json_source))
        if target is not None:
            write_result(con, policy, target, fmt, table, day)
        elif sink is not None:
            _to_sink(con, policy, fmt, sink, day)
        if fmt == "parquet" and target is not None:
            _count(con, policy, result, _read_parquet(target), decided_only=True)
        else:
            _count(con, policy, result, exp.to_table("_result"), decided_only=False)
    result.rejected = len(result.rejects)
    result.rows_in = result.decided + result.rejected


def _read_parquet(path: str) -> exp.Expression:
    return exp.Table(this=exp.Anonymous(this="READ_PARQUET", expressions=[exp.Literal.string(str(path))]))


def _narrow(con, policy: Policy, with_segments: bool) -> None:
    """Temporary table `_result`: the row number and reject reasons of every rejected row and, `with_segments`,
    every row with its segments and errors, to count them (DuckDB computes only these columns)."""
    kept = ("rejected", "errors", *policy.segment_names) if with_segments else ("rejected",)
    narrow = exp.select("_row", *[exp.column(n, quoted=True) for n in kept]).from_("_decided")
    if not with_segments:
        narrow = narrow.where(exp.Not(this=exp.Is(this=exp.column("rejected"), expression=exp.null())))
    con.execute(exp.Create(this=exp.to_table("_result"), kind="TABLE", expression=narrow,
                           properties=exp.Properties(expressions=[exp.TemporaryProperty()])).sql("duckdb"))


@contextlib.contextmanager
def _staged(out: str | None, fmt: str):
    """Where to write the decisions: a temporary file beside `out` that replaces it only when the whole
    run has succeeded (rejects found and written, counts taken), else is removed. A table in a DuckDB
    database file is written in one transaction instead."""
    if out is None or fmt == "duckdb":
        yield out
        return
    target = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, file_mode(target))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename == tmp:  # a full disk: say which output it was
            raise OSError(exc.errno, exc.strerror, str(target)) from None
        raise


def _key_column(policy: Policy) -> str:
    return policy.plan.key or "row"


def _count(con, policy: Policy, result: BatchResult, source: exp.Expression, decided_only: bool) -> None:
    """Decided rows, rows with conflicts and segment member counts, in one scan of `source`: the narrow
    result table (every row, with `rejected`) or, `decided_only`, the written Parquet output."""
    where = exp.true() if decided_only else exp.Is(this=exp.column("rejected", quoted=True), expression=exp.null())

    def count_if(condition: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this="COUNT_IF", expressions=[exp.And(this=where.copy(), expression=condition)])

    length = lambda e: exp.Anonymous(this="LEN", expressions=[e])  # noqa: E731
    counts = [count_if(exp.true()), count_if(exp.GT(this=length(exp.column("errors", quoted=True)),
                                                     expression=exp.Literal.number(0)))]
    keys = []
    for step in policy.plan.segments:
        column = exp.column(step.name, quoted=True)
        for member in step.members:
            lit = exp.Literal.string(member)
            counts.append(count_if(exp.Anonymous(this="LIST_CONTAINS", expressions=[column.copy(), lit])
                                   if step.hit == "all" else exp.EQ(this=column.copy(), expression=lit)))
            keys.append((step.name, member))
        # an `all` segment with no member counts as "(none)", as in the per-record path; another as missing
        counts.append(count_if(exp.EQ(this=length(column.copy()), expression=exp.Literal.number(0))
                               if step.hit == "all" else exp.Is(this=column.copy(), expression=exp.null())))
        keys.append((step.name, "(none)" if step.hit == "all" else None))
    row = con.execute(exp.select(*counts).from_(source.copy()).sql("duckdb")).fetchone()
    result.decided, result.with_errors = row[0], row[1]
    for (name, member), n in zip(keys, row[2:]):
        if n:
            result.counts[name][member] += n


def _rejects(con, policy: Policy, row_column: str | None, json_source: bool = False):
    """Rejects with reasons from the per-record validation of the raw row; SQL and Python must agree."""
    none = exp.select(exp.Count(this=exp.Star())).from_("_result").where(
        exp.Not(this=exp.Is(this=exp.column("rejected"), expression=exp.null())))
    if not con.execute(none.sql("duckdb")).fetchone()[0]:
        return  # nothing rejected: no need to read the input again
    row_expr = (exp.column(row_column, quoted=True) if row_column else
                exp.Sub(this=exp.Window(this=exp.RowNumber()), expression=exp.Literal.number(1)))
    star = exp.Star(**({"except": [exp.column(row_column, quoted=True)]} if row_column else {}))
    raw = exp.select(exp.alias_(row_expr, "_row"), star).from_("_input")
    bad = exp.select("_row", "rejected").from_("_result").where(
        exp.Not(this=exp.Is(this=exp.column("rejected"), expression=exp.null())))
    query = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("r")), exp.column("rejected", table="b")).from_(raw.subquery("r")).join(
        bad.subquery("b"), on=exp.EQ(this=exp.column("_row", table="r"), expression=exp.column("_row", table="b"))
    ).order_by(exp.column("_row", table="r"))
    cursor = con.execute(query.sql("duckdb"))
    names = [c[0] for c in cursor.description]
    while batch := cursor.fetchmany(10_000):
        for values in batch:
            record = dict(zip(names[1:-1], values[1:-1]))
            if json_source:  # JSON text of each value, as the JSONL line had it
                record = {k: None if v is None else json.loads(v) for k, v in record.items()}
            yield confirmed_reject(policy, record, values[0], values[-1].split(", "), "DuckDB")


def decisions_select(policy: Policy, fmt: str, day: dt.date) -> exp.Select:
    """The decided rows of view `_decided` shaped for an output format: flat for csv / tsv / parquet / duckdb,
    whole decisions (as Decision.to_dict) for json / jsonl."""
    plan = policy.plan
    col = lambda name: exp.column(name, quoted=True)  # noqa: E731
    lit = exp.Literal.string
    key = _key_column(policy)
    if fmt in ("json", "jsonl"):
        labels = []
        for step in plan.segments:
            pairs = [(m, l) for m, l in zip(step.members, step.labels) if l is not None]
            if step.hit == "all":
                x = exp.to_identifier("x")
                label = exp.Anonymous(this="LIST_TRANSFORM", expressions=[col(step.name), exp.Lambda(
                    this=_label_case(exp.column(x), pairs), expressions=[x])])
            else:
                label = _label_case(col(step.name), pairs)
            labels.append(exp.PropertyEQ(this=exp.to_identifier(step.name, quoted=True), expression=label))
        struct = lambda names: exp.Struct(expressions=[  # noqa: E731
            exp.PropertyEQ(this=exp.to_identifier(n, quoted=True), expression=col(n)) for n in names])
        selected = [
            exp.alias_(col(key) if plan.key else exp.column("_row"), "key", quoted=True),
            exp.alias_(exp.column("_row"), "row", quoted=True),
            exp.alias_(struct(policy.segment_names), "segments", quoted=True),
            exp.alias_(exp.Struct(expressions=labels), "labels", quoted=True),
            exp.alias_(struct(policy.output_names), "outputs", quoted=True),
            col("rules_fired"), col("errors"),
            exp.alias_(lit(plan.name), "policy", quoted=True), exp.alias_(lit(plan.version), "version", quoted=True),
            exp.alias_(lit(plan.content_hash), "content_hash", quoted=True),
            exp.alias_(exp.cast(lit(day.isoformat()), "DATE"), "as_of", quoted=True),
        ]
    else:
        flat = fmt in ("csv", "tsv")
        # CSV cannot tell an empty string from a missing value; DuckDB would quote "" where Python's
        # csv module writes nothing, so an empty string is written as missing, the same bytes either way
        blank = lambda e, name: exp.alias_(exp.Nullif(this=e, expression=lit("")), name, quoted=True)  # noqa: E731
        key_text = flat and any(f.key and f.type.kind == "string" for f in plan.fields)
        selected = [blank(col(key), key) if key_text else col(key)]
        for name in (*policy.segment_names, *policy.output_names):
            if flat and _is_list(policy, name):
                selected.append(blank(exp.Anonymous(this="ARRAY_TO_STRING", expressions=[col(name), lit(";")]), name))
            elif flat and _is_text(policy, name):
                selected.append(blank(col(name), name))
            else:
                selected.append(col(name))
        if flat:
            selected.append(blank(exp.Anonymous(this="ARRAY_TO_STRING", expressions=[col("errors"), lit("; ")]),
                                  "errors"))
        else:
            selected += [col("rules_fired"), col("errors")]
    return exp.select(*selected).from_("_decided").where(  # in input order (see evaluate_duckdb)
        exp.Is(this=col("rejected"), expression=exp.null()))


def _label_case(value, pairs):
    if not pairs:
        return exp.cast(exp.null(), "VARCHAR")
    node = exp.Case()
    for member, label in pairs:
        node = node.when(exp.EQ(this=value, expression=exp.Literal.string(member)), exp.Literal.string(label))
    return node


def _is_text(policy: Policy, name: str) -> bool:
    """A segment's member, or a string or enum output."""
    return name in policy.segment_names or any(
        o.name == name and o.type.kind in ("string", "enum") for o in policy.plan.outputs)


def _is_list(policy: Policy, name: str) -> bool:
    for step in policy.plan.segments:
        if step.name == name:
            return step.hit == "all"
    return any(o.name == name and o.combine == "list" for o in policy.plan.outputs)


_COPY_FORMATS = {"csv": "CSV", "tsv": "CSV", "parquet": "PARQUET", "jsonl": "JSON"}


def write_result(con, policy: Policy, target: str, fmt: str, table: str, day: dt.date) -> None:
    """Write the decisions to `target`: a file (see _staged for how it replaces the output) or, for
    `duckdb`, a table in that database file, committed at once."""
    select = decisions_select(policy, fmt, day)
    if fmt == "duckdb":
        con.execute(exp.Command(this="ATTACH", expression=exp.Literal.string(target).sql("duckdb") + " AS _out").sql())
        into = exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier("_out"))
        con.execute("BEGIN")
        con.execute(exp.Create(this=into, kind="TABLE", expression=select, replace=True).sql("duckdb"))
        con.execute("COMMIT")
        con.execute("DETACH _out")
        return
    if fmt not in _COPY_FORMATS:
        raise InputFileError(f"the duckdb backend writes csv, tsv, jsonl, parquet or a .duckdb table, not {fmt}")
    params = [exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var(_COPY_FORMATS[fmt]))]
    if fmt in ("csv", "tsv"):
        params += [exp.CopyParameter(this=exp.var("HEADER"), expression=exp.true()),
                   exp.CopyParameter(this=exp.var("DELIMITER"), expression=exp.Literal.string(
                       "\t" if fmt == "tsv" else ","))]
    copy = exp.Copy(this=select.subquery(), kind=False, files=[exp.Literal.string(target)], params=params)
    try:
        con.execute(copy.sql("duckdb"))
    except duckdb.IOException as exc:  # a full disk, a folder that went away: the output file's problem
        found = re.search(r'"errno":"(\d+)"', str(exc))
        code = int(found.group(1)) if found else errno.EIO
        raise OSError(code, os.strerror(code), str(target)) from None


def _to_sink(con, policy: Policy, fmt: str, sink, day: dt.date) -> None:
    select = decisions_select(policy, fmt if fmt in ("json", "jsonl") else "csv", day)
    cursor = con.execute(select.sql("duckdb"))
    names = [c[0] for c in cursor.description]

    def rows():
        while batch := cursor.fetchmany(10_000):
            for values in batch:
                yield dict(zip(names, values))
    sink(rows(), names, fmt)
