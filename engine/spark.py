"""Policies on Spark, for data that outgrows one machine: the generated Spark SQL over a DataFrame.

    from engine import load_policy, spark
    decisions = spark.evaluate(load_policy("customer_value.rules"), customers_df, as_of="2026-11-22")
    decisions.filter("rejected IS NULL").write.parquet("s3://…/decisions")

The DataFrame has a column per input field (the field's `from` name or its own), ideally of the
field's type; a column of another type is converted with Spark's TRY_CAST and what does not
convert makes the row a reject (`rejected` names the fields). Requires pyspark (the `spark` extra).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Iterator

from sqlglot import exp

from .batch import confirmed_reject
from .decision import Decision, Reject
from .io import InputFileError
from .policy import Policy, _as_of
from .sql import SourceColumn, build_query

ROW = "__rules_row__"


def evaluate(policy: Policy, dataframe, as_of: dt.date | str | None = None, keep_row: bool = False):
    """A DataFrame of decisions, one row per input row: key, segments, outputs, rules_fired, errors, rejected.

    Rows are numbered by their position in `dataframe` (zipWithIndex), which is what `row` shows
    when the policy has no key field; with `keep_row` the position is also column `_row`.
    """
    return _decide(policy, _indexed(dataframe), set(dataframe.columns), _as_of(as_of), keep_row)


def _indexed(dataframe):
    """The DataFrame with each row's 0-based position as column ROW."""
    from pyspark.sql.types import LongType, StructField, StructType
    schema = StructType(dataframe.schema.fields + [StructField(ROW, LongType(), False)])
    return dataframe.sparkSession.createDataFrame(
        dataframe.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1])), schema)


def _decide(policy: Policy, indexed, present: set[str], day: dt.date, keep_row: bool):
    view = f"rules_input_{uuid.uuid4().hex}"
    indexed.createOrReplaceTempView(view)
    columns = {}
    for spec in policy.plan.fields:
        name = spec.name if spec.name in present else spec.column if spec.column in present else None
        if name is not None:
            columns[spec.name] = SourceColumn(name)
    query = build_query(policy.plan, "spark", exp.to_table(view), day, columns,
                        populations=policy.populations, row_column=ROW, keep_row=keep_row)
    return indexed.sparkSession.sql(query.sql("spark"))


def evaluate_file_spark(policy: Policy, data: str, *, as_of=None, encoding: str | None = None, **outputs):
    """`rules eval --backend spark`: a CSV or Parquet file decided by Spark in local mode, written as the
    per-record path writes (batch.evaluate_file's `out`, `out_format`, `rejects`, `sink`)."""
    from .batch import check_columns, evaluate_file
    from .io import format_from_path, read_records
    day = _as_of(as_of)
    fmt = format_from_path(data)
    spark = session()
    if fmt in ("csv", "tsv"):
        first = next(read_records(data, encoding=encoding), None)
        if first is not None:
            check_columns(policy, iter([first]), data)
        frame = spark.read.csv(data, header=True, sep="\t" if fmt == "tsv" else ",", quote='"', escape='"',
                               multiLine=True, encoding=encoding or _spark_encoding(data))
    elif fmt == "parquet":
        frame = spark.read.parquet(data)
    else:
        raise InputFileError(f"{data}: the spark backend reads CSV, TSV and Parquet; use --backend python for {fmt}")
    indexed = _indexed(frame).cache()
    decided = _decide(policy, indexed, set(frame.columns), day, keep_row=True).orderBy("_row")
    return evaluate_file(policy, as_of=day, results=_results(policy, indexed, decided, day), **outputs)


def _spark_encoding(path: str) -> str:
    from .io import detect_encoding
    with open(path, "rb") as f:
        found = detect_encoding(f.read(1 << 20))
    return "UTF-8" if found.startswith("utf-8") else "GB18030"


def _results(policy: Policy, indexed, decided, day: dt.date) -> Iterator[Decision | Reject]:
    """Decisions in row order, with each reject (reasons from the raw row, as on the Python path) in its place."""
    plan = policy.plan
    bad = {r["_row"]: r["rejected"] for r in decided.filter("rejected IS NOT NULL").select("_row", "rejected").collect()}
    raw = {r[ROW]: r.asDict() for r in indexed.filter(indexed[ROW].isin(list(bad))).collect()} if bad else {}
    labels = {s.name: dict(zip(s.members, s.labels)) for s in plan.segments}
    base = {"policy": plan.name, "version": plan.version, "content_hash": plan.content_hash, "as_of": day, "ok": True}
    for row in decided.toLocalIterator():
        position = row["_row"]
        if position in bad:
            record = {k: v for k, v in raw[position].items() if k != ROW}
            yield confirmed_reject(policy, record, position, bad[position].split(", "), "Spark")
            continue
        segments = {name: row[name] for name in policy.segment_names}
        yield Decision.build({
            "key": row[plan.key] if plan.key else position, "row": position, "segments": segments,
            "labels": {n: [labels[n][m] for m in v] if isinstance(v, list) else labels[n].get(v)
                       for n, v in segments.items()},
            "outputs": {name: row[name] for name in policy.output_names},
            "rules_fired": list(row["rules_fired"]), "errors": list(row["errors"]), **base})


def session(app: str = "customer-rules"):
    """A local Spark session (all cores of this machine) for `rules eval --backend spark`."""
    from pyspark.sql import SparkSession
    return (SparkSession.builder.master("local[*]").appName(app)
            .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "8").getOrCreate())
