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

from . import cache, ir


def statements(policy, fmt: str, day: dt.date, columns: dict[str, tuple[str, str]], row_column: str | None,
               table: str, json_fields: bool) -> dict:
    """The statements for this run, from the cache when an entry for exactly this run's inputs exists.

    `columns` maps each field with a column to (column name, DuckDB type); `json_fields` says the input
    is JSONL, read into view `_json` with every field as a JSON value.
    """
    key = cache.entry_key(ir.to_json(policy.plan), fmt, day.isoformat(), sorted(columns.items()), row_column,
                          table, json_fields, repr(policy.populations))
    found = cache.read("sql", key)
    if found is not None:
        return found
    from .duck_sql import build_statements
    made = build_statements(policy, fmt, day, columns, row_column, table, json_fields)
    cache.write("sql", key, made)
    return made
