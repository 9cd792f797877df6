"""The real Segment and PostHog Python clients, pointed at a productops server on 127.0.0.1,
land every event exactly once — also when a response is lost and the client sends again."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import posthog
import pytest
from segment.analytics import Client as SegmentClient

from productops.core.workspace import Workspace, init_workspace
from tests.analytics.ingest_support import close_store, count, ingest_app, rows
from tests.conftest import api_key, serving

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class LoseResponses:
    """ASGI wrapper: the app handles the next `n` requests to a path in full (so their events
    are committed), then the client is told 503 — as if the response was lost on the way."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: dict[str, int] = {}
        self.lost = 0

    def lose(self, path: str, n: int = 1) -> None:
        self.paths[path] = n

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or self.paths.get(path, 0) <= 0:
            await self.app(scope, receive, send)
            return
        self.paths[path] -= 1

        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)
        self.lost += 1
        body = b'{"code": "lost", "message": "response lost", "detail": "response lost"}'
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass
class Server:
    url: str
    ws: Workspace
    key: str
    faults: LoseResponses


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ws = init_workspace(tmp_path_factory.mktemp("sdk") / "ws", name="SDK Co")
    key = api_key(ws, "ingest")
    faults = LoseResponses(ingest_app(ws))
    try:
        with serving(faults) as url:
            yield Server(url, ws, key, faults)
    finally:
        close_store(ws)
        ws.close()


def tag() -> str:
    return uuid.uuid4().hex[:10]


def stored_once(server: Server, event_ids: list[str]) -> dict[str, int]:
    found = rows(
        server.ws,
        "SELECT event_id, count(*) FROM events WHERE list_contains(?, event_id) GROUP BY 1",
        [event_ids],
    )
    return {str(k): int(n) for k, n in found}


def segment_client(server: Server, errors: list[Any], **kw: Any) -> SegmentClient:
    return SegmentClient(
        server.key,
        host=server.url,
        on_error=lambda exc, batch: errors.append(exc),
        **kw,
    )


# --- Segment -------------------------------------------------------------------------------


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_segment_client_lands_every_call_once(server: Server, gzip: bool) -> None:
    errors: list[Any] = []
    client = segment_client(server, errors, gzip=gzip, upload_interval=0.05)
    t = tag()
    ids: list[str] = []
    for i in range(300):
        ok, msg = client.track(f"{t}-user-{i % 7}", "Report Exported", {"i": i, "format": "pdf"})
        assert ok
        ids.append(msg["messageId"])
    for call in (
        lambda: client.page(f"{t}-user-1", "Docs", "Pricing", {"path": "/pricing"}),
        lambda: client.screen(f"{t}-user-1", "App", "Home"),
        lambda: client.identify(f"{t}-user-1", {"plan": "pro"}, anonymous_id=f"{t}-anon"),
        lambda: client.group(f"{t}-user-1", f"{t}-acme", {"name": "Acme"}),
        lambda: client.alias(f"{t}-anon-2", f"{t}-user-1"),
    ):
        ok, msg = call()
        assert ok
        ids.append(msg["messageId"])
    client.flush()
    client.join()
    assert errors == []
    assert stored_once(server, ids) == dict.fromkeys(ids, 1)
    assert rows(
        server.ws,
        "SELECT type, count(*) FROM events WHERE list_contains(?, event_id) GROUP BY 1 ORDER BY 1",
        [ids],
    ) == [("alias", 1), ("group", 1), ("identify", 1), ("page", 1), ("screen", 1), ("track", 300)]


def test_segment_client_retry_after_a_lost_response_stores_nothing_twice(server: Server) -> None:
    errors: list[Any] = []
    client = segment_client(server, errors, upload_interval=0.05, max_retries=3)
    server.faults.lose("/v1/batch", 1)
    lost_before = server.faults.lost
    t = tag()
    ids = [client.track(f"{t}-u", "Clicked", {"n": i})[1]["messageId"] for i in range(20)]
    client.flush()
    client.join()
    assert server.faults.lost == lost_before + 1  # the first upload's answer never arrived
    assert errors == []
    assert stored_once(server, ids) == dict.fromkeys(ids, 1)


def test_segment_sync_mode_and_a_manual_resend_store_once(server: Server) -> None:
    errors: list[Any] = []
    client = segment_client(server, errors, sync_mode=True)
    t = tag()
    message_id = f"{t}-fixed"
    for _ in range(3):
        client.track(f"{t}-u", "Signed Up", {"plan": "pro"}, message_id=message_id)
    assert stored_once(server, [message_id]) == {message_id: 1}


def test_an_anonymous_visit_then_sign_up_counts_one_person(server: Server) -> None:
    errors: list[Any] = []
    client = segment_client(server, errors, sync_mode=True)
    t = tag()
    anon, user = f"{t}-anon", f"{t}-user"
    client.page(anonymous_id=anon, name="Landing")
    client.track(anonymous_id=anon, event="Pricing Viewed")
    client.identify(user, {"email": "new@example.com"}, anonymous_id=anon)
    client.track(user, "Signed Up")
    people = rows(
        server.ws,
        "SELECT DISTINCT person_id FROM events_resolved WHERE distinct_id IN (?, ?)",
        [anon, user],
    )
    assert people == [(user,)]
    assert count(server.ws, "distinct_id IN (?, ?)", [anon, user]) == 4


# --- PostHog -------------------------------------------------------------------------------


def test_posthog_client_lands_every_event_once(server: Server) -> None:
    client = posthog.Posthog(server.key, host=server.url, sync_mode=True)
    t = tag()
    ids = [
        client.capture("feature_used", distinct_id=f"{t}-d{i % 5}", properties={"i": i})
        for i in range(40)
    ]
    ids.append(client.capture("$pageview", distinct_id=f"{t}-d1", groups={"company": f"{t}-co"}))
    ids.append(client.set(distinct_id=f"{t}-d1", properties={"plan": "enterprise"}))
    ids.append(client.group_identify("company", f"{t}-co", {"name": "Initech"}))
    ids.append(client.alias(f"{t}-d2", f"{t}-d1"))
    assert all(isinstance(i, str) for i in ids), ids
    event_ids = [str(i) for i in ids]
    assert stored_once(server, event_ids) == dict.fromkeys(event_ids, 1)
    assert rows(
        server.ws, "SELECT properties->>'name' FROM accounts WHERE account_id = ?", [f"{t}-co"]
    ) == [("Initech",)]
    assert rows(
        server.ws, "SELECT properties->>'plan' FROM persons WHERE person_id = ?", [f"{t}-d1"]
    ) == [("enterprise",)]
    assert rows(
        server.ws,
        "SELECT count(DISTINCT person_id) FROM events_resolved WHERE distinct_id IN (?, ?)",
        [f"{t}-d1", f"{t}-d2"],
    ) == [(1,)]


def test_posthog_retry_after_a_lost_response_stores_nothing_twice(server: Server) -> None:
    client = posthog.Posthog(server.key, host=server.url, flush_interval=0.05, max_retries=2)
    server.faults.lose("/batch/", 1)
    lost_before = server.faults.lost
    t = tag()
    ids = [
        str(client.capture("exported", distinct_id=f"{t}-u", properties={"n": i}))
        for i in range(15)
    ]
    client.flush()
    client.shutdown()
    assert server.faults.lost == lost_before + 1
    assert stored_once(server, ids) == dict.fromkeys(ids, 1)


def test_posthog_anonymous_pageview_then_identify_counts_one_person(server: Server) -> None:
    client = posthog.Posthog(server.key, host=server.url, sync_mode=True)
    t = tag()
    anon, user = f"{t}-anon", f"{t}-user"
    client.capture("$pageview", distinct_id=anon)
    # What posthog-js sends on posthog.identify(user): $identify with the anonymous id.
    client.capture("$identify", distinct_id=user, properties={"$anon_distinct_id": anon})
    client.capture("signed_up", distinct_id=user)
    people = rows(
        server.ws,
        "SELECT DISTINCT person_id FROM events_resolved WHERE distinct_id IN (?, ?)",
        [anon, user],
    )
    assert people == [(user,)]
