"""Batch at scale: `rules eval` on DuckDB against a hand-written DuckDB query of the same rules,
and against the per-record Python backend; time and peak memory of each, in one run.

    python benchmarks/batch.py            # 1M rows (and the python backend at 1M)
    python benchmarks/batch.py 1000000 10000000

Each measurement is a separate process (peak RSS from getrusage); ratios are within one run, the
best of REPEATS (default 5) interleaved runs of each command. The first `rules eval` of a size also
fills the statement cache (engine.duck_cache), as the first run of a policy does for a user.
"""
from __future__ import annotations

import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "customer_value.rules"
AS_OF = "2026-11-22"
REPEATS = int(os.environ.get("REPEATS", "5"))  # runs of each command per size; the best counts

# customer_value.rules by hand, as an engineer would write it in SQL: the same columns as
# `rules eval` writes (segments, outputs, the rules that fired), but no validation, rejects or counts
HANDWRITTEN = """
COPY (
  WITH t AS (
    SELECT customer_id, annual_spend, "近12个月订单数" AS orders, is_vip, customer_type, region, industry,
           DATE '2026-11-22' - last_order_date AS recency,
           COALESCE(avg_order_value, annual_spend / greatest("近12个月订单数", 1)) AS aov
    FROM read_parquet($input)
  ), s AS (
    SELECT *,
      CASE WHEN annual_spend >= 100000 AND orders >= 12 THEN 'A'
           WHEN annual_spend >= 20000 OR (orders >= 6 AND aov >= 2000) THEN 'B'
           WHEN orders >= 1 THEN 'C' ELSE 'D' END AS value_tier,
      CASE WHEN recency > 365 THEN 'lost' WHEN recency > 180 THEN 'at_risk'
           WHEN orders >= 6 AND recency <= 90 THEN 'loyal' WHEN orders <= 1 AND recency <= 30 THEN 'new'
           ELSE 'active' END AS lifecycle
    FROM t
  )
  SELECT customer_id, value_tier, lifecycle,
    list_filter([CASE WHEN region IN ('north', 'east') AND starts_with(industry, 'retail') THEN 'regional_promo' END,
                 CASE WHEN coalesce(is_vip, false) AND value_tier <> 'A' THEN 'vip_care' END], lambda x: x IS NOT NULL)
      AS flags,
    least(CASE value_tier WHEN 'A' THEN 0.10 WHEN 'B' THEN 0.05 ELSE 0 END
          + CASE WHEN lifecycle = 'at_risk' AND value_tier IN ('A', 'B') THEN 0.05 ELSE 0 END, 0.15)::DOUBLE
      AS discount,
    CASE WHEN customer_type = 'internal' THEN 'internal' WHEN value_tier = 'A' THEN 'premium'
         WHEN value_tier = 'B' THEN 'standard' WHEN value_tier = 'C' THEN 'basic' ELSE 'self_service' END
      AS service_level,
    CASE lifecycle WHEN 'loyal' THEN 30 WHEN 'at_risk' THEN 14 WHEN 'lost' THEN 90 ELSE 60 END AS contact_every,
    list_filter([
      'value_tier.' || value_tier, 'lifecycle.' || lifecycle,
      CASE WHEN region IN ('north', 'east') AND starts_with(industry, 'retail') THEN 'flags.regional_promo' END,
      CASE WHEN coalesce(is_vip, false) AND value_tier <> 'A' THEN 'flags.vip_care' END,
      CASE WHEN value_tier = 'A' THEN 'pricing.1' END, CASE WHEN value_tier = 'B' THEN 'pricing.2' END,
      CASE WHEN lifecycle = 'at_risk' AND value_tier IN ('A', 'B') THEN 'pricing.3' END,
      CASE WHEN customer_type = 'internal' THEN 'service.1' END, CASE WHEN value_tier = 'A' THEN 'service.2' END,
      CASE WHEN value_tier = 'B' THEN 'service.3' END, CASE WHEN value_tier = 'C' THEN 'service.4' END,
      CASE lifecycle WHEN 'loyal' THEN 'by_lifecycle.loyal' WHEN 'at_risk' THEN 'by_lifecycle.at_risk'
                     WHEN 'lost' THEN 'by_lifecycle.lost' END], lambda x: x IS NOT NULL) AS rules_fired
  FROM s
) TO $output (FORMAT PARQUET)
"""


def make_input(path: Path, rows: int) -> None:
    """Customers like examples/customer_value.csv, typed, from a seeded hash of the row number."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"""
        COPY (SELECT 'C' || lpad(i::VARCHAR, 9, '0') AS customer_id, '客户' || i AS name,
                     round((hash(i) % 300000) / 1.0 + 100, 2)::DOUBLE AS annual_spend,
                     (hash(i * 7) % 30)::BIGINT AS "近12个月订单数",
                     CASE WHEN hash(i * 3) % 5 = 0 THEN NULL ELSE round((hash(i * 11) % 5000) + 1.5, 2) END::DOUBLE
                       AS avg_order_value,
                     DATE '2026-11-22' - (hash(i * 13) % 700)::INTEGER AS last_order_date,
                     (['consumer', 'b2b', 'channel', 'internal'])[(1 + hash(i * 17) % 4)::BIGINT] AS customer_type,
                     (['retail_food', 'retail_fashion', 'wholesale', 'software'])[(1 + hash(i * 19) % 4)::BIGINT] AS industry,
                     (['north', 'east', 'south', 'west'])[(1 + hash(i * 23) % 4)::BIGINT] AS region,
                     hash(i * 29) % 4 = 0 AS is_vip
              FROM range({rows}) r(i)) TO '{path}' (FORMAT PARQUET)""")


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process (its own rusage, from wait4)."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd[:3]} failed: {child.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def rules_cmd(data: Path, out: Path, backend: str) -> list[str]:
    script = Path(sys.executable).parent / "rules"
    return [str(script), "eval", str(POLICY), "--data", str(data), "--out", str(out), "--as-of", AS_OF,
            "--backend", backend, "--no-summary"]


def handwritten_cmd(data: Path, out: Path) -> list[str]:
    code = ("import duckdb, sys; duckdb.connect().execute(sys.argv[1].replace('$input', repr(sys.argv[2]))"
            ".replace('$output', repr(sys.argv[3])))")
    return [sys.executable, "-c", code, HANDWRITTEN, str(data), str(out)]


def same_as_hand(hand: Path, ours: Path) -> None:
    """The baseline must compute what the policy computes: every row and column equal."""
    con = duckdb.connect()
    differ = con.execute("SELECT count(*) FROM ((SELECT * EXCLUDE (errors) FROM read_parquet(?)) "
                         "EXCEPT ALL (SELECT * FROM read_parquet(?)))", [str(ours), str(hand)]).fetchone()[0]
    if differ:
        raise SystemExit(f"the hand-written query disagrees with the policy on {differ} rows")


def main(sizes: list[int]) -> None:
    # measured as installed: `pip install .` compiles the package to bytecode, which an editable
    # checkout run with PYTHONDONTWRITEBYTECODE would otherwise recompile on every start
    compileall.compile_dir(ROOT / "engine", quiet=1)
    compileall.compile_file(ROOT / "cli.py", quiet=1)
    print("| rows | hand-written DuckDB SQL | `rules eval` (duckdb) | ratio | peak RSS (rules / hand) |"
          " `--backend python` | python / duckdb |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            data = Path(tmp) / f"in{rows}.parquet"
            make_input(data, rows)
            # interleaved repeats, best of each: the machines here are shared, and a neighbour's burst
            # should not land on one side only
            hands, ourses = [], []
            for _ in range(REPEATS):
                hands.append(measure(handwritten_cmd(data, Path(tmp) / "hand.parquet")))
                ourses.append(measure(rules_cmd(data, Path(tmp) / "ours.parquet", "duckdb")))
            (hand, _), (ours, _) = min(hands), min(ourses)  # time: the best run; memory: the largest peak
            hand_mb, ours_mb = max(mb for _, mb in hands), max(mb for _, mb in ourses)
            same_as_hand(Path(tmp) / "hand.parquet", Path(tmp) / "ours.parquet")
            python = ""
            if rows <= 1_000_000:
                py, py_mb = measure(rules_cmd(data, Path(tmp) / "py.csv", "python"))
                python = f"{py:.1f} s, {py_mb:.0f} MB | {py / ours:.1f}×"
            else:
                python = "— | —"
            print(f"| {rows:,} | {hand:.2f} s | {ours:.2f} s | {ours / hand:.2f}× | {ours_mb:.0f} / {hand_mb:.0f} MB"
                  f" | {python} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000_000])
