"""The cache folder (engine.cache): compiled plans of policy files and the SQL of `rules eval` on DuckDB
(engine.duck_cache). A run of the same policy on input of the same shape reuses them; anything they
depend on names another entry; a damaged, missing or shared cache folder never changes a result."""
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import engine
from engine import cache, duck_sql
from test_cli import ROOT, SCRIPT, rules as run_rules

POLICY = ROOT / "policies" / "customer_value.rules"
DATA = ROOT / "examples" / "customer_value.csv"


@pytest.fixture
def entries(tmp_path, monkeypatch):
    """A fresh cache folder for the test; returns a function listing its SQL entries."""
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return lambda kind="sql": sorted((home / "customer-rules" / kind).glob("*.json"))


def decide(tmp_path, policy=None, data=DATA, as_of="2026-11-22", out="d.parquet"):
    """Counts and every decided row of one run."""
    target = tmp_path / out
    result = engine.evaluate_duckdb(policy or engine.load_policy(POLICY), str(data), out=str(target),
                                    rejects=str(tmp_path / "rejects.csv"), as_of=as_of)
    rows = duckdb.connect().execute(
        "SELECT * FROM read_csv(?, all_varchar=true)" if out.endswith(".csv") else "SELECT * FROM read_parquet(?)",
        [str(target)]).fetchall()
    return (result.rows_in, result.decided, result.rejected, result.counts), rows


def refuse_to_build(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the statements were built again instead of read from the cache")
    monkeypatch.setattr(duck_sql, "build_statements", fail)


def test_a_second_run_reads_its_statements_from_the_cache(tmp_path, entries, monkeypatch):
    first = decide(tmp_path)
    assert len(entries()) == 1
    refuse_to_build(monkeypatch)
    assert decide(tmp_path) == first
    assert first[0][:3] == (202, 200, 2)


def test_whatever_the_statements_depend_on_names_another_entry(tmp_path, entries):
    original = decide(tmp_path)
    # an edited threshold must never run the old statements: customers move between tiers
    edited = engine.compile_policy(POLICY.read_text(encoding="utf-8").replace(
        "annual_spend >= 10万 and orders_12m >= 12", "annual_spend >= 1万 and orders_12m >= 12"), str(POLICY))
    moved = decide(tmp_path, policy=edited)
    assert moved[0][3]["value_tier"]["A"] > original[0][3]["value_tier"]["A"]
    assert decide(tmp_path, as_of="2027-11-22")[0][3]["lifecycle"] != original[0][3]["lifecycle"]
    decide(tmp_path, out="d.csv")
    parquet = tmp_path / "customers.parquet"
    duckdb.connect().execute("COPY (SELECT * FROM read_csv(?, all_varchar=true)) TO ? (FORMAT PARQUET)",
                             [str(DATA), str(parquet)])
    decide(tmp_path, data=parquet)
    assert len(entries()) == 5


def test_a_damaged_entry_is_built_again(tmp_path, entries):
    first = decide(tmp_path)
    [entry] = entries()
    for damage in ("{not json", '{"key": "another run", "decided": "SELECT 1"}', "[]", ""):
        entry.write_text(damage, encoding="utf-8")
        assert decide(tmp_path) == first
        assert entry.read_text(encoding="utf-8") != damage


def test_nothing_is_cached_in_a_folder_others_can_read(tmp_path, entries):
    folder = tmp_path / "cache" / "customer-rules"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    assert decide(tmp_path)[0][:3] == (202, 200, 2)
    assert entries() == []


def test_only_the_most_recent_entries_are_kept(tmp_path, entries, monkeypatch):
    monkeypatch.setattr(cache, "KEEP", 2)
    for day in ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"):
        decide(tmp_path, as_of=day)
    assert len(entries()) == 2


def test_rules_eval_run_again_does_not_build_sql(tmp_path):
    """As the user runs it: the second `rules eval` of a policy never imports sqlglot."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    start = [str(SCRIPT)] if SCRIPT.exists() else [
        "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import cli; cli.main()"]
    args = ["eval", str(POLICY), "--data", str(DATA), "--out", str(tmp_path / "d.parquet"), "--as-of", "2026-11-22"]
    runs = [subprocess.run([sys.executable, "-X", "importtime", *start, *args], capture_output=True, text=True,
                           env=env, timeout=120) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0 and "202 rows: 200 decided, 2 rejected" in run.stdout, run.stderr[-2000:]
    assert "sqlglot" in runs[0].stderr
    assert "sqlglot" not in runs[1].stderr


def test_a_policy_file_compiled_before_is_not_compiled_again(tmp_path, entries, monkeypatch):
    policy = tmp_path / "p.rules"
    policy.write_text(POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    first = engine.load_policy(policy, cached=True)
    assert len(entries("plans")) == 1 and first.plan == engine.load_policy(policy).plan

    def fail(*args, **kwargs):
        raise AssertionError("the policy was compiled again instead of read from the cache")
    with monkeypatch.context() as patched:
        patched.setattr(engine.policy, "compile_policy", fail)
        again = engine.load_policy(policy, cached=True)
    assert again.plan == first.plan and again.source.text == first.source.text
    # an edit is a new text: compiled again, and decides differently
    policy.write_text(POLICY.read_text(encoding="utf-8").replace(
        "annual_spend >= 10万 and orders_12m >= 12", "annual_spend >= 1万 and orders_12m >= 12"), encoding="utf-8")
    edited = engine.load_policy(policy, cached=True)
    assert edited.plan != first.plan and len(entries("plans")) == 2
    # a policy with errors is never kept: it fails every time with its diagnostics
    policy.write_text("policy p version 1\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(engine.PolicyError):
            engine.load_policy(policy, cached=True)
    assert len(entries("plans")) == 2


def test_rules_eval_sees_an_edited_policy_at_once(tmp_path):
    """An analyst edits a threshold and runs again: the second run decides by the edit."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    policy = tmp_path / "p.rules"
    text = POLICY.read_text(encoding="utf-8")
    counts = []
    for version in (text, text.replace("annual_spend >= 10万 and orders_12m >= 12",
                                       "annual_spend >= 1万 and orders_12m >= 12"), text):
        policy.write_text(version, encoding="utf-8")
        out = tmp_path / "d.parquet"
        r = run_rules("eval", str(policy), "--data", str(DATA), "--out", str(out), "--as-of", "2026-11-22", env=env)
        assert r.returncode == 0, r.stderr
        counts.append(duckdb.connect().execute("SELECT count(*) FILTER (value_tier = 'A') FROM read_parquet(?)",
                                               [str(out)]).fetchone()[0])
    assert counts[1] > counts[0] == counts[2]
