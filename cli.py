"""The `rules` command: check, test, eval, explain, compile and fit. Thin: parse arguments, call engine, render.

Exit codes: 0 clean, 1 findings (policy errors, failing cases), 2 usage or internal error, 130 interrupted.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
from pathlib import Path

import click

import engine


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - engine.display_width(text))
    return gap + text if right else text + gap


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) or "-"
    return str(value)


def render_table(rows: list[list], headers: list[str], numeric: set[int] = frozenset()) -> str:
    """A plain aligned text table; CJK characters count two columns."""
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([engine.display_width(h)] + [engine.display_width(r[i]) for r in cells])
              for i, h in enumerate(headers)]
    line = lambda vals: "  ".join(_pad(v, widths[i], i in numeric) for i, v in enumerate(vals)).rstrip()  # noqa: E731
    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


class _LazyChoice(click.Choice):
    """A choice whose values the engine gives when first needed, so a command that never looks at them
    does not import what they come from (the SQL dialects: sqlglot, a tenth of a second)."""

    def __init__(self, values) -> None:  # not Choice.__init__, which would read the values at once
        self._values = values
        self.case_sensitive = True

    @property
    def choices(self):
        return tuple(self._values())


class _Fail(Exception):
    """A usage or input problem: message for the analyst, exit code 2."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(engine.ENGINE_VERSION, prog_name="rules")
def cli() -> None:
    """Check, test and run customer-classification policies (.rules files)."""


@cli.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too, not only on errors.")
def check_cmd(paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check and verify policies; PATHS are .rules files or directories holding them.

    Besides errors in the text, it proves what the rules can do: rules that never fire, overlaps
    in `unique` segments, records no rule takes, outputs nothing sets, unused lets and outputs,
    each with an example record where one exists. Exit 1 on errors (and on warnings with --strict).
    """
    files = _rules_files(paths)
    reports = [engine.check_file(f) for f in files]
    errors = sum(1 for _, diags in reports for d in diags if d.severity == "error")
    warnings = sum(1 for _, diags in reports for d in diags if d.severity == "warning")
    notes = sum(1 for _, diags in reports for d in diags if d.severity == "note")
    if fmt == "json":
        click.echo(json.dumps([engine.diagnostic_json(d, src) for src, diags in reports for d in diags],
                              ensure_ascii=False, indent=2))
    else:
        for src, diags in reports:
            for d in diags:
                click.echo(engine.render_diagnostic(d, src) + "\n")
        failed = errors or (strict and warnings)
        status = "failed" if failed else "ok"
        tail = f", {notes} not analysed" if notes else ""
        click.echo(f"{status}: {len(files)} file(s) checked, {errors} error(s), {warnings} warning(s){tail}"
                   + (" (--strict: warnings fail)" if strict and warnings and not errors else ""))
    sys.exit(1 if errors or (strict and warnings) else 0)


def _rules_files(paths: tuple[str, ...]) -> list[Path]:
    """The .rules files PATHS name: files as given, and every *.rules under a directory."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(p.rglob("*.rules")))
        elif p.exists():
            files.append(p)
        else:
            raise _Fail(f"{p}: no such file or directory")
    if not files:
        raise _Fail(f"no .rules files under {', '.join(paths)}")
    return files


@cli.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file is not in the standard layout.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print the changes as a unified diff.")
def fmt_cmd(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Lay out policies the standard way: aligned columns, comments kept, meaning unchanged.

    PATHS are .rules files or directories holding them; files are rewritten in place unless
    --check or --diff is given. Exit 1 when --check finds a file to reformat, 2 when a policy
    has errors that keep it from being read (it is left as it is).
    """
    dry = check or show_diff
    changed = unchanged = broken = 0
    for f in _rules_files(paths):
        try:
            result = engine.format_file(f, write=not dry)
        except engine.PolicyError as exc:
            click.echo(exc.render() + "\n", err=True)
            broken += 1
            continue
        if not result.changed:
            unchanged += 1
            continue
        changed += 1
        if show_diff:
            click.echo(result.diff(), nl=False)
        click.echo(f"{'would reformat' if dry else 'reformatted'} {f}", err=True)
    count = lambda n: f"{n} file{'' if n == 1 else 's'}"  # noqa: E731
    parts = [f"{count(changed)} {'would be reformatted' if dry else 'reformatted'}"] if changed else []
    if unchanged:
        parts.append(f"{unchanged if parts else count(unchanged)} {'would be left' if dry else 'left'} unchanged")
    if broken:
        parts.append(f"{broken if parts else count(broken)} not formatted because of the errors above")
    hint = "; run `rules fmt` without --check to reformat" if check and changed else ""
    click.echo(", ".join(parts) + hint, err=True)
    sys.exit(2 if broken else 1 if check and changed else 0)


@cli.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--junit", type=click.Path(), help="Also write the results as JUnit XML to this file (for CI).")
def test_cmd(paths: tuple[str, ...], junit: str | None) -> None:
    """Run the *.cases.yaml next to policies (default: everything under the current directory).

    A failing case shows expected against actual, and the explanation of its record."""
    try:
        files = engine.find_case_files(list(paths) or ["."])
    except FileNotFoundError as exc:
        raise _Fail(str(exc)) from None
    if not files:
        raise _Fail(f"no *.cases.yaml files under {', '.join(paths) or '.'}")
    passed = failed = 0
    results = []
    for f in files:
        result = engine.run_case_file(f)
        results.append(result)
        if result.error:
            failed += 1
            click.echo(f"ERROR {f}: {result.error}")
            continue
        ok = sum(c.passed for c in result.cases)
        passed += ok
        failed += len(result.cases) - ok
        click.echo(f"{'ok  ' if result.passed else 'FAIL'} {f}: {ok}/{len(result.cases)} cases passed")
        for case in result.cases:
            if case.passed:
                continue
            click.echo(f"  FAIL {case.name}")
            for line in case.problems:
                click.echo(f"    {line}")
            if case.trace:
                click.echo("    trace:")
                for line in case.trace:
                    click.echo(f"      {line}")
    click.echo(f"{passed} passed, {failed} failed")
    if junit:
        try:
            engine.write_junit(results, junit)
        except OSError as exc:
            raise _Fail(f"cannot write {junit}: {exc.strerror}") from None
    sys.exit(1 if failed else 0)


@cli.command("compile")
@click.argument("policy", type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(), help="Where to write the compiled policy.")
def compile_cmd(policy: str, out: str) -> None:
    """Compile a policy into an artifact that apps load with engine.load_compiled."""
    p = _load(policy)
    p.save(out)
    click.echo(f"compiled {p.name} {p.version} ({p.content_hash}) -> {out}")


@cli.command("eval")
@click.argument("policy", type=click.Path())
@click.option("--record", help="One record as a JSON object.")
@click.option("--data", type=click.Path(), help="A CSV, TSV, JSON, JSONL or Parquet file of records (default: JSONL on stdin).")
@click.option("--out", type=click.Path(), help="Write decisions here (format from the extension).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "jsonl", "csv"]),
              help="Output format (default: from --out, else table on a terminal, else jsonl; json for --record).")
@click.option("--as-of", help="The date to decide as of, YYYY-MM-DD (default: today). Recorded in every decision.")
@click.option("--rejects", type=click.Path(), help="Write rejected records here (CSV or JSONL).")
@click.option("--encoding", help="Encoding of a CSV file (default: detected; UTF-8, or GBK/GB18030 from Excel).")
@click.option("--stats", type=click.Path(), help="Rank against frozen populations from `rules fit` "
              "(for policies using quintile, ntile or percent_rank) instead of against this batch.")
@click.option("--summary/--no-summary", default=None, help="Print the segment counts table (default: on a terminal).")
@click.option("--backend", type=click.Choice(["auto", "duckdb", "python", "interp", "spark"]), default="auto",
              show_default=True,
              help="duckdb: one SQL query over the whole file (CSV, TSV, JSONL, Parquet), out of core; python: "
                   "record by record; interp: the reference interpreter; spark: Spark SQL in local mode (pyspark). "
                   "auto is duckdb for those files.")
@click.option("--table", default="decisions", show_default=True, help="The table to write when --out is a .duckdb file.")
def eval_cmd(policy, record, data, out, fmt, as_of, rejects, encoding, stats, summary, backend, table) -> None:
    """Decide records with a policy: segments and outputs for each."""
    p = _load(policy)
    if backend == "auto":
        backend = "duckdb" if data is not None and engine.duckdb_reads(data) else "python"
    if backend == "interp":
        p = p.with_backend("interp")
    if stats is not None:
        p = p.with_stats(stats)
    if record is not None and data is not None:
        raise _Fail("give either --record or --data, not both")
    records = None
    if record is not None:
        try:
            obj = json.loads(record)
        except ValueError as exc:
            raise _Fail(f"--record is not valid JSON: {exc}") from None
        records = [obj]
    tty = sys.stdout.isatty()
    fmt = fmt or (None if out else "json" if record is not None else "table" if tty else "jsonl")

    def sink(rows, columns, fmt_):
        if fmt_ == "table":
            click.echo(render_table([[r[c] for c in columns] for r in rows], columns))
        else:
            engine.write_stream(sys.stdout, rows, columns, fmt_)

    # a progress line on the terminal when decisions go to a file; never when output is piped
    progress = engine.Progress(sys.stderr) if out is not None and sys.stderr.isatty() and record is None else None
    try:
        if backend in ("duckdb", "spark") and data is None:
            raise _Fail(f"--backend {backend} reads a file: give --data FILE (CSV, TSV, JSONL or Parquet)")
        if backend == "spark":
            if importlib.util.find_spec("pyspark") is None:
                raise _Fail("--backend spark needs pyspark: pip install 'customer-rules[spark]'")
            from engine.spark import evaluate_file_spark
            result = evaluate_file_spark(p, data, out=out, out_format=fmt, rejects=rejects, as_of=as_of,
                                         encoding=encoding, sink=sink, progress=progress)
        elif backend == "duckdb":
            result = engine.evaluate_duckdb(p, data, out=out, out_format=fmt, rejects=rejects, as_of=as_of,
                                            encoding=encoding, sink=sink, table=table,
                                            progress=progress is not None and sys.stdout.isatty())
        else:
            result = engine.evaluate_file(p, data=data, stream=sys.stdin if data is None and records is None else None,
                                          records=records, out=out, out_format=fmt, rejects=rejects, as_of=as_of,
                                          encoding=encoding, sink=sink, rank_in_batch=record is None,
                                          progress=progress)
    except ValueError as exc:  # a bad --as-of
        raise _Fail(str(exc)) from None
    summary_to = sys.stdout if out else sys.stderr
    if result.absent:
        click.echo(f"note: no column for {', '.join(result.absent)}; missing (or the default) in every row",
                   err=True)
    counts = f"{result.rows_in} rows: {result.decided} decided, {result.rejected} rejected"
    if result.with_errors:
        counts += f", {result.with_errors} with rule conflicts (see the errors column)"
    click.echo(counts + (f" -> {out}" if out else ""), err=not out)
    if result.rejects and rejects is None:
        for r in result.rejects[:20]:
            where = f"row {r.row}" + (f" ({r.key})" if r.key is not None else "")
            click.echo(f"rejected {where}: {r.reason}", err=True)
        if len(result.rejects) > 20:
            click.echo(f"… {len(result.rejects) - 20} more; write them all with --rejects FILE", err=True)
    elif rejects is not None:
        click.echo(f"rejects -> {rejects}", err=not out)
    if summary or (summary is None and (out is not None or summary_to.isatty())):
        click.echo(_summary(p, result), err=summary_to is sys.stderr)


@cli.command("sql")
@click.argument("policy", type=click.Path())
@click.option("--dialect", type=_LazyChoice(lambda: engine.SQL_DIALECTS), default="duckdb", show_default=True)
@click.option("--table", default="customers", show_default=True,
              help="The table to read, NAME or SCHEMA.NAME; its columns are the input fields (or their `from` names).")
@click.option("--as-of", help="The date the query decides as of, YYYY-MM-DD (default: today); it is written into the query.")
@click.option("--stats", type=click.Path(), help="Frozen populations from `rules fit`, written into the query as cut "
              "points (else quintile, ntile and percent_rank rank over the table).")
def sql_cmd(policy, dialect, table, as_of, stats) -> None:
    """Print the policy as one SQL query: a row per table row with segments, outputs, rules fired, rejects."""
    p = _load(policy)
    if stats is not None:
        p = p.with_stats(stats)
    try:
        click.echo(p.to_sql(dialect, table, as_of=as_of))
    except ValueError as exc:
        raise _Fail(str(exc)) from None


@cli.command("explain")
@click.argument("policy", type=click.Path())
@click.option("--record", help="The record as a JSON object.")
@click.option("--data", type=click.Path(), help="A data file to take the record from (with --key).")
@click.option("--key", help="The key of the record to explain in --data.")
@click.option("--encoding", help="Encoding of a CSV file (default: detected; UTF-8, or GBK/GB18030 from Excel).")
@click.option("--as-of", help="The date to decide as of, YYYY-MM-DD (default: today).")
@click.option("--stats", type=click.Path(), help="Frozen populations from `rules fit` (for quintile, ntile, …).")
@click.option("--show-pii", is_flag=True, help="Show the values of fields marked `pii` (hidden as *** by default).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain_cmd(policy, record, data, key, encoding, as_of, stats, show_pii, fmt) -> None:
    """Show why a record gets its segments and outputs: every rule, whether it held, the value of
    each part of its condition, and how the outputs were set. Give the record with --record JSON,
    or with --data FILE --key ID."""
    if (record is None) == (data is None) or (data is not None and key is None):
        raise _Fail("give the record either with --record JSON or with --data FILE --key ID")
    p = _load(policy)
    if stats is not None:
        p = p.with_stats(stats)
    if record is not None:
        try:
            obj = json.loads(record)
        except ValueError as exc:
            raise _Fail(f"--record is not valid JSON: {exc}") from None
    else:
        try:
            obj = engine.find_record(p, data, key, encoding)
        except (LookupError, engine.InputFileError) as exc:
            raise _Fail(str(exc)) from None
    try:
        view = engine.explain(p, obj, as_of=as_of, show_pii=show_pii)
    except engine.RecordError as exc:
        click.echo(f"rejected: {exc.reason}", err=True)
        sys.exit(1)
    except ValueError as exc:
        raise _Fail(str(exc)) from None
    click.echo(json.dumps(view, ensure_ascii=False, indent=2) if fmt == "json" else engine.render_explanation(view))


@cli.command("diff")
@click.argument("old")
@click.argument("new", type=click.Path())
@click.option("--data", required=True, type=click.Path(),
              help="The records to compare on: a CSV, TSV, JSON, JSONL or Parquet file.")
@click.option("--as-of", help="The date both policies decide as of, YYYY-MM-DD (default: today).")
@click.option("--html", "html_out", type=click.Path(),
              help="Also write a report with charts to this HTML file (one file, opens offline).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--examples", default=3, show_default=True, type=click.IntRange(0, 1000),
              help="Example records to show for each change.")
@click.option("--show-pii", is_flag=True, help="Show the values of fields marked `pii` in the examples "
              "(hidden as *** by default).")
@click.option("--encoding", help="Encoding of a CSV file (default: detected; UTF-8, or GBK/GB18030 from Excel).")
def diff_cmd(old, new, data, as_of, html_out, fmt, examples, show_pii, encoding) -> None:
    """Show what an edit to a policy changes on real records: who moves between segments, how outputs move.

    OLD is the policy before the edit: a file, or git:REV:PATH for the file as committed in git
    (git:HEAD:policies/customer_value.rules); NEW is the policy after the edit.
    """
    try:
        old_p = engine.load_old(old)
    except engine.PolicyError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(1)
    except engine.DiffError as exc:
        raise _Fail(str(exc)) from None
    new_p = _load(new)
    try:
        impact = engine.diff_policies(old_p, new_p, data, as_of=as_of, examples=examples, show_pii=show_pii,
                                      encoding=encoding)
    except engine.DiffError as exc:
        raise _Fail(str(exc)) from None
    click.echo(json.dumps(impact.to_dict(), ensure_ascii=False, indent=2) if fmt == "json" else engine.render_diff(impact))
    if html_out is not None:
        engine.write_diff_html(impact, html_out)
        click.echo(f"report -> {html_out}", err=fmt == "json")


@cli.command("fit")
@click.argument("policy", type=click.Path())
@click.option("--data", required=True, type=click.Path(), help="The records to rank against (CSV, JSON, JSONL).")
@click.option("-o", "--out", required=True, type=click.Path(), help="Where to write the stats file (JSON).")
@click.option("--as-of", help="The date to compute as of, YYYY-MM-DD (default: today).")
@click.option("--encoding", help="Encoding of a CSV file (default: detected).")
def fit_cmd(policy, data, out, as_of, encoding) -> None:
    """Freeze the populations of quintile / ntile / percent_rank so single records rank the same way."""
    p = _load(policy)
    if not p.uses_population:
        raise _Fail(f"{policy} has no population functions (quintile, ntile, percent_rank): nothing to fit")
    try:
        count = p.save_stats(engine.read_records(data, encoding=encoding), out, as_of=as_of)
    except ValueError as exc:
        raise _Fail(str(exc)) from None
    click.echo(f"fitted {len(p.plan.sites)} population(s) of {p.name} on {count} records -> {out}")


@cli.command("serve")
@click.argument("policy_dir", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0: every interface; give --token-file then).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="The TCP port to listen on.")
@click.option("--token-file", type=click.Path(), help="A file holding the token that every request but /healthz "
              "must send as `Authorization: Bearer TOKEN`.")
@click.option("--log", "log_path", type=click.Path(), help="Append each decision to this file as one JSON line "
              "(no input fields, so no personal data).")
@click.option("--log-max-bytes", type=click.IntRange(min=1), help="Start a new decision log when the file would grow "
              "past this size, keeping 5 old ones as FILE.1 … FILE.5 (default: 10000000).")
@click.option("--as-of", help="Decide as of this date, YYYY-MM-DD, when a request gives no ?as_of= "
              "(default: the day of each request).")
@click.option("--samples", type=click.Path(), help="A folder of CSV, JSONL or Parquet files on which the workbench "
              "shows the impact of an edit (NAME.csv is picked first for policy NAME).")
def serve_cmd(policy_dir, host, port, token_file, log_path, log_max_bytes, as_of, samples) -> None:
    """Serve the policies in POLICY_DIR as an HTTP JSON API, with the analysts' workbench at /, until
    Ctrl-C or SIGTERM (docs/service.md).

    POST /v1/policies/NAME/evaluate decides records, /explain explains one; GET /v1/policies lists
    the policies, /healthz, /metrics and /openapi.json describe the service. Edits to the .rules files
    are checked and swapped in while it runs; an edit with errors leaves the last good version serving.
    Open http://HOST:PORT/ in a browser to edit a policy, try records and see an edit's impact.
    """
    from engine import service
    try:
        service.serve(policy_dir, host=host, port=port, token_file=token_file, log_path=log_path,
                      log_max_bytes=log_max_bytes, as_of=as_of, samples=samples)
    except service.ServiceError as exc:
        raise _Fail(str(exc)) from None


def _summary(p: engine.Policy, result: engine.BatchResult) -> str:
    rows = []
    labels = {s.name: dict(zip(s.members, s.labels)) for s in p.plan.segments}
    for step in p.plan.segments:
        counter = result.counts.get(step.name, {})
        members = list(step.members) + [m for m in counter if m not in step.members]
        for m in members:
            n = counter.get(m, 0)
            share = f"{100 * n / result.decided:.1f}%" if result.decided else "-"
            rows.append([step.name, m if m is not None else "(missing)", labels[step.name].get(m) or "", n, share])
    return render_table(rows, ["segment", "member", "label", "count", "share"], numeric={3, 4})


def _load(path: str) -> engine.Policy:
    if not Path(path).exists():
        raise _Fail(f"{path}: no such policy file")
    try:
        with open(path, "rb") as f:
            compiled = f.read(64).lstrip().startswith(b"{")  # artifacts are JSON; policies never start with {
        return engine.load_compiled(path) if compiled else engine.load_policy(path, cached=True)
    except engine.PolicyError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(1)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # so SIGTERM unwinds like Ctrl-C: partial outputs are removed on the way out


def main() -> None:
    """Entry point: run the CLI; no Python traceback reaches an analyst."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted: no output file was written or changed", err=True)
        sys.exit(130)
    except OSError as exc:  # a full disk, a folder that does not exist, no permission
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"error: cannot write or read{where}: {exc.strerror or exc}; no output file was changed", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except (_Fail, engine.InputFileError, engine.ArtifactError, engine.PopulationError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as exc:  # the last line of defence: an analyst never sees a traceback
        if os.environ.get("RULES_DEBUG"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc}\n(run with RULES_DEBUG=1 for details, "
                   "and please report it)", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
