"""customer_value.rules written by hand in plain Python: the baseline the compiled policy is measured against.

It trusts its input (no validation beyond converting CSV text to numbers and dates) and returns
segments and outputs as dicts, which is what an engineer would write if the rules lived in code.
"""
from __future__ import annotations

import datetime as dt


def customer_value(rec: dict, as_of: dt.date) -> dict:
    spend = rec["annual_spend"]
    if spend.__class__ is str:  # as read from CSV
        spend = float(spend)
    orders = rec["近12个月订单数"] if "近12个月订单数" in rec else rec["orders_12m"]
    if orders.__class__ is str:
        orders = int(orders)
    last = rec["last_order_date"]
    if last.__class__ is str:
        last = dt.date.fromisoformat(last)
    recency = (as_of - last).days
    aov = rec.get("avg_order_value")
    if aov.__class__ is str:
        aov = float(aov) if aov else None
    if aov is None:
        aov = spend / max(orders, 1)
    vip = rec.get("is_vip", False)
    if vip.__class__ is str:
        vip = vip == "true"

    if spend >= 100_000 and orders >= 12:
        tier = "A"
    elif spend >= 20_000 or (orders >= 6 and aov >= 2_000):
        tier = "B"
    elif orders >= 1:
        tier = "C"
    else:
        tier = "D"

    if recency > 365:
        life = "lost"
    elif recency > 180:
        life = "at_risk"
    elif orders >= 6 and recency <= 90:
        life = "loyal"
    elif orders <= 1 and recency <= 30:
        life = "new"
    else:
        life = "active"

    flags = []
    if rec["region"] in ("north", "east") and rec["industry"].startswith("retail"):
        flags.append("regional_promo")
    if vip and tier != "A":
        flags.append("vip_care")

    discount = 0.0
    if tier == "A":
        discount += 0.10
    if tier == "B":
        discount += 0.05
    if life == "at_risk" and tier in ("A", "B"):
        discount += 0.05
    discount = min(max(discount, 0.0), 0.15)

    if rec["customer_type"] == "internal":
        service = "internal"
    elif tier == "A":
        service = "premium"
    elif tier == "B":
        service = "standard"
    elif tier == "C":
        service = "basic"
    else:
        service = "self_service"

    contact = {"loyal": 30, "at_risk": 14, "lost": 90}.get(life, 60)
    return {
        "key": rec["customer_id"],
        "segments": {"value_tier": tier, "lifecycle": life, "flags": flags},
        "outputs": {"discount": discount, "service_level": service, "contact_every": contact},
    }
