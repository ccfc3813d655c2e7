"""The PostgreSQL query, run on a real PostgreSQL server, gives DuckDB's rows, row for row.

A throwaway cluster is started on loopback for this module (Debian's postgresql package; CI
installs it and sets REQUIRE_POSTGRES=1, so there a missing server fails instead of skipping).
Each shipped policy runs on its example data, loaded as a typed table into both databases.
"""
import datetime as dt
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import duckdb
import pytest

import engine
from tables import CASES, duck_table, example, table_columns, typed_rows

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 22)
PG_TYPES = {"int": "BIGINT", "number": "DOUBLE PRECISION", "bool": "BOOLEAN", "string": "TEXT", "date": "DATE",
            "enum": "TEXT", "list": "TEXT[]"}


def _bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="module")
def pg():
    psycopg = pytest.importorskip("psycopg") if not os.environ.get("REQUIRE_POSTGRES") else __import__("psycopg")
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed")
    root = tempfile.mkdtemp(prefix="rules-pg-")
    data = os.path.join(root, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", data, "-w", "-l", os.path.join(root, "log"), "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {root}", "start"], check=True, capture_output=True)
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as con:
            yield con
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def load(policy: engine.Policy, rows: list[dict], pg, duck) -> None:
    from psycopg import sql
    fields = policy.plan.fields
    names = table_columns(policy)
    pg.execute("DROP TABLE IF EXISTS customers")
    pg.execute(sql.SQL("CREATE TABLE customers ({})").format(sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(PG_TYPES[f.type.kind])) for n, f in zip(names, fields))))
    with pg.cursor() as cur, cur.copy("COPY customers FROM STDIN") as copy:
        for r in rows:
            copy.write_row([list(r[f.name]) if isinstance(r[f.name], tuple) else r[f.name] for f in fields])
    duck_table(duck, policy, rows)


@pytest.mark.parametrize("name", CASES + ["rfm"])
def test_postgres_gives_duckdbs_rows(pg, name):
    policy = engine.load_policy(ROOT / "policies" / f"{name}.rules")
    rows = typed_rows(policy, engine.read_records(example(name)))
    assert rows
    duck = duckdb.connect()
    load(policy, rows, pg, duck)
    as_of = dt.date(1998, 7, 1) if name == "rfm" else AS_OF
    got = pg.execute(policy.to_sql("postgres", "customers", as_of=as_of)).fetchall()
    want = duck.execute(policy.to_sql("duckdb", "customers", as_of=as_of)).fetchall()
    assert len(got) == len(want) == len(rows)
    assert [tuple(_same(v) for v in r) for r in got] == [tuple(_same(v) for v in r) for r in want]


def _same(value):
    """Values as both drivers can give them: lists for arrays, floats for DOUBLE."""
    if isinstance(value, tuple):
        return list(value)
    return value


def test_postgres_overflow_gives_missing_not_an_error(pg):
    """Results beyond BIGINT or the finite doubles are missing on PostgreSQL too, never an error.
    (Underflow below the smallest double is an error on PostgreSQL: docs/sql.md.)"""
    from test_sql import OVERFLOW
    policy = engine.compile_policy(OVERFLOW)
    rows = typed_rows(policy, [{"id": "a", "i": 2 ** 62, "x": 1e200}, {"id": "b", "i": 3, "x": 2.0},
                               {"id": "c", "i": -2 ** 63, "x": -1e300}, {"id": "d", "i": 2 ** 20, "x": 1e300}])
    duck = duckdb.connect()
    load(policy, rows, pg, duck)
    got = pg.execute(policy.to_sql("postgres", "customers", as_of=AS_OF)).fetchall()
    want = duck.execute(policy.to_sql("duckdb", "customers", as_of=AS_OF)).fetchall()
    assert [tuple(_same(v) for v in r) for r in got] == [tuple(_same(v) for v in r) for r in want]
    assert [r[1] for r in got] == ["over", "fine", "over", "huge"]  # 1e300 squared is beyond the doubles
