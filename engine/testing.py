"""`rules test`: run the `*.cases.yaml` next to policies and report expected vs actual with a trace."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from xml.etree import ElementTree as ET

from .diagnostics import PolicyError
from .explain import explain, render
from .io import atomic_write
from .policy import Policy, load_policy
from .records import RecordError

CASES_SUFFIX = ".cases.yaml"


class _Loader(yaml.SafeLoader):
    """YAML as an analyst writes it: a date-like value that is no real date (2026-13-45) stays text,
    so a case can test that such a record is rejected."""


def _timestamp(loader, node):
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


@dataclass
class CaseResult:
    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)  # expected-vs-actual lines
    trace: list[str] = field(default_factory=list)


@dataclass
class FileResult:
    path: str
    policy: str | None
    cases: list[CaseResult] = field(default_factory=list)
    error: str | None = None  # a cases file or policy that could not be used at all

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.cases)


def find_case_files(paths: list[str]) -> list[Path]:
    """Every `*.cases.yaml` under the given files or directories, sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.rglob("*" + CASES_SUFFIX)))
        elif p.name.endswith(CASES_SUFFIX):
            found.append(p)
        elif p.suffix == ".rules" and p.with_name(p.stem + CASES_SUFFIX).exists():
            found.append(p.with_name(p.stem + CASES_SUFFIX))
        elif p.suffix == ".rules":
            continue
        else:
            raise FileNotFoundError(f"{p}: no such file or directory, or not a .rules / .cases.yaml file")
    return found


def read_cases(path: Path):
    """A cases file's YAML, with dates as dates and impossible dates left as text."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def run_case_file(path: Path) -> FileResult:
    """Run every case of one cases file against its policy."""
    try:
        doc = read_cases(path)
    except (OSError, yaml.YAMLError) as exc:
        return FileResult(str(path), None, error=f"cannot read the cases file: {exc}")
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        return FileResult(str(path), None, error="a cases file needs `policy:` and a list under `cases:`")
    policy_name = doc.get("policy") or path.name[: -len(CASES_SUFFIX)] + ".rules"
    policy_path = path.parent / policy_name
    result = FileResult(str(path), str(policy_path))
    try:
        policy = load_policy(policy_path)
    except FileNotFoundError:
        result.error = f"policy file {policy_path} not found"
        return result
    except PolicyError as exc:
        result.error = f"the policy does not compile:\n{exc.render()}"
        return result
    if doc.get("stats"):
        try:
            policy = policy.with_stats(path.parent / doc["stats"])
        except ValueError as exc:
            result.error = str(exc)
            return result
    default_as_of = doc.get("as_of")
    for i, case in enumerate(doc["cases"], 1):
        result.cases.append(run_case(policy, case, default_as_of, i))
    return result


def run_case(policy: Policy, case, default_as_of, index: int) -> CaseResult:
    if not isinstance(case, dict):
        return CaseResult(f"case {index}", False, [f"case {index} is not a mapping with name, record and expect"])
    name = str(case.get("name", f"case {index}"))
    record = case.get("record") or {}
    as_of = case.get("as_of", default_as_of)
    expect = case.get("expect") or {}
    want_reject = case.get("reject")
    try:
        decision = policy.evaluate(record, as_of=as_of)
    except RecordError as exc:
        if want_reject is not None and want_reject == exc.field:
            return CaseResult(name, True)
        return CaseResult(name, False, [f"the record was rejected: {exc.reason}"])
    except ValueError as exc:
        return CaseResult(name, False, [str(exc)])
    if want_reject is not None:
        return CaseResult(name, False, [f"expected the record to be rejected for `{want_reject}`, but it was decided"])
    actual = {**decision.segments, **decision.outputs, "rules_fired": decision.rules_fired, "errors": decision.errors}
    problems = []
    for key, want in expect.items():
        if key not in actual:
            known = ", ".join([*policy.segment_names, *policy.output_names, "rules_fired", "errors"])
            problems.append(f"{key}: not a segment or output of {policy.name} (known: {known})")
        elif not same(want, actual[key]):
            problems.append(f"{key}: expected {show(want)}, got {show(actual[key])}")
    if not problems:
        return CaseResult(name, True)
    return CaseResult(name, False, problems, trace(policy, record, decision.as_of))


def same(want, got) -> bool:
    """Expected equals actual; numbers to 1e-9 (0.1 + 0.05 is 0.15000000000000002), lists item by item."""
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got or (isinstance(want, str) and str(got).lower() == want.lower())
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(same(w, g) for w, g in zip(want, got))
    if isinstance(want, dt.date) and isinstance(got, str):
        return want.isoformat() == got
    return want == got


def show(value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) and not value.isidentifier() else str(value)


def trace(policy: Policy, record: dict, as_of: dt.date) -> list[str]:
    """The explanation of the record (as `rules explain` shows it), line by line, personal data masked."""
    try:
        return render(explain(policy, record, as_of)).splitlines()
    except (RecordError, ValueError) as exc:
        return [f"cannot explain the record: {exc}"]


def write_junit(results: list[FileResult], path) -> None:
    """Write case results as JUnit XML (one testsuite per cases file) for CI systems, atomically."""
    root = ET.Element("testsuites", name="rules test")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for result in results:
        suite = ET.SubElement(root, "testsuite", name=result.path)
        counts = {"tests": len(result.cases) or 1, "failures": 0, "errors": 0}
        if result.error:
            counts["errors"] = 1
            case = ET.SubElement(suite, "testcase", classname=result.path, name="(cases file)")
            ET.SubElement(case, "error", message=result.error.splitlines()[0]).text = result.error
        for c in result.cases:
            case = ET.SubElement(suite, "testcase", classname=result.policy or result.path, name=c.name)
            if not c.passed:
                counts["failures"] += 1
                body = "\n".join(c.problems + (["", "trace:"] + c.trace if c.trace else []))
                ET.SubElement(case, "failure", message="; ".join(c.problems)).text = body
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    with atomic_write(path) as f:
        f.write(ET.tostring(root, encoding="unicode", xml_declaration=True))
