"""The Python API as another app uses it: compile, evaluate, batches and rejects, artifacts."""
import datetime as dt
import json

import pytest

import engine
from engine.decision import Decision
from conftest import AS_OF, ROOT

POLICY = ROOT / "policies" / "customer_value.rules"
GOOD = {"customer_id": "c1", "name": "王先生", "annual_spend": 150000, "orders_12m": 20,
        "last_order_date": "2026-11-01", "customer_type": "b2b", "industry": "retail_food", "region": "north"}


@pytest.fixture(scope="module")
def policy():
    return engine.load_policy(POLICY)


def test_decision_carries_everything(policy):
    d = policy.evaluate(GOOD, as_of=AS_OF)
    assert isinstance(d, engine.Decision)
    assert d.key == "c1" and d.row is None
    assert d.segments == {"value_tier": "A", "lifecycle": "loyal", "flags": ["regional_promo"]}
    assert d.labels == {"value_tier": "重要客户", "lifecycle": "忠诚客户", "flags": [None]}
    assert d.outputs == {"discount": 0.1, "service_level": "premium", "contact_every": 30}
    assert d.rules_fired == ["value_tier.A", "lifecycle.loyal", "flags.regional_promo", "pricing.1", "service.2",
                             "by_lifecycle.loyal"]
    assert (d.policy, d.version, d.as_of, d.errors) == ("customer_value", "2026.11.1", AS_OF, [])
    assert d.content_hash == policy.content_hash and len(d.content_hash) == 16
    assert json.loads(json.dumps(d.to_dict()))["as_of"] == "2026-11-22"


def test_fast_decision_equals_a_validated_one(policy):
    d = policy.evaluate(GOOD, as_of=AS_OF)
    validated = Decision.model_validate(d.to_dict())
    assert validated == d and validated.to_dict() == d.to_dict()
    assert d.model_dump() == Decision.model_construct(**d.model_dump()).model_dump()


def test_records_are_coerced_from_text(policy):
    text = {k: str(v) for k, v in GOOD.items()} | {"is_vip": "是", "avg_order_value": ""}
    assert policy.evaluate(text, as_of=AS_OF).to_dict() == policy.evaluate(GOOD, as_of=AS_OF).to_dict()
    typed = GOOD | {"last_order_date": dt.date(2026, 11, 1), "annual_spend": 150000.0}
    assert policy.evaluate(typed, as_of=AS_OF).segments["value_tier"] == "A"
    assert policy.evaluate(GOOD | {"annual_spend": "15万"}, as_of=AS_OF).segments["value_tier"] == "A"
    assert policy.evaluate(GOOD | {"last_order_date": "2026/11/01"}, as_of=AS_OF).segments["lifecycle"] == "loyal"


@pytest.mark.parametrize("change,field,words", [
    ({"orders_12m": "abc"}, "orders_12m", "'abc' is not a whole number"),
    ({"orders_12m": 2.5}, "orders_12m", "not a whole number"),
    ({"last_order_date": "2026-13-45"}, "last_order_date", "not a date"),
    ({"customer_type": "vip"}, "customer_type", "one of consumer, b2b, channel, internal"),
    ({"annual_spend": None}, "annual_spend", "required field is missing"),
    ({"is_vip": "maybe"}, "is_vip", "true or false"),
    ({"annual_spend": float("nan")}, "annual_spend", "not a number"),
    ({"annual_spend": "1e400"}, "annual_spend", "not a number"),
    ({"orders_12m": 10 ** 30}, "orders_12m", "too large for a whole number"),
    ({"orders_12m": "9" * 60}, "orders_12m", "'999999999999999999999999999999999999… is too large"),
])
def test_bad_records_raise_record_error(policy, change, field, words):
    with pytest.raises(engine.RecordError) as err:
        policy.evaluate(GOOD | change, as_of=AS_OF)
    assert err.value.field == field and words in str(err.value)


def test_missing_field_takes_default_extra_fields_ignored(policy):
    d = policy.evaluate(GOOD | {"unrelated": object()}, as_of=AS_OF)
    assert d.segments["flags"] == ["regional_promo"]  # is_vip defaulted to false


def test_evaluate_many_never_raises_and_loses_nothing(policy):
    records = [GOOD, GOOD | {"orders_12m": "x"}, "not a record", GOOD | {"customer_id": "c2", "orders_12m": 0}]
    results = list(policy.evaluate_many(records, as_of=AS_OF))
    assert [r.ok for r in results] == [True, False, False, True]
    assert [r.row for r in results] == [0, 1, 2, 3]
    reject = results[1]
    assert isinstance(reject, engine.Reject) and reject.key == "c1" and reject.field == "orders_12m"
    assert results[2].reason.startswith("a record must be an object")
    assert results[3].segments["value_tier"] == "B"  # big spend, but no orders in 12 months


def test_key_is_row_without_a_key_field():
    p = engine.compile_policy('policy p version "1"\ninput c { x : int }\nsegment s { a : x > 1 }\n')
    rows = list(p.evaluate_many([{"x": 1}, {"x": 5}], as_of=AS_OF))
    assert [(r.key, r.row) for r in rows] == [(0, 0), (1, 1)]


def test_save_and_load_compiled(policy, tmp_path):
    path = tmp_path / "cv.rulesc"
    policy.save(path)
    loaded = engine.load_compiled(path)
    assert loaded.evaluate(GOOD, as_of=AS_OF).to_dict() == policy.evaluate(GOOD, as_of=AS_OF).to_dict()
    assert loaded.with_backend("interp").evaluate(GOOD, as_of=AS_OF) == policy.evaluate(GOOD, as_of=AS_OF)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == "customer-rules/compiled-policy" and doc["engine_version"] == engine.ENGINE_VERSION


@pytest.mark.parametrize("damage,words", [
    (lambda d: d | {"format_version": 2}, "reads format 1"),
    (lambda d: d | {"format": "something"}, "not a compiled policy"),
    (lambda d: d | {"plan": {"$": "Nope"}}, "damaged"),
])
def test_incompatible_artifacts_are_refused(policy, tmp_path, damage, words):
    path = tmp_path / "a.rulesc"
    policy.save(path)
    path.write_text(json.dumps(damage(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
    with pytest.raises(engine.ArtifactError, match=words):
        engine.load_compiled(path)


def test_policy_error_carries_diagnostics():
    with pytest.raises(engine.PolicyError) as err:
        engine.compile_policy('policy p version "1"\ninput c { x : int }\nlet a = y + z\n', name="p.rules")
    assert [d.code for d in err.value.diagnostics] == ["E101", "E101"]
    assert "p.rules:3:9" in str(err.value) and "p.rules:3:13" in str(err.value)


def test_policy_files_saved_as_gbk_are_read(tmp_path):
    path = tmp_path / "gbk.rules"
    path.write_bytes('policy 中文 version "1"\ninput 客户 { 金额 : number }\nsegment 等级 { 高 : 金额 > 1万 }\n'
                     .encode("gbk"))
    assert engine.load_policy(path).evaluate({"金额": 20000}, as_of=AS_OF).segments == {"等级": "高"}


def test_generated_code_cannot_be_injected():
    nasty = 'policy p version "1"\ninput c { x : string }\nsegment s { a "__import__(\'os\')" : x = "\\"); import os; (\\"" }\n'
    p = engine.compile_policy(nasty)
    assert p.evaluate({"x": '"); import os; ("'}, as_of=AS_OF).labels["s"] == "__import__('os')"
    assert "import os" not in p._exe.source.replace("'\"); import os; (\"'", "")


def test_public_api_is_complete():
    assert all(hasattr(engine, name) for name in engine.__all__)


def test_windows_line_endings(tmp_path):
    text = (ROOT / "policies" / "customer_value.rules").read_text(encoding="utf-8").replace("\n", "\r\n")
    assert engine.compile_policy(text).evaluate(GOOD, as_of=AS_OF).segments["value_tier"] == "A"
    with pytest.raises(engine.PolicyError) as err:
        engine.compile_policy(text.replace("orders_12m >= 1\r\n", "order_12m >= 1\r\n"), "crlf.rules")
    assert "\r" not in err.value.render() and "did you mean `orders_12m`?" in err.value.render()
