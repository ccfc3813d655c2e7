"""What `rules serve` tells whoever runs it: the error that stops it from starting, and notices on stderr."""
from __future__ import annotations

import datetime as dt
import sys




class ServiceError(Exception):
    """The service cannot start: a message for whoever runs `rules serve`."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
