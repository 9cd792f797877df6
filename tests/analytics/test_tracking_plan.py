"""The tracking plan: loading names each mistake's line, events are checked against it one by
one (at ingest) and in bulk (the violations report), and violating events can be held in
quarantine and released."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import ChoiceLoader, FileSystemLoader

from productops.analytics import store
from productops.analytics import tracking as tp
from productops.analytics.settings import events_file
from productops.analytics.tracking import routes as tracking_routes
from productops.core.models import Role
from productops.core.workspace import Workspace
from tests.conftest import api_key, sign_in

T0 = dt.datetime(2025, 3, 1, 12, 0)
TEMPLATES = Path(tp.__file__).parent / "templates"

PLAN = """\
naming: snake_case
events:
  signed_up:
    description: A person created an account
    properties:
      plan: {type: string, required: true, enum: [free, pro]}
      seats: integer
      email: {type: string, pattern: "^[^@]+@[^@]+$"}
      at: datetime
  order_completed:
    properties:
      total: {type: number, required: true}
      paid: boolean
      items: array
      address: object
  logged_out:
"""


def ev(
    name: str,
    props: dict[str, Any] | None = None,
    *,
    source: str = "segment",
    ts: dt.datetime = T0,
    event_id: str | None = None,
) -> store.Event:
    return store.Event(
        event_id=event_id or uuid.uuid4().hex,
        event=name,
        type="track",
        ts=ts,
        received_at=ts,
        distinct_id="u1",
        user_id="u1",
        source=source,
        properties=props or {},
    )


def put(ws: Workspace, events: list[store.Event]) -> None:
    con = store.connect(events_file(ws))
    try:
        store.append_arrow(con, store.events_to_arrow(events))
    finally:
        con.close()


def write_plan(ws: Workspace, text: str) -> None:
    (ws.path / tp.PLAN_FILE).write_text(text)


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    write_plan(sqlite_workspace, PLAN)
    yield sqlite_workspace
    store.close_writer(events_file(sqlite_workspace))


def kinds(violations: list[tp.Violation]) -> set[tuple[str | None, str]]:
    return {(v.property, v.kind.value) for v in violations}


def report_keys(rows: list[tp.ViolationSummary]) -> dict[tuple[str, str | None, str], int]:
    return {(r.event, r.property, r.kind.value): r.count for r in rows}


# --- loading -------------------------------------------------------------------------------


def test_each_mistake_in_the_plan_is_named_with_its_line() -> None:
    text = """\
quarantine: maybe
events:
  signed_up:
    properties:
      seats: {type: integer, requird: true}
      plan: {type: string, enum: [free, 3]}
  Signed Up:
    properties:
      plan: {type: strng}
      email: {type: string, pattern: "(?<=x)y"}
  signed_up:
"""
    with pytest.raises(tp.TrackingPlanError) as caught:
        tp.parse_plan(text)
    assert caught.value.errors == [
        "tracking-plan.yml line 1: quarantine: use true, false or a list of violation kinds",
        "tracking-plan.yml line 5: event 'signed_up': property 'seats': unknown key 'requird' "
        "(expected one of type, required, enum, allowed, pattern, description)",
        "tracking-plan.yml line 6: event 'signed_up': property 'plan': allowed value 3 is an "
        "integer, not a string (quote it)",
        "tracking-plan.yml line 7: event 'Signed Up': the plan already has 'signed_up' (line 3); "
        "names that differ only in case or separators are naming drift",
        "tracking-plan.yml line 9: event 'Signed Up': property 'plan': unknown type 'strng' "
        "(use one of string, number, integer, boolean, datetime, object, array)",
        "tracking-plan.yml line 10: event 'Signed Up': property 'email': the pattern '(?<=x)y' "
        "uses syntax DuckDB cannot run (look-arounds and back-references are not supported)",
        "tracking-plan.yml line 11: events: 'signed_up' appears twice",
    ]
    assert "line 9: event 'Signed Up': property 'plan': unknown type 'strng'" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("events: [a, b\n", "tracking-plan.yml line 2: not valid YAML"),
        ("", "tracking-plan.yml: the file is empty"),
        ("naming: snake_case\n", "tracking-plan.yml line 1: the plan has no 'events:' mapping"),
        ("naming: kebab\nevents: {}\n", "tracking-plan.yml line 1: naming: unknown convention"),
        (
            "naming: camelCase\nevents:\n  ok:\n  signed_up:\n",
            "tracking-plan.yml line 4: event 'signed_up': the name does not follow the camelCase",
        ),
        (
            "events:\n  a:\n    properties:\n      p: {required: true}\n",
            "tracking-plan.yml line 4: event 'a': property 'p': 'type' is missing",
        ),
        (
            "events:\n  a:\n    properties:\n      n: {type: number, pattern: x}\n",
            "tracking-plan.yml line 4: event 'a': property 'n': a pattern only applies to strings",
        ),
    ],
)
def test_a_broken_plan_is_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(tp.TrackingPlanError) as caught:
        tp.parse_plan(text)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_valid_plan_loads_its_events_properties_and_options(ws: Workspace) -> None:
    plan = tp.load_plan(ws)
    assert plan is not None
    assert list(plan.events) == ["signed_up", "order_completed", "logged_out"]
    props = {p.name: p for p in plan.events["signed_up"].properties}
    assert (props["plan"].type, props["plan"].required, props["plan"].allowed) == (
        "string",
        True,
        ("free", "pro"),
    )
    assert (props["seats"].type, props["seats"].required) == ("integer", False)
    assert props["email"].pattern == "^[^@]+@[^@]+$"
    assert plan.naming == "snake_case" and plan.quarantine == frozenset()
    assert plan.events["logged_out"].properties == ()


def test_no_plan_file_means_no_plan_and_an_edit_is_picked_up(ws: Workspace) -> None:
    assert tp.load_plan(ws) is not None
    write_plan(ws, "events:\n  only_this: {}\n" + " " * 40)
    plan = tp.load_plan(ws)
    assert plan is not None and list(plan.events) == ["only_this"]
    (ws.path / tp.PLAN_FILE).unlink()
    assert tp.load_plan(ws) is None
    assert tp.violations_report(ws) == []


# --- checking one event --------------------------------------------------------------------


@pytest.fixture
def plan() -> tp.TrackingPlan:
    return tp.parse_plan(PLAN)


def test_a_conforming_event_has_no_violations(plan: tp.TrackingPlan) -> None:
    full = {"plan": "pro", "seats": 3, "email": "a@b.co", "at": "2025-03-01T10:00:00Z"}
    assert tp.check_event(plan, ev("signed_up", full)) == []
    assert tp.check_event(plan, ev("signed_up", {"plan": "free", "seats": None})) == []
    order = {"total": 9.5, "paid": True, "items": [1], "address": {"city": "Lyon"}}
    assert tp.check_event(plan, ev("order_completed", order)) == []
    assert tp.check_event(plan, ev("logged_out", {"anything": 1})) == []
    assert tp.check_event(plan, ev("$pageview")) == []  # PostHog's own events are not checked


@pytest.mark.parametrize(
    ("name", "props", "expected"),
    [
        ("signed_up", {}, {("plan", "missing_property")}),
        ("signed_up", {"plan": None}, {("plan", "missing_property")}),
        ("signed_up", {"plan": "pro", "seats": "3"}, {("seats", "mistyped_property")}),
        ("signed_up", {"plan": "pro", "seats": 2.5}, {("seats", "mistyped_property")}),
        ("signed_up", {"plan": "gold"}, {("plan", "value_not_allowed")}),
        ("signed_up", {"plan": "pro", "email": "nope"}, {("email", "value_not_allowed")}),
        ("signed_up", {"plan": "pro", "at": "yesterday"}, {("at", "mistyped_property")}),
        ("signed_up", {"plan": 1}, {("plan", "mistyped_property")}),
        ("order_completed", {"total": "9.50"}, {("total", "mistyped_property")}),
        ("order_completed", {"total": True}, {("total", "mistyped_property")}),
        ("order_completed", {"total": 1, "paid": "yes"}, {("paid", "mistyped_property")}),
        ("order_completed", {"total": 1, "items": {}}, {("items", "mistyped_property")}),
        ("order_completed", {"total": 1, "address": []}, {("address", "mistyped_property")}),
        ("page_viewed", {}, {(None, "unknown_event")}),
        ("Signed Up", {}, {(None, "unknown_event"), (None, "naming_drift")}),
        ("pageViewed", {}, {(None, "unknown_event"), (None, "naming_drift")}),
    ],
)
def test_each_kind_of_violation_is_caught(
    plan: tp.TrackingPlan, name: str, props: dict[str, Any], expected: set[Any]
) -> None:
    assert kinds(tp.check_event(plan, ev(name, props))) == expected


def test_violations_say_what_was_expected(plan: tp.TrackingPlan) -> None:
    (mistyped,) = tp.check_event(plan, ev("order_completed", {"total": "9.50"}))
    assert (mistyped.detail, mistyped.value) == ("expected number, got string", '"9.50"')
    (drift,) = [v for v in tp.check_event(plan, ev("Signed Up")) if v.kind == "naming_drift"]
    assert drift.detail == "the plan names it 'signed_up'; breaks the snake_case convention"
    (odd,) = tp.check_event(plan, ev("signed_up", {"plan": "gold"}))
    assert odd.detail == 'one of "free", "pro"'


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Signed Up", "signed_up"),
        ("signed_up", "signed_up"),
        ("signedUp", "signed_up"),
        ("SignedUp", "signed_up"),
        ("signed-up ", "signed_up"),
        ("HTTPRequest Sent", "http_request_sent"),
        ("Sign Up", "sign_up"),
    ],
)
def test_names_that_differ_only_in_case_or_separators_share_a_key(name: str, key: str) -> None:
    assert tp.naming_key(name) == key


# --- the violations report over the store --------------------------------------------------


def test_the_report_counts_each_violation_by_source_with_first_and_last_seen(
    ws: Workspace,
) -> None:
    day = dt.timedelta(days=1)
    put(
        ws,
        [
            # conforming: nothing reported for these
            ev("signed_up", {"plan": "pro", "seats": 3}),
            ev("order_completed", {"total": 5, "paid": False}, source="posthog"),
            ev("logged_out"),
            ev("$pageview", source="posthog"),
            # violations
            ev("signed_up", {"plan": "gold"}, ts=T0 + day),
            ev("signed_up", {"plan": "platinum"}, source="posthog", ts=T0 + 3 * day),
            ev("signed_up", {"seats": "3"}, source="import", ts=T0 - day),
            ev("order_completed", {"total": "9.50"}, ts=T0 + 2 * day),
            ev("order_completed", {"total": "1"}, ts=T0 + 4 * day),
            ev("page_viewed", source="posthog"),
            ev("page_viewed", source="segment", ts=T0 + day),
        ],
    )
    rows = tp.violations_report(ws)
    assert report_keys(rows) == {
        ("signed_up", "plan", "value_not_allowed"): 2,
        ("order_completed", "total", "mistyped_property"): 2,
        ("page_viewed", None, "unknown_event"): 2,
        ("signed_up", "plan", "missing_property"): 1,
        ("signed_up", "seats", "mistyped_property"): 1,
    }
    assert [r.count for r in rows] == sorted((r.count for r in rows), reverse=True)
    by = {(r.event, r.property, r.kind.value): r for r in rows}
    enum = by["signed_up", "plan", "value_not_allowed"]
    assert enum.by_source == {"posthog": 1, "segment": 1}
    assert (enum.first_seen, enum.last_seen) == (T0 + day, T0 + 3 * day)
    assert enum.example == '"platinum"'  # the latest offending value
    total = by["order_completed", "total", "mistyped_property"]
    assert total.detail == "expected number, got string"
    assert total.example == '"1"'
    unknown = by["page_viewed", None, "unknown_event"]
    assert unknown.by_source == {"posthog": 1, "segment": 1}
    assert (unknown.first_seen, unknown.last_seen) == (T0, T0 + day)
    assert by["signed_up", "plan", "missing_property"].by_source == {"import": 1}

    in_range = tp.violations_report(ws, start=T0 + day, end=T0 + 3 * day)
    assert report_keys(in_range) == {
        ("signed_up", "plan", "value_not_allowed"): 1,
        ("order_completed", "total", "mistyped_property"): 1,
        ("page_viewed", None, "unknown_event"): 1,
    }


def test_naming_drift_groups_names_that_normalise_alike(ws: Workspace) -> None:
    put(
        ws,
        [ev("signed_up", {"plan": "pro"})]
        + [ev("Signed Up", {"plan": "pro"}) for _ in range(3)]
        + [ev("signedUp", {"plan": "pro"}, source="posthog")]
        + [ev("Order Completed", {"total": 1}), ev("orderCompleted", {"total": 1})]
        + [ev("Video Played"), ev("video_played")],
    )
    drift = {r.event: r for r in tp.violations_report(ws) if r.kind == "naming_drift"}
    assert set(drift) == {
        "Signed Up",
        "signedUp",
        "Order Completed",
        "orderCompleted",
        "Video Played",
        "video_played",
    }
    assert "signed_up" not in drift  # the planned name is the reference, not drift
    assert drift["Signed Up"].count == 3
    assert drift["Signed Up"].detail == (
        "the plan names it 'signed_up'; also sent as 'signedUp'; breaks the snake_case convention"
    )
    assert drift["signedUp"].by_source == {"posthog": 1}
    assert drift["video_played"].detail == "also sent as 'Video Played'"
    assert drift["Video Played"].detail == (
        "also sent as 'video_played'; breaks the snake_case convention"
    )


def test_a_name_that_only_breaks_the_convention_is_drift(ws: Workspace) -> None:
    put(ws, [ev("Page Viewed"), ev("page_viewed")])
    write_plan(ws, "events:\n  page_viewed:\n")  # no convention, planned name observed
    assert report_keys(tp.violations_report(ws)) == {
        ("Page Viewed", None, "unknown_event"): 1,
        ("Page Viewed", None, "naming_drift"): 1,
    }
    write_plan(ws, 'naming: "Title Case"\nevents:\n  Page Viewed:\n')
    assert report_keys(tp.violations_report(ws)) == {
        ("page_viewed", None, "unknown_event"): 1,
        ("page_viewed", None, "naming_drift"): 1,
    }


def test_hostile_property_names_and_quotes_do_not_break_the_report(ws: Workspace) -> None:
    write_plan(
        ws,
        "events:\n"
        '  "it\'s":\n'
        "    properties:\n"
        '      "a/b~c": {type: string, required: true}\n'
        '      "x\'); DROP TABLE events; --": {type: integer, enum: [1]}\n',
    )
    put(
        ws,
        [
            ev("it's", {"a/b~c": "ok", "x'); DROP TABLE events; --": 1}),
            ev("it's", {"a/b~c": 5, "x'); DROP TABLE events; --": 2}),
        ],
    )
    assert report_keys(tp.violations_report(ws)) == {
        ("it's", "a/b~c", "mistyped_property"): 1,
        ("it's", "x'); DROP TABLE events; --", "value_not_allowed"): 1,
    }


# The report runs in DuckDB, `check_event` in Python: they must agree on every value.
VALUES: list[Any] = [
    "x",
    "",
    "42",
    "pro",
    "a@b.co",
    "2025-03-01",
    "2025-03-01T10:00:00.123+02:00",
    "2025-03-01 10:00",
    "03/01/2025",
    42,
    -3,
    0,
    2.5,
    3.0,
    1e16,
    2**70,
    True,
    False,
    None,
    [],
    [1, "a"],
    {},
    {"a": {"b": 1}},
]
AGREEMENT_PLAN = """\
events:
  e:
    properties:
      s: string
      n: number
      i: integer
      b: boolean
      d: datetime
      o: object
      a: array
      req: {type: string, required: true}
      en: {type: string, enum: [pro, "42"]}
      ni: {type: integer, enum: [42, 0, 3]}
      bo: {type: boolean, enum: [true]}
      pat: {type: string, pattern: "^[a-z]+@[a-z.]+$"}
      dp: {type: datetime, pattern: "^2025-03"}
"""


def _agreement(con: Any, plan: tp.TrackingPlan, values: list[Any]) -> None:
    names = [p.name for p in plan.events["e"].properties]
    events = [ev("e", dict.fromkeys(names, v)) for v in values]
    con.execute("DELETE FROM events")
    store.append_arrow(con, store.events_to_arrow(events))
    expected = Counter(
        (v.event, v.property, v.kind.value) for e in events for v in tp.check_event(plan, e)
    )
    assert report_keys(tp.report_from(con, plan)) == dict(expected)


def test_the_report_and_check_event_agree_on_every_kind_of_value(tmp_path: Path) -> None:
    plan = tp.parse_plan(AGREEMENT_PLAN)
    con = store.connect(tmp_path / "e.duckdb")
    _agreement(con, plan, VALUES)
    # and the agreement is not vacuous: every kind of property violation occurs
    kinds_seen = {r.kind.value for r in tp.report_from(con, plan)}
    assert kinds_seen == {"missing_property", "mistyped_property", "value_not_allowed"}
    con.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["pro", "42", "2025-03-01", "2025-03-01T10:00:00Z", "a@b.co"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=3,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(json_values, min_size=1, max_size=12))
def test_the_report_and_check_event_agree_on_random_values(values: list[Any]) -> None:
    plan = tp.parse_plan(AGREEMENT_PLAN)
    con = store.connect(Path(":memory:"))
    try:
        _agreement(con, plan, values)
    finally:
        con.close()


# --- quarantine ----------------------------------------------------------------------------


def _count(ws: Workspace, table: str) -> int:
    with store.reader(events_file(ws)) as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def test_quarantine_holds_violating_events_and_release_lets_them_in_once(ws: Workspace) -> None:
    write_plan(ws, PLAN.replace("naming: snake_case", "naming: snake_case\nquarantine: true"))
    plan = tp.load_plan(ws)
    assert plan is not None
    good = ev("signed_up", {"plan": "pro"}, event_id="good")
    bad_type = ev("signed_up", {"plan": "pro", "seats": "3"}, event_id="bad-type")
    unknown = ev("Mystery Event", event_id="unknown", source="posthog")
    accepted, held = tp.split_for_quarantine(plan, [good, bad_type, unknown])
    assert accepted == [good]
    assert [(e.event_id, sorted(kinds(vs))) for e, vs in held] == [
        ("bad-type", [("seats", "mistyped_property")]),
        ("unknown", [(None, "naming_drift"), (None, "unknown_event")]),
    ]

    put(ws, accepted)
    con = store.connect(events_file(ws))
    try:
        assert tp.quarantine_events(con, [e for e, _ in held], [vs for _, vs in held]) == 2
        assert tp.quarantine_events(con, [e for e, _ in held], [vs for _, vs in held]) == 0
        row = con.execute("SELECT reasons FROM quarantine WHERE event_id = 'bad-type'").fetchone()
    finally:
        con.close()
    assert row is not None and json.loads(row[0])[0]["kind"] == "mistyped_property"
    assert (_count(ws, "events"), _count(ws, "quarantine")) == (1, 2)
    assert tp.quarantine_count(ws) == 2

    report = {(r.event, r.property, r.kind.value): r for r in tp.violations_report(ws)}
    assert report["signed_up", "seats", "mistyped_property"].quarantined == 1
    assert report["Mystery Event", None, "unknown_event"].quarantined == 1

    assert tp.release_quarantine(ws, ["bad-type", "no-such-id"]) == tp.ReleaseResult(1, 1)
    assert (_count(ws, "events"), _count(ws, "quarantine")) == (2, 1)
    assert tp.release_quarantine(ws, ["bad-type"]) == tp.ReleaseResult(0, 0)
    assert tp.release_quarantine(ws, "all") == tp.ReleaseResult(1, 1)
    assert tp.release_quarantine(ws, "all") == tp.ReleaseResult(0, 0)
    assert (_count(ws, "events"), _count(ws, "quarantine")) == (3, 0)

    with store.reader(events_file(ws)) as con:
        released = con.execute(
            "SELECT source, properties::VARCHAR FROM events WHERE event_id = 'bad-type'"
        ).fetchone()
    assert released == ("segment", '{"plan":"pro","seats":"3"}')
    after = {(r.event, r.property, r.kind.value): r for r in tp.violations_report(ws)}
    assert after["signed_up", "seats", "mistyped_property"].quarantined == 0
    assert after["signed_up", "seats", "mistyped_property"].count == 1


def test_releasing_an_event_already_stored_does_not_store_it_twice(ws: Workspace) -> None:
    late = ev("page_viewed", event_id="dup")
    con = store.connect(events_file(ws))
    try:
        tp.quarantine_events(con, [late], [[]])
    finally:
        con.close()
    put(ws, [late])  # the same event came in again after the plan changed
    assert tp.release_quarantine(ws, "all") == tp.ReleaseResult(released=1, inserted=0)
    assert (_count(ws, "events"), _count(ws, "quarantine")) == (1, 0)


def test_an_event_already_stored_is_not_quarantined_again(ws: Workspace) -> None:
    e = ev("page_viewed", event_id="seen")
    put(ws, [e])
    con = store.connect(events_file(ws))
    try:
        assert tp.quarantine_events(con, [e], [[]]) == 0
    finally:
        con.close()


def test_quarantine_only_holds_the_kinds_it_names(plan: tp.TrackingPlan) -> None:
    events = [ev("page_viewed"), ev("signed_up", {"plan": 5}), ev("signed_up", {"plan": "pro"})]
    assert tp.split_for_quarantine(plan, events) == (events, [])  # quarantine is off
    assert tp.split_for_quarantine(None, events) == (events, [])
    picky = tp.parse_plan(PLAN + "quarantine: [unknown_event]\n")
    accepted, held = tp.split_for_quarantine(picky, events)
    assert accepted == events[1:] and [e for e, _ in held] == events[:1]


# --- page and API --------------------------------------------------------------------------


def wire(app: FastAPI) -> None:
    """Until the analytics room is in `domains.DOMAINS`, add its page and templates here."""
    if any(getattr(r, "path", None) == "/insights/tracking-plan" for r in app.routes):
        return
    tracking_routes.register(app)
    loader = app.state.templates.env.loader
    assert isinstance(loader, ChoiceLoader)
    loader.loaders = [*loader.loaders, FileSystemLoader(str(TEMPLATES))]


HOSTILE_EVENT = '<script>alert("event")</script>'
HOSTILE_VALUE = "<img src=x onerror=alert(1)>"


def test_the_page_shows_the_plan_and_escapes_hostile_names(workspace: Workspace) -> None:
    write_plan(workspace, PLAN)
    put(
        workspace,
        [
            ev(HOSTILE_EVENT, source="posthog"),
            ev("signed_up", {"plan": HOSTILE_VALUE}),
            ev("signed_up", {"plan": "pro", "seats": "<b>3</b>"}),
        ],
    )
    viewer = sign_in(workspace, Role.viewer)
    wire(viewer.client.app)  # type: ignore[arg-type]
    r = viewer.client.get("/insights/tracking-plan")
    assert r.status_code == 200
    page = r.text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>3" not in page
    assert "&lt;script&gt;alert(&#34;event&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Unknown event" in page and "Value not allowed" in page and "Mistyped property" in page
    assert "order_completed" in page and "integer" in page  # the plan itself is shown
    store.close_writer(events_file(workspace))


def test_the_page_explains_a_missing_or_broken_plan(workspace: Workspace) -> None:
    viewer = sign_in(workspace, Role.viewer)
    wire(viewer.client.app)  # type: ignore[arg-type]
    assert (
        "has no <code>tracking-plan.yml</code>" in viewer.client.get("/insights/tracking-plan").text
    )
    write_plan(workspace, "events:\n  a:\n    properties:\n      p: <strng>\n")
    page = viewer.client.get("/insights/tracking-plan").text
    assert "tracking-plan.yml line 4: event &#39;a&#39;: property &#39;p&#39;: unknown type" in page


def test_the_api_returns_the_report_as_json_to_readers_only(workspace: Workspace) -> None:
    write_plan(workspace, PLAN)
    put(
        workspace, [ev("page_viewed", source="posthog"), ev("page_viewed", ts=T0 + dt.timedelta(1))]
    )
    viewer = sign_in(workspace, Role.viewer)
    wire(viewer.client.app)  # type: ignore[arg-type]
    client = viewer.client
    client.cookies.clear()
    r = client.get(
        "/api/v1/tracking-plan/violations",
        headers={"Authorization": f"Bearer {api_key(workspace, 'read')}"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["quarantined"] == 0
    assert body["violations"] == [
        {
            "event": "page_viewed",
            "property": None,
            "kind": "unknown_event",
            "detail": "not in the tracking plan",
            "count": 2,
            "quarantined": 0,
            "by_source": {"posthog": 1, "segment": 1},
            "first_seen": "2025-03-01T12:00:00Z",  # UTC, and saying so
            "last_seen": "2025-03-02T12:00:00Z",
            "example": None,
        }
    ]
    later = client.get(
        "/api/v1/tracking-plan/violations?start=2025-03-02",
        headers={"Authorization": f"Bearer {api_key(workspace, 'read')}"},
    )
    assert later.json()["violations"][0]["count"] == 1
    ingest_only = client.get(
        "/api/v1/tracking-plan/violations",
        headers={"Authorization": f"Bearer {api_key(workspace, 'ingest')}"},
    )
    assert ingest_only.status_code == 403
    assert client.get("/api/v1/tracking-plan/violations").status_code == 401
    (workspace.path / tp.PLAN_FILE).unlink()
    missing = client.get(
        "/api/v1/tracking-plan/violations",
        headers={"Authorization": f"Bearer {api_key(workspace, 'read')}"},
    )
    assert missing.status_code == 404 and "tracking-plan.yml" in missing.json()["detail"]


def test_quarantined_events_are_let_in_from_the_cli_and_the_page(
    sqlite_workspace: Workspace,
) -> None:
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from productops.analytics.ingest.cli import events_app
    from productops.web.app import create_app

    (sqlite_workspace.path / "tracking-plan.yml").write_text(
        "quarantine: true\nevents:\n  Signed Up:\n    properties:\n"
        "      plan: {type: string, required: true}\n"
    )
    key = api_key(sqlite_workspace, "ingest")
    client = TestClient(create_app(sqlite_workspace))
    bad = [
        {
            "type": "track",
            "event": "Signed Up",
            "userId": f"u{i}",
            "messageId": f"bad-{i}",
            "properties": {},
        }
        for i in range(3)
    ]
    assert client.post("/v1/batch", json={"writeKey": key, "batch": bad}).json()["quarantined"] == 3
    viewer = sign_in(sqlite_workspace, Role.viewer)
    assert "Let them in" not in viewer.client.get("/insights/tracking-plan").text
    assert viewer.post("/insights/tracking-plan/release").status_code == 403  # type: ignore[attr-defined]
    editor = sign_in(sqlite_workspace, Role.editor)
    assert "Let them in" in editor.client.get("/insights/tracking-plan").text
    r = editor.post("/insights/tracking-plan/release")
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert tp.quarantine_count(sqlite_workspace) == 0
    more = [dict(b, messageId=f"late-{i}") for i, b in enumerate(bad)]
    client.post("/v1/batch", json={"writeKey": key, "batch": more})
    store.close_writer(events_file(sqlite_workspace))
    out = CliRunner().invoke(
        events_app, ["release-quarantine", str(sqlite_workspace.path), "late-0", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"released": 1, "inserted": 1}
    with store.reader(events_file(sqlite_workspace)) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (4,)
