"""Ingest under an unauthenticated CPU attack: legitimate events/s alone and while strangers
loop gzip bombs with a made-up key in the body.

    .venv/bin/python bench/ingest_attack.py [--seconds 10] [--clients 2] [--attackers 4]
                                            [--addresses 1] [--batch 100] [--no-guard]

Starts a real server (`python -m productops serve DIR --port P --no-worker` over a fresh
temporary workspace). The legitimate clients post PostHog batches as `posthog-python` builds
them (the key in the body, last: `{"batch": [...], "historical_migration": false, "sent_at":
..., "api_key": ...}`), each from its own process over a keep-alive connection, and retry a
429/503 after its Retry-After as the real clients do. The attackers post, in a loop from four
more processes, a ~28 KB gzip body that inflates to ~7 MB of PostHog batch with a bogus key
(well formed, so it costs a database lookup) at its end and no Authorization header;
they share 127.0.0.1 with the legitimate clients; `--addresses N` has each of them rotate
over N source addresses of its own instead (an attack from many places: 127.1.<attacker>.<n>).

Reference in the same run: the same clients without attackers. Floor: under attack, the
legitimate clients keep 80 % of their unattacked events/s. `--no-guard` starts the server
with PRODUCTOPS_INGEST_GUARD=off (parse before the key is known, no gate, no delays): the
figures before the guard.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import gzip
import http.client
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import httpx

FLOOR = 0.80
BOGUS_KEY = "po_0123456789ab_" + "A" * 43


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def attack_body(events: int = 62_000, every: int = 6) -> tuple[bytes, int]:
    """The bomb: a PostHog batch of near-identical events, the bogus key last; gzipped."""
    rng = random.Random(7)
    batch = [
        {
            "event": "$pageview",
            "distinct_id": f"d{rng.randrange(2) if i % every == 0 else 0}",
            "properties": {"$current_url": "/pricing", "$lib": "posthog-python"},
        }
        for i in range(events)
    ]
    raw = json.dumps(
        {
            "batch": batch,
            "historical_migration": False,
            "sent_at": "2025-03-01T12:00:00+00:00",
            "api_key": BOGUS_KEY,
        }
    ).encode()
    return gzip.compress(raw, 9), len(raw)


def posthog_body(key: str, run: str, n: int, start: int) -> bytes:
    """A batch as posthog-python's `request.post` builds it: the key is the last member."""
    now = dt.datetime.now(dt.UTC).isoformat()
    batch = [
        {
            "event": ("feature_used", "report_exported", "$pageview")[i % 3],
            "distinct_id": f"{run}-user-{i % 5000}",
            "properties": {"plan": ("free", "pro")[i % 2], "seats": i % 40, "$lib": "bench"},
            "timestamp": now,
            "uuid": str(uuid.uuid4()),
        }
        for i in range(start, start + n)
    ]
    body = {"batch": batch, "historical_migration": False, "sent_at": now, "api_key": key}
    return json.dumps(body).encode()


def legit_client(
    url: str, key: str, run: str, batch: int, start_at: float, seconds: float, worker: int
) -> dict[str, Any]:
    """Post batches until the time is up; events acknowledged and request latencies."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    events = 0
    i = worker * 10_000_000
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.time() < start_at:
            time.sleep(0.005)
        end = start_at + seconds
        while time.time() < end:
            body = posthog_body(key, run, batch, i)
            while True:
                t0 = time.perf_counter()
                r = client.post("/batch/", content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] += 1
                if r.status_code in (429, 503):
                    time.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                break
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
            events += batch
            i += batch
    return {"events": events, "latencies": latencies, "statuses": dict(statuses)}


def attacker(
    port: int, body: bytes, start_at: float, until: float, addresses: list[str]
) -> dict[str, Any]:
    """Loop the bomb, as fast as the server answers, from each source address in turn (a
    plain http.client loop: the attacker's own CPU stays out of the way)."""
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    sources: list[tuple[str, int] | None] = [(a, 0) for a in addresses] or [None]
    conns = [
        http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=source)
        for source in sources
    ]
    while time.time() < start_at:
        time.sleep(0.005)
    turn = 0
    while time.time() < until:
        conn = conns[turn % len(conns)]
        turn += 1
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/batch/", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            conn.close()  # reconnects on the next request
            statuses[0] += 1
            continue
        latencies.append(time.perf_counter() - t0)
        statuses[response.status] += 1
    for conn in conns:
        conn.close()
    return {"statuses": dict(statuses), "latencies": latencies}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def phase(
    pool: concurrent.futures.ProcessPoolExecutor,
    server_pid: int,
    args: argparse.Namespace,
    port: int,
    key: str,
    run: str,
    bomb: bytes | None,
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
    start_at = time.time() + 3  # every process spawned and connected by then
    # Loopback is all of 127.0.0.0/8: attacker n's k-th address is 127.1.n.k.
    attacks = [
        pool.submit(
            attacker,
            port,
            bomb,
            start_at,
            start_at + args.seconds,
            [f"127.1.{n}.{k + 1}" for k in range(args.addresses)],
        )
        for n in range(args.attackers)
        if bomb is not None
    ]
    clients = [
        pool.submit(legit_client, url, key, run, args.batch, start_at, args.seconds, w)
        for w in range(args.clients)
    ]
    while time.time() < start_at:
        time.sleep(0.001)
    cpu0 = cpu_seconds(server_pid)
    legit = [c.result() for c in clients]
    cpu = cpu_seconds(server_pid) - cpu0
    attack = [a.result() for a in attacks]
    return {
        "events": sum(r["events"] for r in legit),
        "latencies": [x for r in legit for x in r["latencies"]],
        "statuses": sum((Counter(r["statuses"]) for r in legit), Counter()),
        "attack_statuses": sum((Counter(r["statuses"]) for r in attack), Counter()),
        "attack_latencies": [x for r in attack for x in r["latencies"]],
        "server_cpu": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=2, help="legitimate client processes")
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument(
        "--addresses",
        type=int,
        default=0,
        help="source addresses per attacker, up to 250 (0: 127.0.0.1, as the clients)",
    )
    parser.add_argument("--batch", type=int, default=100, help="events per legitimate batch")
    parser.add_argument("--no-guard", action="store_true", help="the server without the guard")
    args = parser.parse_args()

    from productops.analytics.settings import events_file
    from productops.core import auth
    from productops.core.db import transaction
    from productops.core.workspace import init_workspace

    bomb, inflated = attack_body()
    with tempfile.TemporaryDirectory() as tmp:
        ws_dir = Path(tmp) / "ws"
        ws = init_workspace(ws_dir, name="Bench Co")
        with transaction(ws.sessions) as s:
            key = auth.create_api_key(s, "bench", "ingest", actor="bench").secret
        events_path = events_file(ws)
        ws.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if args.no_guard:
            env["PRODUCTOPS_INGEST_GUARD"] = "off"
        command = [sys.executable, "-m", "productops", "serve", str(ws_dir)]
        command += ["--port", str(port), "--no-worker"]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        run = uuid.uuid4().hex[:6]
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
            httpx.post(url + "/batch/", content=posthog_body(key, f"warm{run}", 100, 0))
            workers = args.clients + args.attackers
            ctx = mp.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                alone = phase(pool, server.pid, args, port, key, f"a{run}", None)
                attacked = phase(pool, server.pid, args, port, key, f"b{run}", bomb)
        finally:
            server.terminate()
            server.wait(timeout=30)
        con = duckdb.connect(str(events_path), read_only=True)
        stored = {
            prefix: con.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM events WHERE distinct_id LIKE ?",
                [f"{prefix}{run}-%"],
            ).fetchone()
            or (0, 0)
            for prefix in ("a", "b")
        }
        con.close()

    def rate(r: dict[str, Any]) -> float:
        return float(r["events"] / args.seconds)

    guard = "off (PRODUCTOPS_INGEST_GUARD=off)" if args.no_guard else "on"
    sources = (
        f"{args.attackers * args.addresses} addresses"
        if args.addresses
        else "127.0.0.1, the clients' address"
    )
    print(
        f"Ingest under attack on {os.cpu_count()} cores, guard {guard}: {args.clients} "
        f"PostHog-style clients (batches of {args.batch}, key last in the body), "
        f"{args.seconds:.0f} s per phase"
    )
    print(
        f"  attack body: {len(bomb) / 1024:.1f} KiB gzip -> {inflated / 1e6:.1f} MB, "
        f"bogus key last, no Authorization header, {args.attackers} looping processes "
        f"from {sources}"
    )
    for name, r, prefix in (("alone", alone, "a"), ("attacked", attacked, "b")):
        rows, distinct = stored[prefix]
        print(
            f"  {name:<9} {rate(r):>8,.0f} events/s, p50 {p(r['latencies'], 0.5) * 1000:7.1f} ms,"
            f" p99 {p(r['latencies'], 0.99) * 1000:7.1f} ms, {len(r['latencies']):,} requests "
            f"{dict(r['statuses'])}, server CPU {r['server_cpu'] / args.seconds:.0%}; stored "
            f"{rows:,} ({distinct:,} distinct) of {r['events']:,}"
        )
    sent = sum(attacked["attack_statuses"].values())
    print(
        f"  attackers: {sent:,} requests ({sent / args.seconds:,.1f}/s) "
        f"{dict(attacked['attack_statuses'])}, p50 answer "
        f"{p(attacked['attack_latencies'], 0.5) * 1000:.0f} ms"
    )
    ratio = rate(attacked) / rate(alone) if alone["events"] else 0.0
    print(
        f"  under attack: {ratio:.0%} of the unattacked rate; floor {FLOOR:.0%}: "
        f"{'met' if ratio >= FLOOR else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
