"""Dashboards: the standard product dashboard needs no set-up, its page shows the same numbers
as the API, exports are safe, and saved dashboards hold catalog metrics."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from productops.analytics import store
from productops.analytics.dashboards.service import standard_dashboard
from productops.analytics.settings import events_file
from productops.cli.kit import error_detail
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

END = dt.date(2026, 10, 31)


def _fill(ws: Workspace) -> None:
    events = []
    for p in range(30):
        for d in range(0, 60, 1 + p % 4):
            day = END - dt.timedelta(days=d)
            at = dt.datetime.combine(day, dt.time(10, p % 60))
            name = "Report Created" if (p + d) % 3 == 0 else "Page Viewed"
            events.append(
                store.Event(
                    event_id=f"e{p}-{d}",
                    event=name,
                    type="track",
                    ts=at,
                    received_at=at,
                    distinct_id=f"u{p}",
                    user_id=f"u{p}",
                    account_id=f"a{p % 5}",
                    source="segment",
                    properties={"note": '=HYPERLINK("http://x")' if p == 0 else "ok"},
                )
            )
    con = store.connect(events_file(ws))
    try:
        store.append_arrow(con, store.events_to_arrow(events))
        now = dt.datetime(2026, 11, 1)
        for a in range(5):
            store.upsert_account(con, f"a{a}", {"plan": ["free", "growth"][a % 2]}, now)
        for p in range(30):
            store.upsert_person(con, f"u{p}", {"country": "DE"}, f"a{p % 5}", now)
    finally:
        con.close()


def test_empty_workspace_explains_how_to_send_events(sqlite_workspace: Workspace) -> None:
    viewer = sign_in(sqlite_workspace, Role.viewer)
    page = viewer.client.get("/insights").text
    assert "No events yet" in page and "ingest" in page


def test_standard_dashboard_fills_itself(sqlite_workspace: Workspace) -> None:
    _fill(sqlite_workspace)
    panels = {p.key: p for p in standard_dashboard(sqlite_workspace, END)}
    assert set(panels) == {
        "active-users",
        "stickiness",
        "days-active",
        "lifecycle",
        "retention",
        "adoption",
    }
    au = panels["active-users"].data.set_index("day")
    assert au.loc[END, "dau"] == sum(1 for p in range(30) if 0 % (1 + p % 4) == 0)
    assert au.loc[END, "mau"] == 30
    assert all(p.chart is not None for p in panels.values())
    assert all(p.sql for p in panels.values())
    retention = panels["retention"].chart
    assert retention is not None
    shares = [v["share"] for v in retention["datasets"][next(iter(retention["datasets"]))]]
    assert max(shares) == 1.0 and min(shares) >= 0  # period 0 is 100 %, drawn as a share
    adoption = panels["adoption"].data
    assert set(adoption["feature"]) == {"Report Created"}


def test_page_numbers_equal_the_api(sqlite_workspace: Workspace) -> None:
    _fill(sqlite_workspace)
    viewer = sign_in(sqlite_workspace, Role.viewer)
    page = viewer.client.get("/insights")
    assert page.status_code == 200
    assert "unsafe-eval" in page.headers["content-security-policy"]
    api = {p["key"]: p for p in viewer.client.get("/api/v1/dashboards/standard").json()}
    # the table under the Active users chart, read back from the HTML
    section = page.text.split('id="active-users"')[1].split("</article>")[0]
    rows = re.findall(
        r"<tr><td>(\d{4}-\d\d-\d\d)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", section
    )
    assert rows, "the page shows the numbers behind the chart"
    from_api = {r["day"]: (r["dau"], r["wau"], r["mau"]) for r in api["active-users"]["data"]}
    for day, dau, wau, mau in rows:
        assert from_api[day] == (int(dau), int(wau), int(mau))
    insights = viewer.client.get(
        f"/api/v1/insights/active-users?rolling=true&start={rows[0][0]}&end={rows[-1][0]}"
    ).json()
    assert {r["day"]: r["dau"] for r in insights["data"]} == {
        d: v[0] for d, v in from_api.items() if rows[0][0] <= d <= rows[-1][0]
    }


def test_exports_are_formula_safe_csv_and_parquet(sqlite_workspace: Workspace) -> None:
    _fill(sqlite_workspace)
    viewer = sign_in(sqlite_workspace, Role.viewer)
    r = viewer.client.get("/insights/panels/retention.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0][:3] == ["cohort", "cohort_size", "period"]
    pq = viewer.client.get("/insights/panels/active-users.parquet")
    frame = pd.read_parquet(io.BytesIO(pq.content))
    assert list(frame.columns)[:2] == ["day", "dau"] and len(frame) == 90
    assert viewer.client.get("/insights/panels/nope.csv").status_code == 404
    assert viewer.client.get("/insights/panels/retention.exe").status_code == 404


METRICS = """\
metrics:
  - name: reports
    label: Reports created
    type: count
    event: Report Created
"""


def test_saved_dashboards_hold_catalog_metrics(sqlite_workspace: Workspace) -> None:
    _fill(sqlite_workspace)
    (sqlite_workspace.path / "metrics.yml").write_text(METRICS)
    key = api_key(sqlite_workspace, "write")
    client = TestClient(create_app(sqlite_workspace))
    auth = {"Authorization": f"Bearer {key}"}
    bad = client.post(
        "/api/v1/dashboards", headers=auth, json={"name": "Weekly", "panels": [{"metric": "nope"}]}
    )
    assert bad.status_code == 422 and "no metric 'nope'" in error_detail(bad)
    made = client.post(
        "/api/v1/dashboards",
        headers=auth,
        json={"name": "Weekly", "panels": [{"metric": "reports", "grain": "week", "days": 400}]},
    )
    assert made.status_code == 201
    dup = client.post(
        "/api/v1/dashboards",
        headers=auth,
        json={"name": "Weekly", "panels": [{"metric": "reports"}]},
    )
    assert dup.status_code == 409
    panels = client.get(f"/api/v1/dashboards/{made.json()['id']}", headers=auth).json()
    total = sum(
        next(v for k, v in row.items() if k not in {"period", "day", "week", "month"})
        for row in panels[0]["data"]
    )
    expected = sum(1 for p in range(30) for d in range(0, 60, 1 + p % 4) if (p + d) % 3 == 0)
    assert total == expected
    viewer = sign_in(sqlite_workspace, Role.viewer)
    page = viewer.client.get(f"/insights/dashboards/{made.json()['id']}")
    assert page.status_code == 200 and "Reports created" in page.text


@pytest.mark.parametrize("role", [Role.viewer, Role.researcher])
def test_only_editors_save_dashboards(sqlite_workspace: Workspace, role: Role) -> None:
    (sqlite_workspace.path / "metrics.yml").write_text(METRICS)
    user = sign_in(sqlite_workspace, role)
    r = user.post("/insights/dashboards", {"name": "Mine", "metric": "reports"})
    assert r.status_code == 403  # type: ignore[attr-defined]
    editor = sign_in(sqlite_workspace, Role.editor)
    r = editor.post("/insights/dashboards", {"name": "Mine", "metric": "reports"})
    assert r.status_code == 303  # type: ignore[attr-defined]


def test_funnel_page_draws_the_steps_and_matches_the_api(sqlite_workspace: Workspace) -> None:
    _fill(sqlite_workspace)
    viewer = sign_in(sqlite_workspace, Role.viewer)
    query = "steps=Page+Viewed&steps=Report+Created&start=2026-10-01&end=2026-10-31"
    page = viewer.client.get(f"/insights/funnel?{query}")
    assert page.status_code == 200
    assert 'data-chart="funnel-spec"' in page.text
    api = viewer.client.get(f"/api/v1/insights/funnel?{query}").json()
    for row in api["data"]:
        assert f"<td>{row['step']}</td><td>{row['event']}</td><td>{row['persons']}</td>" in (
            page.text.replace("<td>all</td>", "")
        )
    one = viewer.client.get("/insights/funnel?steps=Page+Viewed")
    assert "at least two steps" in one.text


def test_retention_page_by_feature(sqlite_workspace: Workspace) -> None:
    _fill(sqlite_workspace)
    viewer = sign_in(sqlite_workspace, Role.viewer)
    page = viewer.client.get(
        "/insights/retention?start_event=Page+Viewed&return_event=Report+Created"
        "&grain=week&start=2026-09-01&end=2026-10-31"
    )
    assert page.status_code == 200
    assert (
        "Page Viewed → Report Created" in page.text and 'data-chart="retention-spec"' in page.text
    )
    bad = viewer.client.get("/insights/retention?grain=year")
    assert bad.status_code == 422


def test_review_fixes_bad_input_gets_reasons_not_server_errors(
    sqlite_workspace: Workspace,
) -> None:
    _fill(sqlite_workspace)
    (sqlite_workspace.path / "metrics.yml").write_text(
        METRICS + "dimensions:\n  plan: {from: account, trait: plan}\n"
    )
    viewer = sign_in(sqlite_workspace, Role.viewer)
    r = viewer.client.get("/insights/funnel?steps=a&steps=b&end=0001-01-01")
    assert r.status_code == 422 and "outside 1970-01-01" in r.text
    assert viewer.client.get("/api/v1/accounts/99999999999999999999").status_code == 422
    key = api_key(sqlite_workspace, "write")
    client = TestClient(create_app(sqlite_workspace))
    auth = {"Authorization": f"Bearer {key}"}
    bad = client.post(
        "/api/v1/dashboards",
        headers=auth,
        json={"name": "X", "panels": [{"metric": "reports", "by": "nonexistent"}]},
    )
    assert bad.status_code == 422 and "no dimension 'nonexistent'" in error_detail(bad)
    ok = client.post(
        "/api/v1/dashboards",
        headers=auth,
        json={"name": "Y", "panels": [{"metric": "reports", "by": "plan"}]},
    )
    assert ok.status_code == 201
    # the catalog loses the metric later: the page still opens and says why
    (sqlite_workspace.path / "metrics.yml").write_text("metrics: []\n")
    page = viewer.client.get(f"/insights/dashboards/{ok.json()['id']}")
    assert page.status_code == 200 and "This panel cannot be drawn" in page.text


def test_the_demo_job_refuses_a_workspace_in_use(sqlite_workspace: Workspace) -> None:
    from productops.core import jobs

    key = api_key(sqlite_workspace, "admin")
    sign_in(sqlite_workspace, Role.admin)  # a real user: the workspace is in use
    client = TestClient(create_app(sqlite_workspace))
    r = client.post(
        "/api/v1/jobs",
        json={"kind": "demo.build", "params": {"size": "tiny"}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 202
    jobs.run_pending(sqlite_workspace)
    with sqlite_workspace.sessions() as s:
        job = jobs.get_job(s, r.json()["id"])
        assert job.status == "failed" and "only built into an empty workspace" in (job.error or "")


def test_a_failed_demo_build_leaves_nothing_behind(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or nothing: a build that fails half-way (here: while writing events) removes the
    accounts, people and users the earlier steps made (issue 7: 40 accounts and 600 people
    were left behind)."""
    from sqlalchemy import func, select

    from productops.analytics import demo as analytics_demo
    from productops.core import demo
    from productops.core.db import load_models
    from productops.core.errors import InvalidInput

    def broken(*args: object, **kwargs: object) -> int:
        raise InvalidInput("the disk is full")

    monkeypatch.setattr(analytics_demo, "_signup_journeys", broken)
    with pytest.raises(InvalidInput, match="disk is full"):
        demo.build_demo(sqlite_workspace, seed=1, scale=demo.DemoScale.named("tiny"))
    with sqlite_workspace.sessions() as s:
        for table in load_models().sorted_tables:
            if table.name not in demo.BOOKKEEPING_TABLES:
                assert s.scalar(select(func.count()).select_from(table)) == 0, table.name
    with store.reader(events_file(sqlite_workspace)) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (0,)
    assert demo.demo_state(sqlite_workspace) == "empty"  # and it can be built again
