"""Write the example data for policies/customer_value.rules, deterministically.

    python examples/make_customer_value.py [OUT_DIR]

writes examples/customer_value.csv (UTF-8, 200 customers plus 2 rows made bad on purpose:
an order count "abc" and the date 2026-13-45, which `rules eval` must reject with the reason)
and examples/customer_value_gbk.csv (50 customers, GBK as Excel in China saves it, with
Chinese column headers; the policy reads the orders column `from "近12个月订单数"`).
"""
from __future__ import annotations

import csv
import datetime as dt
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超"]
COMPANIES = ["华联超市", "鑫达贸易", "恒信制造", "美佳服饰", "东方食品", "新世纪商行", "宏图科技", "金桥物流"]
INDUSTRIES = ["retail_food", "retail_apparel", "wholesale", "manufacturing", "services"]
REGIONS = ["north", "east", "south", "west", "central"]
TYPES = ["consumer"] * 6 + ["b2b"] * 3 + ["channel", "internal"]
FIELDS = ["customer_id", "name", "annual_spend", "近12个月订单数", "avg_order_value", "last_order_date",
          "customer_type", "industry", "region", "is_vip"]


def customer(rng: random.Random, n: int) -> dict:
    kind = rng.choice(TYPES)
    name = rng.choice(COMPANIES) if kind in ("b2b", "channel") else rng.choice(SURNAMES) + rng.choice(GIVEN)
    spend = round(rng.lognormvariate(9.3, 1.3), 2)  # most a few thousand, some above 10万
    orders = min(40, max(0, int(rng.gauss(spend ** 0.3 / 2.2, 2))))
    days_ago = min(900, int(rng.expovariate(1 / (40 + 400 / (1 + orders)))))  # frequent buyers came back lately
    last = dt.date(2026, 11, 20) - dt.timedelta(days=days_ago)
    aov = "" if rng.random() < 0.2 or orders == 0 else f"{spend / orders:.2f}"
    vip = rng.choice(["true", "false", "false", "false", ""])
    return {"customer_id": f"C{n:05d}", "name": name, "annual_spend": f"{spend:.2f}", "近12个月订单数": str(orders),
            "avg_order_value": aov, "last_order_date": last.isoformat(), "customer_type": kind,
            "industry": rng.choice(INDUSTRIES), "region": rng.choice(REGIONS), "is_vip": vip}


def write(path: Path, rows: list[dict], encoding: str) -> None:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, FIELDS, lineterminator="\r\n")  # as Excel writes it
        w.writeheader()
        w.writerows(rows)


def main(out: Path = HERE) -> None:
    rng = random.Random(20261122)
    rows = [customer(rng, n) for n in range(1, 201)]
    bad_orders = customer(rng, 201) | {"近12个月订单数": "abc"}
    bad_date = customer(rng, 202) | {"last_order_date": "2026-13-45"}
    write(out / "customer_value.csv", rows + [bad_orders, bad_date], "utf-8")
    write(out / "customer_value_gbk.csv", [customer(rng, n) for n in range(301, 351)], "gbk")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
