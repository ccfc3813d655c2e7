"""`rules diff` and engine.diff: the impact of an edit, checked against a direct per-record count."""
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

import engine
from engine import diff as diff_mod, diff_text
from engine.diagnostics import display_width

from browser import browser

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "customer_value.rules"
DATA = ROOT / "examples" / "customer_value.csv"
AS_OF = "2026-11-22"
SCRIPT = Path(sys.executable).parent / "rules"
SECRET = "PII-王秘密-7731"


def rules(*args, cwd=None, env=None):
    """Run the installed `rules` script (as CI installs it), or the checkout's cli.py when not installed."""
    if SCRIPT.exists():
        cmd = [str(SCRIPT), *map(str, args)]
    else:
        cmd = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import cli; cli.main()",
               *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, encoding="utf-8",
                          env={**os.environ, **(env or {})}, timeout=120)


def edit(text: str, *changes: tuple[str, str]) -> str:
    """Apply text replacements that must each match exactly once (so the test notices a changed policy)."""
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


OLD_TEXT = POLICY.read_text(encoding="utf-8")
NEW_TEXT = edit(OLD_TEXT,
                ("annual_spend >= 10万", "annual_spend >= 5万"),                        # B customers move to A
                ("then discount = 5%\n", "then discount = 6%\n"),                        # B's discount up
                ("vip_care       : is_vip and value_tier != A", "vip_care       : is_vip and value_tier in [C, D]"))


@pytest.fixture(scope="module")
def old():
    return engine.compile_policy(OLD_TEXT, "old.rules")


@pytest.fixture(scope="module")
def new():
    return engine.compile_policy(NEW_TEXT, "new.rules")


@pytest.fixture(scope="module")
def records():
    return list(engine.read_records(DATA))


def direct(old, new, records):
    """Both policies' decisions per record, computed without engine.diff."""
    pairs = []
    for r in records:
        results = []
        for p in (old, new):
            try:
                results.append(p.evaluate(r, as_of=AS_OF))
            except engine.RecordError:
                results.append(None)
        pairs.append(tuple(results))
    return pairs


# ---- the numbers --------------------------------------------------------------------------------

def test_matrix_counts_equal_a_direct_per_record_count(old, new, records):
    impact = engine.diff_policies(old, new, DATA, as_of=AS_OF)
    pairs = [(a, b) for a, b in direct(old, new, records) if a is not None and b is not None]
    assert impact.compared == len(pairs) == 200
    for seg in ("value_tier", "lifecycle"):
        want = Counter((a.segments[seg], b.segments[seg]) for a, b in pairs)
        got = next(s for s in impact.segments if s.segment == seg)
        assert got.kind == "single"
        assert [m.id for m in got.rows] == [*old.plan.segments[[s.name for s in old.plan.segments].index(seg)].members,
                                            None]
        cells = {(r.id, c.id): got.matrix[i][j] for i, r in enumerate(got.rows) for j, c in enumerate(got.columns)}
        assert cells == {(r.id, c.id): want.get((r.id, c.id), 0) for r in got.rows for c in got.columns}
        assert sum(map(sum, got.matrix)) == len(pairs)
        assert got.changed == sum(n for (o, w), n in want.items() if o != w)
        assert {(t.old, t.new): t.count for t in got.transitions} == {k: n for k, n in want.items() if k[0] != k[1]}
    tier = next(s for s in impact.segments if s.segment == "value_tier")
    assert tier.changed > 0 and {(t.old, t.new) for t in tier.transitions} == {("B", "A")}
    labels = {m.id: m.label for m in tier.rows}
    assert labels["A"] == "重要客户" and labels[None] is None


def test_all_segment_gains_and_losses_equal_a_direct_count(old, new, records):
    impact = engine.diff_policies(old, new, DATA, as_of=AS_OF)
    pairs = [(a, b) for a, b in direct(old, new, records) if a is not None and b is not None]
    flags = next(s for s in impact.segments if s.segment == "flags")
    assert flags.kind == "all" and flags.matrix == []
    for tag in flags.tags:
        before = [tag.member in a.segments["flags"] for a, _ in pairs]
        after = [tag.member in b.segments["flags"] for _, b in pairs]
        assert tag.old == sum(before) and tag.new == sum(after)
        assert tag.kept == sum(x and y for x, y in zip(before, after))
        assert tag.gained == sum(y and not x for x, y in zip(before, after))
        assert tag.lost == sum(x and not y for x, y in zip(before, after))
        gained = {b.key for a, b in pairs if tag.member in b.segments["flags"] and tag.member not in a.segments["flags"]}
        lost = {a.key for a, b in pairs if tag.member in a.segments["flags"] and tag.member not in b.segments["flags"]}
        assert len(tag.examples_gained) == min(3, len(gained)) and {e.key for e in tag.examples_gained} <= gained
        assert len(tag.examples_lost) == min(3, len(lost)) and {e.key for e in tag.examples_lost} <= lost
    assert flags.changed == sum(set(a.segments["flags"]) != set(b.segments["flags"]) for a, b in pairs)
    vip = next(t for t in flags.tags if t.member == "vip_care")
    assert vip.lost > 0 and len(vip.examples_lost) == 3


def test_outputs_totals_means_and_changes_equal_a_direct_count(old, new, records):
    impact = engine.diff_policies(old, new, DATA, as_of=AS_OF)
    pairs = [(a, b) for a, b in direct(old, new, records) if a is not None and b is not None]
    discount = next(o for o in impact.outputs if o.output == "discount")
    assert discount.numeric
    olds = [a.outputs["discount"] for a, _ in pairs]
    news = [b.outputs["discount"] for _, b in pairs]
    assert discount.old.sum == pytest.approx(sum(olds)) and discount.new.sum == pytest.approx(sum(news))
    assert discount.old.mean == pytest.approx(sum(olds) / len(olds))
    assert discount.new.mean == pytest.approx(sum(news) / len(news))
    assert discount.changed == sum(abs(x - y) > 1e-9 for x, y in zip(olds, news))
    moves = Counter((round(x, 9), round(y, 9)) for x, y in zip(olds, news) if abs(x - y) > 1e-9)
    assert {(round(t.old, 9), round(t.new, 9)): t.count for t in discount.transitions} == moves
    service = next(o for o in impact.outputs if o.output == "service_level")
    assert not service.numeric and service.old.sum is None
    want = Counter((a.outputs["service_level"], b.outputs["service_level"]) for a, b in pairs
                   if a.outputs["service_level"] != b.outputs["service_level"])
    assert {(t.old, t.new): t.count for t in service.transitions} == want and service.other_transitions == 0


def test_every_record_is_counted_once_compared_or_rejected_by_old_new_or_both(old, records):
    newer = engine.compile_policy(edit(
        OLD_TEXT,
        ("annual_spend    : number ", "annual_spend    : number?"),       # old rejects a missing spend, new does not
        ("region          : string", "region          : enum(north, east, south, west, central)")), "new.rules")
    planted = [
        {**records[0], "customer_id": "X-moon", "region": "moon"},            # new only
        {**records[1], "customer_id": "X-nospend", "annual_spend": None},     # old only
        {**records[2], "customer_id": "X-both", "region": "mars", "annual_spend": "lots"},  # both
    ]
    rows = records + planted
    impact = engine.diff_policies(old, newer, rows, as_of=AS_OF, examples=5)
    assert impact.rows_in == len(rows) == 205
    assert (impact.rejected.new_only, impact.rejected.old_only, impact.rejected.both) == (1, 1, 3)
    assert impact.rows_in == (impact.compared + impact.rejected.old_only + impact.rejected.new_only
                              + impact.rejected.both)
    by = {e.key: e for e in impact.rejected.examples}
    assert by["X-moon"].by == "new" and "moon" in by["X-moon"].reason_new and by["X-moon"].reason_old is None
    assert by["X-nospend"].by == "old" and "annual_spend" in by["X-nospend"].reason_old
    assert by["X-both"].by == "both" and "region" in by["X-both"].reason_new and "annual_spend" in by["X-both"].reason_old


def test_segments_and_outputs_in_one_policy_only_are_listed_with_their_distribution(old, records):
    text = edit(OLD_TEXT,
                ("output contact_every : int = 60 \"回访间隔(天)\"\n", ""),
                ("strategy by lifecycle {\n  loyal   : contact_every = 30\n  at_risk : contact_every = 14\n"
                 "  lost    : contact_every = 90\n}\n", ""),
                ("# every tag whose condition holds",
                 'segment spend_band "消费档" {\n  high "高" : annual_spend >= 5万\n  low : otherwise\n}\n\n'
                 "# every tag whose condition holds"))
    newer = engine.compile_policy(text, "new.rules")
    impact = engine.diff_policies(old, newer, DATA, as_of=AS_OF)
    decided = [d for d in newer.evaluate_many(records, as_of=AS_OF) if d.ok]
    (added,) = impact.segments_added
    assert added.segment == "spend_band" and added.label == "消费档"
    assert {s.member: s.count for s in added.sizes} == dict(Counter(d.segments["spend_band"] for d in decided))
    (removed,) = impact.outputs_removed
    olds = [d.outputs["contact_every"] for d in old.evaluate_many(records, as_of=AS_OF) if d.ok]
    assert removed.output == "contact_every" and removed.stats.sum == sum(olds)
    assert {v.value: v.count for v in removed.top_values} == dict(Counter(olds))
    assert impact.segments_removed == [] and impact.outputs_added == []
    assert "segment added: spend_band 消费档: high 高" in engine.render_diff(impact)


def test_population_policies_rank_against_the_batch_as_rules_eval_does(tmp_path):
    rfm = ROOT / "policies" / "rfm.rules"
    with open(ROOT / "examples" / "cdnow_customers.csv", encoding="utf-8", newline="") as f:
        head = [row for _, row in zip(range(401), csv.reader(f))]
    data = tmp_path / "cdnow_400.csv"
    with open(data, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(head)
    old = engine.load_policy(rfm)
    new = engine.compile_policy(edit(rfm.read_text(encoding="utf-8"),
                                     ("r >= 4 and f >= 4 and m >= 4", "r >= 4 and f >= 3 and m >= 3")), "rfm_new.rules")
    impact = engine.diff_policies(old, new, data, as_of="1998-06-30")
    rows = list(engine.read_records(data))
    pairs = list(zip(old.evaluate_many(rows, as_of="1998-06-30"), new.evaluate_many(rows, as_of="1998-06-30")))
    want = Counter((a.segments["rfm"], b.segments["rfm"]) for a, b in pairs if a.ok and b.ok)
    got = impact.segments[0]
    assert impact.compared == sum(want.values()) == 400
    assert {(r.id, c.id): got.matrix[i][j] for i, r in enumerate(got.rows) for j, c in enumerate(got.columns)
            if got.matrix[i][j]} == dict(want)
    assert got.changed > 0


def test_a_file_is_read_once_and_an_iterator_is_consumed_once(old, new, records, monkeypatch):
    calls = []
    real = diff_mod.read_records

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(diff_mod, "read_records", counting)
    by_file = engine.diff_policies(old, new, DATA, as_of=AS_OF)
    assert len(calls) == 1
    pulled = []

    def stream():
        for r in records:
            pulled.append(r)
            yield r

    by_stream = engine.diff_policies(old, new, stream(), as_of=AS_OF)
    assert len(pulled) == len(records)
    assert by_stream.model_dump(exclude={"data"}) == by_file.model_dump(exclude={"data"})


def test_examples_are_limited_and_the_json_shape_is_stable(old, new):
    one = engine.diff_policies(old, new, DATA, as_of=AS_OF, examples=1)
    tier = next(s for s in one.segments if s.segment == "value_tier")
    assert all(len(t.examples) == 1 for t in tier.transitions)
    none = engine.diff_policies(old, new, DATA, as_of=AS_OF, examples=0)
    assert all(not t.examples for s in none.segments for t in s.transitions)
    doc = json.loads(json.dumps(one.to_dict(), ensure_ascii=False))
    assert set(doc) == {"old", "new", "data", "as_of", "rows_in", "compared", "rejected", "segments", "segments_added",
                        "segments_removed", "outputs", "outputs_added", "outputs_removed", "pii_fields", "pii_shown"}
    assert doc["as_of"] == AS_OF and doc["old"]["content_hash"] == old.content_hash
    seg = doc["segments"][0]
    assert set(seg) == {"segment", "label", "kind", "changed", "sizes", "rows", "columns", "matrix", "transitions",
                        "tags"}
    assert set(seg["transitions"][0]) == {"old", "new", "count", "examples"}
    assert set(seg["transitions"][0]["examples"][0]) == {"row", "key", "fields"}
    with pytest.raises(engine.DiffError, match="YYYY-MM-DD"):
        engine.diff_policies(old, new, DATA, as_of="2026-13-01")


def test_change_line_reads_like_the_brief():
    base = 'policy d version "1"\ninput c { id : string key  score : int }\noutput discount : number = 0\n'
    old = engine.compile_policy(base + "strategy s { when score >= 280 then discount = 10% }\n")
    new = engine.compile_policy(base + "strategy s { when score >= 210 then discount = 10% }\n")
    rows = [{"id": f"c{i}", "score": i} for i in range(1000)]
    impact = engine.diff_policies(old, new, rows, as_of=AS_OF)
    line = diff_text.output_line(impact.outputs[0], impact.compared)
    assert line == ("discount: 70 of 1,000 records change; mean 0.072 → 0.079 (+0.007, +9.7%); "
                    "total 72.0 → 79.0 (+7.0, +9.7%)")
    assert [diff_text.fmt_number(x) for x in (72.0, 1234567.5, 0.072, 12, 0.00012345, None)] == \
        ["72.0", "1,234,567.5", "0.072", "12", "0.000123", "-"]


# ---- old versions from git -------------------------------------------------------------------------

def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=Analyst", "-c", "user.email=analyst@example.com",
                    "-c", "init.defaultBranch=main", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "policies" / "cv.rules").write_text(OLD_TEXT, encoding="utf-8")
    git(repo, "add", "policies/cv.rules")
    git(repo, "commit", "-q", "-m", "customer value")
    (repo / "policies" / "cv.rules").write_text(NEW_TEXT, encoding="utf-8")  # the edit, not committed
    return repo


def test_old_version_from_git_compares_the_committed_file_with_the_edited_one(repo, old, new):
    out = rules("diff", "git:HEAD:policies/cv.rules", "policies/cv.rules", "--data", DATA, "--as-of", AS_OF,
                "--format", "json", cwd=repo)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    want = engine.diff_policies(old, new, DATA, as_of=AS_OF).to_dict()
    assert got["old"]["source"] == "git:HEAD:policies/cv.rules"
    assert got["old"]["content_hash"] == old.content_hash and got["new"]["content_hash"] == new.content_hash
    assert got["segments"] == want["segments"] and got["outputs"] == want["outputs"]
    # from the policies folder, the path is relative to it
    inside = rules("diff", "git:HEAD:cv.rules", "cv.rules", "--data", DATA, "--as-of", AS_OF, "--format", "json",
                   cwd=repo / "policies")
    assert inside.returncode == 0, inside.stderr
    assert json.loads(inside.stdout)["segments"] == want["segments"]


def test_git_mistakes_get_a_message_for_the_analyst(repo, tmp_path):
    cases = [("git:nope:policies/cv.rules", "there is no revision `nope`"),
             ("git:HEAD:policies/gone.rules", "revision HEAD has no file `policies/gone.rules`"),
             ("git:HEAD:policies", "is a folder"),
             ("git:HEAD", "write the old version as git:REVISION:PATH"),
             ("git:--output=/tmp/x:cv.rules", "is not a git revision")]
    for spec, message in cases:
        out = rules("diff", spec, "policies/cv.rules", "--data", DATA, cwd=repo)
        assert out.returncode == 2, (spec, out.stdout, out.stderr)
        assert message in out.stderr and "Traceback" not in out.stderr, (spec, out.stderr)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = rules("diff", "git:HEAD:cv.rules", repo / "policies" / "cv.rules", "--data", DATA, cwd=outside,
                env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert out.returncode == 2 and "is not inside a git repository" in out.stderr
    with pytest.raises(engine.DiffError, match="no such policy file"):
        engine.load_old(str(tmp_path / "missing.rules"))


def test_an_old_version_that_does_not_compile_shows_its_errors(repo):
    (repo / "policies" / "cv.rules").write_text(OLD_TEXT.replace("orders_12m >= 1\n", "order_12m >= 1\n"),
                                                encoding="utf-8")
    git(repo, "commit", "-q", "-am", "broken")
    out = rules("diff", "git:HEAD:policies/cv.rules", POLICY, "--data", DATA, cwd=repo)
    assert out.returncode == 1
    assert "git:HEAD:policies/cv.rules:26:15" in out.stderr and "did you mean `orders_12m`?" in out.stderr


# ---- the command and its outputs ---------------------------------------------------------------------

@pytest.fixture
def edited(tmp_path):
    path = tmp_path / "customer_value_new.rules"
    path.write_text(NEW_TEXT, encoding="utf-8")
    return path


def test_cli_text_output_aligns_chinese_labels_and_reads_well(edited, tmp_path):
    out = rules("diff", POLICY, edited, "--data", DATA, "--as-of", AS_OF)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "202 records: 200 decided by both policies and compared; 2 rejected by both" in text
    assert "value_tier 价值等级: 10 of 200 records (5.0%) change member" in text
    assert "B 一般客户 → A 重要客户: 10 records, e.g." in text
    assert "lifecycle 生命周期: no record changes" in text
    assert "discount: 71 of 200 records change; mean 0.0202 → 0.0258 (+0.0056, +27.4%)" in text
    lines = text.splitlines()
    start = lines.index(next(l for l in lines if l.strip().startswith("before \\ after")))
    table = lines[start:start + 6]
    assert [l.split()[0] for l in table[1:]] == ["A", "B", "C", "D", "total"]
    # right-aligned numbers: every row of the matrix ends in the same terminal column
    assert len({display_width(l) for l in table}) == 1, table
    assert "Traceback" not in out.stderr


def test_cli_json_equals_the_api_and_html_is_written(edited, tmp_path, old):
    report = tmp_path / "impact.html"
    out = rules("diff", POLICY, edited, "--data", DATA, "--as-of", AS_OF, "--format", "json", "--html", report)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)  # stdout is JSON only; the report line goes to stderr
    want = engine.diff_policies(engine.load_policy(POLICY), engine.load_policy(edited), str(DATA), as_of=AS_OF)
    assert got == json.loads(json.dumps(want.to_dict()))
    assert f"report -> {report}" in out.stderr
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count('<svg class="chart sizes"') == 3
    assert page.count('<svg class="chart heatmap"') == 2
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page
    bad = rules("diff", POLICY, edited, "--data", tmp_path / "nothere.csv")
    assert bad.returncode == 2 and "no such file" in bad.stderr


def pii_data(tmp_path) -> Path:
    """The sample data with a customer first whose name is SECRET, who moves from B to A under the edit."""
    rows = list(engine.read_records(DATA))
    planted = {**rows[0], "customer_id": "C-PLANTED", "name": SECRET, "annual_spend": "60000",
               "近12个月订单数": "20", "is_vip": "true", "customer_type": "consumer"}
    path = tmp_path / "with_pii.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows([planted, *rows])
    return path


def test_personal_data_is_hidden_in_text_json_and_html_unless_asked_for(edited, tmp_path):
    data = pii_data(tmp_path)
    for show in (False, True):
        flag = ["--show-pii"] if show else []
        report = tmp_path / f"report_{show}.html"
        text = rules("diff", POLICY, edited, "--data", data, "--as-of", AS_OF, "--html", report, *flag)
        js = rules("diff", POLICY, edited, "--data", data, "--as-of", AS_OF, "--format", "json", *flag)
        assert text.returncode == 0 and js.returncode == 0, text.stderr + js.stderr
        assert "C-PLANTED" in text.stdout and "C-PLANTED" in js.stdout  # the record is among the examples
        outputs = {"text": text.stdout + text.stderr, "json": js.stdout + js.stderr,
                   "html": report.read_text(encoding="utf-8")}
        for name, output in outputs.items():
            assert (SECRET in output) == show, (name, show)
            assert ("name=***" in output or '"name": "***"' in output or "<td>***</td>" in output) != show, name
    # reject reasons do not quote a personal value, and an output computed from one is hidden too
    text = ('policy p version "1"\ninput c { id : string key  phone : int pii  name : string pii  vip : bool }\n'
            'segment s { a : vip  b : otherwise }\noutput greeting : string = ""\n')
    old = engine.compile_policy(text + "strategy g { when vip then greeting = name }\n")
    new = engine.compile_policy(text + "strategy g { when not vip then greeting = name }\n")
    rows = [{"id": "1", "phone": "12345", "name": SECRET, "vip": True},
            {"id": "2", "phone": "12345", "name": "someone", "vip": False},
            {"id": "3", "phone": SECRET, "name": "x", "vip": True}]
    impact = engine.diff_policies(old, new, rows, as_of=AS_OF)
    dumped = json.dumps(impact.to_dict(), ensure_ascii=False) + engine.render_diff(impact) + \
        engine.render_diff_html(impact)
    assert SECRET not in dumped and impact.outputs[0].masked and impact.outputs[0].changed == 2
    assert impact.rejected.examples[0].reason_new == "phone: the value (hidden: personal data) is not a whole number"
    shown = engine.diff_policies(old, new, rows, as_of=AS_OF, show_pii=True)
    assert SECRET in json.dumps(shown.to_dict(), ensure_ascii=False) and not shown.outputs[0].masked


HOSTILE = {
    "policy_label": "<script>window.__pwned = 1</script>",
    "segment_label": "</h3><script>window.__pwned = 2</script>",
    "member_label": "<img src=x onerror='window.__pwned = 3'>",
    "output_label": "</td><script>window.__pwned = 4</script>",
    "value": "<svg onload='window.__pwned = 5'>",
}


def hostile_impact(harmless: bool = False):
    """A diff whose policy texts and record values are markup; `harmless` swaps them for plain words."""
    texts = {k: f"plain {k}" for k in HOSTILE} if harmless else HOSTILE
    middle, key, note = ("普通客户", "{i}", "plain") if harmless else \
        ("普通<b>客户</b>", "<i>{i}</i>", "<script>window.__pwned = 6</script>")
    base = (f'policy h "{texts["policy_label"]}" version "1"\n'
            "input c { id : string key  score : int  note : string }\n"
            f'segment tier "{texts["segment_label"]}" {{ top "{texts["member_label"]}" : score >= THRESHOLD  '
            f'中间 "{middle}" : score >= 10  rest : otherwise }}\n'
            f'output message : string = "" "{texts["output_label"]}"\n'
            f'strategy m {{ when tier is top then message = "{texts["value"]}" }}\n')
    old = engine.compile_policy(base.replace("THRESHOLD", "80"), "<old>.rules")
    new = engine.compile_policy(base.replace("THRESHOLD", "50"), "<new>.rules")
    rows = [{"id": key.format(i=i), "score": i, "note": note} for i in range(100)]
    return engine.diff_policies(old, new, rows, as_of=AS_OF)


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = Counter(), set()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.attrs.update(name for name, _ in attrs)


def test_html_escapes_every_text_from_the_policy_and_the_data(tmp_path):
    impact = hostile_impact()
    assert impact.segments[0].changed == 30
    path = tmp_path / "hostile.html"
    engine.write_diff_html(impact, path)
    page = path.read_text(encoding="utf-8")
    for text in HOSTILE.values():
        assert text not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#x27;window.__pwned = 3&#x27;&gt;" in page
    assert "普通&lt;b&gt;客户&lt;/b&gt;" in page and "&lt;i&gt;50&lt;/i&gt;" in page
    found, plain = Tags(), Tags()
    found.feed(page)
    plain.feed(engine.render_diff_html(hostile_impact(harmless=True)))
    # the markup in the texts added no element and no attribute: the page has the harmless page's structure
    assert found.tags == plain.tags and found.attrs == plain.attrs
    assert not {"script", "img", "i", "iframe", "link"} & set(found.tags)
    assert not any(a.startswith("on") for a in found.attrs)
    assert found.tags["svg"] == 2  # the size chart and the heatmap of the one segment
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temporary file left behind


# ---- the report in a real browser ----------------------------------------------------------------------

def test_report_charts_render_in_headless_chromium(tmp_path, old, new):
    impact = engine.diff_policies(old, new, DATA, as_of=AS_OF)
    page = tmp_path / "impact.html"
    engine.write_diff_html(impact, page)
    hostile = tmp_path / "hostile.html"
    engine.write_diff_html(hostile_impact(), hostile)
    driver = browser()
    try:
        driver.get(page.as_uri())
        sizes = driver.find_elements("css selector", "svg.chart.sizes")
        assert len(sizes) == len(impact.segments) == 3
        for svg in sizes:
            box = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];",
                                        svg)
            assert box[0] > 100 and box[1] > 40, box
            bars = svg.find_elements("css selector", "rect.bar")
            assert bars and all(b.size["height"] > 0 for b in bars)
        heatmaps = driver.find_elements("css selector", "svg.chart.heatmap")
        singles = [s for s in impact.segments if s.kind == "single"]
        assert len(heatmaps) == len(singles) == 2
        for svg, seg in zip(heatmaps, singles):
            assert svg.get_attribute("data-segment") == seg.segment
            assert svg.size["width"] > 100 and svg.size["height"] > 100
            cells = svg.find_elements("css selector", "rect.cell")
            assert len(cells) == len(seg.rows) * len(seg.columns)
            assert all(c.size["width"] > 10 and c.size["height"] > 10 for c in cells)
            counts = [int(c.get_attribute("data-count")) for c in cells]
            assert counts == [n for row in seg.matrix for n in row]
        tier = heatmaps[0]
        assert len(tier.find_elements("css selector", "rect.cell")) == 25  # A B C D (none) × the same
        assert "重要客户" in tier.get_attribute("textContent")
        driver.get(hostile.as_uri())
        assert driver.execute_script("return window.__pwned === undefined")
        body = driver.find_element("tag name", "body").text
        assert HOSTILE["policy_label"] in body and "普通<b>客户</b>" in body
        assert len(driver.find_elements("css selector", "svg.chart.heatmap rect.cell")) == 4 * 4
    finally:
        driver.quit()


def test_public_api_exports_the_diff():
    for name in ("diff_policies", "load_old", "Impact", "DiffError", "render_diff", "render_diff_html",
                 "write_diff_html"):
        assert name in engine.__all__ and hasattr(engine, name)
    assert isinstance(engine.diff_policies(engine.load_policy(POLICY), engine.load_policy(POLICY), DATA,
                                           as_of=dt.date(2026, 11, 22)), engine.Impact)
