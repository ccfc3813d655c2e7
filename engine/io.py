"""Record files in and out: CSV/TSV (UTF-8 with or without BOM, GBK/GB18030 as Excel in China
writes them), JSON and JSONL; every output written atomically."""
from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io as _io
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from .records import RaggedRow

FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet", ".duckdb": "duckdb"}


class InputFileError(Exception):
    """A data file that cannot be read: the message names the file (and line where known) and the fix."""


def format_from_path(path) -> str:
    """csv, tsv, json or jsonl from a file name's extension."""
    ext = Path(str(path)).suffix.lower()
    if ext not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise InputFileError(f"{path}: cannot tell the format from `{ext or 'no extension'}`; use one of {known}")
    return FORMATS[ext]


def detect_encoding(data: bytes) -> str:
    """utf-8-sig (a BOM), utf-8, or gb18030 (a superset of GBK, what Excel in China writes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        try:
            data.decode(encoding)
            return encoding
        except UnicodeDecodeError as exc:
            # a cut in the middle of a multi-byte character at the end of a sample is fine
            if exc.start >= len(data) - 4 and exc.reason.startswith("unexpected end"):
                return encoding
    raise InputFileError("the file is neither UTF-8 nor GBK/GB18030; pass --encoding")


def _codec(data: bytes, encoding: str | None, name: str) -> tuple[str, str]:
    """The encoding to report and the codec to decode with (a UTF-8 BOM is always skipped)."""
    if encoding is None:
        encoding = detect_encoding(data[: 1 << 20])
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputFileError(f"{name}: unknown encoding `{encoding}`; try utf-8, gbk or gb18030") from None
    return encoding, "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _decode(data: bytes, encoding: str | None, name: str) -> str:
    encoding, codec = _codec(data, encoding, name)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(f"{name} is not valid {encoding} at line {line}; pass --encoding "
                             f"(utf-8, gbk or gb18030)") from None


def read_records(path=None, *, format: str | None = None, encoding: str | None = None,
                 stream: IO | None = None) -> Iterator[dict]:
    """One dict per record of a CSV/TSV, JSON or JSONL file (or a stream: JSONL unless `format` says).

    CSV values stay strings as written; an empty cell is None.
    """
    if path is not None:
        name = str(path)
        fmt = format or format_from_path(path)
        try:
            with open(path, "rb") as f:
                head = f.read(1 << 20)
        except FileNotFoundError:
            raise InputFileError(f"no such file: {path}") from None
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read it ({exc.strerror})") from None
        if fmt == "parquet":
            return _parquet(path)
        if fmt in ("csv", "tsv", "jsonl"):  # read as it goes, for files of millions of rows
            return _streamed(Path(path), fmt, *_codec(head, encoding, name))
        data = Path(path).read_bytes()
    elif stream is not None:
        name = "<stdin>"
        fmt = format or "jsonl"
        data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
    else:
        raise InputFileError("no input: give a file or a stream")
    text = _decode(data, encoding, name)
    if fmt in ("csv", "tsv"):
        return _csv(text, name, "\t" if fmt == "tsv" else ",")
    if fmt == "json":
        return iter(_json(text, name))
    if fmt == "jsonl":
        return _jsonl(text, name)
    raise InputFileError(f"{name}: unknown format `{fmt}`; use csv, tsv, json or jsonl")


def _parquet(path) -> Iterator[dict]:
    """Rows of a Parquet file as dicts of Python values (int, float, Decimal, str, date, list …), streamed."""
    import duckdb
    con = duckdb.connect()
    try:
        cursor = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        names = [c[0] for c in cursor.description]
        while batch := cursor.fetchmany(10_000):
            for values in batch:
                yield dict(zip(names, values))
    except duckdb.Error as exc:
        raise InputFileError(f"{path}: cannot read it as Parquet ({exc})") from None
    finally:
        con.close()


def _streamed(path: Path, fmt: str, encoding: str, codec: str) -> Iterator[dict]:
    """Records read from the file as they are needed; a decoding error names its line."""
    name = str(path)
    try:
        with open(path, encoding=codec, newline="") as f:
            if fmt == "jsonl":
                yield from _jsonl(f, name)
            else:
                yield from _csv(f, name, "\t" if fmt == "tsv" else ",")
    except UnicodeDecodeError:
        _decode(path.read_bytes(), encoding, name)  # raises InputFileError with the exact line
        raise


def _csv(text, name: str, delimiter: str) -> Iterator[dict]:
    """Rows of CSV text (a string or an open text file) as dicts keyed by the header."""
    lines = _io.StringIO(text, newline="") if isinstance(text, str) else text
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputFileError(f"{name}, line 1: {exc}") from None
    header = [h.strip() for h in header]
    if any(not h for h in header):
        raise InputFileError(f"{name}, line 1: column {header.index('') + 1} has no name in the header row")
    seen = set()
    for h in header:
        if h in seen:
            raise InputFileError(f"{name}, line 1: column `{h}` appears twice in the header row")
        seen.add(h)
    width = len(header)
    try:
        for row in reader:
            if not row:
                continue
            if len(row) > width:
                yield RaggedRow(f"line {reader.line_num}: {len(row)} cells but the header has {width}")
                continue
            values = [v if v != "" else None for v in row] + [None] * (width - len(row))
            yield dict(zip(header, values))
    except csv.Error as exc:
        raise InputFileError(f"{name}, line {reader.line_num}: {exc}") from None


def _json(text: str, name: str) -> list:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{name}, line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})") from None
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        return doc
    raise InputFileError(f"{name}: expected a JSON object or an array of objects")


def _jsonl(text, name: str) -> Iterator[dict]:
    """One record per line of JSONL text (a string or an open text file)."""
    for number, line in enumerate(text.split("\n") if isinstance(text, str) else text, 1):  # not splitlines: \u2028 and \x1c are data
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{name}, line {number}: invalid JSON ({exc.msg})") from None


def file_mode(target: Path) -> int:
    """The permissions a replacement of `target` gets: those it has, or what the umask gives a new file
    (mkstemp's temporary files are owner-only, which would make outputs unreadable to the team)."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path, encoding: str = "utf-8"):
    """A text file to write that replaces `path` only when the block succeeds; else `path` is untouched."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        os.chmod(tmp, file_mode(target))
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            yield f
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno:  # e.g. a full disk: name the file
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(target)) from None
        raise


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(_cell(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: dates as ISO strings, tuples as lists."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def _jsonable(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_rows(path, rows: Iterable[dict], columns: list[str], format: str, *, encoding: str = "utf-8") -> int:
    """Write rows atomically to a file as csv / tsv / jsonl / json; return how many were written."""
    with atomic_write(path, encoding) as f:
        return write_stream(f, rows, columns, format)


def write_stream(f: IO, rows: Iterable[dict], columns: list[str], format: str) -> int:
    """Write rows to an open text stream (a file, stdout) as csv / tsv / jsonl / json; return the count."""
    count = 0
    if format in ("csv", "tsv"):
        w = csv.writer(f, delimiter="\t" if format == "tsv" else ",", lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            w.writerow([_cell(row.get(c)) for c in columns])
            count += 1
    elif format == "jsonl":
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_jsonable) + "\n")
            count += 1
    elif format == "json":
        f.write("[")
        for row in rows:
            f.write(("\n" if not count else ",\n") + json.dumps(row, ensure_ascii=False, default=_jsonable))
            count += 1
        f.write("\n]\n")
    else:
        raise InputFileError(f"the record-by-record backends write csv, tsv, json or jsonl, not {format}; "
                             f"Parquet and .duckdb outputs come from --backend duckdb")
    return count
