"""The statements of a `rules eval` run on DuckDB, built from sqlglot syntax trees (see engine.duck_cache).

They read views the run sets up (`_input`, the file; `_json`, a JSONL file's values), and take file
paths only as `?` parameters.
"""
from __future__ import annotations

import datetime as dt

from sqlglot import exp

from .sql import SourceColumn, build_query

_COPY_FORMATS = {"csv": "CSV", "tsv": "CSV", "parquet": "PARQUET", "jsonl": "JSON"}


def build_statements(policy, fmt: str, day: dt.date, columns: dict[str, tuple[str, str]], row_column: str | None,
                     table: str, json_fields: bool) -> dict:
    """Every statement the run may need (engine.duck says when each runs), as DuckDB SQL text."""
    plan = policy.plan
    made = {"input": _json_input(policy).sql("duckdb") if json_fields else None}
    query = build_query(plan, "duckdb", exp.to_table("_input"), day,
                        {name: SourceColumn(*c) for name, c in columns.items()},
                        populations=policy.populations, row_column=row_column, keep_row=True,
                        # DuckDB keeps rows in scan order (preserve_insertion_order) unless a
                        # window function (quintile, ntile, percent_rank) reorders them
                        ordered=bool(plan.sites))
    made["decided"] = exp.Create(this=exp.to_table("_decided"), kind="VIEW", expression=query).sql("duckdb")
    if fmt in _COPY_FORMATS:
        params = [exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var(_COPY_FORMATS[fmt]))]
        if fmt in ("csv", "tsv"):
            params += [exp.CopyParameter(this=exp.var("HEADER"), expression=exp.true()),
                       exp.CopyParameter(this=exp.var("DELIMITER"), expression=exp.Literal.string(
                           "\t" if fmt == "tsv" else ","))]
        made["write"] = exp.Copy(this=decisions_select(policy, fmt, day).subquery(), kind=False,
                                 files=[exp.Placeholder()], params=params).sql("duckdb")
    if fmt == "duckdb":
        into = exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier("_out"))
        made["create_table"] = exp.Create(this=into, kind="TABLE", expression=decisions_select(policy, fmt, day),
                                          replace=True).sql("duckdb")
    made["sink"] = decisions_select(policy, fmt if fmt in ("json", "jsonl") else "csv", day).sql("duckdb")
    parquet = exp.Table(this=exp.Anonymous(this="READ_PARQUET", expressions=[exp.Placeholder()]))
    made["count_output"], made["count_keys"] = _count(policy, parquet, decided_only=True)
    made["count_result"], _ = _count(policy, exp.to_table("_result"), decided_only=False)
    made["rows_in"] = exp.select(exp.Count(this=exp.Star())).from_("_input").sql("duckdb")
    made["narrow_rejected"] = _narrow(policy, with_segments=False)
    made["narrow_all"] = _narrow(policy, with_segments=True)
    made["rejected_any"] = exp.select(exp.Count(this=exp.Star())).from_("_result").where(
        exp.Not(this=exp.Is(this=exp.column("rejected"), expression=exp.null()))).sql("duckdb")
    made["rejects"] = _rejects(row_column)
    return made


def _json_input(policy) -> exp.Expression:
    """View `_input` over `_json`: each field's JSON value, from its own key or its `from` key."""
    fields = [exp.alias_(exp.Coalesce(this=exp.column(f.name, quoted=True),
                                      expressions=[exp.column(f.column, quoted=True)]) if f.column
                         else exp.column(f.name, quoted=True), f.name, quoted=True) for f in policy.plan.fields]
    return exp.Create(this=exp.to_table("_input"), kind="VIEW", expression=exp.select(*fields).from_("_json"))


def _narrow(policy, with_segments: bool) -> str:
    """Temporary table `_result`: the row number and reject reasons of every rejected row and, `with_segments`,
    every row with its segments and errors, to count them (DuckDB computes only these columns)."""
    kept = ("rejected", "errors", *policy.segment_names) if with_segments else ("rejected",)
    narrow = exp.select("_row", *[exp.column(n, quoted=True) for n in kept]).from_("_decided")
    if not with_segments:
        narrow = narrow.where(exp.Not(this=exp.Is(this=exp.column("rejected"), expression=exp.null())))
    return exp.Create(this=exp.to_table("_result"), kind="TABLE", expression=narrow,
                      properties=exp.Properties(expressions=[exp.TemporaryProperty()])).sql("duckdb")


def _count(policy, source: exp.Expression, decided_only: bool) -> tuple[str, list]:
    """Decided rows, rows with conflicts and segment member counts in one scan of `source`: the narrow
    result table (every row, with `rejected`) or, `decided_only`, the written Parquet output. Returns
    the query and the (segment, member) each count after the first two is for."""
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
            keys.append([step.name, member])
        # an `all` segment with no member counts as "(none)", as in the per-record path; another as missing
        counts.append(count_if(exp.EQ(this=length(column.copy()), expression=exp.Literal.number(0))
                               if step.hit == "all" else exp.Is(this=column.copy(), expression=exp.null())))
        keys.append([step.name, "(none)" if step.hit == "all" else None])
    return exp.select(*counts).from_(source.copy()).sql("duckdb"), keys


def _rejects(row_column: str | None) -> str:
    """The raw input rows of the rejected rows in `_result`, with the fields SQL found bad, in row order."""
    row_expr = (exp.column(row_column, quoted=True) if row_column else
                exp.Sub(this=exp.Window(this=exp.RowNumber()), expression=exp.Literal.number(1)))
    star = exp.Star(**({"except": [exp.column(row_column, quoted=True)]} if row_column else {}))
    raw = exp.select(exp.alias_(row_expr, "_row"), star).from_("_input")
    bad = exp.select("_row", "rejected").from_("_result").where(
        exp.Not(this=exp.Is(this=exp.column("rejected"), expression=exp.null())))
    return exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("r")), exp.column("rejected", table="b")).from_(
        raw.subquery("r")).join(bad.subquery("b"), on=exp.EQ(this=exp.column("_row", table="r"),
                                                          expression=exp.column("_row", table="b"))
                                ).order_by(exp.column("_row", table="r")).sql("duckdb")


def decisions_select(policy, fmt: str, day: dt.date) -> exp.Select:
    """The decided rows of view `_decided` shaped for an output format: flat for csv / tsv / parquet / duckdb,
    whole decisions (as Decision.to_dict) for json / jsonl."""
    plan = policy.plan
    col = lambda name: exp.column(name, quoted=True)  # noqa: E731
    lit = exp.Literal.string
    key = plan.key or "row"
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
    return exp.select(*selected).from_("_decided").where(  # in input order (see build_statements)
        exp.Is(this=col("rejected"), expression=exp.null()))


def _label_case(value, pairs):
    if not pairs:
        return exp.cast(exp.null(), "VARCHAR")
    node = exp.Case()
    for member, label in pairs:
        node = node.when(exp.EQ(this=value, expression=exp.Literal.string(member)), exp.Literal.string(label))
    return node


def _is_text(policy, name: str) -> bool:
    """A segment's member, or a string or enum output."""
    return name in policy.segment_names or any(
        o.name == name and o.type.kind in ("string", "enum") for o in policy.plan.outputs)


def _is_list(policy, name: str) -> bool:
    for step in policy.plan.segments:
        if step.name == name:
            return step.hit == "all"
    return any(o.name == name and o.combine == "list" for o in policy.plan.outputs)
