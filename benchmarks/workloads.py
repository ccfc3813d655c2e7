"""What the benchmarks measure: customer_value records as CSV and JSON give them, and a generated
1,000-rule policy. Deterministic, so runs compare."""
from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CUSTOMER_VALUE = ROOT / "policies" / "customer_value.rules"
AS_OF = dt.date(2026, 11, 22)


def records(n: int = 1000, *, as_text: bool) -> list[dict]:
    """customer_value records: strings as read from CSV (as_text) or typed as JSON gives them."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        spend = round(rng.lognormvariate(9.5, 1.4), 2)
        orders = rng.randrange(0, 30)
        rec = {
            "customer_id": f"C{i:05d}", "name": "王先生", "annual_spend": spend, "orders_12m": orders,
            "avg_order_value": None if rng.random() < 0.3 else round(spend / max(orders, 1), 2),
            "last_order_date": (AS_OF - dt.timedelta(days=rng.randrange(0, 500))).isoformat(),
            "customer_type": rng.choice(["consumer", "b2b", "channel", "internal"]),
            "industry": rng.choice(["retail_food", "wholesale", "services"]),
            "region": rng.choice(["north", "east", "south"]), "is_vip": rng.random() < 0.2,
        }
        if as_text:
            rec = {k: ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in rec.items()}
        out.append(rec)
    return out


def thousand_rules() -> str:
    """A policy of 10 segments of 100 rules each, plus a strategy of 100 rules: 1,100 rules."""
    parts = ['policy big version "1"', "input c {", "  id : string key"]
    parts += [f"  x{i} : number" for i in range(10)] + ["  kind : enum(a, b, c)", "}"]
    for s in range(10):
        parts.append(f"segment s{s} first {{")
        for r in range(100):
            parts.append(f"  m{r} : x{s} >= {r * 10} and x{(s + 1) % 10} < {1000 - r} or kind = {'abc'[r % 3]}")
        parts.append("  rest : otherwise\n}")
    parts.append("output score : number = 0 combine sum clamp 0 .. 100")
    parts.append("strategy scoring {")
    parts += [f"  when s{r % 10} is m{r} then score = {r % 7}" for r in range(100)]
    parts.append("}")
    return "\n".join(parts) + "\n"
