"""customer-rules: business analysts' classification and strategy rules, checked, compiled and evaluated.

    >>> from engine import load_policy
    >>> policy = load_policy("policies/customer_value.rules")
    >>> decision = policy.evaluate(record, as_of="2026-11-22")
    >>> decision.segments["value_tier"], decision.outputs["discount"]
"""
from .backends import BACKENDS
from .batch import BatchResult, evaluate_file
from .decision import Decision, Reject
from .diff import DiffError, Impact, diff_policies, load_old
from .diff_text import render as render_diff
from .duck import duckdb_reads, evaluate_duckdb
from .diagnostics import Diagnostic, PolicyError, display_width, render as render_diagnostic, to_json as diagnostic_json
from .explain import explain, find_record, render as render_explanation
from .fmt import Formatted, format_file, format_text
from .io import InputFileError, read_records, write_rows, write_stream
from .policy import (ArtifactError, ENGINE_VERSION, Policy, check_file, check_text, compile_policy, load_compiled,
                     load_policy)
from .population import PopulationError
from .progress import Progress
from .records import RecordError
from .report import render_html as render_diff_html, write_html as write_diff_html
from .sql import DIALECT_NAMES as SQL_DIALECTS, SqlError
from .testing import find_case_files, run_case_file, write_junit

__version__ = ENGINE_VERSION

__all__ = [
    "ArtifactError", "BACKENDS", "BatchResult", "Decision", "Diagnostic", "ENGINE_VERSION", "InputFileError",
    "Policy", "PolicyError", "PopulationError", "Progress", "RecordError", "Reject", "SQL_DIALECTS", "SqlError", "check_file", "check_text",
    "compile_policy", "diagnostic_json", "display_width", "duckdb_reads", "evaluate_duckdb", "evaluate_file", "explain", "find_case_files", "find_record", "load_compiled", "load_policy",
    "read_records", "render_diagnostic", "render_explanation", "run_case_file", "write_junit", "write_rows", "write_stream",
    "DiffError", "Impact", "diff_policies", "load_old", "render_diff", "render_diff_html", "write_diff_html",
    "Formatted", "format_file", "format_text", "create_app",
]


def __getattr__(name: str):
    """`engine.create_app` (the decision service, engine/service/), imported when first used so the
    `rules` commands that do not serve never load the web framework."""
    if name == "create_app":
        from .service import create_app
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
