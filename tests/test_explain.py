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
    assert "▶ true      line 24" in out.stdout and "  discount = 0.15   (combine sum of 0.1, 0.05, clamp 0 .. 0.15)" in out.stdout
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


def test_each_part_of_a_condition_with_its_values():
    policy = engine.load_policy(POLICY)
    view = engine.explain(policy, RECORD | {"annual_spend": 85000, "orders_12m": 3}, as_of=AS_OF)
    tier = view["segments"][0]
    assert tier["rules"][0]["parts"] == [
        {"text": "annual_spend (85,000) >= 10万", "holds": "false"},
        {"text": "orders_12m >= 12", "holds": "not evaluated"}]
    assert tier["why"] == "value_tier.B (line 25) is the first rule that holds"
    text = engine.render_explanation(view)
    assert "        annual_spend (85,000) >= 10万 → false" in text
    assert "        orders_12m (3) >= 1 → true" in text
    assert "because lifecycle.at_risk (line 32) is the first rule that holds" in text
    assert "        lifecycle (at_risk) is loyal → false" in text  # a `strategy by` row


def test_table_cells_name_their_column():
    policy = engine.load_policy(ROOT / "policies" / "buying_behavior.rules")
    view = engine.explain(policy, {"customer_id": "b1", "involvement": "high", "brand_difference": "minor"},
                          as_of=AS_OF)
    rules = view["segments"][0]["rules"]
    assert rules[1]["parts"] == [{"text": "involvement (high) = high", "holds": "true"},
                                 {"text": "brand_difference (minor) = minor", "holds": "true"}]
    assert rules[2]["parts"][1] == {"text": "brand_difference = significant", "holds": "not evaluated"}
    assert view["segments"][0]["why"].endswith("is the only rule that holds")


def test_how_outputs_combine():
    policy = engine.load_policy(POLICY)
    outputs = {o["output"]: o for o in engine.explain(policy, RECORD, as_of=AS_OF)["outputs"]}
    assert [s["rule"] for s in outputs["discount"]["set_by"]] == ["pricing.1", "pricing.3"]
    assert outputs["discount"]["how"] == "combine sum of 0.1, 0.05, clamp 0 .. 0.15"
    assert outputs["discount"]["value"] == 0.15


PII_POLICY = """policy p version "1"
input c {
  id     : string key pii
  name   : string pii
  spend  : number
}
let greeting = name + ""
segment s { vip : name starts_with "王" and spend > 100  other : otherwise }
"""


def test_pii_is_masked_unless_asked(tmp_path):
    path = tmp_path / "p.rules"
    path.write_text(PII_POLICY.replace('let greeting = name + ""\n', ""), encoding="utf-8")
    record = {"id": "ID-PLANTED-42", "name": "王秘密", "spend": 500}
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    for args in (["--record", json.dumps(record, ensure_ascii=False)], ["--data", data, "--key", "ID-PLANTED-42"]):
        for fmt in ("text", "json"):
            out = rules("explain", path, *args, "--format", fmt, "--as-of", "2026-11-22")
            assert out.returncode == 0, out.stderr
            assert "王秘密" not in out.stdout and "ID-PLANTED-42" not in out.stdout
            assert "***" in out.stdout
        shown = rules("explain", path, *args, "--show-pii", "--as-of", "2026-11-22")
        assert "name (王秘密) starts_with" in shown.stdout and "ID-PLANTED-42" in shown.stdout


def test_explain_from_a_data_file():
    data = ROOT / "examples" / "customer_value.csv"
    out = rules("explain", POLICY, "--data", data, "--key", "C00003", "--as-of", "2026-11-22", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["key"] == "C00003"
    missing = rules("explain", POLICY, "--data", data, "--key", "NOPE")
    assert missing.returncode == 2 and "no record with customer_id = NOPE" in missing.stderr
    both = rules("explain", POLICY)
    assert both.returncode == 2 and "--record JSON or with --data FILE --key ID" in both.stderr


def test_outputs_computed_from_personal_data_are_masked():
    policy = engine.compile_policy(PII_POLICY.replace('let greeting = name + ""\n', "")
                                   + 'output salute : string?\nstrategy t { when spend > 100 then salute = name }\n')
    record = {"id": "k1", "name": "王秘密", "spend": 500}
    view = engine.explain(policy, record, as_of=AS_OF)
    text = json.dumps(view, ensure_ascii=False) + engine.render_explanation(view)
    assert "王秘密" not in text and "k1" not in text
    assert view["outputs"][0]["value"] == "***" and view["decision"]["outputs"] == {"salute": "***"}
    shown = engine.explain(policy, record, as_of=AS_OF, show_pii=True)
    assert shown["outputs"][0]["value"] == "王秘密"
