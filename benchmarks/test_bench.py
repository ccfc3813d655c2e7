"""pytest-benchmark: per-record evaluate against the hand-written baseline, compile and load times.

    python -m pytest benchmarks/ --benchmark-only

Compare `evaluate_*` with `handwritten_*` of the same run (same records, same machine load).
"""
import pytest

import engine
from handwritten import customer_value
from workloads import AS_OF, CUSTOMER_VALUE, records, thousand_rules

TEXT = records(as_text=True)
TYPED = records(as_text=False)


@pytest.fixture(scope="module")
def policy():
    return engine.load_policy(CUSTOMER_VALUE)


def _loop(fn, rows):
    for r in rows:
        fn(r, AS_OF)


@pytest.mark.parametrize("rows", [TEXT, TYPED], ids=["csv_text", "json_typed"])
def test_handwritten(benchmark, rows):
    benchmark(_loop, customer_value, rows)


@pytest.mark.parametrize("rows", [TEXT, TYPED], ids=["csv_text", "json_typed"])
def test_evaluate(benchmark, policy, rows):
    benchmark(_loop, policy.evaluate, rows)


def test_evaluate_interp(benchmark, policy):
    benchmark(_loop, policy.with_backend("interp").evaluate, TYPED)


def test_compile_1000_rules(benchmark):
    text = thousand_rules()
    benchmark(engine.compile_policy, text, "big.rules")


@pytest.mark.parametrize("which", ["customer_value", "1000_rules"])
def test_load_compiled(benchmark, tmp_path, which):
    p = engine.load_policy(CUSTOMER_VALUE) if which == "customer_value" else engine.compile_policy(thousand_rules())
    path = tmp_path / "artifact.rulesc"
    p.save(path)
    benchmark(engine.load_compiled, path)
