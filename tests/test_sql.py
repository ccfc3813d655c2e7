"""The SQL backend: DuckDB on files agrees with the per-record backends row for row; the query
for every dialect is golden; policy text reaches SQL only as literals and quoted identifiers."""
import csv
import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import engine
from test_cli import rules as run_rules
from test_differential import policies, records

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "sql"
AS_OF = dt.date(2026, 11, 22)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def write_csv(path: Path, batch: list[dict], header: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)  # \r\n, as Excel writes it: a bare \r in a cell is then quoted
        w.writerow(header)
        for record in batch:
            w.writerow([_cell(record.get(h)) for h in header])


def both(policy: engine.Policy, data: Path, tmp: Path, as_of=AS_OF):
    """Decisions and rejects of the python backend and of DuckDB on the same file, as JSON-ready dicts."""
    results = []
    for name, run in (("python", engine.evaluate_file), ("duckdb", engine.evaluate_duckdb)):
        out, rej = tmp / f"{name}.jsonl", tmp / f"{name}.rejects.jsonl"
        kwargs = dict(out=str(out), rejects=str(rej), as_of=as_of)
        result = run(policy, data=str(data), **kwargs) if name == "python" else run(policy, str(data), **kwargs)
        assert result.rows_in == result.decided + result.rejected
        decisions = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
        rejects = [json.loads(line) for line in rej.read_text(encoding="utf-8").split("\n") if line]
        results.append((decisions, rejects, result.rows_in, result.counts))
    return results


# shrinking a failure here re-runs DuckDB thousands of times; set SHRINK=1 to get a minimal example
SQL_PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("SHRINK") else [])
HEADER = ["k", "i1", "i2", "n1", "n2", "b1", "s1", "d1", "d2", "e1", "tags", "消费金额"]


@settings(max_examples=300, deadline=None, derandomize=True, phases=SQL_PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(policies(), st.lists(records, min_size=1, max_size=8), st.dates(dt.date(2025, 1, 1), dt.date(2027, 3, 31)))
def test_duckdb_agrees_with_python(tmp_path, text, batch, as_of):
    policy = engine.compile_policy(text, "diff.rules")
    as_csv, as_jsonl = tmp_path / "batch.csv", tmp_path / "batch.jsonl"
    write_csv(as_csv, batch, HEADER)  # every value as text
    as_jsonl.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in batch),
                        encoding="utf-8")  # numbers, bools and lists as JSON has them
    for data in (as_csv, as_jsonl):
        python, duck = both(policy, data, tmp_path, as_of)
        assert duck[2] == python[2] == len(batch)
        assert duck[0] == python[0]
        assert duck[1] == python[1]
        assert duck[3] == python[3]


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "examples").glob("*.csv")
                                        if (ROOT / "policies" / f"{p.stem}.rules").exists()))
def test_shipped_policies_agree_on_their_examples(tmp_path, name):
    policy = engine.load_policy(ROOT / "policies" / f"{name}.rules")
    python, duck = both(policy, ROOT / "examples" / f"{name}.csv", tmp_path)
    assert duck[:3] == python[:3]
    assert python[1], "each example file plants a bad row"


def test_population_functions_rank_the_same_on_real_data(tmp_path):
    """RFM quintiles over the 23,570 CDNOW customers, from Parquet (native types)."""
    data = tmp_path / "cdnow.parquet"
    con = duckdb.connect()
    con.execute("COPY (SELECT * FROM read_csv(?)) TO '" + str(data).replace("'", "''") + "'",
                [str(ROOT / "examples" / "cdnow_customers.csv")])
    policy = engine.load_policy(ROOT / "policies" / "rfm.rules")
    python, duck = both(policy, data, tmp_path, as_of=dt.date(1998, 7, 1))
    assert duck[2] == 23570
    assert duck[:3] == python[:3]
    frozen = policy.with_stats(ROOT / "policies" / "rfm.stats.json")
    python, duck = both(frozen, data, tmp_path, as_of=dt.date(1998, 7, 1))
    assert duck[:3] == python[:3]


def test_parquet_types_are_validated_like_json_values(tmp_path):
    policy = engine.compile_policy('policy p version "1"\ninput c { id : string key  n : int  x : number?  '
                                   'd : date?  b : bool? }\nsegment s { big : n > 10  small : otherwise }\n')
    data = tmp_path / "in.parquet"
    duckdb.connect().execute(
        "COPY (SELECT * FROM (VALUES ('a', 5.0, 'nan'::DOUBLE, DATE '2026-01-01', 1), ('b', 12.5, 1.5, NULL, 2),"
        " ('c', 99, 'inf'::DOUBLE, DATE '2026-02-03', 0), ('d', NULL, 2.0, NULL, NULL),"
        " ('e', 11.0, -0.5, DATE '2026-03-04', 1), ('f', -2, NULL, NULL, 0)) t(id, n, x, d, b)) TO '"
        + str(data).replace("'", "''") + "'")
    python, duck = both(policy, data, tmp_path)
    assert duck[:3] == python[:3]
    assert [(r["key"], r["field"]) for r in duck[1]] == [("a", "x"), ("b", "n"), ("c", "x"), ("d", "n")]
    assert [(d["key"], d["segments"]["s"]) for d in duck[0]] == [("e", "big"), ("f", "small")]


@pytest.mark.parametrize("dialect", engine.SQL_DIALECTS)
def test_golden_query_per_dialect(dialect):
    policy = engine.load_policy(ROOT / "policies" / "customer_value.rules")
    query = policy.to_sql(dialect, "crm.customers", as_of="2026-11-22")
    golden = GOLDEN / f"customer_value.{dialect}.sql"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(query + "\n", encoding="utf-8")
    assert query + "\n" == golden.read_text(encoding="utf-8"), "regenerate with UPDATE_GOLDEN=1 if intended"
    sqlglot.parse_one(query, read=dialect)  # it is valid SQL of that dialect


def test_to_sql_on_a_typed_table_matches_python():
    policy = engine.load_policy(ROOT / "policies" / "customer_value.rules")
    con = duckdb.connect()
    con.execute("CREATE SCHEMA crm")
    # a warehouse table has its types: the planted row with "abc" for an int cannot be in it
    con.execute("CREATE TABLE crm.customers AS SELECT * FROM read_csv(?, ignore_errors=true, types={"
                "'近12个月订单数': 'BIGINT', 'last_order_date': 'DATE', 'annual_spend': 'DOUBLE', "
                "'avg_order_value': 'DOUBLE', 'is_vip': 'BOOLEAN'})",
                [str(ROOT / "examples" / "customer_value.csv")])
    got = con.execute(policy.to_sql("duckdb", "crm.customers", as_of=AS_OF)).fetchall()
    names = [c[0] for c in con.description]
    records = [dict(zip([c[0] for c in con.execute("SELECT * FROM crm.customers").description], row))
               for row in con.execute("SELECT * FROM crm.customers").fetchall()]
    decided = list(policy.evaluate_many(records, as_of=AS_OF))
    assert len(got) == len(decided)
    for row, d in zip(got, decided):
        row = dict(zip(names, row))
        if not d.ok:
            assert row["rejected"]
            continue
        assert row["rejected"] is None
        assert {s: row[s] for s in policy.segment_names} == d.segments
        assert {o: row[o] for o in policy.output_names} == d.outputs
        assert row["rules_fired"] == d.rules_fired


HOSTILE = ['"; DROP TABLE customers; --', "it's", "back\\slash", "__import__('os').system('echo hi')", "ｓｅｌｅｃｔ"]


def test_names_and_strings_reach_sql_only_as_data(tmp_path):
    strings = ", ".join(json.dumps(s, ensure_ascii=False) for s in HOSTILE)
    column = 'a"; DROP TABLE t; --'
    text = (f'policy hostile version "1"\ninput c {{ id : string key  note : string  '
            f'备注 : string? from {json.dumps(column)} }}\n'
            f'segment seg {{\n  hit : note in [{strings}]\n  miss : otherwise\n}}\n'
            f'output tag : string = {json.dumps(HOSTILE[0])} combine first\n'
            f'strategy s {{ when note = {json.dumps(HOSTILE[3])} or 备注 is present then tag = {json.dumps(HOSTILE[2])} }}\n')
    policy = engine.compile_policy(text)
    data = tmp_path / "in.csv"
    write_csv(data, [{"id": str(i), "note": s, column: "x" if i == 5 else None} for i, s in enumerate(HOSTILE + ["plain"])],
              ["id", "note", column])
    python, duck = both(policy, data, tmp_path)
    assert duck[:3] == python[:3]
    assert [d["segments"]["seg"] for d in duck[0]] == ["hit"] * 5 + ["miss"]
    assert [d["outputs"]["tag"] for d in duck[0]] == [HOSTILE[0]] * 3 + [HOSTILE[2], HOSTILE[0], HOSTILE[2]]
    for dialect in engine.SQL_DIALECTS:
        tree = sqlglot.parse_one(policy.to_sql(dialect, "t"), read=dialect)
        literals = {lit.this for lit in tree.find_all(sqlglot.exp.Literal) if lit.is_string}
        assert set(HOSTILE) <= literals
        assert column in {c.name for c in tree.find_all(sqlglot.exp.Column)}
        assert not any(isinstance(n, (sqlglot.exp.Drop, sqlglot.exp.Command)) for n in tree.walk())


def test_rules_eval_duckdb_end_to_end(tmp_path):
    rules = run_rules
    out, rej = tmp_path / "d.parquet", tmp_path / "rejects.csv"
    r = rules("eval", str(ROOT / "policies" / "customer_value.rules"), "--data",
              str(ROOT / "examples" / "customer_value.csv"), "--out", str(out), "--rejects", str(rej),
              "--as-of", "2026-11-22")
    assert r.returncode == 0, r.stderr
    assert "202 rows: 200 decided, 2 rejected" in r.stdout
    con = duckdb.connect()
    assert con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone() == (200,)
    assert len(list(csv.DictReader(rej.open(encoding="utf-8")))) == 2
    table = tmp_path / "out.duckdb"
    r = rules("eval", str(ROOT / "policies" / "retail_service_tier.rules"), "--data",
              str(ROOT / "examples" / "retail_service_tier.csv"), "--out", str(table), "--table", "tiers",
              "--as-of", "2026-11-22")
    assert r.returncode == 0, r.stderr
    assert duckdb.connect(str(table)).execute("SELECT count(*) FROM tiers").fetchone() == (200,)
    r = rules("eval", str(ROOT / "policies" / "customer_value.rules"), "--data",
              str(ROOT / "examples" / "customer_value.csv"), "--backend", "duckdb", "--format", "csv",
              "--as-of", "2026-11-22")
    assert r.returncode == 0 and r.stdout.startswith("customer_id,value_tier,lifecycle,flags,")


def test_rules_sql_prints_each_dialect():
    rules = run_rules
    for dialect in engine.SQL_DIALECTS:
        r = rules("sql", str(ROOT / "policies" / "customer_value.rules"), "--dialect", dialect, "--as-of", "2026-11-22")
        assert r.returncode == 0 and r.stdout.startswith("WITH"), r.stderr
    r = rules("sql", str(ROOT / "policies" / "customer_value.rules"), "--table", "a..b")
    assert r.returncode == 2 and "not a table name" in r.stderr and "Traceback" not in r.stderr


def test_duckdb_reads_bom_tsv_gbk_and_empty_files(tmp_path):
    policy = engine.compile_policy('policy p version "1"\ninput c { id : string key  金额 : number from "消费金额" }\n'
                                   'segment s { big : 金额 >= 10万  small : otherwise }\n')
    rows = "id,消费金额\r\na,10万\r\nb,\"1,234.5\"\r\nc, 5e5 \r\nd,x\r\n"
    for name, data, enc in (("bom.csv", rows, "utf-8-sig"), ("gbk.csv", rows, "gbk"),
                            ("t.tsv", rows.replace(",", "\t").replace('"1\t234.5"', "1234.5"), "utf-8"),
                            ("empty.csv", "id,消费金额\r\n", "utf-8")):
        path = tmp_path / name
        path.write_bytes(data.encode(enc))
        python, duck = both(policy, path, tmp_path)
        assert duck[:3] == python[:3], name
        if name != "empty.csv":
            assert [d["segments"]["s"] for d in duck[0]] == ["big", "small", "big"], name
            assert [r["key"] for r in duck[1]] == ["d"], name


@pytest.mark.parametrize("name", ["customer_value", "rfm"])
def test_counts_from_a_parquet_output_match(tmp_path, name):
    """With a Parquet output the segment counts are read back from it: they must be the same."""
    policy = engine.load_policy(ROOT / "policies" / f"{name}.rules")
    data = ROOT / "examples" / ("cdnow_customers.csv" if name == "rfm" else f"{name}.csv")
    duck = engine.evaluate_duckdb(policy, str(data), out=str(tmp_path / "d.parquet"), as_of=AS_OF)
    python = engine.evaluate_file(policy, data=str(data), out=str(tmp_path / "p.jsonl"), as_of=AS_OF)
    assert (duck.rows_in, duck.decided, duck.rejected, duck.with_errors, duck.counts) == \
        (python.rows_in, python.decided, python.rejected, python.with_errors, python.counts)


def test_jsonl_values_are_coerced_by_their_json_type(tmp_path):
    policy = engine.compile_policy(
        'policy p version "1"\ninput c { id : string key  n : int?  x : number?  b : bool?  s : string?  '
        't : list(string)?  d : date?  金额 : number? from "消费金额" }\n'
        'segment seg { big : n > 10 or x > 10  small : otherwise }\n')
    lines = [{"id": "a", "n": 5.0, "x": "10万", "b": 1, "s": 18446744073709551616, "t": ["p", "q"]},
             {"id": "b", "n": "1,234", "x": 12, "b": "是", "t": "p; q", "d": "2026年1月2日", "消费金额": "1.5亿"},
             {"id": "c", "n": True}, {"id": "d", "x": 1.5, "s": 2.5}, {"id": "e", "t": [1, "x"]},
             {"id": "f", "n": 2 ** 63}, {"id": "g", "n": "  ", "x": "", "d": None}, {"id": "h", "b": 2}]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    python, duck = both(policy, data, tmp_path)
    assert duck[:3] == python[:3]
    assert [d["key"] for d in duck[0]] == ["a", "b", "g"]
    assert [(r["key"], r["field"]) for r in duck[1]] == [("c", "n"), ("d", "s"), ("e", "t"), ("f", "n"), ("h", "b")]
    assert duck[0][0]["segments"]["seg"] == "big" and duck[0][1]["segments"]["seg"] == "big"


OVERFLOW = '''policy o version "1"
input c { id : string key  i : int  x : number }
let cube = i * i * i
let square = x * x
let ratio = x / (x * 0.0000000001)
segment seg { over : cube is missing  huge : square is missing or ratio is missing  fine : otherwise }
output total : int = -1 combine sum
output size : int? combine first
output neg : number? combine first
strategy st { when true then total = i, size = abs(i), neg = -(x * 0)
  when true then total = i }
'''


def test_results_beyond_64_bit_ints_and_finite_doubles_are_missing_on_every_backend(tmp_path):
    """SQL's BIGINT and DOUBLE cannot hold them; every backend makes them missing (then defaults)."""
    records = [{"id": "a", "i": 2 ** 62, "x": 1e200}, {"id": "b", "i": 3, "x": 2.0},
               {"id": "c", "i": -2 ** 63, "x": -1e300}, {"id": "d", "i": 2 ** 20, "x": 1e-320}]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    policy = engine.compile_policy(OVERFLOW)
    python, duck = both(policy, data, tmp_path)
    assert duck[:3] == python[:3]
    got = [(d["segments"]["seg"], d["outputs"]["total"], d["outputs"]["size"]) for d in duck[0]]
    assert got == [("over", -1, 2 ** 62), ("fine", 6, 3), ("over", -1, None), ("huge", 2 ** 21, 2 ** 20)]
    interp = [d.to_dict() for d in policy.with_backend("interp").evaluate_many(records, as_of=AS_OF)]
    assert json.dumps(interp, default=str) == json.dumps(python[0], default=str)
    flat = tmp_path / "flat.csv"
    engine.evaluate_duckdb(policy, str(data), out=str(flat), as_of=AS_OF)
    text = flat.read_text(encoding="utf-8")
    assert "-0.0" not in text and ",0.0," in text  # -(x * 0) is written 0.0, as the python backend writes it
