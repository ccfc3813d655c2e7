"""Write the sample data of every shipped policy, deterministically.

    python examples/generate.py [OUT_DIR]

writes examples/<policy>.csv for each policy in policies/ (RFM runs on the real CDNOW file
instead). Each file has realistic rows for the policy's input schema, then one row made bad on
purpose (the last) that `rules eval` must reject with the reason. customer_value.csv has two
bad rows (an order count "abc" and the date 2026-13-45). Two files are saved in GBK, as Excel
in China exports a CSV: customer_value_gbk.csv (its orders column is headed 近12个月订单数,
which the policy reads with `from`) and retail_service_tier.csv (every header and value is
Chinese, every field read with `from`).
"""
from __future__ import annotations

import csv
import datetime as dt
import random
import sys
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
TODAY = dt.date(2026, 11, 20)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超"]
COMPANIES = ["华联超市", "鑫达贸易", "恒信制造", "美佳服饰", "东方食品", "新世纪商行", "宏图科技", "金桥物流"]

Row = dict[str, str]


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def days_ago(rng: random.Random, mean: float, cap: int = 900) -> str:
    return (TODAY - dt.timedelta(days=min(cap, int(rng.expovariate(1 / mean))))).isoformat()


def maybe(rng: random.Random, value, p_missing: float) -> str:
    return "" if rng.random() < p_missing else str(value)


def yes(rng: random.Random, p: float) -> str:
    return "true" if rng.random() < p else "false"


# ---- one function per policy: a realistic row ----------------------------------------------

def customer_value(rng, n) -> Row:
    kind = rng.choice(["consumer"] * 6 + ["b2b"] * 3 + ["channel", "internal"])
    spend = round(rng.lognormvariate(9.3, 1.3), 2)
    orders = min(40, max(0, int(rng.gauss(spend ** 0.3 / 2.2, 2))))
    return {"customer_id": f"C{n:05d}", "name": rng.choice(COMPANIES) if kind in ("b2b", "channel") else person(rng),
            "annual_spend": f"{spend:.2f}", "近12个月订单数": str(orders),
            "avg_order_value": "" if rng.random() < 0.2 or orders == 0 else f"{spend / orders:.2f}",
            "last_order_date": days_ago(rng, 40 + 400 / (1 + orders), 900), "customer_type": kind,
            "industry": rng.choice(["retail_food", "retail_apparel", "wholesale", "manufacturing", "services"]),
            "region": rng.choice(["north", "east", "south", "west", "central"]),
            "is_vip": rng.choice(["true", "false", "false", "false", ""])}


def topk_social_style(rng, n) -> Row:
    return {"contact_id": f"T{n:04d}", "name": person(rng), "dominance": maybe(rng, rng.randint(1, 10), 0.05),
            "self_control": maybe(rng, rng.randint(1, 10), 0.05)}


def buying_behavior(rng, n) -> Row:
    return {"customer_id": f"B{n:04d}", "involvement": rng.choice(["high", "low", "low"]),
            "brand_difference": rng.choice(["significant", "minor"]),
            "market_position": rng.choice(["leader", "challenger", ""])}


def kotler_relationship(rng, n) -> Row:
    return {"account_id": f"K{n:04d}", "customer_count": str(int(rng.lognormvariate(5.5, 2))),
            "unit_margin": f"{rng.betavariate(2, 6):.3f}"}


def loyalty_status(rng, n) -> Row:
    first = TODAY - dt.timedelta(days=rng.randint(10, 2500))
    last = min(TODAY, first + dt.timedelta(days=rng.randint(0, (TODAY - first).days)))
    if rng.random() < 0.6:  # most customers came back recently
        last = TODAY - dt.timedelta(days=rng.randint(0, min(200, (TODAY - first).days)))
    recent = (TODAY - last).days <= 365
    spend = round(rng.lognormvariate(8, 1.2), 2) if recent else 0
    return {"customer_id": f"L{n:04d}", "first_order_date": first.isoformat(), "last_order_date": last.isoformat(),
            "spend_12m": f"{spend:.2f}", "total_spend": f"{spend + rng.lognormvariate(8.5, 1.3):.2f}",
            "price_sensitivity": rng.choice(["low", "medium", "high", ""]), "orders_12m": str(rng.randint(0, 20))}


def retail_service_tier(rng, n) -> Row:
    fmt = rng.choice(["商场", "超市", "超市", "烟酒店", "便利店", "便利店", "食杂店", "食杂店", "农村食杂店", "其他"])
    location = "农村" if fmt == "农村食杂店" else rng.choice(["城区", "城区", "镇区", "农村"])
    big = fmt in ("商场", "超市", "烟酒店")
    return {"客户编码": f"R{n:05d}", "零售业态": fmt, "地理位置": location,
            "月销量(条)": str(int(rng.lognormvariate(5.9 if big else 4.9, 0.6))),
            "品牌意识": rng.choice(["强", "强", "一般", "弱"] if big else ["强", "一般", "一般", "弱"]),
            "困难群体": "是" if rng.random() < 0.04 else "否"}


def bank_customers(rng, n) -> Row:
    deposits = rng.lognormvariate(10.5, 1.6)
    experienced = rng.random() < 0.4
    return {"client_id": f"BK{n:05d}", "name": person(rng), "age": str(rng.randint(22, 80)),
            "deposits": f"{deposits:.2f}", "loans": maybe(rng, f"{rng.lognormvariate(12, 1):.2f}", 0.6),
            "card_spend_12m": f"{rng.lognormvariate(9.5, 1):.2f}", "investment_experience": "是" if experienced else "否",
            "risk_tolerance": rng.choice(["conservative", "moderate", "moderate", "aggressive"]),
            "planned_amount": maybe(rng, int(rng.choice([5, 10, 20, 50, 100]) * 10_000), 0.3)}


def deal_stage(rng, n) -> Row:
    orders = rng.choice([0, 0, 0, 1, 1, 2, 3, 8])
    return {"lead_id": f"D{n:04d}", "has_need": yes(rng, 0.7), "agreed_to_cooperate": yes(rng, 0.3),
            "orders_total": str(orders), "last_order_date": days_ago(rng, 120) if orders else ""}


def customer_type(rng, n) -> Row:
    kind = rng.choice(["person"] * 5 + ["household"] * 2 + ["company"] * 2 + ["reseller", "agent", "department"])
    return {"buyer_id": f"CT{n:04d}", "buyer_kind": kind, "resells": yes(rng, 0.1 if kind == "company" else 0),
            "embeds_in_own_product": yes(rng, 0.5 if kind == "company" else 0),
            "country": rng.choice(["CN"] * 8 + ["US", "SG", "JP", "DE"]),
            "avg_order_value": maybe(rng, f"{rng.lognormvariate(6 if kind in ('person', 'household') else 9, 1):.2f}", 0.1)}


def key_accounts(rng, n) -> Row:
    return {"account_id": f"A{n:04d}", "purchases_12m": f"{rng.lognormvariate(11, 1.3):.2f}",
            "net_worth": maybe(rng, f"{rng.lognormvariate(14.5, 1.5):.0f}", 0.2), "years_with_us": str(rng.randint(0, 10))}


PERSONA_TRAITS = ["sets_traps", "hard_to_read", "friend_first", "squeezes_margin", "wants_personal_gain", "is_owner",
                  "rising_star", "on_assignment", "rational"]


def phone_sales_personas(rng, n) -> Row:
    row = {"contact_id": f"P{n:04d}"}
    noted = rng.sample(PERSONA_TRAITS, rng.choice([0, 1, 1, 1, 2]))
    row.update({t: "true" if t in noted else "false" for t in PERSONA_TRAITS})
    return row


def ecommerce_segments(rng, n) -> Row:
    return {"shopper_id": f"E{n:05d}", "orders_12m": str(int(rng.expovariate(1 / 6))),
            "avg_order_value": f"{rng.lognormvariate(5.3, 0.9):.2f}",
            "top_brand_share": maybe(rng, f"{rng.betavariate(2, 3):.2f}", 0.2),
            "coupon_order_share": maybe(rng, f"{rng.betavariate(1.5, 3):.2f}", 0.2),
            "spec_views_per_order": maybe(rng, f"{rng.expovariate(1 / 1.5):.1f}", 0.3)}


def relationship_type(rng, n) -> Row:
    level = rng.choice(["staff", "staff", "key_people", "key_people", "top_management"])
    return {"account_id": f"RT{n:04d}", "contact_level": level,
            "info_sharing": rng.choice(["none", "partial", "extensive"] if level != "staff" else ["none", "partial"]),
            "exclusive_opportunities": yes(rng, 0.2)}


def time_status_mood(rng, n) -> Row:
    return {"contact_id": f"M{n:04d}", "last_purchase_date": maybe(rng, days_ago(rng, 300), 0.4),
            "in_transaction": yes(rng, 0.2), "shows_interest": yes(rng, 0.5), "many_questions": yes(rng, 0.3),
            "misunderstanding": yes(rng, 0.2), "upset": yes(rng, 0.1)}


def showroom_buyers(rng, n) -> Row:
    return {"visit_id": f"V{n:04d}", "knows_target_model": yes(rng, 0.5), "decides_for_group": yes(rng, 0.4),
            "researched_online": yes(rng, 0.5), "sharp_questions": yes(rng, 0.3), "learned_from_friends": yes(rng, 0.3)}


def hotel_guests(rng, n) -> Row:
    purpose = rng.choice(["business", "business", "leisure", "leisure", "conference", "other"])
    return {"booking_id": f"H{n:05d}", "trip_purpose": purpose, "nights": str(max(1, int(rng.expovariate(1 / 2.5)))),
            "group_size": str(rng.choice([1, 1, 2, 2, 3, 4]) if purpose != "conference" else rng.randint(5, 60)),
            "meeting_room": yes(rng, 0.05 if purpose != "conference" else 0.6)}


# policy -> (row maker, rows, the bad row's changes, encoding)
SAMPLES: dict[str, tuple[Callable, int, dict, str]] = {
    "customer_value": (customer_value, 200, {"近12个月订单数": "abc"}, "utf-8"),
    "topk_social_style": (topk_social_style, 200, {"dominance": "很高"}, "utf-8"),
    "buying_behavior": (buying_behavior, 200, {"involvement": "medium"}, "utf-8"),
    "kotler_relationship": (kotler_relationship, 200, {"unit_margin": "high"}, "utf-8"),
    "loyalty_status": (loyalty_status, 200, {"first_order_date": "2026-02-30"}, "utf-8"),
    "retail_service_tier": (retail_service_tier, 200, {"零售业态": "报刊亭"}, "gbk"),
    "bank_customers": (bank_customers, 200, {"investment_experience": "不清楚"}, "utf-8"),
    "deal_stage": (deal_stage, 200, {"orders_total": "1.5"}, "utf-8"),
    "customer_type": (customer_type, 200, {"buyer_kind": "robot"}, "utf-8"),
    "key_accounts": (key_accounts, 200, {"purchases_12m": ""}, "utf-8"),
    "phone_sales_personas": (phone_sales_personas, 200, {"rational": "maybe"}, "utf-8"),
    "ecommerce_segments": (ecommerce_segments, 200, {"orders_12m": "十二"}, "utf-8"),
    "relationship_type": (relationship_type, 200, {"contact_level": "ceo"}, "utf-8"),
    "time_status_mood": (time_status_mood, 200, {"last_purchase_date": "上个月"}, "utf-8"),
    "showroom_buyers": (showroom_buyers, 200, {"visit_id": ""}, "utf-8"),
    "hotel_guests": (hotel_guests, 200, {"nights": "two"}, "utf-8"),
}
BAD_ROWS = {name: 2 if name == "customer_value" else 1 for name in SAMPLES}


def write(path: Path, rows: list[Row], encoding: str) -> None:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, list(rows[0]), lineterminator="\r\n")  # as Excel writes it
        w.writeheader()
        w.writerows(rows)


def main(out: Path = HERE) -> None:
    for name, (make, count, bad, encoding) in SAMPLES.items():
        rng = random.Random(f"{name}-20261122")
        rows = [make(rng, n) for n in range(1, count + 1)]
        rows.append(make(rng, count + 1) | bad)
        if name == "customer_value":
            rows.append(make(rng, count + 2) | {"last_order_date": "2026-13-45"})
            write(out / "customer_value_gbk.csv", [make(rng, n) for n in range(301, 351)], "gbk")
        write(out / f"{name}.csv", rows, encoding)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
