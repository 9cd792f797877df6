"""The analyses give the numbers worked out by hand for a small, known story, count an
anonymous visitor who signs up as one person, show the SQL behind every number, and the
insights API serves the same numbers to readers only.

The story (January 2024; weeks start on Monday, W1 = Jan 1-7 ... W5 = Jan 29-31):
- alice visits anonymously (Chrome) on Jan 1, signs up five minutes later, then reports on
  Jan 2, Jan 9 and Jan 23. Account acme (plan pro), country DE.
- bob visits (Firefox) Jan 1, signs up Jan 3, visits again Jan 16. Account beta (free), US.
- carol visits (Chrome) Jan 8, signs up Jan 30 (22 days later), reports Jan 31. Her profile
  has no account; her events carry acme. Country DE.
- erin (anonymous, no profile) visits (Safari) Jan 2 08:00, reports 08:30, signs up 09:00.
- dave only identifies (Jan 5): never active.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient

from productops.analytics import analyses as A
from productops.analytics import store
from productops.analytics.analyses import routes as insights_routes
from productops.analytics.settings import events_file
from productops.core.errors import InvalidInput
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

JAN1, JAN31 = dt.date(2024, 1, 1), dt.date(2024, 1, 31)
WEEKS = [dt.date(2024, 1, d) for d in (1, 8, 15, 22, 29)]


def _ev(n: int, name: str, when: str, did: str, **kw: Any) -> store.Event:
    ts = dt.datetime.fromisoformat(f"2024-{when}")
    return store.Event(
        event_id=f"e{n}",
        event=name,
        type=kw.pop("type", "track"),
        ts=ts,
        received_at=ts,
        distinct_id=did,
        user_id=None if did.startswith(("a-", "erin")) else did,
        anonymous_id=did if did.startswith(("a-", "erin")) else None,
        source="test",
        **kw,
    )


STORY = [
    _ev(1, "$pageview", "01-01T10:00", "a-1", properties={"$browser": "Chrome"}),
    _ev(2, "signup", "01-01T10:05", "alice", account_id="acme"),
    _ev(3, "report", "01-02T09:00", "alice", account_id="acme"),
    _ev(4, "report", "01-09T09:00", "alice", account_id="acme"),
    _ev(5, "report", "01-23T09:00", "alice", account_id="acme"),
    _ev(6, "$pageview", "01-01T11:00", "bob", properties={"$browser": "Firefox"}),
    _ev(7, "signup", "01-03T11:00", "bob", account_id="beta"),
    _ev(8, "$pageview", "01-16T11:00", "bob", properties={"$browser": "Firefox"}),
    _ev(9, "$pageview", "01-08T12:00", "carol", properties={"$browser": "Chrome"}),
    _ev(10, "signup", "01-30T12:00", "carol", account_id="acme"),
    _ev(11, "report", "01-31T12:00", "carol", account_id="acme"),
    _ev(12, "$identify", "01-05T12:00", "dave", type="identify"),
    _ev(13, "$pageview", "01-02T08:00", "erin-anon", properties={"$browser": "Safari"}),
    _ev(14, "report", "01-02T08:30", "erin-anon"),
    _ev(15, "signup", "01-02T09:00", "erin-anon"),
]
IDENTITIES = [
    store.IdentityUpdate("identify", "a-1", "alice", account_id="acme", traits={"country": "DE"}),
    store.IdentityUpdate("identify", "bob", "bob", account_id="beta", traits={"country": "US"}),
    store.IdentityUpdate("identify", "carol", "carol", traits={"country": "DE"}),
    store.IdentityUpdate("identify", "dave", "dave"),
    store.IdentityUpdate("group", account_id="acme", traits={"plan": "pro"}),
    store.IdentityUpdate("group", account_id="beta", traits={"plan": "free"}),
]


def write_story(path: Path) -> None:
    con = store.connect(path)
    try:
        store.append_arrow(con, store.events_to_arrow(STORY))
        for update in IDENTITIES:
            store.apply_identity(con, update)
    finally:
        con.close()


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path = tmp_path_factory.mktemp("story") / "events.duckdb"
    write_story(path)
    con = store.connect(path, read_only=True)
    yield ibis.duckdb.from_connection(con)
    con.close()


def column(result: A.Insight, name: str) -> list[Any]:
    return list(result.data[name])


def funnel_counts(result: A.Insight) -> dict[str, list[int]]:
    return {
        str(b): [int(n) for n in g.sort_values("step")["persons"]]
        for b, g in result.data.groupby("breakdown")
    }


def cells(result: A.Insight) -> dict[tuple[dt.date, int], int]:
    return {
        (c, int(p)): int(n)
        for c, p, n in result.data[["cohort", "period", "persons"]].itertuples(index=False)
    }


# --- active users ------------------------------------------------------------------------


def test_an_anonymous_visit_and_the_sign_up_after_it_are_one_person(story: Any) -> None:
    weekly = A.active_users(story, JAN1, JAN31, grain="week")
    assert column(weekly, "period") == WEEKS
    assert column(weekly, "active_persons") == [3, 2, 1, 1, 1]


def test_daily_and_monthly_active_users_fill_quiet_days_with_zero(story: Any) -> None:
    daily = A.active_users(story, JAN1, dt.date(2024, 1, 10), grain="day")
    assert column(daily, "active_persons") == [2, 2, 1, 0, 0, 0, 0, 1, 1, 0]
    monthly = A.active_users(story, JAN1, JAN31, grain="month")
    assert column(monthly, "active_persons") == [4]


def test_identify_calls_do_not_make_anyone_active(story: Any) -> None:
    daily = A.active_users(story, dt.date(2024, 1, 5), dt.date(2024, 1, 5))
    assert column(daily, "active_persons") == [0]  # dave's $identify only


def test_the_activity_definition_decides_who_is_active(story: Any) -> None:
    only_reports = A.ActivityFilter(events=["report"])
    weekly = A.active_users(story, JAN1, JAN31, grain="week", activity=only_reports)
    assert column(weekly, "active_persons") == [2, 1, 0, 1, 1]


def test_rolling_wau_and_mau_count_the_days_ending_each_day(story: Any) -> None:
    rolling = A.rolling_active_users(story, JAN1, JAN31).data.set_index("day")
    assert rolling.loc[dt.date(2024, 1, 7), "wau"] == 3
    assert rolling.loc[dt.date(2024, 1, 8), "wau"] == 4  # Jan 2-8: alice, bob, erin, carol
    assert rolling.loc[dt.date(2024, 1, 9), "wau"] == 3
    assert rolling.loc[dt.date(2024, 1, 10), "wau"] == 2
    assert rolling.loc[dt.date(2024, 1, 1), "dau"] == 2
    assert rolling.loc[dt.date(2024, 1, 31), "mau"] == 4
    assert len(rolling) == 31


# --- stickiness --------------------------------------------------------------------------


def test_stickiness_counts_people_by_days_active(story: Any) -> None:
    result = A.stickiness(story, JAN1, JAN31)
    days = result.days_active
    hist = dict(zip(column(days, "active_periods"), column(days, "persons"), strict=True))
    assert len(hist) == 31
    assert {k: v for k, v in hist.items() if v} == {1: 1, 3: 2, 4: 1}
    weekly = A.stickiness(story, JAN1, JAN31, grain="week").days_active
    assert column(weekly, "persons") == [1, 2, 1, 0, 0]


def test_dau_mau_ratio(story: Any) -> None:
    ratio = A.stickiness(story, JAN1, JAN31).ratio.data.set_index("day")
    assert ratio.loc[dt.date(2024, 1, 1), "dau_mau"] == 1.0
    assert ratio.loc[dt.date(2024, 1, 8), "dau_mau"] == 0.25
    assert ratio.loc[dt.date(2024, 1, 4), "dau_mau"] == 0.0


# --- adoption ----------------------------------------------------------------------------


def adoption_rows(result: A.Insight) -> dict[str, tuple[int, int, float]]:
    return {
        r.segment: (int(r.active), int(r.adopters), float(r.adoption_rate))
        for r in result.data.itertuples()
    }


def test_feature_adoption_by_account_plan(story: Any) -> None:
    result = A.adoption(story, "report", JAN1, JAN31, segment="account.plan")
    # carol's profile has no account: the account her events carry (acme, pro) is used
    assert adoption_rows(result) == {
        "(none)": (1, 1, 1.0),
        "free": (1, 0, 0.0),
        "pro": (2, 2, 1.0),
    }


def test_feature_adoption_by_person_trait_and_by_account(story: Any) -> None:
    by_country = A.adoption(story, "report", JAN1, JAN31, segment="person.country")
    assert adoption_rows(by_country) == {
        "(none)": (1, 1, 1.0),
        "DE": (2, 2, 1.0),
        "US": (1, 0, 0.0),
    }
    accounts = A.adoption(story, "report", JAN1, JAN31, segment="account.plan", unit="account")
    assert adoption_rows(accounts) == {"free": (1, 0, 0.0), "pro": (1, 1, 1.0)}
    overall = A.adoption(story, "report", JAN1, JAN31, segment=None)
    assert adoption_rows(overall) == {"all": (4, 3, 0.75)}


# --- retention ---------------------------------------------------------------------------


def test_first_time_weekly_retention_on(story: Any) -> None:
    result = A.retention(story, JAN1, JAN31, grain="week")
    w1, w2 = WEEKS[0], WEEKS[1]
    assert cells(result) == {
        (w1, 0): 3, (w1, 1): 1, (w1, 2): 1, (w1, 3): 1, (w1, 4): 0,
        (w2, 0): 1, (w2, 1): 0, (w2, 2): 0, (w2, 3): 1,
    }  # fmt: skip
    first = result.data[result.data.cohort == w1].set_index("period")
    assert first.loc[1, "percent"] == pytest.approx(100 / 3)
    assert A.retention_table(result).shape == (2, 5)


def test_on_or_after_counts_everyone_who_came_back_later(story: Any) -> None:
    result = A.retention(story, JAN1, JAN31, grain="week", return_mode="on_or_after")
    w1, w2 = WEEKS[0], WEEKS[1]
    assert cells(result) == {
        (w1, 0): 3, (w1, 1): 2, (w1, 2): 2, (w1, 3): 1, (w1, 4): 0,
        (w2, 0): 1, (w2, 1): 1, (w2, 2): 1, (w2, 3): 1,
    }  # fmt: skip


def test_recurring_cohorts_put_a_person_in_every_week_they_started(story: Any) -> None:
    result = A.retention(story, JAN1, JAN31, grain="week", mode="recurring", start_event="report")
    w1, w2, _w3, w4, w5 = WEEKS
    assert cells(result) == {
        (w1, 0): 2, (w1, 1): 1, (w1, 2): 0, (w1, 3): 1, (w1, 4): 0,
        (w2, 0): 1, (w2, 1): 0, (w2, 2): 1, (w2, 3): 0,
        (w4, 0): 1, (w4, 1): 0,
        (w5, 0): 1,
    }  # fmt: skip


def test_retention_by_feature_starts_and_returns_on_different_events(story: Any) -> None:
    result = A.retention(
        story, JAN1, JAN31, grain="week", start_event="signup", return_event="report"
    )
    w1, w5 = WEEKS[0], WEEKS[4]
    assert cells(result) == {
        (w1, 0): 3, (w1, 1): 1, (w1, 2): 0, (w1, 3): 1, (w1, 4): 0,
        (w5, 0): 1,
    }  # fmt: skip


# --- funnels -----------------------------------------------------------------------------

STEPS = ["$pageview", "signup", "report"]


def test_funnel_counts_people_through_ordered_steps_within_the_window(story: Any) -> None:
    result = A.funnel(story, STEPS, JAN1, JAN31)
    assert funnel_counts(result) == {"all": [4, 3, 1]}
    assert column(result, "conversion") == [1.0, 0.75, 0.25]
    assert column(result, "step_conversion") == [1.0, 0.75, pytest.approx(1 / 3)]
    # carol signs up 22 days after her visit: inside a 30-day window only
    wide = A.funnel(story, STEPS, JAN1, JAN31, window=dt.timedelta(days=30))
    assert funnel_counts(wide) == {"all": [4, 4, 2]}


def test_strict_funnels_need_each_step_to_be_the_next_event(story: Any) -> None:
    # erin reports before she signs up: ordered lets her reach sign-up, strict does not
    result = A.funnel(story, STEPS, JAN1, JAN31, order="strict")
    assert funnel_counts(result) == {"all": [4, 2, 1]}


def test_funnel_breakdowns(story: Any) -> None:
    by_browser = A.funnel(story, STEPS, JAN1, JAN31, breakdown="event.$browser")
    assert funnel_counts(by_browser) == {
        "Chrome": [2, 1, 1],
        "Firefox": [1, 1, 0],
        "Safari": [1, 1, 0],
    }
    by_plan = A.funnel(story, STEPS, JAN1, JAN31, breakdown="account.plan")
    assert funnel_counts(by_plan) == {"(none)": [1, 1, 0], "free": [1, 1, 0], "pro": [2, 1, 1]}
    by_country = A.funnel(story, STEPS, JAN1, JAN31, breakdown="person.country")
    assert funnel_counts(by_country) == {"(none)": [1, 1, 0], "DE": [2, 1, 1], "US": [1, 1, 0]}


def test_a_repeated_step_needs_a_second_event(story: Any) -> None:
    twice = ["$pageview", "$pageview"]
    assert funnel_counts(A.funnel(story, twice, JAN1, JAN31)) == {"all": [4, 0]}
    wide = A.funnel(story, twice, JAN1, JAN31, window=dt.timedelta(days=30))
    assert funnel_counts(wide) == {"all": [4, 1]}  # bob, Jan 1 and Jan 16


def test_funnel_steps_must_fall_in_the_date_range(story: Any) -> None:
    result = A.funnel(story, STEPS, JAN1, dt.date(2024, 1, 1))
    assert funnel_counts(result) == {"all": [2, 1, 0]}


# --- lifecycle ---------------------------------------------------------------------------


def test_lifecycle_weekly(story: Any) -> None:
    result = A.lifecycle(story, JAN1, JAN31, grain="week")
    assert column(result, "period") == WEEKS
    assert result.data[["new", "returning", "resurrecting", "dormant"]].values.tolist() == [
        [3, 0, 0, 0],
        [1, 1, 0, -2],
        [0, 0, 1, -2],
        [0, 0, 1, -1],
        [0, 0, 1, -1],
    ]


# --- SQL, errors, edge cases -------------------------------------------------------------


def test_every_result_shows_the_sql_that_made_it(story: Any) -> None:
    results = [
        A.active_users(story, JAN1, JAN31),
        A.adoption(story, "report", JAN1, JAN31),
        A.retention(story, JAN1, JAN31),
        A.funnel(story, STEPS, JAN1, JAN31, breakdown="event.$browser"),
        A.lifecycle(story, JAN1, JAN31),
        A.stickiness(story, JAN1, JAN31).days_active,
    ]
    for result in results:
        for sql in result.sql().values():
            assert sql.lstrip().startswith(("SELECT", "WITH")), sql[:80]
            assert "events_resolved" in sql
            # the SQL alone gives the same numbers
            assert len(story.raw_sql(sql).fetchall()) > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: A.active_users(s, JAN31, JAN1), "after the end date"),
        (lambda s: A.active_users(s, JAN1, JAN31, grain="year"), "use day, week or month"),
        (lambda s: A.funnel(s, STEPS, JAN1, JAN31, breakdown="plan"), "person.TRAIT"),
        (lambda s: A.funnel(s, ["signup"], JAN1, JAN31), "2 to 10 steps"),
        (lambda s: A.funnel(s, STEPS, JAN1, JAN31, breakdown="event.a'b"), "property name"),
        (lambda s: A.adoption(s, "report", JAN1, JAN31, segment="event.x"), "segment by"),
        (lambda s: A.retention(s, JAN1, JAN31, mode="sometimes"), "first_time or recurring"),
        (lambda s: A.active_users(s, dt.date(2000, 1, 1), JAN1), "longer than"),
        (lambda s: A.active_users(s, JAN1, dt.date(9999, 12, 31)), "dates must lie between"),
    ],
)
def test_bad_parameters_are_named(story: Any, call: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        call(story)


def test_an_empty_store_gives_zeros() -> None:
    con = duckdb.connect()
    con.execute(store.SCHEMA)
    b = ibis.duckdb.from_connection(con)
    assert column(A.active_users(b, JAN1, dt.date(2024, 1, 3)), "active_persons") == [0, 0, 0]
    assert funnel_counts(A.funnel(b, STEPS, JAN1, JAN31)) == {}
    assert A.retention(b, JAN1, JAN31).data.empty
    assert A.lifecycle(b, JAN1, JAN31).data[["new", "dormant"]].sum().tolist() == [0, 0]


def test_period_numbers_round_trip() -> None:
    for grain in ("day", "week", "month"):
        for day in pd.date_range("1999-12-25", "2001-03-05").date:
            n = A.period_number(day, grain)  # type: ignore[arg-type]
            first = A.period_start(n, grain)  # type: ignore[arg-type]
            assert first <= day and A.period_number(first, grain) == n  # type: ignore[arg-type]
    assert A.period_start(A.period_number(dt.date(2024, 1, 3), "week"), "week") == JAN1


# --- the insights API ---------------------------------------------------------------------


def with_insights(app: FastAPI) -> FastAPI:
    """The app with the insights routes (the analytics room registers them; add them if not)."""
    paths = get_openapi(title="check", version="0", routes=app.routes)["paths"]
    if not any(p.startswith("/api/v1/insights/") for p in paths):
        insights_routes.register(app)
    return app


@pytest.fixture
def story_workspace(workspace: Workspace) -> Workspace:
    write_story(events_file(workspace))
    return workspace


def api_client(ws: Workspace, scope: str) -> TestClient:
    client = TestClient(with_insights(create_app(ws)))
    client.headers["Authorization"] = f"Bearer {api_key(ws, scope)}"
    return client


def test_a_viewer_gets_the_same_numbers_as_the_python_api(
    story_workspace: Workspace, story: Any
) -> None:
    viewer = sign_in(story_workspace, Role.viewer)
    with_insights(viewer.client.app)  # type: ignore[arg-type]
    q = "start=2024-01-01&end=2024-01-31"
    r = viewer.client.get(f"/api/v1/insights/funnel?steps=$pageview&steps=signup&steps=report&{q}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["persons"] for row in body["data"]] == [4, 3, 1]
    assert "events_resolved" in body["sql"]["funnel"]
    expected = {
        "active-users?grain=week": [3, 2, 1, 1, 1],
        "retention?grain=week": cells(A.retention(story, JAN1, JAN31)).values(),
    }
    weekly = viewer.client.get(f"/api/v1/insights/active-users?grain=week&{q}").json()
    assert [row["active_persons"] for row in weekly["data"]] == expected["active-users?grain=week"]
    assert weekly["data"][0]["period"] == "2024-01-01"
    retention = viewer.client.get(f"/api/v1/insights/retention?grain=week&{q}").json()
    assert [row["persons"] for row in retention["data"]] == list(expected["retention?grain=week"])
    for path in (
        f"adoption?feature=report&{q}",
        f"stickiness?{q}",
        f"lifecycle?{q}",
        f"active-users?rolling=true&{q}",
    ):
        assert viewer.client.get(f"/api/v1/insights/{path}").status_code == 200, path


def test_an_ingest_key_cannot_read_insights(story_workspace: Workspace) -> None:
    client = api_client(story_workspace, "ingest")
    for path in ("active-users", "stickiness", "lifecycle", "retention", "adoption?feature=x"):
        r = client.get(f"/api/v1/insights/{path}")
        assert r.status_code == 403, (path, r.text)
    r = client.get("/api/v1/insights/funnel?steps=a&steps=b")
    assert r.status_code == 403


def test_a_read_key_gets_insights_and_no_key_gets_401(story_workspace: Workspace) -> None:
    assert api_client(story_workspace, "read").get("/api/v1/insights/lifecycle").status_code == 200
    anonymous = TestClient(with_insights(create_app(story_workspace)))
    assert anonymous.get("/api/v1/insights/lifecycle").status_code == 401


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("active-users?start=2024-02-01&end=2024-01-01", "after the end date"),
        ("active-users?grain=year", "grain"),
        ("active-users?rolling=true&grain=week", "rolling"),
        ("funnel?steps=signup", "steps"),
        ("funnel?steps=signup&steps=report&breakdown=plan", "person.TRAIT"),
        ("funnel?steps=signup&steps=reprot", "did you mean 'report'"),
        ("funnel?steps=signup&steps=report&window=400&window_unit=day", "365 days"),
        ("retention?periods=0", "periods"),
        ("adoption", "feature"),
        ("adoption?feature=report&segment=account.pl'an", "property name"),
        ("lifecycle?start=not-a-date", "start"),
        ("lifecycle?end=0001-01-01", "dates must lie between"),
        ("retention?grain=month&end=9999-12-31", "dates must lie between"),
    ],
)
def test_bad_parameters_get_422_with_a_clear_message(
    story_workspace: Workspace, query: str, message: str
) -> None:
    r = api_client(story_workspace, "read").get(f"/api/v1/insights/{query}")
    assert r.status_code == 422, r.text
    assert message in str(r.json()["detail"])


def test_a_workspace_without_events_answers_with_zeros(workspace: Workspace) -> None:
    r = api_client(workspace, "read").get(
        "/api/v1/insights/active-users?start=2024-01-01&end=2024-01-02"
    )
    assert r.status_code == 200, r.text
    assert [row["active_persons"] for row in r.json()["data"]] == [0, 0]
