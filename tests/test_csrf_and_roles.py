"""CSRF protection on every state-changing form, and what each role and each API-key scope
may and may not do."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from productops.cli.kit import error_detail
from productops.core.auth import role_permissions
from productops.core.models import Role, Team
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import api_key, make_user, sign_in


def _team_count(ws: Workspace) -> int:
    with ws.sessions() as s:
        return len(s.scalars(select(Team)).all())


def test_form_post_without_csrf_token_is_refused(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.editor)
    r = user.client.post("/teams", data={"name": "Sneaky"})
    assert r.status_code == 403
    assert "security token" in r.text
    assert _team_count(workspace) == 0


def test_form_post_with_a_wrong_csrf_token_is_refused(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.editor)
    r = user.client.post("/teams", data={"name": "Sneaky", "csrf_token": "x" * 43})
    assert r.status_code == 403
    assert _team_count(workspace) == 0


def test_form_post_with_the_page_token_works(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.editor)
    assert user.post("/teams", {"name": "Growth"}).status_code == 303  # type: ignore[attr-defined]
    assert _team_count(workspace) == 1


def test_htmx_requests_may_send_the_token_as_a_header(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.editor)
    r = user.client.post("/teams", data={"name": "Via header"}, headers={"X-CSRF-Token": user.csrf})
    assert r.status_code == 303
    assert _team_count(workspace) == 1


def test_json_api_with_session_cookie_needs_the_token(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.editor)
    assert user.client.post("/api/v1/teams", json={"name": "A"}).status_code == 403
    r = user.client.post("/api/v1/teams", json={"name": "A"}, headers={"X-CSRF-Token": user.csrf})
    assert r.status_code == 201


def test_login_form_is_csrf_protected_too(workspace: Workspace) -> None:
    _, email = make_user(workspace, Role.viewer)
    client = TestClient(create_app(workspace), follow_redirects=False)
    client.get("/login")
    r = client.post("/login", data={"email": email, "password": "x" * 12, "csrf_token": "forged"})
    assert r.status_code == 403


def test_logout_needs_the_token(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.viewer)
    assert user.client.post("/logout").status_code == 403
    assert user.client.get("/").status_code == 200


def test_api_key_requests_need_no_csrf_token(workspace: Workspace) -> None:
    key = api_key(workspace, "write")
    r = TestClient(create_app(workspace)).post(
        "/api/v1/teams", json={"name": "Scripted"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 201


# --- roles -----------------------------------------------------------------------------------

PAGES_FOR_EVERYONE = ["/", "/accounts", "/teams", "/jobs"]
ADMIN_PAGES = ["/admin/users", "/admin/apikeys", "/admin/audit"]


@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_the_shared_pages(workspace: Workspace, role: Role) -> None:
    user = sign_in(workspace, role)
    for page in PAGES_FOR_EVERYONE:
        assert user.client.get(page).status_code == 200, page


@pytest.mark.parametrize("role", [Role.editor, Role.viewer, Role.researcher])
def test_only_admins_reach_administration(workspace: Workspace, role: Role) -> None:
    user = sign_in(workspace, role)
    for page in ADMIN_PAGES:
        assert user.client.get(page).status_code == 403, page
    r = user.post("/admin/users", {"email": "x@example.com", "password": "p" * 12, "role": "admin"})
    assert r.status_code == 403  # type: ignore[attr-defined]
    assert "Users" not in user.client.get("/").text.split("<main")[0]


def test_admin_reaches_administration_and_creates_users(workspace: Workspace) -> None:
    admin = sign_in(workspace, Role.admin)
    for page in ADMIN_PAGES:
        assert admin.client.get(page).status_code == 200, page
    r = admin.post(
        "/admin/users",
        {"email": "new@example.com", "password": "p" * 12, "role": "researcher", "name": "New"},
    )
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert "new@example.com" in admin.client.get("/admin/users").text


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.admin, True), (Role.editor, True), (Role.viewer, False), (Role.researcher, False)],
)
def test_who_may_create_a_team(workspace: Workspace, role: Role, allowed: bool) -> None:
    user = sign_in(workspace, role)
    r = user.post("/teams", {"name": f"Team of {role}"})
    assert (r.status_code == 303) is allowed  # type: ignore[attr-defined]
    assert _team_count(workspace) == (1 if allowed else 0)


def test_only_researchers_and_admins_may_see_peoples_contact_details() -> None:
    allowed = {r for r in Role if "people.pii" in role_permissions(r)}
    assert allowed == {Role.admin, Role.researcher}


# --- API-key scopes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "method", "path", "body", "expected"),
    [
        ("ingest", "GET", "/api/v1/accounts", None, 403),
        ("ingest", "GET", "/api/v1/jobs", None, 403),
        ("ingest", "POST", "/api/v1/teams", {"name": "T"}, 403),
        ("read", "GET", "/api/v1/accounts", None, 200),
        ("read", "POST", "/api/v1/teams", {"name": "T"}, 403),
        ("read", "GET", "/api/v1/users", None, 403),
        ("write", "POST", "/api/v1/teams", {"name": "T"}, 201),
        ("write", "GET", "/api/v1/users", None, 403),
        ("write", "POST", "/api/v1/apikeys", {"name": "k", "scope": "admin"}, 403),
        ("admin", "GET", "/api/v1/users", None, 200),
        ("admin", "GET", "/api/v1/audit", None, 200),
        ("admin", "POST", "/api/v1/apikeys", {"name": "k", "scope": "read"}, 201),
    ],
)
def test_api_key_scopes(
    workspace: Workspace,
    scope: str,
    method: str,
    path: str,
    body: dict[str, str] | None,
    expected: int,
) -> None:
    key = api_key(workspace, scope)
    client = TestClient(create_app(workspace))
    r = client.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == expected, r.text


def test_input_models_cannot_set_server_owned_fields(workspace: Workspace) -> None:
    key = api_key(workspace, "admin")
    client = TestClient(create_app(workspace))
    r = client.post(
        "/api/v1/users",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "email": "a@example.com",
            "password": "p" * 12,
            "role": "viewer",
            "password_hash": "x",
            "id": 999,
        },
    )
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/api/v1/users", {"email": "not-an-email", "password": "p" * 12}, "not an email"),
        ("/api/v1/teams", {"name": "   "}, "a team needs a name"),
    ],
)
def test_bad_input_is_422_with_the_reason(
    workspace: Workspace, path: str, body: dict[str, str], needle: str
) -> None:
    key = api_key(workspace, "admin")
    r = TestClient(create_app(workspace)).post(
        path, json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 422
    assert needle in error_detail(r)


def test_the_last_admin_cannot_demote_or_deactivate_themselves(workspace: Workspace) -> None:
    admin = sign_in(workspace, Role.admin)
    r = admin.post(f"/admin/users/{admin.user_id}", {"role": "viewer"})
    assert r.status_code == 409  # type: ignore[attr-defined]
    assert "last active admin" in r.text  # type: ignore[attr-defined]
    assert admin.post(f"/admin/users/{admin.user_id}", {"active": "0"}).status_code == 409  # type: ignore[attr-defined]
    other = sign_in(workspace, Role.admin)
    assert other.post(f"/admin/users/{admin.user_id}", {"role": "viewer"}).status_code == 303  # type: ignore[attr-defined]
