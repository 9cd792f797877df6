"""Sign-in throttling: the attacks of the hardening issue, replayed. Guessing is slowed down
(1, 2, 4, … seconds, capped), nobody is locked out, one account's attacker slows no other
account, and `X-Forwarded-For` is believed only from a trusted proxy.

Waiting is fast-forwarded by moving the recorded attempts back in time."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from productops.core import auth
from productops.core.auth import LoginLimits
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.errors import AuthenticationFailed, RateLimited
from productops.core.models import AuditEvent, LoginAttempt, LoginSession, Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import PASSWORD, make_user

ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.10"
PROXY = "10.0.0.2"
WRONG = "not-the-password"


def _fast_forward(ws: Workspace, seconds: float) -> None:
    """As if `seconds` had passed since every recorded attempt."""
    with transaction(ws.sessions) as s:
        for row in s.scalars(select(LoginAttempt)):
            row.at -= dt.timedelta(seconds=seconds)


def _failures(ws: Workspace, email: str, ip: str, n: int) -> dt.datetime:
    """Record `n` failed sign-ins right now (as if made and waited out earlier); their time."""
    at = utcnow()
    with transaction(ws.sessions) as s:
        s.add_all(LoginAttempt(email=email, ip=ip, at=at) for _ in range(n))
    return at


def _waits(outcome: object, seconds: int) -> bool:
    """The attempt was refused for about `seconds` (a slow machine may have used some)."""
    return isinstance(outcome, int) and seconds - 3 <= outcome <= seconds


def _client(ws: Workspace, address: str) -> TestClient:
    return TestClient(create_app(ws), follow_redirects=False, client=(address, 50000))


def _sign_in(
    client: TestClient, email: str, password: str, headers: dict[str, str] | None = None
) -> Response:
    page = client.get("/login", headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response: Response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/"},
        headers=headers,
    )
    return response


def _fail(
    ws: Workspace,
    client: TestClient,
    email: str,
    times: int,
    headers: Callable[[int], dict[str, str]] | None = None,
) -> list[int]:
    """Record `times` wrong passwords, waiting out (fast-forwarding) each delay; the delays."""
    waits: list[int] = []
    failed = 0
    while failed < times:
        r = _sign_in(client, email, WRONG, headers(failed) if headers else None)
        if r.status_code == 429:
            waits.append(int(r.headers["retry-after"]))
            _fast_forward(ws, waits[-1])
        else:
            assert r.status_code == 401, r.text
            failed += 1
    return waits


def _attempt(ws: Workspace, email: str, password: str, ip: str, limits: LoginLimits) -> object:
    """One sign-in through the library: "ok", "wrong", or the seconds to wait."""
    with transaction(ws.sessions) as s:
        try:
            auth.authenticate(s, email, password, ip=ip, limits=limits)
        except RateLimited as exc:
            return exc.retry_after
        except AuthenticationFailed:
            return "wrong"  # the failure is kept: the transaction commits
        return "ok"


def test_guessing_the_admins_password_does_not_lock_the_admin_out(workspace: Workspace) -> None:
    # The attack: 25 wrong passwords for the admin from the office's one address.
    _, admin = make_user(workspace, Role.admin)
    client = _client(workspace, OFFICE)
    _fail(workspace, client, admin, 25)

    r = _sign_in(client, admin, PASSWORD)
    assert r.status_code == 429  # only the short delay after the last guess...
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= workspace.settings.login_max_delay_seconds
    assert "not even the right one" in r.text

    _fast_forward(workspace, wait)
    r = _sign_in(client, admin, PASSWORD)  # ...then the right password signs in
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_delays_grow_from_one_second_and_are_capped(workspace: Workspace) -> None:
    limits = LoginLimits(max_failures=3, max_delay_seconds=8)
    email = "someone@example.com"
    waits: list[int | None] = []
    for _ in range(8):
        at = _failures(workspace, email, ATTACKER, 1)
        with workspace.sessions() as s:
            try:
                auth.check_login_allowed(s, email, ATTACKER, limits, now=at)
                waits.append(None)
            except RateLimited as exc:
                waits.append(exc.retry_after)
    assert waits == [None, None, 1, 2, 4, 8, 8, 8]


def test_while_waiting_nothing_is_checked_or_counted(workspace: Workspace) -> None:
    limits = LoginLimits(max_failures=2)
    _, email = make_user(workspace, Role.viewer)
    _failures(workspace, email, ATTACKER, 10)  # the next attempt waits the full minute
    for _ in range(3):
        assert _waits(_attempt(workspace, email, PASSWORD, ATTACKER, limits), 60)
    with workspace.sessions() as s:
        assert len(s.scalars(select(LoginAttempt)).all()) == 10
    _fast_forward(workspace, 60)
    assert _attempt(workspace, email, PASSWORD, ATTACKER, limits) == "ok"


def test_failures_older_than_the_window_are_forgotten(workspace: Workspace) -> None:
    limits = LoginLimits(max_failures=2, window_seconds=600)
    _, email = make_user(workspace, Role.viewer)
    _failures(workspace, email, ATTACKER, 6)
    assert _waits(_attempt(workspace, email, PASSWORD, ATTACKER, limits), 16)
    _fast_forward(workspace, 601)
    assert _attempt(workspace, email, PASSWORD, ATTACKER, limits) == "ok"
    with workspace.sessions() as s:  # and pruned
        assert s.scalars(select(LoginAttempt.succeeded)).all() == [True]


def test_guessing_at_one_account_slows_no_other_account(workspace: Workspace) -> None:
    _, victim = make_user(workspace, Role.admin)
    _, colleague = make_user(workspace, Role.editor)
    app = create_app(workspace)
    attacker = TestClient(app, follow_redirects=False, client=(ATTACKER, 50000))
    _fail(workspace, attacker, victim, 25)

    # Another account, from the attacker's own address: signs in at once.
    r = _sign_in(
        TestClient(app, follow_redirects=False, client=(ATTACKER, 50001)), colleague, PASSWORD
    )
    assert r.status_code == 303
    # The attacked account, from anywhere else: signs in at once.
    r = _sign_in(TestClient(app, follow_redirects=False, client=(OFFICE, 50000)), victim, PASSWORD)
    assert r.status_code == 303
    # ...and the attacker is still slowed down.
    assert _sign_in(attacker, victim, WRONG).status_code == 429


def test_spraying_from_one_address_slows_only_strangers_there(workspace: Workspace) -> None:
    limits = LoginLimits(max_failures=2)  # spraying: 4 x 2 = 8 different emails
    _, colleague = make_user(workspace, Role.editor)
    _, newcomer = make_user(workspace, Role.viewer)
    assert _attempt(workspace, colleague, PASSWORD, OFFICE, limits) == "ok"  # signed in before
    for n in range(12):
        _failures(workspace, f"guess{n}@example.com", OFFICE, 1)

    # Someone who never signed in from here waits a little (the sprayer looks the same)...
    assert _waits(_attempt(workspace, newcomer, PASSWORD, OFFICE, limits), 16)
    # ...someone who did is not slowed, nor is anyone elsewhere.
    assert _attempt(workspace, colleague, PASSWORD, OFFICE, limits) == "ok"
    assert _attempt(workspace, newcomer, PASSWORD, ATTACKER, limits) == "ok"
    _fast_forward(workspace, 16)
    assert _attempt(workspace, newcomer, PASSWORD, OFFICE, limits) == "ok"


def test_guessing_from_many_addresses_slows_only_new_addresses(workspace: Workspace) -> None:
    # A botnet behind a trusted proxy: 25 guesses for one account, each from a new address.
    workspace.settings.trusted_proxies = ["10.0.0.0/8"]
    _, victim = make_user(workspace, Role.admin)
    app = create_app(workspace)
    via_proxy = TestClient(app, follow_redirects=False, client=(PROXY, 50000))
    home = {"x-forwarded-for": "192.0.2.10"}
    earlier = TestClient(app, follow_redirects=False, client=(PROXY, 50002))
    assert _sign_in(earlier, victim, PASSWORD, home).status_code == 303
    _fail(workspace, via_proxy, victim, 25, lambda n: {"x-forwarded-for": f"203.0.113.{n + 1}"})

    # From the owner's usual address: at once.
    owner = TestClient(app, follow_redirects=False, client=(PROXY, 50001))
    assert _sign_in(owner, victim, PASSWORD, home).status_code == 303
    # From a new address: a short wait, then in.
    owner = TestClient(app, follow_redirects=False, client=(PROXY, 50003))
    r = _sign_in(owner, victim, PASSWORD, {"x-forwarded-for": "192.0.2.99"})
    assert r.status_code == 429 and "many addresses" in r.text
    assert int(r.headers["retry-after"]) <= workspace.settings.login_max_delay_seconds
    _fast_forward(workspace, int(r.headers["retry-after"]))
    assert _sign_in(owner, victim, PASSWORD, {"x-forwarded-for": "192.0.2.99"}).status_code == 303


def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(workspace: Workspace) -> None:
    # The attacker talks to the server directly and pretends to be a proxy of many clients.
    workspace.settings.trusted_proxies = ["10.0.0.0/8"]
    _, victim = make_user(workspace, Role.admin)
    client = _client(workspace, ATTACKER)
    statuses = [
        _sign_in(client, victim, WRONG, {"x-forwarded-for": f"192.0.2.{n}"}).status_code
        for n in range(1, 26)
    ]
    # Five guesses, then the attacker waits: the forged addresses gave no fresh tries (a
    # second or two may pass while the 25 requests run: one more guess then).
    assert statuses[:6] == [401] * 5 + [429]
    assert statuses.count(401) <= 7
    with workspace.sessions() as s:
        assert set(s.scalars(select(LoginAttempt.ip))) == {ATTACKER}


def test_behind_a_trusted_proxy_the_real_client_address_is_used(workspace: Workspace) -> None:
    workspace.settings.trusted_proxies = ["10.0.0.0/8"]
    _, victim = make_user(workspace, Role.admin)
    app = create_app(workspace)
    # The client forged the left-most entry; the proxy appended the address it saw.
    forged = {"x-forwarded-for": "192.0.2.1, 203.0.113.5"}
    attacker = TestClient(app, follow_redirects=False, client=(PROXY, 50000))
    _fail(workspace, attacker, victim, 25, lambda n: forged)
    with workspace.sessions() as s:
        assert set(s.scalars(select(LoginAttempt.ip))) == {"203.0.113.5"}

    # Another client of the same proxy is someone else: it signs in at once.
    owner = TestClient(app, follow_redirects=False, client=(PROXY, 50001))
    r = _sign_in(owner, victim, PASSWORD, {"x-forwarded-for": "198.51.100.20"})
    assert r.status_code == 303
    with workspace.sessions() as s:
        assert s.scalar(select(LoginSession.ip)) == "198.51.100.20"
        login = s.scalar(select(AuditEvent).where(AuditEvent.action == "user.login"))
        assert login is not None and login.ip == "198.51.100.20"


def test_a_burst_of_parallel_guesses_gets_one_check(workspace: Workspace) -> None:
    limits = LoginLimits(max_failures=3)
    _, email = make_user(workspace, Role.viewer)
    _failures(workspace, email, ATTACKER, 8)
    _fast_forward(workspace, 60)  # the wait is over: one guess may be checked
    start = threading.Barrier(6)
    outcomes: list[object] = []

    def guess() -> None:
        start.wait()
        outcomes.append(_attempt(workspace, email, WRONG, ATTACKER, limits))

    threads = [threading.Thread(target=guess) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("wrong") == 1
    assert all(_waits(o, 60) for o in outcomes if o != "wrong")


@pytest.mark.parametrize("max_failures", [1, 5])
def test_a_success_forgives_only_its_own_address(workspace: Workspace, max_failures: int) -> None:
    limits = LoginLimits(max_failures=max_failures)
    _, email = make_user(workspace, Role.viewer)
    _failures(workspace, email, ATTACKER, max_failures + 3)
    _failures(workspace, email, OFFICE, max_failures + 3)
    _fast_forward(workspace, 60)
    assert _attempt(workspace, email, PASSWORD, OFFICE, limits) == "ok"
    assert _attempt(workspace, email, PASSWORD, OFFICE, limits) == "ok"  # forgiven here
    assert _attempt(workspace, email, WRONG, ATTACKER, limits) == "wrong"
    assert _waits(_attempt(workspace, email, WRONG, ATTACKER, limits), 16)  # not there
