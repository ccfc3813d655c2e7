"""The policies of the served folder, kept current by a watcher thread: an edit that checks clean swaps in,
a broken one leaves the last good version serving with the diagnostics of the file on disk."""
from __future__ import annotations

import hashlib
import os
import threading
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .. import ir
from ..diagnostics import PolicyError, to_json as diagnostic_json
from ..policy import Policy, check_text, compile_policy
from ..population import PopulationError
from .notices import _stderr, _now

POLL_SECONDS = 0.5
STATS_SUFFIX = ".stats.json"


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
