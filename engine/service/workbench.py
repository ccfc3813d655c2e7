"""The analysts' workbench at `/`: edit a policy in the browser, see its diagnostics as you type, try a
record, see the impact of the unsaved edit on a sample data file, and save it.

The page (static/workbench.html, .js, .css) holds no policy and no data, so it is served without the
token; everything it shows comes from the JSON endpoints below, which the guard protects like the rest
of the API. Edited text is only ever checked, compiled and evaluated — the same steps `rules check`,
`rules explain` and `rules diff` take — and written to the folder only by `save`, atomically, when it
has no errors and the file on disk is still the one the editor started from.

    GET  /workbench/api/policies/{name}          the file's text, its digest, the samples, an example record
    POST /workbench/api/policies/{name}/check    {text} -> diagnostics and highlighting tokens
    POST /workbench/api/policies/{name}/explain  {text, record | key, sample, as_of} -> the explanation
    POST /workbench/api/policies/{name}/impact   {text, sample, as_of} -> saved vs edited on the sample
    PUT  /workbench/api/policies/{name}          {text, base} -> saved (422 with errors, 409 if changed on disk)
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..io import jsonable
from ..diagnostics import PolicyError, to_json as diagnostic_json
from ..diff import DiffError, diff_policies
from ..explain import explain as explain_record, find_record, render as render_explanation
from ..io import FORMATS, atomic_write
from ..parser import lex_for_highlighting
from ..policy import Policy, check_text, compile_policy
from ..population import PopulationError
from ..records import RecordError, problems
from ..report import CONTENT_CSS, render_fragment
from ..testing import CASES_SUFFIX, read_cases
from .notices import ServiceError
from .protocol import ApiError, json_kind, parse_day, read_json, unknown_policy
from .store import STATS_SUFFIX, PolicyStore, _decode

STATIC = Path(__file__).with_name("static")
PAGES = {"workbench.js": "text/javascript; charset=utf-8", "workbench.css": "text/css; charset=utf-8"}
PUBLIC_PATHS = ("/", "/workbench/static/")  # the page and its assets: no data, so no token
MAX_TEXT_CHARS = 5_000_000  # the parser's own limit (E005) catches larger text with a diagnostic first


def sample_files(directory: Path | None) -> list[str]:
    """The data files directly in the samples folder that `rules eval` can read, by name."""
    if directory is None:
        return []
    try:
        listing = sorted(directory.iterdir())
    except OSError:
        return []
    return [p.name for p in listing if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in FORMATS]


class Workbench:
    """The workbench's endpoints over the service's policy store and an optional folder of sample data."""

    def __init__(self, store: PolicyStore, samples: Path | None, as_of: dt.date | None, max_body_bytes: int):
        self.store, self.samples, self.as_of, self.max_body_bytes = store, samples, as_of, max_body_bytes

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/workbench/static/report.css", self.report_css, methods=["GET"]),
            Route("/workbench/static/{file}", self.asset, methods=["GET"]),
            Route("/workbench/api/policies/{name}", self.open, methods=["GET"]),
            Route("/workbench/api/policies/{name}", self.save, methods=["PUT"]),
            Route("/workbench/api/policies/{name}/check", self.check, methods=["POST"]),
            Route("/workbench/api/policies/{name}/explain", self.explain, methods=["POST"]),
            Route("/workbench/api/policies/{name}/impact", self.impact, methods=["POST"]),
        ]

    # -- the page
    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "workbench.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def asset(self, request: Request) -> Response:
        name = request.path_params["file"]
        if name not in PAGES:
            return JSONResponse({"error": "not_found", "message": f"no file {name} in the workbench"}, 404)
        return FileResponse(STATIC / name, media_type=PAGES[name], headers={"Cache-Control": "no-cache"})

    async def report_css(self, request: Request) -> Response:
        return Response(CONTENT_CSS, media_type="text/css; charset=utf-8")

    # -- shared steps
    def _path(self, request: Request) -> tuple[str, Path]:
        name = request.path_params["name"]
        entries = self.store.entries
        if name not in entries:
            raise unknown_policy(name, entries)
        return name, entries[name].path

    async def _request(self, request: Request, *required: str) -> dict:
        body = await read_json(request, self.max_body_bytes)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", f"send a JSON object, not a JSON {json_kind(body)}")
        for key in required:
            if not isinstance(body.get(key), str):
                raise ApiError(400, "bad_request", f"`{key}` is required, as a string")
        return body

    def _day(self, body: dict) -> dt.date:
        given = body.get("as_of")
        if given in (None, ""):
            return self.as_of or dt.date.today()
        return parse_day(given, "as_of")

    def _sample(self, body: dict) -> Path:
        name = body.get("sample")
        known = sample_files(self.samples)
        if not known:
            raise ApiError(409, "no_samples", "there is no sample data: start the service with "
                           "`rules serve POLICY_DIR --samples DIR`, DIR holding CSV, JSONL or Parquet files")
        if name not in known:  # a name from the listing only: never a path the caller made up
            raise ApiError(400, "unknown_sample", f"no sample named {name!r}; the samples are: {', '.join(known)}",
                           known=known)
        return self.samples / name

    def _compile(self, name: str, path: Path, text: str) -> Policy:
        """The edited text as a policy, with the stats file the saved one uses; ApiError 422 with the
        diagnostics if it does not compile."""
        try:
            policy = compile_policy(text, str(path))
        except PolicyError as exc:
            raise ApiError(422, "policy_errors", f"the edited policy has {_count_errors(exc)} error(s); fix them "
                           "first", diagnostics=_diagnostics(exc.diagnostics, exc.source)) from None
        stats = path.with_name(name + STATS_SUFFIX)
        if policy.uses_population and stats.is_file():
            try:
                policy = policy.with_stats(stats)
            except PopulationError as exc:
                raise ApiError(422, "stats", str(exc)) from None
        return policy

    # -- endpoints
    async def open(self, request: Request) -> Response:
        name, path = self._path(request)
        try:
            data = await run_in_threadpool(path.read_bytes)
            text = _decode(data)
        except FileNotFoundError:
            raise ApiError(404, "unknown_policy", f"{path.name} has just been removed from the folder") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ApiError(503, "unreadable", f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}") \
                from None
        samples = sample_files(self.samples)
        default = next((s for s in samples if Path(s).stem == name), None)
        record, as_of = _example(path.with_name(name + CASES_SUFFIX))
        entry = self.store.entries.get(name)
        return JSONResponse({
            "name": name, "file": path.name, "text": text, "base": _digest(data), "samples": samples,
            "sample": default, "record": record,
            "as_of": (self.as_of.isoformat() if self.as_of else as_of) or dt.date.today().isoformat(),
            "status": entry.status if entry else None, "problem": entry.problem if entry else None,
        })

    async def check(self, request: Request) -> Response:
        name, path = self._path(request)
        body = await self._request(request, "text")
        return JSONResponse(await run_in_threadpool(_check, body["text"], str(path)))

    async def explain(self, request: Request) -> Response:
        name, path = self._path(request)
        body = await self._request(request, "text")
        day = self._day(body)
        policy = await run_in_threadpool(self._compile, name, path, body["text"])
        if isinstance(body.get("key"), str) and body["key"].strip():
            sample = self._sample(body)
            try:
                record = await run_in_threadpool(find_record, policy, str(sample), body["key"].strip())
            except LookupError as exc:
                raise ApiError(404, "no_record", str(exc)) from None
        elif isinstance(body.get("record"), dict):
            record = body["record"]
        else:
            raise ApiError(400, "bad_request", "give `record` (a JSON object) or `key` (a customer key to find in "
                           "the sample)")
        if policy.uses_population and policy.populations is None:
            raise ApiError(422, "needs_stats", f"policy {name} ranks records against a population, and one record has "
                           f"none: freeze one with `rules fit {path.name} --data FILE -o {name}{STATS_SUFFIX}` "
                           "beside the policy")
        try:
            view = await run_in_threadpool(explain_record, policy, record, day)
        except RecordError as exc:
            found = problems(record, policy.plan.fields) or [exc]
            reason = "; ".join(e.reason for e in found)
            raise ApiError(422, "rejected", f"the record does not fit the input of the policy: {reason}",
                           field=found[0].field, reason=reason) from None
        return JSONResponse({"text": render_explanation(view), "explanation": view})

    async def impact(self, request: Request) -> Response:
        name, path = self._path(request)
        body = await self._request(request, "text")
        day = self._day(body)
        sample = self._sample(body)
        new = await run_in_threadpool(self._compile, name, path, body["text"])
        entry = self.store.entries.get(name)
        if entry is not None and entry.serving is not None:
            old, against = entry.serving.policy, "saved" if entry.status == "ok" else "serving"
        else:  # nothing saved checks clean: show the edited version's distribution on its own
            old, against = new, "none"
        try:
            impact = await run_in_threadpool(diff_policies, old, new, str(sample), day, 3)
        except (DiffError, PopulationError) as exc:
            raise ApiError(422, "impact", str(exc)) from None
        except (OSError, ValueError) as exc:
            raise ApiError(422, "sample", f"cannot read the sample {sample.name}: {exc}") from None
        return JSONResponse({"against": against, "sample": sample.name, "html": render_fragment(impact),
                             "impact": impact.to_dict()})

    async def save(self, request: Request) -> Response:
        name, path = self._path(request)
        body = await self._request(request, "text", "base")
        return JSONResponse(await run_in_threadpool(self._save, name, path, body["text"], body["base"]))

    def _save(self, name: str, path: Path, text: str, base: str) -> dict:
        checked = _check(text, str(path))
        errors = [d for d in checked["diagnostics"] if d["severity"] == "error"]
        if errors:
            raise ApiError(422, "policy_errors", f"not saved: the policy has {len(errors)} error(s); the first, at "
                           f"line {errors[0]['line']}: {errors[0]['message']}", diagnostics=checked["diagnostics"])
        try:
            on_disk = _digest(path.read_bytes())
        except FileNotFoundError:
            on_disk = None
        if on_disk != base:
            raise ApiError(409, "changed_on_disk", f"not saved: {path.name} changed on disk after you opened it "
                           "(someone saved it, or it was edited in another editor). Copy your edit, reload the "
                           "policy, and apply it again.")
        data = text.encode("utf-8")
        try:
            with atomic_write(path) as f:
                f.write(text)
        except OSError as exc:
            raise ApiError(503, "not_saved", f"not saved: {exc.strerror or exc} ({path.name})") from None
        self.store.scan()  # serve the saved version now, not at the watcher's next look
        entry = self.store.entries.get(name)
        return {"saved": True, "base": _digest(data), "file": path.name,
                "status": entry.status if entry else None, "problem": entry.problem if entry else None,
                "hash": entry.serving.policy.content_hash if entry and entry.serving else None}


def _check(text: str, path: str) -> dict:
    """Diagnostics (as `rules check --format json` gives them, plus UTF-16 offsets for the browser) and
    highlighting tokens of unsaved text."""
    if len(text) > MAX_TEXT_CHARS:
        raise ApiError(413, "too_large", f"the policy is longer than {MAX_TEXT_CHARS:,} characters")
    source, found = check_text(text, path, verify=True)
    units = _utf16_offsets(source.text)
    return {"diagnostics": _diagnostics(found, source, units),
            "tokens": [[units[a], units[b], kind] for a, b, kind in lex_for_highlighting(source.text)]}


def _diagnostics(found, source, units: list[int] | None = None) -> list[dict]:
    units = units or _utf16_offsets(source.text)
    last = len(units) - 1
    return [{**diagnostic_json(d, source), "start": units[min(d.span.start, last)],
             "end": units[min(d.span.end, last)]} for d in found]


def _utf16_offsets(text: str) -> list[int]:
    """offsets[i]: where character i of `text` starts in UTF-16 code units, as JavaScript counts."""
    out, at = [0] * (len(text) + 1), 0
    for i, ch in enumerate(text):
        out[i] = at
        at += 2 if ord(ch) > 0xFFFF else 1
    out[len(text)] = at
    return out


def _count_errors(exc: PolicyError) -> int:
    return sum(d.severity == "error" for d in exc.diagnostics)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _example(cases: Path) -> tuple[dict | None, str | None]:
    """The first record of the policy's cases file and that file's as-of date, to start the try panel."""
    try:
        doc = read_cases(cases)
        case = doc["cases"][0]
        return jsonable(case["record"]), jsonable(case.get("as_of") or doc.get("as_of"))
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):  # none, or one `rules test` reports
        return None, None


def samples_folder(path: str | os.PathLike | None) -> Path | None:
    """The --samples folder, checked when the service starts."""
    if path is None:
        return None
    folder = Path(path)
    if not folder.is_dir():
        raise ServiceError(f"--samples {path}: " + ("no such folder" if not folder.exists() else
                                                    "is a file; give the folder that holds the sample data files"))
    return folder

