"""Bad records on every backend: each row is decided or rejected with a reason, rows in = decided +
rejected, and every backend writes the same bytes — for NaN, ±inf, empty cells, huge numbers, dates off
the calendar, duplicate keys, extra columns, rows wider or narrower than the header, a BOM, GBK and
mixed line endings in CSV, and odd values and lines in JSONL."""
import csv
import json
import subprocess
from pathlib import Path

import pytest

BACKENDS = ("duckdb", "python", "interp")
POLICY = """policy bad version "1"
input c {
  id : string key
  x  : int
  n  : number?
  d  : date
  s  : string?
  b  : bool?
}
segment size { big : x > 10  small : otherwise }
output score : number = 0
strategy t { when n > 0 then score = n * 2 }
"""
HEADER = "id,x,n,d,s,b,extra"
ROWS = [
    "1,5,NaN,2026-01-01,a,true,e", "2,5,inf,2026-01-01,a,true,e", "3,5,-Infinity,2026-01-01,a,true,e",
    "4,,1.5,2026-01-01,,,e", "5,99999999999999999999,1,2026-01-01,a,no,e", "6,5,1e400,2026-01-01,a,yes,e",
    "7,5,1,0000-01-01,a,1,e", "8,5,1,10000-01-01,a,0,e", "9,5,1,2026-02-30,a,maybe,e",
    "10,12,1e-400,2026-01-01,零售,false,e", "10,13,2.5,2026-01-01,重复,true,e",  # a duplicate key: both decided
    "11,5", "12,5,1,2026-01-01,a,true,e,wide,row", '13,"1,000",-0,2026-01-01,"quoted, comma",TRUE,e',
    "14,1万,0.1,2026-11-22,\"\",,e", "15, 7 ,  3 ,2026-11-22,  spaced  ,否,e",
]
EXPECT = {"rows": 16, "decided": 5, "rejected": 11}


def run(policy: Path, data: Path, out: Path, backend: str, extra=()) -> tuple[subprocess.CompletedProcess, str]:
    rejects = out.with_name(out.stem + "_rejects.csv")
    done = subprocess.run(["rules", "eval", str(policy), "--data", str(data), "--out", str(out), "--rejects",
                           str(rejects), "--backend", backend, "--as-of", "2026-11-22", *extra],
                          capture_output=True, text=True)
    return done, rejects.read_text(encoding="utf-8") if rejects.exists() else ""


def write_csv(path: Path, encoding: str, bom: bool, endings: list[str]) -> None:
    lines = [HEADER, *ROWS]
    text = "".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))


@pytest.mark.parametrize("variant", ["utf8-bom-mixed-endings", "gbk-crlf", "utf8-cr-lf"])
def test_bad_csv_rows_on_every_backend(tmp_path, variant):
    policy = tmp_path / "bad.rules"
    policy.write_text(POLICY, encoding="utf-8")
    data = tmp_path / "bad.csv"
    if variant == "utf8-bom-mixed-endings":
        write_csv(data, "utf-8", True, ["\n", "\r\n"])
    elif variant == "gbk-crlf":
        write_csv(data, "gbk", False, ["\r\n"])
    else:
        write_csv(data, "utf-8", False, ["\r\n", "\n", "\n"])
    outputs = {}
    for backend in BACKENDS:
        done, rejects = run(policy, data, tmp_path / f"{backend}.csv", backend)
        assert done.returncode == 0, done.stderr
        said = done.stdout + done.stderr
        assert f"{EXPECT['rows']} rows: {EXPECT['decided']} decided, {EXPECT['rejected']} rejected" in said, said
        decided = list(csv.DictReader((tmp_path / f"{backend}.csv").open(encoding="utf-8")))
        rejected = list(csv.DictReader(rejects.splitlines()))
        assert len(decided) + len(rejected) == EXPECT["rows"]
        assert all(r["reason"] for r in rejected)
        outputs[backend] = ((tmp_path / f"{backend}.csv").read_bytes(), rejects)
    assert outputs["duckdb"] == outputs["python"] == outputs["interp"]
    reasons = {r["key"]: r["reason"] for r in csv.DictReader(outputs["python"][1].splitlines())}
    assert reasons["1"] == "n: 'NaN' is not a number" and "too large for a whole number" in reasons["5"]
    assert reasons["9"] == "d: '2026-02-30' is not a date (YYYY-MM-DD); b: 'maybe' is not true or false"
    assert any("line 14: 9 cells but the header has 7" in r for r in reasons.values())
    keys = [row["id"] for row in csv.DictReader(outputs["python"][0].decode("utf-8").splitlines())]
    assert keys == ["10", "10", "13", "14", "15"]


def test_bad_jsonl_lines_on_every_backend(tmp_path):
    policy = tmp_path / "bad.rules"
    policy.write_text(POLICY, encoding="utf-8")
    data = tmp_path / "bad.jsonl"
    lines = [
        '{"id": "1", "x": 5, "n": NaN, "d": "2026-01-01"}', '{"id": "2", "x": 5, "n": Infinity, "d": "2026-01-01"}',
        '{"id": "3", "x": 1e400, "d": "2026-01-01"}', '{"id": "4", "x": 123456789012345678901234, "d": "2026-01-01"}',
        '[1, 2, 3]', '"just a string"', '{"id": "7", "x": {"nested": 1}, "d": "2026-01-01"}',
        '{"id": "8", "x": 20, "d": "2026-01-01", "extra": [1, 2]}', '{"id": "9", "x": true, "d": "2026-01-01"}',
        '{"id": "10", "x": 12.0, "n": -0.0, "d": "2026-11-22", "b": "是"}',
    ]
    data.write_text("\r\n".join(lines) + "\n", encoding="utf-8")
    outputs = {}
    for backend in BACKENDS:
        done, rejects = run(policy, data, tmp_path / f"{backend}.jsonl", backend)
        assert done.returncode == 0, done.stderr
        assert "10 rows: 2 decided, 8 rejected" in done.stdout + done.stderr
        decided = (tmp_path / f"{backend}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(d)["key"] for d in decided] == ["8", "10"]
        outputs[backend] = ((tmp_path / f"{backend}.jsonl").read_bytes(), rejects)
    assert outputs["duckdb"] == outputs["python"] == outputs["interp"]


def test_a_missing_key_column_is_said_once_not_per_row(tmp_path):
    """Every row would be rejected for the same reason: the run stops before deciding anything and
    names the column the policy looks for (nothing is written, so nothing is lost)."""
    policy = tmp_path / "bad.rules"
    policy.write_text(POLICY, encoding="utf-8")
    data = tmp_path / "nokey.csv"
    data.write_text("x,d\n5,2026-01-01\n", encoding="utf-8")
    for backend in BACKENDS:
        done, _ = run(policy, data, tmp_path / f"{backend}.csv", backend)
        assert done.returncode == 2 and "id" in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not (tmp_path / f"{backend}.csv").exists()
