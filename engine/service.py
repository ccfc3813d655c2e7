"""The decision service behind `rules serve POLICY_DIR`: the policies of a folder as an HTTP JSON API.

    from engine.service import create_app
    app = create_app("policies/", log_path="decisions.jsonl")   # a Starlette app; serve it with uvicorn

Endpoints (docs/service.md has curl examples; GET /openapi.json describes each precisely):

    POST /v1/policies/{name}/evaluate   one record (an object) or a list of records -> the decision(s)
    POST /v1/policies/{name}/explain    one record -> why it got its segments and outputs (pii masked)
    GET  /v1/policies                   every policy: version, content hash, inputs, segments, outputs, status
    GET  /v1/policies/{name}            one policy, with the diagnostics of its file as it is on disk now
    GET  /healthz                       liveness; never needs the token
    GET  /metrics                       Prometheus text format
    GET  /openapi.json                  the OpenAPI 3.1 document of this API

`{name}` is a file's name without `.rules`. The `*.rules` files directly in the folder are served
(not those in sub-folders, so `{name}` is never a path); a `NAME.stats.json` beside `NAME.rules`
gives a policy that ranks records (quintile, ntile, percent_rank) its frozen populations
(`rules fit`). A watcher thread polls the folder every half second: an edit that checks clean,
exactly as `rules check` would pass it, is compiled and swapped in with one reference assignment
(a request keeps the policy it started with); a broken edit leaves the last good version serving,
with status "error" and the diagnostics of the file on disk.

A browser workbench can be added later without touching the API: its pages are static files that
call these JSON endpoints, mounted last in `create_app` with
`Mount("/", app=StaticFiles(directory=..., html=True))` — the API lives under /v1, /healthz,
/metrics and /openapi.json, so `/` is free.
"""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from . import ir
from .decision import jsonable
from .diagnostics import PolicyError, did_you_mean, to_json as diagnostic_json
from .explain import MASK, explain as explain_record
from .policy import ENGINE_VERSION, Policy, _as_of, check_text, compile_policy
from .population import PopulationError
from .records import RecordError, problems

POLL_SECONDS = 0.5
DEFAULT_LOG_MAX_BYTES = 10_000_000
LOG_BACKUPS = 5
MAX_BODY_BYTES = 16 * 1024 * 1024
STATS_SUFFIX = ".stats.json"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceError(Exception):
    """The service cannot start: a message for whoever runs `rules serve`."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- the policies of the folder ----------------------------------------------------------------

@dataclass(frozen=True)
class Loaded:
    """One checked and compiled version of a policy, ready to decide records."""

    policy: Policy
    pii_outputs: frozenset[str]  # outputs computed from `pii` fields: masked in the log and in explain
    key_private: bool  # the key field is marked `pii`: masked in the log, explain and rejects
    loaded_at: str
    stats: str | None  # the stats file its populations came from
    stats_digest: str | None  # and that file's sha256 when it was read


@dataclass(frozen=True)
class Entry:
    """A policy file as the service knows it: the version serving (if any) and the file's state now.

    status: "ok" (the file on disk is what serves), "error" (the file has errors or cannot be used;
    an older version serves), "unavailable" (no version of it has ever checked clean)."""

    name: str
    path: Path
    serving: Loaded | None
    status: str
    diagnostics: tuple[dict, ...]  # of the file on disk now, as `rules check --format json` gives them
    problem: str | None  # why the file on disk is not serving, in a sentence
    stamp: tuple  # (mtime, size, inode) of the policy and of its stats file: cheap change detection
    digest: tuple  # sha256 of both files' bytes: a touch without a change does not reload


class PolicyStore:
    """The policies of a folder, kept current by a watcher thread.

    `entries` is replaced as a whole by each scan that changes something (one assignment), so a
    reader that took it, or an Entry from it, sees one consistent state for as long as it holds it.
    """

    def __init__(self, directory: str | os.PathLike, poll_seconds: float = POLL_SECONDS,
                 notify: Callable[[str], None] = _stderr, on_reload: Callable[[str, str], None] | None = None):
        self.directory = Path(directory)
        self.poll_seconds = poll_seconds
        self.notify = notify
        self.on_reload = on_reload
        self.entries: dict[str, Entry] = {}
        self._lock = threading.Lock()  # one scan at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the watcher
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="rules-policy-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.scan()
            except Exception:  # a bug must not end the watcher: say so, and keep watching
                _stderr(f"rules serve: internal error while watching {self.directory}:\n{traceback.format_exc()}")

    # -- one pass over the folder
    def scan(self, report: bool = True) -> bool:
        """Bring `entries` up to date with the folder; True if anything changed."""
        with self._lock:
            current = self.entries
            found: dict[str, Entry] = {}
            changed = False
            for path in self._files():
                name = path.stem
                stats_path = path.with_name(name + STATS_SUFFIX)
                stamp = (_stamp(path), _stamp(stats_path))
                if stamp[0] is None:  # removed since the listing
                    continue
                old = current.get(name)
                if old is not None and old.stamp == stamp:
                    found[name] = old
                    continue
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    entry = self._failed(name, path, old, (), f"cannot read {path} ({exc.strerror})", stamp,
                                         ("unreadable", stamp))
                else:
                    stats_data = _read_or_none(stats_path)
                    digest = (hashlib.sha256(data).hexdigest(),
                              None if stats_data is None else hashlib.sha256(stats_data).hexdigest())
                    if old is not None and old.digest == digest:
                        found[name] = replace(old, stamp=stamp)
                        continue
                    entry = self._load(name, path, data, stats_path if stats_data is not None else None, old,
                                       stamp, digest)
                found[name] = entry
                changed = True
                if report:
                    self._report(old, entry)
                    if self.on_reload:
                        self.on_reload(name, "ok" if entry.status == "ok" else "error")
            for name, old in current.items():
                if name not in found:
                    changed = True
                    if report:
                        self.notify(f"rules serve: {old.path} was removed; policy {name} is no longer served")
            self.entries = found  # the swap: one reference assignment
            return changed

    def _files(self) -> list[Path]:
        try:
            listing = sorted(self.directory.glob("*.rules"))
        except OSError:
            return []
        # editors' lock and backup files (.#x.rules, .x.rules) are not policies
        return [p for p in listing if not p.name.startswith((".", "#")) and p.is_file()]

    def _load(self, name: str, path: Path, data: bytes, stats_path: Path | None, old: Entry | None,
              stamp: tuple, digest: tuple) -> Entry:
        """Check the file as `rules check` does; if it has no errors, compile it and make it the one serving."""
        diagnostics: tuple[dict, ...] = ()
        try:
            text = _decode(data)
            source, found = check_text(text, str(path), verify=True)
            diagnostics = tuple(diagnostic_json(d, source) for d in found)
            errors = [d for d in diagnostics if d["severity"] == "error"]
            if errors:
                first = errors[0]
                return self._failed(name, path, old, diagnostics,
                                    f"{len(errors)} error(s); the first, at line {first['line']}: "
                                    f"{first['message']}", stamp, digest)
            policy = compile_policy(text, str(path))
            stats = None
            if policy.uses_population:
                if stats_path is None:
                    sites = ", ".join(f"{s.fn} (line {s.line})" for s in policy.plan.sites)
                    stats_name = path.with_name(name + STATS_SUFFIX)
                    return self._failed(
                        name, path, old, diagnostics,
                        f"policy {name} ranks records against a population with {sites}, and a single record "
                        f"has none: freeze one with `rules fit {path} --data FILE -o {stats_name}`; the service "
                        f"picks the file up by itself", stamp, digest)
                policy = policy.with_stats(stats_path)
                stats = str(stats_path)
        except UnicodeDecodeError:
            return self._failed(name, path, old, diagnostics, f"{path} is neither UTF-8 nor GB18030 text; "
                                "save it as UTF-8", stamp, digest)
        except PolicyError as exc:  # check_text passed it but compiling did not: report what compile says
            diagnostics = tuple(diagnostic_json(d, exc.source) for d in exc.diagnostics)
            return self._failed(name, path, old, diagnostics, f"{path} does not compile", stamp, digest)
        except PopulationError as exc:
            return self._failed(name, path, old, diagnostics, str(exc), stamp, digest)
        except Exception as exc:
            _stderr(f"rules serve: internal error while loading {path}:\n{traceback.format_exc()}")
            return self._failed(name, path, old, diagnostics, f"internal error while loading {path} "
                                f"({type(exc).__name__}: {exc}); it is logged on the server", stamp, digest)
        plan = policy.plan
        was = old.serving if old is not None else None
        stats_digest = digest[1] if stats is not None else None
        if was is not None and (was.policy.content_hash, was.stats_digest) == (plan.content_hash, stats_digest):
            loaded = was  # the text serving, e.g. a broken edit undone: the version serving stays, untouched
        else:
            loaded = Loaded(policy, frozenset(ir.personal_outputs(plan)), plan.key in ir.personal(plan), _now(),
                            stats, stats_digest)
        return Entry(name, path, loaded, "ok", diagnostics, None, stamp, digest)

    def _failed(self, name, path, old: Entry | None, diagnostics, problem: str, stamp, digest) -> Entry:
        serving = old.serving if old is not None else None
        return Entry(name, path, serving, "error" if serving is not None else "unavailable", tuple(diagnostics),
                     problem, stamp, digest)

    def _report(self, old: Entry | None, new: Entry) -> None:
        loaded = new.serving
        if new.status == "ok":
            was = old.serving if old is not None else None
            what = f"{loaded.policy.version} ({loaded.policy.content_hash})"
            if was is None:
                self.notify(f"rules serve: {new.path}: now serving {new.name} {what}")
            elif was is loaded:
                self.notify(f"rules serve: {new.path} checks clean again, the same text as the version serving; "
                            f"{new.name} {what} serves on")
            else:
                self.notify(f"rules serve: {new.path}: now serving {new.name} {what}, was "
                            f"{was.policy.version} ({was.policy.content_hash})")
        elif loaded is not None:
            self.notify(f"rules serve: {new.path}: {new.problem}; still serving {loaded.policy.version} "
                        f"({loaded.policy.content_hash}) — GET /v1/policies/{new.name} lists the diagnostics")
        else:
            self.notify(f"rules serve: {new.path}: {new.problem}; not serving {new.name}")


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _decode(data: bytes) -> str:
    """Policy text as `rules check` reads it: UTF-8 (a BOM is fine), or GB18030 from Chinese Windows editors."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


# ---- the decision log --------------------------------------------------------------------------

class DecisionLog:
    """Decisions appended as JSON lines, rotated by size: FILE -> FILE.1 -> … -> FILE.5 (the oldest dropped).

    Safe to call from any thread: one lock covers the size check, the rotation and the write, and
    the lines of one call are written together, never interleaved with another call's.
    """

    def __init__(self, path: str | os.PathLike, max_bytes: int = DEFAULT_LOG_MAX_BYTES, backups: int = LOG_BACKUPS):
        if max_bytes < 1:
            raise ServiceError(f"--log-max-bytes must be at least 1, not {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._file = None
        self._size = 0
        try:
            self._open()
        except OSError as exc:
            raise ServiceError(f"--log {path}: cannot open it for appending ({exc.strerror})") from None

    def _open(self) -> None:
        self._file = open(self.path, "ab", buffering=0)  # unbuffered: each write is one append
        self._size = os.fstat(self._file.fileno()).st_size

    def write(self, lines: list[str]) -> None:
        """Append lines (each ending in a newline), starting a new file whenever the next one would not fit."""
        with self._lock:
            if self._file is None:
                self._open()
            chunk: list[bytes] = []
            size = self._size
            for line in lines:
                data = line.encode("utf-8")
                if size and size + len(data) > self.max_bytes:
                    self._flush(chunk)
                    chunk = []
                    self._rotate()
                    size = 0
                chunk.append(data)
                size += len(data)
            self._flush(chunk)

    def _flush(self, chunk: list[bytes]) -> None:
        view = memoryview(b"".join(chunk))
        while view:  # an unbuffered write may take only part of the bytes
            written = self._file.write(view)
            self._size += written
            view = view[written:]

    def _rotate(self) -> None:
        self._file.close()
        self._file = None  # if a rename below fails, the next write opens the file again
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._open()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def log_line(name: str, loaded: Loaded, decision) -> str:
    """One decision as a log line: no input field at all; a `pii` key and outputs computed from `pii` fields
    show as ***."""
    key = decision.key
    if loaded.key_private and key is not None:
        key = MASK
    outputs = {k: MASK if k in loaded.pii_outputs and v is not None else v for k, v in decision.outputs.items()}
    doc = {"time": _now(), "policy": name, "version": decision.version, "content_hash": decision.content_hash,
           "as_of": decision.as_of.isoformat(), "key": jsonable(key), "segments": jsonable(decision.segments),
           "outputs": jsonable(outputs), "rules_fired": decision.rules_fired}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


# ---- metrics -----------------------------------------------------------------------------------

class Metrics:
    """Counters and a latency histogram, rendered in the Prometheus text format (version 0.0.4)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], list] = {}  # (method, path) -> [bucket counts…, sum, count]
        self.decisions: dict[tuple[str, str, str], int] = {}
        self.rejects: dict[str, int] = {}
        self.reloads: dict[tuple[str, str], int] = {}

    def request(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, path, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.get((method, path))
            if hist is None:
                hist = self.latency[(method, path)] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0, 0]
            hist[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def decision(self, policy: str, decision) -> None:
        with self._lock:
            counts = self.decisions
            for segment, member in decision.segments.items():
                if isinstance(member, (list, tuple)):
                    for m in member or ("(none)",):
                        key = (policy, segment, m)
                        counts[key] = counts.get(key, 0) + 1
                else:
                    key = (policy, segment, "(missing)" if member is None else str(member))
                    counts[key] = counts.get(key, 0) + 1

    def reject(self, policy: str) -> None:
        with self._lock:
            self.rejects[policy] = self.rejects.get(policy, 0) + 1

    def reload(self, policy: str, result: str) -> None:
        with self._lock:
            key = (policy, result)
            self.reloads[key] = self.reloads.get(key, 0) + 1

    def render(self, entries: dict[str, Entry]) -> str:
        with self._lock:
            requests = sorted(self.requests.items())
            latency = sorted((k, list(v)) for k, v in self.latency.items())
            decisions = sorted(self.decisions.items())
            rejects = sorted(self.rejects.items())
            reloads = sorted(self.reloads.items())
        out = ["# HELP rules_requests_total HTTP requests, by method, route template and status.",
               "# TYPE rules_requests_total counter"]
        out += [f"rules_requests_total{_labels(method=m, path=p, status=s)} {n}" for (m, p, s), n in requests]
        out += ["# HELP rules_request_seconds Time from the request's arrival in the app to its response, by route.",
                "# TYPE rules_request_seconds histogram"]
        for (m, p), hist in latency:
            running = 0
            for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), hist):
                running += count
                out.append(f"rules_request_seconds_bucket{_labels(method=m, path=p, le=_float(bound))} {running}")
            out.append(f"rules_request_seconds_sum{_labels(method=m, path=p)} {_float(hist[-2])}")
            out.append(f"rules_request_seconds_count{_labels(method=m, path=p)} {hist[-1]}")
        out += ["# HELP rules_decisions_total Records decided, by policy and the member each segment gave "
                "((missing) when a segment has none, (none) for an `all` segment that no rule takes).",
                "# TYPE rules_decisions_total counter"]
        out += [f"rules_decisions_total{_labels(policy=p, segment=s, member=m)} {n}" for (p, s, m), n in decisions]
        out += ["# HELP rules_rejects_total Records rejected because they do not fit the policy's input.",
                "# TYPE rules_rejects_total counter"]
        out += [f"rules_rejects_total{_labels(policy=p)} {n}" for p, n in rejects]
        out += ["# HELP rules_reloads_total Policy files checked after a change: ok (swapped in) or error (kept "
                "the last good version).",
                "# TYPE rules_reloads_total counter"]
        out += [f"rules_reloads_total{_labels(policy=p, result=r)} {n}" for (p, r), n in reloads]
        out += ["# HELP rules_policy_info The version of each policy serving, and the status of its file.",
                "# TYPE rules_policy_info gauge"]
        for name, entry in sorted(entries.items()):
            loaded = entry.serving
            out.append("rules_policy_info" + _labels(
                policy=name, version=loaded.policy.version if loaded else "",
                content_hash=loaded.policy.content_hash if loaded else "", status=entry.status) + " 1")
        return "\n".join(out) + "\n"


def _labels(**labels) -> str:
    def escape(value: str) -> str:
        return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def _float(value) -> str:
    return value if isinstance(value, str) else repr(float(value))


# ---- the HTTP API ------------------------------------------------------------------------------

class ApiError(Exception):
    """A request the service answers with an error: HTTP status, a stable code, a message for the caller."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": self.message, **self.extra}, status_code=self.status)


class _Service:
    """The request handlers, over one store, log and metrics."""

    def __init__(self, store: PolicyStore, metrics: Metrics, log: DecisionLog | None, token: str | None,
                 as_of: dt.date | None, max_body_bytes: int):
        self.store, self.metrics, self.log, self.token = store, metrics, log, token
        self.as_of, self.max_body_bytes = as_of, max_body_bytes

    # -- shared steps
    def _serving(self, request: Request) -> tuple[str, Loaded]:
        name = request.path_params["name"]
        entries = self.store.entries
        entry = entries.get(name)
        if entry is None:
            raise _unknown(name, entries)
        if entry.serving is None:
            raise ApiError(503, "unavailable", f"policy {name} is not serving: {entry.problem}. "
                           f"GET /v1/policies/{name} lists the diagnostics of its file.")
        return name, entry.serving

    def _day(self, request: Request) -> dt.date:
        text = request.query_params.get("as_of")
        if text is None:
            return self.as_of or dt.date.today()
        try:
            if not _ISO_DATE.match(text):
                raise ValueError(text)
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ApiError(400, "bad_request", f"as_of={text!r} is not a date; write it as YYYY-MM-DD, "
                           "for example as_of=2026-11-22") from None

    async def _body(self, request: Request) -> Any:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data.strip():
            raise ApiError(400, "bad_json", "the request body is empty: send one record as a JSON object, "
                           "or a list of records as a JSON array")
        try:
            return json.loads(data.decode("utf-8-sig"), parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise ApiError(400, "bad_json", "the request body is not UTF-8 text; send JSON encoded as UTF-8") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, "bad_json", f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None
        except ValueError as exc:  # NaN or Infinity
            raise ApiError(400, "bad_json", str(exc)) from None
        except RecursionError:
            raise ApiError(400, "bad_json", "the request body is nested too deeply to read") from None

    # -- endpoints
    async def evaluate(self, request: Request) -> Response:
        name, loaded = self._serving(request)
        day = self._day(request)
        body = await self._body(request)
        policy = loaded.policy
        if isinstance(body, dict):
            try:
                decision = policy.evaluate(body, day)
            except RecordError as exc:
                self.metrics.reject(name)
                found = problems(body, policy.plan.fields) or [exc]
                reason = "; ".join(e.reason for e in found)
                raise ApiError(422, "rejected", f"the record does not fit the input of policy {name}: {reason}",
                               field=found[0].field, reason=reason) from None
            if self.log is not None:
                self._log([log_line(name, loaded, decision)])
            self.metrics.decision(name, decision)
            return JSONResponse(decision.to_dict())
        if not isinstance(body, list):
            raise ApiError(400, "bad_request", f"the body is a JSON {_json_kind(body)}: send one record as a JSON "
                           "object, or a list of records as a JSON array")
        results, decided, rejected = [], [], 0
        for result in policy.evaluate_many(body, day, rank_in_batch=False):
            if result.ok:
                decided.append(result)
                results.append({**result.to_dict(), "ok": True})
            else:
                rejected += 1
                key = MASK if loaded.key_private and result.key is not None else jsonable(result.key)
                results.append({"ok": False, "row": result.row, "key": key, "field": result.field,
                                "reason": result.reason})
        if self.log is not None and decided:
            self._log([log_line(name, loaded, d) for d in decided])
        for d in decided:
            self.metrics.decision(name, d)
        for _ in range(rejected):
            self.metrics.reject(name)
        return JSONResponse(results)

    def _log(self, lines: list[str]) -> None:
        try:
            self.log.write(lines)
        except OSError as exc:
            _stderr(f"rules serve: cannot write the decision log {self.log.path}: {exc}")
            raise ApiError(503, "log_unavailable", "the decision was made but could not be written to the decision "
                           "log, so it is not returned; the server's operator has been told "
                           f"({exc.strerror or exc})") from None

    async def explain(self, request: Request) -> Response:
        name, loaded = self._serving(request)
        day = self._day(request)
        show = request.query_params.get("show_pii", "false")
        if show not in ("true", "false"):
            raise ApiError(400, "bad_request", f"show_pii={show!r}: write show_pii=true or show_pii=false")
        show_pii = show == "true"
        if show_pii and self.token is None:
            raise ApiError(403, "forbidden", "show_pii=true is refused: this service runs without --token-file, so "
                           "anyone who can reach it could read personal data. Start it with --token-file; then "
                           "callers that send the token may ask for show_pii=true.")
        body = await self._body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", f"explain takes one record as a JSON object, not a JSON "
                           f"{_json_kind(body)}")
        try:
            view = explain_record(loaded.policy, body, day, show_pii=show_pii)
        except RecordError as exc:
            self.metrics.reject(name)
            found = problems(body, loaded.policy.plan.fields) or [exc]
            reason = "; ".join(e.reason for e in found)
            raise ApiError(422, "rejected", f"the record does not fit the input of policy {name}: {reason}",
                           field=found[0].field, reason=reason) from None
        return JSONResponse(view)

    async def list_policies(self, request: Request) -> Response:
        return JSONResponse([describe(e) for _, e in sorted(self.store.entries.items())])

    async def get_policy(self, request: Request) -> Response:
        name = request.path_params["name"]
        entries = self.store.entries
        entry = entries.get(name)
        if entry is None:
            raise _unknown(name, entries)
        return JSONResponse({**describe(entry), "diagnostics": list(entry.diagnostics)})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.render(self.store.entries), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(self.store.entries, secured=self.token is not None,
                                             max_body_bytes=self.max_body_bytes))


def _unknown(name: str, entries: dict) -> ApiError:
    known = sorted(entries)
    hint = did_you_mean(name, known)
    listed = ", ".join(known) if known else "none (the folder has no .rules files)"
    return ApiError(404, "unknown_policy", f"no policy named {name!r}" + (f"; {hint}" if hint else ".")
                    + f" Known policies: {listed}.", known=known)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the request body is larger than {limit:,} bytes; send the records in "
                    "smaller lists, or decide big files with `rules eval --data FILE`")


def _no_constant(name: str):
    raise ValueError(f"the request body holds {name}, which is not a JSON number; send a number or null")


def _json_kind(value) -> str:
    return {str: "string", bool: "boolean", int: "number", float: "number", type(None): "null",
            list: "array", dict: "object"}.get(type(value), type(value).__name__)


def describe(entry: Entry) -> dict:
    """What GET /v1/policies says about one policy: the version serving, its input, segments and outputs."""
    loaded = entry.serving
    out = {"name": entry.name, "status": entry.status, "file": str(entry.path), "problem": entry.problem}
    if loaded is None:
        return {**out, "policy": None, "label": None, "version": None, "hash": None, "loaded_at": None,
                "stats": None, "key": None, "inputs": [], "segments": [], "outputs": []}
    plan = loaded.policy.plan
    return {
        **out, "policy": plan.name, "label": plan.label, "version": plan.version, "hash": plan.content_hash,
        "loaded_at": loaded.loaded_at, "stats": loaded.stats, "key": plan.key,
        "inputs": [{"name": f.name, "type": str(f.type), "members": list(f.type.members), "optional": f.optional,
                    "pii": f.pii, "key": f.key, "default": jsonable(f.default), "column": f.column, "label": f.label}
                   for f in plan.fields],
        "segments": [{"name": s.name, "label": s.label, "hit": s.hit, "members": list(s.members),
                      "member_labels": {m: label for m, label in zip(s.members, s.labels) if label is not None}}
                     for s in plan.segments],
        "outputs": [{"name": o.name, "type": str(o.type), "label": o.label, "default": jsonable(o.default)}
                    for o in plan.outputs],
    }


class _Guard:
    """The outermost layer of the API (pure ASGI, for speed): the bearer token, request metrics, and a JSON
    500 for any unexpected exception — its traceback goes to stderr, never to the caller."""

    def __init__(self, app, token: str | None, metrics: Metrics, routes: list[Route]):
        self.app, self.token, self.metrics, self.routes = app, token, metrics, routes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        state = {"status": 500, "started": False}

        async def sending(message):
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
            await send(message)

        path = self._route(scope)
        try:
            if self.token is not None and path != "/healthz" and not self._authorized(scope):
                await self._unauthorized(scope)(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        except ClientDisconnect:  # the caller went away before sending its whole body: nobody to answer
            state["status"] = 499
        except Exception:
            ref = uuid.uuid4().hex[:12]
            _stderr(f"rules serve: internal error {ref} on {scope['method']} {scope['path']}:\n"
                    f"{traceback.format_exc()}")
            if state["started"]:
                raise
            await JSONResponse({"error": "internal", "message": f"internal error (reference {ref}): the request "
                                "could not be handled; the details are logged on the server under that reference"},
                               status_code=500)(scope, receive, sending)
        finally:
            self.metrics.request(scope["method"], path, state["status"], time.perf_counter() - start)

    def _route(self, scope) -> str:
        """The route template the request matches, for metric labels (never the raw path: names vary)."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return route.path
        return "(unmatched)"

    def _authorized(self, scope) -> bool:
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token.encode())
        return False

    def _unauthorized(self, scope) -> JSONResponse:
        sent = any(key == b"authorization" for key, _ in scope["headers"])
        body = {"error": "unauthorized",
                "message": "the token is wrong, or not sent as `Authorization: Bearer <token>`: send the one in "
                "the service's --token-file" if sent else
                "this service needs a token: send the header `Authorization: Bearer <token>`"}
        challenge = 'Bearer realm="rules", error="invalid_token"' if sent else 'Bearer realm="rules"'
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": challenge})


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        message = f"no endpoint {request.url.path}; GET /openapi.json lists them"
        code = "not_found"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; it takes {exc.headers.get('Allow', '')}"
        code = "method_not_allowed"
    else:
        message, code = str(exc.detail), "http_error"
    return JSONResponse({"error": code, "message": message}, status_code=exc.status_code, headers=exc.headers)


async def _api_error(request: Request, exc: ApiError) -> Response:
    return exc.response()


def create_app(policy_dir: str | os.PathLike, token: str | None = None, log_path: str | os.PathLike | None = None,
               log_max_bytes: int = DEFAULT_LOG_MAX_BYTES, as_of: dt.date | str | None = None, *,
               poll_seconds: float = POLL_SECONDS, max_body_bytes: int = MAX_BODY_BYTES,
               notify: Callable[[str], None] = _stderr) -> Starlette:
    """The decision service as a Starlette app, without starting a server.

    The policies are loaded before this returns; the watcher that reloads them runs while the app's
    lifespan does (uvicorn, or `with TestClient(app)`). `token`: the bearer token every endpoint but
    /healthz requires (None: no auth). `log_path`: append each decision as a JSON line there, rotated
    at `log_max_bytes`. `as_of`: the date to decide as of when a request gives none (default: the day
    of the request). Raises ServiceError with a message for the operator if it cannot start.
    """
    directory = Path(policy_dir)
    if not directory.is_dir():
        raise ServiceError(f"{policy_dir}: no such folder; give the folder that holds the .rules files"
                           if not directory.exists() else
                           f"{policy_dir} is a file; give the folder that holds the .rules files")
    if token is not None and not token.strip():
        raise ServiceError("the token is empty")
    day = None
    if as_of is not None:
        try:
            day = _as_of(as_of)
        except ValueError as exc:
            raise ServiceError(f"--as-of: {exc}") from None
    log = DecisionLog(log_path, log_max_bytes) if log_path is not None else None
    metrics = Metrics()
    store = PolicyStore(directory, poll_seconds, notify=notify, on_reload=metrics.reload)
    store.scan(report=False)
    service = _Service(store, metrics, log, token.strip() if token else None, day, max_body_bytes)

    routes = [
        Route("/v1/policies/{name}/evaluate", service.evaluate, methods=["POST"]),
        Route("/v1/policies/{name}/explain", service.explain, methods=["POST"]),
        Route("/v1/policies", service.list_policies, methods=["GET"]),
        Route("/v1/policies/{name}", service.get_policy, methods=["GET"]),
        Route("/healthz", service.healthz, methods=["GET"]),
        Route("/metrics", service.metrics_text, methods=["GET"]),
        Route("/openapi.json", service.openapi, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app):
        store.start()
        try:
            yield
        finally:
            store.stop()
            if log is not None:
                log.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(_Guard, token=service.token, metrics=metrics, routes=routes)],
                    exception_handlers={HTTPException: _http_error, ApiError: _api_error})
    app.state.store, app.state.metrics, app.state.log = store, metrics, log
    return app


# ---- running it --------------------------------------------------------------------------------

def read_token(path: str | os.PathLike) -> str:
    """The bearer token in a file (surrounding whitespace stripped); ServiceError if it cannot be used."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServiceError(f"--token-file {path}: no such file") from None
    except IsADirectoryError:
        raise ServiceError(f"--token-file {path} is a folder; give the file that holds the token") from None
    except OSError as exc:
        raise ServiceError(f"--token-file {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ServiceError(f"--token-file {path} is not text; put the token in it as one line") from None
    token = text.strip()
    if not token:
        raise ServiceError(f"--token-file {path} is empty; put a token in it, for example with "
                           f"`python -c 'import secrets; print(secrets.token_urlsafe(32))' > {path}`")
    if not (token.isascii() and token.isprintable()) or any(ch.isspace() for ch in token):
        raise ServiceError(f"--token-file {path}: the token must be one word of visible ASCII characters "
                           "(no spaces or line breaks inside), as an `Authorization: Bearer` header carries it")
    return token


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets that say they are TCP,
    # and with it on a keep-alive connection waits ~40 ms for a delayed ACK between a response's parts
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve(policy_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 8080, token_file=None,
          log_path=None, log_max_bytes: int | None = None, as_of: str | None = None) -> None:
    """Run the service with uvicorn until SIGINT or SIGTERM, then stop cleanly (what `rules serve` does)."""
    import uvicorn

    token = read_token(token_file) if token_file is not None else None
    if token_file is not None and os.name == "posix" and os.stat(token_file).st_mode & 0o077:
        _stderr(f"rules serve: warning: {token_file} can be read by other users of this machine; "
                f"`chmod 600 {token_file}`")
    app = create_app(policy_dir, token=token, log_path=log_path,
                     log_max_bytes=DEFAULT_LOG_MAX_BYTES if log_max_bytes is None else log_max_bytes, as_of=as_of)
    sock = _bind(host, port)
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    entries = app.state.store.entries
    counts = {s: sum(e.status == s for e in entries.values()) for s in ("ok", "error", "unavailable")}
    listed = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none yet: new files are picked up as they appear"
    where = f"[{host}]" if ":" in host else host
    _stderr(f"rules serve: {len(entries)} policies from {policy_dir} ({listed}) on http://{where}:{port}")
    for entry in entries.values():
        if entry.status != "ok":
            _stderr(f"  {entry.name}: {entry.status}: {entry.problem}")
    _stderr(f"  auth: {'bearer token from ' + str(token_file) if token else 'none'}; decision log: "
            f"{log_path or 'off'}; as of: {as_of or 'the day of each request'}; Ctrl-C stops it")
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        _stderr(f"rules serve: warning: listening on {host} without --token-file: anyone who can reach the port "
                "can decide records and read the policies")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           server_header=False, timeout_graceful_shutdown=10))

    def stop(signum, frame):  # until uvicorn installs its own handlers, and when it hands the signal back
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    _stderr("rules serve: stopped")


# ---- the OpenAPI document ----------------------------------------------------------------------

def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, schema: str = "Error") -> dict:
    return _json(_ref(schema), description)


_NULLABLE_STRING = {"type": ["string", "null"]}
_ANY = {"description": "any JSON value"}


def _schemas() -> dict:
    error = {"type": "object", "required": ["error", "message"],
             "properties": {"error": {"type": "string", "description": "a stable code: bad_json, bad_request, "
                                      "unauthorized, forbidden, unknown_policy, too_large, rejected, unavailable, "
                                      "log_unavailable, internal"},
                            "message": {"type": "string", "description": "what went wrong, for a person"}}}
    decision = {
        "type": "object", "description": "A decided record, as engine.Decision.to_dict() gives it.",
        "required": ["key", "row", "segments", "labels", "outputs", "rules_fired", "errors", "policy", "version",
                     "content_hash", "as_of"],
        "properties": {
            "key": {**_ANY, "description": "the record's key field (null when the policy has no key)"},
            "row": {"type": ["integer", "null"], "description": "0-based position in a list; null for one record"},
            "segments": {"type": "object", "description": "segment -> member (a list for `all` segments)",
                         "additionalProperties": {"type": ["string", "array", "null"], "items": {"type": "string"}}},
            "labels": {"type": "object", "description": "segment -> the member's label",
                       "additionalProperties": {"type": ["string", "array", "null"], "items": _NULLABLE_STRING}},
            "outputs": {"type": "object", "description": "output -> value", "additionalProperties": _ANY},
            "rules_fired": {"type": "array", "items": {"type": "string"}},
            "errors": {"type": "array", "items": {"type": "string"},
                       "description": "rule conflicts, e.g. two rules of a `unique` segment holding"},
            "policy": {"type": "string"}, "version": {"type": "string"},
            "content_hash": {"type": "string"}, "as_of": {"type": "string", "format": "date"}}}
    rule = {"type": "object", "required": ["rule", "line", "text", "holds", "chosen", "reads", "parts"],
            "properties": {"rule": {"type": "string"}, "line": {"type": "integer"}, "text": {"type": "string"},
                           "holds": {"type": "string", "description": "true, false, unknown, not evaluated or "
                                     "otherwise"},
                           "chosen": {"type": "boolean"}, "reads": {"type": "object"},
                           "parts": {"type": "array", "items": {
                               "type": "object", "required": ["text", "holds"],
                               "properties": {"text": {"type": "string"}, "holds": {"type": "string"}}}},
                           "sets": {"type": "object"}}}
    field = {"type": "object", "required": ["name", "type", "members", "optional", "pii", "key", "default",
                                            "column", "label"],
             "properties": {"name": {"type": "string"},
                            "type": {"type": "string", "description": "int, number, bool, string, date, "
                                     "enum(a, b, …) or list(string)"},
                            "members": {"type": "array", "items": {"type": "string"}},
                            "optional": {"type": "boolean"}, "pii": {"type": "boolean"}, "key": {"type": "boolean"},
                            "default": _ANY, "column": _NULLABLE_STRING, "label": _NULLABLE_STRING}}
    info = {
        "type": "object",
        "required": ["name", "status", "file", "problem", "policy", "label", "version", "hash", "loaded_at", "stats",
                     "key", "inputs", "segments", "outputs"],
        "properties": {
            "name": {"type": "string", "description": "the file name without .rules; the {name} of the URLs"},
            "status": {"type": "string", "enum": ["ok", "error", "unavailable"],
                       "description": "ok: the file on disk serves; error: it has errors (or cannot be used) and an "
                                      "older version serves; unavailable: no version has checked clean"},
            "file": {"type": "string"}, "problem": _NULLABLE_STRING,
            "policy": _NULLABLE_STRING, "label": _NULLABLE_STRING, "version": _NULLABLE_STRING,
            "hash": {"type": ["string", "null"], "description": "content hash of the version serving"},
            "loaded_at": {"type": ["string", "null"], "format": "date-time"}, "stats": _NULLABLE_STRING,
            "key": _NULLABLE_STRING,
            "inputs": {"type": "array", "items": _ref("Field")},
            "segments": {"type": "array", "items": {
                "type": "object", "required": ["name", "label", "hit", "members", "member_labels"],
                "properties": {"name": {"type": "string"}, "label": _NULLABLE_STRING, "hit": {"type": "string"},
                               "members": {"type": "array", "items": {"type": "string"}},
                               "member_labels": {"type": "object", "additionalProperties": {"type": "string"}}}}},
            "outputs": {"type": "array", "items": {
                "type": "object", "required": ["name", "type", "label", "default"],
                "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "label": _NULLABLE_STRING,
                               "default": _ANY}}}}}
    diagnostic = {"type": "object", "required": ["code", "severity", "message", "file", "line", "column",
                                                 "end_line", "end_column", "help"],
                  "properties": {"code": {"type": "string"},
                                 "severity": {"type": "string", "enum": ["error", "warning", "note"]},
                                 "message": {"type": "string"}, "file": {"type": "string"},
                                 "line": {"type": "integer"}, "column": {"type": "integer"},
                                 "end_line": {"type": "integer"}, "end_column": {"type": "integer"},
                                 "help": _NULLABLE_STRING, "witness": {"type": "object"}}}
    return {
        "Record": {"type": "object", "additionalProperties": True,
                   "description": "One record: the policy's input fields by name (or by their `from` column), as "
                                  "JSON values or as text (\"12\", \"10万\", \"2026-11-01\"); other keys are "
                                  "ignored. GET /v1/policies/{name} lists the fields."},
        "Error": error,
        "UnknownPolicy": {"allOf": [_ref("Error"), {"type": "object", "required": ["known"], "properties": {
            "known": {"type": "array", "items": {"type": "string"}}}}]},
        "Rejected": {"allOf": [_ref("Error"), {"type": "object", "required": ["field", "reason"], "properties": {
            "error": {"const": "rejected"}, "field": {"type": "string", "description": "the first field that "
                                                      "does not fit (empty when the record is not an object)"},
            "reason": {"type": "string", "description": "why, for every field that does not fit; a `pii` "
                                                        "field's value is never quoted"}}}]},
        "Decision": decision,
        "DecisionEntry": {"allOf": [_ref("Decision"), {"type": "object", "required": ["ok", "row"],
                                                       "properties": {"ok": {"const": True},
                                                                      "row": {"type": "integer"}}}]},
        "RejectEntry": {"type": "object", "required": ["ok", "row", "key", "field", "reason"],
                        "properties": {"ok": {"const": False}, "row": {"type": "integer"},
                                       "key": {**_ANY, "description": "the record's key if it has one; *** for a "
                                               "`pii` key"},
                                       "field": {"type": "string"}, "reason": {"type": "string"}}},
        "Explanation": {
            "type": "object",
            "required": ["policy", "version", "as_of", "key", "lets", "segments", "strategy_rules", "outputs",
                         "decision"],
            "properties": {
                "policy": {"type": "string"}, "version": {"type": "string"},
                "as_of": {"type": "string", "format": "date"}, "key": _ANY,
                "lets": {"type": "object", "description": "each let's value (*** when computed from personal data)"},
                "segments": {"type": "array", "items": {
                    "type": "object", "required": ["segment", "label", "hit", "member", "member_label", "why", "rules"],
                    "properties": {"segment": {"type": "string"}, "label": _NULLABLE_STRING, "hit": {"type": "string"},
                                   "member": {"type": ["string", "array", "null"], "items": {"type": "string"}},
                                   "member_label": {"type": ["string", "array", "null"], "items": _NULLABLE_STRING},
                                   "why": {"type": "string"},
                                   "rules": {"type": "array", "items": _ref("ExplainedRule")}}}},
                "strategy_rules": {"type": "array", "items": _ref("ExplainedRule")},
                "outputs": {"type": "array", "items": {
                    "type": "object", "required": ["output", "value", "set_by", "how"],
                    "properties": {"output": {"type": "string"}, "label": _NULLABLE_STRING,
                                   "combine": {"type": "string"}, "clamp": {"type": ["array", "null"]},
                                   "default": _ANY, "value": _ANY, "set_by": {"type": "array"},
                                   "how": {"type": "string"}}}},
                "decision": _ref("Decision")}},
        "ExplainedRule": rule,
        "Field": field,
        "PolicyInfo": info,
        "PolicyDetail": {"allOf": [_ref("PolicyInfo"), {"type": "object", "required": ["diagnostics"], "properties": {
            "diagnostics": {"type": "array", "items": _ref("Diagnostic"),
                            "description": "errors, warnings and notes of the file on disk now, as `rules check "
                                           "--format json` gives them"}}}]},
        "Diagnostic": diagnostic,
    }


def openapi_document(entries: dict[str, Entry], secured: bool, max_body_bytes: int = MAX_BODY_BYTES) -> dict:
    """The OpenAPI 3.1 document of the API as it is now.

    Besides the templated paths (/v1/policies/{name}/…), each policy serving gets concrete paths
    (/v1/policies/customer_value/…) whose record schema is the policy's own input: its fields, their
    types, which are required. Concrete paths match before templated ones (OpenAPI 3.1, "Paths"), so
    a client generator or a fuzzer (schemathesis) gets precise request bodies per policy.
    """
    as_of = {"name": "as_of", "in": "query", "required": False,
             "description": "decide as of this date (default: the service's --as-of, else the day of the request)",
             "schema": {"type": "string", "format": "date"}}
    show_pii = {"name": "show_pii", "in": "query", "required": False,
                "description": "show values of `pii` fields instead of ***; allowed only when the service runs "
                               "with --token-file (403 otherwise)",
                "schema": {"type": "boolean", "default": False}}
    name_param = {"name": "name", "in": "path", "required": True,
                  "description": "a policy: its file name without .rules (GET /v1/policies lists them)",
                  "schema": {"type": "string"}}
    auth = {"401": _error("no token, or a wrong one (only when the service runs with --token-file)")} if secured else {}
    unknown = {"404": _error("no policy of that name", "UnknownPolicy")}
    bad = {"400": _error("the body is not JSON, not a record (or a list of them), or as_of is not a date"),
           **unknown,
           "413": _error(f"the body is larger than the service takes ({max_body_bytes:,} bytes)"),
           "422": _error("the record does not fit the policy's input", "Rejected"),
           "503": _error("the policy has never checked clean (its diagnostics: GET /v1/policies/{name}), or the "
                         "decision log cannot be written")}

    def evaluate(record: dict, params: list, op: str, tags: list) -> dict:
        return {"post": {
            "operationId": op, "tags": tags, "summary": "Decide one record, or a list of records",
            "description": "One record (an object) gives its decision, or 422 if it does not fit the input. A list "
                           "gives one entry per record, in order: a decision with ok: true, or {ok: false, row, "
                           "key, field, reason} — rows in = decided + rejected.",
            "parameters": params + [as_of],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [record, {"type": "array", "items": record}]}}}},
            "responses": {"200": _json({"oneOf": [_ref("Decision"), {"type": "array", "items": {
                "oneOf": [_ref("DecisionEntry"), _ref("RejectEntry")]}}]}, "the decision, or one entry per record"),
                **bad, **auth}}}

    def explain(record: dict, params: list, op: str, tags: list) -> dict:
        return {"post": {
            "operationId": op, "tags": tags, "summary": "Why one record gets its segments and outputs",
            "description": "Every rule in order with whether it held and the values it read, which rule decided "
                           "each segment, how each output was set. Values of `pii` fields, of lets and outputs "
                           "computed from them, and a `pii` key show as *** unless show_pii=true.",
            "parameters": params + [as_of, show_pii],
            "requestBody": {"required": True, "content": {"application/json": {"schema": record}}},
            "responses": {"200": _json(_ref("Explanation"), "the explanation"), **bad,
                          "403": _error("show_pii=true on a service without --token-file"), **auth}}}

    def detail(params: list, op: str, tags: list) -> dict:
        return {"get": {"operationId": op, "tags": tags,
                        "summary": "One policy, with the diagnostics of its file on disk", "parameters": params,
                        "responses": {"200": _json(_ref("PolicyDetail"), "the policy"), **unknown, **auth}}}

    paths = {
        "/v1/policies": {"get": {
            "operationId": "listPolicies", "tags": ["policies"], "summary": "Every policy the service knows",
            "responses": {"200": _json({"type": "array", "items": _ref("PolicyInfo")}, "the policies, by name"),
                          **auth}}},
        "/v1/policies/{name}": detail([name_param], "getPolicy", ["policies"]),
        "/v1/policies/{name}/evaluate": evaluate(_ref("Record"), [name_param], "evaluate", ["decide"]),
        "/v1/policies/{name}/explain": explain(_ref("Record"), [name_param], "explain", ["decide"]),
    }
    for name, entry in sorted(entries.items()):
        if entry.serving is None or not _URL_SAFE.match(name):
            continue
        record = _record_schema(entry.serving.policy.plan)
        paths[f"/v1/policies/{name}"] = detail([], f"getPolicy.{name}", [name])
        paths[f"/v1/policies/{name}/evaluate"] = evaluate(record, [], f"evaluate.{name}", [name])
        paths[f"/v1/policies/{name}/explain"] = explain(record, [], f"explain.{name}", [name])
    paths.update({
        "/healthz": {"get": {
            "operationId": "healthz", "tags": ["service"], "summary": "Liveness; never needs the token",
            "security": [],
            "responses": {"200": _json({"type": "object", "required": ["status"],
                                        "properties": {"status": {"const": "ok"}}}, "the service is up")}}},
        "/metrics": {"get": {
            "operationId": "metrics", "tags": ["service"], "summary": "Prometheus metrics (text format 0.0.4)",
            "responses": {"200": {"description": "rules_requests_total, rules_request_seconds, rules_decisions_total, "
                                                 "rules_rejects_total, rules_reloads_total, rules_policy_info",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}, **auth}}},
        "/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["service"], "summary": "This document",
            "responses": {"200": _json({"type": "object", "required": ["openapi", "info", "paths"]},
                                       "the OpenAPI document"), **auth}}},
    })
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "customer-rules decision service", "version": ENGINE_VERSION,
                 "description": "Decide customer records with the policies of a folder (docs/service.md)."},
        "paths": paths,
        "components": {"schemas": _schemas()},
    }
    if secured:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                           "description": "the token in the service's --token-file"}}
        doc["security"] = [{"bearer": []}]
    return doc


_URL_SAFE = re.compile(r"[A-Za-z0-9_.\-]+\Z")


def _record_schema(plan) -> dict:
    """A policy's input as JSON Schema: one property per field, required unless optional or defaulted.

    It gives each field as JSON types it (numbers as numbers, dates as YYYY-MM-DD); the service also
    takes text as CSV gives it ("12", "10万"), which the schema leaves out. A field may instead come
    under its `from` column name; other keys are ignored."""
    properties, required = {}, []
    for f in plan.fields:
        kind = f.type.kind
        if kind == "enum":
            schema: dict = {"type": "string", "enum": list(f.type.members)}
        elif kind == "int":
            schema = {"type": "integer", "minimum": -(2 ** 63), "maximum": 2 ** 63 - 1}
        elif kind == "number":
            schema = {"type": "number"}
        elif kind == "bool":
            schema = {"type": "boolean"}
        elif kind == "date":
            schema = {"type": "string", "format": "date"}
        elif kind == "list":
            schema = {"type": "array", "items": {"type": "string"}}
        else:
            schema = {"type": "string"}
        notes = [n for n in (f.label, f"or the column `{f.column}`" if f.column else None,
                             "personal data (pii)" if f.pii else None, "the record's key" if f.key else None) if n]
        if notes:
            schema["description"] = "; ".join(notes)
        if f.optional or f.default is not None:
            if "enum" in schema:
                schema["enum"] = schema["enum"] + [None]
            schema["type"] = [schema["type"], "null"]
            if f.default is not None:
                schema["default"] = jsonable(f.default)
        else:
            required.append(f.name)
        properties[f.name] = schema
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": True,
            "description": f"a record for policy {plan.name} {plan.version}"}
