"""The REST evaluate endpoint under load: `POST /api/v1/evaluate` (every flag for one user)
against `productops serve` on a fresh workspace with the ten flags of bench/flag_evaluation.py,
from client processes with keep-alive connections; requests/s and latency.

Reference in the same run, on the same server with the same clients: `GET /healthz` (the
server's floor: routing, the API key check skipped) and `GET /api/features/{client_key}` (what
GrowthBook SDKs fetch).

    .venv/bin/python bench/evaluate_endpoint.py [--seconds 10] [--clients 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flag_evaluation import FEATURES

from productops.core import auth
from productops.core.db import transaction
from productops.core.workspace import init_workspace
from productops.experiments.flags import service as flags
from productops.experiments.sdk import service as sdk


def fill(folder: Path) -> tuple[str, str]:
    """The flags (as rules written through the service), a read key and a client key."""
    ws = init_workspace(folder)
    kinds = {bool: "boolean", int: "number", str: "string", dict: "json"}
    with transaction(ws.sessions) as s:
        for key, feature in FEATURES.items():
            default = feature["defaultValue"]
            flag = flags.create_flag(s, key, kinds[type(default)], default, "bench")
            rules = []
            for r in feature.get("rules", []):
                if "force" in r:
                    rule: dict[str, Any] = {
                        "type": "force",
                        "id": r["id"],
                        "value": r["force"],
                        "condition": r.get("condition", {}),
                    }
                    if "coverage" in r:
                        rule["coverage"] = r["coverage"]
                else:
                    rule = {
                        "type": "experiment",
                        "id": r["id"],
                        "experiment_key": r["key"],
                        "condition": r.get("condition", {}),
                        "variations": [
                            {"value": v, "key": str(i)} for i, v in enumerate(r["variations"])
                        ],
                    }
                    if "weights" in r:
                        rule["weights"] = r["weights"]
                rules.append(rule)
            flags.set_rules(s, flag.id, "production", rules, "bench")
        key = auth.create_api_key(s, "bench", "read", actor="bench").secret
        _, client_key = sdk.create_connection(s, "bench", "production", "bench")
    ws.close()
    return key, client_key


def client(
    base: str, method: str, path: str, key: str, seconds: float, threads: int, out: Any
) -> None:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            while time.monotonic() < stop:
                start = time.perf_counter()
                if method == "POST":
                    body = {
                        "environment": "production",
                        "attributes": {
                            "id": f"user_{rng.randrange(100000):06d}",
                            "country": rng.choice(["US", "DE", "FR"]),
                            "plan": rng.choice(["free", "growth", "enterprise"]),
                        },
                    }
                    r = http.post(path, json=body)
                else:
                    r = http.get(path)
                r.raise_for_status()
                mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(latencies)


def load(
    base: str, method: str, path: str, key: str, args: argparse.Namespace
) -> tuple[float, float, float]:
    queue: Any = mp.Queue()
    procs = [
        mp.Process(target=client, args=(base, method, path, key, args.seconds, args.threads, queue))
        for _ in range(args.clients)
    ]
    start = time.monotonic()
    for p in procs:
        p.start()
    latencies: list[float] = []
    for _ in procs:
        latencies.extend(queue.get())
    for p in procs:
        p.join()
    elapsed = time.monotonic() - start
    latencies.sort()
    return (
        len(latencies) / elapsed,
        statistics.median(latencies) * 1000,
        latencies[int(len(latencies) * 0.95)] * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-evaluate-")) / "ws"
    key, client_key = fill(folder)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "productops",
            "serve",
            str(folder),
            "--port",
            str(port),
            "--no-worker",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        check = httpx.post(
            base + "/api/v1/evaluate",
            json={"attributes": {"id": "user_000001", "plan": "free"}},
            headers={"Authorization": f"Bearer {key}"},
        ).json()
        assert len(check["flags"]) == len(FEATURES), json.dumps(check)[:300]
        print(
            f"productops serve, {args.clients} client processes x {args.threads} keep-alive "
            f"connections, {args.seconds:g} s each:"
        )
        for label, method, path in (
            ("POST /api/v1/evaluate (10 flags, one user)", "POST", "/api/v1/evaluate"),
            ("GET /api/features/{client_key} (reference)", "GET", f"/api/features/{client_key}"),
            ("GET /healthz (reference)", "GET", "/healthz"),
        ):
            rps, p50, p95 = load(base, method, path, key, args)
            print(f"  {label:<46} {rps:8,.0f} req/s   p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
