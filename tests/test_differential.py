"""Differential test: random well-typed policies and records; the reference interpreter and the
generated Python must give identical decisions and identical rejects.

Policies are generated as text, so the parser and checker run on every one of them.
"""
import datetime as dt
import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import engine

FIELDS = {
    "k": ("string", False), "i1": ("int", False), "i2": ("int", True), "n1": ("number", True),
    "n2": ("number", False), "b1": ("bool", True), "s1": ("string", True), "d1": ("date", True),
    "d2": ("date", False), "e1": ("enum", True), "tags": ("list", True), "金额": ("number", True),
}
SCHEMA = """input c {
  k    : string key
  i1   : int
  i2   : int?
  n1   : number?
  n2   : number = 1.5
  b1   : bool?
  s1   : string?
  d1   : date?
  d2   : date
  e1   : enum(红, green, blue)?
  tags : list(string)?
  金额 : number? from "消费金额"
}
"""
ENUM = ("红", "green", "blue")
STRINGS = ["", "a", "ab", "零售", "retail_food", "Ünï", "🙂x", "A1", "  "]
PATTERNS = ['"^a"', '"[0-9]"', '"零"', '"^$"', '"(?i)RETAIL"']


class Gen:
    """Draws expressions of a wanted type from hypothesis' `draw`, knowing the lets and segments so far."""

    def __init__(self, draw):
        self.draw = draw
        self.lets: dict[str, str] = {}  # name -> type
        self.segs: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (hit, members)

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def fields(self, t):
        return [f for f, (ft, _) in FIELDS.items() if ft == t] + [n for n, lt in self.lets.items() if lt == t]

    def num(self, depth):
        leaf = [lambda: self.pick(self.fields("int") + self.fields("number")),
                lambda: self.pick(["0", "1", "2", "-3", "0.5", "10%", "1万", "2_000", "1.5", "100"])]
        if depth <= 0:
            return self.pick(leaf)()
        d = depth - 1
        forms = leaf + [
            lambda: f"({self.num(d)} {self.pick(['+', '-', '*', '/'])} {self.num(d)})",
            lambda: f"(-{self.num(d)})",
            lambda: f"{self.pick(['abs'])}({self.num(d)})",
            lambda: f"{self.pick(['min', 'max'])}({self.num(d)}, {self.num(d)})",
            lambda: f"round({self.num(d)}, {self.pick(['0', '1', '2'])})",
            lambda: f"coalesce({self.num(d)}, {self.num(d)})",
            lambda: f"({self.num(d)} ?? {self.num(d)})",
            lambda: f"{self.pick(['days_since', 'months_since'])}({self.date(d)})",
            lambda: f"len({self.str(d)})",
            lambda: f"({self.date(d)} - {self.date(d)})",
        ]
        return self.pick(forms)()

    def str(self, depth):
        leaf = [lambda: self.pick(self.fields("string")), lambda: json.dumps(self.pick(STRINGS), ensure_ascii=False)]
        if depth <= 0:
            return self.pick(leaf)()
        d = depth - 1
        return self.pick(leaf + [lambda: f"{self.pick(['lower', 'upper'])}({self.str(d)})",
                                 lambda: f"({self.str(d)} ?? {self.str(d)})"])()

    def date(self, depth):
        leaf = [lambda: self.pick(self.fields("date")), lambda: "today",
                lambda: self.pick(["2026-01-31", "2024-02-29", "2026-11-22", "1999-12-31"])]
        if depth <= 0:
            return self.pick(leaf)()
        d = depth - 1
        return self.pick(leaf + [
            lambda: f"({self.date(d)} {self.pick(['+', '-'])} {self.pick(['0', '1', '30', '400'])} "
                    f"{self.pick(['days', 'weeks'])})",
            lambda: f"({self.date(d)} ?? {self.date(d)})"])()

    def bool(self, depth):
        leaf = [lambda: self.pick(self.fields("bool") + ["true", "false"]),
                lambda: f"({self.pick(list(FIELDS))} is {self.pick(['missing', 'present', 'not missing'])})"]
        if depth <= 0:
            return self.pick(leaf)()
        d = depth - 1
        cmp = ["=", "!=", "<", "<=", ">", ">="]
        forms = leaf + [
            lambda: f"({self.num(d)} {self.pick(cmp)} {self.num(d)})",
            lambda: f"({self.str(d)} {self.pick(cmp)} {self.str(d)})",
            lambda: f"({self.date(d)} {self.pick(cmp)} {self.date(d)})",
            lambda: f"({self.bool(d)} {self.pick(['and', 'or'])} {self.bool(d)})",
            lambda: f"(not {self.bool(d)})",
            lambda: f"({self.num(d)} {self.pick(['in', 'not in'])} [{self.num(d)}, {self.num(d)}])",
            lambda: f"({self.num(d)} {self.pick(['between', 'not between'])} {self.num(d)} and {self.num(d)})",
            lambda: f"({self.str(d)} {self.pick(['starts_with', 'ends_with', 'contains'])} {self.str(d)})",
            lambda: f"({self.str(d)} matches {self.pick(PATTERNS)})",
            lambda: f"(e1 {self.pick(['is', '=', '!=', 'is not'])} {self.pick(ENUM)})",
            lambda: f"(e1 in [{self.pick(ENUM)}, {self.pick(ENUM)}])",
            lambda: f"(tags contains {json.dumps(self.pick(STRINGS), ensure_ascii=False)})",
            lambda: f"({self.bool(d)} = {self.bool(d)})",
        ]
        if any(hit != "all" for hit, _ in self.segs.values()):
            forms.append(self.seg_test)
        if any(hit == "all" for hit, _ in self.segs.values()):
            forms.append(self.has_test)
        return self.pick(forms)()

    def seg_test(self):
        name = self.pick([n for n, (hit, _) in self.segs.items() if hit != "all"])
        members = self.segs[name][1]
        if self.draw(st.booleans()):
            return f"({name} {self.pick(['is', '=', '!=', 'is not'])} {self.pick(members)})"
        return f"({name} in [{', '.join(self.draw(st.lists(st.sampled_from(members), min_size=1, max_size=3)))}])"

    def has_test(self):
        name = self.pick([n for n, (hit, _) in self.segs.items() if hit == "all"])
        return f"({name} has {self.pick(self.segs[name][1])})"

    def value(self, t, depth):
        return {"int": lambda: self.pick(["0", "1", "-2", "i1", "len(s1 ?? \"\")", "(i1 * 2)", "(i2 ?? 7)"]),
                "number": lambda: self.num(depth), "string": lambda: self.str(depth),
                "bool": lambda: self.bool(depth), "date": lambda: self.date(depth),
                "enum": lambda: self.pick(["lo", "mid", "hi"])}[t]()


@st.composite
def policies(draw):
    g = Gen(draw)
    depth = draw(st.integers(1, 3))
    parts = ['policy diff "差异测试"', 'version "1"', SCHEMA]
    for i in range(draw(st.integers(0, 3))):
        t = draw(st.sampled_from(["number", "bool", "string", "date"]))
        parts.append(f"let l{i} = {g.value(t, depth)}")
        g.lets[f"l{i}"] = t
    if draw(st.booleans()):
        parts.append(f"let rank = {draw(st.sampled_from(['quintile', 'percent_rank']))}({g.num(1)})")
        parts.append(f"let ranked = ntile(3, {g.num(1)})")
        g.lets["rank"] = "number"
        g.lets["ranked"] = "int"
    for i in range(draw(st.integers(1, 3))):
        hit = draw(st.sampled_from(["first", "unique", "any", "priority", "all"]))
        members = tuple(draw(st.lists(st.sampled_from(["m1", "m2", "m3", "成员"]), min_size=1, max_size=3, unique=True)))
        name = f"seg{i}"
        if draw(st.integers(0, 3)) == 0:
            cells = []
            for _ in range(draw(st.integers(1, 4))):
                c1 = draw(st.sampled_from(["-", "< 3", ">= 1万", "[1..5)", "(0..2]", "0, 1", "not 2", "10%"]))
                c2 = draw(st.sampled_from(["-", "红", "green, blue", "not 红"]))
                cells.append(f"  {c1} | {c2} => {draw(st.sampled_from(members))}")
            parts.append(f"segment {name} {hit}\ntable ({g.num(1)}, e1) members ({', '.join(members)}) {{\n"
                         + "\n".join(cells) + "\n}")
        else:
            rules = [f"  {draw(st.sampled_from(members))} : {g.bool(depth)}" for _ in range(draw(st.integers(1, 4)))]
            if draw(st.booleans()):
                rules.append(f"  {draw(st.sampled_from(members))} : otherwise")
            parts.append(f"segment {name} {hit} {{\n" + "\n".join(rules) + "\n}")
        used = []
        for line in parts[-1].splitlines():
            for m in members:
                if (f"=> {m}" in line or line.strip().startswith(f"{m} :")) and m not in used:
                    used.append(m)
        g.segs[name] = (hit, tuple(m for m in members if m in used) or members)
    outputs = []
    for i in range(draw(st.integers(1, 4))):
        t = draw(st.sampled_from(["int", "number", "string", "bool", "date", "enum"]))
        combines = {"int": ["first", "last", "sum", "min", "max", "count", "list"],
                    "number": ["first", "last", "sum", "min", "max", "list"],
                    "date": ["first", "last", "min", "max"]}.get(t, ["first", "last", "list"])
        combine = draw(st.sampled_from(combines))
        decl = "enum(lo, mid, hi)" if t == "enum" else t
        if combine == "count":
            decl, t = "int", "int"
        has_default = draw(st.booleans())
        default = {"int": "5", "number": "-1.5", "string": '"默认"', "bool": "false", "date": "2026-01-01",
                   "enum": "mid"}[t]
        clamp = " clamp -1 .. 2" if t in ("int", "number") and combine != "list" and draw(st.booleans()) else ""
        if t == "int" and clamp:
            clamp = " clamp 0 .. 3"
        opt = "" if has_default or combine in ("count", "list") else "?"
        parts.append(f"output o{i} : {decl}{opt}" + (f" = {default}" if has_default else "")
                     + f" combine {combine}{clamp}")
        outputs.append((f"o{i}", t))
    rules = []
    for _ in range(draw(st.integers(1, 4))):
        assigns = draw(st.lists(st.sampled_from(outputs), min_size=1, max_size=len(outputs), unique=True))
        rules.append(f"  when {g.bool(depth)} then " + ", ".join(f"{o} = {g.value(t, 1)}" for o, t in assigns))
    parts.append("strategy s {\n" + "\n".join(rules) + "\n}")
    single = [n for n, (hit, _) in g.segs.items() if hit != "all"]
    if single and draw(st.booleans()):
        seg = draw(st.sampled_from(single))
        o, t = draw(st.sampled_from(outputs))
        rows = [f"  {m} : {o} = {g.value(t, 1)}" for m in g.segs[seg][1]]
        parts.append(f"strategy by {seg} {{\n" + "\n".join(rows) + "\n}")
    return "\n".join(parts) + "\n"


def _text_or(value, text):
    return st.one_of(st.just(value), st.just(text))


records = st.fixed_dictionaries({
    "k": st.text(min_size=1, max_size=4),
    "i1": st.one_of(st.integers(-5, 20), st.integers(-5, 20), st.sampled_from(["0", "12", "-3", "1万", "2", "abc"])),
    "n2": st.one_of(st.none(), st.floats(-1e5, 1e5, allow_nan=False), st.integers(-3, 3), st.sampled_from(["0", "2.5"])),
    "d2": st.one_of(st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
                    st.sampled_from(["2026-02-28", "2026-11-21", "2025-12-31", "2026-13-45"])),
}, optional={
    "i2": st.one_of(st.none(), st.integers(-3, 3)),
    "n1": st.one_of(st.none(), st.floats(-1e4, 1e4, allow_nan=False), st.just(0), st.just(0.0), st.just("")),
    "b1": st.one_of(st.none(), st.booleans(), st.sampled_from(["true", "否", "1", "no", "maybe"])),
    "s1": st.one_of(st.none(), st.sampled_from(STRINGS), st.text(max_size=5)),
    "d1": st.one_of(st.none(), st.dates(dt.date(2020, 1, 1), dt.date(2027, 12, 31)), st.just("2026/01/31")),
    "e1": st.one_of(st.none(), st.sampled_from(ENUM + ENUM + ("purple",))),
    "tags": st.one_of(st.none(), st.lists(st.sampled_from(STRINGS), max_size=3), st.just("a;零售")),
    "消费金额": st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False), st.just("10万")),
})


def decide(text, batch, as_of, backend):
    policy = engine.compile_policy(text, "diff.rules", backend=backend)
    return [json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True, default=str)
            for r in policy.evaluate_many(batch, as_of=as_of)]


@settings(max_examples=500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(policies(), st.lists(records, min_size=1, max_size=6), st.dates(dt.date(2025, 1, 1), dt.date(2027, 3, 31)))
@example(
    'policy e version "1"\n' + SCHEMA + 'let q = n1 / (i2 ?? 0)\nsegment u unique { a : not (q > 1 or b1)  b : i1 > 0 }\n'
    'segment y any { m : i1 > 1  m : i1 > 2  n : i1 > 3 }\n'
    'output t : number = 0 combine sum clamp -1 .. 2\noutput l : number combine list\n'
    'strategy s { when true then t = -5, l = q  when i1 > 0 then t = 1, l = n1 }\n',
    [{"k": "a", "i1": 5, "d2": "2026-01-01", "n1": 3, "i2": 0}, {"k": "b", "i1": 0, "d2": "2026-01-01"}],
    dt.date(2026, 11, 22))
def test_backends_agree(text, batch, as_of):
    assert decide(text, batch, as_of, "interp") == decide(text, batch, as_of, "pycode")
