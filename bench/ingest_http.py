"""HTTP ingest benchmark: events/s and request latency against a running productops server.

    .venv/bin/python bench/ingest_http.py [--segment-events 20000] [--raw-events 100000]
                                          [--processes 4] [--batch 100] [--prefill N]

Starts a real server (uvicorn, in its own process, over a fresh temporary workspace) and sends:
(a) events with the real Segment client (`segment-analytics-python`, its default batches of
    100, one upload thread), and
(b) raw `/v1/batch` JSON bodies from several processes over keep-alive connections,
then checks that every event was stored exactly once. Reference in the same run: the same
events written straight into the event store through `EventWriter` (no HTTP, no JSON), the
store's own ceiling. Floor: 5,000 events/s on a 2-core machine.

With `--prefill N` the store already holds N events (a year of them, imported from Parquet)
before the server starts, and the reference writes into a copy of that store: an event id is
unique for the life of the store, so each batch is checked against everything stored.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import httpx

FLOOR = 5_000


def serve(workspace: str, port: int) -> None:
    """The server process: the productops app with the ingest endpoints."""
    import uvicorn

    from productops.analytics.ingest import routes as ingest_routes
    from productops.core.workspace import open_workspace
    from productops.web.app import create_app

    ws = open_workspace(Path(workspace))
    app = create_app(ws)
    ingest_routes.register(app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message(i: int, run: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": ("Report Exported", "Feature Used", "Invite Sent")[i % 3],
        "userId": f"{run}-user-{i % 5000}",
        "messageId": f"{run}-{i}",
        "timestamp": "2025-03-01T12:00:00.000Z",
        "properties": {"plan": ("free", "pro")[i % 2], "seats": i % 40, "format": "csv"},
        "context": {"library": {"name": "bench", "version": "1"}, "ip": "10.0.0.1"},
    }


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


# --- (a) the real Segment client -----------------------------------------------------------


def run_segment(url: str, key: str, n: int, run: str) -> dict[str, Any]:
    from segment.analytics import Client
    from segment.analytics import request as segment_request

    latencies: list[float] = []
    real_post = segment_request._session.post

    def timed_post(*args: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return real_post(*args, **kw)
        finally:
            latencies.append(time.perf_counter() - start)

    segment_request._session.post = timed_post
    errors: list[Any] = []
    client = Client(key, host=url, on_error=lambda e, b: errors.append(e), max_queue_size=n + 1)
    start = time.perf_counter()
    for i in range(n):
        m = message(i, run)
        client.track(m["userId"], m["event"], m["properties"], message_id=m["messageId"])
    client.flush()
    seconds = time.perf_counter() - start
    client.join()
    segment_request._session.post = real_post
    return {
        "events": n,
        "seconds": seconds,
        "requests": len(latencies),
        "p95_ms": p95(latencies) * 1000,
        "errors": len(errors),
    }


# --- (b) raw batches from several processes ------------------------------------------------


def raw_worker(args: tuple[str, str, list[bytes], mp.Barrier]) -> list[float]:
    url, auth, bodies, barrier = args
    latencies: list[float] = []
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        barrier.wait()
        for body in bodies:
            start = time.perf_counter()
            r = client.post("/v1/batch", content=body)
            latencies.append(time.perf_counter() - start)
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
    return latencies


def run_raw(url: str, key: str, n: int, processes: int, batch: int, run: str) -> dict[str, Any]:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    bodies = [
        json.dumps(
            {"batch": [message(i, run) for i in range(s, min(s + batch, n))]},
            separators=(",", ":"),
        ).encode()
        for s in range(0, n, batch)
    ]
    shares = [bodies[p::processes] for p in range(processes)]
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(processes + 1)
        with ctx.Pool(processes) as pool:
            pending = pool.map_async(raw_worker, [(url, auth, s, barrier) for s in shares])
            barrier.wait()
            start = time.perf_counter()
            results = pending.get()
            seconds = time.perf_counter() - start
    latencies = [x for r in results for x in r]
    return {
        "events": n,
        "seconds": seconds,
        "requests": len(latencies),
        "p95_ms": p95(latencies) * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "body_kb": statistics.mean(len(b) for b in bodies) / 1024,
    }


# --- reference: the store without HTTP -----------------------------------------------------


def prefill(workspace: Path, n: int, tmp: Path) -> None:
    """Fill the workspace's store with `n` events spread over 2024 (uuid ids)."""
    from productops.analytics.ingest.bulk import import_events
    from productops.core.workspace import open_workspace

    parquet = tmp / "prefill.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (
                SELECT uuid()::VARCHAR AS event_id, 'page_viewed' AS event,
                       TIMESTAMP '2024-01-01' + to_seconds((i * 3.1536e7 / {n})::BIGINT)
                           AS timestamp,
                       'user_' || (hash(i) % 200000)::VARCHAR AS user_id
                FROM range({n}) t(i)
            ) TO '{parquet}' (FORMAT parquet)"""
        )
    ws = open_workspace(workspace)
    try:
        import_events(ws, parquet)
    finally:
        ws.close()
    parquet.unlink()


def run_reference(n: int, batch: int, run: str, prefilled: Path | None) -> dict[str, Any]:
    import datetime as dt

    from productops.analytics import ingest, store

    with tempfile.TemporaryDirectory() as tmp:
        if prefilled is not None:
            shutil.copy(prefilled, Path(tmp) / "events.duckdb")
        writer = store.EventWriter(Path(tmp) / "events.duckdb")
        now = dt.datetime(2025, 3, 1, 12, 0)
        batches = [
            ingest.normalise_segment(
                {"batch": [message(i, run) for i in range(s, min(s + batch, n))]}, now
            ).events
            for s in range(0, n, batch)
        ]
        start = time.perf_counter()
        futures = [writer.submit(b) for b in batches]
        stored = sum(f.result().inserted for f in futures)
        seconds = time.perf_counter() - start
        writer.close()
    assert stored == n
    return {"events": n, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segment-events", type=int, default=20_000)
    parser.add_argument("--raw-events", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--prefill", type=int, default=0, help="events stored beforehand")
    parser.add_argument("--serve", nargs=2, metavar=("WORKSPACE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return

    from productops.analytics.settings import events_file
    from productops.core import auth
    from productops.core.db import transaction
    from productops.core.workspace import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = init_workspace(Path(tmp) / "ws", name="Bench Co")
        with transaction(ws.sessions) as s:
            key = auth.create_api_key(s, "bench", "ingest", actor="bench").secret
        events_path = events_file(ws)
        ws.close()
        reference_store: Path | None = None
        if args.prefill:
            started = time.perf_counter()
            prefill(Path(tmp) / "ws", args.prefill, Path(tmp))
            reference_store = Path(tmp) / "reference.duckdb"
            shutil.copy(events_path, reference_store)
            print(f"prefilled {args.prefill:,} events in {time.perf_counter() - started:.1f} s")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(Path(tmp) / "ws"), str(port)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
            run = uuid.uuid4().hex[:6]
            # Warm up (first write creates the store's connection and tables).
            run_raw(url, key, 1_000, 1, args.batch, f"warm-{run}")
            cpu0 = process_cpu(server.pid)
            seg = run_segment(url, key, args.segment_events, f"seg-{run}")
            cpu1 = process_cpu(server.pid)
            raw = run_raw(url, key, args.raw_events, args.processes, args.batch, f"raw-{run}")
            cpu2 = process_cpu(server.pid)
            seg["server_cpu"], raw["server_cpu"] = cpu1 - cpu0, cpu2 - cpu1
        finally:
            server.terminate()
            server.wait(timeout=30)
        con = duckdb.connect(str(events_path), read_only=True)
        stored = {
            prefix: con.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM events WHERE event_id LIKE ?",
                [f"{prefix}-{run}-%"],
            ).fetchone()
            for prefix in ("seg", "raw")
        }
        con.close()
        ref = run_reference(args.raw_events, args.batch, f"ref-{run}", reference_store)

    def rate(r: dict[str, Any]) -> float:
        return float(r["events"] / r["seconds"])

    print(
        f"HTTP ingest on {os.cpu_count()} cores, batches of {args.batch} events, "
        f"{args.prefill:,} events stored beforehand"
    )
    print(
        f"  (a) Segment client:   {seg['events']:>9,} events in {seg['seconds']:6.2f} s "
        f"= {rate(seg):>9,.0f} events/s, p95 request {seg['p95_ms']:.1f} ms "
        f"({seg['requests']} requests, {seg['errors']} errors)"
    )
    print(
        f"  (b) raw /v1/batch x{args.processes}: {raw['events']:>9,} events in "
        f"{raw['seconds']:6.2f} s = {rate(raw):>9,.0f} events/s, p50 {raw['p50_ms']:.1f} ms, "
        f"p95 {raw['p95_ms']:.1f} ms ({raw['requests']} requests of {raw['body_kb']:.1f} KiB)"
    )
    for label, r in (("Segment client", seg), ("raw batches", raw)):
        print(
            f"  server CPU, {label}: {r['server_cpu']:.1f} s = "
            f"{r['events'] / max(r['server_cpu'], 1e-9):,.0f} events per CPU-second "
            "(what one core of its own would take, whatever else runs on the machine)"
        )
    print(
        f"  reference, EventWriter without HTTP: {rate(ref):>9,.0f} events/s "
        f"(HTTP path = {rate(raw) / rate(ref):.0%} of it)"
    )
    for prefix, sent in (("seg", seg["events"]), ("raw", raw["events"])):
        rows, distinct = stored[prefix] or (0, 0)
        verdict = "exactly once" if rows == distinct == sent else "MISMATCH"
        print(
            f"  stored {prefix}: {rows:,} rows, {distinct:,} distinct of {sent:,} sent: {verdict}"
        )
    best = max(rate(seg), rate(raw))
    print(f"  floor {FLOOR:,} events/s: {'met' if best >= FLOOR else 'NOT met'}")


if __name__ == "__main__":
    main()
