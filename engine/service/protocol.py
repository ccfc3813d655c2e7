"""What every endpoint shares: the JSON error answer (ApiError), reading a JSON body within the size
limit, dates in requests, and the 404 for a policy name the folder does not have."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..diagnostics import did_you_mean

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


class ApiError(Exception):
    """A request the service answers with an error: HTTP status, a stable code, a message for the caller."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": self.message, **self.extra}, status_code=self.status)


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, read in chunks up to `limit` bytes; ApiError 400/413 for what cannot be used."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
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


def parse_day(text: str, name: str) -> dt.date:
    """A YYYY-MM-DD date a caller sent as `name`; ApiError 400 otherwise."""
    try:
        if not isinstance(text, str) or not _ISO_DATE.match(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name}={text!r} is not a date; write it as YYYY-MM-DD, "
                       f"for example {name}=2026-11-22") from None


def unknown_policy(name: str, entries: dict) -> ApiError:
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


def json_kind(value) -> str:
    return {str: "string", bool: "boolean", int: "number", float: "number", type(None): "null",
            list: "array", dict: "object"}.get(type(value), type(value).__name__)
