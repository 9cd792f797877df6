"""The feedback pages and API: who may do what (anonymous, a `read` key, an `ingest` key, a
viewer), CSRF on forms, escaping of customer text, formula-safe exports, the account page's
feedback section."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.feedback.items import service as items
from productops.feedback.models import FeedbackItem
from productops.feedback.requests import service as requests
from productops.feedback.schemas import CompetitorCreate, FeedbackCreate, RequestCreate, TagCreate
from productops.feedback.themes import tags
from productops.web.app import create_app
from tests.conftest import api_key, sign_in
from tests.feedback.support import add_customers

DAY = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)
FORMULA = "=cmd|' /C calc'!A0 export broken"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def seeded(workspace: Workspace) -> dict[str, int]:
    add_customers(workspace)
    with transaction(workspace.sessions) as s:
        _, stored = items.create_feedback(
            s,
            [
                FeedbackCreate(
                    external_id="1", text=FORMULA, email="dana@acme.example", created_at=DAY
                ),
                FeedbackCreate(external_id="2", text=HOSTILE, title=HOSTILE, created_at=DAY),
            ],
            "test",
        )
        req = requests.create_request(
            s, RequestCreate(title="Export", from_item_id=stored[0].id), "t"
        )
        tag = tags.create_tag(s, TagCreate(name="bug"), "t")
        from productops.feedback.competitors import service as competitors

        comp = competitors.create_competitor(s, CompetitorCreate(name="Rival"), "t")
        return {
            "item": stored[0].id,
            "hostile": stored[1].id,
            "request": req.id,
            "tag": tag.id,
            "competitor": comp.id,
        }


def _reads(ids: dict[str, int]) -> list[str]:
    return [
        "/api/v1/feedback",
        "/api/v1/feedback?format=csv",
        "/api/v1/feedback/search?q=export",
        f"/api/v1/feedback/{ids['item']}",
        "/api/v1/feedback/themes",
        "/api/v1/feedback/tags",
        "/api/v1/feedback/views",
        "/api/v1/feature-requests",
        f"/api/v1/feature-requests/{ids['request']}",
        f"/api/v1/feature-requests/{ids['request']}/askers",
        "/api/v1/competitors",
        f"/api/v1/competitors/{ids['competitor']}",
    ]


def _writes(ids: dict[str, int]) -> list[tuple[str, str, Any]]:
    item, req, tag, comp = ids["item"], ids["request"], ids["tag"], ids["competitor"]
    return [
        ("POST", "/api/v1/feedback", {"external_id": "w1", "text": "hello"}),
        ("POST", "/api/v1/feedback", {"items": [{"external_id": "w2", "text": "hi"}]}),
        ("PATCH", f"/api/v1/feedback/{item}", {"status": "spam"}),
        ("PUT", f"/api/v1/feedback/{item}/tags/{tag}", None),
        ("DELETE", f"/api/v1/feedback/{item}/tags/{tag}", None),
        ("POST", "/api/v1/feedback/import?source=survey", None),
        ("POST", "/api/v1/feedback/themes", {"name": "Curated"}),
        ("POST", "/api/v1/feedback/themes/discover", None),
        ("POST", "/api/v1/feedback/tags", {"name": "new-tag"}),
        ("POST", "/api/v1/feedback/views", {"name": "v", "query": {}}),
        ("POST", "/api/v1/feature-requests", {"title": "New"}),
        ("PATCH", f"/api/v1/feature-requests/{req}", {"status": "planned"}),
        ("POST", f"/api/v1/feature-requests/{req}/evidence", {"item_id": item}),
        ("POST", f"/api/v1/feature-requests/{req}/votes", {"email": "v@acme.example"}),
        ("POST", f"/api/v1/feature-requests/{req}/merge?into={req}", None),
        ("POST", f"/api/v1/feature-requests/{req}/links", {"target_kind": "epic", "target_id": 1}),
        ("POST", "/api/v1/competitors", {"name": "Other"}),
        ("PUT", f"/api/v1/competitors/{comp}", {"name": "Rival2"}),
        ("DELETE", f"/api/v1/competitors/{comp}", None),
        ("PATCH", "/api/v1/feedback/themes/1", {"name": "Renamed"}),
        ("DELETE", "/api/v1/feedback/views/1", None),
        ("DELETE", f"/api/v1/feature-requests/{req}/evidence/{item}", None),
        ("DELETE", f"/api/v1/feature-requests/{req}/votes/1", None),
    ]


FEEDBACK_TAGS = {"feedback", "feedback themes", "feature requests", "competitors"}


def _template(path: str) -> str:
    """`/api/v1/feedback/12/tags/3?x=1` as the document writes it: numbers are `{…}`."""
    return re.sub(r"/[0-9]+(?=/|$)", "/{}", path.split("?")[0])


def test_the_scope_test_covers_every_feedback_operation(workspace: Workspace) -> None:
    """A new feedback endpoint cannot be forgotten by the scope test below."""
    document = create_app(workspace).openapi()
    operations = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, item in document["paths"].items()
        for method, op in item.items()
        if FEEDBACK_TAGS & set(op.get("tags", []))
    }
    ids = {"item": 1, "request": 1, "tag": 1, "competitor": 1}
    covered = {("GET", _template(p)) for p in _reads(ids)}
    covered |= {(m, _template(p)) for m, p, _ in _writes(ids)}
    assert operations - covered == set()


def _message(response: Any) -> str:
    """An error's message, whether `detail` is text or a list of `{loc, msg, type}`."""
    detail = response.json()["detail"]
    return str(detail[0]["msg"] if isinstance(detail, list) else detail)


def _call(client: TestClient, method: str, path: str, body: Any, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.request(method, path, json=body, headers=headers)


def test_every_feedback_endpoint_holds_its_scope(
    workspace: Workspace, seeded: dict[str, int]
) -> None:
    client = TestClient(create_app(workspace))
    read, ingest = api_key(workspace, "read"), api_key(workspace, "ingest")
    with workspace.sessions() as s:
        before = s.get(FeedbackItem, seeded["item"]).status  # type: ignore[union-attr]
    for path in _reads(seeded):
        assert _call(client, "GET", path, None, None).status_code == 401, path
        assert _call(client, "GET", path, None, ingest).status_code == 403, path
        assert _call(client, "GET", path, None, read).status_code == 200, path
    for method, path, body in _writes(seeded):
        for key in (None, read, ingest):
            code = _call(client, method, path, body, key).status_code
            assert code == (401 if key is None else 403), (method, path, key, code)
    with workspace.sessions() as s:
        assert s.get(FeedbackItem, seeded["item"]).status == before  # type: ignore[union-attr]


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_a_write_key_can_send_and_triage(workspace: Workspace, seeded: dict[str, int]) -> None:
    client = TestClient(create_app(workspace))
    write = api_key(workspace, "write")
    batch = {
        "items": [{"external_id": "b1", "text": "Dark mode please", "email": "x@acme.example"}]
    }
    first = _call(client, "POST", "/api/v1/feedback", batch, write)
    again = _call(client, "POST", "/api/v1/feedback", batch, write)
    assert (first.status_code, first.json()["created"]) == (201, 1)
    assert again.json()["unchanged"] == 1
    r = _call(client, "PATCH", f"/api/v1/feedback/{seeded['item']}", {"status": "spam"}, write)
    assert r.status_code == 200 and r.json()["status"] == "spam"
    bad = _call(
        client, "POST", "/api/v1/feedback", {"external_id": "b2", "text": "x", "owner": 1}, write
    )
    assert bad.status_code == 422  # server-owned or unknown fields are refused


def test_a_broken_import_through_the_api_names_the_row_and_stores_nothing(
    workspace: Workspace, seeded: dict[str, int]
) -> None:
    client = TestClient(create_app(workspace))
    write = api_key(workspace, "write")
    body = (
        b"id,score,comment,respondent,created_at\n"
        b"r1,9,fine,a@b.example,2026-01-01\nr2,12,bad,c@d.example,2026-01-01\n"
    )
    r = client.post(
        "/api/v1/feedback/import?source=survey&filename=nps.csv",
        content=body,
        headers={"Authorization": f"Bearer {write}"},
    )
    assert r.status_code == 422
    assert _message(r) == "nps.csv: row 3, field 'score': 12 is outside 0 to 10"
    with workspace.sessions() as s:
        assert len(s.scalars(select(FeedbackItem)).all()) == 2


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_a_viewer_reads_but_cannot_triage_tag_or_change_requests(
    workspace: Workspace, seeded: dict[str, int]
) -> None:
    viewer = sign_in(workspace, Role.viewer)
    item = seeded["item"]
    page = viewer.client.get(f"/feedback/items/{item}")
    assert page.status_code == 200
    assert "triage needs an editor" in page.text
    req = seeded["request"]
    forms = [
        (f"/feedback/items/{item}/triage", {"action": "spam"}),
        (f"/feedback/items/{item}/triage", {"action": "theme", "theme_id": "0"}),
        (f"/feedback/items/{item}/triage", {"action": "request", "request_id": str(req)}),
        (f"/feedback/items/{item}/triage", {"action": "new_request", "title": "Sneaky"}),
        (f"/feedback/items/{item}/triage", {"action": "duplicate", "duplicate_of": "2"}),
        (f"/feedback/items/{item}/tags", {"action": "apply", "tag_id": str(seeded["tag"])}),
        (f"/feedback/items/{item}/tags", {"action": "apply", "new_tag": "sneaky"}),
        (f"/feedback/items/{item}/tags", {"action": "remove", "tag_id": str(seeded["tag"])}),
        (f"/feedback/requests/{req}", {"action": "status", "status": "shipped"}),
        (f"/feedback/requests/{req}", {"action": "edit", "title": "Sneaky"}),
        (f"/feedback/requests/{req}", {"action": "vote", "email": "v@acme.example"}),
        (f"/feedback/requests/{req}", {"action": "link", "target_id": "1"}),
        (f"/feedback/requests/{req}", {"action": "told"}),
        ("/feedback/requests/new", {"title": "Sneaky"}),
        ("/feedback/themes/discover", {}),
        ("/feedback/themes/new", {"name": "Sneaky"}),
        ("/feedback/tags/new", {"name": "sneaky"}),
        ("/feedback/competitors", {"name": "Sneaky"}),
        (f"/feedback/competitors/{seeded['competitor']}", {"name": "Sneaky", "delete": "1"}),
        ("/feedback/import", {"source": "survey"}),
    ]
    for url, data in forms:
        r = viewer.post(url, data)
        assert r.status_code == 403, url  # type: ignore[attr-defined]
    with workspace.sessions() as s:
        assert s.get(FeedbackItem, item).status == "triaged"  # type: ignore[union-attr]
        assert requests.get_request(s, seeded["request"]).status == "under_review"
        assert requests.get_request(s, seeded["request"]).title == "Export"
        assert [t.name for t, _, _ in tags.list_tags(s)] == ["bug"]
        assert requests.demand(s, [req])[req].votes == 0


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_forms_need_the_csrf_token(workspace: Workspace, seeded: dict[str, int]) -> None:
    editor = sign_in(workspace, Role.editor)
    item = seeded["item"]
    r = editor.client.post(f"/feedback/items/{item}/triage", data={"action": "spam"})
    assert r.status_code == 403
    ok = editor.post(f"/feedback/items/{item}/triage", {"action": "spam", "back": "status=new"})
    assert ok.status_code == 303  # type: ignore[attr-defined]
    with workspace.sessions() as s:
        assert s.get(FeedbackItem, item).status == "spam"  # type: ignore[union-attr]


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_customer_text_is_escaped_on_every_page(
    workspace: Workspace, seeded: dict[str, int]
) -> None:
    admin = sign_in(workspace, Role.admin)
    pages = [
        "/feedback?status=all",
        f"/feedback/items/{seeded['hostile']}",
        "/feedback/requests",
        f"/feedback/requests/{seeded['request']}",
    ]
    for url in pages:
        html = admin.client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html, url
    assert "&lt;script&gt;alert" in admin.client.get(f"/feedback/items/{seeded['hostile']}").text


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_exports_neutralise_formulas(workspace: Workspace, seeded: dict[str, int]) -> None:
    admin = sign_in(workspace, Role.admin)
    csv_text = admin.client.get("/feedback.csv?status=all").text
    assert "'=cmd|" in csv_text
    assert not re.search(r"(^|,)=cmd", csv_text, re.M)


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_the_account_page_shows_its_feedback(workspace: Workspace, seeded: dict[str, int]) -> None:
    admin = sign_in(workspace, Role.admin)
    with workspace.sessions() as s:
        account_id = s.get(FeedbackItem, seeded["item"]).account_id  # type: ignore[union-attr]
    html = admin.client.get(f"/accounts/{account_id}").text
    assert "Feedback (1)" in html and "export broken" in html
    assert "What they ask for" in html and "Export" in html


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_the_feedback_pages_answer(workspace: Workspace, seeded: dict[str, int]) -> None:
    admin = sign_in(workspace, Role.admin)
    for url in [
        "/feedback",
        "/feedback?q=export&status=all",
        "/feedback/themes",
        "/feedback/requests",
        f"/feedback/requests/{seeded['request']}",
        "/feedback/competitors",
        f"/feedback/competitors/{seeded['competitor']}",
        "/feedback/import",
        "/feedback/requests.csv",
        "/feedback/requests?segment=Enterprise&plan=&status=open",
        "/feedback/requests.csv?segment=SMB&q=export",
        "/feedback/competitors.csv",
        "/feedback/themes.csv",
        f"/feedback/requests/{seeded['request']}/askers.csv",
    ]:
        assert admin.client.get(url).status_code == 200, url


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_an_upload_from_the_ui_imports_as_a_job_and_a_broken_one_stores_nothing(
    workspace: Workspace, seeded: dict[str, int]
) -> None:
    from productops.core import jobs

    editor = sign_in(workspace, Role.editor)
    good = b"id,score,comment,respondent,created_at\nu1,9,Fast now,a@b.example,2026-01-01\n"
    # Latin-1, not UTF-8: a wrong encoding names the file and line.
    broken = "id,score,comment,respondent,created_at\nu2,3,Trop lent,é@b.example,2026-01-01\n"
    outcomes = []
    for name, body in (("good.csv", good), ("broken.csv", broken.encode("latin-1"))):
        r = editor.client.post(
            "/feedback/import",
            data={"source": "survey", "csrf_token": editor.csrf},
            files=[("files", (name, body, "text/csv"))],
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/jobs/"), r.text
        job_id = int(r.headers["location"].rsplit("/", 1)[1])
        jobs.run_pending(workspace)
        with workspace.sessions() as s:
            job = jobs.get_job(s, job_id)
            outcomes.append((job.status, job.error or ""))
        page = editor.client.get(f"/jobs/{job_id}")
        assert page.status_code == 200
    assert outcomes[0][0] == "succeeded"
    assert outcomes[1][0] == "failed" and "broken.csv" in outcomes[1][1], outcomes
    assert "UTF-8" in outcomes[1][1]
    with workspace.sessions() as s:
        ids = sorted(i.external_id for i in s.scalars(select(FeedbackItem)))
    assert ids == ["1", "2", "u1"]  # the broken file added nothing
    assert list((workspace.house_dir / "feedback-uploads").iterdir()) == []  # uploads removed


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_a_typo_in_a_filter_says_what_was_meant(
    workspace: Workspace, seeded: dict[str, int]
) -> None:
    viewer = sign_in(workspace, Role.viewer)
    page = viewer.client.get("/feedback?status=all&source=apj&segment=enterprise")
    assert page.status_code == 200
    assert "No feedback has source &#39;apj&#39; (did you mean &#39;api&#39;?)" in page.text
    assert "segment &#39;enterprise&#39; (did you mean &#39;Enterprise&#39;?)" in page.text
    bad = viewer.client.get("/feedback?sentiment=negativ")
    assert bad.status_code == 422 and "did you mean &#39;negative&#39;?" in bad.text
    key = api_key(workspace, "read")
    r = viewer.client.get(
        "/api/v1/feedback?arr_band=10k-50", headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 422 and "did you mean '10k-50k'?" in r.json()["detail"][0]["msg"]
