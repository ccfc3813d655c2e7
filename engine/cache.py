"""The user's cache folder, where work that depends only on its inputs is kept between runs.

Lark's analysis of the grammar and the SQL of `rules eval` on DuckDB are kept there. The folder is
the user's own (mode 0700, checked), so what is in it is as trusted as the user's other files.
"""
from __future__ import annotations

import os
from pathlib import Path


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
