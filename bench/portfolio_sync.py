"""Jira sync benchmark: 50,000 issues from a local stand-in of Jira Cloud.

    .venv/bin/python bench/portfolio_sync.py [--issues 50000] [--epics 1000] [--page 100]

Serves generated Jira Cloud issues (`POST /rest/api/3/search/jql`, nextPageToken, 100 a page
as Cloud allows with fields) from tests/portfolio/fake_sources.py on 127.0.0.1, and runs
`productops portfolio sync` in-process through the outbound guard: first a full sync into an
empty workspace, then the same again (nothing changes), then an incremental sync after 1 % of
the issues changed. Figures: issues/s over the whole run, and excluding the time the server
spent answering (its handler time, measured inside the server). Reference in the same run: a
plain keep-alive httpx client reading the same pages (no guard, no parsing beyond JSON, no
database). Floor: 2,000 issues/s excluding the server's own time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.portfolio.fake_sources import TOKEN, Site, jira_issue, serve

from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.workspace import init_workspace
from productops.portfolio.sync import service as sync

FLOOR = 2_000


def make_site(issues: int, epics: int, page: int) -> Site:
    rows = [jira_issue(1, key="BIG-1", summary="Company initiative", level=2)]
    for e in range(epics):
        n = 2 + e
        rows.append(
            jira_issue(
                n,
                key=f"BIG-{n}",
                summary=f"Epic {e}",
                level=1,
                parent={"id": "10001", "key": "BIG-1"},
                category="indeterminate",
                description={
                    "type": "doc",
                    "version": 1,
                    "content": [
                        {
                            "type": "paragraph",
                            "content": [{"type": "text", "text": f"Why epic {e} matters."}],
                        }
                    ],
                },
            )
        )
    stories = issues - len(rows)
    for k in range(stories):
        n = 2 + epics + k
        parent = 2 + (k % epics)
        rows.append(
            jira_issue(
                n,
                key=f"BIG-{n}",
                parent={"id": str(10000 + parent), "key": f"BIG-{parent}"},
                category=("done", "indeterminate", "new")[k % 3],
                points=float((1, 2, 3, 5, 8)[k % 5]),
            )
        )
    return Site(jira_issues=rows, page_cap=page, log_requests=False)


def reference(url: str, page: int) -> tuple[float, int]:
    """Read every page with a plain keep-alive client: the floor of what transport costs."""
    started = time.perf_counter()
    n = 0
    token: str | None = None
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        while True:
            body: dict[str, object] = {
                "jql": "project = BIG ORDER BY created ASC",
                "fields": ["summary"],
                "maxResults": page,
            }
            if token:
                body["nextPageToken"] = token
            data = client.post("/rest/api/3/search/jql", json=body).json()
            n += len(data["issues"])
            token = data.get("nextPageToken")
            if data.get("isLast") or not token:
                break
    return time.perf_counter() - started, n


def run(ws, cid: int, site: Site, full: bool, label: str) -> None:  # type: ignore[no-untyped-def]
    site.busy_seconds = 0.0
    outcome = sync.sync(ws, cid, full=full)
    r = outcome.report
    total = outcome.seconds
    server = site.busy_seconds
    own = max(total - server, 1e-9)
    print(
        f"{label:<34} {r.items:>7,} items read  {total:6.2f} s  server {server:5.2f} s  "
        f"{r.items / total:>8,.0f} items/s  {r.items / own:>8,.0f} items/s without the server  "
        f"(created {r.created:,}, updated {r.updated:,}, deleted {r.deleted:,}, moved {r.moved:,}; "
        f"{outcome.requests} requests)"
    )
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=50_000)
    parser.add_argument("--epics", type=int, default=1_000)
    parser.add_argument("--page", type=int, default=100)
    args = parser.parse_args()
    site = make_site(args.issues, args.epics, args.page)
    with tempfile.TemporaryDirectory() as tmp, serve(site) as url:
        ws = init_workspace(Path(tmp) / "ws", outbound_allow_hosts=["127.0.0.1"])
        with transaction(ws.sessions) as s:
            cid = sync.connect(
                ws,
                s,
                name="big",
                kind="jira",
                url=url,
                token=TOKEN,
                username="bench@example.com",
                scope="project = BIG",
                actor="bench",
            ).id
        ref_seconds, ref_n = reference(url, args.page)
        print(
            f"reference: plain httpx reads {ref_n:,} issues in {ref_seconds:.2f} s "
            f"({ref_n / ref_seconds:,.0f} issues/s, server included)"
        )
        run(ws, cid, site, True, "full sync into an empty workspace")
        run(ws, cid, site, True, "full sync again (nothing changed)")
        newer = (utcnow() + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        for issue in site.jira_issues[::100]:
            issue["fields"]["updated"] = newer
            issue["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
        run(ws, cid, site, False, "incremental sync, 1% changed")
        with ws.sessions() as s:
            runs = sync.last_runs(s, cid, limit=1)
            first_full = sync.last_runs(s, cid, limit=3)[-1].report
        ws.close()
    print(
        f"floor: {FLOOR:,} issues/s without the server's time (first full sync: "
        f"{first_full['items']:,} items)"
    )
    del runs


if __name__ == "__main__":
    main()
