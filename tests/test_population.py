"""quintile / ntile / percent_rank: their definition, batch vs frozen stats, and the checker's rules."""
import pytest

import engine
from conftest import AS_OF

POLICY = """policy rank version "1"
input c { id : string key  spend : number?  orders : int }
let q = quintile(spend)
let d = ntile(10, orders)
let pr = percent_rank(spend)
let top = q = 5
segment tier { top : top  bottom : q = 1  middle : q is present  unknown : otherwise }
output rank : number? combine first
output tile : int?
strategy s { when true then rank = pr, tile = d }
"""


def batch(make, spends, orders=None):
    records = [{"id": str(i), "spend": s, "orders": (orders or [1] * len(spends))[i]} for i, s in enumerate(spends)]
    return list(make(POLICY).evaluate_many(records, as_of=AS_OF))


def test_quintiles_of_ten_values(make):
    out = batch(make, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    # cut points are the 2nd, 4th, 6th and 8th values: two values per fifth
    assert [d.segments["tier"] for d in out] == ["bottom"] * 2 + ["middle"] * 6 + ["top"] * 2
    assert [d.outputs["rank"] for d in out] == [i / 9 for i in range(10)]


def test_ties_share_a_tile_and_missing_stays_missing(make):
    out = batch(make, [5, 5, 5, 5, None, 1], orders=[1, 1, 1, 1, 1, 2])
    assert [d.segments["tier"] for d in out] == ["middle"] * 4 + ["unknown", "bottom"]
    assert out[4].outputs["rank"] is None
    # percent_rank: values strictly below, over N - 1 (N = 5 present values)
    assert out[0].outputs["rank"] == 1 / 4 and out[5].outputs["rank"] == 0.0
    # ntile(10) of [1, 1, 1, 1, 1, 2]: only the 9th cut point (the 6th value) is 2, so 2 lands in tile 9
    assert [d.outputs["tile"] for d in out] == [1, 1, 1, 1, 1, 9]


def test_rejected_records_are_not_part_of_the_population(make):
    records = [{"id": "a", "spend": 1, "orders": 1}, {"id": "b", "spend": "lots", "orders": 1},
               {"id": "c", "spend": 2, "orders": 1}]
    out = list(make(POLICY).evaluate_many(records, as_of=AS_OF))
    assert [r.ok for r in out] == [True, False, True]
    assert out[2].outputs["rank"] == 1.0


def test_single_records_need_stats(make, tmp_path):
    policy = make(POLICY)
    with pytest.raises(engine.PopulationError, match="rules fit"):
        policy.evaluate({"id": "x", "spend": 3, "orders": 1}, as_of=AS_OF)
    records = [{"id": str(i), "spend": i * 10, "orders": i} for i in range(1, 11)]
    stats = tmp_path / "rank.stats.json"
    assert policy.save_stats(records, stats, as_of=AS_OF) == 10
    frozen = policy.with_stats(stats)
    # a single record is ranked against the frozen batch, exactly as inside it
    in_batch = {d.key: d for d in policy.evaluate_many(records, as_of=AS_OF)}
    for r in records:
        assert frozen.evaluate(r, as_of=AS_OF).to_dict() | {"row": None} == in_batch[r["id"]].to_dict() | {"row": None}
    assert frozen.evaluate({"id": "big", "spend": 10_000, "orders": 99}, as_of=AS_OF).outputs == {"rank": 1.0, "tile": 10}


def test_stats_of_another_policy_are_refused(make, tmp_path):
    policy = make(POLICY)
    stats = tmp_path / "s.json"
    policy.save_stats([{"id": "1", "spend": 1, "orders": 1}], stats, as_of=AS_OF)
    other = make(POLICY.replace("ntile(10", "ntile(4"))
    with pytest.raises(engine.PopulationError, match="run `rules fit` again"):
        other.with_stats(stats)


@pytest.mark.parametrize("body,message", [
    ("segment s { a : quintile(spend) = 5 }", "may only be used in a `let`"),
    ("let a = quintile(quintile(spend))", "cannot be nested"),
    ("let a = quintile(spend)\nlet b = percent_rank(later)\nlet later = (spend ?? 0) * 2", None),
    ("let a = quintile(spend)\nlet b = ntile(3, a)", "cannot be nested"),
    ("let a = ntile(orders, spend)", "whole number of tiles"),
    ("let a = quintile(id)", "expects a number to rank"),
])
def test_checker_rules(body, message):
    text = "policy p version \"1\"\ninput c { id : string key  spend : number?  orders : int }\n" + body
    if message is None:
        engine.compile_policy(text)
        return
    with pytest.raises(engine.PolicyError) as err:
        engine.compile_policy(text)
    assert any(d.code in ("E108", "E204") for d in err.value.diagnostics)
    assert message in err.value.render()


def test_population_argument_cannot_read_a_segment():
    text = """policy p version "1"
input c { spend : number }
segment g { hi : spend > 10  lo : otherwise }
let r = quintile(g)
"""
    with pytest.raises(engine.PolicyError, match="cannot use segment `g`"):
        engine.compile_policy(text)
