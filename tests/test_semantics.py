"""The language's meaning, checked on every backend: missing values, division, hit policies, outputs."""
import datetime as dt

import pytest

import engine

from conftest import AS_OF

HEADER = """policy t version "1"
input r {
  id : string key
  a : number?
  b : number?
  n : int?
  s : string?
  d : date?
  e : enum(x, y, z)?
  flag : bool?
  tags : list(string)?
}
"""


def let_value(make, expr: str, **record):
    """The value of one expression, read back through an output."""
    p = make(HEADER + f"let v = {expr}\noutput out : {_type_of(expr)}? \nstrategy s {{ when true then out = v }}\n")
    return p.evaluate({"id": "r1", **record}, as_of=AS_OF).outputs["out"]


def _type_of(expr: str) -> str:
    return "bool" if any(op in expr for op in (" and ", " or ", "not ", "<", ">", "=", " in ", "between", " is ",
                                                "starts_with", "ends_with", "contains", "matches", "has")) else "number"


def cond(make, expr: str, **record):
    """True / False / None (unknown) for a condition, via `is true` style probing with two segments."""
    p = make(HEADER + f"""
segment t {{ yes : {expr} }}
segment f {{ yes : not ({expr}) }}
""")
    d = p.evaluate({"id": "r1", **record}, as_of=AS_OF)
    if d.segments["t"] == "yes":
        return True
    if d.segments["f"] == "yes":
        return False
    return None


@pytest.mark.parametrize("expr,record,want", [
    ("a > 1", {"a": 2}, True),
    ("a > 1", {}, None),
    ("a > 1 and b > 1", {"a": 0}, False),  # unknown and false is false
    ("a > 1 and b > 1", {"a": 2}, None),
    ("a > 1 or b > 1", {"a": 2}, True),  # unknown or true is true
    ("a > 1 or b > 1", {"a": 0}, None),
    ("not (a > 1)", {}, None),
    ("a is missing", {}, True),
    ("a is present", {"a": 0}, True),
    ("a is not missing", {}, False),
    ("a / b > 1", {"a": 1, "b": 0}, None),  # division by zero is missing
    ("(a / b) is missing", {"a": 1, "b": 0}, True),
    ("(a / b ?? 7) = 7", {"a": 1, "b": 0}, True),
    ("a in [1, 2]", {"a": 2}, True),
    ("a in [1, 2]", {}, None),
    ("a not in [1, 2]", {"a": 3}, True),
    ("a in [1, b]", {"a": 3}, None),  # no match and a missing item: unknown, as SQL IN
    ("a in [3, b]", {"a": 3}, True),
    ("a between 1 and 10", {"a": 10}, True),
    ("a between 1 and 10", {"a": 10.5}, False),
    ("a not between 1 and 10", {"a": 0}, True),
    ("s starts_with \"零售\"", {"s": "零售-食品"}, True),
    ("s ends_with \"食品\"", {"s": "零售-食品"}, True),
    ("s contains \"-\"", {"s": "零售-食品"}, True),
    ("s contains \"-\"", {}, None),
    ("s matches \"^1[3-9]\\d{9}$\"", {"s": "13912345678"}, True),
    ("s matches \"^1[3-9]\\d{9}$\"", {"s": "12912345678"}, False),
    ("lower(s) = \"abc\"", {"s": "AbC"}, True),
    ("upper(s) = \"ABC\"", {"s": "abc"}, True),
    ("len(s) = 4", {"s": "零售食品"}, True),
    ("e is x", {"e": "x"}, True),
    ("e = y", {"e": "x"}, False),
    ("e in [x, z]", {"e": "z"}, True),
    ("e != x", {}, None),
    ("e = \"x\"", {"e": "x"}, True),
    ("flag", {"flag": True}, True),
    ("flag and a > 0", {"a": 1}, None),
    ("d < 2026-01-01", {"d": "2025-12-31"}, True),
    ("d > today - 30 days", {"d": "2026-11-01"}, True),
    ("d > today - 4 weeks", {"d": "2026-10-20"}, False),
    ("days_since(d) = 21", {"d": "2026-11-01"}, True),
    ("months_since(d) = 10", {"d": "2026-01-15"}, True),
    ("months_since(d) = 9", {"d": "2026-01-23"}, True),
    ("today - d = 21", {"d": "2026-11-01"}, True),
    ("tags contains \"vip\"", {"tags": ["a", "vip"]}, True),
    ("tags contains \"vip\"", {"tags": "a;b"}, False),
    ("n * 2 = 4", {"n": 2}, True),
    ("-n = -2", {"n": 2}, True),
    ("abs(-a) = 2.5", {"a": 2.5}, True),
    ("min(a, b) = 1", {"a": 1, "b": 3}, True),
    ("max(a, b) = 3", {"a": 1, "b": 3}, True),
    ("max(a, b) = 3", {"a": 1}, None),  # missing if any argument is missing
    ("round(a, 1) = 2.3", {"a": 2.25}, True),  # half away from zero, as SQL
    ("round(a) = -3", {"a": -2.5}, True),
    ("coalesce(a, b, 5) = 5", {}, True),
    ("a ?? b ?? 9 = 9", {}, True),
    ("a > 1万", {"a": 10001}, True),
    ("a >= 1.5亿", {"a": 150_000_000}, True),
    ("a = 10%", {"a": 0.1}, True),
    ("a = 100_000", {"a": 100000}, True),
])
def test_condition(make, expr, record, want):
    assert cond(make, expr, **record) is want


def test_division_and_widening(make):
    p = make(HEADER + """
let ratio = a / b
output r : number?
output k : number = 0
strategy s { when true then r = ratio, k = n }
""")
    d = p.evaluate({"id": "1", "a": 1, "b": 4, "n": 3}, as_of=AS_OF)
    assert d.outputs == {"r": 0.25, "k": 3.0}
    assert isinstance(d.outputs["k"], float)  # an int stored in a number output is a number
    d = p.evaluate({"id": "1", "a": 1, "b": 0}, as_of=AS_OF)
    assert d.outputs == {"r": None, "k": 0.0}


POLICIES = """policy hp version "1"
input r { id : string key  x : int  y : int? }
segment f first { hi : x > 10  mid : x > 5  lo : otherwise }
segment u unique { a : x > 10  b : x > 5 }
segment an any table (x > 5, x > 10) { true | - => big  - | true => big  false | - => small }
segment p priority table (x) members (gold, silver, bronze) { >= 1 => bronze  >= 5 => silver  >= 10 => gold }
segment al all { big : x > 5  odd : x = 1 or x = 3 or x = 7 or x = 11  none_of_them : otherwise }
segment mis first { a : y > 0 }
"""


@pytest.mark.parametrize("x,want", [
    (11, {"f": "hi", "u": None, "an": "big", "p": "gold", "al": ["big", "odd"], "mis": None}),
    (7, {"f": "mid", "u": "b", "an": "big", "p": "silver", "al": ["big", "odd"], "mis": None}),
    (3, {"f": "lo", "u": None, "an": "small", "p": "bronze", "al": ["odd"], "mis": None}),
    (0, {"f": "lo", "u": None, "an": "small", "p": None, "al": ["none_of_them"], "mis": None}),
])
def test_hit_policies(make, x, want):
    d = make(POLICIES).evaluate({"id": "1", "x": x}, as_of=AS_OF)
    assert d.segments == want


def test_unique_conflict_is_a_decision_error(make):
    d = make(POLICIES).evaluate({"id": "1", "x": 11}, as_of=AS_OF)
    assert d.segments["u"] is None
    assert any("u.a" in e and "u.b" in e and "unique" in e for e in d.errors)
    assert "u.a" in d.rules_fired and "u.b" in d.rules_fired


def test_any_conflict_names_both_rules(make):
    p = make("""policy t version "1"
input r { x : int }
segment g any { a : x > 1  b : x > 2  a : x > 3 }
""")
    assert p.evaluate({"x": 2}, as_of=AS_OF).segments["g"] == "a"
    d = p.evaluate({"x": 5}, as_of=AS_OF)
    assert d.segments["g"] is None and "g.a" in d.errors[0] and "g.b" in d.errors[0]
    assert p.evaluate({"x": 5}, as_of=AS_OF).key is None


OUTPUTS = """policy o version "1"
input r { x : int }
output total : number = 0 combine sum clamp 0 .. 15%
output first_set : string? combine first
output last_set : string? combine last
output least : int? combine min
output most : int? combine max
output n_rules : int combine count
output tracks : string combine list
output visits : int = 60 "回访间隔(天)"
strategy a {
  when x > 0 then total = 10%, first_set = "a1", last_set = "a1", least = 5, most = 5, n_rules = 1, tracks = "开场"
  when x > 1 then total = 10%, first_set = "a2", last_set = "a2", least = 3, most = 9, n_rules = 1, tracks = "跟进"
}
strategy b {
  when x > 2 then total = -50%, last_set = "b1", least = x, tracks = "FAB"
}
"""


@pytest.mark.parametrize("x,want", [
    (0, {"total": 0.0, "first_set": None, "last_set": None, "least": None, "most": None, "n_rules": 0,
         "tracks": [], "visits": 60}),
    (1, {"total": 0.1, "first_set": "a1", "last_set": "a1", "least": 5, "most": 5, "n_rules": 1,
         "tracks": ["开场"], "visits": 60}),
    (2, {"total": 0.15, "first_set": "a1", "last_set": "a2", "least": 3, "most": 9, "n_rules": 2,
         "tracks": ["开场", "跟进"], "visits": 60}),  # 20% clamped to 15%
    (4, {"total": 0.0, "first_set": "a1", "last_set": "b1", "least": 3, "most": 9, "n_rules": 2,
         "tracks": ["开场", "跟进", "FAB"], "visits": 60}),  # -30% clamped to 0
])
def test_combine_clamp_default(make, x, want):
    assert make(OUTPUTS).evaluate({"x": x}, as_of=AS_OF).outputs == want


def test_strategy_by_and_table(make):
    p = make("""policy t version "1"
input r { count : int from "客户数"  margin : enum(low, medium, high) }
""".replace("count :", "customers :") + """
segment size { many : customers >= 100  few : otherwise }
output contact_model : enum(basic, reactive, partnership)?
output visits_per_year : int = 0
strategy relationship_contact table (size, margin) -> (contact_model, visits_per_year) {
  many | low    => basic,       0
  many | medium => reactive,    1
  few  | high   => partnership, 12
}
output note : string = ""
strategy by size { many : note = "群体"  few : note = "一对一" }
""")
    d = p.evaluate({"客户数": "250", "margin": "medium"}, as_of=AS_OF)
    assert d.segments["size"] == "many"
    assert d.outputs == {"contact_model": "reactive", "visits_per_year": 1, "note": "群体"}
    assert d.rules_fired == ["size.many", "relationship_contact.2", "by_size.many"]
    d = p.evaluate({"customers": 3, "margin": "low"}, as_of=AS_OF)
    assert d.outputs == {"contact_model": None, "visits_per_year": 0, "note": "一对一"}


def test_decision_table_cells(make):
    p = make("""policy t version "1"
input r { a : int?  s : string?  e : enum(p, q, r)? }
segment g first table (a, s, e) {
  [1..5]   | -            | -     => closed
  (5..10)  | "x", "y"     | -     => open_range
  >= 10    | not "x"      | not r => big
  -        | -            | p, q  => by_enum
  -        | -            | -     => rest
}
""")
    ev = lambda **r: p.evaluate(r, as_of=AS_OF).segments["g"]  # noqa: E731
    assert ev(a=1) == "closed" and ev(a=5) == "closed"
    assert ev(a=6, s="y") == "open_range" and ev(a=10, s="z", e="p") == "big"
    assert ev(a=10, s="x", e="p") == "by_enum"  # not "x" fails
    assert ev(a=10, s="z", e="r") == "rest"
    assert ev(e="q") == "by_enum"  # `-` holds on missing; the range on a missing `a` is unknown
    assert ev() == "rest"


def test_today_and_as_of_recorded(make):
    p = make("""policy t version "1"
input r { d : date }
let age = days_since(d)
segment fresh { yes : age <= 7  no : otherwise }
""")
    assert p.evaluate({"d": dt.date(2026, 11, 20)}, as_of="2026-11-22").segments["fresh"] == "yes"
    later = p.evaluate({"d": dt.date(2026, 11, 20)}, as_of=dt.date(2026, 12, 31))
    assert later.segments["fresh"] == "no" and later.as_of == dt.date(2026, 12, 31)
    assert p.evaluate({"d": dt.date.today()}).as_of == dt.date.today()


def test_date_shift_out_of_calendar_is_missing(make):
    p = make("""policy t version "1"
input r { d : date }
segment g { far : d + 3650000 days > 2026-01-01  near : otherwise }
""")
    assert p.evaluate({"d": "9990-01-01"}, as_of=AS_OF).segments["g"] == "near"


def test_member_may_share_name_with_field(make):
    p = make("""policy t version "1"
input r { A : int  tier_hint : enum(A, B) }
segment tier { A : A > 10  B : otherwise }
segment echo { same : tier = A and tier_hint = A  other : otherwise }
""")
    d = p.evaluate({"A": 11, "tier_hint": "A"}, as_of=AS_OF)
    assert d.segments == {"tier": "A", "echo": "same"}


def test_segment_dependency_order_is_free(make):
    p = make("""policy t version "1"
input r { x : int }
segment late { yes : early is hi  no : otherwise }
let twice = x * 2
segment early { hi : twice > 10  lo : otherwise }
""")
    assert p.evaluate({"x": 6}, as_of=AS_OF).segments == {"late": "yes", "early": "hi"}


def test_clamp_keeps_an_int_output_an_int(make):
    p = make('policy t version "1"\ninput r { x : int }\noutput n : int = 0 combine sum clamp 0 .. 3\n'
             'strategy s { when x > 0 then n = x }\n')
    assert [p.evaluate({"x": x}, as_of=AS_OF).outputs["n"] for x in (5, 2, -1)] == [3, 2, 0]
    assert type(p.evaluate({"x": 5}, as_of=AS_OF).outputs["n"]) is int
    with pytest.raises(engine.PolicyError, match="E203"):
        make('policy t version "1"\ninput r { x : int }\noutput n : int = 0 clamp 0 .. 2.5\n')


def test_round_to_extreme_digits_does_not_crash(make):
    p = make('policy t version "1"\ninput r { x : number  d : int }\noutput y : number?\n'
             'strategy s { when true then y = round(x, d) }\n')
    assert [p.evaluate({"x": 2.5, "d": d}, as_of=AS_OF).outputs["y"] for d in (400, -400, 0)] == [2.5, 0.0, 3.0]
