"""Ingest speaks Segment's and PostHog's HTTP protocols: keys, gzip, limits, bad input, and
exactly-once storage — driven through the ASGI app as a client would."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest
import schemathesis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from productops.analytics import ingest, store
from productops.analytics.settings import events_file
from productops.core import auth
from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import Workspace
from tests.analytics.ingest_support import basic, close_store, count, ingest_app, rows
from tests.conftest import api_key, sign_in


@dataclass
class Ingest:
    client: TestClient
    ws: Workspace
    key: str

    def segment(self, body: Any, path: str = "/v1/batch", **kw: Any) -> Any:
        return self.client.post(path, json=body, headers=basic(self.key), **kw)

    def posthog(self, body: dict[str, Any], path: str = "/batch/") -> Any:
        return self.client.post(path, json={"api_key": self.key, **body})


@pytest.fixture
def api(sqlite_workspace: Workspace) -> Iterator[Ingest]:
    ws = sqlite_workspace
    yield Ingest(TestClient(ingest_app(ws)), ws, api_key(ws, "ingest"))
    close_store(ws)


def track(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Report Exported",
        "userId": f"user-{n}",
        "messageId": str(uuid.uuid4()),
        "timestamp": "2025-03-01T12:00:00.000Z",
        "properties": {"format": "csv"},
        **extra,
    }


# --- keys and scopes -----------------------------------------------------------------------


def test_segment_batch_with_basic_auth_is_stored(api: Ingest) -> None:
    r = api.segment({"batch": [track(1), track(2)], "sentAt": "2025-03-01T12:00:00.000Z"})
    assert r.status_code == 200, r.text
    assert r.json() | {"rejected": []} == {
        "success": True,
        "received": 2,
        "stored": 2,
        "duplicates": 0,
        "quarantined": 0,
        "rejected_count": 0,
        "rejected": [],
    }
    assert rows(api.ws, "SELECT event, type, distinct_id, source FROM events ORDER BY 3") == [
        ("Report Exported", "track", "user-1", "segment"),
        ("Report Exported", "track", "user-2", "segment"),
    ]


def test_segment_write_key_in_the_body_is_accepted(api: Ingest) -> None:
    r = api.client.post("/v1/batch", json={"batch": [track()], "writeKey": api.key})
    assert r.status_code == 200, r.text
    assert count(api.ws) == 1


def test_posthog_key_in_api_key_or_token_is_accepted(api: Ingest) -> None:
    event = {"event": "$pageview", "distinct_id": "d1", "properties": {"$current_url": "/x"}}
    assert (
        api.client.post("/batch/", json={"api_key": api.key, "batch": [event]}).json()["stored"]
        == 1
    )
    r = api.client.post("/capture/", json={"token": api.key, **event, "uuid": str(uuid.uuid4())})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 1
    assert count(api.ws) == 2


@pytest.mark.parametrize("path", ["/e/", "/i/v0/e/", "/e", "/capture"])
def test_posthog_js_shapes_with_token_in_properties_are_accepted(api: Ingest, path: str) -> None:
    events = [
        {
            "event": "$pageview",
            "properties": {"distinct_id": "anon-1", "token": api.key, "$current_url": "/"},
            "timestamp": "2025-03-01T12:00:00Z",
            "uuid": str(uuid.uuid4()),
        }
    ]
    r = api.client.post(path, content=json.dumps(events), headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    # The project key never becomes readable event data.
    assert rows(api.ws, "SELECT distinct_id, properties->>'token' FROM events") == [
        ("anon-1", None)
    ]


def test_posthog_js_base64_form_body_is_accepted(api: Ingest) -> None:
    import base64

    payload = json.dumps(
        [{"event": "clicked", "properties": {"distinct_id": "a", "token": api.key}}]
    )
    data = base64.b64encode(payload.encode()).decode()
    r = api.client.post(
        "/e/", content=f"data={data}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 200, r.text
    assert count(api.ws, "event = 'clicked'") == 1


def test_unknown_missing_or_revoked_keys_are_refused_with_401(workspace: Workspace) -> None:
    client = TestClient(ingest_app(workspace))
    try:
        with transaction(workspace.sessions) as s:
            revoked = auth.create_api_key(s, "old", "ingest", actor="test")
            auth.revoke_api_key(s, revoked.id, actor="test")
        for headers, body in [
            (basic("po_abc_def"), {"batch": [track()]}),
            ({}, {"batch": [track()]}),
            ({}, {"batch": [track()], "writeKey": revoked.secret}),
            ({"Authorization": "Basic !!!"}, {"batch": [track()]}),
        ]:
            r = client.post("/v1/batch", json=body, headers=headers)
            assert r.status_code == 401, r.text
            assert r.json()["code"] == "unauthorized"
        r = client.post("/batch/", json={"api_key": "nope", "batch": []})
        assert r.status_code == 401
        assert count(workspace) == 0
    finally:
        close_store(workspace)


def test_a_key_without_the_ingest_scope_is_refused_with_403(workspace: Workspace) -> None:
    client = TestClient(ingest_app(workspace))
    try:
        for scope in ("read", "write"):
            r = client.post(
                "/v1/batch", json={"batch": [track()]}, headers=basic(api_key(workspace, scope))
            )
            assert r.status_code == 403, r.text
            assert "may not send events" in r.json()["message"]
        r = client.post(
            "/v1/batch", json={"batch": [track()]}, headers=basic(api_key(workspace, "admin"))
        )
        assert r.status_code == 200
        assert count(workspace) == 1
    finally:
        close_store(workspace)


def test_an_ingest_key_cannot_read_anything(workspace: Workspace) -> None:
    app = ingest_app(workspace)
    client = TestClient(app)
    bearer = {"Authorization": f"Bearer {api_key(workspace, 'ingest')}"}
    r = client.get("/api/v1/accounts", headers=bearer)
    assert r.status_code == 403, r.text
    # Every other listing of the API too ("/me" only describes the key itself).
    readable = [
        route.path
        for route in app.routes
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        and route.path.startswith("/api/v1/")
        and "{" not in route.path
        and route.path != "/api/v1/me"
    ]
    try:
        for path in readable:
            assert client.get(path, headers=bearer).status_code in (403, 422), path
    finally:
        close_store(workspace)


def test_ingest_needs_no_csrf_token_even_with_a_session_cookie(sqlite_workspace: Workspace) -> None:
    browser = sign_in(sqlite_workspace, Role.admin)
    try:
        key = api_key(sqlite_workspace, "ingest")
        r = browser.client.post("/v1/batch", json={"batch": [track()]}, headers=basic(key))
        assert r.status_code in (200, 404)  # 404 only until the shell app includes ingest
        if r.status_code == 404:
            client = TestClient(ingest_app(sqlite_workspace), cookies=browser.client.cookies)
            r = client.post("/v1/batch", json={"batch": [track()]}, headers=basic(key))
        assert r.status_code == 200, r.text
    finally:
        close_store(sqlite_workspace)


# --- every call ----------------------------------------------------------------------------


def test_each_segment_call_has_its_endpoint_and_type(api: Ingest) -> None:
    calls = {
        "track": {"event": "Signed Up", "userId": "u1"},
        "page": {"name": "Pricing", "anonymousId": "a1", "properties": {"path": "/pricing"}},
        "screen": {"name": "Home", "userId": "u1"},
        "identify": {"userId": "u1", "anonymousId": "a1", "traits": {"plan": "pro"}},
        "group": {"userId": "u1", "groupId": "acme", "traits": {"name": "Acme"}},
        "alias": {"previousId": "a2", "userId": "u1"},
    }
    for call, body in calls.items():
        r = api.segment({**body, "messageId": f"m-{call}"}, path=f"/v1/{call}")
        assert r.status_code == 200, (call, r.text)
        assert r.json()["stored"] == 1, call
    assert rows(api.ws, "SELECT type, event, account_id FROM events ORDER BY event_id") == [
        ("alias", "$create_alias", None),
        ("group", "$groupidentify", "acme"),
        ("identify", "$identify", None),
        ("page", "$pageview", None),
        ("screen", "$screen", None),
        ("track", "Signed Up", None),
    ]
    assert rows(api.ws, "SELECT properties->>'name' FROM events WHERE type = 'page'") == [
        ("Pricing",)
    ]
    # identify merged a1, alias merged a2, group put u1 in acme with its traits.
    assert rows(api.ws, "SELECT distinct_id, person_id FROM identities ORDER BY 1") == [
        ("a1", "u1"),
        ("a2", "u1"),
        ("u1", "u1"),
    ]
    assert rows(api.ws, "SELECT account_id, properties->>'name' FROM accounts") == [
        ("acme", "Acme")
    ]
    assert rows(api.ws, "SELECT person_id, account_id, properties->>'plan' FROM persons") == [
        ("u1", "acme", "pro")
    ]


def test_posthog_special_events_update_people_and_accounts(api: Ingest) -> None:
    batch = [
        {"event": "$pageview", "distinct_id": "anon-9", "properties": {}},
        {
            "event": "$identify",
            "distinct_id": "user-9",
            "properties": {"$anon_distinct_id": "anon-9", "$set": {"plan": "free"}},
        },
        {"event": "$set", "distinct_id": "user-9", "$set": {"plan": "pro"}, "properties": {}},
        {
            "event": "$groupidentify",
            "distinct_id": "user-9",
            "properties": {
                "$group_type": "company",
                "$group_key": "globex",
                "$group_set": {"name": "Globex"},
            },
        },
        {
            "event": "report_exported",
            "distinct_id": "user-9",
            "properties": {"$groups": {"project": "p1", "company": "globex"}},
        },
        {"event": "$create_alias", "distinct_id": "user-9", "properties": {"alias": "u9@x.com"}},
    ]
    r = api.posthog({"batch": batch})
    assert r.json()["stored"] == 6, r.text
    assert rows(api.ws, "SELECT count(DISTINCT person_id) FROM events_resolved") == [(1,)]
    assert rows(api.ws, "SELECT type, account_id FROM events WHERE event = 'report_exported'") == [
        ("track", "globex")
    ]
    assert rows(api.ws, "SELECT properties->>'plan' FROM persons WHERE person_id = 'user-9'") == [
        ("pro",)
    ]
    assert rows(api.ws, "SELECT properties->>'name' FROM accounts") == [("Globex",)]


# --- exactly once --------------------------------------------------------------------------


def test_resending_a_batch_adds_no_events(api: Ingest) -> None:
    body = {"batch": [track(i) for i in range(50)]}
    first = api.segment(body).json()
    again = api.segment(body).json()
    assert (first["stored"], first["duplicates"]) == (50, 0)
    assert (again["stored"], again["duplicates"]) == (0, 50)
    assert count(api.ws) == 50


def test_resending_messages_without_ids_adds_no_events(api: Ingest) -> None:
    segment = {"type": "track", "event": "x", "userId": "u", "timestamp": "2025-03-01T10:00:00Z"}
    posthog = {"event": "y", "distinct_id": "d", "timestamp": "2025-03-01T10:00:00Z"}
    for _ in range(2):
        assert api.segment({"batch": [segment]}).status_code == 200
        assert api.posthog({"batch": [posthog]}).status_code == 200
    assert count(api.ws) == 2


def test_a_message_repeated_inside_a_batch_is_stored_once(api: Ingest) -> None:
    message = track()
    r = api.segment({"batch": [message, message]})
    assert (r.json()["stored"], r.json()["duplicates"]) == (1, 1)


# --- bodies and limits ---------------------------------------------------------------------


def test_gzip_bodies_are_accepted(api: Ingest) -> None:
    body = gzip.compress(json.dumps({"batch": [track(1)]}).encode())
    r = api.client.post(
        "/v1/batch", content=body, headers={**basic(api.key), "Content-Encoding": "gzip"}
    )
    assert r.status_code == 200, r.text
    ph = gzip.compress(
        json.dumps({"api_key": api.key, "batch": [{"event": "e", "distinct_id": "d"}]}).encode()
    )
    r = api.client.post("/batch/?compression=gzip-js", content=ph)
    assert r.status_code == 200, r.text
    assert count(api.ws) == 2


def test_a_gzip_bomb_is_refused_without_inflating_it(api: Ingest) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * 200_000_000 + b"]}")
    assert len(bomb) < 512 * 1024
    r = api.client.post(
        "/v1/batch", content=bomb, headers={**basic(api.key), "Content-Encoding": "gzip"}
    )
    assert r.status_code == 413, r.text
    assert "decompressed" in r.json()["message"]


def test_broken_gzip_and_unknown_encodings_are_refused(api: Ingest) -> None:
    r = api.client.post(
        "/v1/batch", content=b"not gzip", headers={**basic(api.key), "Content-Encoding": "gzip"}
    )
    assert r.status_code == 400
    r = api.client.post(
        "/v1/batch", content=b"{}", headers={**basic(api.key), "Content-Encoding": "br"}
    )
    assert r.status_code == 415


def test_an_oversized_single_message_is_refused_with_413(api: Ingest) -> None:
    r = api.segment(track(properties={"blob": "x" * 40_000}), path="/v1/track")
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "too_large"
    assert count(api.ws) == 0


def test_an_oversized_batch_is_refused_with_413(api: Ingest) -> None:
    batch = [track(i, properties={"blob": "x" * 20_000}) for i in range(30)]
    r = api.segment({"batch": batch})
    assert r.status_code == 413, r.text
    assert "KiB" in r.json()["message"]
    assert count(api.ws) == 0


def test_an_oversized_message_in_a_batch_is_rejected_and_the_rest_kept(api: Ingest) -> None:
    r = api.segment({"batch": [track(1), track(2, properties={"blob": "x" * 40_000}), track(3)]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] == 2
    assert body["rejected"][0]["index"] == 1
    assert "limit is 32 KiB" in body["rejected"][0]["reason"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"batch": [{"x": NaN}]}', "NaN"),
        (b'{"batch": [{"x": 1e999}]}', "too large"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b'"just a string"', "must be a JSON object"),
        (b'{"batch": {"not": "a list"}}', "'batch' list"),
    ],
)
def test_malformed_bodies_get_400_with_the_problem_named(
    api: Ingest, content: bytes, words: str
) -> None:
    r = api.client.post("/v1/batch", content=content, headers=basic(api.key))
    assert r.status_code == 400, r.text
    assert words in r.json()["message"]
    assert r.json()["success"] is False


def test_events_without_any_user_id_are_rejected_and_the_rest_kept(api: Ingest) -> None:
    batch = [
        track(1),
        {"type": "track", "event": "x", "userId": None, "anonymousId": None},
        {"type": "track", "event": "x", "anonymousId": ""},
        track(2),
    ]
    body = api.segment({"batch": batch}).json()
    assert body["stored"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert all("neither 'userId' nor 'anonymousId'" in r["reason"] for r in body["rejected"])
    ph = api.posthog({"batch": [{"event": "x"}, {"event": "y", "distinct_id": "d"}]}).json()
    assert (ph["stored"], ph["rejected"]) == (
        1,
        [{"index": 0, "reason": "the event has no 'distinct_id'"}],
    )


def test_each_bad_message_gets_its_own_reason(api: Ingest) -> None:
    batch = [
        {"type": "frobnicate", "userId": "u"},
        {"type": "track", "userId": "u"},
        {"type": "track", "event": "x", "userId": "u", "timestamp": "yesterday"},
        {"type": "track", "event": "x", "userId": {"id": 1}},
        {"type": "track", "event": "x", "userId": "u", "properties": ["a"]},
        {"type": "alias", "userId": "u"},
        "not an object",
    ]
    reasons = [r["reason"] for r in api.segment({"batch": batch}).json()["rejected"]]
    assert len(reasons) == 7
    assert "'type' is \"frobnicate\"" in reasons[0]
    assert "needs an 'event' name" in reasons[1]
    assert "not an ISO 8601 time" in reasons[2]
    assert "'userId' is an object" in reasons[3]
    assert "'properties' is a list" in reasons[4]
    assert "previousId" in reasons[5]
    assert "JSON object" in reasons[6]


def test_deeply_nested_properties_are_refused_with_a_reason(api: Ingest) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    body = api.segment({"batch": [track(1, properties=deep), track(2)]}).json()
    assert body["stored"] == 1
    assert "nested deeper than 32 levels" in body["rejected"][0]["reason"]


def test_hostile_strings_are_stored_verbatim_and_never_run(api: Ingest) -> None:
    hostile = [
        "<script>alert(1)</script>",
        "'; DROP TABLE events; --",
        "Robert'); DELETE FROM persons;--",
        "nul\x00byte",
        "emoji 😀 and rtl \u202eevil",
        '=HYPERLINK("http://x")',
        "{{7*7}} ${jndi:ldap://x}",
    ]
    batch = [
        track(i, event=text, userId=text, properties={text: text}) for i, text in enumerate(hostile)
    ]
    body = api.segment({"batch": batch}).json()
    assert body["stored"] == len(hostile), body
    stored = rows(api.ws, "SELECT event, distinct_id, properties FROM events")
    assert sorted((e, d) for e, d, _ in stored) == sorted((t, t) for t in hostile)
    for event, _, props in stored:
        assert json.loads(props)[event] == event
    assert count(api.ws) == len(hostile)  # the tables are all still there


def test_unpaired_surrogates_are_rejected_and_the_rest_kept(api: Ingest) -> None:
    good = json.dumps(track(1))
    content = '{"batch": [' + good + ', {"type": "track", "event": "\\ud800", "userId": "u"}]}'
    body = api.client.post("/v1/batch", content=content, headers=basic(api.key)).json()
    assert body["stored"] == 1
    assert "not valid Unicode" in body["rejected"][0]["reason"]
    # Escaped emoji (a valid surrogate pair, as Python's json.dumps writes it) are fine.
    emoji = json.dumps({"batch": [track(2, event="party 🎉")]})
    assert "\\ud83c" in emoji
    assert api.client.post("/v1/batch", content=emoji, headers=basic(api.key)).json()["stored"] == 1


# --- times and accounts --------------------------------------------------------------------


def test_client_clock_skew_is_corrected(api: Ingest) -> None:
    # The device clock is an hour fast: it stamped the event 10 s before sending.
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    message = track(timestamp="2030-01-01T12:59:50Z")
    api.segment({"batch": [message], "sentAt": "2030-01-01T13:00:00Z"})
    (ts,) = rows(api.ws, "SELECT ts FROM events")[0]
    assert before - dt.timedelta(seconds=11) <= ts <= before + dt.timedelta(seconds=-9 + 5)


def test_without_sent_at_the_timestamp_is_kept_as_utc(api: Ingest) -> None:
    api.segment({"batch": [track(timestamp="2025-03-01T14:00:00+02:00")]})
    assert rows(api.ws, "SELECT ts FROM events") == [(dt.datetime(2025, 3, 1, 12, 0),)]


def test_segment_account_comes_from_the_context_group_id(api: Ingest) -> None:
    api.segment(
        {"batch": [track(1, context={"groupId": "acme"}), track(2, properties={"groupId": 7})]}
    )
    assert rows(api.ws, "SELECT account_id FROM events ORDER BY distinct_id") == [("acme",), ("7",)]


def test_cors_preflight_lets_browser_sdks_send(api: Ingest) -> None:
    r = api.client.options("/e/")
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"


# --- hostile input never corrupts the store ------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
times = (
    st.datetimes().map(dt.datetime.isoformat)
    | st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59.999999", "1969-12-31T23:59Z"])
    | st.integers()
    | st.text()
)
segment_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(ingest.SEGMENT_TYPES) | st.text(),
        "userId": st.text(min_size=1) | st.none() | json_values,
    },
    optional={
        "anonymousId": st.text(),
        "previousId": st.text(),
        "groupId": st.text() | json_values,
        "event": st.text(min_size=1) | json_values,
        "messageId": st.text(),
        "timestamp": times | json_values,
        "properties": st.dictionaries(st.text(), json_values) | json_values,
        "traits": st.dictionaries(st.text(), json_values) | json_values,
        "context": st.fixed_dictionaries({}, optional={"groupId": json_values}) | json_values,
    },
)
posthog_like = st.fixed_dictionaries(
    {
        "event": st.sampled_from(list(ingest.POSTHOG_TYPES)) | st.text(min_size=1),
        "distinct_id": st.text(min_size=1) | json_values,
    },
    optional={
        "uuid": st.text(),
        "timestamp": times | json_values,
        "offset": st.integers() | json_values,
        "$set": json_values,
        "properties": st.dictionaries(
            st.sampled_from(["$set", "$groups", "$group_key", "$group_set", "alias", "token"])
            | st.text(),
            json_values,
        ),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    segment=st.lists(segment_like, max_size=5),
    posthog=st.lists(posthog_like, max_size=5),
    sent_at=st.none() | times,
)
def test_any_message_is_either_stored_or_rejected_never_an_error(
    segment: list[dict[str, Any]], posthog: list[dict[str, Any]], sent_at: Any
) -> None:
    now = dt.datetime(2025, 3, 1, 12, 0)
    a = ingest.normalise_segment({"batch": segment, "sentAt": sent_at}, now)
    b = ingest.normalise_posthog({"batch": posthog, "sent_at": sent_at}, now)
    assert len(a.events) + len(a.rejected) == len(segment)
    assert len(b.events) + len(b.rejected) == len(posthog)
    # What the event writer does with them, as one group commit: it must never fail.
    con = duckdb.connect()
    con.execute(store.DDL)
    store.append_arrow(con, store.events_to_arrow(a.events + b.events))
    for update in a.identities + b.identities:
        store.apply_identity(con, update)
    con.close()


def test_times_out_of_range_are_rejected_and_the_rest_kept(api: Ingest) -> None:
    batch = [track(1, timestamp="0001-01-01T00:00:00Z"), track(2), track(3, timestamp="9999-01-01")]
    body = api.segment({"batch": batch}).json()
    assert body["stored"] == 1
    assert [r["index"] for r in body["rejected"]] == [0, 2]
    assert "out of range (1970 to 2099)" in body["rejected"][0]["reason"]


def _fuzz(operation: Any, headers: dict[str, str]) -> None:
    @settings(
        max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, (operation.path, response.text)
        case.validate_response(response)

    call()


def test_schemathesis_finds_no_server_error_in_the_ingest_api(api: Ingest) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api.client.app).include(
        tag="ingest"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11  # 7 Segment endpoints and 4 PostHog ones
    for operation in operations:
        _fuzz(operation, basic(api.key))


def test_events_breaking_the_tracking_plan_wait_in_quarantine(
    sqlite_workspace: Workspace,
) -> None:
    from productops.analytics import tracking as tracking_plan
    from productops.web.app import create_app

    (sqlite_workspace.path / "tracking-plan.yml").write_text(
        "quarantine: true\nevents:\n  Signed Up:\n    properties:\n"
        "      plan: {type: string, required: true}\n"
    )
    key = api_key(sqlite_workspace, "ingest")
    client = TestClient(create_app(sqlite_workspace))
    body = {
        "writeKey": key,
        "batch": [
            {
                "type": "track",
                "event": "Signed Up",
                "userId": "u1",
                "messageId": "ok-1",
                "properties": {"plan": "pro"},
            },
            {
                "type": "track",
                "event": "Signed Up",
                "userId": "u2",
                "messageId": "bad-1",
                "properties": {},
            },
        ],
    }
    r = client.post("/v1/batch", json=body)
    assert r.status_code == 200
    assert (r.json()["stored"], r.json()["quarantined"]) == (1, 1)
    with store.reader(events_file(sqlite_workspace)) as con:
        assert con.execute("SELECT event_id FROM events").fetchall() == [("ok-1",)]
        assert con.execute("SELECT event_id FROM quarantine").fetchall() == [("bad-1",)]
    assert client.post("/v1/batch", json=body).json()["stored"] == 0  # still exactly once
    released = tracking_plan.release_quarantine(sqlite_workspace, "all")
    assert released.inserted == 1
    with store.reader(events_file(sqlite_workspace)) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_an_id_already_identified_is_never_moved_to_another_person(
    sqlite_workspace: Workspace,
) -> None:
    from productops.web.app import create_app

    key = api_key(sqlite_workspace, "ingest")
    client = TestClient(create_app(sqlite_workspace))
    calls = [
        {"type": "track", "event": "Visit", "anonymousId": "dev1", "messageId": "m1"},
        {"type": "identify", "anonymousId": "dev1", "userId": "alice", "messageId": "m2"},
        {"type": "track", "event": "Report", "userId": "alice", "messageId": "m3"},
        # someone else signs in on the same browser, or a sender forges it
        {"type": "identify", "anonymousId": "dev1", "userId": "bob", "messageId": "m4"},
        {"type": "track", "event": "Report", "userId": "bob", "messageId": "m5"},
    ]
    for call in calls:
        assert client.post("/v1/batch", json={"writeKey": key, "batch": [call]}).status_code == 200
    with store.reader(events_file(sqlite_workspace)) as con:
        people = dict(
            con.execute("SELECT event_id, person_id FROM events_resolved ORDER BY 1").fetchall()
        )
    assert people["m1"] == "alice" and people["m3"] == "alice"  # alice keeps her history
    assert people["m5"] == "bob"
