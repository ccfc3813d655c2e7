"""Load benchmark of the decision service: `rules serve policies/` under a steady request rate.

    python benchmarks/service.py                       # 500 requests/s for 10 s, 4 client threads
    python benchmarks/service.py --rate 1000 --seconds 5 --log

Starts `rules serve` on a free loopback port in a subprocess, waits for /healthz, then sends
single-record `evaluate` requests for customer_value (the benchmark records of workloads.py, as
JSON) on a fixed schedule: request i is due at start + i / rate. A few threads, each with one
keep-alive connection (http.client, Nagle off), take the next due request; latency is measured from sending
the request to reading the whole response. A request that went out more than a millisecond after
it was due is counted as late: many late requests mean the client (or the server) could not keep
the rate, and the latency figures then understate what a caller would wait. Every request is
bounded (a 10 s timeout) and so is the run (rate × seconds requests); the server is stopped with
SIGTERM at the end, and its own /metrics count is checked against the requests sent.

Prints the figures; `--json` prints them as JSON. Not a test: the figures depend on the machine.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from workloads import AS_OF, ROOT, records  # noqa: E402

TARGET_P99_MS = 10.0


class Connection(http.client.HTTPConnection):
    """A keep-alive connection with Nagle's algorithm off. http.client writes the headers and the body
    of a request separately; with Nagle on, the body waits for the server to acknowledge the headers,
    which a delayed ACK holds back for ~40 ms. Clients built on urllib3 (requests) turn Nagle off too."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rules_command() -> list[str]:
    script = Path(sys.executable).parent / "rules"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import cli; cli.main()"]


def start_server(port: int, log: Path | None) -> subprocess.Popen:
    cmd = [*rules_command(), "serve", str(ROOT / "policies"), "--port", str(port), "--as-of", AS_OF.isoformat()]
    if log is not None:
        cmd += ["--log", str(log)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"rules serve exited with {server.returncode}:\n{server.stderr.read()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("rules serve did not answer /healthz within 60 s")


def stop_server(server: subprocess.Popen) -> str:
    server.send_signal(signal.SIGTERM)
    try:
        _, err = server.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        _, err = server.communicate()
        raise SystemExit(f"rules serve did not stop within 20 s of SIGTERM:\n{err}")
    if server.returncode != 0:
        raise SystemExit(f"rules serve exited with {server.returncode} after SIGTERM:\n{err}")
    return err


def drive(port: int, rate: float, seconds: float, threads: int) -> dict:
    """Send rate × seconds requests on schedule; the latencies (s) of the answered ones, and the failures."""
    bodies = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in records(as_text=False)]
    total = int(rate * seconds)
    path = "/v1/policies/customer_value/evaluate"
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    lock = threading.Lock()
    state = {"next": 0}
    latencies: list[float] = []
    late: list[float] = []
    failures: list[str] = []
    start = time.perf_counter() + 0.2

    def worker():
        conn = Connection("127.0.0.1", port, timeout=10)
        mine, behind, errors = [], [], []
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= total:
                break
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            if sent - due > 0.001:
                behind.append(sent - due)
            try:
                conn.request("POST", path, body=bodies[i % len(bodies)], headers=headers)
                response = conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - sent
                if response.status != 200:
                    errors.append(f"HTTP {response.status}: {body[:200]!r}")
                else:
                    mine.append(elapsed)
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = Connection("127.0.0.1", port, timeout=10)
        conn.close()
        with lock:
            latencies.extend(mine)
            late.extend(behind)
            failures.extend(errors)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - start
    return {"total": total, "latencies": latencies, "late": late, "failures": failures, "wall": wall}


def server_count(port: int) -> int:
    """Evaluate requests answered 200, as the server's /metrics counts them."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode("utf-8")
    conn.close()
    wanted = 'rules_requests_total{method="POST",path="/v1/policies/{name}/evaluate",status="200"} '
    return sum(int(line[len(wanted):]) for line in text.splitlines() if line.startswith(wanted))


def percentile(sorted_values: list[float], p: float) -> float:
    """The nearest-rank percentile of sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (default 500)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send them (default 10)")
    parser.add_argument("--threads", type=int, default=4, help="client threads, one connection each (default 4)")
    parser.add_argument("--log", action="store_true", help="run the server with a decision log (--log)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not (0 < args.rate <= 20_000 and 0 < args.seconds <= 300 and 1 <= args.threads <= 64):
        parser.error("keep --rate within 20000, --seconds within 300 and --threads within 1..64")

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "decisions.jsonl" if args.log else None
        server = start_server(port, log)
        try:
            run = drive(port, args.rate, args.seconds, args.threads)
            counted = server_count(port)
        finally:
            stop_server(server)
        logged = sum(1 for _ in log.open(encoding="utf-8")) if log is not None else None

    lat = sorted(run["latencies"])
    figures = {
        "requests": run["total"], "answered_200": len(lat), "failures": len(run["failures"]),
        "server_counted_200": counted, "decisions_logged": logged,
        "target_rate": args.rate, "achieved_rate": round(len(lat) / run["wall"], 1), "seconds": round(run["wall"], 2),
        "threads": args.threads, "late_over_1ms": len(run["late"]),
        "p50_ms": round(percentile(lat, 50) * 1000, 3), "p90_ms": round(percentile(lat, 90) * 1000, 3),
        "p99_ms": round(percentile(lat, 99) * 1000, 3), "max_ms": round(lat[-1] * 1000, 3) if lat else None,
        "mean_ms": round(statistics.fmean(lat) * 1000, 3) if lat else None,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"rules serve, POST /v1/policies/customer_value/evaluate, one record per request, "
              f"{args.threads} keep-alive connections{', decision log on' if args.log else ''}")
        print(f"  {figures['answered_200']} of {figures['requests']} requests answered 200 in {figures['seconds']} s: "
              f"{figures['achieved_rate']} requests/s (target {args.rate:g}); {figures['failures']} failed; "
              f"{figures['late_over_1ms']} sent more than 1 ms late")
        print(f"  latency: p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms, "
              f"max {figures['max_ms']} ms (target p99 < {TARGET_P99_MS:g} ms)")
        print(f"  the server counted {counted} evaluate requests answered 200"
              + (f"; {logged} decisions logged" if logged is not None else ""))
        for failure in run["failures"][:5]:
            print(f"  failure: {failure}")
    ok = not run["failures"] and counted == len(lat) and (logged is None or logged == len(lat))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
