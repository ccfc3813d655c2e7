"""Fuzzing the compiler: whatever text arrives, `compile_policy` and `rules check` end in success or
PolicyError diagnostics — never another exception — and quickly.

CI runs FUZZ_INPUTS (default 2,400) inputs: mutations of every shipped policy (tokens deleted,
duplicated, swapped, replaced; random bytes and characters), generated well-typed policies and
their mutations, and hand-made extremes (nesting 10,000 deep, a 1 MB name). Before a release run
more: `FUZZ_INPUTS=200000 python -m pytest tests/test_fuzz.py` (docs/security.md).
"""
import os
import random
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from test_differential import policies

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "policies").glob("*.rules"))]
INPUTS = int(os.environ.get("FUZZ_INPUTS", "2400"))
SECONDS = 2.0  # the most one input may take
TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\d[\d_.]*[%万亿]?|\w+|[^\w\s]+|\s+')
ODD = ["(", ")", "{", "}", "[", "]", '"', "\\", ":", "|", "=>", "->", "..", "??", "#", "\x00", "\ufeff", "\u202e",
       "：", "（", "”", "𝟙", "é", "\r", "\t", "0x", "1e999", "99999999999999999999999", "-", "not", "otherwise",
       "segment", "table", "strategy", "when", "then", "input", "let", "output", "today", "'", "`", "$", "\U0001F600"]


def outcome(text: str) -> str:
    """Compile, then check and verify, one input; any exception other than PolicyError fails the
    test, and so does either step taking SECONDS or more of CPU time (this process's own, so other
    jobs on a shared machine do not count)."""
    start = time.process_time()
    try:
        engine.compile_policy(text, "fuzz.rules")
        result = "ok"
    except engine.PolicyError as exc:
        assert exc.diagnostics, "a PolicyError always carries diagnostics"
        exc.render()
        result = "error"
    compiled = time.process_time()
    source, diags = engine.check_text(text, "fuzz.rules")
    for d in diags:
        engine.render_diagnostic(d, source)
    took = max(compiled - start, time.process_time() - compiled)
    assert took < SECONDS, f"{took:.2f} s for one input:\n{text[:500]}"
    return result


def mutate(text: str, rng: random.Random) -> str:
    tokens = TOKEN.findall(text)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(tokens))
        kind = rng.randrange(6)
        if kind == 0:
            del tokens[i]
        elif kind == 1:
            tokens.insert(i, tokens[i])
        elif kind == 2:
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == 3:
            tokens[i] = rng.choice(ODD)
        elif kind == 4:
            tokens.insert(i, "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randint(1, 6))))
        else:
            tokens[i] = rng.choice(tokens)
        if not tokens:
            tokens = [""]
    return "".join(tokens)


def random_bytes(text: str, rng: random.Random) -> str:
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return data.decode("utf-8", "replace")


HEAD = 'policy p version "1"\ninput c { x : int  s : string  d : date  tags : list(string)? }\n'
EXTREMES = {
    "parentheses 10,000 deep": HEAD + "segment g { a : " + "(" * 10000 + "x > 1" + ")" * 10000 + "  b : otherwise }\n",
    "not 10,000 deep": HEAD + "segment g { a : " + "not " * 10000 + "x > 1  b : otherwise }\n",
    "minus 10,000 deep": HEAD + "segment g { a : " + "-" * 10000 + "x > 1  b : otherwise }\n",
    "calls 10,000 deep": HEAD + "segment g { a : " + "abs(" * 10000 + "x" + ")" * 10000 + " > 1  b : otherwise }\n",
    "and 10,000 long": HEAD + "segment g { a : " + " and ".join(["x > 1"] * 10000) + "  b : otherwise }\n",
    "lists 10,000 deep": HEAD + "segment g { a : x in " + "[" * 10000 + "1" + "]" * 10000 + "  b : otherwise }\n",
    "unclosed 10,000 deep": HEAD + "segment g { a : " + "(" * 10000,
    "1 MB name": HEAD.replace("x : int", "x" * 1_000_000 + " : int") + "segment g { a : x > 1  b : otherwise }\n",
    "1 MB name used": HEAD + "segment g { a : " + "y" * 1_000_000 + " > 1  b : otherwise }\n",
    "1 MB string": HEAD + 'segment g { a : s = "' + "字" * 1_000_000 + '"  b : otherwise }\n',
    "1 MB comment": "#" + "x" * 1_000_000 + "\n" + HEAD,
    "unclosed string": HEAD + 'segment g { a : s = "' + "a" * 100_000,
    "5,001 rules": HEAD + "segment g {\n" + "".join(f"  m{i} : x > {i}\n" for i in range(5_001)) + "}\n",
    "table 5,000 columns": HEAD + "segment g table (" + ", ".join(["x"] * 5000) + ") {\n  "
                           + " | ".join(["> 1"] * 5000) + " => a\n}\n",
    "NUL bytes": HEAD.replace("input", "in\x00put"),
    "empty": "",
    "only a BOM": "\ufeff",
    "right-to-left override": HEAD + "segment g { a\u202e : x > 1  b : otherwise }\n",
    "huge numbers": HEAD + "segment g { a : x > 99999999999999999999999999  b : x * 1e308 * 1e308 > 1  c : otherwise }\n",
    "far dates": HEAD + "segment g { a : d > 9999-12-31 - 1 days  b : d < 0001-01-01 + 99999999 days  c : otherwise }\n",
}


@pytest.mark.parametrize("name", list(EXTREMES))
def test_extremes(name):
    outcome(EXTREMES[name])


def test_limits_give_clear_errors():
    for name in ("not 10,000 deep", "calls 10,000 deep", "and 10,000 long", "1 MB name", "5,001 rules",
                 "table 5,000 columns"):
        with pytest.raises(engine.PolicyError) as err:
            engine.compile_policy(EXTREMES[name])
        assert [d.code for d in err.value.diagnostics] == ["E005"], name
        assert len(err.value.render()) < 2000, "a diagnostic shows a window of a long line, not all of it"


def test_mutations_of_shipped_policies():
    rng = random.Random(20261201)
    results = {"ok": 0, "error": 0}
    for i in range(INPUTS * 3 // 4):
        base = SHIPPED[i % len(SHIPPED)]
        text = random_bytes(base, rng) if i % 5 == 4 else mutate(base, rng)
        results[outcome(text)] += 1
    assert results["ok"] > INPUTS // 50 and results["error"] > INPUTS // 4, results


@settings(max_examples=max(INPUTS // 4, 100), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(policies(), st.randoms(use_true_random=False))
def test_generated_policies_and_their_mutations(text, rng):
    assert outcome(text) == "ok"
    outcome(mutate(text, rng))
