"""Editor support (editors/): the JSON Schema for `*.cases.yaml` and the VS Code extension with its
TextMate grammar for `.rules`.

The grammar is run here by a small TextMate tokenizer (line by line, `match` and `begin`/`end` rules,
captures, the leftmost match winning and the earlier rule on a tie, as vscode-textmate does), and its
scopes are compared with the tokens of the engine's own lexer on every shipped policy. Where the
Oniguruma library is installed (VS Code's regex engine), the same tokenizer also runs on it and must
give the same scopes as with Python's `re`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import fnmatch
import json
import os
import re
import warnings
from pathlib import Path

import jsonschema
import pytest
import yaml

import engine
from engine.diagnostics import PolicyError
from engine.functions import REGISTRY
from engine.parser import _SUFFIX, KEYWORDS, _lark, normalize_full_width
from engine.testing import read_cases

ROOT = Path(__file__).resolve().parent.parent
EDITORS = ROOT / "editors"
SCHEMA_PATH = EDITORS / "cases.schema.json"
VSCODE = EDITORS / "vscode"
GRAMMAR_PATH = VSCODE / "syntaxes" / "rules.tmLanguage.json"
POLICIES = sorted((ROOT / "policies").glob("*.rules"))
CASE_FILES = sorted((ROOT / "policies").glob("*.cases.yaml"))


# ---- the cases schema --------------------------------------------------------------------------

class _EditorLoader(yaml.SafeLoader):
    """YAML as an editor's YAML language server sees it: `2026-11-22` stays the text "2026-11-22"."""


_EditorLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def editor_yaml(text: str):
    return yaml.load(text, Loader=_EditorLoader)  # noqa: S506 - a SafeLoader subclass


@pytest.fixture(scope="module")
def schema():
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def errors_of(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(doc)]


def test_schema_is_a_valid_draft_2020_12_schema(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_schema_property_is_described(schema):
    undescribed = []

    def walk(node, where):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if not (isinstance(sub, dict) and sub.get("description", "").strip()):
                    undescribed.append(f"{where}/properties/{name}")
            for key, sub in node.items():
                walk(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}/{i}")

    walk(schema, "#")
    assert schema.get("description") and schema["$defs"]["case"].get("description")
    assert not undescribed, f"schema properties without a description: {undescribed}"


def test_schema_knows_every_key_the_loader_reads(schema):
    """The keys engine/testing.py reads from a cases file and from a case are exactly the schema's."""
    source = (ROOT / "engine" / "testing.py").read_text(encoding="utf-8")
    top = set(re.findall(r'doc(?:\.get\(|\[)"(\w+)"', source))
    case = set(re.findall(r'case\.get\("(\w+)"', source))
    assert top == set(schema["properties"]), f"engine/testing.py reads {sorted(top)} at the top level"
    assert case == set(schema["$defs"]["case"]["properties"]), f"engine/testing.py reads {sorted(case)} per case"


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_shipped_cases_files_validate(path, validator):
    doc = editor_yaml(path.read_text(encoding="utf-8"))
    assert not isinstance(doc.get("as_of"), dt.date), "the editor view keeps dates as text"
    assert errors_of(validator, doc) == []
    # the same file as `rules test` reads it (dates as dates) still has the shape the schema describes
    assert set(read_cases(path)) == set(doc)


def test_shipped_cases_files_exist():
    assert len(CASE_FILES) >= 17 and len(POLICIES) >= 17


def test_the_language_page_example_validates(validator):
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    examples = [b for b in blocks if "cases:" in b]
    assert examples, "docs/language.md has no cases example"
    for block in examples:
        assert errors_of(validator, editor_yaml(block)) == []


GOOD_CASES = """\
policy: customer_value.rules
as_of: 2026-11-22
cases:
  - name: a large retailer
    record: {customer_id: c1, annual_spend: 150000, orders_12m: 20, last_order_date: 2026-11-01}
    expect: {value_tier: A, discount: 0.10, flags: [], rules_fired: [value_tier.A]}
  - name: a bad order count
    as_of: 2026-01-31
    record: {customer_id: c2, orders_12m: abc}
    reject: orders_12m
"""


def test_a_good_document_validates(validator):
    assert errors_of(validator, editor_yaml(GOOD_CASES)) == []


def _broken(mutate):
    doc = editor_yaml(GOOD_CASES)
    mutate(doc)
    return doc


BROKEN = {
    "unknown top-level key": (lambda d: d.update(expected_cases=[]), "expected_cases"),
    "misspelt key in a case": (lambda d: d["cases"][0].update(expected=d["cases"][0].pop("expect")), "expected"),
    "case without record": (lambda d: d["cases"][0].pop("record"), "'record' is a required property"),
    "case without name": (lambda d: d["cases"][1].pop("name"), "'name' is a required property"),
    "cases not a list": (lambda d: d.update(cases={"name": "x", "record": {}, "expect": {}}), "is not of type 'array'"),
    "no cases": (lambda d: d.pop("cases"), "'cases' is a required property"),
    "record not a mapping": (lambda d: d["cases"][0].update(record=["c1", 150000]), "is not of type 'object'"),
    "neither expect nor reject": (lambda d: d["cases"][0].pop("expect"), "is not valid under any of the given schemas"),
    "both expect and reject": (lambda d: d["cases"][1].update(expect={"value_tier": "D"}), "is valid under each of"),
    "impossible as_of": (lambda d: d.update(as_of="2026-13-45"), "does not match"),
    "as_of not a date": (lambda d: d["cases"][1].update(as_of="yesterday"), "does not match"),
    "policy not a .rules file": (lambda d: d.update(policy="customer_value"), "does not match"),
    "rules_fired not a list": (lambda d: d["cases"][0]["expect"].update(rules_fired="value_tier.A"),
                               "is not of type 'array'"),
    "empty reject": (lambda d: d["cases"][1].update(reject=""), "should be non-empty"),
}


@pytest.mark.parametrize("what", BROKEN)
def test_broken_documents_are_rejected(what, validator):
    mutate, message = BROKEN[what]
    errors = errors_of(validator, _broken(mutate))
    assert errors, f"{what}: the schema accepted it"
    assert any(message in e for e in errors), f"{what}: expected an error mentioning {message!r}, got {errors}"


def test_schema_means_the_same_under_draft_7(schema):
    """VS Code's YAML extension validates with draft-7 semantics (it notes that 2020-12 is not fully
    supported), so the schema keeps to keywords that mean the same in both drafts."""
    draft7 = jsonschema.Draft7Validator(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    for path in CASE_FILES:
        assert errors_of(draft7, editor_yaml(path.read_text(encoding="utf-8"))) == [], path.name
    for what, (mutate, _) in BROKEN.items():
        assert errors_of(draft7, _broken(mutate)), f"{what}: accepted under draft 7"


# ---- the VS Code extension ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def package():
    return json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def grammar():
    return json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))


def test_package_json_references_files_that_exist(package):
    contributes = package["contributes"]
    for key in ("name", "version", "publisher"):
        assert package.get(key), f"package.json needs `{key}` to be installable"
    assert package["engines"]["vscode"]
    referenced = [lang["configuration"] for lang in contributes["languages"]]
    referenced += [g["path"] for g in contributes["grammars"]]
    referenced += [v["url"] for v in contributes["yamlValidation"]]
    assert len(referenced) == 3
    for ref in referenced:
        assert ref.startswith("./"), f"{ref}: must be relative to the extension folder"
        assert (VSCODE / ref).resolve().is_file(), f"package.json references {ref}, which does not exist"
        assert (VSCODE / ref).resolve().is_relative_to(VSCODE.resolve()), f"{ref}: outside the extension folder"


def test_package_json_wires_language_grammar_and_schema(package, grammar):
    (language,) = package["contributes"]["languages"]
    (contributed,) = package["contributes"]["grammars"]
    (validation,) = package["contributes"]["yamlValidation"]
    assert language["id"] == contributed["language"] == "rules"
    assert language["extensions"] == [".rules"]
    assert contributed["scopeName"] == grammar["scopeName"] == "source.rules"
    assert fnmatch.fnmatch("customer_value.cases.yaml", validation["fileMatch"])
    assert not fnmatch.fnmatch("customer_value.yaml", validation["fileMatch"])


def test_extension_schema_is_the_canonical_one():
    copy = VSCODE / "cases.schema.json"
    assert copy.read_bytes() == SCHEMA_PATH.read_bytes(), (
        "editors/vscode/cases.schema.json must be a copy of editors/cases.schema.json: "
        "cp editors/cases.schema.json editors/vscode/cases.schema.json")


def test_language_configuration(package):
    config = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert config["comments"] == {"lineComment": "#"}
    assert sorted(map(tuple, config["brackets"])) == [("(", ")"), ("[", "]"), ("{", "}")]
    pairs = {(p["open"], p["close"]) for p in config["autoClosingPairs"]}
    assert {("{", "}"), ("[", "]"), ("(", ")"), ('"', '"')} <= pairs


# ---- the grammar's shape -------------------------------------------------------------------------

RULE_KEYS = {"match", "name", "captures", "begin", "end", "beginCaptures", "endCaptures", "patterns",
             "include", "comment", "contentName"}


def _rules(grammar):
    """Every rule of the grammar, with where it sits."""
    def walk(node, where):
        yield where, node
        for i, sub in enumerate(node.get("patterns", [])):
            yield from walk(sub, f"{where}/patterns/{i}")
    for i, rule in enumerate(grammar["patterns"]):
        yield from walk(rule, f"patterns/{i}")
    for name, rule in grammar["repository"].items():
        yield from walk(rule, f"repository/{name}")


def test_grammar_regexes_compile_in_python_without_warnings(grammar):
    count = 0
    for where, rule in _rules(grammar):
        for key in ("match", "begin", "end"):
            if key in rule:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # e.g. FutureWarning for a nested set `[[`
                    try:
                        re.compile(rule[key])
                    except (re.error, FutureWarning) as exc:
                        pytest.fail(f"{where}/{key}: {rule[key]!r} does not compile: {exc}")
                count += 1
    assert count >= 40


def test_grammar_regexes_avoid_features_one_engine_lacks(grammar):
    """No possessive or atomic groups, \\h, \\p{..}, POSIX classes, \\A/\\z/\\G, nor lookbehind of varying width."""
    unportable = re.compile(r"\\[hHpPzZAGKRXO]|\[:\w+:\]|\(\?>|[*+?}]\+|\(\?<[!=][^)]*\|")
    for where, rule in _rules(grammar):
        for key in ("match", "begin", "end"):
            if key in rule:
                found = unportable.search(rule[key].replace("\\\\", ""))
                assert found is None, f"{where}/{key}: {found.group()!r} is not portable between Oniguruma and re"


def test_grammar_rules_use_only_known_keys_and_includes_resolve(grammar):
    assert grammar["scopeName"] == "source.rules"
    for where, rule in _rules(grammar):
        unknown = set(rule) - RULE_KEYS
        assert not unknown, f"{where}: keys the tokenizer does not know: {unknown}"
        assert ("begin" in rule) == ("end" in rule), f"{where}: begin without end or end without begin"
        if "include" in rule:
            ref = rule["include"]
            assert ref in ("$self", "$base") or (ref.startswith("#") and ref[1:] in grammar["repository"]), (
                f"{where}: include {ref!r} does not resolve to a repository entry")
        for key in ("captures", "beginCaptures", "endCaptures"):
            for group, capture in rule.get(key, {}).items():
                assert group.isdigit() and capture.get("name", "").endswith(".rules"), f"{where}/{key}/{group}"
        if "name" in rule:
            assert rule["name"].endswith(".rules"), f"{where}: scope {rule['name']!r} should end in .rules"


def test_every_repository_entry_is_used(grammar):
    text = GRAMMAR_PATH.read_text(encoding="utf-8")
    unused = [name for name in grammar["repository"] if f'"#{name}"' not in text]
    assert not unused, f"repository entries nothing includes: {unused}"


# ---- a TextMate tokenizer ----------------------------------------------------------------------

class PythonRegex:
    """Python's `re` as the tokenizer's regex engine."""

    name = "re"

    def __init__(self):
        self._cache: dict[str, re.Pattern] = {}

    def search(self, pattern: str, line: str, pos: int):
        compiled = self._cache.get(pattern)
        if compiled is None:
            compiled = self._cache[pattern] = re.compile(pattern)
        m = compiled.search(line, pos)
        if m is None:
            return None
        return [m.span(i) for i in range(compiled.groups + 1)]


class _Region(ctypes.Structure):
    _fields_ = [("allocated", ctypes.c_int), ("num_regs", ctypes.c_int), ("beg", ctypes.POINTER(ctypes.c_int)),
                ("end", ctypes.POINTER(ctypes.c_int)), ("history_root", ctypes.c_void_p)]


class Oniguruma:
    """The Oniguruma library (VS Code's regex engine, through vscode-oniguruma) via ctypes, compiled
    with the options vscode-oniguruma uses: ONIG_OPTION_CAPTURE_GROUP, UTF-8, ONIG_SYNTAX_DEFAULT."""

    name = "oniguruma"
    ONIG_OPTION_CAPTURE_GROUP = 1 << 8

    def __init__(self, path: str):
        lib = self.lib = ctypes.CDLL(path)
        vp = ctypes.c_void_p
        lib.onig_new.argtypes = [ctypes.POINTER(vp), vp, vp, ctypes.c_uint, vp, vp, vp]
        lib.onig_search.argtypes = [vp, vp, vp, vp, vp, ctypes.POINTER(_Region), ctypes.c_uint]
        lib.onig_region_new.restype = ctypes.POINTER(_Region)
        lib.onig_region_free.argtypes = [ctypes.POINTER(_Region), ctypes.c_int]
        lib.onig_initialize.argtypes = [vp, ctypes.c_int]
        self.utf8 = ctypes.addressof(ctypes.c_byte.in_dll(lib, "OnigEncodingUTF8"))
        self.syntax = ctypes.c_void_p.in_dll(lib, "OnigDefaultSyntax").value
        encodings = (vp * 1)(self.utf8)
        lib.onig_initialize(encodings, 1)
        self._cache: dict[str, ctypes.c_void_p] = {}
        self._last = None
        self.region = lib.onig_region_new()

    def compile(self, pattern: str) -> ctypes.c_void_p:
        if pattern not in self._cache:
            data = pattern.encode("utf-8")
            buf = ctypes.create_string_buffer(data, len(data))
            reg = ctypes.c_void_p()
            info = (ctypes.c_void_p * 3)()
            status = self.lib.onig_new(ctypes.byref(reg), ctypes.addressof(buf), ctypes.addressof(buf) + len(data),
                                       self.ONIG_OPTION_CAPTURE_GROUP, self.utf8, self.syntax, info)
            if status != 0:
                message = ctypes.create_string_buffer(256)
                self.lib.onig_error_code_to_str(message, status, info)
                raise ValueError(f"Oniguruma rejects {pattern!r}: {message.value.decode()}")
            self._cache[pattern] = reg
        return self._cache[pattern]

    def _line(self, line: str):
        """The line as UTF-8 in a C buffer, with the byte offset of each character and back (kept for the last line)."""
        if self._last is None or self._last[0] != line:
            data = line.encode("utf-8")
            starts = [0]
            for ch in line:
                starts.append(starts[-1] + len(ch.encode("utf-8")))
            self._last = (line, ctypes.create_string_buffer(data, len(data)), len(data), starts,
                          {b: i for i, b in enumerate(starts)})
        return self._last[1:]

    def search(self, pattern: str, line: str, pos: int):
        reg = self.compile(pattern)
        buf, size, starts, to_char = self._line(line)
        base = ctypes.addressof(buf)
        found = self.lib.onig_search(reg, base, base + size, base + starts[pos], base + size, self.region, 0)
        if found == -1:  # ONIG_MISMATCH
            return None
        if found < 0:
            raise RuntimeError(f"onig_search failed with {found} on {pattern!r}")
        region = self.region.contents
        return [(-1, -1) if region.beg[i] < 0 else (to_char[region.beg[i]], to_char[region.end[i]])
                for i in range(region.num_regs)]


def _find_oniguruma() -> str | None:
    name = ctypes.util.find_library("onig")
    if name:
        return name
    for candidate in ("libonig.so.5", "libonig.dylib"):
        try:
            ctypes.CDLL(candidate)
        except OSError:
            continue
        return candidate
    return None


class Tokenizer:
    """TextMate's algorithm over the lines of a text: at each position every pattern of the current
    rule (the `end` pattern of an open begin/end rule first) is searched from there; the match that
    starts leftmost wins, the earlier pattern on a tie. Gives each character its stack of scopes."""

    def __init__(self, grammar: dict, regex):
        self.grammar = grammar
        self.regex = regex
        self._flat: dict[int, list[dict]] = {}

    def _resolve(self, patterns: list[dict], seen: frozenset = frozenset()) -> list[dict]:
        out = []
        for rule in patterns:
            if "include" in rule:
                ref = rule["include"]
                target = self.grammar if ref in ("$self", "$base") else self.grammar["repository"][ref[1:]]
                if id(target) in seen:
                    continue
                rule, seen = target, seen | {id(target)}
            if "match" in rule or "begin" in rule:
                out.append(rule)
            else:
                out.extend(self._resolve(rule.get("patterns", []), seen | {id(rule)}))
        return out

    def patterns_of(self, rule: dict | None) -> list[dict]:
        key = id(rule)
        if key not in self._flat:
            self._flat[key] = self._resolve(self.grammar["patterns"] if rule is None else rule.get("patterns", []))
        return self._flat[key]

    @staticmethod
    def _paint(scopes, start, end, stack):
        for i in range(start, end):
            scopes[i] = stack

    @staticmethod
    def _captures(scopes, spans, captures):
        for group in sorted(captures, key=int):
            index = int(group)
            if index < len(spans) and spans[index][0] >= 0:
                for i in range(*spans[index]):
                    scopes[i] = scopes[i] + (captures[group]["name"],)

    def tokenize(self, text: str) -> list[tuple[str, ...]]:
        """The scopes of every character of the text, outermost first, the grammar's scopeName included."""
        base = (self.grammar["scopeName"],)
        stack = [(None, base, base)]  # (begin/end rule, scopes of the rule itself, scopes of its content)
        result: list[tuple[str, ...]] = []
        lines = text.split("\n")
        for n, raw in enumerate(lines):
            if n == len(lines) - 1 and raw == "":
                break
            line = raw + "\n"
            scopes: list[tuple[str, ...]] = [()] * len(line)
            pos = 0
            while True:
                rule, rule_scopes, content = stack[-1]
                candidates = ([("end", rule, rule["end"])] if rule is not None else [])
                candidates += [("begin" if "begin" in r else "match", r, r.get("begin", r.get("match")))
                               for r in self.patterns_of(rule)]
                best = None
                for kind, r, pattern in candidates:
                    spans = self.regex.search(pattern, line, pos)
                    if spans is not None and (best is None or spans[0][0] < best[2][0][0]):
                        best = (kind, r, spans)
                if best is None:
                    self._paint(scopes, pos, len(line), content)
                    break
                kind, r, spans = best
                start, end = spans[0]
                self._paint(scopes, pos, start, content)
                if kind == "end":
                    self._paint(scopes, start, end, rule_scopes)
                    self._captures(scopes, spans, rule.get("endCaptures", rule.get("captures", {})))
                    stack.pop()
                elif start == end:
                    raise AssertionError(f"line {n + 1}: {kind} {r.get(kind)!r} matched the empty string at {start}")
                else:
                    own = content + ((r["name"],) if "name" in r else ())
                    self._paint(scopes, start, end, own)
                    if kind == "match":
                        self._captures(scopes, spans, r.get("captures", {}))
                    else:
                        self._captures(scopes, spans, r.get("beginCaptures", r.get("captures", {})))
                        inner = own + ((r["contentName"],) if "contentName" in r else ())
                        stack.append((r, own, inner))
                pos = end
                if pos >= len(line) and kind != "end":
                    break
            result.extend(scopes if n < len(lines) - 1 else scopes[:-1])
        return result


@pytest.fixture(scope="module")
def tokenizer(grammar):
    return Tokenizer(grammar, PythonRegex())


class Scoped:
    """A tokenized text, asked about the scopes of its substrings."""

    def __init__(self, text: str, scopes: list[tuple[str, ...]]):
        assert len(scopes) == len(text)
        self.text, self.scopes = text, scopes

    def at(self, needle: str, nth: int = 0, after: str | None = None) -> set[str]:
        """The scopes every character of the nth occurrence of `needle` (after `after`) carries."""
        start = self.text.index(after) + len(after) if after else 0
        for _ in range(nth + 1):
            found = self.text.index(needle, start)
            start = found + 1
        return set.intersection(*(set(s) for s in self.scopes[found:found + len(needle)]))


def scoped(tokenizer, text: str) -> Scoped:
    return Scoped(text, tokenizer.tokenize(text))


def has(scopes: set[str], prefix: str) -> bool:
    return any(s.startswith(prefix) for s in scopes)


# A policy with every construct of docs/language.md; test_sample_policy_compiles keeps it valid.
SAMPLE = r'''# every construct, for the highlighting tests
policy sample "样例" version "1"
input c {
  id      : string key
  spend   : number  "消费额"
  orders  : int from "订单数"
  joined  : date?
  tier    : enum(gold, silver)
  tags    : list(string)
  vip     : bool = false
  note    : string? pii
}
let since = days_since(joined)
let per = spend / max(orders, 1) ?? 0
let recent = joined >= today - 4 weeks and joined < 2026-11-22 + 30 days
segment band "档位" unique {
  big "大客户" : spend >= 1.5亿 or spend >= 10万 and per > 20_000
  low : spend < 3_000 or note matches "\d+\"x\\\\"
  none : otherwise
}
segment grid priority
table (orders, spend) members (vip_row, regular, light) {
  >= 12   | >= 10万      => vip_row "大客户"
  [6..12) | not < 2万    => regular
  -       | (1万..10万]  => regular
  -       | -            => light
}
segment flags all { north : tier in [gold] and id starts_with "n"  aged : joined is not missing }
output discount : number = 0 combine sum clamp 0 .. 15%
output plan : string? "方案"
output hits : int = 0 combine count
strategy pricing {
  when band is big and not (tags contains "x") then discount = 10%, hits = 1
}
strategy by band { big : plan = "A"  low : plan = "B"  none : plan = "C" }
strategy grid_plan table (band) -> (plan) {
  big => "大"
}
'''

# The full-width example of docs/language.md: Chinese input-method punctuation read as ASCII.
FULL_WIDTH = """policy 全角 version "1"
input 客户 { 消费额 ： number  等级 ： enum（金，银） }
segment 档位 { 高 “高价值” ： 消费额 ＞＝ 10万  低 ： otherwise }
"""


def test_sample_policies_compile():
    engine.compile_policy(SAMPLE, "sample.rules")
    engine.compile_policy(FULL_WIDTH, "full_width.rules")


def test_customer_value_scopes(tokenizer):
    text = (ROOT / "policies" / "customer_value.rules").read_text(encoding="utf-8")
    s = scoped(tokenizer, text)
    assert "keyword.other.declaration.segment.rules" in s.at("segment", after="the first rule that holds wins\n")
    assert "entity.name.type.segment.rules" in s.at("value_tier", after="segment ")
    assert "entity.name.type.policy.rules" in s.at("customer_value", after="policy ")
    assert "entity.name.type.input.rules" in s.at("customer", after="input ")
    assert "entity.name.variable.let.rules" in s.at("recency_days", after="let ")
    assert "entity.name.variable.output.rules" in s.at("discount", after="output ")
    assert "entity.name.function.strategy.rules" in s.at("pricing", after="strategy ")
    assert "string.quoted.double.rules" in s.at('"一般客户"')
    assert "string.quoted.double.rules" in s.at('"客户价值分层与服务策略"')
    assert "constant.numeric.rules" in s.at("10万")
    assert "keyword.other.unit.chinese.rules" in s.at("万", after="annual_spend >= 10")
    assert "constant.numeric.rules" in s.at("20_000")
    assert "constant.numeric.rules" in s.at("15%")
    comment = s.at("# exactly one segment per record; the first rule that holds wins")
    assert "comment.line.number-sign.rules" in comment
    trailing = s.at("# CSV column name to read it from")
    assert "comment.line.number-sign.rules" in trailing and not has(trailing, "keyword.")
    assert "punctuation.definition.comment.rules" in s.at("#", after='from "近12个月订单数"')
    assert "keyword.operator.coalesce.rules" in s.at("??")
    assert "keyword.operator.comparison.rules" in s.at(">=")
    assert "support.function.builtin.rules" in s.at("days_since")
    assert "support.function.builtin.rules" in s.at("max", after="annual_spend / ")
    assert "storage.type.rules" in s.at("number", after="annual_spend    : ")
    assert "storage.type.enum.rules" in s.at("enum")
    assert "constant.other.enum-member.rules" in s.at("b2b")
    assert "keyword.operator.optional.rules" in s.at("?", after="avg_order_value : number")
    assert "storage.modifier.rules" in s.at("key")
    assert "storage.modifier.rules" in s.at("pii")
    assert "keyword.other.from.rules" in s.at("from")
    assert "storage.modifier.hit-policy.rules" in s.at("all", after="segment flags ")
    assert "keyword.other.combine.rules" in s.at("combine")
    assert "support.constant.combine-mode.rules" in s.at("sum", after="combine ")
    assert "keyword.other.clamp.rules" in s.at("clamp")
    assert "keyword.operator.range.rules" in s.at("..")
    assert "keyword.control.rules" in s.at("otherwise")
    assert "keyword.control.rules" in s.at("when", after="strategy pricing {")
    assert "keyword.control.rules" in s.at("then", after="strategy pricing {")
    assert "keyword.control.rules" in s.at("by", after="strategy ")
    assert "keyword.operator.word.rules" in s.at("starts_with")
    assert "keyword.operator.word.rules" in s.at("in", after="regional_promo : region ")
    assert "keyword.operator.logical.rules" in s.at("and", after="annual_spend >= 10万 ")
    assert "constant.language.boolean.rules" in s.at("false")
    assert "entity.name.tag.member.rules" in s.at("A", after="\n  ")
    assert "entity.name.tag.member.rules" in s.at("at_risk", after="segment lifecycle")
    assert "entity.name.tag.member.rules" in s.at("loyal", after="strategy by lifecycle {\n")
    assert "entity.name.variable.field.rules" in s.at("annual_spend", after="input customer {")
    assert "variable.other.rules" in s.at("annual_spend", after="let aov = avg_order_value ?? ")
    assert "variable.other.rules" in s.at("is_vip", after="vip_care       : ")
    assert "keyword.operator.word.rules" not in s.at("is_vip", after="vip_care       : ")
    assert "punctuation.section.block.begin.rules" in s.at("{", after="segment lifecycle")
    assert "punctuation.section.block.end.rules" in s.at("}", after="input customer {")
    assert "meta.block.input.rules" in s.at("region", after="input customer")
    assert "meta.block.input.rules" not in s.at("recency_days", after="let ")


def test_sample_scopes(tokenizer):
    s = scoped(tokenizer, SAMPLE)
    assert "constant.other.date.rules" in s.at("2026-11-22")
    assert not has(s.at("2026-11-22"), "constant.numeric")
    assert "constant.numeric.rules" in s.at("30", after="2026-11-22 + ")
    assert "keyword.other.unit.duration.rules" in s.at("days", after="2026-11-22 + 30 ")
    assert "keyword.other.unit.duration.rules" in s.at("weeks")
    assert "constant.language.today.rules" in s.at("today")
    assert "constant.numeric.rules" in s.at("1.5亿")
    assert "keyword.other.unit.chinese.rules" in s.at("亿")
    assert "keyword.other.unit.percent.rules" in s.at("%", after="discount = 10")
    assert "constant.numeric.rules" in s.at("3_000")
    escapes = s.at('\\"', after="note matches ")
    assert {"string.quoted.double.rules", "constant.character.escape.rules"} <= escapes
    assert "constant.character.escape.rules" in s.at("\\\\", after="note matches ")
    assert "constant.character.escape.rules" not in s.at("\\d", after="note matches ")
    assert "string.quoted.double.rules" in s.at("\\d", after="note matches ")
    assert "keyword.operator.word.rules" in s.at("matches")
    assert "keyword.other.table.rules" in s.at("table")
    assert "keyword.other.members.rules" in s.at("members")
    assert "entity.name.tag.member.rules" in s.at("regular", after="members (")
    assert "keyword.operator.arrow.rules" in s.at("=>")
    assert "keyword.operator.arrow.rules" in s.at("->")
    assert "punctuation.separator.cell.rules" in s.at("|")
    assert "constant.language.any-cell.rules" in s.at("-", after="(1万..10万]  => regular\n")
    assert "constant.language.any-cell.rules" in s.at("-", nth=1, after="(1万..10万]  => regular\n")
    assert "keyword.operator.arithmetic.rules" in s.at("-", after="today ")
    assert "keyword.operator.arithmetic.rules" in s.at("/", after="spend ")
    assert "keyword.operator.range.rules" in s.at("..", after="[6")
    assert "punctuation.section.brackets.begin.rules" in s.at("[", after="regular\n  ")
    assert "punctuation.section.parens.end.rules" in s.at(")", after="[6..12")
    assert "storage.modifier.hit-policy.rules" in s.at("unique")
    assert "storage.modifier.hit-policy.rules" in s.at("priority")
    assert "support.constant.combine-mode.rules" in s.at("count", after="combine ")
    assert "storage.type.rules" in s.at("list")
    assert "storage.type.rules" in s.at("date", after="joined  : ")
    assert "keyword.operator.optional.rules" in s.at("?", after="joined  : date")
    assert "constant.language.missing.rules" in s.at("missing")
    assert "keyword.operator.logical.rules" in s.at("not", after="is ")
    assert "keyword.operator.word.rules" in s.at("contains")
    assert "entity.name.tag.member.rules" in s.at("aged")
    assert "entity.name.tag.member.rules" in s.at("none", after='low : plan = "B"  ')
    assert "entity.name.function.strategy.rules" in s.at("grid_plan")
    assert "entity.name.type.segment.rules" in s.at("grid", after="segment ")


def test_full_width_punctuation_scopes(tokenizer):
    s = scoped(tokenizer, FULL_WIDTH)
    assert "entity.name.type.policy.rules" in s.at("全角")
    assert "entity.name.variable.field.rules" in s.at("消费额")
    assert "punctuation.separator.colon.rules" in s.at("：")
    assert "storage.type.enum.rules" in s.at("enum")
    assert "constant.other.enum-member.rules" in s.at("金")
    assert "punctuation.separator.comma.rules" in s.at("，")
    assert "punctuation.section.parens.end.rules" in s.at("）")
    assert "string.quoted.double.full-width.rules" in s.at("“高价值”")
    assert "entity.name.tag.member.rules" in s.at("高", after="档位 { ")
    assert "keyword.operator.comparison.rules" in s.at("＞＝")
    assert "constant.numeric.rules" in s.at("10万")
    assert "entity.name.tag.member.rules" in s.at("低")


def test_characters_with_no_ascii_twin_are_invalid(tokenizer):
    s = scoped(tokenizer, 'segment s { a : x > 1； b : otherwise }  # 注释里的；不算\n')
    assert "invalid.illegal.character.rules" in s.at("；")
    assert "invalid.illegal.character.rules" not in s.at("；", nth=1)


@pytest.mark.parametrize("number", ["3千", "5百", "2十", "5k", "3w"])
def test_units_the_language_lacks_are_invalid(number, tokenizer):
    text = f"policy p version \"1\"\ninput c {{ x : int }}\nsegment s {{ a : x > {number}  b : otherwise }}\n"
    with pytest.raises(PolicyError):
        engine.compile_policy(text, "p.rules")
    s = scoped(tokenizer, text)
    assert "invalid.illegal.number-unit.rules" in s.at(number)


@pytest.mark.parametrize("suffix", sorted(_SUFFIX))
def test_every_number_unit_of_the_engine_is_a_number(suffix, tokenizer):
    for literal in (f"3{suffix}", f"1.5{suffix}", f"20_000{suffix}"):
        s = scoped(tokenizer, f"let x = {literal} + 1\n")
        assert "constant.numeric.rules" in s.at(literal)
        assert not has(s.at(literal), "invalid.")


@pytest.mark.parametrize("word", sorted(KEYWORDS))
def test_every_reserved_word_is_highlighted_as_a_keyword(word, tokenizer):
    """Each reserved word of engine/parser.py, at the start of a line and inside an expression."""
    for text, where in ((f"{word}\n", 0), (f"let x = a {word} b\n", 10)):
        scopes = set.intersection(*(set(s) for s in tokenizer.tokenize(text)[where:where + len(word)]))
        assert _is_keyword(scopes) or BUILTIN_SCOPE + "rules" in scopes, f"{word!r} in {text!r}: {sorted(scopes)}"
        assert not _is_identifier(scopes), f"{word!r} in {text!r} looks like a name: {sorted(scopes)}"


@pytest.mark.parametrize("name", ["is_vip", "days_since_x", "intake", "listing", "count_1", "date_of_birth",
                                  "notes", "today2", "天数", "近12个月订单数", "in金额", "Ａ级"])
def test_names_that_start_like_keywords_are_names(name, tokenizer):
    text = f"let x = {name} + 1\n"
    scopes = tokenizer.tokenize(text)[8:8 + len(name)]
    assert all(s == scopes[0] for s in scopes), f"{name!r} is split into several tokens: {scopes}"
    assert "variable.other.rules" in scopes[0], f"{name!r}: {scopes[0]}"


def test_builtin_functions_are_those_of_the_engine(tokenizer):
    calls = [n for n in REGISTRY if n not in KEYWORDS or n in ("min", "max")]
    assert len(calls) >= 13
    for name in calls:
        scopes = scoped(tokenizer, f"let x = {name}(a, b)\n").at(name)
        assert "support.function.builtin.rules" in scopes, f"{name}: {scopes}"
    for name in ("foo", "sum_of", "客户等级"):
        scopes = scoped(tokenizer, f"let x = {name}(a, b)\n").at(name)
        assert "entity.name.function.rules" in scopes and "support.function.builtin.rules" not in scopes, name


def test_an_unclosed_string_ends_on_its_line(tokenizer):
    s = scoped(tokenizer, 'let x = "open\nlet y = 1\n')
    assert "string.quoted.double.rules" in s.at('"open')
    assert "keyword.other.declaration.let.rules" in s.at("let", after="open")
    assert "string.quoted.double.rules" not in s.at("let y")


# ---- the grammar against the engine's lexer, on every shipped policy --------------------------------

KEYWORD_SCOPES = ("keyword.", "storage.", "constant.language.", "support.constant.")
IDENTIFIER_SCOPES = ("variable.", "entity.name.", "constant.other.enum-member.")
BUILTIN_SCOPE = "support.function.builtin."  # a called built-in: a name (days_since) or a keyword (min, max)


def _is_keyword(scopes) -> bool:
    return any(s.startswith(KEYWORD_SCOPES) for s in scopes)


def _is_identifier(scopes) -> bool:
    return any(s.startswith(IDENTIFIER_SCOPES) for s in scopes)


def _expected(token) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """What a lexer token must be highlighted as: (what, scope prefixes one of which it needs, forbidden)."""
    if token.type == "COMMENT":
        return "comment", ("comment.line.",), ()
    if token.type in ("TEXT", "ROW_LABEL"):
        return "string", ("string.quoted.",), ()
    if token.type == "NUMBER":
        return "number", ("constant.numeric.",), ("invalid.",)
    if token.type == "DATE":
        return "date", ("constant.other.date.",), ()
    if token.type == "NAME":
        return "name", IDENTIFIER_SCOPES + (BUILTIN_SCOPE,), KEYWORD_SCOPES
    if token.value in KEYWORDS:
        return "keyword", KEYWORD_SCOPES + (BUILTIN_SCOPE,), IDENTIFIER_SCOPES
    return "operator or punctuation", ("keyword.operator.", "punctuation.", "constant.language.any-cell."), ()


def mismatches(tokenizer, text: str) -> list[str]:
    """Every token of the engine's lexer that the grammar highlights as something else."""
    scopes = tokenizer.tokenize(text)
    problems = []
    for token in _lark().lex(normalize_full_width(text), dont_ignore=True):
        if token.type == "WS":
            continue
        what, need, forbidden = _expected(token)
        for i in range(token.start_pos, token.end_pos):
            if text[i].isspace():
                continue
            if not any(s.startswith(need) for s in scopes[i]) or any(s.startswith(forbidden) for s in scopes[i]):
                problems.append(f"line {token.line}, column {token.column}: {what} {token.value!r} "
                                f"({token.type}) highlighted as {list(scopes[i][1:])}")
                break
    return problems


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_grammar_agrees_with_the_engine_lexer(path, tokenizer):
    text = path.read_text(encoding="utf-8")
    assert mismatches(tokenizer, text) == []


def test_grammar_agrees_with_the_engine_lexer_on_the_samples(tokenizer):
    assert mismatches(tokenizer, SAMPLE) == []
    assert mismatches(tokenizer, FULL_WIDTH) == []


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_every_character_of_a_shipped_policy_is_scoped(path, tokenizer):
    text = path.read_text(encoding="utf-8")
    scopes = tokenizer.tokenize(text)
    bare = [(text.count("\n", 0, i) + 1, ch) for i, (ch, s) in enumerate(zip(text, scopes))
            if not ch.isspace() and s == ("source.rules",)]
    assert bare == [], f"characters with only the base scope (line, character): {bare[:10]}"
    assert not any(has(set(s), "invalid.") for s in scopes), "a shipped policy is highlighted as invalid"


def test_the_cross_check_catches_a_wrong_grammar(grammar):
    """A grammar that forgets a keyword fails the comparison with the engine's lexer."""
    broken = json.loads(json.dumps(grammar))
    for rule in broken["repository"]["keywords"]["patterns"]:
        rule["match"] = rule["match"].replace("|starts_with", "").replace("(?:starts_with|", "(?:")
    text = (ROOT / "policies" / "customer_value.rules").read_text(encoding="utf-8")
    problems = mismatches(Tokenizer(broken, PythonRegex()), text)
    assert problems and "starts_with" in problems[0]


# ---- the same grammar on Oniguruma ----------------------------------------------------------------

ONIGURUMA = _find_oniguruma()
# skipped without libonig, except in CI (.ci/run installs it and sets REQUIRE_ONIGURUMA: there it must run)
needs_oniguruma = pytest.mark.skipif(ONIGURUMA is None and not os.environ.get("REQUIRE_ONIGURUMA"),
                                     reason="the Oniguruma library (libonig) is not installed")


@pytest.fixture(scope="module")
def onig():
    return Oniguruma(ONIGURUMA)


@needs_oniguruma
def test_grammar_regexes_compile_in_oniguruma(grammar, onig):
    for where, rule in _rules(grammar):
        for key in ("match", "begin", "end"):
            if key in rule:
                try:
                    onig.compile(rule[key])
                except ValueError as exc:
                    pytest.fail(f"{where}/{key}: {exc}")
    with pytest.raises(ValueError):
        onig.compile("(unclosed")


@needs_oniguruma
def test_oniguruma_and_python_tokenize_alike(grammar, onig, tokenizer):
    on_onig = Tokenizer(grammar, onig)
    texts = [p.read_text(encoding="utf-8") for p in POLICIES] + [SAMPLE, FULL_WIDTH]
    for text in texts:
        python_scopes, onig_scopes = tokenizer.tokenize(text), on_onig.tokenize(text)
        for i, (a, b) in enumerate(zip(python_scopes, onig_scopes)):
            assert a == b, f"at line {text.count(chr(10), 0, i) + 1} ({text[i]!r}): re gives {a}, Oniguruma {b}"


def test_dates_in_the_editor_view_are_text():
    """The schema is checked against YAML as an editor sees it, where a date is text."""
    doc = editor_yaml("as_of: 2026-11-22\n")
    assert doc == {"as_of": "2026-11-22"}
    assert yaml.safe_load("as_of: 2026-11-22\n") == {"as_of": dt.date(2026, 11, 22)}
