"""The SQL statements of one `rules eval` run on DuckDB (engine.duck_sql builds them from syntax
trees), kept in the user's cache folder, so that a policy run again on files of the same shape
skips building them and importing sqlglot: a fifth of a second of every run.

A statement never holds a file path: files are passed as prepared-statement parameters (`?`) or
opened through DuckDB's Python API, so the cached text depends only on the policy's plan, the
input's columns and types, the as-of date, frozen populations, the output format and table, and
the engine itself, which together name the cache entry.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from . import ir
from .cache import cache_dir
from .io import atomic_write

KEEP = 64  # cache entries kept; older ones are removed when a new one is written
_ENGINE_DIR = Path(__file__).resolve().parent


def statements(policy, fmt: str, day: dt.date, columns: dict[str, tuple[str, str]], row_column: str | None,
               table: str, json_fields: bool) -> dict:
    """The statements for this run, from the cache when an entry for exactly this run's inputs exists.

    `columns` maps each field with a column to (column name, DuckDB type); `json_fields` says the input
    is JSONL, read into view `_json` with every field as a JSON value.
    """
    key = hashlib.sha256(json.dumps([
        _engine_fingerprint(), ir.to_json(policy.plan), fmt, day.isoformat(), sorted(columns.items()), row_column,
        table, json_fields, repr(policy.populations)], ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    folder = cache_dir()
    path = folder / "sql" / f"{key[:32]}.json" if folder is not None else None
    if path is not None:
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(found, dict) and found.get("key") == key:
                os.utime(path)  # recently used: kept when older entries are removed
                return found
        except (OSError, ValueError):
            pass
    from .duck_sql import build_statements
    made = build_statements(policy, fmt, day, columns, row_column, table, json_fields)
    made["key"] = key
    if path is not None:
        _store(path, made)
    return made


def _store(path: Path, made: dict) -> None:
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        with atomic_write(path) as f:
            f.write(json.dumps(made, ensure_ascii=False))
        entries = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written costs time, never a result


def _engine_fingerprint() -> list:
    """What the statements are made by: this engine's code (file sizes and times), sqlglot's and DuckDB's versions."""
    files = sorted(_ENGINE_DIR.rglob("*.py"))
    stats = [(str(f.relative_to(_ENGINE_DIR)), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    import duckdb
    import importlib.util
    spec = importlib.util.find_spec("sqlglot")
    version_file = Path(spec.origin).parent / "_version.py" if spec and spec.origin else None
    sqlglot = version_file.read_text(encoding="utf-8") if version_file and version_file.exists() else str(spec)
    return [stats, duckdb.__version__, sqlglot, os.sep]
