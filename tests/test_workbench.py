"""The workbench at `/` of `rules serve`: its JSON endpoints in process, and the page end to end in
headless Chromium against a real `rules serve` — open, edit, see the error marker, fix it, see the
distribution change, try a record, save."""
from __future__ import annotations

import http.client
import json
import shutil

import pytest
from starlette.testclient import TestClient

import engine
from browser import browser
from engine import service
from engine.parser import lex_for_highlighting
from test_service import AS_OF, AUTH, POLICIES, ROOT, TOKEN, rules, rules_serve, wait_until

EXAMPLES = ROOT / "examples"
API = "/workbench/api/policies/"
CV = API + "customer_value"


@pytest.fixture
def folder(tmp_path):
    """A served folder with customer_value (and its cases) and rfm (with frozen stats), and a samples folder."""
    served = tmp_path / "policies"
    served.mkdir()
    for name in ("customer_value.rules", "customer_value.cases.yaml", "rfm.rules", "rfm.stats.json"):
        shutil.copy(POLICIES / name, served / name)
    samples = tmp_path / "samples"
    samples.mkdir()
    for name in ("customer_value.csv", "cdnow_customers.csv"):
        shutil.copy(EXAMPLES / name, samples / name)
    (samples / "notes.txt").write_text("not data", encoding="utf-8")
    return served, samples


@pytest.fixture
def client(folder):
    served, samples = folder
    with TestClient(service.create_app(served, token=TOKEN, as_of=AS_OF, samples=samples), headers=AUTH) as c:
        yield c


def text_of(folder) -> str:
    return (folder[0] / "customer_value.rules").read_text(encoding="utf-8")


def edited(text: str, old: str = "annual_spend >= 10万", new: str = "annual_spend >= 5万") -> str:
    assert text.count(old) == 1
    return text.replace(old, new)


# ---- the page and the token ----------------------------------------------------------------------

def test_the_page_is_public_and_every_workbench_call_needs_the_token(folder):
    served, samples = folder
    with TestClient(service.create_app(served, token=TOKEN, samples=samples)) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<textarea id="source"' in page.text and "customer_value" not in page.text  # no data in the page
        for asset, kind in (("workbench.js", "javascript"), ("workbench.css", "css"), ("report.css", "css")):
            got = c.get(f"/workbench/static/{asset}")
            assert got.status_code == 200 and kind in got.headers["content-type"], asset
        assert c.get("/workbench/static/secrets.txt").status_code == 404
        calls = [("GET", CV, None), ("POST", CV + "/check", {"text": "x"}), ("POST", CV + "/impact", {"text": "x"}),
                 ("POST", CV + "/explain", {"text": "x"}), ("PUT", CV, {"text": "x", "base": "y"})]
        for method, path, body in calls:
            refused = c.request(method, path, json=body)
            assert refused.status_code == 401, (method, path)
            wrong = c.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, (method, path)
        assert c.get(CV, headers=AUTH).status_code == 200
    assert text_of(folder) == (POLICIES / "customer_value.rules").read_text(encoding="utf-8")


def test_open_gives_the_file_its_digest_the_samples_and_an_example_record(client, folder):
    doc = client.get(CV).json()
    assert doc["text"] == text_of(folder) and doc["file"] == "customer_value.rules"
    assert doc["base"].startswith("sha256:") and len(doc["base"]) == 71
    assert doc["samples"] == ["cdnow_customers.csv", "customer_value.csv"]  # data files only
    assert doc["sample"] == "customer_value.csv"  # the one named after the policy
    assert doc["record"]["customer_id"] == "c00" and doc["as_of"] == AS_OF  # the first case of its cases file
    assert doc["status"] == "ok"
    rfm = client.get(API + "rfm").json()
    assert rfm["sample"] is None and rfm["record"] is None
    missing = client.get(API + "customer_valu")
    assert missing.status_code == 404 and "customer_value" in missing.json()["message"]


# ---- checking and highlighting -------------------------------------------------------------------

def test_check_places_each_diagnostic_where_the_browser_counts(client, folder):
    text = edited(text_of(folder), "annual_spend >= 10万", "annual_spend >= 10万 +")
    found = client.post(CV + "/check", json={"text": text}).json()
    errors = [d for d in found["diagnostics"] if d["severity"] == "error"]
    assert len(errors) == 1 and errors[0]["code"] == "E004"
    assert text[errors[0]["start"]:errors[0]["end"]] == "and"
    assert errors[0]["line"] == text[:errors[0]["start"]].count("\n") + 1
    # JavaScript counts UTF-16 units: a character beyond the BMP before the error moves it by two
    wide = text.replace('"重要客户"', '"重要客户😀"', 1)
    moved = [d for d in client.post(CV + "/check", json={"text": wide}).json()["diagnostics"] if d["code"] == "E004"][0]
    assert moved["start"] == errors[0]["start"] + 2 and moved["column"] == errors[0]["column"] + 1
    clean = client.post(CV + "/check", json={"text": text_of(folder)}).json()
    assert not [d for d in clean["diagnostics"] if d["severity"] == "error"]


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.rules")), ids=lambda p: p.stem)
def test_highlighting_tokens_are_the_lexers_and_cover_every_character_but_spaces(path):
    text = path.read_text(encoding="utf-8")
    tokens = lex_for_highlighting(text)
    assert all(a < b for a, b, _ in tokens) and all(b <= c for (_, b, _), (c, _, _) in zip(tokens, tokens[1:]))
    covered = set()
    for a, b, _ in tokens:
        covered.update(range(a, b))
    gaps = {text[i] for i in range(len(text)) if i not in covered}
    assert gaps <= set(" \t\r\n\u3000"), gaps
    kinds = {kind for _, _, kind in tokens}
    assert {"keyword", "name", "operator"} <= kinds and "error" not in kinds


def test_highlighting_survives_broken_text():
    text = 'segment x first {\n  a : "never closed\n  b : 3 @ 4 ；\n}\n'
    tokens = lex_for_highlighting(text)
    errors = [text[a:b] for a, b, kind in tokens if kind == "error"]
    assert errors == ['"never closed', "@", "；"]
    assert tokens[-1][2] == "operator" and text[tokens[-1][0]:tokens[-1][1]] == "}"  # lexing went on after them
    assert len(lex_for_highlighting("@" * 5000)) == 100  # a hundred error places, then the rest is plain


# ---- explain and impact of the unsaved text -------------------------------------------------------

def test_explain_the_edited_text_for_a_record_or_a_key_in_the_sample(client, folder):
    text = edited(text_of(folder))
    record = client.get(CV).json()["record"] | {"annual_spend": 60000}
    shown = client.post(CV + "/explain", json={"text": text, "record": record, "as_of": AS_OF}).json()
    assert "annual_spend (60,000) >= 5万 → true" in shown["text"]
    assert shown["explanation"]["segments"][0]["member"] == "A"
    saved = client.post(CV + "/explain", json={"text": text_of(folder), "record": record}).json()
    assert saved["explanation"]["segments"][0]["member"] != "A"
    by_key = client.post(CV + "/explain", json={"text": text, "key": "C00002", "sample": "customer_value.csv"})
    assert by_key.status_code == 200 and "record C00002" in by_key.json()["text"]
    assert "郭明" not in by_key.text  # name is pii: masked
    missing = client.post(CV + "/explain", json={"text": text, "key": "nobody", "sample": "customer_value.csv"})
    assert missing.status_code == 404
    bad = client.post(CV + "/explain", json={"text": text, "record": {**record, "orders_12m": "many"}})
    assert bad.status_code == 422 and bad.json()["field"] == "orders_12m"
    broken = client.post(CV + "/explain", json={"text": text + "\nsegment", "record": record})
    assert broken.status_code == 422 and broken.json()["diagnostics"][0]["severity"] == "error"


def test_impact_of_the_unsaved_edit_is_what_rules_diff_finds(client, folder):
    sample = folder[1] / "customer_value.csv"
    same = client.post(CV + "/impact", json={"text": text_of(folder), "sample": "customer_value.csv"}).json()
    assert same["against"] == "saved" and all(s["changed"] == 0 for s in same["impact"]["segments"])
    text = edited(text_of(folder))
    got = client.post(CV + "/impact", json={"text": text, "sample": "customer_value.csv", "as_of": AS_OF}).json()
    want = engine.diff_policies(engine.load_policy(folder[0] / "customer_value.rules"),
                                engine.compile_policy(text, "edited.rules"), sample, AS_OF)
    tiers = {s["segment"]: s for s in got["impact"]["segments"]}["value_tier"]
    assert tiers["changed"] == {s.segment: s for s in want.segments}["value_tier"].changed > 0
    assert got["impact"]["compared"] == want.compared
    assert 'class="chart sizes"' in got["html"] and 'class="chart heatmap"' in got["html"]
    assert "郭明" not in got["html"]  # examples mask pii


def test_impact_uses_the_stats_the_saved_policy_ranks_with(client, folder):
    text = (folder[0] / "rfm.rules").read_text(encoding="utf-8")
    got = client.post(API + "rfm/impact", json={"text": text, "sample": "cdnow_customers.csv"})
    assert got.status_code == 200 and all(s["changed"] == 0 for s in got.json()["impact"]["segments"])


def test_samples_are_named_from_the_folder_listing_only(client, folder):
    text = text_of(folder)
    for name in ("../policies/customer_value.rules", "notes.txt", "/etc/passwd", None):
        got = client.post(CV + "/impact", json={"text": text, "sample": name})
        assert got.status_code == 400 and got.json()["known"] == ["cdnow_customers.csv", "customer_value.csv"], name


def test_without_samples_the_workbench_says_how_to_give_them(folder):
    with TestClient(service.create_app(folder[0])) as c:
        assert c.get(CV).json()["samples"] == []
        got = c.post(CV + "/impact", json={"text": text_of(folder), "sample": "customer_value.csv"})
        assert got.status_code == 409 and "--samples" in got.json()["message"]
    done = rules("serve", POLICIES, "--port", "0", "--samples", folder[1] / "nope")
    assert done.returncode == 2 and "--samples" in done.stderr and "Traceback" not in done.stderr


# ---- saving -------------------------------------------------------------------------------------

def test_save_writes_only_clean_text_over_the_version_it_started_from(client, folder):
    path = folder[0] / "customer_value.rules"
    before = path.read_bytes()
    base = client.get(CV).json()["base"]
    broken = client.put(CV, json={"text": before.decode() + "\nsegment", "base": base})
    assert broken.status_code == 422 and "not saved" in broken.json()["message"] and broken.json()["diagnostics"]
    assert path.read_bytes() == before
    text = edited(before.decode())
    stale = client.put(CV, json={"text": text, "base": "sha256:" + "0" * 64})
    assert stale.status_code == 409 and "changed on disk" in stale.json()["message"]
    assert path.read_bytes() == before
    saved = client.put(CV, json={"text": text, "base": base}).json()
    assert saved["saved"] and path.read_text(encoding="utf-8") == text
    assert saved["hash"] == engine.compile_policy(text, "x.rules").content_hash
    assert sorted(p.name for p in folder[0].iterdir()) == ["customer_value.cases.yaml", "customer_value.rules",
                                                          "rfm.rules", "rfm.stats.json"]  # no temporary file
    served = client.get("/v1/policies/customer_value").json()
    assert served["hash"] == saved["hash"] and served["status"] == "ok"  # serving at once, not at the next poll
    again = client.put(CV, json={"text": text, "base": base})
    assert again.status_code == 409  # the old base is stale now
    assert client.put(CV, json={"text": text, "base": saved["base"]}).status_code == 200


# ---- the page in a real browser -----------------------------------------------------------------

def _caret_at(driver, area, needle: str) -> None:
    start = driver.execute_script("return arguments[0].value.indexOf(arguments[1])", area, needle)
    assert start >= 0, needle
    driver.execute_script("arguments[0].focus(); arguments[0].setSelectionRange(arguments[1], arguments[2])",
                          area, start, start + len(needle))


def _bars(driver, segment: str) -> dict[str, list[str]]:
    """Member and count of the before and after bars of a segment's size chart, from their titles.

    Read in one script: the page redraws the impact when a newer edit's result arrives, and an
    element found before a redraw is gone after it."""
    return driver.execute_script(
        "const svg = document.querySelector(`#impact svg.chart.sizes[data-segment=\"${arguments[0]}\"]`);"
        "const bars = when => svg ? [...svg.querySelectorAll(`rect.bar.${when}`)]"
        "  .map(b => b.textContent.replace(` ${when}:`, ':')) : [];"
        "return {before: bars('before'), after: bars('after')};", segment)


def _moved(driver, segment: str) -> list[int]:
    """The non-zero cells of a segment's transition heatmap (one script, as in _bars)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(`#impact svg.chart.heatmap[data-segment=\"${arguments[0]}\"] rect.cell`)]"
        "  .map(c => +(c.getAttribute('data-count') || 0)).filter(n => n);", segment)


def test_workbench_end_to_end_in_headless_chromium(folder, tmp_path):
    served, samples = folder
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n", encoding="utf-8")
    token.chmod(0o600)
    with rules_serve(served, "--token-file", token, "--samples", samples, "--as-of", AS_OF) as server:
        driver = browser()
        try:
            find = driver.find_element
            driver.get(f"http://127.0.0.1:{server.port}/#customer_value")

            # the page asks for the token, then opens the policy
            wait_until(lambda: find("id", "token-box").is_displayed(), "the token prompt")
            find("id", "token").send_keys(TOKEN)
            find("css selector", "#token-box button").click()
            area = find("id", "source")
            original = text_of(folder)
            wait_until(lambda: area.get_attribute("value") == original, "the policy text in the editor")
            wait_until(lambda: driver.find_elements("css selector", "#highlight .tok-keyword"), "highlighting")
            assert find("css selector", "#highlight .tok-keyword").text == "policy"
            wait_until(lambda: "no unsaved edit" in find("id", "impact-state").text, "the distribution on the sample", 60)
            start = _bars(driver, "value_tier")
            assert start["before"] == start["after"] and len(start["before"]) == 4

            # an error: underlined where it is, listed, and save is off
            _caret_at(driver, area, "10万")
            area.send_keys("10万 +")
            wait_until(lambda: driver.find_elements("css selector", "#highlight .diag-error"), "the error marker")
            marker = find("css selector", "#highlight .diag-error")
            assert marker.text == "and" and "E004" in marker.get_attribute("title")
            line = original[:original.index("annual_spend >= 10万")].count("\n") + 1
            assert f"line {line}, column" in find("css selector", "#diagnostics li.error").text
            assert find("css selector", "#gutter .bad").text == str(line)
            top = driver.execute_script(
                "const h = document.getElementById('highlight'), m = h.querySelector('.diag-error');"
                "return m.getBoundingClientRect().top - h.getBoundingClientRect().top + h.scrollTop;")
            assert abs(top - (8 + (line - 1) * 20)) <= 3, top  # on its line: padding 8 px, 20 px per line
            assert find("id", "save").get_attribute("disabled") is not None
            assert "1 error" in find("id", "state").text

            # fixed: the marker goes; then a real edit moves customers between tiers
            area.send_keys("\b\b")
            wait_until(lambda: not driver.find_elements("css selector", "#highlight .diag-error"), "the marker to go")
            wait_until(lambda: "no errors" in find("id", "state").text, "the state to say so")
            _caret_at(driver, area, "10万")
            area.send_keys("5万")
            wait_until(lambda: "segment change" in find("id", "impact-state").text
                       and "no unsaved" not in find("id", "impact-state").text, "the impact of the edit", 60)
            after = wait_until(lambda: (lambda b: b if b["before"] != b["after"] else None)(_bars(driver, "value_tier")),
                               "the distribution to change")
            assert after["before"] == start["before"]
            assert wait_until(lambda: _moved(driver, "value_tier"), "the heatmap to show who moves")

            # try a record against the unsaved edit
            find("id", "explain").click()
            wait_until(lambda: "annual_spend (150,000) >= 5万 → true" in find("id", "trace").text, "the explain trace")

            # save: written, and serving
            wait_until(lambda: find("id", "save").get_attribute("disabled") is None, "save to be enabled")
            find("id", "save").click()
            wait_until(lambda: "Saved customer_value.rules" in find("id", "message").text, "the save to finish")
            assert text_of(folder) == edited(original)
            assert find("id", "state").text.startswith("Saved")
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/v1/policies/customer_value", headers=AUTH)
            assert json.loads(conn.getresponse().read())["hash"] == engine.compile_policy(edited(original), "x").content_hash
            assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]]
        finally:
            driver.quit()
    assert server.process.returncode == 0 and "Traceback" not in server.err, server.err
