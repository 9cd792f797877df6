"""Key results driven by a catalog metric: their value comes from the event store (the latest
complete period), the roll-ups follow it after the daily refresh, and the key result's page
and API show its history with the SQL behind it."""

from __future__ import annotations

import datetime as dt
import json
import re

from fastapi.testclient import TestClient

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core import jobs
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.portfolio.models import CheckIn, KeyResult
from productops.portfolio.okrs import service as okrs
from productops.portfolio.rollups.service import Filters, Rule, build
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

CATALOG = """\
metrics:
  - name: signups
    type: count
    event: signup
"""


def write_signups(ws: Workspace) -> tuple[dt.date, int]:
    """Signups over the last six complete weeks (9, 8, … 4 going back) and three so far this
    week; returns last week's Monday and its count."""
    now = utcnow().replace(tzinfo=None)
    monday = now.date() - dt.timedelta(days=now.weekday())
    events = []
    for weeks_back in range(0, 7):
        start = dt.datetime.combine(monday - dt.timedelta(days=7 * weeks_back), dt.time())
        count = 3 if weeks_back == 0 else 10 - weeks_back
        for n in range(count):
            ts = min(start + dt.timedelta(hours=n), now)
            events.append(
                store.Event(
                    event_id=f"s{weeks_back}-{n}",
                    event="signup",
                    type="track",
                    ts=ts,
                    received_at=ts,
                    distinct_id=f"u{weeks_back}-{n}",
                    user_id=f"u{weeks_back}-{n}",
                    source="test",
                )
            )
    con = store.connect(events_file(ws))
    try:
        store.append_arrow(con, store.events_to_arrow(events))
    finally:
        con.close()
    (ws.path / "metrics.yml").write_text(CATALOG)
    return monday - dt.timedelta(days=7), 9


def test_a_metric_key_result_reads_the_latest_complete_period_and_moves_the_objective(
    workspace: Workspace,
) -> None:
    last_week, expected = write_signups(workspace)
    # A quarter that began at least three weeks ago, so last week lies inside it.
    period = okrs.period_of(utcnow().date() - dt.timedelta(days=21))
    with transaction(workspace.sessions) as s:
        objective = okrs.create_objective(s, "Grow sign-ups", period, actor="t")
        # An objective is enough for the daily refresh (snapshots for the change log) ...
        daily = jobs.get_schedule(s, okrs.DAILY_SCHEDULE)
        assert daily is not None and daily.every_seconds == 86400
        assert daily.kind == "portfolio.refresh_metrics"
        kr = okrs.add_key_result(
            s,
            objective.id,
            "Weekly sign-ups from 5 to 13",
            start=5,
            target=13,
            metric="signups",
            ws=workspace,
            actor="t",
        )
        # ... and a metric key result brings its next run within a minute.
        assert daily.next_run_at <= utcnow() + dt.timedelta(minutes=1)
        broken = okrs.add_key_result(
            s, objective.id, "A metric removed since", target=1, metric="gone", actor="t"
        )
        ids = objective.id, kr.id, broken.id
    queued = jobs.enqueue_due(workspace, now=utcnow() + dt.timedelta(minutes=2))
    assert len(queued) == 1 and jobs.run_pending(workspace) == 1
    with workspace.sessions() as s:
        job = jobs.get_job(s, queued[0])
        assert job.status == "succeeded", job.error
        assert job.result is not None and job.result["checked_in"] == 1
        assert "A metric removed since" in job.result["failed"][str(ids[2])]
        row = s.get(KeyResult, ids[1])
        assert row is not None and row.current_value == expected
        entry = s.query(CheckIn).filter_by(key_result_id=ids[1]).one()
        assert entry.source == "metric"
        p = build(s, workspace, Rule.of(workspace), Filters(period=period, include_closed=True))
        o = next(o for o in p.every_objective() if o.id == ids[0])
        kr_row = next(k for k in o.key_results if k.id == ids[1])
        assert kr_row.progress == (expected - 5) / (13 - 5)

    client = TestClient(create_app(workspace))
    read = {"Authorization": f"Bearer {api_key(workspace, 'read')}"}
    series = client.get(f"/api/v1/portfolio/key-results/{ids[1]}/metric", headers=read).json()
    assert series["current"] == expected
    points = {p["period"]: p for p in series["points"]}
    assert points[last_week.isoformat()]["value"] == expected
    assert points[last_week.isoformat()]["complete"] is True
    this_week = (last_week + dt.timedelta(days=7)).isoformat()
    assert points[this_week]["complete"] is False  # still filling, drawn faded
    assert "signup" in series["sql"]

    viewer = sign_in(workspace, "viewer")
    page = viewer.client.get(f"/portfolio/key-results/{ids[1]}").text
    assert "from the event store" in page and "The SQL behind these numbers" in page
    spec = re.search(r'<script type="application/json" id="kr-chart">(.*?)</script>', page, re.S)
    assert spec is not None
    assert last_week.isoformat() in json.dumps(json.loads(spec.group(1)))
    broken_page = viewer.client.get(f"/portfolio/key-results/{ids[2]}").text
    assert "The metric cannot be read" in broken_page
