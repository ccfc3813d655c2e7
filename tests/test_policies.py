"""The shipped policies: each compiles cleanly, and its cases touch every segment member and
fire every strategy rule, so no part of a shipped policy goes untested."""
from pathlib import Path

import pytest

import engine
from engine.testing import read_cases, run_case_file

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted((ROOT / "policies").glob("*.rules"))


def test_every_policy_has_cases():
    assert len(POLICIES) >= 17
    missing = [p.name for p in POLICIES if not p.with_name(p.stem + ".cases.yaml").exists()]
    assert not missing


@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_cases_pass_and_cover_the_policy(path):
    cases_path = path.with_name(path.stem + ".cases.yaml")
    result = run_case_file(cases_path)
    assert result.error is None and result.passed, [c.problems for c in result.cases if not c.passed]
    doc = read_cases(cases_path)
    policy = engine.load_policy(path)
    if doc.get("stats"):
        policy = policy.with_stats(cases_path.parent / doc["stats"])
    seen_members: dict[str, set] = {s.name: set() for s in policy.plan.segments}
    fired: set[str] = set()
    for case in doc["cases"]:
        if "reject" in case:
            continue
        d = policy.evaluate(case["record"], as_of=case.get("as_of", doc.get("as_of")))
        for name, value in d.segments.items():
            seen_members[name].update(value if isinstance(value, list) else [value])
        fired.update(d.rules_fired)
    for step in policy.plan.segments:
        assert set(step.members) <= seen_members[step.name], f"{step.name}: no case for {set(step.members) - seen_members[step.name]}"
    unfired = [r.id for r in policy.plan.rules if r.id not in fired]
    assert not unfired, f"no case fires {unfired}"
    assert any("reject" in c for c in doc["cases"]), "no case of a rejected record"


def _samples():
    import importlib.util
    spec = importlib.util.spec_from_file_location("generate", ROOT / "examples" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATE = _samples()


def test_every_policy_has_sample_data():
    shipped = {p.stem for p in POLICIES} - {"rfm"}  # RFM runs on the real CDNOW customers
    assert shipped == set(GENERATE.SAMPLES)


@pytest.mark.parametrize("name", sorted(GENERATE.SAMPLES))
def test_policy_runs_on_its_sample_with_only_the_planted_rejects(name):
    policy = engine.load_policy(ROOT / "policies" / f"{name}.rules")
    result = engine.evaluate_file(policy, data=str(ROOT / "examples" / f"{name}.csv"), as_of="2026-11-22",
                                  sink=lambda rows, columns, fmt: list(rows))
    assert result.rejected == GENERATE.BAD_ROWS[name], [r.reason for r in result.rejects]
    assert result.rows_in == result.decided + result.rejected
    assert all(r.field and r.reason for r in result.rejects)
    assert [r.row for r in result.rejects] == list(range(result.rows_in - result.rejected, result.rows_in))
    for segment, counter in result.counts.items():
        assert sum(n for m, n in counter.items() if m is not None) > 0, f"{segment} is never set on the sample"


def test_rfm_runs_on_the_real_cdnow_customers():
    policy = engine.load_policy(ROOT / "policies" / "rfm.rules")
    result = engine.evaluate_file(policy, data=str(ROOT / "examples" / "cdnow_customers.csv"), as_of="1998-06-30",
                                  sink=lambda rows, columns, fmt: list(rows))
    assert (result.rows_in, result.rejected) == (23570, 0)
    assert result.counts["rfm"]["champions"] > 0 and result.counts["rfm"]["lost"] > 0


def test_catalog_is_up_to_date():
    import importlib.util
    spec = importlib.util.spec_from_file_location("catalog", ROOT / "docs" / "catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.catalog() == (ROOT / "docs" / "policies.md").read_text(encoding="utf-8"), \
        "docs/policies.md is stale: run `python docs/catalog.py`"
