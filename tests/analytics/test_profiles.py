"""Person and account profiles: a PM opens a person and sees their properties and their
events newest first (paged, filterable); opens an account and sees its people, activity,
last seen, features adopted and a usage-health score computed as documented; people lists
link to profiles. Traits and event properties are hostile (escaped), contact details are
only for people.pii, and only signed-in people and read keys see any of it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from productops import customers
from productops.analytics import store
from productops.analytics.profiles.service import (
    account_profile,
    event_condition,
    health_score,
    is_contact_trait,
    person_events,
    person_profile,
)
from productops.analytics.settings import events_file
from productops.core.db import transaction
from productops.core.errors import InvalidInput
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.customers.schemas import AccountCreate, PersonCreate
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

END = dt.date(2026, 10, 31)
XSS = '<img src=x onerror=alert("pwn")>'
SCRIPT = "<script>alert('timeline')</script>"


def _at(days_ago: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(END - dt.timedelta(days=days_ago), dt.time(hour))


def _fill(ws: Workspace) -> None:
    """acme: ana (active on 12 days of the last 30, 3 features), ben (once, 40 days ago);
    solo: an account with nobody in it. 120 events for ana, so the timeline pages."""
    events = []
    features = ["Report Created", "Export Downloaded", "Invite Sent"]
    for i in range(120):
        day = i % 12 * 2  # 12 distinct days within the last 24
        events.append(
            store.Event(
                event_id=f"ana-{i:03d}",
                event=features[i % 3] if i % 4 else "Page Viewed",
                type="track",
                ts=_at(day, hour=8 + i % 10),
                received_at=_at(day),
                distinct_id="ana",
                user_id="ana",
                account_id="acme",
                properties={
                    "n": i,
                    "html": XSS,
                    "note": SCRIPT,
                    "plan": "pro" if i < 60 else "free",
                },
            )
        )
    events.append(
        store.Event(
            event_id="ben-1",
            event="Report Created",
            type="track",
            ts=_at(40),
            received_at=_at(40),
            distinct_id="ben",
            user_id="ben",
            account_id="acme",
            properties={},
        )
    )
    con = store.connect(events_file(ws))
    try:
        store.append_arrow(con, store.events_to_arrow(events))
        now = dt.datetime(2026, 11, 1)
        store.upsert_person(con, "ana", {"country": XSS, "email": "ana@acme.example"}, "acme", now)
        store.upsert_person(con, "ben", {"country": "FR"}, "acme", now)
    finally:
        con.close()
    with transaction(ws.sessions) as s:
        customers.create_account(
            s, AccountCreate(external_id="acme", name="Acme", plan="pro"), actor="t"
        )
        customers.create_person(
            s,
            PersonCreate(
                external_id="ana", account_external_id="acme", email="ana@acme.example", name="Ana"
            ),
            actor="t",
        )


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    _fill(sqlite_workspace)
    yield sqlite_workspace
    store.close_writer(events_file(sqlite_workspace))


def test_a_persons_profile_has_properties_account_and_events(ws: Workspace) -> None:
    p = person_profile(ws, "ana", show_contact=True)
    assert p.account_id == "acme" and p.account_name == "Acme"
    assert p.events == 120
    assert p.properties["email"] == "ana@acme.example"
    assert p.last_seen == max(_at(i % 12 * 2, 8 + i % 10) for i in range(120))
    hidden = person_profile(ws, "ana", show_contact=False)
    assert "email" not in hidden.properties and "name" not in hidden.properties
    assert hidden.properties["country"] == XSS  # kept as text; the page escapes it


def test_a_profile_lists_the_cohorts_the_person_belongs_to(ws: Workspace) -> None:
    from productops.analytics.cohorts import service as cohorts

    with transaction(ws.sessions) as s:
        cohorts.create_cohort(s, "Hand-picked", people=["ana"], actor="t")
        cohorts.create_cohort(
            s,
            "Inviters",
            definition={"rules": [{"type": "did", "event": "Invite Sent", "days": 30}]},
            actor="t",
        )
        cohorts.create_cohort(s, "Others", people=["ben"], actor="t")
    assert [c["name"] for c in person_profile(ws, "ana").cohorts] == ["Hand-picked", "Inviters"]
    assert [c["name"] for c in person_profile(ws, "ben").cohorts] == ["Others"]
    viewer = sign_in(ws, Role.viewer)
    page = viewer.client.get("/insights/people/ana").text
    assert "Hand-picked" in page and "Inviters" in page and "In no saved cohort" not in page


def test_the_timeline_is_newest_first_paged_and_filterable(ws: Workspace) -> None:
    seen: list[tuple[dt.datetime, str]] = []
    page = person_events(ws, "ana", limit=50)
    while True:
        seen += [(e.ts, e.event_id) for e in page.events]
        if page.next_cursor is None:
            break
        page = person_events(ws, "ana", limit=50, before=page.next_cursor)
    assert len(seen) == 120 and len(set(seen)) == 120  # every event once
    assert seen == sorted(seen, reverse=True)  # newest first, ties by id
    only = person_events(ws, "ana", event="Invite Sent", limit=500).events
    assert only and {e.event for e in only} == {"Invite Sent"}
    day = END - dt.timedelta(days=2)
    one_day = person_events(ws, "ana", start=day, end=day, limit=500).events
    assert one_day and all(e.ts.date() == day for e in one_day)


def test_an_accounts_profile_has_people_activity_features_and_health(ws: Workspace) -> None:
    a = account_profile(ws, "acme", end=END)
    assert a.name == "Acme" and a.people_count == 2
    assert [p.person_id for p in a.people] == ["ana", "ben"]  # last seen first
    assert a.people[0].active_days_30 == 12 and a.people[1].active_days_30 == 0
    assert a.last_seen == person_profile(ws, "ana").last_seen
    features = {f.event: f for f in a.features}
    assert set(features) == {"Report Created", "Export Downloaded", "Invite Sent"}  # no page views
    assert features["Report Created"].people == 2
    assert all(f.adopted for f in features.values())
    assert sum(w["events"] for w in a.activity) == 121
    # The score, part by part, as docs/profiles.md says: 1 of 2 people active (20 of 40),
    # a median of 12 active days (30 of 30), 1 active against 1 before (15 of 15),
    # 3 features (9 of 15).
    assert [(p.name, p.points) for p in a.health.parts] == [
        ("breadth", 20.0),
        ("frequency", 30.0),
        ("trend", 15.0),
        ("features", 9.0),
    ]
    assert a.health.score == 74 and a.health.band == "healthy"


def test_the_health_score_bands() -> None:
    end = END
    assert health_score(10, 0, 0, [], 0, end).band == "no usage"
    assert health_score(10, 0, 5, [], 0, end).score == 0  # everybody left
    low = health_score(10, 2, 8, [1, 2], 1, end)
    assert low.band == "at risk" and low.score == 8 + 5 + 0 + 3
    mid = health_score(10, 5, 5, [4, 4, 4, 4, 4], 2, end)
    assert mid.band == "watch" and mid.score == 20 + 12 + 15 + 6


def test_contact_traits_are_recognised() -> None:
    for key in ("email", "Email", "$email", "phone", "first_name", "last_name", "name", "ip"):
        assert is_contact_trait(key), key
    for key in ("plan", "country", "company_size", "username_length"):
        assert not is_contact_trait(key), key


def test_the_person_page_escapes_hostile_traits_and_properties(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer)
    page = viewer.client.get("/insights/people/ana")
    assert page.status_code == 200
    assert XSS not in page.text and "&lt;img src=x" in page.text
    assert "ana@acme.example" not in page.text  # a viewer has no people.pii
    assert page.text.count("<li>") >= 50 and "Older events" in page.text
    more = re.search(r'hx-get="(/insights/people/ana\?before=[^"]+)"', page.text)
    assert more is not None
    fragment = viewer.client.get(
        more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert XSS not in fragment.text and fragment.text.count("<time") == 50
    admin = sign_in(ws, Role.admin)
    assert "ana@acme.example" in admin.client.get("/insights/people/ana").text
    filtered = viewer.client.get("/insights/people/ana?event=Invite+Sent")
    assert "Export Downloaded</strong>" not in filtered.text
    assert viewer.client.get("/insights/people/nobody").status_code == 404


def test_the_account_page_links_to_usage_and_people_to_their_profiles(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer)
    with ws.sessions() as s:
        account_id = customers.account_by_external_id(s, "acme").id
    record = viewer.client.get(f"/accounts/{account_id}").text
    assert "Usage health" in record and 'href="/insights/accounts/acme"' in record
    assert 'href="/insights/people/ana"' in record  # the account's people list
    usage = viewer.client.get("/insights/accounts/acme")
    assert usage.status_code == 200
    assert "Usage health" in usage.text and 'href="/insights/people/ben"' in usage.text
    assert "Invite Sent" in usage.text and 'data-chart="activity-spec"' in usage.text
    assert viewer.client.get("/insights/accounts/nowhere").status_code == 404


def test_profiles_over_the_api(ws: Workspace) -> None:
    client = TestClient(create_app(ws))
    read = {"Authorization": f"Bearer {api_key(ws, 'read')}"}
    ingest = {"Authorization": f"Bearer {api_key(ws, 'ingest')}"}
    assert client.get("/api/v1/profiles/people/ana").status_code == 401
    assert client.get("/api/v1/profiles/people/ana", headers=ingest).status_code == 403
    person = client.get("/api/v1/profiles/people/ana", headers=read)
    assert person.status_code == 200
    body = person.json()
    assert body["account_id"] == "acme" and "email" not in body["properties"]
    assert body["url"] == "/insights/people/ana"
    events = client.get("/api/v1/profiles/people/ana/events?limit=100", headers=read).json()
    assert len(events["events"]) == 100 and events["next_cursor"]
    rest = client.get(
        f"/api/v1/profiles/people/ana/events?limit=100&before={events['next_cursor']}",
        headers=read,
    ).json()
    assert len(rest["events"]) == 20 and rest["next_cursor"] is None
    bad = client.get("/api/v1/profiles/people/ana/events?before=garbage", headers=read)
    assert bad.status_code == 422
    account = client.get("/api/v1/profiles/accounts/acme", headers=read).json()
    assert account["health"]["band"] in ("healthy", "watch", "at risk")
    assert account["people_count"] == 2
    assert client.get("/api/v1/profiles/accounts/none", headers=read).status_code == 404


def test_the_timeline_filters_by_an_event_property(ws: Workspace) -> None:
    low = person_events(ws, "ana", where=[event_condition("n", "lt", "10")], limit=500).events
    assert sorted(e.properties["n"] for e in low) == list(range(10))
    both = person_events(
        ws, "ana", event="Invite Sent", where=[event_condition("event.plan", "eq", "pro")]
    ).events
    assert both and all(e.event == "Invite Sent" and e.properties["n"] < 60 for e in both)
    listed = person_events(ws, "ana", where=[event_condition("n", "in", "3, 5,7")]).events
    assert sorted(e.properties["n"] for e in listed) == [3, 5, 7]
    assert person_events(ws, "ana", where=[event_condition("nope", "is_set")]).events == []
    with pytest.raises(InvalidInput, match="not an operator"):
        event_condition("n", "like", "1")
    with pytest.raises(InvalidInput, match="at most 200"):
        event_condition("plan", "eq", "x" * 5000)
    with pytest.raises(InvalidInput, match="needs a number"):
        event_condition("n", "gt", "lots")
    with pytest.raises(InvalidInput, match="name the property"):
        event_condition("", "eq", "pro")


def test_the_person_page_filters_its_timeline_and_pages_with_the_filters(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer).client
    page = viewer.get("/insights/people/ana")
    # the event menu offers every event ana did, the property menu every comparison
    for name in ("Report Created", "Export Downloaded", "Invite Sent", "Page Viewed"):
        assert f'<option value="{name}">' in page.text
    assert '<option value="not_in">not in</option>' in page.text
    q = {"prop": "n", "op": "gte", "value": "30", "start": "2026-10-01", "end": "2026-10-31"}
    first = viewer.get("/insights/people/ana", params=q)
    assert first.status_code == 200 and first.text.count("<time") == 50
    assert 'value="30"' in first.text and "Clear filters" in first.text
    more = re.search(r'hx-get="(/insights/people/ana\?[^"]+)"', first.text)
    assert more is not None
    link = more.group(1).replace("&amp;", "&")
    for kept in ("prop=n", "op=gte", "value=30", "start=2026-10-01", "end=2026-10-31"):
        assert kept in link, link
    rest = viewer.get(link, headers={"HX-Request": "true"})
    assert rest.status_code == 200 and rest.text.count("<time") == 40  # n 30..119: 90 in all
    assert "Older events" not in rest.text
    shown = [int(n) for n in re.findall(r"<dt><code>n</code></dt><dd>(\d+)</dd>", rest.text)]
    assert len(shown) == 40 and min(shown) >= 30
    none = viewer.get("/insights/people/ana", params={"prop": "plan", "value": "enterprise"})
    assert none.status_code == 200 and "No events match these filters" in none.text


def test_a_bad_timeline_filter_is_named_beside_the_form(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer).client
    cases = {
        ("n", "like", "1"): "not an operator",
        ("plan", "eq", "p" * 3000): "at most 200",
        ("n", "gt", "lots"): "needs a number",
        ("it's", "eq", "x"): "property name",
    }
    for (prop, op, value), message in cases.items():
        page = viewer.get("/insights/people/ana", params={"prop": prop, "op": op, "value": value})
        assert page.status_code == 422, (prop, op, page.text[:300])
        assert message in page.text and 'id="tl-error"' in page.text
        assert 'id="timeline"' in page.text  # the page, its form and profile, not an error page
    backwards = viewer.get(
        "/insights/people/ana", params={"start": "2026-10-09", "end": "2026-10-01"}
    )
    assert backwards.status_code == 422 and "is after the last day" in backwards.text
    huge = viewer.get("/insights/people/ana", params={"prop": "plan", "value": "v" * 20_000})
    assert huge.status_code == 422 and "at most 10000 characters" in huge.text


def test_hostile_properties_and_filters_show_escaped_on_the_timeline(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer).client
    page = viewer.get(
        "/insights/people/ana", params={"prop": "note", "op": "contains", "value": SCRIPT}
    )
    assert page.status_code == 200 and page.text.count("<time") == 50
    assert SCRIPT not in page.text
    assert "&lt;script&gt;alert(&#39;timeline&#39;)&lt;/script&gt;" in page.text
    assert XSS not in page.text
    hostile_key = viewer.get("/insights/people/ana", params={"prop": "<script>x</script>"})
    assert hostile_key.status_code == 422  # a key without a value: named, and echoed as text
    assert "<script>x</script>" not in hostile_key.text
    assert 'value="&lt;script&gt;x&lt;/script&gt;"' in hostile_key.text


def test_the_timeline_filters_need_a_signed_in_caller_over_the_api_too(ws: Workspace) -> None:
    anon = TestClient(create_app(ws), follow_redirects=False)
    page = anon.get("/insights/people/ana", params={"prop": "n", "op": "lt", "value": "5"})
    assert page.status_code in (302, 303) and "/login" in page.headers["location"]
    url = "/api/v1/profiles/people/ana/events"
    assert anon.get(url, params={"prop": "n", "op": "lt", "value": "5"}).status_code == 401
    read = {"Authorization": f"Bearer {api_key(ws, 'read')}"}
    got = anon.get(url, params={"prop": "n", "op": "lt", "value": "5"}, headers=read)
    assert got.status_code == 200
    assert sorted(e["properties"]["n"] for e in got.json()["events"]) == [0, 1, 2, 3, 4]
    paged = anon.get(
        url, params={"prop": "plan", "value": "free", "limit": 50}, headers=read
    ).json()
    assert len(paged["events"]) == 50 and paged["next_cursor"]
    rest = anon.get(
        url,
        params={"prop": "plan", "value": "free", "limit": 50, "before": paged["next_cursor"]},
        headers=read,
    ).json()
    assert len(rest["events"]) == 10 and rest["next_cursor"] is None
    bad = anon.get(url, params={"prop": "n", "op": "like", "value": "1"}, headers=read)
    assert bad.status_code == 422 and "not an operator" in bad.json()["detail"][0]["msg"]
    assert anon.post(url, headers=read).status_code == 405  # nothing to write here


def test_the_account_page_draws_whole_weeks_and_shows_only_known_traits(ws: Workspace) -> None:
    import json

    viewer = sign_in(ws, Role.viewer).client
    usage = viewer.get("/insights/accounts/acme").text
    found = re.search(r'<script type="application/json" id="activity-spec">(.*?)</script>', usage)
    assert found is not None
    spec = json.loads(found.group(1))
    week = spec["data"]["values"][0]
    # each bar spans its week from 0 (not a hairline at its Monday), counted in whole people
    assert spec["encoding"]["x2"] == {"field": "week_end"} and spec["encoding"]["y2"]["datum"] == 0
    spans = dt.date.fromisoformat(week["week_end"]) - dt.date.fromisoformat(week["week"])
    assert spans == dt.timedelta(days=6)
    assert spec["encoding"]["y"]["axis"]["format"] == "d"
    assert "20 / 40" in usage and "20.0 / 40" not in usage  # the health parts, as people read them
    assert "<dt>domain</dt>" not in usage and ">None<" not in usage  # no empty traits
    assert "<dt>plan</dt><dd>pro</dd>" in usage
