"""Policies are data: hostile names, labels and strings compile and decide correctly on every backend,
and the generated Python carries them only as constants (tests/test_sql.py shows the same for SQL).
Regular expressions have RE2 semantics everywhere: no pattern can make a record take exponential time."""
import ast as py
import json
import re
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

import engine
from engine.backends.pycode import generate

HOSTILE = ['"; DROP TABLE customers; --', "it's", "back\\slash", "__import__('os').system('touch /tmp/pwned')",
           "ｓｅｌｅｃｔ * ｆｒｏｍ", "{x}\"\"\" + exec('1')", "a\\nb", "\u202eevil", "𝐚𝐝𝐦𝐢𝐧"]
LOOKALIKE = "tіer"  # the і is Cyrillic: a different name from `tier`, not a way into anything


def hostile_policy() -> str:
    items = ", ".join(json.dumps(s, ensure_ascii=False) for s in HOSTILE)
    return (f'policy hostile "{HOSTILE[0].replace(chr(34), "")}" version "1"\n'
            f'input c {{\n  id : string key\n  note : string\n  {LOOKALIKE} : string? from {json.dumps(HOSTILE[1])}\n}}\n'
            f'segment seg "{HOSTILE[3].replace(chr(34), "")}" {{\n'
            f'  hit "{HOSTILE[2]}" : note in [{items}]\n  odd : {LOOKALIKE} is present\n  miss : otherwise\n}}\n'
            f'output tag : string = {json.dumps(HOSTILE[0], ensure_ascii=False)}\n'
            f'strategy s {{ when note = {json.dumps(HOSTILE[3])} then tag = {json.dumps(HOSTILE[5], ensure_ascii=False)} }}\n')


RECORDS = [{"id": str(i), "note": s} for i, s in enumerate(HOSTILE)] + [{"id": "x", "note": "plain", HOSTILE[1]: "y"},
                                                                         {"id": "z", "note": "plain"}]


def test_generated_python_holds_policy_text_only_as_constants():
    policy = engine.compile_policy(hostile_policy())
    module, namespace = generate(policy.plan)
    identifiers = set(namespace)
    for node in py.walk(module):
        for attr in ("id", "arg", "attr", "name"):
            value = getattr(node, attr, None)
            if isinstance(value, str) and not isinstance(node, py.alias):
                identifiers.add(value)
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in identifiers), identifiers
    constants = {n.value for n in py.walk(module) if isinstance(n, py.Constant) and isinstance(n.value, str)}
    assert set(HOSTILE) <= constants | set(strings_in(list(namespace.values())))


def strings_in(value):
    """Strings held in values the generated code is given (a set for `in [...]`, a dict of labels)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from strings_in(v)


@pytest.mark.parametrize("backend", ["interp", "pycode"])
def test_hostile_text_decides_correctly(backend):
    policy = engine.compile_policy(hostile_policy(), backend=backend)
    decisions = [policy.evaluate(r, as_of="2026-11-22") for r in RECORDS]
    assert [d.segments["seg"] for d in decisions] == ["hit"] * len(HOSTILE) + ["odd", "miss"]
    assert decisions[0].labels["seg"] == HOSTILE[2]
    assert [d.outputs["tag"] for d in decisions][3] == HOSTILE[5]
    assert {d.outputs["tag"] for i, d in enumerate(decisions) if i != 3} == {HOSTILE[0]}
    assert not Path("/tmp/pwned").exists()


def test_hostile_text_through_duckdb_matches_python(tmp_path):
    path = tmp_path / "hostile.rules"
    path.write_text(hostile_policy(), encoding="utf-8")
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8")
    outs = {}
    for backend in ("duckdb", "python"):
        out = tmp_path / f"{backend}.jsonl"
        done = subprocess.run(["rules", "eval", str(path), "--data", str(data), "--out", str(out), "--backend", backend,
                               "--as-of", "2026-11-22"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outs[backend] = out.read_bytes()
    assert outs["duckdb"] == outs["python"]
    assert not Path("/tmp/pwned").exists()


@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging if a regex backtracks (Python's `re` would take years on these)."""
    def expired(signum, frame):
        raise AssertionError(f"still matching after {seconds} s: the regex engine backtracks")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


CATASTROPHIC = ['"^(a+)+$"', '"^(a|a)*$"', '"(x+x+)+y"']


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_run_in_linear_time(pattern, tmp_path):
    text = f'policy r version "1"\ninput c {{ s : string }}\nsegment m {{ yes : s matches {pattern}  no : otherwise }}\n'
    long = "a" * 50_000 + "!" if "a" in pattern else "x" * 50_000
    with deadline(30):
        for backend in ("interp", "pycode"):
            policy = engine.compile_policy(text, backend=backend)
            assert policy.evaluate({"s": long}).segments == {"m": "no"}
        path, data, out = tmp_path / "r.rules", tmp_path / "in.csv", tmp_path / "out.csv"
        path.write_text(text, encoding="utf-8")
        data.write_text(f"s\n{long}\n", encoding="utf-8")
        done = subprocess.run(["rules", "eval", str(path), "--data", str(data), "--out", str(out)],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert out.read_text(encoding="utf-8").splitlines()[1] == "0,no,"
