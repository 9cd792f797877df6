"""Behind a TLS proxy and over HTTPS: who the client is (`X-Forwarded-For`, believed only from
`trusted_proxies`), and what HTTPS brings (`Secure` cookies, HSTS)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from starlette.requests import Request

from productops.core.models import Role
from productops.core.settings import Settings
from productops.core.workspace import Workspace
from productops.web.app import create_app
from productops.web.deps import client_ip, is_https
from tests.conftest import PASSWORD, make_user

PROXY = "10.0.0.2"
HSTS = "max-age=31536000"


def _request(peer: str, headers: dict[str, str], trusted: list[str]) -> Request:
    settings = Settings(trusted_proxies=trusted)
    app = SimpleNamespace(state=SimpleNamespace(workspace=SimpleNamespace(settings=settings)))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "scheme": "http",
        "server": ("testserver", 80),
        "query_string": b"",
        "client": (peer, 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "app": app,
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("198.51.100.7", "203.0.113.5", "198.51.100.7"),  # not a proxy: the header is ignored
        (PROXY, "", PROXY),
        (PROXY, "203.0.113.5", "203.0.113.5"),
        (PROXY, "192.0.2.1, 203.0.113.5", "203.0.113.5"),  # the left one is the client's say
        (PROXY, "192.0.2.1, 203.0.113.5, 10.9.9.9", "203.0.113.5"),  # two trusted hops
        (PROXY, "203.0.113.5:4711", "203.0.113.5"),
        (PROXY, "[2001:db8::7]:443", "2001:db8::7"),
        (PROXY, "2001:db8::7", "2001:db8::7"),
        (PROXY, "10.0.0.7, 10.0.0.8", "10.0.0.7"),  # all trusted: the farthest one
        (PROXY, "203.0.113.5, unknown", PROXY),  # the proxy wrote no address
        ("::ffff:10.0.0.2", "203.0.113.5", "203.0.113.5"),
    ],
)
def test_the_client_address_comes_from_trusted_proxies_only(
    peer: str, forwarded_for: str, expected: str
) -> None:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    assert client_ip(_request(peer, headers, ["10.0.0.0/8"])) == expected


def test_without_trusted_proxies_forwarded_headers_mean_nothing() -> None:
    headers = {"x-forwarded-for": "203.0.113.5", "x-forwarded-proto": "https"}
    request = _request(PROXY, headers, [])
    assert client_ip(request) == PROXY
    assert not is_https(request)


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(trusted_proxies=["proxy.internal"])
    assert Settings(trusted_proxies=[" 10.0.0.0/8", "::1"]).trusted_proxies == ["10.0.0.0/8", "::1"]


def _sign_in(client: TestClient, email: str, headers: dict[str, str] | None = None) -> Response:
    page = client.get("/login", headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response: Response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
        headers=headers,
    )
    return response


def _cookies(response: Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_plain_http_gets_no_secure_cookies_and_no_hsts(workspace: Workspace) -> None:
    _, email = make_user(workspace, Role.viewer)
    client = TestClient(create_app(workspace), follow_redirects=False)
    page = client.get("/login")
    assert "strict-transport-security" not in page.headers
    assert "Secure" not in _cookies(page)["po_login_csrf"]
    assert "Secure" not in _cookies(_sign_in(client, email))["po_session"]


def test_https_gets_secure_cookies_and_hsts(workspace: Workspace) -> None:
    _, email = make_user(workspace, Role.viewer)
    client = TestClient(
        create_app(workspace), base_url="https://testserver", follow_redirects=False
    )
    page = client.get("/login")
    assert page.headers["strict-transport-security"] == HSTS
    assert "Secure" in _cookies(page)["po_login_csrf"]
    r = _sign_in(client, email)
    assert r.status_code == 303
    assert "Secure" in _cookies(r)["po_session"]
    assert client.get("/").headers["strict-transport-security"] == HSTS


def test_https_at_a_trusted_proxy_counts_as_https(workspace: Workspace) -> None:
    workspace.settings.trusted_proxies = ["10.0.0.0/8"]
    _, email = make_user(workspace, Role.viewer)
    client = TestClient(create_app(workspace), follow_redirects=False, client=(PROXY, 50000))
    tls = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.5"}
    page = client.get("/login", headers=tls)
    assert page.headers["strict-transport-security"] == HSTS
    assert "Secure" in _cookies(page)["po_login_csrf"]
    # The browser talks HTTPS to the proxy, so it sends the Secure cookie back; the test
    # client (plain HTTP to the app) must be told to.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        headers={**tls, "cookie": f"po_login_csrf={client.cookies['po_login_csrf']}"},
    )
    assert r.status_code == 303 and "Secure" in _cookies(r)["po_session"]


def test_an_untrusted_peer_cannot_claim_https(workspace: Workspace) -> None:
    workspace.settings.trusted_proxies = ["10.0.0.0/8"]
    client = TestClient(create_app(workspace), client=("198.51.100.7", 50000))
    page = client.get("/login", headers={"x-forwarded-proto": "https"})
    assert "strict-transport-security" not in page.headers
    assert "Secure" not in _cookies(page)["po_login_csrf"]


def test_cookie_secure_makes_cookies_secure_on_any_request(workspace: Workspace) -> None:
    workspace.settings.cookie_secure = True
    page = TestClient(create_app(workspace)).get("/login")
    assert "Secure" in _cookies(page)["po_login_csrf"]
    assert "strict-transport-security" not in page.headers  # HSTS only on HTTPS responses
