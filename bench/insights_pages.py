"""Benchmark: every insights page of a workspace, cold and warm, through a real server.

    .venv/bin/python bench/insights_pages.py [WORKSPACE] [--repeat 10]

Without WORKSPACE it builds the demo workspace (`productops demo --no-serve`) in a temporary
folder first. It then starts `productops serve` on a free port, signs in as the demo admin
through the login form, and loads each page: once right after the server started (cold:
nothing computed in this process yet) and `--repeat` more times (warm). For the tracking
plan and the dashboards it also times the page right after new events arrived (one small
Segment batch through `/v1/batch`), which used to recompute everything.

Reference in the same run: the same number as a `GET /healthz` (the server's floor).
Floors (issue 6): every insights page p95 <= 1 s warm and <= 3 s cold.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PRODUCTOPS = [sys.executable, "-m", "productops"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_demo(folder: Path) -> dict[str, str]:
    out = subprocess.run(
        [*PRODUCTOPS, "demo", str(folder), "--no-serve", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    data: dict[str, str] = json.loads(out.stdout)
    return data


def reset_password(folder: Path) -> dict[str, str]:
    # `productops demo` on a built workspace only resets and prints the admin password.
    return build_demo(folder)


def start_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*PRODUCTOPS, "serve", str(folder), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def sign_in(base: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/"},
    )
    assert r.status_code == 303, r.text[:300]
    return client


def pages(client: httpx.Client) -> dict[str, str]:
    """The insights pages to time, by label."""
    found = {
        "product dashboard": "/insights",
        "funnel": "/insights/funnel?steps=Signed+Up&steps=Dashboard+Viewed&steps=Report+Created",
        "retention": "/insights/retention",
        "metric catalog": "/insights/metrics",
        "metric (activation)": "/insights/metrics/activation",
        "dashboards list": "/insights/dashboards",
        "tracking plan": "/insights/tracking-plan",
    }
    # The explorers (issue 12: trends, stickiness, lifecycle, paths; cohorts), the SQL page,
    # saved insights, and the person and account profiles.
    found.update(
        {
            "trends": "/insights/trends?s_event=Report+Created&breakdown=account.plan",
            "stickiness": "/insights/stickiness",
            "lifecycle": "/insights/lifecycle",
            "paths": "/insights/paths?event=Signed+Up",
            "cohorts": "/insights/cohorts",
            "sql page": "/insights/sql",
            "saved insights": "/insights/saved",
        }
    )
    listing = client.get("/insights/dashboards").text
    ids = re.findall(r'href="/insights/dashboards/(\d+)"', listing)
    if ids:
        found["saved dashboard"] = f"/insights/dashboards/{ids[0]}"
    saved_ids = re.findall(r'href="/insights/saved/(\d+)"', client.get("/insights/saved").text)
    if saved_ids:
        found["saved insight"] = f"/insights/saved/{saved_ids[0]}"
    accounts = re.findall(r'href="/accounts/(\d+)"', client.get("/accounts").text)
    if accounts:
        record = client.get(f"/accounts/{accounts[0]}").text
        found["account record"] = f"/accounts/{accounts[0]}"
        usage = re.search(r'href="(/insights/accounts/[^"]+)"', record)
        if usage:
            found["account usage"] = usage.group(1)
        person = re.search(r'href="(/insights/people/[^"]+)"', record)
        if person:
            found["person profile"] = person.group(1)
    return found


def timed(client: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - t
    if r.status_code != 200:
        raise SystemExit(f"{url} answered {r.status_code}: {r.text[:300]}")
    return elapsed


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def send_events(base: str, key: str) -> None:
    batch = [
        {
            "type": "track",
            "event": "Report Created",
            "userId": f"bench-{uuid.uuid4().hex[:8]}",
            "messageId": str(uuid.uuid4()),
        }
        for _ in range(20)
    ]
    r = httpx.post(f"{base}/v1/batch", json={"batch": batch}, auth=(key, ""), timeout=60)
    r.raise_for_status()


def ingest_key(folder: Path) -> str:
    out = subprocess.run(
        [*PRODUCTOPS, "apikey", "create", str(folder), "--scope", "ingest", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return str(json.loads(out.stdout)["key"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    tmp = None
    if args.workspace is None:
        tmp = tempfile.TemporaryDirectory(prefix="productops-bench-")
        folder = Path(tmp.name) / "demo"
        print("building the demo workspace …", flush=True)
        creds = build_demo(folder)
    else:
        folder = args.workspace
        creds = reset_password(folder)
    key = ingest_key(folder)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(folder, port)
    try:
        client = sign_in(base, creds["email"], creds["password"])
        targets = pages(client)
        health = [timed(client, "/healthz") for _ in range(args.repeat)]
        cold = {label: timed(client, url) for label, url in targets.items()}
        warm: dict[str, list[float]] = {label: [] for label in targets}
        for _ in range(args.repeat):
            for label, url in targets.items():
                warm[label].append(timed(client, url))
        send_events(base, key)
        after_events = {label: timed(client, url) for label, url in targets.items()}
    finally:
        proc.terminate()
        proc.wait(30)
        if tmp is not None:
            tmp.cleanup()
    print(f"\nworkspace: {folder}  (server pid {proc.pid}, {os.cpu_count()} cores)")
    print(f"reference: GET /healthz median {statistics.median(health) * 1000:.1f} ms\n")
    print(f"{'page':<22} {'cold s':>8} {'warm p50':>9} {'warm p95':>9} {'after new events':>17}")
    worst_cold = worst_warm = 0.0
    for label in targets:
        w = warm[label]
        worst_cold = max(worst_cold, cold[label], after_events[label])
        worst_warm = max(worst_warm, p95(w))
        print(
            f"{label:<22} {cold[label]:>8.2f} {statistics.median(w):>9.3f} {p95(w):>9.3f} "
            f"{after_events[label]:>17.2f}"
        )
    warm_ok = "met" if worst_warm <= 1 else "NOT met"
    cold_ok = "met" if worst_cold <= 3 else "NOT met"
    print(
        f"\nworst warm p95 {worst_warm:.2f} s (floor 1 s: {warm_ok});"
        f" worst cold {worst_cold:.2f} s (floor 3 s: {cold_ok})"
    )


if __name__ == "__main__":
    main()
