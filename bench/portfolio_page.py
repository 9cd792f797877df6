"""Portfolio page benchmark: the executive page over 50,000 issues.

    .venv/bin/python bench/portfolio_page.py [--issues 50000] [--epics 1000] [--requests 60]

Fills a fresh workspace with six teams, twelve objectives with key results, twelve
initiatives, `--epics` epics and `--issues` issues (written straight to the database, as a
sync would leave them), starts a real server (uvicorn on 127.0.0.1) and signs in, then times
GET /portfolio (the executive page: every objective, initiative and epic rolled up) and the
other views. Reference in the same run: GET /healthz on the same server, and the roll-up
alone (no HTTP, no template). Floor: p95 ≤ 300 ms for /portfolio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from productops.core import auth, teams
from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import init_workspace
from productops.portfolio.models import Epic, Issue
from productops.portfolio.okrs import service as okrs
from productops.portfolio.rollups.service import Rule, build
from productops.portfolio.updates.service import take_snapshots, write_update
from productops.portfolio.work import service as work
from productops.web.app import create_app

FLOOR_MS = 300
PASSWORD = "bench password 123"  # noqa: S105 - a throwaway workspace


def fill(ws, issues: int, epics: int) -> None:  # type: ignore[no-untyped-def]
    today = dt.date.today()
    with transaction(ws.sessions) as s:
        team_ids = [teams.create_team(s, f"Team {t}", actor="bench").id for t in range(6)]
        auth.create_user(s, "bench@example.com", "Bench", PASSWORD, Role.viewer, actor="bench")
        initiatives = []
        for t, team in enumerate(team_ids):
            for q in ("2026-Q3", "2026-Q4"):
                o = okrs.create_objective(s, f"Objective {t} {q}", q, team_id=team, actor="bench")
                for k in range(3):
                    kr = okrs.add_key_result(s, o.id, f"KR {k}", target=100, actor="bench")
                    okrs.check_in(s, kr.id, 10 * (k + 1), "", actor="bench")
                init = work.create_initiative(
                    s,
                    f"Initiative {t} {q}",
                    objective_id=o.id,
                    team_id=team,
                    owner_name="Owner",
                    actor="bench",
                )
                initiatives.append((init.id, team))
        epic_rows = []
        for e in range(epics):
            init, team = initiatives[e % len(initiatives)]
            linked = e % 7 != 0
            epic_rows.append(
                {
                    "connection_id": None,
                    "external_id": f"e{e}",
                    "key": f"BIG-{e}",
                    "title": f"Epic {e}",
                    "description": "Why it matters. " * (e % 10),
                    "status": "In Progress",
                    "status_category": ("indeterminate", "new", "done")[e % 3],
                    "owner_name": None if e % 11 == 0 else "Owner",
                    "team_id": team,
                    "project": "BIG",
                    "labels": [],
                    "components": [],
                    "initiative_id": init if linked else None,
                    "initiative_by": "hand" if linked else None,
                    "target_date": today + dt.timedelta(days=(e % 200) - 50),
                    "start_date": today - dt.timedelta(days=e % 60),
                }
            )
        s.execute(insert(Epic), epic_rows)
        ids = [row[0] for row in s.execute(Epic.__table__.select().with_only_columns(Epic.id))]
        batch = []
        for i in range(issues):
            batch.append(
                {
                    "connection_id": None,
                    "external_id": f"i{i}",
                    "key": f"BIG-I{i}",
                    "title": f"Issue {i}",
                    "status_category": ("done", "indeterminate", "new")[i % 3],
                    "story_points": float((1, 2, 3, 5, 8)[i % 5]),
                    "epic_id": ids[i % len(ids)],
                }
            )
            if len(batch) == 5000:
                s.execute(insert(Issue), batch)
                batch = []
        if batch:
            s.execute(insert(Issue), batch)
        for e in ids[::3]:
            write_update(s, "epic", e, "on_track", "fine", actor="bench")
        take_snapshots(ws, s, today)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(client: httpx.Client, path: str, n: int) -> list[float]:
    client.get(path)  # warm
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=50_000)
    parser.add_argument("--epics", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        started = time.perf_counter()
        fill(ws, args.issues, args.epics)
        print(
            f"filled {args.epics:,} epics and {args.issues:,} issues in "
            f"{time.perf_counter() - started:.1f} s"
        )
        rollup = []
        for _ in range(20):
            t = time.perf_counter()
            with ws.sessions() as s:
                build(s, ws, Rule.of(ws))
            rollup.append((time.perf_counter() - t) * 1000)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(ws), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            page = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            r = client.post(
                "/login",
                data={
                    "email": "bench@example.com",
                    "password": PASSWORD,
                    "csrf_token": token.group(1),
                    "next": "/",
                },
            )
            assert r.status_code in (200, 303), r.text[:300]
            rows = [("GET /healthz (reference)", timed(client, "/healthz", args.requests))]
            for path in (
                "/portfolio",
                "/portfolio?rule=count",
                "/portfolio/roadmap",
                "/portfolio/timeline",
                "/portfolio/flags",
                "/api/v1/portfolio",
            ):
                rows.append((f"GET {path}", timed(client, path, args.requests)))
        server.should_exit = True
        thread.join(10)
        ws.close()
    print(
        f"{'roll-up alone (reference, no HTTP)':<40} p50 {statistics.median(rollup):7.1f} ms  "
        f"p95 {p95(rollup):7.1f} ms"
    )
    for name, values in rows:
        print(f"{name:<40} p50 {statistics.median(values):7.1f} ms  p95 {p95(values):7.1f} ms")
    page_p95 = p95(rows[1][1])
    verdict = "within" if page_p95 <= FLOOR_MS else "OVER"
    print(f"/portfolio p95 {page_p95:.0f} ms: {verdict} the {FLOOR_MS} ms floor")


if __name__ == "__main__":
    main()
