"""docs/language.md stays true: its policies compile, its error examples fail as stated, its tables
match the function registry and the diagnostic catalog."""
import re
from pathlib import Path

import pytest

import engine
from engine.diagnostics import CATALOG
from engine.functions import REGISTRY

DOC = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(rules|rules-error)\n(.*?)```", DOC, re.S)


def test_the_reference_has_examples():
    assert sum(kind == "rules" for kind, _ in BLOCKS) >= 8
    assert sum(kind == "rules-error" for kind, _ in BLOCKS) >= 2


@pytest.mark.parametrize("index", [i for i, (kind, _) in enumerate(BLOCKS) if kind == "rules"])
def test_example_compiles(index):
    policy = engine.compile_policy(BLOCKS[index][1], f"docs/language.md#{index}")
    assert policy.name


@pytest.mark.parametrize("index", [i for i, (kind, _) in enumerate(BLOCKS) if kind == "rules-error"])
def test_error_example_fails_with_its_code(index):
    text = BLOCKS[index][1]
    code = text.splitlines()[0].lstrip("# ").strip()
    with pytest.raises(engine.PolicyError) as err:
        engine.compile_policy(text)
    assert [d.code for d in err.value.diagnostics if d.severity == "error"] == [code]


def test_function_table_matches_the_registry():
    rows = re.findall(r"^\| `(.+?)` \| (.+?) \|$", DOC, re.M)
    documented = {sig.replace("\\|", "|"): doc for sig, doc in rows if "->" in sig}
    assert documented == {f.signature: f.doc for f in REGISTRY.values()}


def test_diagnostic_table_matches_the_catalog():
    rows = re.findall(r"^\| ([EWN]\d{3}) \| (error|warning|note) \| (.+?) \|$", DOC, re.M)
    assert {code: (sev, title) for code, sev, title in rows} == CATALOG


def test_the_first_policy_is_the_shipped_one():
    shipped = (Path(__file__).resolve().parent.parent / "policies" / "customer_value.rules").read_text(encoding="utf-8")
    strip = lambda text: [line.split("#")[0].rstrip() for line in text.splitlines() if line.split("#")[0].strip()]  # noqa: E731
    assert strip(BLOCKS[0][1]) == strip(shipped)
