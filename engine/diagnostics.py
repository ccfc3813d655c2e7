"""Diagnostics as data: a stable code, a message, a span and a help line; rendered with a caret.

The message catalog (CATALOG) is the single list of codes; docs/language.md documents each.
"""
from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

from .source import Source, Span

# code -> (severity, one-line title used in docs)
CATALOG: dict[str, tuple[str, str]] = {
    "E001": ("error", "syntax error: a token the grammar does not expect here"),
    "E002": ("error", "a character that is not part of the language"),
    "E003": ("error", "a malformed literal (date, number or string)"),
    "E004": ("error", "a reserved word used as a name"),
    "E005": ("error", "a policy beyond the engine's limits (size, nesting, name length, rule count)"),
    "E101": ("error", "unknown name"),
    "E102": ("error", "name declared twice"),
    "E103": ("error", "unknown member of an enum or segment"),
    "E104": ("error", "member declared twice, or labelled twice"),
    "E105": ("error", "unknown output in a strategy"),
    "E106": ("error", "an output read inside an expression"),
    "E107": ("error", "unknown function or wrong number of arguments"),
    "E108": ("error", "population function outside a `let`"),
    "E109": ("error", "`input` block missing or given twice"),
    "E110": ("error", "more than one `key` field"),
    "E201": ("error", "operands of incompatible types"),
    "E202": ("error", "a condition that is not true/false"),
    "E203": ("error", "a value of the wrong type for an output or default"),
    "E204": ("error", "a function argument of the wrong type"),
    "E205": ("error", "an invalid regular expression"),
    "E206": ("error", "`clamp` on a non-numeric output, or bounds that are not constants"),
    "E207": ("error", "a `combine` mode that does not fit the output's type"),
    "E208": ("error", "a default that is not a constant"),
    "E301": ("error", "`otherwise` that is not the last rule"),
    "E302": ("error", "a cycle between lets and segments"),
    "E303": ("error", "an output with no default that is not declared `T?`"),
    "E304": ("error", "a table row with the wrong number of cells"),
    "E305": ("error", "a table row whose member is not in `members (…)`"),
    "E306": ("error", "a `by` row for a name that is not a member of the segment"),
    "E307": ("error", "`has` on something that is not an `all` segment"),
    "E308": ("error", "an `all` segment used where a single value is needed"),
    "W401": ("warning", "a segment member with no row in a `by` strategy"),
    "W402": ("warning", "a policy without a `version`"),
    "W501": ("warning", "a rule that can never fire: its condition contradicts itself, or earlier rules shadow it"),
    "E502": ("error", "two rules of a `unique` segment that both hold for some record (with a witness)"),
    "E503": ("error", "rows of an `any` segment that both hold for some record and give different members"),
    "W504": ("warning", "records that no rule of a segment takes, and no `otherwise` (with a witness)"),
    "W505": ("warning", "an output that no rule can set"),
    "W506": ("warning", "a let or output that is never used"),
    "N507": ("note", "a question the analysis cannot settle (regex, population functions, lists, the solver's work limit)"),
}


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a policy, positioned in its source."""

    code: str
    message: str
    span: Span
    help: str | None = None
    label: str | None = None  # short text printed after the caret
    witness: dict | None = field(default=None, compare=False)  # verification: {"record": …, "as_of": "YYYY-MM-DD"}

    @property
    def severity(self) -> str:
        return CATALOG[self.code][0]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A help line naming the closest candidate, or None when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def display_width(text: str) -> int:
    """Terminal columns a string takes: CJK wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render(diag: Diagnostic, source: Source) -> str:
    """Render one diagnostic the way ruff and rustc do: header, location, source line, caret, help."""
    line, col = source.line_col(diag.span.start)
    text = source.line_text(line)
    end_line, _ = source.line_col(max(diag.span.end - 1, diag.span.start))
    stop = len(text) + 1 if end_line != line else source.line_col(diag.span.end)[1]
    shown, first = _window(text, col, stop)
    pad = display_width(shown[: col - first])
    carets = max(1, display_width(shown[col - first : stop - first]))
    text = shown
    gutter = " " * len(str(line))
    out = [
        f"{diag.severity}[{diag.code}]: {diag.message}",
        f"{gutter}--> {source.path}:{line}:{col}",
        f"{gutter} |",
        f"{line} | {text}",
        f"{gutter} | {' ' * pad}{'^' * carets}" + (f" {diag.label}" if diag.label else ""),
    ]
    if diag.help:
        out.append(f"{gutter} = help: {diag.help}")
    return "\n".join(out)


WINDOW = 120  # characters of a long source line shown around the caret


def _window(text: str, col: int, stop: int) -> tuple[str, int]:
    """A long line cut to the part around columns col..stop, and the column its first character had;
    a cut is marked with … (which takes the place of one character, so the caret still lines up)."""
    if len(text) <= WINDOW:
        return text, 1
    first = max(1, col - WINDOW // 3)
    last = min(len(text), first + WINDOW)
    piece = text[first - 1 : last]
    if last < len(text):
        piece = piece[:-1] + "…"
    if first > 1:
        piece = "…" + piece[1:]
    return piece, first


def to_json(diag: Diagnostic, source: Source) -> dict:
    """A JSON-ready dict of one diagnostic, with 1-based line and column."""
    line, col = source.line_col(diag.span.start)
    end_line, end_col = source.line_col(diag.span.end)
    return {
        "code": diag.code, "severity": diag.severity, "message": diag.message,
        "file": source.path, "line": line, "column": col,
        "end_line": end_line, "end_column": end_col, "help": diag.help,
        **({"witness": diag.witness} if diag.witness is not None else {}),
    }


class PolicyError(Exception):
    """A policy that does not compile; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic], source: Source):
        self.diagnostics = diagnostics
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        errors = [d for d in self.diagnostics if d.severity == "error"]
        body = "\n\n".join(render(d, self.source) for d in self.diagnostics)
        return f"{body}\n\n{len(errors)} error(s) in {self.source.path}"
