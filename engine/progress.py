"""A progress line on a terminal for record-by-record batch runs longer than a couple of seconds."""
from __future__ import annotations

import os
import time
from typing import IO, Iterable, Iterator, TypeVar

T = TypeVar("T")


class Progress:
    """Counts items passing through `track` and redraws one line on `stream` at most every 0.2 s,
    starting after `delay` seconds (RULES_PROGRESS_DELAY overrides it); the line is cleared at the end."""

    def __init__(self, stream: IO, label: str = "records", delay: float | None = None):
        self.stream = stream
        self.label = label
        self.delay = float(os.environ.get("RULES_PROGRESS_DELAY", 2.0)) if delay is None else delay
        self.shown = False

    def track(self, items: Iterable[T]) -> Iterator[T]:
        start = last = time.monotonic()
        count = 0
        try:
            for item in items:
                count += 1
                yield item
                if count & 255 == 0 or self.delay == 0:
                    now = time.monotonic()
                    if now - start >= self.delay and (now - last >= 0.2 or not self.shown):
                        rate = count / max(now - start, 1e-9)
                        self.stream.write(f"\r{count:,} {self.label} decided ({rate:,.0f}/s, "
                                          f"{now - start:.0f} s)\x1b[K")
                        self.stream.flush()
                        self.shown, last = True, now
        finally:
            if self.shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
