"""customer-rules: business analysts' classification and strategy rules, checked, compiled and evaluated.

    >>> from engine import load_policy
    >>> policy = load_policy("policies/customer_value.rules")
    >>> decision = policy.evaluate(record, as_of="2026-11-22")
    >>> decision.segments["value_tier"], decision.outputs["discount"]
"""
import importlib

# what every command needs, imported with the package
from .diagnostics import Diagnostic, PolicyError, display_width, render as render_diagnostic, to_json as diagnostic_json
from .explain import explain, find_record, render as render_explanation  # eager: `explain` is also a submodule
from .io import InputFileError, read_records, write_rows, write_stream
from .policy import (ArtifactError, ENGINE_VERSION, Policy, check_file, check_text, compile_policy, load_compiled,
                     load_policy)
from .population import PopulationError
from .progress import Progress
from .records import RecordError

__version__ = ENGINE_VERSION

# the rest is imported when first used, so a command loads only what it runs: `rules check` never
# loads DuckDB or sqlglot, `rules eval` never the diff report or the test runner
_LAZY = {
    "BACKENDS": ("backends", "BACKENDS"), "Decision": ("decision", "Decision"), "Reject": ("decision", "Reject"),
    "BatchResult": ("batch", "BatchResult"),
    "evaluate_file": ("batch", "evaluate_file"), "DiffError": ("diff", "DiffError"), "Impact": ("diff", "Impact"),
    "diff_policies": ("diff", "diff_policies"), "load_old": ("diff", "load_old"),
    "render_diff": ("diff_text", "render"), "duckdb_reads": ("duck", "duckdb_reads"),
    "evaluate_duckdb": ("duck", "evaluate_duckdb"), "Formatted": ("fmt", "Formatted"),
    "format_file": ("fmt", "format_file"), "format_text": ("fmt", "format_text"),
    "render_diff_html": ("report", "render_html"), "write_diff_html": ("report", "write_html"),
    "SQL_DIALECTS": ("sql", "DIALECT_NAMES"), "SqlError": ("sql", "SqlError"),
    "find_case_files": ("testing", "find_case_files"), "run_case_file": ("testing", "run_case_file"),
    "write_junit": ("testing", "write_junit"), "create_app": ("service", "create_app"),
}

__all__ = [
    "ArtifactError", "BACKENDS", "BatchResult", "Decision", "Diagnostic", "ENGINE_VERSION", "InputFileError",
    "Policy", "PolicyError", "PopulationError", "Progress", "RecordError", "Reject", "SQL_DIALECTS", "SqlError", "check_file", "check_text",
    "compile_policy", "diagnostic_json", "display_width", "duckdb_reads", "evaluate_duckdb", "evaluate_file", "explain", "find_case_files", "find_record", "load_compiled", "load_policy",
    "read_records", "render_diagnostic", "render_explanation", "run_case_file", "write_junit", "write_rows", "write_stream",
    "DiffError", "Impact", "diff_policies", "load_old", "render_diff", "render_diff_html", "write_diff_html",
    "Formatted", "format_file", "format_text", "create_app",
]


def __getattr__(name: str):
    """The public names of `_LAZY`, imported on first use (then kept as attributes of the package)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
