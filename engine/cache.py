"""The user's cache folder, where work that depends only on its inputs is kept between runs.

Kept there: Lark's analysis of the grammar, compiled plans of policy files (engine.policy), and the
SQL of `rules eval` on DuckDB (engine.duck_cache). The folder is the user's own (mode 0700,
checked), so what is in it is as trusted as the user's other files. An entry is named by a hash of
everything it depends on, the engine's own files included, so a changed input or engine never
reuses one.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path

KEEP = 64  # entries kept per kind; older ones are removed when a new one is written
_ENGINE_DIR = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    """`$XDG_CACHE_HOME/customer-rules` (or `~/.cache/customer-rules`), made if needed; None when it
    cannot be made or is not private to this user (then nothing is cached)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "customer-rules"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = base.stat()
        if found.st_uid != os.getuid() or found.st_mode & 0o077:
            return None
    except OSError:
        return None
    return base


def entry_key(*parts) -> str:
    """The name of an entry made from `parts` (JSON values) by this engine with these libraries."""
    return hashlib.sha256(json.dumps([_fingerprint(), *parts], ensure_ascii=False, sort_keys=True)
                          .encode()).hexdigest()


def read(kind: str, key: str) -> dict | None:
    """The entry of `kind` named `key`, or None (none kept, unreadable, or another entry's)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / kind / f"{key[:32]}.json"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(found, dict) and found.get("key") == key:
            os.utime(path)  # recently used: kept when older entries are removed
            return found
    except (OSError, ValueError):
        pass
    return None


def write(kind: str, key: str, doc: dict) -> None:
    """Keep `doc` as the entry of `kind` named `key`, written whole or not at all; the oldest entries
    beyond KEEP go. A cache that cannot be written costs time, never a result."""
    from .io import atomic_write
    folder = cache_dir()
    if folder is None:
        return
    path = folder / kind / f"{key[:32]}.json"
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        with atomic_write(path) as f:
            f.write(json.dumps({**doc, "key": key}, ensure_ascii=False))
        entries = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


@lru_cache(maxsize=1)
def _fingerprint() -> list:
    """What cached work is made by: this engine's code (file sizes and times) and the versions of the
    libraries that parse policies and make SQL (read from their files, without importing them); taken
    once per process, whose code cannot change under it."""
    files = sorted(_ENGINE_DIR.rglob("*.py"))
    versions = []
    for name, file in (("lark", "__init__.py"), ("sqlglot", "_version.py"), ("duckdb", "__init__.py")):
        spec = importlib.util.find_spec(name)
        path = Path(spec.origin).parent / file if spec and spec.origin else None
        versions.append(hashlib.sha256(path.read_bytes()).hexdigest() if path and path.exists() else name)
    return [[(str(f.relative_to(_ENGINE_DIR)), f.stat().st_size, f.stat().st_mtime_ns) for f in files], versions]
