import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import engine  # noqa: E402

AS_OF = dt.date(2026, 11, 22)


@pytest.fixture(params=engine.BACKENDS)
def backend(request):
    """Every per-record backend: a test using this runs once per backend."""
    return request.param


@pytest.fixture
def make(backend):
    """Compile policy text with the backend under test."""
    def build(text: str, name: str = "test.rules") -> engine.Policy:
        return engine.compile_policy(text, name, backend=backend)
    return build
