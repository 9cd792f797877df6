"""Request dependencies: the database session, the caller, permission and CSRF checks.

Routes stay short by using the `Annotated` aliases defined once here: `DbDep`,
`PrincipalDep` (any caller), `UserPage` (a signed-in person), and per permission
`ReadApi` / `WriteApi` / `AdminApi` (API callers) and `ReadPage` / `WritePage` /
`AdminPage` (pages: a redirect to sign in, then 403). A pillar's own permission:
`Annotated[Principal, require("people.pii")]`.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from productops.core import auth, localserver
from productops.core.auth import Principal
from productops.core.db import best_effort_write
from productops.core.errors import AuthenticationFailed, PermissionDenied
from productops.core.settings import IPNetwork
from productops.core.workspace import Workspace

SESSION_COOKIE = "po_session"
LOGIN_CSRF_COOKIE = "po_login_csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class LoginRequired(Exception):
    """A page needs a signed-in person; the handler redirects to the login page."""


def workspace_of(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def get_db(request: Request) -> Iterator[Session]:
    """A session whose transaction commits when the request succeeds and rolls back on error."""
    factory = workspace_of(request).sessions
    route = request.scope.get("route")
    reads_only = getattr(getattr(route, "endpoint", None), "reads_only", False)
    with factory() as session, session.begin():
        if request.method in UNSAFE_METHODS and not reads_only:
            session.connection(execution_options={"productops_write": True})
        yield session


# scope="function": the transaction commits before the response is sent, so a 2xx means stored.
DbDep = Annotated[Session, Depends(get_db, scope="function")]


def client_ip(request: Request) -> str | None:
    """The caller's address: the direct peer, or, when the peer is one of `trusted_proxies`,
    the right-most address in `X-Forwarded-For` that is not a trusted proxy (the one the
    outermost trusted proxy saw; what a client wrote further left can be forged)."""
    peer = request.client.host if request.client else None
    trusted = workspace_of(request).settings.trusted_proxy_networks
    if peer is None or not _is_trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # not an address: the proxy's own is the best we know
        if not _in_networks(address, trusted):
            return str(address)
    leftmost = _address(hops[0]) if hops else None
    return str(leftmost) if leftmost is not None else peer


def is_https(request: Request) -> bool:
    """The request came over HTTPS: to this server, or to a trusted proxy that says so in
    `X-Forwarded-Proto`."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    trusted = workspace_of(request).settings.trusted_proxy_networks
    if peer is None or not _is_trusted(peer, trusted):
        return False
    protos = ",".join(request.headers.getlist("x-forwarded-proto")).split(",")
    return protos[-1].strip().lower() == "https"


def cookies_secure(request: Request) -> bool:
    """Whether cookies set on this response are `Secure`: always with `cookie_secure`, and
    on any request that came over HTTPS."""
    return workspace_of(request).settings.cookie_secure or is_https(request)


def _address(text: str) -> IPAddress | None:
    """An address as proxies write it (`1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _in_networks(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def _is_trusted(peer: str, networks: tuple[IPNetwork, ...]) -> bool:
    address = _address(peer) if networks else None
    return address is not None and _in_networks(address, networks)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def get_principal(request: Request, db: DbDep) -> Principal | None:
    """Who is calling: an API key (Authorization: Bearer) or a browser session cookie."""
    if "principal" in request.state._state:
        p: Principal | None = request.state.principal
        return p
    principal: Principal | None = None
    token = bearer_token(request)
    local = getattr(request.app.state, "local_token_hash", None)
    if token is not None and local and token.startswith("po_local_"):
        if not localserver.token_matches(local, token):
            raise AuthenticationFailed("the command-line token is not this server's")
        principal = auth.cli_principal()
    elif token is not None:
        key = auth.api_key_for_secret(db, token)
        if key is None:
            raise AuthenticationFailed("the API key is unknown or revoked")
        stamp = auth.key_use_to_record(key)
        if stamp is not None:
            best_effort_write(workspace_of(request).engine, stamp)
        principal = auth.principal_for_api_key(key)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            row = auth.session_for_token(db, cookie, workspace_of(request).settings.secret_key)
            if row is not None:
                principal = auth.principal_for_user(row.user, row.csrf_token)
    request.state.principal = principal
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(get_principal)]


# Declares the Bearer scheme in the OpenAPI document (Swagger's "Authorize" button); the
# key itself is checked in get_principal.
_bearer_scheme = HTTPBearer(auto_error=False, description="An API key: po_<prefix>_<secret>")


def api_principal(
    principal: OptionalPrincipal,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)] = None,
) -> Principal:
    if principal is None:
        raise AuthenticationFailed("send an API key as 'Authorization: Bearer <key>' or sign in")
    return principal


def page_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None or principal.kind != "user":
        raise LoginRequired
    return principal


PrincipalDep = Annotated[Principal, Depends(api_principal)]
UserPage = Annotated[Principal, Depends(page_principal)]


def require(permission: str, *, page: bool = False) -> Any:
    """A dependency that lets the request through only with `permission`."""

    base = page_principal if page else api_principal

    def check(principal: Principal = Depends(base)) -> Principal:
        if not principal.can(permission):
            who = f"role {principal.role}" if principal.role else f"scope {principal.scope}"
            raise PermissionDenied(f"{who} may not do this (needs '{permission}')")
        return principal

    return Depends(check)


class CsrfError(Exception):
    pass


async def csrf_protect(request: Request) -> None:
    """Refuse state-changing requests that ride on a session cookie without the page's token.

    Requests authenticated by an API key carry no ambient authority and are not checked.
    """
    if request.method not in UNSAFE_METHODS or bearer_token(request) is not None:
        return
    route = request.scope.get("route")
    if getattr(getattr(route, "endpoint", None), "csrf_exempt", False):
        return
    session_cookie = request.cookies.get(SESSION_COOKIE)
    is_login = request.url.path == "/login"
    if not session_cookie and not is_login:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FORM_FIELD)
        given = value if isinstance(value, str) else None
    if is_login and not session_cookie:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    else:
        ws = workspace_of(request)
        with ws.sessions() as db:
            row = auth.session_for_token(db, session_cookie or "", ws.settings.secret_key)
            expected = row.csrf_token if row is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    if not auth.csrf_matches(expected, given):
        raise CsrfError


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def reads_only(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a POST that changes nothing in the app database (a query, a long DuckDB task), so
    its request does not hold SQLite's write lock while it runs."""
    endpoint.reads_only = True  # type: ignore[attr-defined]
    return endpoint


def csrf_exempt(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an endpoint authenticated only by keys in the request (ingest protocols)."""
    endpoint.csrf_exempt = True  # type: ignore[attr-defined]
    return endpoint


ReadApi = Annotated[Principal, require(auth.Permission.READ)]
WriteApi = Annotated[Principal, require(auth.Permission.WRITE)]
AdminApi = Annotated[Principal, require(auth.Permission.ADMIN)]
ReadPage = Annotated[Principal, require(auth.Permission.READ, page=True)]
WritePage = Annotated[Principal, require(auth.Permission.WRITE, page=True)]
AdminPage = Annotated[Principal, require(auth.Permission.ADMIN, page=True)]


def is_fragment(request: Request) -> bool:
    """An htmx request for part of a page (not a history restore, which needs the page)."""
    return request.headers.get("hx-request") == "true" and not request.headers.get(
        "hx-history-restore-request"
    )
