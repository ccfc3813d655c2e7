"""`rules check` verification: every finding is true of the policy, and every witness shown is
confirmed by evaluating it through the public API, on shipped, broken and generated policies."""
import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from test_differential import policies, records

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "policies").glob("*.rules"))
BROKEN = sorted((ROOT / "tests" / "diagnostics").glob("[WEN]5*.rules"))


def findings(text: str, name: str = "v.rules") -> list[engine.Diagnostic]:
    source, diags = engine.check_text(text, name)
    assert not [d for d in diags if d.severity == "error" and not d.code.startswith("E5")], diags
    return diags


def confirm(text: str, diag: engine.Diagnostic) -> None:
    """A witness does what the finding says when evaluated like any record."""
    policy = engine.compile_policy(text, "v.rules", backend="interp")
    record, as_of = diag.witness["record"], diag.witness["as_of"]
    if policy.uses_population:
        policy = policy.with_stats(policy.fit([record], as_of)[0])
    decision = policy.evaluate(record, as_of=as_of)
    if diag.code == "W504":
        segment = diag.message.split("`")[1]
        assert decision.segments[segment] is None, (diag.message, record)
        assert not [r for r in decision.rules_fired if r.startswith(segment + ".")]
    else:  # E502, E503: the two rules named both held, and the record got a decision error
        a, b = diag.message.split("rules ")[-1].split(" (line")[0], diag.message.split(" and ")[1].split(" ")[0]
        if diag.code == "E503":
            a = diag.message.split("rows ")[1].split(" ")[0]
        assert a in decision.rules_fired and b in decision.rules_fired, (diag.message, record, decision.rules_fired)
        assert decision.errors


def never_fire(diags) -> set[str]:
    return {d.message.split(" ")[2 if d.message.startswith("strategy") else 1]
            for d in diags if d.code == "W501" and not d.message.startswith("`otherwise`")}


@pytest.mark.parametrize("path", SHIPPED + BROKEN, ids=lambda p: p.stem)
def test_witnesses_are_confirmed(path):
    text = path.read_text(encoding="utf-8")
    diags = findings(text, path.name)
    with_witness = [d for d in diags if d.code in ("W504", "E502", "E503")]
    for d in with_witness:
        assert d.witness is not None and "for example {" in d.help
        confirm(text, d)


def test_broken_policies_give_their_finding():
    for path in BROKEN:
        codes = {d.code for d in findings(path.read_text(encoding="utf-8"), path.name)}
        assert path.stem.split("_")[0] in codes, path.name


def case(body: str, fields: str) -> str:
    return f'policy v version "1"\ninput c {{ {fields} }}\n{body}\n'


EXACT = [
    # missing values: a comparison on a missing field is unknown, so only `is missing` closes the gap
    ("segment s { a : x > 5  b : x <= 5 }", "x : int?", {"W504"}),
    ("segment s { a : x > 5  b : x <= 5  c : x is missing }", "x : int?", set()),
    # enums: the members are all there is
    ("segment s { a : t in [red, green]  b : t = blue }", "t : enum(red, green, blue)", set()),
    ("segment s { a : t in [red, green] }", "t : enum(red, green, blue)", {"W504"}),
    # dates relative to the as-of date, and date constants
    ("segment s { new : days_since(d) <= 30  old : d < today - 30 days }", "d : date", set()),
    ("segment s { new : days_since(d) <= 30  old : d < today - 31 days }", "d : date", {"W504"}),
    ("segment s { a : d >= 2026-01-01  b : d > 2026-06-30 and d < 2026-07-02  c : otherwise }", "d : date", {"W501"}),
    # linear arithmetic and division by zero (missing, so neither rule holds)
    ("segment s { a : x + y > 10  b : x + y <= 10 }", "x : number  y : number", set()),
    ("segment s { a : x / y > 1  b : x / y <= 1 }", "x : number  y : int", {"W504"}),
    ("segment s unique { a : 2 * x >= 10  b : x < 5 }", "x : int", set()),
    ("segment s unique { a : 2 * x >= 10  b : x < 6 and x > 2  c : otherwise }", "x : int", {"E502"}),
    # strings: equality, membership, prefixes
    ('segment s { a : r = "北区"  b : r in ["北区", "南区"]  c : otherwise }', "r : string", set()),
    ('segment s { a : r in ["北区", "南区"]  b : r = "北区"  c : otherwise }', "r : string", {"W501"}),
    ('segment s unique { a : r starts_with "北"  b : r = "北区"  c : otherwise }', "r : string", {"E502"}),
    # booleans and any-tables
    ("segment s { a : f  b : not f }", "f : bool", set()),
    ("segment s { a : f  b : not f }", "f : bool?", {"W504"}),
    ("segment s any table (f, x) { true | > 1 => a  true | > 2 => a  false | - => b }", "f : bool  x : int", {"W504"}),
    ("segment s any table (f, x) { true | > 1 => a  - | > 2 => b }", "f : bool  x : int", {"E503", "W504"}),
    # outputs and lets
    ("let unused = x + 1\noutput o : int = 0\nstrategy t { when x > 1 then o = 1 }", "x : int", {"W506"}),
    ("output o : int = 0\noutput p : int = 0\nstrategy t { when x > 1 then o = 1 }", "x : int", {"W506"}),
    ("output o : int = 0\nstrategy t { when x > 1 and x < 0 then o = 1 }", "x : int", {"W501", "W505"}),
]


@pytest.mark.parametrize("body, fields, expected", EXACT)
def test_exact_findings(body, fields, expected):
    text = case(body, fields)
    diags = findings(text)
    assert {d.code for d in diags} - {"N507"} == expected, [d.message for d in diags]
    assert not [d for d in diags if d.code == "N507"]
    for d in diags:
        if d.code in ("W504", "E502", "E503"):
            confirm(text, d)


@pytest.mark.parametrize("body, fields", [
    ('segment s unique { a : e matches "^a"  b : e ends_with "z"  c : otherwise }', "e : string"),
    ("let q = quintile(x)\nsegment s unique { a : q >= 3  b : q <= 3  c : otherwise }", "x : number"),
    ('segment s unique { a : tags contains "vip"  b : len(tags) > 2  c : otherwise }', "tags : list(string)"),
    ('segment s unique { a : len(e) > 3  b : e = "abc"  c : otherwise }', "e : string"),
])
def test_beyond_the_analysis_is_not_guessed(body, fields):
    diags = findings(case(body, fields))
    assert [d.code for d in diags] == ["N507"], [d.message for d in diags]
    assert "not analysed" in diags[0].message and "does not model" in diags[0].message


def test_unsat_proofs_hold_through_opaque_parts():
    """Something impossible is proved impossible even when the rule also uses a regex."""
    diags = findings(case('segment s { a : x > 5 and e matches "^a"  b : x > 9 and x < 3  c : otherwise }',
                          "x : int  e : string"))
    assert [(d.code, "s.b" in d.message) for d in diags] == [("W501", True)]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(policies(), st.lists(records, min_size=1, max_size=8), st.dates(dt.date(2025, 1, 1), dt.date(2027, 3, 31)))
def test_generated_policies(text, batch, as_of):
    """On generated policies: verification never crashes, its witnesses are confirmed, and a rule it
    proves can never fire does not fire on any record."""
    diags = findings(text, "gen.rules")
    for d in diags:
        if d.code in ("W504", "E502", "E503"):
            confirm(text, d)
    never = never_fire(diags)
    policy = engine.compile_policy(text, "gen.rules")
    for result in policy.evaluate_many(batch, as_of=as_of):
        if isinstance(result, engine.Decision):
            assert not never & set(result.rules_fired), (never, result.rules_fired)


def run(*args, cwd=ROOT):
    return subprocess.run(["rules", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_strict_and_json():
    path = "tests/diagnostics/W504_no_rule_takes.rules"
    plain, strict = run("check", path), run("check", "--strict", path)
    assert plain.returncode == 0 and "1 warning(s)" in plain.stdout
    assert strict.returncode == 1 and "--strict" in strict.stdout
    overlap = run("check", "--format", "json", "tests/diagnostics/E502_unique_overlap.rules")
    assert overlap.returncode == 1
    data = json.loads(overlap.stdout)
    assert [d["code"] for d in data] == ["E502"] and data[0]["witness"]["record"]["orders_12m"] >= 12
    note = run("check", "tests/diagnostics/N507_regex_not_analysed.rules")
    assert note.returncode == 0 and "note[N507]" in note.stdout and "1 not analysed" in note.stdout
    assert "Traceback" not in plain.stderr + strict.stderr + overlap.stderr + note.stderr
