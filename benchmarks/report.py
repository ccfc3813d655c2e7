"""Print the README's speed table: best-of-N timings, evaluate as a ratio of the hand-written baseline.

    python benchmarks/report.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

import engine  # noqa: E402
from handwritten import customer_value  # noqa: E402
from workloads import AS_OF, CUSTOMER_VALUE, records, thousand_rules  # noqa: E402


def best(fn, repeat: int = 7) -> float:
    """Seconds of the fastest of `repeat` runs (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def per_record(fn, rows) -> float:
    def run():
        for r in rows:
            fn(r, AS_OF)
    return best(run) / len(rows)


def main() -> None:
    policy = engine.load_policy(CUSTOMER_VALUE)
    interp = policy.with_backend("interp")
    text, typed = records(as_text=True), records(as_text=False)
    rows = []
    for label, data in (("CSV text", text), ("JSON values", typed)):
        hand = per_record(customer_value, data)
        compiled = per_record(policy.evaluate, data)
        rows.append((f"`evaluate`, customer_value, {label}", f"{compiled * 1e6:.2f} µs",
                     f"{compiled / hand:.2f}× hand-written ({hand * 1e6:.2f} µs)", "≤ 2×"))
    hand = per_record(customer_value, typed)
    slow = per_record(interp.evaluate, typed)
    rows.append(("reference interpreter, JSON values", f"{slow * 1e6:.2f} µs", f"{slow / hand:.1f}× hand-written", "—"))
    big = thousand_rules()
    compile_s = best(lambda: engine.compile_policy(big, "big.rules"), repeat=3)
    rows.append(("parse + check + compile, 1,100 rules", f"{compile_s * 1e3:.0f} ms", f"{compile_s:.2f} of the 1 s budget", "< 1 s"))
    with tempfile.TemporaryDirectory() as tmp:
        for name, p in (("customer_value", policy), ("1,100 rules", engine.compile_policy(big))):
            path = Path(tmp) / "a.rulesc"
            p.save(path)
            load_s = best(lambda: engine.load_compiled(path), repeat=5)
            rows.append((f"load a compiled artifact, {name}", f"{load_s * 1e3:.1f} ms",
                         f"{load_s / 0.05:.2f} of the 50 ms budget", "< 50 ms"))
    print("| measurement | time | ratio | target |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
