"""The `rules` command end to end, as an analyst or a pipeline runs it (a real subprocess)."""
import csv
import json
from xml.etree import ElementTree
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "customer_value.rules"
SCRIPT = Path(sys.executable).parent / "rules"


def rules(*args, cwd=None, stdin=None, env=None):
    """Run the installed `rules` script (as CI installs it), or the checkout's cli.py when not installed."""
    if SCRIPT.exists():
        cmd = [str(SCRIPT), *map(str, args)]
    else:
        cmd = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import cli; cli.main()",
               *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True, encoding="utf-8",
                          env={**os.environ, **(env or {})}, timeout=120)


RECORDS = [
    {"customer_id": "C1", "name": "王先生", "annual_spend": "150000", "近12个月订单数": "20",
     "avg_order_value": "", "last_order_date": "2026-11-01", "customer_type": "b2b",
     "industry": "retail_food", "region": "north", "is_vip": "false"},
    {"customer_id": "C2", "name": "李女士", "annual_spend": "25000", "近12个月订单数": "3",
     "avg_order_value": "8333.3", "last_order_date": "2026-03-01", "customer_type": "consumer",
     "industry": "services", "region": "south", "is_vip": "true"},
    {"customer_id": "C3", "name": "赵总", "annual_spend": "800", "近12个月订单数": "abc",
     "avg_order_value": "", "last_order_date": "2026-13-45", "customer_type": "consumer",
     "industry": "services", "region": "west", "is_vip": ""},
    {"customer_id": "C4", "name": "内部", "annual_spend": "0", "近12个月订单数": "0",
     "avg_order_value": "", "last_order_date": "2024-01-01", "customer_type": "internal",
     "industry": "services", "region": "east", "is_vip": ""},
]


def write_csv(path: Path, rows, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_version_and_help():
    assert rules("--version").returncode == 0
    out = rules("--help")
    assert out.returncode == 0 and "check" in out.stdout and "eval" in out.stdout


def test_check_clean_policy_from_another_directory(tmp_path):
    out = rules("check", POLICY, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning[W401]" in out.stdout and "0 error(s)" in out.stdout


def test_check_reports_every_error_with_caret_and_exit_1(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text(POLICY.read_text(encoding="utf-8")
                   .replace("orders_12m >= 1\n", "order_12m >= 1\n")
                   .replace("annual_spend >= 20_000", 'annual_spend >= "2万"'), encoding="utf-8")
    out = rules("check", bad)
    assert out.returncode == 1
    assert "error[E101]: unknown name `order_12m`" in out.stdout
    assert "did you mean `orders_12m`?" in out.stdout
    assert "error[E201]" in out.stdout and "write the number without quotes" in out.stdout
    assert f"{bad}:26:15" in out.stdout and "^^^^^^^^^" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    js = rules("check", bad, "--format", "json")
    assert js.returncode == 1
    found = json.loads(js.stdout)
    assert {d["code"] for d in found} >= {"E101", "E201", "W401"}
    e101 = next(d for d in found if d["code"] == "E101")
    assert (e101["line"], e101["column"], e101["file"]) == (26, 15, str(bad))


def test_syntax_error_is_not_a_traceback(tmp_path):
    bad = tmp_path / "syntax.rules"
    bad.write_text('policy p version "1"\ninput c { x : int }\nsegment s { a : x > }\n', encoding="utf-8")
    out = rules("check", bad)
    assert out.returncode == 1 and "error[E001]" in out.stdout and "Traceback" not in out.stderr
    out = rules("eval", bad, "--record", "{}")
    assert out.returncode == 1 and "error[E001]" in out.stderr


def test_usage_errors_exit_2(tmp_path):
    assert rules("check", tmp_path / "nope.rules").returncode == 2
    out = rules("eval", POLICY, "--data", tmp_path / "missing.csv")
    assert out.returncode == 2 and "no such file" in out.stderr
    out = rules("eval", POLICY, "--record", "{not json")
    assert out.returncode == 2 and "--record is not valid JSON" in out.stderr
    out = rules("eval", POLICY, "--record", "{}", "--as-of", "22/11/2026")
    assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr
    assert rules("eval").returncode == 2


def test_eval_one_record_as_json():
    record = {"customer_id": "c1", "name": "王先生", "annual_spend": 150000, "orders_12m": 20,
              "last_order_date": "2026-11-01", "customer_type": "b2b", "industry": "retail_food",
              "region": "north"}
    out = rules("eval", POLICY, "--record", json.dumps(record, ensure_ascii=False), "--as-of", "2026-11-22")
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)[0]
    assert decision["segments"] == {"value_tier": "A", "lifecycle": "loyal", "flags": ["regional_promo"]}
    assert decision["labels"]["value_tier"] == "重要客户"
    assert decision["outputs"] == {"discount": 0.1, "service_level": "premium", "contact_every": 30}
    assert decision["as_of"] == "2026-11-22" and decision["version"] == "2026.11.1"
    assert len(decision["content_hash"]) == 16


def test_eval_csv_file_writes_decisions_and_rejects(tmp_path):
    data = write_csv(tmp_path / "customers.csv", RECORDS)
    out_csv, rej = tmp_path / "decisions.csv", tmp_path / "rejects.csv"
    out = rules("eval", POLICY, "--data", data, "--out", out_csv, "--rejects", rej, "--as-of", "2026-11-22")
    assert out.returncode == 0, out.stderr
    assert "4 rows: 3 decided, 1 rejected" in out.stdout
    rows = list(csv.DictReader(open(out_csv, encoding="utf-8")))
    assert [r["customer_id"] for r in rows] == ["C1", "C2", "C4"]
    assert rows[0]["value_tier"] == "A" and rows[0]["discount"] == "0.1"
    assert rows[1]["flags"] == "vip_care" and rows[1]["lifecycle"] == "at_risk"
    assert rows[2]["service_level"] == "internal" and rows[2]["value_tier"] == "D"
    rejected = list(csv.DictReader(open(rej, encoding="utf-8")))
    assert len(rejected) == 1 and rejected[0]["key"] == "C3" and rejected[0]["field"] == "orders_12m"
    assert "'abc' is not a whole number" in rejected[0]["reason"]
    assert "last_order_date" in rejected[0]["reason"]  # every bad field of the record
    # the segment count table
    assert "value_tier" in out.stdout and "重要客户" in out.stdout and "33.3%" in out.stdout


def test_eval_gbk_csv_from_excel_with_chinese_headers(tmp_path):
    rows = [{k: v for k, v in r.items()} for r in RECORDS if r["customer_id"] != "C3"]
    data = write_csv(tmp_path / "客户.csv", rows, encoding="gbk")
    assert data.read_bytes().decode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.read_bytes().decode("utf-8")
    out = rules("eval", POLICY, "--data", data, "--format", "jsonl", "--as-of", "2026-11-22")
    assert out.returncode == 0, out.stderr
    decisions = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["key"] for d in decisions] == ["C1", "C2", "C4"]
    assert decisions[0]["segments"]["value_tier"] == "A"
    forced = rules("eval", POLICY, "--data", data, "--encoding", "utf-8", "--format", "jsonl")
    assert forced.returncode == 2 and "not valid utf-8 at line" in forced.stderr


def test_eval_utf8_bom_and_stdin_jsonl(tmp_path):
    data = write_csv(tmp_path / "bom.csv", RECORDS[:2], encoding="utf-8-sig")
    out = rules("eval", POLICY, "--data", data, "--format", "csv", "--as-of", "2026-11-22")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("customer_id,value_tier,lifecycle,flags,discount")
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n"
    out = rules("eval", POLICY, "--as-of", "2026-11-22", stdin=lines)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 3 and "1 rejected" in out.stderr
    assert "rejected row 2 (C3)" in out.stderr


def test_eval_table_format_and_summary(tmp_path):
    data = write_csv(tmp_path / "c.csv", RECORDS)
    out = rules("eval", POLICY, "--data", data, "--format", "table", "--summary", "--as-of", "2026-11-22")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["customer_id", "value_tier", "lifecycle"]
    assert "segment" in out.stderr and "潜在客户" in out.stderr


def test_failed_input_leaves_output_untouched(tmp_path):
    data = tmp_path / "broken.jsonl"
    data.write_text(json.dumps(RECORDS[0], ensure_ascii=False) + "\n{broken\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"
    target.write_text("previous run\n", encoding="utf-8")
    out = rules("eval", POLICY, "--data", data, "--out", target)
    assert out.returncode == 2 and "line 2" in out.stderr
    assert target.read_text(encoding="utf-8") == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jsonl", "out.jsonl"]


def test_compile_then_eval_the_artifact(tmp_path):
    artifact = tmp_path / "cv.rulesc"
    out = rules("compile", POLICY, "-o", artifact)
    assert out.returncode == 0 and "compiled customer_value 2026.11.1" in out.stdout
    record = json.dumps({"customer_id": "c9", "name": "x", "annual_spend": 30000, "orders_12m": 2,
                         "last_order_date": "2026-10-01", "customer_type": "consumer", "industry": "services",
                         "region": "south"})
    out = rules("eval", artifact, "--record", record, "--as-of", "2026-11-22")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["segments"]["value_tier"] == "B"
    doc = json.loads(artifact.read_text(encoding="utf-8"))
    doc["format_version"] = 99
    artifact.write_text(json.dumps(doc), encoding="utf-8")
    out = rules("eval", artifact, "--record", record)
    assert out.returncode == 2 and "Recompile the policy with `rules compile`" in out.stderr


def test_fit_and_eval_with_stats(tmp_path):
    policy = tmp_path / "rank.rules"
    policy.write_text('policy rank version "1"\ninput c { id : string key  spend : number }\n'
                      'let q = quintile(spend)\nsegment top { yes : q = 5  no : otherwise }\n', encoding="utf-8")
    data = tmp_path / "pop.csv"
    data.write_text("id,spend\n" + "".join(f"c{i},{i}\n" for i in range(1, 11)), encoding="utf-8")
    stats = tmp_path / "rank.stats.json"
    out = rules("fit", policy, "--data", data, "-o", stats)
    assert out.returncode == 0 and "on 10 records" in out.stdout
    single = rules("eval", policy, "--record", '{"id": "n", "spend": 9.5}', "--stats", stats)
    assert json.loads(single.stdout)[0]["segments"]["top"] == "yes"
    no_stats = rules("eval", policy, "--record", '{"id": "n", "spend": 9.5}')
    assert no_stats.returncode == 2 and "rules fit" in no_stats.stderr


def test_rules_test_passes_and_fails(tmp_path):
    (tmp_path / "p.rules").write_text('policy p version "1"\ninput c { x : int }\n'
                                      'segment s { big : x > 10  small : otherwise }\n', encoding="utf-8")
    (tmp_path / "p.cases.yaml").write_text(
        "policy: p.rules\ncases:\n"
        "  - name: big one\n    record: {x: 11}\n    expect: {s: big}\n"
        "  - name: wrong on purpose\n    record: {x: 3}\n    expect: {s: big}\n"
        "  - name: bad record\n    record: {x: abc}\n    reject: x\n", encoding="utf-8")
    out = rules("test", tmp_path, "--junit", tmp_path / "out" / "junit.xml")
    assert out.returncode == 2 and "junit.xml" in out.stderr  # the folder does not exist: said, not a traceback
    out = rules("test", tmp_path, "--junit", tmp_path / "junit.xml")
    assert out.returncode == 1
    assert "2 passed, 1 failed" in out.stdout
    assert "s: expected big, got small" in out.stdout
    assert "x (3) > 10 → false" in out.stdout and "because no rule above holds, so `otherwise`" in out.stdout
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    failure = suite.find(".//testcase[@name='wrong on purpose']/failure")
    assert failure.get("message") == "s: expected big, got small" and "x (3) > 10 → false" in failure.text
    assert suite.find(".//testcase[@name='big one']/failure") is None
    (tmp_path / "p.cases.yaml").write_text(
        "policy: p.rules\ncases:\n  - name: ok\n    record: {x: 11}\n    expect: {s: big}\n", encoding="utf-8")
    assert rules("test", tmp_path).returncode == 0
    assert rules("test", tmp_path / "nothing_here").returncode == 2


def test_readme_command_on_the_shipped_example(tmp_path):
    out = rules("eval", ROOT / "policies/customer_value.rules", "--data", ROOT / "examples/customer_value.csv",
                "--as-of", "2026-11-22", "--format", "csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "202 rows: 200 decided, 2 rejected" in out.stderr
    assert "orders_12m: 'abc' is not a whole number" in out.stderr
    assert "last_order_date: '2026-13-45' is not a date" in out.stderr
    assert len(out.stdout.splitlines()) == 201
    gbk = rules("eval", ROOT / "policies/customer_value.rules", "--data", ROOT / "examples/customer_value_gbk.csv",
                "--as-of", "2026-11-22", "--format", "jsonl")
    assert gbk.returncode == 0 and "50 rows: 50 decided, 0 rejected" in gbk.stderr


def test_example_data_is_generated_deterministically(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "examples/generate.py"), str(tmp_path)], check=True)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) >= 17
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROOT / "examples" / name).read_bytes(), name


def test_a_csv_without_a_needed_column_is_refused_up_front(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "近12个月订单数"} | {"订单数": "3"} for r in RECORDS[:2]]
    data = write_csv(tmp_path / "no_orders.csv", rows)
    out = rules("eval", POLICY, "--data", data, "--out", tmp_path / "o.csv")
    assert out.returncode == 2
    assert "no column for `orders_12m` or “近12个月订单数”" in out.stderr
    assert "did you mean “订单数”" in out.stderr and not (tmp_path / "o.csv").exists()
    optional_gone = write_csv(tmp_path / "no_aov.csv", [{k: v for k, v in r.items() if k != "avg_order_value"}
                                                        for r in RECORDS[:2]])
    out = rules("eval", POLICY, "--data", optional_gone, "--format", "csv", "--as-of", "2026-11-22")
    assert out.returncode == 0 and "note: no column for `avg_order_value`" in out.stderr


def test_progress_line_on_a_terminal_only(tmp_path):
    """A long record-by-record run draws a progress line on a terminal; piped, nothing is drawn."""
    import pty
    args = ["eval", POLICY, "--data", ROOT / "examples" / "customer_value.csv", "--backend", "python",
            "--out", tmp_path / "d.jsonl", "--as-of", "2026-11-22", "--no-summary"]
    cmd = [str(SCRIPT), *map(str, args)] if SCRIPT.exists() else [
        sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import cli; cli.main()", *map(str, args)]
    leader, follower = pty.openpty()
    child = subprocess.Popen(cmd, stdin=follower, stdout=follower, stderr=follower,
                             env={**os.environ, "RULES_PROGRESS_DELAY": "0"})
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert child.wait(timeout=120) == 0
    os.close(leader)
    assert b"records decided" in seen and b"202 rows: 200 decided, 2 rejected" in seen
    piped = rules(*args, env={"RULES_PROGRESS_DELAY": "0"})
    assert piped.returncode == 0 and "records decided" not in piped.stderr + piped.stdout
