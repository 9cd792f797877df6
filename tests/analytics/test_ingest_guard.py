"""A caller without a valid key cannot make ingest parse its body: the key is found in the
bytes where real clients put it, a few keyless bodies are checked at a time, and repeated
refusals from one address are answered ever more slowly — while every real client's body
still gets in. (Speed is measured by bench/ingest_attack.py, not here.)"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from productops.analytics.ingest import guard
from productops.analytics.ingest import routes as ingest_routes
from productops.analytics.ingest.guard import Gate, IngestGuard, Offenders
from productops.analytics.ingest.service import parse_json
from productops.core import auth
from productops.core.workspace import Workspace
from tests.analytics.ingest_support import basic, close_store, count, ingest_app
from tests.conftest import api_key

BOGUS = "po_0123456789ab_" + "A" * 43


@dataclass
class Ingest:
    app: FastAPI
    client: TestClient
    ws: Workspace
    key: str

    @property
    def guard(self) -> IngestGuard:
        return ingest_routes.guard_of(self.app)


@pytest.fixture
def api(sqlite_workspace: Workspace) -> Iterator[Ingest]:
    app = ingest_app(sqlite_workspace)
    yield Ingest(app, TestClient(app), sqlite_workspace, api_key(sqlite_workspace, "ingest"))
    close_store(sqlite_workspace)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every body the ingest endpoints parse."""
    seen: list[int] = []

    def spy(body: bytes | str) -> Any:
        seen.append(len(body))
        return parse_json(body)

    monkeypatch.setattr(ingest_routes, "parse_json", spy)
    return seen


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key looked up in the app database."""
    seen: list[str] = []
    real = auth.api_key_for_secret

    def spy(session: Any, secret: str) -> Any:
        seen.append(secret)
        return real(session, secret)

    monkeypatch.setattr(auth, "api_key_for_secret", spy)
    return seen


def events(n: int, **properties: Any) -> list[dict[str, Any]]:
    return [
        {"event": "e", "distinct_id": f"d{i}", "uuid": str(uuid.uuid4()), "properties": properties}
        for i in range(n)
    ]


def posthog_python_body(key: str, batch: list[dict[str, Any]]) -> bytes:
    """What posthog-python's request.post sends: the key is the last member."""
    sent_at = "2025-03-01T12:00:00+00:00"
    body = {"batch": batch, "historical_migration": False, "sent_at": sent_at, "api_key": key}
    return json.dumps(body).encode()


def bomb(key_first: str | None = None, key_last: str | None = None, mb: int = 8) -> bytes:
    """A gzip body that inflates to about `mb` MB (within PostHog's 8 MiB limit)."""
    event = b'{"event": "e", "distinct_id": "d", "properties": {"p": 1}},'
    head = b"{" + (b'"api_key": "%s", ' % key_first.encode() if key_first else b"")
    tail = b'"sent_at": "2025-03-01T12:00:00Z"' + (
        b', "api_key": "%s"' % key_last.encode() if key_last else b""
    )
    filler = event * (mb * 1_000_000 // len(event) - 1)
    return gzip.compress(head + b'"batch": [' + filler + event[:-1] + b"], " + tail + b"}")


GZIP = {"Content-Encoding": "gzip"}


# --- strangers' bodies are not parsed ------------------------------------------------------


def test_a_bomb_with_an_unknown_key_last_is_refused_without_being_parsed(
    api: Ingest, parses: list[int], lookups: list[str]
) -> None:
    body = bomb(key_last=BOGUS)
    assert len(body) < 64 * 1024
    r = api.client.post("/batch/", content=body, headers=GZIP)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "unauthorized"
    assert parses == []
    assert lookups == [BOGUS]  # one indexed lookup
    # A key not even shaped like one is refused by api_key_for_secret before any query.
    r = api.client.post("/batch/", content=bomb(key_last="not-a-key"), headers=GZIP)
    assert r.status_code == 401
    assert parses == []
    assert lookups == [BOGUS, "not-a-key"]


def test_an_unknown_key_first_stops_inflating_after_the_head(
    api: Ingest, parses: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inflated: list[int] = []
    prefix = guard.inflate_prefix

    def spy(body: bytes, encoding: str | None, size: int = guard.HEAD_BYTES) -> bytes:
        out = prefix(body, encoding, size)
        inflated.append(len(out))
        return out

    def whole(*args: Any) -> bytes:
        raise AssertionError("the whole body was inflated")

    monkeypatch.setattr(guard, "inflate_prefix", spy)
    monkeypatch.setattr(ingest_routes, "decompress", whole)
    huge = gzip.compress(b'{"api_key": "%s", "batch": [' % BOGUS.encode() + b" " * 50_000_000)
    r = api.client.post("/batch/", content=huge, headers=GZIP)
    assert r.status_code == 401, r.text
    assert inflated == [guard.HEAD_BYTES]
    assert parses == []


def test_a_body_without_a_key_is_refused_unparsed(api: Ingest, parses: list[int]) -> None:
    for body in (bomb(), b"{not json", json.dumps({"batch": events(3)}).encode()):
        r = api.client.post(
            "/batch/", content=body, headers=GZIP if body[:2] == b"\x1f\x8b" else {}
        )
        assert r.status_code == 401, r.text
        assert "no write key" in r.json()["message"]
    r = api.client.post("/v1/batch", json={"batch": [], "writeKey": "nope"})
    assert r.status_code == 401
    assert parses == []


def test_a_body_stuffed_with_key_shaped_strings_costs_a_few_lookups(
    api: Ingest, parses: list[int], lookups: list[str]
) -> None:
    stuffed = [
        {"event": "e", "properties": {"distinct_id": "d", "token": f"po_{i:012x}_{'B' * 43}"}}
        for i in range(5_000)
    ]
    r = api.client.post("/e/", content=json.dumps(stuffed))
    assert r.status_code == 401, r.text
    assert len(lookups) == guard.MAX_KEY_LOOKUPS
    assert parses == []


def test_a_valid_key_elsewhere_does_not_pass_an_unknown_top_level_key(
    api: Ingest, parses: list[int]
) -> None:
    # The unknown key is neither first nor last, so the body is parsed (its sender did show a
    # valid key) — and then refused by the protocol's own rule, as before.
    body = {"batch": events(1, note=api.key), "api_key": BOGUS, "sent_at": "2025-03-01T12:00Z"}
    r = api.client.post("/batch/", json=body)
    assert r.status_code == 401, r.text
    assert len(parses) == 1
    # Last in the body it decides at once.
    r = api.client.post("/batch/", content=posthog_python_body(BOGUS, events(1, note=api.key)))
    assert r.status_code == 401
    assert len(parses) == 1
    assert count(api.ws) == 0


def test_a_key_of_another_scope_in_the_body_is_refused_with_403(
    api: Ingest, parses: list[int]
) -> None:
    reader = api_key(api.ws, "read")
    r = api.client.post("/batch/", content=posthog_python_body(reader, events(2)))
    assert r.status_code == 403, r.text
    assert parses == []


# --- every real client still gets in ------------------------------------------------------


def _shapes(key: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    batch = events(2)
    sent = "2025-03-01T12:00:00Z"
    js_events = [{**e, "properties": {"distinct_id": "js", "token": key}} for e in batch]
    return [
        ("posthog-python", "/batch/", posthog_python_body(key, batch), {}),
        (
            "posthog-python gzip",
            "/batch/",
            gzip.compress(posthog_python_body(key, batch)),
            GZIP,
        ),
        ("posthog-node", "/batch/", json.dumps({"api_key": key, "batch": batch}).encode(), {}),
        (
            "key in the middle",
            "/batch/",
            json.dumps({"batch": batch, "api_key": key, "sent_at": sent}).encode(),
            {},
        ),
        (
            "pretty-printed",
            "/batch/",
            json.dumps({"batch": batch, "api_key": key}, indent=4).encode(),
            {},
        ),
        ("token", "/capture/", json.dumps({**batch[0], "token": key}).encode(), {}),
        ("posthog-js", "/e/", json.dumps(js_events).encode(), {}),
        (
            "posthog-js gzip-js",
            "/e/?compression=gzip-js",
            gzip.compress(json.dumps(js_events).encode()),
            {},
        ),
        ("query string", f"/batch/?api_key={key}", json.dumps({"batch": batch}).encode(), {}),
        (
            "segment writeKey last",
            "/v1/batch",
            json.dumps({"batch": [_track()], "sentAt": sent, "writeKey": key}).encode(),
            {},
        ),
        (
            "segment writeKey first",
            "/v1/track",
            json.dumps({"writeKey": key, **_track()}).encode(),
            {},
        ),
    ]


def _track() -> dict[str, Any]:
    return {"type": "track", "event": "Clicked", "userId": "u1", "messageId": str(uuid.uuid4())}


def test_keys_in_the_body_work_wherever_real_clients_put_them(api: Ingest) -> None:
    stored = 0
    for name, path, body, headers in _shapes(api.key):
        r = api.client.post(path, content=body, headers=headers)
        assert r.status_code == 200, (name, r.text)
        stored += r.json()["stored"]
        assert stored == count(api.ws), name
    # The same shapes with an unknown key are all refused.
    for name, path, body, headers in _shapes(BOGUS):
        r = api.client.post(path, content=body, headers=headers)
        assert r.status_code == 401, (name, r.text)


def test_the_form_body_of_posthog_js_is_screened_too(api: Ingest, parses: list[int]) -> None:
    import base64

    for key, status in ((BOGUS, 401), (api.key, 200)):
        data = base64.b64encode(json.dumps(events(1, token=key)).encode()).decode()
        r = api.client.post(
            "/e/",
            content=f"data={data}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == status, r.text
    assert len(parses) == 1


# --- repeat offenders ----------------------------------------------------------------------


def test_a_repeat_offender_waits_longer_for_each_refusal(
    api: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[float] = []

    async def hold(seconds: float) -> None:
        held.append(seconds)

    monkeypatch.setattr(api.guard, "hold", hold)
    for _ in range(8):
        r = api.client.post("/batch/", content=posthog_python_body(BOGUS, events(1)))
        assert r.status_code == 401
    free = api.guard.offenders.free
    assert held[:free] == [0.0] * free
    assert all(a < b for a, b in zip(held[free - 1 :], held[free:], strict=False)), held
    assert max(held) <= api.guard.offenders.max_delay
    # A valid key from the same address is never held, nor a bad Authorization header's 401
    # from another address.
    r = api.client.post("/batch/", content=posthog_python_body(api.key, events(1)))
    assert r.status_code == 200
    assert len(held) == 8
    other = TestClient(api.app, client=("203.0.113.9", 4000))
    assert other.post("/v1/batch", json={"batch": []}, headers=basic(BOGUS)).status_code == 401
    assert held[8] == 0.0


def test_offenders_are_forgotten_with_time() -> None:
    offenders = Offenders(free=2, free_overall=1000, first_delay=0.1, max_delay=2.0)
    delays = [offenders.failed("198.51.100.7", now=t * 0.01) for t in range(10)]
    assert delays[:2] == [0.0, 0.0]
    assert 0.09 < delays[2] < delays[3] < delays[4]
    assert delays[-1] == 2.0
    assert offenders.failed("198.51.100.8", now=1.0) == 0.0  # another address
    assert offenders.failed("198.51.100.7", now=600.0) == 0.0  # 20 half-lives later


def test_an_attack_from_many_addresses_is_slowed_too() -> None:
    offenders = Offenders(free=3, free_overall=50)
    delays = [offenders.failed(f"10.0.{i // 250}.{i % 250}", now=i * 0.01) for i in range(60)]
    assert delays[:50] == [0.0] * 50  # each address failed once: a misconfigured fleet
    assert 0 < delays[50] < delays[52] < delays[59] == offenders.max_delay


def test_an_ipv6_offender_is_counted_by_its_64() -> None:
    assert guard.client_address("2001:db8:1:2::a") == guard.client_address("2001:db8:1:2::b")
    assert guard.client_address("2001:db8:1:3::a") != guard.client_address("2001:db8:1:2::a")
    assert guard.client_address("::ffff:192.0.2.1") == "192.0.2.1"


def test_held_answers_are_capped() -> None:
    async def scenario() -> None:
        g = IngestGuard(max_held=0)
        await asyncio.wait_for(g.hold(60), timeout=5)  # over the cap: answered at once

    asyncio.run(scenario())


# --- a few keyless bodies at a time --------------------------------------------------------


def test_keyless_bodies_are_checked_a_few_at_a_time(
    api: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.app.state.ingest_guard = IngestGuard(gate=Gate(slots=1, max_waiting=0))
    entered, release = threading.Event(), threading.Event()
    prefix = guard.inflate_prefix

    def slow(body: bytes, encoding: str | None, size: int = guard.HEAD_BYTES) -> bytes:
        if not entered.is_set():
            entered.set()
            release.wait(30)
        return prefix(body, encoding, size)

    monkeypatch.setattr(guard, "inflate_prefix", slow)
    first: list[Any] = []
    t = threading.Thread(
        target=lambda: first.append(
            api.client.post("/batch/", content=posthog_python_body(api.key, events(1)))
        )
    )
    t.start()
    try:
        assert entered.wait(30)
        r = api.client.post("/batch/", content=posthog_python_body(api.key, events(1)))
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert r.json()["code"] == "busy"
        # A key in the Authorization header needs no screening.
        r = api.client.post("/v1/batch", json={"batch": [_track()]}, headers=basic(api.key))
        assert r.status_code == 200
    finally:
        release.set()
        t.join(30)
    assert first[0].status_code == 200
    assert api.guard.gate.busy == 0


def test_the_gate_lets_waiters_in_in_order_across_event_loops() -> None:
    gate = Gate(slots=1, max_waiting=1)
    results: list[bool] = []

    async def hold_then_leave(entered: threading.Event) -> None:
        assert await gate.enter(1)
        entered.set()
        await asyncio.sleep(0.05)
        gate.leave()

    async def wait_in_line() -> None:
        results.append(await gate.enter(10))
        results.append(await gate.enter(0.01))  # the line is empty, the slot is held: times out
        gate.leave()

    entered = threading.Event()
    holder = threading.Thread(target=lambda: asyncio.run(hold_then_leave(entered)))
    holder.start()
    assert entered.wait(10)

    async def full_line() -> None:
        waiter = asyncio.create_task(wait_in_line())
        await asyncio.sleep(0.01)
        assert not await gate.enter(5)  # one waits already: the line is full
        await waiter

    asyncio.run(full_line())
    holder.join(10)
    assert results == [True, False]
    assert gate.busy == 0


def test_the_guard_can_be_turned_off_for_benchmarks(
    sqlite_workspace: Workspace, parses: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(guard.GUARD_ENV, "off")
    client = TestClient(ingest_app(sqlite_workspace))
    try:
        r = client.post("/batch/", content=bomb(key_last=BOGUS, mb=1), headers=GZIP)
        assert r.status_code == 401
        assert len(parses) == 1  # parsed before the key was known, as before the guard
    finally:
        close_store(sqlite_workspace)


# --- finding the key in the bytes ----------------------------------------------------------

# Text that imitates a key member inside a string, to fool a scan of the bytes.
tricky_text = st.sampled_from(
    ['", "api_key": "po_x_y"}', '\\", "api_key": "v', '"api_key": "v"}', "\\", '"', "}"]
) | st.text(max_size=8)
json_scalars = st.none() | st.booleans() | st.integers() | tricky_text
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["api_key", "token", "a", 'x"', "\\"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    members=st.lists(
        st.tuples(st.sampled_from(["api_key", "batch", "sent_at", 'api_key"']), json_values),
        max_size=4,
    ),
    last=st.none() | tricky_text,
    indent=st.none() | st.integers(0, 2),
)
def test_the_first_or_last_member_found_in_the_bytes_is_what_the_parse_reads(
    members: list[tuple[str, Any]], last: str | None, indent: int | None
) -> None:
    obj = dict(members)
    if last is not None:
        obj.pop("api_key", None)
        obj["api_key"] = last
    text = json.dumps(obj, indent=indent).encode()
    parsed = json.loads(text)
    for found in (guard.tail_key(text, "api_key"), guard.head_key(text, "api_key")):
        assert found is None or found == parsed.get("api_key")
    if last and json.dumps(last) == f'"{last}"':  # written without escapes
        assert guard.tail_key(text, "api_key") == last


@settings(max_examples=200, deadline=None)
@given(noise=st.lists(json_values, max_size=4), at=st.integers(0, 4))
def test_a_key_anywhere_in_the_body_is_a_candidate(noise: list[Any], at: int) -> None:
    key = "po_0123456789ab_" + "c-_D" * 10 + "xyz"
    noise.insert(min(at, len(noise)), {"properties": {"token": key}})
    assert key in guard.key_candidates(json.dumps(noise).encode())
