"""The decision service behind `rules serve POLICY_DIR`: the policies of a folder as an HTTP JSON API,
and the analysts' workbench in the browser.

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

Modules: store (the folder's policies), log (the decision log), metrics, api (handlers, auth,
`create_app`), openapi, run (`rules serve`).
"""
from .api import create_app
from .log import DecisionLog
from .metrics import LATENCY_BUCKETS, Metrics
from .notices import ServiceError
from .run import read_token, serve

__all__ = ["create_app", "serve", "read_token", "ServiceError", "DecisionLog", "Metrics", "LATENCY_BUCKETS"]
