"""The experiment registry keeps its promises: metrics from the catalog, a lifecycle that
only moves forward, results computed from the event store by a job and recomputable, a frozen
snapshot at the decision, the learning library and the experiment doc."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from productops import analytics
from productops.core import jobs
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.models import AuditEvent
from productops.core.workspace import Workspace
from productops.experiments import demo
from productops.experiments.registry import service
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

BODY: dict[str, Any] = {
    "key": "onboarding-checklist",
    "name": "Onboarding checklist",
    "hypothesis": "A checklist gets more people through onboarding.",
    "primary_metric": "onboarding_completed",
    "guardrail_metrics": ["support_tickets"],
    "variations": [
        {"key": "0", "name": "Control", "weight": 0.5},
        {"key": "1", "name": "Checklist", "weight": 0.5},
    ],
    "tags": ["Onboarding"],
}


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    (workspace.path / "metrics.yml").write_text("metrics:\n")
    demo._add_metrics(workspace)
    return workspace


def _headers(ws: Workspace, scope: str = "write") -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key(ws, scope)}"}


def test_metrics_must_be_in_the_catalog_and_links_must_exist(ws: Workspace) -> None:
    app = TestClient(create_app(ws))
    h = _headers(ws)
    r = app.post(
        "/api/v1/experiments", json={**BODY, "primary_metric": "onboarding_complete"}, headers=h
    )
    assert (
        r.status_code == 422
        and "did you mean 'onboarding_completed'" in r.json()["detail"][0]["msg"]
    )
    r = app.post("/api/v1/experiments", json={**BODY, "feature_request_id": 999}, headers=h)
    assert r.status_code == 404 and "feature request" in r.json()["detail"]
    r = app.post(
        "/api/v1/experiments",
        json={**BODY, "variations": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.6}]},
        headers=h,
    )
    assert r.status_code == 422 and "add up to 1.1" in r.json()["detail"][0]["msg"]
    assert app.post("/api/v1/experiments", json=BODY, headers=h).status_code == 201
    assert app.post("/api/v1/experiments", json=BODY, headers=h).status_code == 409
    with ws.sessions() as s:
        assert service.list_experiments(s)[1] == 1


def test_the_lifecycle_moves_forward_and_is_audited(ws: Workspace) -> None:
    app = TestClient(create_app(ws))
    h = _headers(ws)
    app.post("/api/v1/experiments", json=BODY, headers=h)

    def go(body: dict[str, Any]) -> Any:
        return app.post(
            "/api/v1/experiments/onboarding-checklist/transitions", json=body, headers=h
        )

    assert go({"action": "stop"}).status_code == 409
    assert go({"action": "start"}).json()["status"] == "running"
    r = app.patch(
        "/api/v1/experiments/onboarding-checklist", json={"primary_metric": "upgrades"}, headers=h
    )
    assert r.status_code == 409 and "fixed once" in r.json()["detail"]
    assert go({"action": "stop"}).json()["status"] == "stopped"
    assert go({"action": "decide"}).status_code == 422
    assert go({"action": "decide", "decision": "ship"}).status_code == 422  # which variation?
    decided = go(
        {"action": "decide", "decision": "ship", "winner": "1", "learnings": "Ship it."}
    ).json()
    assert (decided["status"], decided["winner"], decided["learnings"]) == (
        "decided",
        "1",
        "Ship it.",
    )
    with ws.sessions() as s:
        actions = [
            a
            for (a,) in s.execute(
                select(AuditEvent.action)
                .where(AuditEvent.entity_type == "experiment")
                .order_by(AuditEvent.id)
            )
        ]
    assert actions == [
        "experiment.create",
        "experiment.start",
        "experiment.stop",
        "experiment.decide",
    ]


def test_viewers_and_read_keys_read_but_do_not_change_experiments(ws: Workspace) -> None:
    app = TestClient(create_app(ws))
    app.post("/api/v1/experiments", json=BODY, headers=_headers(ws))
    read = _headers(ws, "read")
    assert app.get("/api/v1/experiments/onboarding-checklist", headers=read).status_code == 200
    assert (
        app.post(
            "/api/v1/experiments/onboarding-checklist/transitions",
            json={"action": "start"},
            headers=read,
        ).status_code
        == 403
    )
    assert (
        app.post("/api/v1/experiments/onboarding-checklist/results", headers=read).status_code
        == 403
    )
    assert app.get("/api/v1/experiments/onboarding-checklist").status_code == 401
    viewer = sign_in(ws, "viewer")
    assert viewer.client.get("/experiments/onboarding-checklist").status_code == 200
    assert (
        viewer.post("/experiments/onboarding-checklist/transition", {"action": "start"}).status_code
        == 403
    )  # type: ignore[attr-defined]
    assert (
        viewer.post(
            "/experiments/new", {"key": "x", "name": "x", "primary_metric": "upgrades"}
        ).status_code
        == 403
    )  # type: ignore[attr-defined]


def test_results_are_computed_from_the_event_store_recomputed_and_frozen(
    sqlite_workspace: Workspace,
) -> None:
    ws = sqlite_workspace
    (ws.path / "metrics.yml").write_text("metrics:\n")
    demo._add_metrics(ws)
    spec = next(s for s in demo.EXPERIMENTS if s.key == "promo-banner")  # the one with an SRM
    now = utcnow().replace(microsecond=0, tzinfo=None)
    out = demo._Columns()
    demo.simulate(spec, [f"p{i}" for i in range(3000)], now, np.random.default_rng(1), out)
    with analytics.bulk(analytics.events_file(ws)) as con:
        analytics.append_arrow(con, out.table())
    app = TestClient(create_app(ws))
    h = _headers(ws)
    body = {
        **BODY,
        "key": spec.key,
        "name": spec.name,
        "primary_metric": spec.metric,
        "guardrail_metrics": [],
    }
    app.post("/api/v1/experiments", json=body, headers=h)
    assert (
        app.post(f"/api/v1/experiments/{spec.key}/results", headers=h).status_code == 422
    )  # a draft
    app.post(f"/api/v1/experiments/{spec.key}/transitions", json={"action": "start"}, headers=h)
    with transaction(ws.sessions) as s:
        service.experiment_by_key(s, spec.key).started_at = (
            now - dt.timedelta(days=spec.started_days_ago)
        ).replace(tzinfo=dt.UTC)
    job = app.post(f"/api/v1/experiments/{spec.key}/results", headers=h).json()["job"]
    assert jobs.run_pending(ws) >= 1
    assert app.get(f"/api/v1/jobs/{job}", headers=h).json()["status"] == "succeeded"
    results = app.get(
        f"/api/v1/experiments/{spec.key}/results", headers=_headers(ws, "read")
    ).json()
    assert results["srm_warning"] and sum(results["users"]) > 2000
    assert results["metrics"][0]["name"] == "banner_clicks"
    csv_text = app.get(f"/api/v1/experiments/{spec.key}/results?format=csv", headers=h).text
    assert csv_text.splitlines()[0].startswith("metric,role,variation,users")
    editor = sign_in(ws, "editor")
    page = editor.client.get(f"/experiments/{spec.key}").text
    assert "Sample-ratio mismatch" in page and 'id="intervals-spec"' in page
    # recompute: a second snapshot; looking twice at a fixed-horizon test while it runs is peeking
    app.post(f"/api/v1/experiments/{spec.key}/results", headers=h)
    jobs.run_pending(ws)
    assert "Peeking" in editor.client.get(f"/experiments/{spec.key}").text
    app.post(f"/api/v1/experiments/{spec.key}/transitions", json={"action": "stop"}, headers=h)
    app.post(
        f"/api/v1/experiments/{spec.key}/transitions",
        json={
            "action": "decide",
            "decision": "rollback",
            "learnings": "Fix the banner's tracking first.",
        },
        headers=h,
    )
    frozen = app.get(f"/api/v1/experiments/{spec.key}/results?frozen=true", headers=h).json()
    assert frozen["frozen"] and frozen["snapshot"] == results["snapshot"] + 1
    library = app.get("/api/v1/library?q=tracking", headers=h).json()
    assert [i["key"] for i in library["items"]] == [spec.key]
    assert app.get("/api/v1/library?q=nothing-like-this", headers=h).json()["total"] == 0
    doc = app.get(f"/api/v1/experiments/{spec.key}/doc", headers=h).text
    assert (
        doc.startswith(f"# {spec.name}")
        and "SRM" in doc
        and "Fix the banner's tracking first." in doc
    )
    assert "Fix the banner" in editor.client.get("/experiments/library").text


def test_runtime_is_estimated_from_the_metrics_recent_traffic(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    (ws.path / "metrics.yml").write_text("metrics:\n")
    demo._add_metrics(ws)
    now = utcnow().replace(microsecond=0, tzinfo=None)
    out = demo._Columns()
    for day in range(28):  # 100 new people a day click the banner
        for i in range(100):
            out.add(
                f"b-{day}-{i}",
                "Banner Clicked",
                now - dt.timedelta(days=day, minutes=i),
                f"p{day}-{i}",
                {},
                "segment",
            )
    with analytics.bulk(analytics.events_file(ws)) as con:
        analytics.append_arrow(con, out.table())
    app = TestClient(create_app(ws))
    r = app.get(
        "/api/v1/power?kind=proportion&baseline=0.1&mde=0.2&metric=banner_clicks",
        headers=_headers(ws, "read"),
    ).json()
    needed = r["total_users"]
    assert r["runtime"]["people_in_lookback"] == 2800
    assert abs(r["runtime"]["days"] - needed / 100) <= 2
    page = (
        sign_in(ws, "viewer")
        .client.get("/experiments/calculator?baseline=0.1&mde=20&metric=banner_clicks")
        .text
    )
    assert "Users per variation" in page and "days" in page
