"""The portfolio's pages and API: every view answers and exports, untrusted text from Jira
and Linear stays inert, CSV cells cannot run, and roles and key scopes hold everywhere: a
viewer cannot change mappings or credentials, a `read` key changes nothing, nobody sees a
stored token."""

from __future__ import annotations

import csv
import datetime as dt
import io
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.portfolio.sync import service as sync
from productops.web.app import create_app
from tests.conftest import SHARED_DATA, api_key, sign_in
from tests.portfolio.builders import small_portfolio

SECURITY = SHARED_DATA / "security"
FALLBACK_XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg/onload=alert(1)>',
]


def xss_payloads() -> list[str]:
    path = SECURITY / "xss_payloads_quick.txt"
    lines = path.read_text().splitlines() if path.exists() else FALLBACK_XSS
    return [line for line in lines if "<" in line][:12]


class _Tags(HTMLParser):
    """What a browser would run: event-handler attributes, inline scripts, js: links."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:...>")
        if tag == "script" and not names.get("src") and names.get("type") != "application/json":
            self.problems.append("inline <script>")
        if tag in ("iframe", "svg", "video", "audio", "marquee", "object", "embed"):
            self.problems.append(f"<{tag}>")


def assert_inert(body: str, where: str) -> None:
    parser = _Tags()
    parser.feed(body)
    assert parser.problems == [], (where, parser.problems)


def page_paths(ids: object) -> list[str]:
    return [
        "/portfolio",
        "/portfolio?rule=count&credit=0.25&closed=1",
        "/portfolio/roadmap",
        "/portfolio/timeline",
        "/portfolio/timeline?by=all",
        f"/portfolio/teams/{ids.team}",  # type: ignore[attr-defined]
        "/portfolio/flags?flag=no_objective",
        f"/portfolio/objectives/{ids.objective}",  # type: ignore[attr-defined]
        f"/portfolio/key-results/{ids.kr}",  # type: ignore[attr-defined]
        f"/portfolio/epics/{ids.epic}",  # type: ignore[attr-defined]
        f"/portfolio/initiatives/{ids.initiative}",  # type: ignore[attr-defined]
        "/portfolio/mapping",
        "/portfolio/updates",
        "/portfolio/connections",
    ]


def test_every_page_answers_a_viewer_and_sends_strangers_to_sign_in(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    viewer = sign_in(workspace, "viewer")
    for path in page_paths(ids):
        r = viewer.client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
    stranger = TestClient(create_app(workspace), follow_redirects=False)
    for path in page_paths(ids):
        assert stranger.get(path).status_code in (302, 303, 307), path


def test_filters_are_in_the_link_and_survive_a_reload(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    viewer = sign_in(workspace, "viewer")
    r = viewer.client.get(f"/portfolio?team={ids.team}&health=at_risk&rule=count")
    assert r.status_code == 200
    assert f'<option value="{ids.team}" selected>Growth</option>' in r.text
    assert 'value="at_risk" selected' in r.text
    assert "Orphan work" not in r.text  # another team's (no team's) work is filtered out
    assert "Checklist" in r.text
    assert (
        f"/portfolio.csv?period=2026-Q4&amp;team={ids.team}&amp;health=at_risk&amp;rule=count"
        in r.text
    )
    bad = viewer.client.get("/portfolio?period=last-year")
    assert bad.status_code == 422
    # A form's empty boxes are "any", and every quarter is one click away.
    empty = viewer.client.get("/portfolio?period=all&team=&credit=&owner=&flag=&q=")
    assert empty.status_code == 200 and "Grow activation" in empty.text
    assert viewer.client.get("/portfolio?credit=2").status_code == 422


def test_typos_in_a_link_are_named_with_what_was_meant(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    viewer = sign_in(workspace, "viewer")
    flag = viewer.client.get("/portfolio?flag=stal")
    assert flag.status_code == 422 and "did you mean &#39;stale&#39;?" in flag.text
    health = viewer.client.get("/portfolio/roadmap?health=ontrack")
    assert health.status_code == 422 and "did you mean &#39;on_track&#39;?" in health.text
    quarter = viewer.client.get("/portfolio/timeline?period=Q4 2026")
    assert quarter.status_code == 422 and "is not a quarter: write it like 2026-Q4" in quarter.text
    assert "String should match pattern" not in quarter.text
    lower = viewer.client.get("/portfolio?period=2026-q4")  # read as 2026-Q4
    assert lower.status_code == 200 and "<option selected>2026-Q4</option>" in lower.text
    team = viewer.client.get(f"/portfolio?team={ids.team + 50}")
    assert team.status_code == 404 and "Growth" in team.text  # the teams there are
    client = TestClient(create_app(workspace))
    read = {"Authorization": f"Bearer {api_key(workspace, 'read')}"}
    api = client.get("/api/v1/portfolio/flags?flag=no_owners", headers=read)
    assert api.status_code == 422
    assert "did you mean 'no_owner'?" in api.json()["detail"][0]["msg"]
    changes = client.get("/api/v1/portfolio/changes?team=999", headers=read)
    assert changes.status_code == 404


def test_the_team_page_filters_and_marks_late_work(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    with transaction(workspace.sessions) as s:
        from productops.portfolio.models import Epic

        epic = s.get(Epic, ids.epic)
        assert epic is not None
        epic.target_date = utcnow().date() - dt.timedelta(days=9)
    viewer = sign_in(workspace, "viewer")
    page = viewer.client.get(f"/portfolio/teams/{ids.team}").text
    assert f'action="/portfolio/teams/{ids.team}"' in page and 'id="f-team"' not in page
    assert "9 days late" in page
    assert '<p class="card-label">done</p>' not in page  # finished work is hidden: no "0 done"
    assert "include finished work" in page
    with_closed = viewer.client.get(f"/portfolio/teams/{ids.team}?closed=1&health=at_risk").text
    assert '<p class="card-label">done</p>' in with_closed and "Checklist" in with_closed
    none = viewer.client.get(f"/portfolio/teams/{ids.team}?health=off_track").text
    assert "No epics match." in none
    assert "9 days late" in viewer.client.get("/portfolio/roadmap").text
    updates_page = viewer.client.get(f"/portfolio/updates?kind=slipped&team={ids.team}")
    assert updates_page.status_code == 200
    assert f"/portfolio/changes.csv?kind=slipped&amp;team={ids.team}" in updates_page.text


@pytest.mark.parametrize("payload", xss_payloads())
def test_untrusted_text_renders_inert(workspace: Workspace, payload: str) -> None:
    ids = small_portfolio(workspace, title=payload, description=payload)
    with transaction(workspace.sessions) as s:
        from productops.portfolio.updates.service import write_update

        write_update(s, "epic", ids.epic, "on_track", payload, actor="t", author=payload)
    viewer = sign_in(workspace, "viewer")
    for path in (
        f"/portfolio/epics/{ids.epic}",
        "/portfolio",
        "/portfolio/roadmap",
        "/portfolio/timeline",
        "/portfolio/updates",
        f"/portfolio/teams/{ids.team}",
    ):
        body = viewer.client.get(path).text
        assert payload not in body, path
        assert_inert(body, path)
    # Chart specs carry the title as JSON inside a data block: no tag can close it.
    timeline = viewer.client.get("/portfolio/timeline").text
    assert (
        "</script><" not in timeline.split('id="timeline-chart">', 1)[-1].split("</script>", 1)[0]
    )


def test_exports_cannot_run_formulas(workspace: Workspace) -> None:
    ids = small_portfolio(workspace, title='=HYPERLINK("http://attacker.invalid","x")')
    viewer = sign_in(workspace, "viewer")
    for path in (
        "/portfolio.csv",
        "/portfolio/roadmap.csv",
        "/portfolio/timeline.csv",
        "/portfolio/flags.csv",
        f"/portfolio.csv?team={ids.team}",
    ):
        r = viewer.client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        cells = [c for row in csv.reader(io.StringIO(r.text)) for c in row]
        assert not any(c.startswith("=") for c in cells), path
        assert any(c.startswith("'=HYPERLINK") for c in cells), path


def test_api_scopes_hold_on_every_endpoint(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    client = TestClient(create_app(workspace))
    read = {"Authorization": f"Bearer {api_key(workspace, 'read')}"}
    write = {"Authorization": f"Bearer {api_key(workspace, 'write')}"}
    admin = {"Authorization": f"Bearer {api_key(workspace, 'admin')}"}
    gets = [
        "/api/v1/portfolio",
        "/api/v1/portfolio/roadmap",
        "/api/v1/portfolio/timeline",
        f"/api/v1/portfolio/teams/{ids.team}",
        "/api/v1/portfolio/flags",
        "/api/v1/portfolio/objectives",
        f"/api/v1/portfolio/objectives/{ids.objective}",
        f"/api/v1/portfolio/key-results/{ids.kr}",
        f"/api/v1/portfolio/key-results/{ids.kr}/check-ins",
        "/api/v1/portfolio/epics",
        f"/api/v1/portfolio/epics/{ids.epic}",
        "/api/v1/portfolio/initiatives",
        "/api/v1/portfolio/rules",
        "/api/v1/portfolio/updates",
        "/api/v1/portfolio/changes",
        "/api/v1/portfolio/reminders",
        "/api/v1/portfolio/connections",
        "/api/v1/portfolio/sync-runs",
        "/api/v1/portfolio?format=csv",
        "/api/v1/portfolio/epics?format=csv",
    ]
    for path in gets:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=read).status_code == 200, path
    writes = [
        ("post", "/api/v1/portfolio/objectives", {"title": "X", "period": "2026-Q4"}),
        ("patch", f"/api/v1/portfolio/objectives/{ids.objective}", {"title": "Y"}),
        (
            "post",
            f"/api/v1/portfolio/objectives/{ids.objective}/key-results",
            {"title": "K", "target": 1},
        ),
        ("post", f"/api/v1/portfolio/key-results/{ids.kr}/check-ins", {"value": 3}),
        (
            "post",
            "/api/v1/portfolio/updates",
            {"subject_type": "epic", "subject_id": ids.epic, "health": "on_track"},
        ),
        ("put", f"/api/v1/portfolio/epics/{ids.epic}/links", {"objective_id": ids.objective}),
        ("post", f"/api/v1/portfolio/epics/{ids.epic}/feature-requests", {"feature_request_id": 7}),
        ("put", f"/api/v1/portfolio/initiatives/{ids.initiative}/links", {"objective_id": None}),
        ("post", "/api/v1/portfolio/rules", {"match": "label", "value": "x", "team_id": ids.team}),
    ]
    for method, path, body in writes:
        assert getattr(client, method)(path, json=body).status_code == 401, path
        assert getattr(client, method)(path, json=body, headers=read).status_code == 403, path
        assert getattr(client, method)(path, json=body, headers=write).status_code in (200, 201), (
            path
        )
    # Credentials: only admin keys (portfolio.connect), never a write key.
    conn = {"name": "j", "kind": "jira-dc", "url": "https://93.184.215.14", "token": "t0ken-123"}
    assert client.post("/api/v1/portfolio/connections", json=conn, headers=write).status_code == 403
    made = client.post("/api/v1/portfolio/connections", json=conn, headers=admin)
    assert made.status_code == 201 and "t0ken-123" not in made.text
    assert made.json()["has_token"] is True
    cid = made.json()["id"]
    for method, path, body in [
        ("patch", f"/api/v1/portfolio/connections/{cid}", {"token": "new"}),
        ("put", f"/api/v1/portfolio/connections/{cid}/schedule", {"every_hours": 6}),
        ("delete", f"/api/v1/portfolio/connections/{cid}", None),
    ]:
        kwargs = {"json": body} if body is not None else {}
        assert getattr(client, method)(path, headers=write, **kwargs).status_code == 403, path
        assert getattr(client, method)(path, headers=read, **kwargs).status_code == 403, path
    assert client.post(f"/api/v1/portfolio/connections/{cid}/sync", headers=read).status_code == 403
    queued = client.post(f"/api/v1/portfolio/connections/{cid}/sync", headers=write)
    assert queued.status_code == 202 and queued.json()["job"] > 0
    listed = client.get("/api/v1/portfolio/connections", headers=read).text
    assert "t0ken-123" not in listed and "token_encrypted" not in listed


def test_a_viewer_cannot_change_mappings_or_credentials(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    viewer = sign_in(workspace, "viewer")
    page = viewer.client.get(f"/portfolio/epics/{ids.epic}").text
    assert "Link by hand" not in page and "Write this week" not in page
    assert "Connect Jira or Linear" not in viewer.client.get("/portfolio/connections").text
    forms = [
        (f"/portfolio/epics/{ids.epic}/links", {"objective_id": str(ids.objective)}),
        (f"/portfolio/epics/{ids.epic}/features", {"feature_request_id": "3"}),
        (f"/portfolio/initiatives/{ids.initiative}/links", {"objective_id": ""}),
        ("/portfolio/rules", {"match": "label", "value": "x", "team_id": str(ids.team)}),
        ("/portfolio/connections", {"name": "x", "kind": "linear", "token": "t"}),
        ("/portfolio/objectives", {"title": "x", "period": "2026-Q4"}),
        (
            "/portfolio/updates",
            {"subject_type": "epic", "subject_id": str(ids.epic), "health": "on_track"},
        ),
    ]
    for path, data in forms:
        assert viewer.post(path, data).status_code == 403, path  # type: ignore[attr-defined]
    editor = sign_in(workspace, "editor")
    assert (
        editor.post(
            "/portfolio/connections", {"name": "x", "kind": "linear", "token": "t"}
        ).status_code
        == 403
    )  # type: ignore[attr-defined]
    r = editor.post(f"/portfolio/epics/{ids.epic}/links", {"objective_id": str(ids.objective)})  # type: ignore[attr-defined]
    assert r.status_code == 303


def test_forms_need_the_csrf_token(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    admin = sign_in(workspace, "admin")
    r = admin.client.post(f"/portfolio/epics/{ids.epic}/links", data={"objective_id": ""})
    assert r.status_code == 403
    ok = admin.post(f"/portfolio/epics/{ids.epic}/links", {"objective_id": str(ids.objective)})  # type: ignore[attr-defined]
    assert ok.status_code == 303


def test_an_admin_connects_in_the_ui_and_the_token_never_comes_back(workspace: Workspace) -> None:
    admin = sign_in(workspace, "admin")
    r = admin.post(  # type: ignore[attr-defined]
        "/portfolio/connections",
        {
            "name": "Acme Jira",
            "kind": "jira-dc",
            "url": "https://93.184.215.14",
            "token": "sup3r-secret",
        },
    )
    assert r.status_code == 303
    page = admin.client.get("/portfolio/connections").text
    assert "Acme Jira" in page and "sup3r-secret" not in page and "stored, encrypted" in page
    refused = admin.post(  # type: ignore[attr-defined]
        "/portfolio/connections",
        {"name": "Metadata", "kind": "jira-dc", "url": "http://169.254.169.254/", "token": "x"},
    )
    assert refused.status_code == 400 and "metadata" in refused.text


def test_removing_a_connection_asks_first(workspace: Workspace) -> None:
    with transaction(workspace.sessions) as s:
        cid = sync.connect(workspace, s, name="l", kind="linear", token="x", actor="t").id
    admin = sign_in(workspace, "admin")
    page = admin.client.get("/portfolio/connections").text
    assert 'name="confirm" value="yes" required' in page and "0 epics, 0 issues" in page
    refused = admin.post(f"/portfolio/connections/{cid}/delete", {})  # type: ignore[attr-defined]
    assert refused.status_code == 422 and "tick the box" in refused.text
    gone = admin.post(f"/portfolio/connections/{cid}/delete", {"confirm": "yes"})  # type: ignore[attr-defined]
    assert gone.status_code == 303
    assert "No connections yet." in admin.client.get("/portfolio/connections").text


def test_a_sync_is_a_job_with_a_report_and_can_be_scheduled(workspace: Workspace) -> None:
    from productops.core import jobs

    with transaction(workspace.sessions) as s:
        row = sync.connect(workspace, s, name="l", kind="linear", token="x", actor="t")
        nxt = sync.schedule_sync(s, row.id, 6, "t")
        assert nxt is not None
        sched = jobs.get_schedule(s, sync.schedule_name(row.id))
        assert sched is not None and sched.kind == "portfolio.sync" and sched.every_seconds == 21600
        assert sync.schedule_of(s, row.id) == (6.0, nxt)
        sync.schedule_sync(s, row.id, 0, "t")
        assert jobs.get_schedule(s, sync.schedule_name(row.id)) is None


def test_bad_input_is_named(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    admin = sign_in(workspace, "admin")
    r = admin.post(f"/portfolio/key-results/{ids.kr}/check-in", {"value": "lots"})  # type: ignore[attr-defined]
    assert r.status_code == 422 and "is not a number" in r.text
    client = TestClient(create_app(workspace))
    write = {"Authorization": f"Bearer {api_key(workspace, 'write')}"}
    r = client.post("/api/v1/portfolio/rules", json={"match": "label", "value": "x"}, headers=write)
    assert r.status_code == 422 and "needs an initiative, an objective or a team" in r.text
    r = client.post(
        "/api/v1/portfolio/objectives", json={"title": "x", "period": "Q5"}, headers=write
    )
    assert r.status_code == 422
    r = client.post(
        "/api/v1/portfolio/updates",
        json={"subject_type": "epic", "subject_id": 999, "health": "on_track"},
        headers=write,
    )
    assert r.status_code == 404 and "no epic 999" in r.json()["detail"]
