"""Population functions (quintile, ntile, percent_rank): definitions, fitting, and frozen stats files.

Definitions, the same in every backend (docs/language.md repeats them):
- The population of a call site is the present values of its argument over the batch's valid
  records (missing values are left out; rejected records are not part of the batch).
- ntile(n, x): with the N values sorted ascending, cut point k (k = 1 … n-1) is the value at
  position ceil(k·N/n) (1-based); the tile is 1 + the number of cut points strictly below x.
  Equal values always share a tile; with fewer values than tiles some tiles stay empty.
  quintile(x) is ntile(5, x).
- percent_rank(x): the number of values strictly below x divided by N - 1 (0 when N = 1),
  capped at 1 — as SQL PERCENT_RANK, for a value of the population.
- A missing x gives missing. A single record is ranked against frozen cut points from
  `rules fit` (a stats file), never against itself.
"""
from __future__ import annotations

import datetime as dt
import json
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

from .io import atomic_write
from .ir import Plan, Site

STATS_FORMAT = "customer-rules/population-stats"


class PopulationError(ValueError):
    """Population functions with nothing to rank against: no batch and no stats, or stats of another policy."""


@dataclass(frozen=True)
class Population:
    """What one call site ranks against: cut points for tiles, the sorted values for percent_rank."""

    fn: str
    tiles: int
    count: int
    points: tuple  # ntile/quintile: the n-1 cut points; percent_rank: every value, sorted

    @staticmethod
    def from_values(site: Site, values: list) -> "Population":
        ordered = sorted(values)
        n = len(ordered)
        if site.tiles == 0:
            return Population(site.fn, 0, n, tuple(ordered))
        if n == 0:
            return Population(site.fn, site.tiles, 0, ())
        cuts = tuple(ordered[(k * n + site.tiles - 1) // site.tiles - 1] for k in range(1, site.tiles))
        return Population(site.fn, site.tiles, n, cuts)

    def of(self, x):
        """The rank of a present value x."""
        if self.tiles:
            return 1 + bisect_left(self.points, x)
        if self.count <= 1:
            return 0.0
        return min(1.0, bisect_left(self.points, x) / (self.count - 1))

    def to_json(self) -> dict:
        return {"function": self.fn, "tiles": self.tiles, "count": self.count, "points": list(self.points)}

    @staticmethod
    def from_json(data: dict) -> "Population":
        return Population(data["function"], data["tiles"], data["count"], tuple(data["points"]))


def fit(plan: Plan, arg_rows) -> list[Population]:
    """Populations of every call site from the first-pass argument tuples of a batch's valid records."""
    columns: list[list] = [[] for _ in plan.sites]
    for row in arg_rows:
        for column, value in zip(columns, row):
            if value is not None:
                column.append(value)
    return [Population.from_values(site, column) for site, column in zip(plan.sites, columns)]


def require(plan: Plan, populations) -> list[Population]:
    """The populations to rank single records against, or a PopulationError saying how to get them."""
    if populations is None:
        where = ", ".join(f"{s.fn} (line {s.line})" for s in plan.sites)
        raise PopulationError(
            f"policy {plan.name} ranks records against the batch with {where}; evaluate it on a batch "
            f"(`rules eval --data FILE`, or Policy.evaluate_many), or freeze the cut points first with "
            f"`rules fit {plan.name}.rules --data FILE -o stats.json` and load them with Policy.with_stats")
    return populations


def save_stats(plan: Plan, populations: list[Population], records: int, as_of: dt.date, path) -> None:
    """Write a stats file: the populations of every call site, tied to the policy's content hash."""
    doc = {
        "format": STATS_FORMAT, "policy": plan.name, "version": plan.version, "content_hash": plan.content_hash,
        "as_of": as_of.isoformat(), "records": records,
        "sites": [{"site": s.site, "line": s.line, **p.to_json()} for s, p in zip(plan.sites, populations)],
    }
    with atomic_write(path) as f:
        f.write(json.dumps(doc, ensure_ascii=False, default=_iso))


def load_stats(plan: Plan, path) -> list[Population]:
    """Read a stats file written for this very policy (same content hash)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PopulationError(f"{path}: cannot read the stats file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != STATS_FORMAT:
        raise PopulationError(f"{path}: not a stats file (make one with `rules fit`)")
    if doc.get("content_hash") != plan.content_hash:
        raise PopulationError(
            f"{path} was fitted for {doc.get('policy')} {doc.get('version')} ({doc.get('content_hash')}), not "
            f"this policy text ({plan.name} {plan.version}, {plan.content_hash}); run `rules fit` again")
    return [Population.from_json(s) for s in doc["sites"]]


def _iso(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a stats file")
