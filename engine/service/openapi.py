"""The OpenAPI 3.1 document served at /openapi.json, with a record schema per serving policy."""
from __future__ import annotations

import re

from ..io import jsonable
from ..policy import ENGINE_VERSION
from .store import Entry


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


def openapi_document(entries: dict[str, Entry], secured: bool, max_body_bytes: int) -> dict:
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
