"""The decision service (`rules serve`, engine/service/): the HTTP API in process with Starlette's
TestClient — decisions equal the engine's on every shipped case, hot reload, the decision log and
its rotation, auth on every endpoint, metrics, the OpenAPI document under schemathesis — and one
end-to-end run of the real `rules serve` command."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from starlette.testclient import TestClient

import engine
from engine import service
from engine.testing import read_cases

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
CUSTOMER_VALUE = POLICIES / "customer_value.rules"
TOKEN = "s3cret-Token_for.tests~1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AS_OF = "2026-11-22"
RECORD = {"customer_id": "c1", "name": "王PLANTED先生", "annual_spend": 150000, "orders_12m": 20,
          "last_order_date": "2026-11-01", "customer_type": "b2b", "industry": "retail_food", "region": "north"}
EVALUATE = "/v1/policies/customer_value/evaluate"


def wait_until(predicate, what: str, timeout: float = 20.0):
    """Poll until predicate() gives something true (bounded), and return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.02)


def save(path: Path, text: str) -> None:
    """Replace a file the way editors do, by renaming a complete new file over it, so the watcher
    never reads it half-written."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@pytest.fixture(scope="module")
def client():
    """The shipped policies, no token."""
    with TestClient(service.create_app(POLICIES, notify=lambda message: None)) as c:
        yield c


@pytest.fixture(scope="module")
def secured():
    """The shipped policies behind a bearer token."""
    with TestClient(service.create_app(POLICIES, token=TOKEN, notify=lambda message: None)) as c:
        yield c


def copy_policies(target: Path, *names: str) -> Path:
    for name in names:
        shutil.copy(POLICIES / name, target / name)
    return target


# ---- decisions equal the engine's ------------------------------------------------------------------

def _jsonable(value):
    """A case record as it travels over HTTP: YAML dates become ISO text."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def shipped_cases() -> dict[str, list[tuple[dict, str]]]:
    """policy name -> [(record, as_of)] for every case of the shipped *.cases.yaml."""
    out: dict[str, list] = {}
    for path in sorted(POLICIES.glob("*.cases.yaml")):
        doc = read_cases(path)
        policy = (POLICIES / doc["policy"]).stem
        for case in doc["cases"]:
            as_of = case.get("as_of", doc.get("as_of"))
            out.setdefault(policy, []).append((_jsonable(case.get("record") or {}), str(as_of)))
    return out


CASES = shipped_cases()


@functools.lru_cache(maxsize=None)
def engine_policy(name: str) -> engine.Policy:
    policy = engine.load_policy(POLICIES / f"{name}.rules")
    stats = POLICIES / f"{name}.stats.json"
    return policy.with_stats(stats) if stats.exists() else policy


def test_every_shipped_policy_has_cases_and_serves(client):
    listed = client.get("/v1/policies").json()
    assert [p["name"] for p in listed] == sorted(p.stem for p in POLICIES.glob("*.rules"))
    assert set(CASES) == {p["name"] for p in listed}
    for info in listed:
        assert info["status"] == "ok" and info["problem"] is None, info
        assert info["hash"] == engine_policy(info["name"]).content_hash
        assert info["version"] == engine_policy(info["name"]).version
    assert next(p for p in listed if p["name"] == "rfm")["stats"].endswith("rfm.stats.json")


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluate_equals_the_engine_on_every_case(client, name):
    policy = engine_policy(name)
    decided = rejected = 0
    for record, as_of in CASES[name]:
        response = client.post(f"/v1/policies/{name}/evaluate", params={"as_of": as_of}, json=record)
        try:
            expected = policy.evaluate(record, as_of=as_of)
        except engine.RecordError:
            [reject] = policy.evaluate_many([record], as_of=as_of)
            assert response.status_code == 422, response.text
            body = response.json()
            assert (body["error"], body["field"], body["reason"]) == ("rejected", reject.field, reject.reason)
            assert reject.reason in body["message"]
            rejected += 1
            continue
        assert response.status_code == 200, response.text
        assert response.json() == expected.to_dict()
        decided += 1
    assert decided + rejected == len(CASES[name]) and decided > 0


@pytest.mark.parametrize("name", ["customer_value", "rfm", "bank_customers"])
def test_a_list_gives_one_entry_per_record_in_place(client, name):
    by_date: dict[str, list[dict]] = {}
    for record, as_of in CASES[name]:
        by_date.setdefault(as_of, []).append(record)
    as_of, records = max(by_date.items(), key=lambda item: len(item[1]))
    records = [*records, 42, {"customer_id": "only-a-key"}]  # not an object; nearly empty
    response = client.post(f"/v1/policies/{name}/evaluate", params={"as_of": as_of}, json=records)
    assert response.status_code == 200, response.text
    entries = response.json()
    assert len(entries) == len(records)  # rows in = decided + rejected
    for row, (entry, expected) in enumerate(zip(entries, engine_policy(name).evaluate_many(records, as_of=as_of))):
        assert entry["row"] == row
        if expected.ok:
            assert entry == {**expected.to_dict(), "ok": True}
        else:
            assert entry == {"ok": False, "row": row, "key": expected.key, "field": expected.field,
                             "reason": expected.reason}
    assert entries[-2]["ok"] is False and "must be an object" in entries[-2]["reason"]
    assert client.post(f"/v1/policies/{name}/evaluate", json=[]).json() == []


def test_one_bad_record_is_422_naming_every_bad_field(client):
    bad = {**RECORD, "orders_12m": "abc", "last_order_date": "2026-13-45"}
    response = client.post(EVALUATE, json=bad)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "rejected" and body["field"] == "orders_12m"
    assert "orders_12m: 'abc' is not a whole number" in body["reason"] and "last_order_date" in body["reason"]
    assert "does not fit the input of policy customer_value" in body["message"]
    pii = client.post(EVALUATE, json={**RECORD, "name": ["王PLANTED"]})
    assert pii.status_code == 422 and pii.json()["field"] == "name" and "PLANTED" not in pii.text


def test_as_of_comes_from_the_request_then_the_service_then_today(tmp_path):
    copy_policies(tmp_path, "customer_value.rules")
    with TestClient(service.create_app(tmp_path, as_of="2026-01-31")) as c:
        assert c.post(EVALUATE, json=RECORD).json()["as_of"] == "2026-01-31"
        assert c.post(EVALUATE, params={"as_of": AS_OF}, json=RECORD).json()["as_of"] == AS_OF
    with TestClient(service.create_app(tmp_path)) as c:
        assert c.post(EVALUATE, json=RECORD).json()["as_of"] == dt.date.today().isoformat()


# ---- requests the service refuses ----------------------------------------------------------------

@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"", 400, "the request body is empty"),
    (b'{"annual_spend": NaN}', 400, "NaN, which is not a JSON number"),
    (b'[Infinity]', 400, "Infinity, which is not a JSON number"),
    (b'"a string"', 400, "the body is a JSON string: send one record as a JSON object"),
    (b"\xff\xfe{}", 400, "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
])
def test_bad_bodies_are_400_with_a_message(client, body, status, words):
    response = client.post(EVALUATE, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"] == "bad_json" or body == b'"a string"'
    assert words in response.json()["message"], response.json()


@pytest.mark.parametrize("as_of", ["22/11/2026", "2026-11-31", "20261122", "yesterday"])
def test_a_bad_as_of_is_400(client, as_of):
    response = client.post(EVALUATE, params={"as_of": as_of}, json=RECORD)
    assert response.status_code == 400 and "write it as YYYY-MM-DD" in response.json()["message"]


def test_an_unknown_policy_is_404_listing_the_known_ones(client):
    for response in (client.post("/v1/policies/customer_valeu/evaluate", json=RECORD),
                     client.post("/v1/policies/customer_valeu/explain", json=RECORD),
                     client.get("/v1/policies/customer_valeu")):
        assert response.status_code == 404
        body = response.json()
        assert body["error"] == "unknown_policy" and "customer_value" in body["known"] and "rfm" in body["known"]
        assert "did you mean `customer_value`?" in body["message"]


def test_unknown_routes_and_methods_answer_in_json(client):
    missing = client.get("/v2/nothing")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = client.get(EVALUATE)
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"


def test_a_body_over_the_limit_is_413(tmp_path):
    copy_policies(tmp_path, "customer_value.rules")
    with TestClient(service.create_app(tmp_path, max_body_bytes=2_000)) as c:
        assert c.post(EVALUATE, json=[RECORD] * 5).status_code == 200
        response = c.post(EVALUATE, json=[RECORD] * 50)
        assert response.status_code == 413 and "larger than 2,000 bytes" in response.json()["message"]

        def chunks():  # no Content-Length: counted as it streams in
            for _ in range(50):
                yield json.dumps(RECORD).encode()
        streamed = c.post(EVALUATE, content=chunks())
        assert streamed.status_code == 413


def test_an_internal_error_is_a_json_500_and_a_traceback_on_stderr(tmp_path, monkeypatch, capsys):
    copy_policies(tmp_path, "customer_value.rules")

    def broken(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(service.api, "explain_record", broken)
    with TestClient(service.create_app(tmp_path)) as c:
        response = c.post("/v1/policies/customer_value/explain", json=RECORD)
        assert response.status_code == 500
        body = response.json()
        assert body["error"] == "internal" and "Traceback" not in response.text and "planted" not in response.text
        ref = re.search(r"reference ([0-9a-f]{12})", body["message"]).group(1)
        metrics = c.get("/metrics").text
    err = capsys.readouterr().err
    assert f"internal error {ref}" in err and "Traceback" in err and "RuntimeError: planted failure" in err
    assert 'rules_requests_total{method="POST",path="/v1/policies/{name}/explain",status="500"} 1' in metrics


def test_a_caller_that_hangs_up_mid_body_is_no_error(tmp_path, capsys):
    copy_policies(tmp_path, "customer_value.rules")
    app = service.create_app(tmp_path)
    incoming = [{"type": "http.request", "body": b'[{"customer_id": ', "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": EVALUATE, "raw_path": EVALUATE.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8080)}
    asyncio.run(app(scope, receive, send))
    assert sent == []  # nobody left to answer
    assert 'status="499"} 1' in app.state.metrics.render({})
    assert "Traceback" not in capsys.readouterr().err


# ---- explain ---------------------------------------------------------------------------------------

def test_explain_equals_the_engine_and_masks_personal_data(client):
    response = client.post("/v1/policies/customer_value/explain", params={"as_of": AS_OF}, json=RECORD)
    assert response.status_code == 200
    assert response.json() == engine.explain(engine_policy("customer_value"), RECORD, as_of=AS_OF)
    assert "PLANTED" not in response.text
    assert response.json()["segments"][0]["member"] == "A"
    rejected = client.post("/v1/policies/customer_value/explain", json={**RECORD, "orders_12m": "x"})
    assert rejected.status_code == 422 and rejected.json()["field"] == "orders_12m"
    listed = client.post("/v1/policies/customer_value/explain", json=[RECORD])
    assert listed.status_code == 400 and "one record as a JSON object" in listed.json()["message"]


PRIVATE = """policy private version "1"
input c {
  id    : string key pii
  name  : string pii
  spend : number
}
let salutation = name
segment tier {
  big   : spend >= 1000
  small : otherwise
}
output greet : string = ""
output discount : number = 0
strategy s { when tier is big then greet = salutation, discount = 5% }
"""


def test_show_pii_needs_a_token_configured_and_given(tmp_path):
    (tmp_path / "private.rules").write_text(PRIVATE, encoding="utf-8")
    planted = {"id": "ID-PLANTED-7", "name": "NAME-PLANTED-8", "spend": 5000}
    path = "/v1/policies/private/explain"
    with TestClient(service.create_app(tmp_path)) as open_service:
        refused = open_service.post(path, params={"show_pii": "true"}, json=planted)
        assert refused.status_code == 403 and "--token-file" in refused.json()["message"]
        assert "PLANTED" not in refused.text
        odd = open_service.post(path, params={"show_pii": "yes"}, json=planted)
        assert odd.status_code == 400 and "show_pii=true or show_pii=false" in odd.json()["message"]
    with TestClient(service.create_app(tmp_path, token=TOKEN)) as c:
        assert c.post(path, params={"show_pii": "true"}, json=planted).status_code == 401
        shown = c.post(path, params={"show_pii": "true"}, json=planted, headers=AUTH)
        assert shown.status_code == 200
        assert shown.json()["key"] == planted["id"] and shown.json()["lets"]["salutation"] == planted["name"]
        assert shown.json()["decision"]["outputs"]["greet"] == planted["name"]
        hidden = c.post(path, params={"show_pii": "false"}, json=planted, headers=AUTH)
        assert hidden.status_code == 200 and "PLANTED" not in hidden.text


def test_outputs_computed_from_pii_are_masked_in_explain_and_the_log(tmp_path):
    (tmp_path / "private.rules").write_text(PRIVATE, encoding="utf-8")
    log = tmp_path / "decisions.jsonl"
    planted = {"id": "ID-PLANTED-7", "name": "NAME-PLANTED-8", "spend": 5000}
    with TestClient(service.create_app(tmp_path, log_path=log)) as c:
        decided = c.post("/v1/policies/private/evaluate", json=planted)
        assert decided.status_code == 200  # the caller's own decision carries what the policy computed
        assert decided.json()["outputs"]["greet"] == planted["name"]
        c.post("/v1/policies/private/evaluate", json=[planted, {"id": "ID-PLANTED-9", "spend": "x"}])
        explained = c.post("/v1/policies/private/explain", json=planted)
        assert explained.status_code == 200 and "PLANTED" not in explained.text
        assert explained.json()["decision"]["outputs"] == {"greet": "***", "discount": 0.05}
        assert explained.json()["key"] == "***"
        listed = c.post("/v1/policies/private/evaluate", json=[{"id": "ID-PLANTED-9", "spend": "x"}]).json()
        assert listed[0]["key"] == "***" and "PLANTED" not in json.dumps(listed)
    text = log.read_text(encoding="utf-8")
    assert "PLANTED" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 2
    assert all(line["key"] == "***" and line["outputs"] == {"greet": "***", "discount": 0.05} for line in lines)


# ---- describing the policies ---------------------------------------------------------------------

def test_list_describes_inputs_segments_and_outputs(client):
    info = next(p for p in client.get("/v1/policies").json() if p["name"] == "customer_value")
    plan = engine_policy("customer_value").plan
    assert info["policy"] == "customer_value" and info["label"] == plan.label and info["key"] == "customer_id"
    fields = {f["name"]: f for f in info["inputs"]}
    assert list(fields) == [f.name for f in plan.fields]
    assert fields["name"]["pii"] is True and fields["customer_id"]["pii"] is False
    assert fields["avg_order_value"]["optional"] is True and fields["annual_spend"]["optional"] is False
    assert fields["orders_12m"]["column"] == "近12个月订单数" and fields["is_vip"]["default"] is False
    assert fields["customer_type"]["type"] == "enum(consumer, b2b, channel, internal)"
    assert fields["customer_type"]["members"] == ["consumer", "b2b", "channel", "internal"]
    segments = {s["name"]: s for s in info["segments"]}
    assert segments["value_tier"]["members"] == ["A", "B", "C", "D"]
    assert segments["value_tier"]["member_labels"]["A"] == "重要客户" and segments["flags"]["hit"] == "all"
    assert [(o["name"], o["type"]) for o in info["outputs"]] == [
        ("discount", "number"), ("service_level", "enum(premium, standard, basic, self_service, internal)"),
        ("contact_every", "int")]


def test_one_policy_carries_the_diagnostics_rules_check_gives(client):
    detail = client.get("/v1/policies/customer_value").json()
    source, found = engine.check_file(CUSTOMER_VALUE)
    assert detail["diagnostics"] == [engine.diagnostic_json(d, source) for d in found]
    assert [d["code"] for d in detail["diagnostics"]] == ["W401"]
    listed = next(p for p in client.get("/v1/policies").json() if p["name"] == "customer_value")
    assert {k: v for k, v in detail.items() if k != "diagnostics"} == listed


# ---- hot reload --------------------------------------------------------------------------------

def _version(c: TestClient, name: str = "customer_value") -> dict:
    return c.get(f"/v1/policies/{name}").json()


def test_hot_reload_swaps_good_edits_and_keeps_serving_through_bad_ones(tmp_path):
    copy_policies(tmp_path, "customer_value.rules")
    path = tmp_path / "customer_value.rules"
    original = path.read_text(encoding="utf-8")
    messages: list[str] = []
    app = service.create_app(tmp_path, poll_seconds=0.05, notify=messages.append)
    with TestClient(app) as c:
        first = _version(c)
        held = app.state.store.entries["customer_value"].serving  # what an in-flight request holds
        assert first["status"] == "ok" and first["version"] == "2026.11.1"

        # a good edit: tier A from 10万 down to 5万, a new version
        edited = original.replace('version "2026.11.1"', 'version "2026.12.0"').replace(
            "annual_spend >= 10万 and", "annual_spend >= 5万 and")
        save(path, edited)
        second = wait_until(lambda: (v := _version(c))["version"] == "2026.12.0" and v, "the edit to be swapped in")
        assert second["status"] == "ok" and second["hash"] != first["hash"]
        assert second["hash"] == engine.compile_policy(edited).content_hash
        mid = {**RECORD, "annual_spend": 60000}
        decided = c.post(EVALUATE, params={"as_of": AS_OF}, json=mid).json()
        assert decided["segments"]["value_tier"] == "A" and decided["content_hash"] == second["hash"]
        assert held.policy.evaluate(mid, AS_OF).segments["value_tier"] == "B"  # the old object is untouched
        assert held.policy.content_hash == first["hash"]

        # a broken edit: the last good version keeps serving; the diagnostics show why
        save(path, edited.replace("orders_12m >= 1\n", "order_12m >= 1\n"))
        broken = wait_until(lambda: (v := _version(c))["status"] == "error" and v, "the broken edit to be seen")
        assert broken["version"] == "2026.12.0" and broken["hash"] == second["hash"]
        e101 = next(d for d in broken["diagnostics"] if d["code"] == "E101")
        assert (e101["line"], e101["column"], e101["message"]) == (26, 15, "unknown name `order_12m`")
        assert e101["help"] == "did you mean `orders_12m`?"
        assert "1 error(s)" in broken["problem"] and "line 26" in broken["problem"]
        still = c.post(EVALUATE, params={"as_of": AS_OF}, json=mid)
        assert still.status_code == 200 and still.json()["content_hash"] == second["hash"]
        listed = c.get("/v1/policies").json()
        assert [(p["name"], p["status"]) for p in listed] == [("customer_value", "error")]

        # fixed again
        save(path, original)
        fixed = wait_until(lambda: (v := _version(c))["status"] == "ok" and v["hash"] == first["hash"] and v,
                           "the fix to be swapped in")
        assert fixed["diagnostics"] == first["diagnostics"] and fixed["problem"] is None

        # a new file appears; a deleted one disappears
        shutil.copy(POLICIES / "deal_stage.rules", tmp_path / "deal_stage.rules")
        wait_until(lambda: "deal_stage" in [p["name"] for p in c.get("/v1/policies").json()], "the new file")
        case_record, as_of = CASES["deal_stage"][0]
        assert c.post("/v1/policies/deal_stage/evaluate", params={"as_of": as_of}, json=case_record).json() \
            == engine_policy("deal_stage").evaluate(case_record, as_of).to_dict()
        (tmp_path / "deal_stage.rules").unlink()
        wait_until(lambda: c.get("/v1/policies/deal_stage").status_code == 404, "the deleted file to go")
        assert c.post("/v1/policies/deal_stage/evaluate", json=case_record).status_code == 404

        # a new file that never checked clean is unavailable
        draft_text = 'policy draft version "1"\ninput c { x : int }\nsegment s { a : y > 1 }\n'
        save(tmp_path / "draft.rules", draft_text)
        draft = wait_until(lambda: (r := c.get("/v1/policies/draft")).status_code == 200 and r.json(), "the draft")
        assert draft["status"] == "unavailable" and draft["version"] is None and draft["inputs"] == []
        refused = c.post("/v1/policies/draft/evaluate", json={"x": 1})
        assert refused.status_code == 503 and "GET /v1/policies/draft" in refused.json()["message"]
        metrics = c.get("/metrics").text
    assert 'rules_reloads_total{policy="customer_value",result="ok"} 2' in metrics
    assert 'rules_reloads_total{policy="customer_value",result="error"} 1' in metrics
    assert 'rules_policy_info{policy="draft",version="",content_hash="",status="unavailable"} 1' in metrics
    said = "\n".join(messages)
    assert "now serving customer_value 2026.12.0" in said and "still serving 2026.12.0" in said
    assert "deal_stage.rules was removed" in said and "not serving draft" in said


def test_a_touch_or_an_undone_edit_does_not_swap_the_policy(tmp_path):
    copy_policies(tmp_path, "customer_value.rules")
    app = service.create_app(tmp_path, poll_seconds=0.05)
    store = app.state.store
    before = store.entries["customer_value"]
    os.utime(tmp_path / "customer_value.rules", ns=(time.time_ns(), time.time_ns() + 10**9))
    assert store.scan() is False
    after = store.entries["customer_value"]
    assert after.serving is before.serving and after.stamp != before.stamp
    path = tmp_path / "customer_value.rules"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("orders_12m >= 1\n", "order_12m >= 1\n"), encoding="utf-8")
    assert store.scan() is True and store.entries["customer_value"].status == "error"
    path.write_text(text, encoding="utf-8")  # the broken edit undone: the same text as the version serving
    assert store.scan() is True
    undone = store.entries["customer_value"]
    assert undone.status == "ok" and undone.serving is before.serving


def test_requests_during_swaps_each_see_one_whole_version(tmp_path):
    copy_policies(tmp_path, "customer_value.rules")
    path = tmp_path / "customer_value.rules"
    versions = [path.read_text(encoding="utf-8")]
    versions.append(versions[0].replace('version "2026.11.1"', 'version "2026.11.2"').replace(
        "annual_spend >= 10万 and", "annual_spend >= 5万 and"))
    pairs = {("2026.11.1", engine.compile_policy(versions[0]).content_hash, "B"),
             ("2026.11.2", engine.compile_policy(versions[1]).content_hash, "A")}
    mid = {**RECORD, "annual_spend": 60000}
    seen, failures = set(), []
    with TestClient(service.create_app(tmp_path, poll_seconds=0.02)) as c:
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                r = c.post(EVALUATE, params={"as_of": AS_OF}, json=mid)
                if r.status_code != 200:
                    failures.append(r.text)
                    return
                d = r.json()
                seen.add((d["version"], d["content_hash"], d["segments"]["value_tier"]))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for i in range(1, 7):
                save(path, versions[i % 2])
                want = "2026.11.2" if i % 2 else "2026.11.1"
                wait_until(lambda: _version(c)["version"] == want, f"swap {i}")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
    assert not failures
    assert seen == pairs  # both versions served, and never a version's hash with the other's rules


def test_a_ranking_policy_needs_its_stats_file(tmp_path):
    copy_policies(tmp_path, "rfm.rules")
    app = service.create_app(tmp_path, poll_seconds=0.05, notify=lambda message: None)
    record, as_of = CASES["rfm"][0]
    with TestClient(app) as c:
        info = _version(c, "rfm")
        assert info["status"] == "unavailable"
        assert "rules fit" in info["problem"] and "rfm.stats.json" in info["problem"]
        refused = c.post("/v1/policies/rfm/evaluate", json=record)
        assert refused.status_code == 503 and "rules fit" in refused.json()["message"]
        shutil.copy(POLICIES / "rfm.stats.json", tmp_path / "rfm.stats.json")
        wait_until(lambda: _version(c, "rfm")["status"] == "ok", "the stats file to be picked up")
        decided = c.post("/v1/policies/rfm/evaluate", params={"as_of": as_of}, json=record)
        assert decided.json() == engine_policy("rfm").evaluate(record, as_of).to_dict()
        stale = json.loads((POLICIES / "rfm.stats.json").read_text(encoding="utf-8"))
        stale["content_hash"] = "0000000000000000"
        save(tmp_path / "rfm.stats.json", json.dumps(stale))
        info = wait_until(lambda: (v := _version(c, "rfm"))["status"] == "error" and v, "the stale stats")
        assert "run `rules fit` again" in info["problem"]
        assert c.post("/v1/policies/rfm/evaluate", params={"as_of": as_of}, json=record).status_code == 200


# ---- the decision log --------------------------------------------------------------------------

LOG_KEYS = {"time", "policy", "version", "content_hash", "as_of", "key", "segments", "outputs", "rules_fired"}


def test_the_log_holds_decisions_without_inputs_and_rotates_by_size(tmp_path):
    copy_policies(tmp_path, "customer_value.rules")
    log = tmp_path / "decisions.jsonl"
    with TestClient(service.create_app(tmp_path, log_path=log, log_max_bytes=2_000)) as c:
        keys = []
        for i in range(30):
            record = {**RECORD, "customer_id": f"c{i:03d}", "name": f"王PLANTED{i}"}
            keys.append(record["customer_id"])
            assert c.post(EVALUATE, params={"as_of": AS_OF}, json=record).status_code == 200
        batch = [{**RECORD, "customer_id": f"c{i:03d}", "name": f"王PLANTED{i}"} for i in range(30, 45)]
        batch.insert(3, {**RECORD, "customer_id": "bad", "orders_12m": "x"})  # rejects are not logged
        keys += [r["customer_id"] for r in batch if r["customer_id"] != "bad"]
        assert c.post(EVALUATE, params={"as_of": AS_OF}, json=batch).status_code == 200
        c.post("/v1/policies/customer_value/explain", json=RECORD)  # explanations are not logged
    files = [log] + [log.with_name(f"{log.name}.{i}") for i in range(1, 6)]
    assert all(f.exists() for f in files) and not log.with_name(f"{log.name}.6").exists()
    logged = []
    for f in reversed(files):  # oldest first
        text = f.read_text(encoding="utf-8")
        assert f.stat().st_size <= 2_000 and "PLANTED" not in text and "王" not in text
        for line in text.splitlines():
            entry = json.loads(line)
            assert set(entry) == LOG_KEYS
            assert entry["policy"] == "customer_value" and entry["as_of"] == AS_OF
            assert entry["segments"]["value_tier"] == "A" and entry["outputs"]["discount"] == 0.1
            assert entry["time"].endswith("Z") and entry["version"] == "2026.11.1"
            logged.append(entry["key"])
    assert 20 < len(logged) < len(keys)  # five old files kept, the oldest lines dropped
    assert logged == keys[-len(logged):]


def test_the_log_is_safe_to_write_from_many_threads(tmp_path):
    path = tmp_path / "threads.jsonl"
    log = service.DecisionLog(path, max_bytes=10_000_000)
    small = service.DecisionLog(tmp_path / "small.jsonl", max_bytes=3_000)

    def write(t):
        for i in range(200):
            lines = [json.dumps({"t": t, "i": i, "j": j, "pad": "x" * (i % 37)}) + "\n" for j in range(1 + i % 3)]
            log.write(lines)
            small.write(lines)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    small.close()
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(entries) == 8 * sum(1 + i % 3 for i in range(200))
    assert len({(e["t"], e["i"], e["j"]) for e in entries}) == len(entries)
    for f in tmp_path.glob("small.jsonl*"):
        assert f.stat().st_size <= 3_000
        for line in f.read_text().splitlines():
            json.loads(line)  # whole lines only: no write interleaved with another


def test_a_log_that_cannot_be_opened_stops_the_start(tmp_path):
    copy_policies(tmp_path, "customer_value.rules")
    with pytest.raises(service.ServiceError, match="cannot open it for appending"):
        service.create_app(tmp_path, log_path=tmp_path / "no" / "such" / "folder.jsonl")


# ---- auth ----------------------------------------------------------------------------------------

ENDPOINTS = [
    ("POST", EVALUATE, RECORD), ("POST", "/v1/policies/customer_value/explain", RECORD),
    ("GET", "/v1/policies", None), ("GET", "/v1/policies/customer_value", None), ("GET", "/metrics", None),
    ("GET", "/openapi.json", None), ("GET", "/v1/policies/no_such_policy", None),
]


@pytest.mark.parametrize("method, path, body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_every_endpoint_but_healthz_needs_the_token(secured, method, path, body):
    kwargs = {"json": body} if body is not None else {}
    for headers, challenge in [({}, 'Bearer realm="rules"'),
                               ({"Authorization": "Bearer wrong"}, 'Bearer realm="rules", error="invalid_token"'),
                               ({"Authorization": f"Basic {TOKEN}"}, 'Bearer realm="rules", error="invalid_token"'),
                               ({"Authorization": f"Bearer {TOKEN}x"}, 'Bearer realm="rules", error="invalid_token"')]:
        response = secured.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == challenge
        assert response.json()["error"] == "unauthorized" and "`Authorization: Bearer <token>`" in response.text
    allowed = secured.request(method, path, headers=AUTH, **kwargs)
    assert allowed.status_code == (404 if "no_such" in path else 200), allowed.text
    lower = secured.request(method, path, headers={"authorization": f"bearer {TOKEN}"}, **kwargs)
    assert lower.status_code == allowed.status_code


def test_healthz_never_needs_the_token(secured, client):
    for c in (secured, client):
        response = c.get("/healthz")
        assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("text, problem", [
    ("", "is empty"), ("  \n\t ", "is empty"), ("two words", "one word"), ("tök", "visible ASCII"),
])
def test_a_token_file_that_cannot_be_used_stops_the_start(tmp_path, text, problem):
    path = tmp_path / "token"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(service.ServiceError, match=problem):
        service.read_token(path)


def test_a_token_file_is_read_stripped(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}\n", encoding="utf-8")
    assert service.read_token(path) == TOKEN
    with pytest.raises(service.ServiceError, match="no such file"):
        service.read_token(tmp_path / "missing")
    with pytest.raises(service.ServiceError, match="is a folder"):
        service.read_token(tmp_path)


def rules(*args, timeout=60):
    script = Path(sys.executable).parent / "rules"
    cmd = [str(script)] if script.exists() else [
        sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import cli; cli.main()"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_serve_refuses_to_start_with_a_clear_message(tmp_path):
    empty = tmp_path / "token"
    empty.write_text("\n", encoding="utf-8")
    for args, words in [(["--token-file", empty], "is empty"), (["--token-file", tmp_path / "nope"], "no such file"),
                        (["--as-of", "22/11/2026"], "YYYY-MM-DD"), (["--log", tmp_path / "x" / "y.log"], "--log")]:
        done = rules("serve", POLICIES, "--port", "0", *args)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = rules("serve", tmp_path / "missing")
    assert done.returncode == 2 and "no such folder" in done.stderr


# ---- metrics -------------------------------------------------------------------------------------

def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_count_requests_by_route_time_them_and_count_members(tmp_path):
    copy_policies(tmp_path, "customer_value.rules")
    with TestClient(service.create_app(tmp_path)) as c:
        for _ in range(3):
            c.post(EVALUATE, params={"as_of": AS_OF}, json=RECORD)
        c.post(EVALUATE, json={**RECORD, "orders_12m": "x"})
        c.post(EVALUATE, params={"as_of": AS_OF},
               json=[{**RECORD, "annual_spend": 0, "orders_12m": 0, "region": "south"}, {}])
        c.get("/v1/policies/nope")
        response = c.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    route = 'method="POST",path="/v1/policies/{name}/evaluate"'
    assert samples[f'rules_requests_total{{{route},status="200"}}'] == 4
    assert samples[f'rules_requests_total{{{route},status="422"}}'] == 1
    assert samples['rules_requests_total{method="GET",path="/v1/policies/{name}",status="404"}'] == 1
    assert not any("customer_value" in name for name in samples if name.startswith("rules_request"))
    buckets = [(name, v) for name, v in samples.items() if name.startswith(f"rules_request_seconds_bucket{{{route}")]
    counts = [v for _, v in buckets]
    assert len(buckets) == len(service.LATENCY_BUCKETS) + 1 and counts == sorted(counts)
    assert buckets[-1][0].endswith('le="+Inf"}')
    assert counts[-1] == 5 == samples[f"rules_request_seconds_count{{{route}}}"]
    assert 0 < samples[f"rules_request_seconds_sum{{{route}}}"] < 60
    member = 'rules_decisions_total{{policy="customer_value",segment="{}",member="{}"}}'
    assert samples[member.format("value_tier", "A")] == 3 and samples[member.format("value_tier", "D")] == 1
    assert samples[member.format("flags", "regional_promo")] == 3 and samples[member.format("flags", "(none)")] == 1
    assert samples['rules_rejects_total{policy="customer_value"}'] == 2
    assert samples['rules_policy_info{policy="customer_value",version="2026.11.1",'
                   f'content_hash="{engine_policy("customer_value").content_hash}",status="ok"}}'] == 1


def test_metric_labels_are_escaped():
    metrics = service.Metrics()
    metrics.decision('we"ird\\name', engine_policy("customer_value").evaluate(RECORD, AS_OF))
    assert 'policy="we\\"ird\\\\name"' in metrics.render({})


# ---- the OpenAPI document, under schemathesis ------------------------------------------------------

@pytest.fixture(scope="module")
def api_schema(secured):
    schema = schemathesis.openapi.from_asgi("/openapi.json", secured.app, headers=AUTH)
    schema.validate()  # a valid OpenAPI 3.1 document
    return schema


def test_the_api_keeps_to_its_openapi_document(api_schema):
    """Every operation, with generated requests: no 5xx, and each response as the document describes it.

    Driven through hypothesis directly rather than schemathesis' pytest plugin, which breaks with
    newer pytest releases than the one it was built against."""
    checked = []
    for found in api_schema.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case):
            case.call_and_validate(headers=AUTH, checks=[not_a_server_error, response_schema_conformance,
                                                         status_code_conformance, content_type_conformance])

        conforms()
        checked.append(operation.label)
    assert len(checked) >= 7 and "POST /v1/policies/{name}/evaluate" in checked, checked


def test_the_document_describes_every_route_and_each_policy(client, secured):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0" and "security" not in doc
    for route in ("/v1/policies/{name}/evaluate", "/v1/policies/{name}/explain", "/v1/policies",
                  "/v1/policies/{name}", "/healthz", "/metrics", "/openapi.json"):
        assert route in doc["paths"], route
    record = doc["paths"]["/v1/policies/customer_value/evaluate"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["oneOf"][0]
    assert record["required"] == ["customer_id", "name", "annual_spend", "orders_12m", "last_order_date",
                                  "customer_type", "industry", "region"]
    assert record["properties"]["customer_type"]["enum"] == ["consumer", "b2b", "channel", "internal"]
    assert record["properties"]["avg_order_value"]["type"] == ["number", "null"]
    schemathesis.openapi.from_dict(doc).validate()
    secured_doc = secured.get("/openapi.json", headers=AUTH).json()
    assert secured_doc["security"] == [{"bearer": []}] and "401" in secured_doc["paths"]["/metrics"]["get"]["responses"]
    assert secured_doc["paths"]["/healthz"]["get"]["security"] == []
    schemathesis.openapi.from_dict(secured_doc).validate()


def test_schemathesis_fails_when_a_response_breaks_the_document(client):
    """The conformance check above can fail: a document that says `row` is always an integer is caught."""
    doc = client.get("/openapi.json").json()
    doc["components"]["schemas"]["Decision"]["properties"]["row"] = {"type": "integer"}
    schema = schemathesis.openapi.from_dict(doc)
    schema.app = client.app
    operation = schema["/v1/policies/customer_value/evaluate"]["POST"]

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(checks=[response_schema_conformance])

    with pytest.raises(FailureGroup, match="Response violates schema"):
        check()


# ---- the real command, end to end ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoDelay(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Served:
    """A `rules serve` process: its port, and what it printed on stderr once stopped."""

    def __init__(self, process: subprocess.Popen, port: int):
        self.process, self.port, self.err = process, port, ""


@contextmanager
def rules_serve(folder: Path, *args):
    """`rules serve FOLDER ARGS…` on a free port, answering /healthz; stopped with SIGTERM on the way out."""
    port = free_port()
    script = Path(sys.executable).parent / "rules"
    cmd = [str(script)] if script.exists() else [sys.executable, str(ROOT / "cli.py")]
    process = subprocess.Popen([*cmd, "serve", str(folder), "--port", str(port), *map(str, args)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    served = Served(process, port)
    try:
        def healthy():
            assert process.poll() is None, process.communicate()[1]
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            except OSError:
                return False
        wait_until(healthy, "rules serve to answer /healthz", timeout=60)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, served.err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def test_rules_serve_end_to_end(tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n", encoding="utf-8")
    token.chmod(0o600)
    log = tmp_path / "decisions.jsonl"
    with rules_serve(POLICIES, "--token-file", token, "--log", log, "--as-of", AS_OF) as served:
        conn = NoDelay("127.0.0.1", served.port, timeout=10)  # one keep-alive connection for every request
        expected = engine_policy("customer_value").evaluate(RECORD, AS_OF).to_dict()
        for _ in range(5):
            conn.request("POST", EVALUATE, body=json.dumps(RECORD).encode(), headers={**AUTH, "Content-Type":
                                                                                       "application/json"})
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read()) == expected
        conn.request("GET", "/v1/policies")
        refused = conn.getresponse()
        assert refused.status == 401 and refused.getheader("WWW-Authenticate").startswith("Bearer")
        refused.read()
        conn.close()
    err = served.err
    assert served.process.returncode == 0, err
    assert "rules serve: 17 policies" in err and "rules serve: stopped" in err and "Traceback" not in err
    assert [json.loads(line)["key"] for line in log.read_text(encoding="utf-8").splitlines()] == ["c1"] * 5


def test_the_listening_socket_is_tcp_so_asyncio_turns_nagle_off():
    """With proto 0, asyncio leaves Nagle's algorithm on, and each keep-alive request waits ~40 ms for a
    delayed ACK between the parts of the previous response."""
    sock = service.run._bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
