"""Fields marked `pii` never reach an output unless asked for: decisions, rejects, the run summary,
explain, diff reports (text, JSON, HTML), `rules test` failures and JUnit files are grepped for
values planted in them, on every backend."""
import json
import subprocess
from pathlib import Path

import pytest

import engine

POLICY = """policy privacy version "1"
input c {
  id    : string key
  name  : string pii
  phone : string? pii
  age   : int? pii
  spend : number
}
let caller = phone ?? ""
segment tier {
  vip     : spend >= 1000 and name starts_with "王" and caller != ""
  regular : otherwise
}
output greeting : string = ""
strategy s { when tier is vip then greeting = "尊敬的客户" }
"""
PLANTED = ["王PLANTED甲", "PLANTED-13800138000", "PLANTED-AGE", "王PLANTED乙", "PLANTED-13900139000"]
ROWS = [
    {"id": "c1", "name": PLANTED[0], "phone": PLANTED[1], "age": "41", "spend": "5000"},
    {"id": "c2", "name": PLANTED[3], "phone": PLANTED[4], "age": PLANTED[2], "spend": "10"},  # rejected: age
    {"id": "c3", "name": "PLANTED-no-tier", "phone": "", "age": "", "spend": "2000"},
]


@pytest.fixture
def files(tmp_path) -> dict:
    policy = tmp_path / "privacy.rules"
    policy.write_text(POLICY, encoding="utf-8")
    data = tmp_path / "people.csv"
    data.write_text("id,name,phone,age,spend\n" + "".join(
        ",".join(r[k] for k in ("id", "name", "phone", "age", "spend")) + "\n" for r in ROWS), encoding="utf-8")
    edited = tmp_path / "edited.rules"
    edited.write_text(POLICY.replace("spend >= 1000", "spend >= 1500"), encoding="utf-8")
    (tmp_path / "privacy.cases.yaml").write_text(
        "policy: privacy.rules\ncases:\n  - name: fails on purpose\n    record: " + json.dumps(ROWS[0], ensure_ascii=False)
        + "\n    expect: {tier: regular}\n", encoding="utf-8")
    return {"dir": tmp_path, "policy": policy, "data": data, "edited": edited}


def rules(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(["rules", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def leaked(text: str) -> list[str]:
    return [p for p in PLANTED + ["PLANTED-no-tier"] if p in text]


@pytest.mark.parametrize("backend", ["duckdb", "python", "interp"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_eval_outputs_rejects_and_summary(files, backend, fmt):
    out, rejects = files["dir"] / f"out.{fmt}", files["dir"] / f"rejects.{fmt}"
    done = rules("eval", files["policy"], "--data", files["data"], "--out", out, "--rejects", rejects,
                 "--backend", backend, "--as-of", "2026-11-22")
    assert done.returncode == 0, done.stderr
    assert "3 rows: 2 decided, 1 rejected" in done.stdout + done.stderr
    assert "age: *** is not a whole number" in rejects.read_text(encoding="utf-8")
    for text in (out.read_text(encoding="utf-8"), rejects.read_text(encoding="utf-8"), done.stdout, done.stderr):
        assert leaked(text) == [], text


def test_api_rejects_and_decisions():
    policy = engine.compile_policy(POLICY)
    results = list(policy.evaluate_many(ROWS, as_of="2026-11-22"))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].value == "***" and leaked(json.dumps([r.to_dict() for r in results], ensure_ascii=False,
                                                           default=str)) == []
    with pytest.raises(engine.RecordError) as err:
        policy.evaluate(ROWS[1])
    assert leaked(str(err.value)) == []


def test_explain_test_and_junit(files):
    for fmt in ("text", "json"):
        done = rules("explain", files["policy"], "--data", files["data"], "--key", "c1", "--format", fmt)
        assert done.returncode == 0 and "***" in done.stdout and leaked(done.stdout + done.stderr) == []
    shown = rules("explain", files["policy"], "--data", files["data"], "--key", "c1", "--show-pii")
    assert PLANTED[0] in shown.stdout  # asked for explicitly
    junit = files["dir"] / "junit.xml"
    done = rules("test", files["dir"], "--junit", junit)
    assert done.returncode == 1 and "tier: expected regular, got vip" in done.stdout
    assert leaked(done.stdout + done.stderr + junit.read_text(encoding="utf-8")) == []


def test_diff_reports(files):
    html = files["dir"] / "impact.html"
    for fmt in ("text", "json"):
        done = rules("diff", files["policy"], files["edited"], "--data", files["data"], "--format", fmt,
                     "--html", html, "--as-of", "2026-11-22")
        assert done.returncode == 0, done.stderr
        assert leaked(done.stdout + done.stderr + html.read_text(encoding="utf-8")) == []
