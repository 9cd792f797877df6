"""Signing in and out, sessions, throttling and API keys."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from productops.core import auth
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.models import ApiKey, AuditEvent, LoginSession, Role, User
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import PASSWORD, api_key, make_user, sign_in


def _login(client: TestClient, email: str, password: str) -> object:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/teams"},
    )


def test_pages_redirect_to_login_until_signed_in(workspace: Workspace) -> None:
    client = TestClient(create_app(workspace), follow_redirects=False)
    r = client.get("/accounts?plan=growth")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/accounts%3Fplan%3Dgrowth"


def test_sign_in_sets_a_secure_session_cookie_and_lands_on_next(workspace: Workspace) -> None:
    _, email = make_user(workspace, Role.viewer)
    client = TestClient(create_app(workspace), follow_redirects=False)
    r = _login(client, email, PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/teams"  # type: ignore[attr-defined]
    cookie = r.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "po_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/").status_code == 200
    with workspace.sessions() as s:
        row = s.scalar(select(LoginSession))
        assert row is not None
        token = client.cookies.get("po_session")
        assert token and row.token_hash != token  # only the hash is stored
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "user.login")) is not None


def test_wrong_password_is_refused(workspace: Workspace) -> None:
    _, email = make_user(workspace, Role.viewer)
    client = TestClient(create_app(workspace), follow_redirects=False)
    r = _login(client, email, "not the password")
    assert r.status_code == 401  # type: ignore[attr-defined]
    assert "email or password is wrong" in r.text  # type: ignore[attr-defined]
    assert client.get("/").status_code == 303


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(workspace: Workspace) -> None:
    client = TestClient(create_app(workspace), follow_redirects=False)
    r = _login(client, "nobody@example.com", "whatever-password")
    assert r.status_code == 401  # type: ignore[attr-defined]
    assert "email or password is wrong" in r.text  # type: ignore[attr-defined]


def test_repeated_failures_slow_down_the_next_attempt(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utcnow()
    monkeypatch.setattr(auth, "utcnow", lambda: now)  # the clock stands still
    _, email = make_user(workspace, Role.viewer)
    client = TestClient(create_app(workspace), follow_redirects=False)
    for _ in range(5):
        assert _login(client, email, "wrong password!").status_code == 401  # type: ignore[attr-defined]
    r = _login(client, email, PASSWORD)  # even the right password waits now, briefly
    assert r.status_code == 429  # type: ignore[attr-defined]
    assert r.headers["retry-after"] == "1"  # type: ignore[attr-defined]
    assert "not even the right one" in r.text  # type: ignore[attr-defined]


def test_sign_out_ends_the_session_on_the_server(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.editor)
    stolen = user.client.cookies.get("po_session")
    r = user.post("/logout")
    assert r.status_code == 303  # type: ignore[attr-defined]
    replay = TestClient(create_app(workspace), follow_redirects=False)
    replay.cookies.set("po_session", stolen or "")
    assert replay.get("/").status_code == 303


def test_deactivated_user_is_signed_out(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.editor)
    with transaction(workspace.sessions) as s:
        auth.set_active(s, user.user_id, False, actor="test")
    assert user.client.get("/").status_code == 303


def test_passwords_are_stored_as_argon2_hashes(workspace: Workspace) -> None:
    user_id, _ = make_user(workspace, Role.viewer)
    with workspace.sessions() as s:
        user = s.get(User, user_id)
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_api_key_is_shown_once_and_stored_hashed(workspace: Workspace) -> None:
    secret = api_key(workspace, "read")
    assert secret.startswith("po_")
    with workspace.sessions() as s:
        row = s.scalar(select(ApiKey))
        assert row is not None
        assert secret not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    client = TestClient(create_app(workspace))
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and r.json()["scope"] == "read"


def test_revoked_or_forged_api_keys_are_refused(workspace: Workspace) -> None:
    secret = api_key(workspace, "admin")
    client = TestClient(create_app(workspace))
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    )
    with transaction(workspace.sessions) as s:
        key = s.scalar(select(ApiKey))
        assert key is not None
        auth.revoke_api_key(s, key.id, actor="test")
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_api_without_credentials_is_401(workspace: Workspace) -> None:
    r = TestClient(create_app(workspace)).get("/api/v1/accounts")
    assert r.status_code == 401
    assert "Bearer" in r.json()["detail"]


def test_open_redirects_after_sign_in_are_refused(workspace: Workspace) -> None:
    _, email = make_user(workspace, Role.viewer)
    client = TestClient(create_app(workspace), follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={
            "email": email,
            "password": PASSWORD,
            "csrf_token": token.group(1),
            "next": "//evil.example/phish",
        },
    )
    assert r.headers["location"] == "/"


def test_every_user_change_is_in_the_audit_log(workspace: Workspace) -> None:
    admin = sign_in(workspace, Role.admin)
    target_id, _ = make_user(workspace, Role.viewer)
    r = admin.post(f"/admin/users/{target_id}", {"role": "editor"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    with workspace.sessions() as s:
        entry = s.scalar(select(AuditEvent).where(AuditEvent.action == "user.role"))
        assert entry is not None
        assert entry.actor.startswith(f"user:{admin.user_id}:")
        assert entry.detail == {"from": "viewer", "to": "editor"}


def test_rotating_the_secret_key_signs_everyone_out(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.viewer)
    assert user.client.get("/").status_code == 200
    workspace.settings.secret_key = "a-brand-new-secret-key-for-this-workspace"
    assert user.client.get("/").status_code == 303


def test_a_stored_session_hash_alone_does_not_sign_in(workspace: Workspace) -> None:
    sign_in(workspace, Role.viewer)
    with workspace.sessions() as s:
        row = s.scalar(select(LoginSession))
        assert row is not None
    thief = TestClient(create_app(workspace), follow_redirects=False)
    thief.cookies.set("po_session", row.token_hash)
    assert thief.get("/").status_code == 303
