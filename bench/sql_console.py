"""SQL console benchmark: HTTP ingest while heavy console queries run on the same server.

    .venv/bin/python bench/sql_console.py [--events 60000] [--processes 2] [--batch 100]
                                          [--queries 4] [--no-limits]

Starts `python -m productops serve DIR --port P` over a fresh temporary workspace and measures
raw `/v1/batch` ingest (as bench/ingest_http.py sends it) in events/s: alone, then while
`--queries` clients each keep one heavy query in flight through `POST /api/v1/sql` with one
`read` API key (going round a 1 GB answer, a 20-million-element list, a cross join that runs
until the timeout, a large GROUP BY), then alone again. Reference in the same run: ingest alone
(the mean of the runs before and after). Floor (Hardening issue): ingest with four heavy
queries at least 70 % of ingest alone. It also prints what the console answered and the
server's memory.

`--no-limits` lifts the console's limits (result bytes, memory, concurrency, low priority) so
far that they never bite: about the figures from before them (only the request's deadline
stays, and it now covers writing the answer).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_http import free_port, run_raw

FLOOR = 0.70
HEAVY_QUERIES = {
    "answer": "SELECT repeat('x', 100000000) AS s FROM range(10)",  # a 1 GB answer
    "list": "SELECT list(range(20000000)) AS l",  # long to serialise
    "cross": (  # CPU until the timeout
        "SELECT count(*) FROM range(100000) a(x), range(100000) b(y) WHERE x + y = -1"
    ),
    "groupby": (  # a large hash aggregate
        "SELECT x % 5000000 AS k, count(*) AS n, string_agg(x::VARCHAR, ',') AS xs "
        "FROM range(20000000) t(x) GROUP BY k ORDER BY n DESC, k"
    ),
}
NO_LIMITS = {
    "PRODUCTOPS_ANALYTICS__SQL_MAX_RESULT_BYTES": str(2**40),
    "PRODUCTOPS_ANALYTICS__SQL_MAX_MEMORY_BYTES": str(2**40),
    "PRODUCTOPS_ANALYTICS__SQL_MAX_CONCURRENT_PER_CALLER": "1000",
    "PRODUCTOPS_ANALYTICS__SQL_MAX_CONCURRENT": "1000",
    "PRODUCTOPS_ANALYTICS__SQL_MAX_RUNNING": "1000",
    "PRODUCTOPS_ANALYTICS__SQL_LOW_PRIORITY": "false",
}


def memory_mb(pid: int) -> dict[str, float]:
    """The server's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


class ConsoleLoad:
    """`queries` threads, each keeping one heavy console query in flight until stopped, going
    round the heavy queries (each thread starting at another one)."""

    def __init__(self, url: str, key: str, queries: int, names: list[str]) -> None:
        self.url = url
        self.key = key
        self.stop = threading.Event()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.seconds: list[float] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(
                target=self.run,
                args=(names[i % len(names) :] + names[: i % len(names)],),
                daemon=True,
            )
            for i in range(queries)
        ]

    def __enter__(self) -> ConsoleLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def run(self, names: list[str]) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        turn = 0
        with httpx.Client(base_url=self.url, headers=headers, timeout=300) as client:
            while not self.stop.is_set():
                name = names[turn % len(names)]
                turn += 1
                start = time.perf_counter()
                size = 0
                try:
                    with client.stream(
                        "POST", "/api/v1/sql", json={"query": HEAVY_QUERIES[name]}
                    ) as r:
                        head = b""
                        for chunk in r.iter_bytes():
                            size += len(chunk)
                            head = head or chunk[:2000]
                        status = r.status_code
                        detail = ""
                        if status >= 400:
                            detail = head.decode(errors="replace")[:90]
                except httpx.HTTPError as exc:
                    status, detail = 0, type(exc).__name__
                elapsed = time.perf_counter() - start
                outcome = f"{name}: {status} {detail or f'{size / 1e6:,.1f} MB'}"
                with self.lock:
                    self.outcomes[outcome] += 1
                    self.seconds.append(elapsed)
                if status in (0, 429):
                    time.sleep(0.5)


def start_server(folder: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "productops", "serve", str(folder), "--port", str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument(
        "--heavy",
        default=",".join(HEAVY_QUERIES),
        help=f"which heavy queries the clients take turns at (of {', '.join(HEAVY_QUERIES)})",
    )
    parser.add_argument("--no-limits", action="store_true", help="raise the console's caps")
    args = parser.parse_args()

    from productops.core import auth
    from productops.core.db import transaction
    from productops.core.workspace import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ws"
        ws = init_workspace(folder, name="Bench Co")
        with transaction(ws.sessions) as s:
            ingest_key = auth.create_api_key(s, "bench-ingest", "ingest", actor="bench").secret
            read_key = auth.create_api_key(s, "bench-read", "read", actor="bench").secret
        ws.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(folder, port, NO_LIMITS if args.no_limits else {})
        try:
            run = uuid.uuid4().hex[:6]
            run_raw(url, ingest_key, 2_000, 1, args.batch, f"warm-{run}")
            # Alone before and after the loaded run: the machine's own drift shows, and
            # ingest alone is the mean of the two.
            first = run_raw(url, ingest_key, args.events, args.processes, args.batch, f"a-{run}")
            before_load = memory_mb(server.pid)
            with ConsoleLoad(url, read_key, args.queries, args.heavy.split(",")) as load:
                time.sleep(2.0)  # every client has a query in flight
                loaded = run_raw(
                    url, ingest_key, args.events, args.processes, args.batch, f"b-{run}"
                )
                after = memory_mb(server.pid)
            settled = memory_mb(server.pid)
            second = run_raw(url, ingest_key, args.events, args.processes, args.batch, f"c-{run}")
        finally:
            server.terminate()
            server.wait(timeout=60)

    def rate(r: dict[str, Any]) -> float:
        return float(r["events"] / r["seconds"])

    alone = (rate(first) + rate(second)) / 2
    ratio = rate(loaded) / alone
    mode = "limits OFF (--no-limits)" if args.no_limits else "limits on (defaults)"
    print(f"SQL console vs ingest on {os.cpu_count()} cores, console {mode}")
    print(
        f"  ingest alone:                        {alone:>9,.0f} events/s "
        f"(before {rate(first):,.0f}, after {rate(second):,.0f}; p95 request "
        f"{first['p95_ms']:.0f} / {second['p95_ms']:.0f} ms)"
    )
    print(
        f"  ingest with {args.queries} heavy console queries: {rate(loaded):>9,.0f} events/s "
        f"(p95 request {loaded['p95_ms']:.0f} ms)"
    )
    print(f"  ratio {ratio:.0%}; floor {FLOOR:.0%}: {'met' if ratio >= FLOOR else 'NOT met'}")
    print(
        f"  server memory: {before_load.get('VmRSS', 0):,.0f} MB before the queries, "
        f"{after.get('VmRSS', 0):,.0f} MB at the end of the run, "
        f"{settled.get('VmRSS', 0):,.0f} MB after; peak {settled.get('VmHWM', 0):,.0f} MB"
    )
    print(f"  console answers ({len(load.seconds)}, longest {max(load.seconds, default=0):.1f} s):")
    for outcome, n in sorted(load.outcomes.items()):
        print(f"    {n:>3} x {outcome}")


if __name__ == "__main__":
    main()
