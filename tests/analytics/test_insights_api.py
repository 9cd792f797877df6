"""Cohorts and the deeper insights through the API and the pages: a cohort saved by a writer
is a filter and a breakdown of every insight, its size and people are served to readers,
trends answer with their numbers and SQL, and readers cannot write."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.analytics.insights_data import write_store
from tests.conftest import api_key, sign_in

THREE_SHARES = {
    "name": "Heavy sharers",
    "definition": {"rules": [{"type": "did", "event": "report_shared", "at_least": 3, "days": 30}]},
}


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    write_store(events_file(sqlite_workspace))
    yield sqlite_workspace
    store.close_writer(events_file(sqlite_workspace))


def client(ws: Workspace, scope: str) -> TestClient:
    c = TestClient(create_app(ws))
    c.headers["Authorization"] = f"Bearer {api_key(ws, scope)}"
    return c


def test_a_saved_cohort_filters_and_breaks_down_every_insight(ws: Workspace) -> None:
    writer, reader = client(ws, "write"), client(ws, "read")
    made = writer.post("/api/v1/cohorts", json=THREE_SHARES)
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert made.json()["summary"] == "did report_shared at least 3 times in the last 30 days"
    assert writer.post("/api/v1/cohorts", json=THREE_SHARES).status_code == 409
    people = reader.get(f"/api/v1/cohorts/{cid}/people").json()
    assert people["total"] == 3 and people["people"] == ["planted-2", "planted-3", "planted-4"]
    sizes = reader.get(
        f"/api/v1/cohorts/{cid}/sizes", params={"start": "2024-05-13", "end": "2024-05-31"}
    ).json()
    assert [s["people"] for s in sizes["sizes"]] == [0, 3, 3]
    assert "events_resolved" in sizes["sql"]

    body = {
        "series": [{"kind": "people", "event": "tour_started"}],
        "date_range": "custom",
        "start": "2024-05-01",
        "end": "2024-05-31",
        "grain": "month",
        "cohorts": [cid],
    }
    got = reader.post("/api/v1/insights/trends", json=body)
    assert got.status_code == 200, got.text
    assert got.json()["totals"] == [{"series": "A", "value": 3.0}]
    body.pop("cohorts")
    body["breakdown_cohorts"] = [cid]
    totals = reader.post("/api/v1/insights/trends", json=body).json()["totals"]
    assert totals == [{"series": "A", "breakdown": "Heavy sharers", "value": 3.0}]

    params: dict[str, Any] = {"start": "2024-05-01", "end": "2024-05-31", "cohort": cid}
    st = reader.get("/api/v1/insights/stickiness", params={**params, "event": "report_shared"})
    hist = {r["active_periods"]: r["persons"] for r in st.json()["days_active"]["data"]}
    assert {k: v for k, v in hist.items() if v} == {3: 1, 4: 1, 5: 1}
    lc = reader.get(
        "/api/v1/insights/lifecycle",
        params={
            "start": "2024-05-01",
            "end": "2024-05-31",
            "grain": "month",
            "breakdown_cohort": cid,
        },
    )
    assert lc.status_code == 200, lc.text
    assert lc.json()["data"][0]["breakdown"] == "Heavy sharers"
    ret = reader.get(
        "/api/v1/insights/retention",
        params={"filter": "person.country:eq:XX", "breakdown": "account.plan", "grain": "week"},
    )
    assert ret.status_code == 200, ret.text
    assert {r["breakdown"] for r in ret.json()["data"]} == {"planted"}


def test_filters_as_text_are_read_or_refused_with_the_reason(ws: Workspace) -> None:
    reader = client(ws, "read")
    bad = reader.get("/api/v1/insights/lifecycle", params={"filter": "plan=pro"})
    assert bad.status_code == 422 and "PROPERTY:OP" in bad.text
    bad = reader.get("/api/v1/insights/lifecycle", params={"filter": "event.amount:gt:lots"})
    assert bad.status_code == 422 and "number" in bad.text
    ok = reader.get(
        "/api/v1/insights/lifecycle",
        params={"filter": ["account.plan:in:pro,enterprise", "event.$browser:neq:Safari"]},
    )
    assert ok.status_code == 200
    assert ok.json()["params"]["filters"] == [
        "account.plan in pro, enterprise",
        "event.$browser ≠ Safari",
    ]


def test_trends_formulas_compare_and_sql(ws: Workspace) -> None:
    reader = client(ws, "read")
    body = {
        "series": [{"event": "export"}, {"kind": "people", "event": "*"}],
        "formulas": ["A / B * 100"],
        "date_range": "mtd",
        "end": "2024-05-31",
        "grain": "week",
        "compare": True,
        "breakdown": "account.plan",
        "breakdown_limit": 2,
    }
    got = reader.post("/api/v1/insights/trends", json=body)
    assert got.status_code == 200, got.text
    out = got.json()
    assert out["params"]["start"] == "2024-05-01"
    assert {r["series"] for r in out["data"]} == {"A", "B", "F1"}
    assert {r["compare"] for r in out["data"]} == {"current", "previous"}
    assert len({r["breakdown"] for r in out["data"] if r["series"] == "A"}) == 3  # top 2 + other
    assert "events_resolved" in out["sql"]["A"]
    bad = reader.post("/api/v1/insights/trends", json={**body, "formulas": ["__import__('os')"]})
    assert bad.status_code == 422
    unknown = reader.post("/api/v1/insights/trends", json={**body, "series": [{"event": "exprot"}]})
    assert unknown.status_code == 422 and "did you mean 'export'" in unknown.text


def test_readers_cannot_write_cohorts_and_nobody_anonymous_reads(ws: Workspace) -> None:
    reader = client(ws, "read")
    assert reader.post("/api/v1/cohorts", json=THREE_SHARES).status_code == 403
    anon = TestClient(create_app(ws))
    assert anon.get("/api/v1/cohorts").status_code == 401
    assert anon.post("/api/v1/insights/trends", json={"series": [{}]}).status_code == 401


def test_a_static_cohort_from_a_csv_on_the_page(ws: Workspace) -> None:
    editor = sign_in(ws, Role.editor)
    page = editor.client.post(
        "/insights/cohorts",
        data={"name": "Beta testers", "kind": "static", "csrf_token": editor.csrf},
        files={"people_file": ("beta.csv", b"person_id\nplanted-0\nplanted-1\n", "text/csv")},
    )
    assert page.status_code == 303, page.text
    shown = editor.client.get(page.headers["location"])
    assert shown.status_code == 200
    assert "a list of 2 people" in shown.text and "planted-1" in shown.text
    viewer = sign_in(ws, Role.viewer)
    refused = viewer.client.post(
        "/insights/cohorts",
        data={"name": "x", "kind": "static", "csrf_token": viewer.csrf},
        files={"people_file": ("x.csv", b"person_id\na\n", "text/csv")},
    )
    assert refused.status_code == 403
    dynamic = editor.client.post(
        "/insights/cohorts",
        data={
            "name": "<script>alert(1)</script>",
            "rule_type": "did",
            "rule_event": "report_shared",
            "rule_times": "3",
            "rule_days": "30",
            "csrf_token": editor.csrf,
        },
    )
    assert dynamic.status_code == 303
    listing = editor.client.get("/insights/cohorts").text
    assert "<script>alert(1)</script>" not in listing and "&lt;script&gt;" in listing
    assert dt.date(2024, 5, 31)  # the demo's newest day is the store's


def test_a_catalog_metric_is_a_trends_series(ws: Workspace) -> None:
    (ws.path / "metrics.yml").write_text(
        "dimensions:\n  plan: {from: account, trait: plan}\n"
        "metrics:\n  - name: shares\n    type: count\n    event: report_shared\n"
    )
    reader = client(ws, "read")
    body = {
        "series": [{"kind": "metric", "metric": "shares"}, {"event": "report_shared"}],
        "formulas": ["A - B"],
        "date_range": "custom",
        "start": "2024-05-01",
        "end": "2024-05-31",
        "grain": "month",
    }
    got = reader.post("/api/v1/insights/trends", json=body)
    assert got.status_code == 200, got.text
    values = {r["series"]: r["value"] for r in got.json()["data"]}
    assert values == {"A": 15.0, "B": 15.0, "F1": 0.0}  # 1 + 2 + 3 + 4 + 5 planted shares
    by_plan = reader.post("/api/v1/insights/trends", json={**body, "breakdown": "account.plan"})
    assert by_plan.status_code == 200, by_plan.text
    assert {r["breakdown"] for r in by_plan.json()["data"] if r["series"] == "A"} == {"planted"}


def test_cohorts_are_stored_alike_on_sqlite_and_postgresql(workspace: Workspace) -> None:
    from productops.analytics.cohorts import service as cohorts
    from productops.core.db import transaction
    from productops.core.errors import Conflict

    with transaction(workspace.sessions) as s:
        static = cohorts.create_cohort(s, "Beta", people=["b", "a", "a", " c "], actor="t")
        rules = cohorts.create_cohort(
            s, "Sharers", definition=THREE_SHARES["definition"], actor="t"
        )
        static_id, rules_id = static.id, rules.id
    with transaction(workspace.sessions) as s:
        assert cohorts.spec(s, static_id).people == ("a", "b", "c")
        spec = cohorts.spec(s, rules_id)
        assert spec.definition is not None and spec.definition.rules[0].at_least == 3
        cohorts.update_cohort(s, static_id, people=["z"], actor="t")
        assert cohorts.static_size(s, static_id) == 1
        with pytest.raises(Conflict):
            cohorts.create_cohort(s, "Sharers", people=["x"], actor="t")
    with transaction(workspace.sessions) as s:
        cohorts.delete_cohort(s, static_id, actor="t")
        assert [c.name for c in cohorts.list_cohorts(s)] == ["Sharers"]
