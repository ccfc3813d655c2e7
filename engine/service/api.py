"""The HTTP JSON API: request handlers, the bearer-token guard and `create_app`, which puts them together."""
from __future__ import annotations

import datetime as dt
import hmac
import os
import time
import traceback
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from ..io import jsonable
from ..explain import MASK, explain as explain_record
from ..policy import _as_of
from ..records import RecordError, problems
from .notices import ServiceError, _stderr
from .store import Loaded, Entry, PolicyStore, POLL_SECONDS
from .log import DecisionLog, log_line, DEFAULT_LOG_MAX_BYTES
from .metrics import Metrics
from .openapi import openapi_document
from .workbench import PUBLIC_PATHS, Workbench, samples_folder
from .protocol import ApiError, json_kind, parse_day, read_json, unknown_policy

MAX_BODY_BYTES = 16 * 1024 * 1024


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
            raise unknown_policy(name, entries)
        if entry.serving is None:
            raise ApiError(503, "unavailable", f"policy {name} is not serving: {entry.problem}. "
                           f"GET /v1/policies/{name} lists the diagnostics of its file.")
        return name, entry.serving

    def _day(self, request: Request) -> dt.date:
        text = request.query_params.get("as_of")
        return (self.as_of or dt.date.today()) if text is None else parse_day(text, "as_of")

    async def _body(self, request: Request) -> Any:
        return await read_json(request, self.max_body_bytes)

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
            raise ApiError(400, "bad_request", f"the body is a JSON {json_kind(body)}: send one record as a JSON "
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
                           f"{json_kind(body)}")
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
            raise unknown_policy(name, entries)
        return JSONResponse({**describe(entry), "diagnostics": list(entry.diagnostics)})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.render(self.store.entries), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(self.store.entries, secured=self.token is not None,
                                             max_body_bytes=self.max_body_bytes))


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
            if self.token is not None and not _public(path) and not self._authorized(scope):
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


def _public(route: str) -> bool:
    """Routes served without the token: health, and the workbench page and its assets, which hold no data."""
    return route == "/healthz" or route == PUBLIC_PATHS[0] or route.startswith(PUBLIC_PATHS[1])


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
               log_max_bytes: int = DEFAULT_LOG_MAX_BYTES, as_of: dt.date | str | None = None,
               samples: str | os.PathLike | None = None, *,
               poll_seconds: float = POLL_SECONDS, max_body_bytes: int = MAX_BODY_BYTES,
               notify: Callable[[str], None] = _stderr) -> Starlette:
    """The decision service as a Starlette app, without starting a server.

    The policies are loaded before this returns; the watcher that reloads them runs while the app's
    lifespan does (uvicorn, or `with TestClient(app)`). `token`: the bearer token every endpoint but
    /healthz requires (None: no auth). `log_path`: append each decision as a JSON line there, rotated
    at `log_max_bytes`. `as_of`: the date to decide as of when a request gives none (default: the day
    of the request). `samples`: a folder of data files the workbench shows the impact of an edit on.
    Raises ServiceError with a message for the operator if it cannot start.
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
    workbench = Workbench(store, samples_folder(samples), day, max_body_bytes)

    routes = [
        Route("/v1/policies/{name}/evaluate", service.evaluate, methods=["POST"]),
        Route("/v1/policies/{name}/explain", service.explain, methods=["POST"]),
        Route("/v1/policies", service.list_policies, methods=["GET"]),
        Route("/v1/policies/{name}", service.get_policy, methods=["GET"]),
        Route("/healthz", service.healthz, methods=["GET"]),
        Route("/metrics", service.metrics_text, methods=["GET"]),
        Route("/openapi.json", service.openapi, methods=["GET"]),
        *workbench.routes(),
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
