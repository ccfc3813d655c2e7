"""A policy as one SQL query for DuckDB, PostgreSQL, Spark, Snowflake or BigQuery.

`build_query` gives the syntax tree; `to_sql` prints it for a dialect. The query reads a
relation with a column per input field and gives one row per input row, in input order: the
key (or `row`), one column per segment (an `all` segment as an array), one per output,
`rules_fired`, `errors`, and `rejected` (the fields that failed validation; the decision
columns are then missing).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlglot import exp

from .. import ir
from .columns import Columns, parenthesize
from .compiler import Compiler
from .dialects import DIALECTS, case, fn
from .validate import Validator

DIALECT_NAMES = tuple(DIALECTS)


class SqlError(ValueError):
    """A query that cannot be made: an unknown dialect, a table name that is not a name."""


@dataclass(frozen=True)
class SourceColumn:
    """Where a field is read from: the column's name in the input, and its type as DuckDB reports it
    (None for a typed warehouse table, whose columns have the fields' own types)."""
    name: str
    type: str | None = None


def dialect(name: str):
    if name not in DIALECTS:
        raise SqlError(f"unknown SQL dialect `{name}`; use one of {', '.join(DIALECTS)}")
    return DIALECTS[name]()


def default_columns(plan: ir.Plan) -> dict[str, SourceColumn]:
    """A warehouse table's columns: the field's `from` column when it has one, else its name."""
    return {f.name: SourceColumn(f.column or f.name) for f in plan.fields}


def build_query(plan: ir.Plan, dialect_name: str, source: exp.Expression, as_of: dt.date,
                columns: dict[str, SourceColumn] | None = None, populations=None,
                row_column: str | None = None, keep_row: bool = False, ordered: bool = True) -> exp.Select:
    """The query deciding every row of `source` (a table or subquery).

    `columns` says where each field is read from (a field without an entry has no column: it is
    missing); `row_column` names a source column holding each row's 0-based position, else rows
    are numbered in scan order. `populations` are frozen cut points for population functions;
    `keep_row` adds the 0-based position as column `_row`. `ordered=False` leaves out the final
    ORDER BY where the engine keeps scan order anyway (DuckDB, for a policy without window functions).
    """
    d = dialect(dialect_name)
    columns = default_columns(plan) if columns is None else columns
    native = all(c.type is None for c in columns.values())
    raw_names = {f.name: f"_in{i}" for i, f in enumerate(plan.fields) if f.name in columns}
    row = exp.column(row_column, quoted=True) if row_column else d.row_number()
    src = exp.select(exp.alias_(row, "_row"), *[
        exp.alias_(exp.column(columns[f].name, quoted=True), raw) for f, raw in raw_names.items()]).from_(source)
    cols = Columns(base={"_row", *raw_names.values()})
    validator = Validator(cols, d if native else None)
    values, bads = {}, []
    for spec in plan.fields:
        raw = exp.column(raw_names[spec.name]) if spec.name in raw_names else None
        source_type = columns[spec.name].type if spec.name in columns else None
        values[spec.name], bad = validator.field(spec, raw, source_type)
        bads.append((spec.name, bad))
    flagged = [b for _, b in bads if b != exp.false()]
    ok = cols.add(exp.Not(this=exp.Paren(this=_any(flagged))) if flagged else exp.true(), "ok")
    out = Compiler(plan, d, as_of, cols, values, ok, populations).compile()
    rejected = cols.add(case((exp.Not(this=ok), d.join(d.compact(
        [case((b, exp.Literal.string(name))) for name, b in bads if b != exp.false()]), ", "))), "rej")
    key = (exp.alias_(values[plan.key], plan.key, quoted=True) if plan.key
           else exp.alias_(exp.column("_row"), "row", quoted=True))
    selected = [key, exp.column("_row")] if keep_row else [key]
    for name, value in out.items():
        selected.append(exp.alias_(case((ok, value)), name, quoted=True))
    selected.append(exp.alias_(rejected, "rejected", quoted=True))
    ctes, last = cols.chain(src, keep={c.name for e in selected for c in e.find_all(exp.Column)})
    query = exp.select(*selected).from_(last)
    if ordered:
        query = query.order_by(exp.column("_row"))
    for name, select in ctes:
        # PostgreSQL would inline each level into the next and compute shared columns many times over
        query = query.with_(name, as_=select, materialized=True if d.name == "postgres" else None)
    return parenthesize(query)


def to_sql(plan: ir.Plan, dialect_name: str, table: str = "customers", as_of: dt.date | None = None,
           populations=None, pretty: bool = True) -> str:
    """The query for `table` (optionally schema-qualified: `sales.customers`) printed for a dialect."""
    parts = table.split(".")
    if not all(p.strip() for p in parts) or len(parts) > 3:
        raise SqlError(f"`{table}` is not a table name; give NAME, SCHEMA.NAME or CATALOG.SCHEMA.NAME")
    source = exp.Table(this=exp.to_identifier(parts[-1], quoted=True),
                       db=exp.to_identifier(parts[-2], quoted=True) if len(parts) > 1 else None,
                       catalog=exp.to_identifier(parts[-3], quoted=True) if len(parts) > 2 else None)
    query = build_query(plan, dialect_name, source, as_of or dt.date.today(), populations=populations)
    return query.sql(dialect=dialect_name, pretty=pretty)


def _any(flags):
    out = flags[0]
    for f in flags[1:]:
        out = exp.Or(this=out, expression=f)
    return out


__all__ = ["DIALECT_NAMES", "SourceColumn", "SqlError", "build_query", "to_sql", "fn"]
