"""The decision log: each decision as one JSON line (no input fields; pii masked), rotated by size."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from ..io import jsonable
from ..explain import MASK
from .notices import ServiceError, _now
from .store import Loaded

DEFAULT_LOG_MAX_BYTES = 10_000_000
LOG_BACKUPS = 5


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
