"""Request, latency and decision counters in the Prometheus text format, for GET /metrics."""
from __future__ import annotations

import bisect
import threading

from .store import Entry

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counters and a latency histogram, rendered in the Prometheus text format (version 0.0.4)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], list] = {}  # (method, path) -> [bucket counts…, sum, count]
        self.decisions: dict[tuple[str, str, str], int] = {}
        self.rejects: dict[str, int] = {}
        self.reloads: dict[tuple[str, str], int] = {}

    def request(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, path, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.get((method, path))
            if hist is None:
                hist = self.latency[(method, path)] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0, 0]
            hist[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def decision(self, policy: str, decision) -> None:
        with self._lock:
            counts = self.decisions
            for segment, member in decision.segments.items():
                if isinstance(member, (list, tuple)):
                    for m in member or ("(none)",):
                        key = (policy, segment, m)
                        counts[key] = counts.get(key, 0) + 1
                else:
                    key = (policy, segment, "(missing)" if member is None else str(member))
                    counts[key] = counts.get(key, 0) + 1

    def reject(self, policy: str) -> None:
        with self._lock:
            self.rejects[policy] = self.rejects.get(policy, 0) + 1

    def reload(self, policy: str, result: str) -> None:
        with self._lock:
            key = (policy, result)
            self.reloads[key] = self.reloads.get(key, 0) + 1

    def render(self, entries: dict[str, Entry]) -> str:
        with self._lock:
            requests = sorted(self.requests.items())
            latency = sorted((k, list(v)) for k, v in self.latency.items())
            decisions = sorted(self.decisions.items())
            rejects = sorted(self.rejects.items())
            reloads = sorted(self.reloads.items())
        out = ["# HELP rules_requests_total HTTP requests, by method, route template and status.",
               "# TYPE rules_requests_total counter"]
        out += [f"rules_requests_total{_labels(method=m, path=p, status=s)} {n}" for (m, p, s), n in requests]
        out += ["# HELP rules_request_seconds Time from the request's arrival in the app to its response, by route.",
                "# TYPE rules_request_seconds histogram"]
        for (m, p), hist in latency:
            running = 0
            for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), hist):
                running += count
                out.append(f"rules_request_seconds_bucket{_labels(method=m, path=p, le=_float(bound))} {running}")
            out.append(f"rules_request_seconds_sum{_labels(method=m, path=p)} {_float(hist[-2])}")
            out.append(f"rules_request_seconds_count{_labels(method=m, path=p)} {hist[-1]}")
        out += ["# HELP rules_decisions_total Records decided, by policy and the member each segment gave "
                "((missing) when a segment has none, (none) for an `all` segment that no rule takes).",
                "# TYPE rules_decisions_total counter"]
        out += [f"rules_decisions_total{_labels(policy=p, segment=s, member=m)} {n}" for (p, s, m), n in decisions]
        out += ["# HELP rules_rejects_total Records rejected because they do not fit the policy's input.",
                "# TYPE rules_rejects_total counter"]
        out += [f"rules_rejects_total{_labels(policy=p)} {n}" for p, n in rejects]
        out += ["# HELP rules_reloads_total Policy files checked after a change: ok (swapped in) or error (kept "
                "the last good version).",
                "# TYPE rules_reloads_total counter"]
        out += [f"rules_reloads_total{_labels(policy=p, result=r)} {n}" for (p, r), n in reloads]
        out += ["# HELP rules_policy_info The version of each policy serving, and the status of its file.",
                "# TYPE rules_policy_info gauge"]
        for name, entry in sorted(entries.items()):
            loaded = entry.serving
            out.append("rules_policy_info" + _labels(
                policy=name, version=loaded.policy.version if loaded else "",
                content_hash=loaded.policy.content_hash if loaded else "", status=entry.status) + " 1")
        return "\n".join(out) + "\n"


def _labels(**labels) -> str:
    def escape(value: str) -> str:
        return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def _float(value) -> str:
    return value if isinstance(value, str) else repr(float(value))
