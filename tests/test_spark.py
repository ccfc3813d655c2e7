"""Spark: the generated Spark SQL on PySpark in local mode gives DuckDB's rows, row for row.

pyspark is the `spark` extra; CI installs it and sets REQUIRE_SPARK=1, so there a missing
pyspark fails instead of skipping.
"""
import datetime as dt
import importlib.util
import os
from pathlib import Path

import duckdb
import pytest

import engine
from tables import CASES, duck_table, example, table_columns, typed_rows
from test_cli import rules

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def spark():
    if importlib.util.find_spec("pyspark") is None:
        if os.environ.get("REQUIRE_SPARK"):
            pytest.fail("pyspark is not installed (pip install '.[spark]')")
        pytest.skip("pyspark is not installed")
    from engine.spark import session
    s = session("customer-rules-tests")
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def frame(spark, policy: engine.Policy, rows: list[dict]):
    """A DataFrame with the fields' types, as a warehouse table would be."""
    from pyspark.sql import types as T
    kinds = {"int": T.LongType(), "number": T.DoubleType(), "bool": T.BooleanType(), "string": T.StringType(),
             "enum": T.StringType(), "date": T.DateType(), "list": T.ArrayType(T.StringType())}
    fields = policy.plan.fields
    schema = T.StructType([T.StructField(n, kinds[f.type.kind]) for n, f in zip(table_columns(policy), fields)])
    data = [[list(r[f.name]) if isinstance(r[f.name], tuple) else r[f.name] for f in fields] for r in rows]
    return spark.createDataFrame(data, schema)


@pytest.mark.parametrize("name", CASES + ["rfm"])
def test_spark_gives_duckdbs_rows(spark, name):
    policy = engine.load_policy(ROOT / "policies" / f"{name}.rules")
    rows = typed_rows(policy, engine.read_records(example(name)))
    as_of = dt.date(1998, 7, 1) if name == "rfm" else AS_OF
    from engine.spark import evaluate
    got = [tuple(r) for r in evaluate(policy, frame(spark, policy, rows), as_of=as_of).collect()]
    duck = duckdb.connect()
    duck_table(duck, policy, rows)
    want = duck.execute(policy.to_sql("duckdb", "customers", as_of=as_of)).fetchall()
    assert len(got) == len(want) == len(rows)
    assert [tuple(list(v) if isinstance(v, tuple) else v for v in r) for r in got] == \
        [tuple(list(v) if isinstance(v, tuple) else v for v in r) for r in want]


def test_a_wrong_column_type_is_a_reject_not_a_failure(spark):
    policy = engine.compile_policy('policy p version "1"\ninput c { id : string key  n : int }\n'
                                   'segment s { big : n > 10  small : otherwise }\n')
    df = spark.createDataFrame([("a", "12"), ("b", "abc"), ("c", None)], "id string, n string")
    from engine.spark import evaluate
    got = {r["id"]: (r["s"], r["rejected"]) for r in evaluate(policy, df).collect()}
    assert got == {"a": ("big", None), "b": (None, "n"), "c": (None, "n")}


def test_rules_eval_backend_spark_writes_what_python_writes(tmp_path, spark):
    outs = {}
    for backend in ("spark", "python"):
        out, rej = tmp_path / f"{backend}.jsonl", tmp_path / f"{backend}.rejects.csv"
        r = rules("eval", ROOT / "policies" / "customer_value.rules", "--data", ROOT / "examples" / "customer_value.csv",
                  "--backend", backend, "--out", out, "--rejects", rej, "--as-of", "2026-11-22")
        assert r.returncode == 0, r.stderr
        assert "202 rows: 200 decided, 2 rejected" in r.stdout
        outs[backend] = (out.read_bytes(), rej.read_bytes())
    assert outs["spark"] == outs["python"]
