"""Golden diagnostics: each tests/diagnostics/*.rules renders exactly as its .expected file, every
code in the catalog has one, and no broken policy ever escapes as a Python exception."""
import difflib
import json
import random
from pathlib import Path

import pytest

import engine
from engine.diagnostics import CATALOG, render

ROOT = Path(__file__).resolve().parent.parent
# findings that always come with another: an output no rule can set, and the rules that cannot fire
COMPANIONS = {"W505": {"W501"}}
GOLDEN = sorted((ROOT / "tests" / "diagnostics").glob("*.rules"))


def rendered(path: Path) -> tuple[str, list]:
    source, diags = engine.check_file(path.relative_to(ROOT))
    return "\n\n".join(render(d, source) for d in diags) + ("\n" if diags else ""), diags


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # diagnostics name files relative to where `rules` runs


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(path):
    text, diags = rendered(path)
    want = path.with_suffix(".expected").read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), "expected", "actual"))
    assert text == want, diff
    prefix = path.stem.split("_")[0]
    if prefix in CATALOG:
        codes = [d.code for d in diags]
        assert prefix in codes and set(codes) <= {prefix} | COMPANIONS.get(prefix, set()), \
            "a golden file shows its own code and nothing else"


def test_every_code_has_a_golden_file():
    covered = {p.stem.split("_")[0] for p in GOLDEN}
    assert set(CATALOG) <= covered, f"no golden file for {sorted(set(CATALOG) - covered)}"


def test_several_errors_come_together_in_source_order():
    _, diags = rendered(ROOT / "tests" / "diagnostics" / "MULTI_several_errors.rules")
    assert len({d.code for d in diags}) >= 4
    assert [d.span.start for d in diags] == sorted(d.span.start for d in diags)
    with pytest.raises(engine.PolicyError) as err:
        engine.load_policy("tests/diagnostics/MULTI_several_errors.rules")
    assert len(err.value.diagnostics) == len(diags)


def test_full_width_punctuation_compiles():
    policy = engine.load_policy("tests/diagnostics/OK_full_width_punctuation.rules")
    assert policy.evaluate({"消费额": "20万", "类型": "企业"}).segments == {"档位": "高"}
    assert policy.evaluate({"消费额": "20万", "类型": "个人"}).labels == {"档位": None}


def test_json_form():
    source, diags = engine.check_file("tests/diagnostics/E101_misspelt_field.rules")
    data = engine.diagnostic_json(diags[0], source)
    assert data == {
        "code": "E101", "severity": "error", "message": "unknown name `order_12m`",
        "file": "tests/diagnostics/E101_misspelt_field.rules", "line": 4, "column": 13,
        "end_line": 4, "end_column": 22, "help": "did you mean `orders_12m`?",
    }
    json.dumps(data)


def _mutants(text: str, count: int, seed: int):
    rng = random.Random(seed)
    tokens = text.split(" ")
    lines = text.splitlines(True)
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:
            t = list(tokens)
            del t[rng.randrange(len(t))]
            yield " ".join(t)
        elif kind == 1:
            t = list(tokens)
            i, j = rng.randrange(len(t)), rng.randrange(len(t))
            t[i], t[j] = t[j], t[i]
            yield " ".join(t)
        elif kind == 2:
            ls = list(lines)
            i = rng.randrange(len(ls))
            ls.insert(i, ls[i])
            yield "".join(ls)
        else:
            i = rng.randrange(len(text))
            yield text[:i] + rng.choice(list("{}()[]:,|=\"#-+*/><.?") + ["then", "otherwise", "万", "，"]) + text[i:]


@pytest.mark.parametrize("seed", range(4))
def test_broken_policies_never_raise_anything_but_policy_error(seed):
    text = (ROOT / "policies" / "customer_value.rules").read_text(encoding="utf-8")
    for mutant in _mutants(text, 150, seed):
        try:
            engine.compile_policy(mutant, "mutant.rules")
        except engine.PolicyError as exc:
            assert exc.diagnostics and exc.render()
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{type(exc).__name__}: {exc}\n--- policy ---\n{mutant}")
