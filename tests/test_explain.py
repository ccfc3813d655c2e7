"""`rules explain`: every rule of every segment with whether it held and what it read."""
import json

import pytest

import engine
from conftest import AS_OF, ROOT
from test_cli import rules

POLICY = ROOT / "policies" / "customer_value.rules"
RECORD = {"customer_id": "c1", "name": "王", "annual_spend": 150000, "orders_12m": 20,
          "last_order_date": "2026-05-01", "customer_type": "b2b", "industry": "retail_food", "region": "north"}


def test_explanation_follows_the_decision():
    policy = engine.load_policy(POLICY)
    view = engine.explain(policy, RECORD, as_of=AS_OF)
    assert view["decision"] == policy.evaluate(RECORD, as_of=AS_OF).to_dict()
    tier = view["segments"][0]
    assert (tier["segment"], tier["member"], tier["member_label"]) == ("value_tier", "A", "重要客户")
    assert [(r["rule"], r["holds"], r["chosen"]) for r in tier["rules"]] == [
        ("value_tier.A", "true", True), ("value_tier.B", "true", False), ("value_tier.C", "true", False),
        ("value_tier.D", "otherwise", False)]
    assert tier["rules"][0]["reads"] == {"annual_spend": 150000.0, "orders_12m": 20}
    assert tier["rules"][0]["text"] == 'A "重要客户" : annual_spend >= 10万 and orders_12m >= 12'
    fired = [r for r in view["strategy_rules"] if r["chosen"]]
    assert [r["rule"] for r in fired] == ["pricing.1", "pricing.3", "service.2", "by_lifecycle.at_risk"]
    assert fired[1]["sets"] == {"discount": 0.05} and "#" not in fired[1]["text"]
    assert view["lets"] == {"recency_days": 205, "aov": 7500.0}


def test_unknown_conditions_are_shown_as_unknown():
    policy = engine.compile_policy('policy p version "1"\ninput c { x : int? }\nsegment s { big : x > 10  small : otherwise }\n')
    view = engine.explain(policy, {}, as_of=AS_OF)
    assert view["segments"][0]["rules"][0]["holds"] == "unknown"
    assert "? unknown" in engine.render_explanation(view)


def test_cli_text_json_and_rejects():
    out = rules("explain", POLICY, "--record", json.dumps(RECORD, ensure_ascii=False), "--as-of", "2026-11-22")
    assert out.returncode == 0, out.stderr
    assert "value_tier 价值等级 = A 重要客户" in out.stdout
    assert "▶ true      line 24" in out.stdout and "outputs: discount = 0.15" in out.stdout
    js = rules("explain", POLICY, "--record", json.dumps(RECORD), "--as-of", "2026-11-22", "--format", "json")
    assert json.loads(js.stdout)["segments"][1]["member"] == "at_risk"
    bad = rules("explain", POLICY, "--record", json.dumps(RECORD | {"orders_12m": "abc"}))
    assert bad.returncode == 1 and "rejected: orders_12m" in bad.stderr


@pytest.mark.parametrize("name", ["rfm"])
def test_population_policies_explain_with_stats(name):
    policy = engine.load_policy(ROOT / "policies" / f"{name}.rules").with_stats(ROOT / "policies" / f"{name}.stats.json")
    view = engine.explain(policy, {"customer_id": "x", "last_purchase": "1998-06-01", "n_orders": 5,
                                   "monetary_total": 500}, as_of="1998-06-30")
    assert view["segments"][0]["member"] == "champions" and view["lets"]["r"] == 5
