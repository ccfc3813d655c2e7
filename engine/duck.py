"""`rules eval` in DuckDB: files of millions of rows decided by one SQL query, out of core.

The input file is scanned by DuckDB (CSV as text, Parquet with its own types), validated and
decided by the query from engine.sql, and written straight to the output; DuckDB spills to disk
beyond its memory limit. Then come the rejects (their reasons written by the same code as the
per-record path, from the raw row) and the segment counts. The statements come from
engine.duck_sql through the cache of engine.duck_cache; files are opened through DuckDB's Python
API or passed as parameters, never written into SQL.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from collections import Counter, deque
from pathlib import Path

import duckdb

from .batch import REJECT_COLUMNS, BatchResult, check_columns, confirmed_reject
from .duck_cache import statements
from .io import InputFileError, atomic_write, detect_encoding, file_mode, format_from_path, write_stream
from .policy import Policy, _as_of

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
    """Register the file as view `_input` (a JSONL file as `_json`, which a statement turns into `_input`);
    return where each field is read from as {field: (column, DuckDB type)}, the row column, absent fields."""
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
        # the header is known: no sniffing, every cell as text (as the per-record reader sees it)
        con.read_csv(_utf8_copy(path, encoding, tmp), header=True, auto_detect=False, sep="\t" if fmt == "tsv" else ",",
                     quotechar='"', escapechar='"', columns={h: "VARCHAR" for h in header}).create_view("_input")
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
        con.read_json(_utf8_copy(path, encoding, tmp), format="newline_delimited",
                      columns={n: "JSON" for n in wanted}).create_view("_json")
        types = {f.name: "JSON" for f in policy.plan.fields}
        absent, row_column = [], None
    else:
        raise InputFileError(f"{path}: the duckdb backend reads CSV, TSV, JSONL and Parquet; use --backend python "
                             f"for {fmt}")
    columns = {}
    for spec in policy.plan.fields:
        name = spec.name if spec.name in types else spec.column if spec.column in types else None
        if name is not None:
            columns[spec.name] = (name, types[name])
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
            fmt = out_format or (format_from_path(out) if out else "jsonl")
            json_source = format_from_path(data) == "jsonl"
            sql = statements(policy, fmt, day, columns, row_column, table, json_source)
            if sql["input"]:
                con.execute(sql["input"])
            con.execute(sql["decided"])
            with _staged(out, fmt) as target:
                _decide(con, policy, sql, result, target, fmt, sink, row_column is not None, json_source)
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


def _decide(con, policy: Policy, sql: dict, result: BatchResult, target: str | None, fmt: str, sink,
            numbered: bool, json_source: bool) -> None:
    """Write the decisions of view `_decided` to `target` (or `sink`), find the rejects, count the segments.

    The decisions are written straight from the query. A Parquet output holds the segments to count.
    A Parquet input (`numbered`: its rows carry their numbers) says in its metadata how many rows it
    has: when the output has as many, no row was rejected and the validation need not run again;
    otherwise a second pass, which computes only the validation (DuckDB prunes the rest), finds them.
    """
    if fmt == "parquet" and target is not None and numbered:
        write_result(con, sql, target, fmt)
        _count(con, sql, result, "count_output", [target])
        rows_in = con.execute(sql["rows_in"]).fetchone()[0]
        if rows_in > result.decided:
            con.execute(sql["narrow_rejected"])
            result.rejects = list(_rejects(con, policy, sql, json_source))
        if rows_in != result.decided + len(result.rejects):
            raise AssertionError(f"DuckDB read {rows_in} rows but decided {result.decided} and rejected "
                                 f"{len(result.rejects)}; please report this engine bug")
    else:
        from_output = fmt == "parquet" and target is not None
        con.execute(sql["narrow_rejected" if from_output else "narrow_all"])
        result.rejects = list(_rejects(con, policy, sql, json_source))
        if target is not None:
            write_result(con, sql, target, fmt)
        elif sink is not None:
            _to_sink(con, sql, fmt, sink)
        if from_output:
            _count(con, sql, result, "count_output", [target])
        else:
            _count(con, sql, result, "count_result", [])
    result.rejected = len(result.rejects)
    result.rows_in = result.decided + result.rejected


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


def _count(con, sql: dict, result: BatchResult, query: str, params: list) -> None:
    """Decided rows, rows with conflicts and segment member counts, from one scan (see duck_sql._count)."""
    row = con.execute(sql[query], params).fetchone()
    result.decided, result.with_errors = row[0], row[1]
    for (name, member), n in zip(sql["count_keys"], row[2:]):
        if n:
            result.counts[name][member] += n


def _rejects(con, policy: Policy, sql: dict, json_source: bool = False):
    """Rejects with reasons from the per-record validation of the raw row; SQL and Python must agree."""
    if not con.execute(sql["rejected_any"]).fetchone()[0]:
        return  # nothing rejected: no need to read the input again
    cursor = con.execute(sql["rejects"])
    names = [c[0] for c in cursor.description]
    while batch := cursor.fetchmany(10_000):
        for values in batch:
            record = dict(zip(names[1:-1], values[1:-1]))
            if json_source:  # JSON text of each value, as the JSONL line had it
                record = {k: None if v is None else json.loads(v) for k, v in record.items()}
            yield confirmed_reject(policy, record, values[0], values[-1].split(", "), "DuckDB")


def write_result(con, sql: dict, target: str, fmt: str) -> None:
    """Write the decisions to `target`: a file (see _staged for how it replaces the output) or, for
    `duckdb`, a table in that database file, committed at once."""
    if fmt == "duckdb":
        con.execute("ATTACH ? AS _out", [target])
        con.execute("BEGIN")
        con.execute(sql["create_table"])
        con.execute("COMMIT")
        con.execute("DETACH _out")
        return
    if "write" not in sql:
        raise InputFileError(f"the duckdb backend writes csv, tsv, jsonl, parquet or a .duckdb table, not {fmt}")
    try:
        con.execute(sql["write"], [target])
    except duckdb.IOException as exc:  # a full disk, a folder that went away: the output file's problem
        found = re.search(r'"errno":"(\d+)"', str(exc))
        code = int(found.group(1)) if found else errno.EIO
        raise OSError(code, os.strerror(code), str(target)) from None


def _to_sink(con, sql: dict, fmt: str, sink) -> None:
    cursor = con.execute(sql["sink"])
    names = [c[0] for c in cursor.description]

    def rows():
        while batch := cursor.fetchmany(10_000):
            for values in batch:
                yield dict(zip(names, values))
    sink(rows(), names, fmt)
