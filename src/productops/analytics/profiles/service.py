"""Person and account profiles, read from the event store (or the warehouse) through Ibis.

- A **person**: their properties (the customers' record over identify traits), their account,
  when they were first and last seen, their most used events, the cohorts they belong to
  (when the workspace has cohorts), and their event timeline, newest first, paged by a cursor
  and filterable by event name, day and event-property conditions (`event_condition`: the
  explorers' own filters, `query.filters`).
- An **account**: its properties, its people (each with when they were last seen and how
  active they were in the last 30 days), its activity week by week, when it was last seen,
  the features it adopted, and its **usage-health score** (documented in docs/profiles.md):

  | part | points | what earns them (over the 30 days ending at the newest event) |
  |---|---|---|
  | breadth | 40 | the share of the account's people who were active |
  | frequency | 30 | the active people's median number of active days, 10 or more = all |
  | trend | 15 | active people against the 30 days before: as many = all, half = none |
  | features | 15 | the features (events) the account used, 5 or more = all |

  70 or more reads *healthy*, 40 to 69 *watch*, under 40 *at risk*; no activity at all in
  the 60 days is *no usage* (score 0).

"Active" is the catalog's definition (`catalog.activity_filter`); "features" are the events
that count as activity, minus page views, sign-ins, sign-ups and experiment exposures
(`NOT_FEATURES`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from productops.analytics.catalog.service import activity_filter
from productops.analytics.query.activity import ActivityFilter, activity_predicate
from productops.analytics.query.cache import Codec, ResultCache, key_of
from productops.analytics.query.filters import (
    FILTER_OPS,
    PropertyFilter,
    condition,
    event_value,
    make_filter,
)
from productops.analytics.query.source import default_end, event_source
from productops.analytics.query.tables import event_tables
from productops.core.errors import InvalidInput, NotFound
from productops.core.workspace import Workspace

PAGE_SIZE = 50
MAX_EVENT_NAMES = 200  # the event names a profile offers to filter its timeline by
MAX_FILTER_VALUE = 200  # characters of a timeline filter's value
MAX_PAGE_SIZE = 500
HEALTH_WINDOW_DAYS = 30
ACTIVITY_WEEKS = 26
NOT_FEATURES = frozenset(
    {
        "Page Viewed",
        "$pageview",
        "$pageleave",
        "$autocapture",
        "$screen",
        "page",
        "screen",
        "Landing Page Viewed",
        "Signed In",
        "Signed Up",
        "Signed Out",
        "Dashboard Viewed",
        "Experiment Viewed",
        "$feature_flag_called",
    }
)
# Traits that say who a person is: shown only to callers allowed to see contact details
# (`people.pii`), as the customers pillar does with a person's email.
_CONTACT = re.compile(
    r"(^|[_$\s.-])(e-?mail|phone|mobile|name|first_?name|last_?name|address|ip)$", re.I
)


def is_contact_trait(key: str) -> bool:
    """True for a trait that names or reaches the person (email, phone, name, address, ip)."""
    return bool(_CONTACT.search(key)) or key.lower() in {"email", "name", "phone"}


def _json_object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _masked(props: dict[str, Any], show_contact: bool) -> dict[str, Any]:
    if show_contact:
        return dict(sorted(props.items()))
    return {k: v for k, v in sorted(props.items()) if not is_contact_trait(k)}


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


# --- a person ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonProfile:
    person_id: str
    account_id: str | None
    account_name: str | None
    properties: dict[str, Any]
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    events: int
    top_events: list[tuple[str, int]]
    distinct_ids: list[str]
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    event_names: list[str] = field(default_factory=list)  # every event they did, most first


@dataclass(frozen=True)
class TimelineEvent:
    event_id: str
    event: str
    type: str
    ts: dt.datetime
    source: str
    account_id: str | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class TimelinePage:
    events: list[TimelineEvent]
    next_cursor: str | None  # pass as `before` for the next (older) page


def _cursor(ts: dt.datetime, event_id: str) -> str:
    raw = json.dumps([ts.isoformat(), event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(text: str) -> tuple[dt.datetime, str]:
    try:
        padded = text + "=" * (-len(text) % 4)
        ts, event_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return dt.datetime.fromisoformat(ts), str(event_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            "the cursor is not one this server gave (start from the newest)"
        ) from exc


def _person_row(con: Any, person_id: str) -> dict[str, Any] | None:
    persons = con.table("persons")
    rows = (
        persons.filter(persons.person_id == person_id)
        .select("person_id", "account_id", "properties", "first_seen")
        .limit(1)
        .to_pyarrow()
        .to_pylist()
    )
    return rows[0] if rows else None


def _account_name(con: Any, account_id: str | None) -> str | None:
    if not account_id:
        return None
    accounts = con.table("accounts")
    rows = (
        accounts.filter(accounts.account_id == account_id)
        .select("properties")
        .limit(1)
        .to_pyarrow()
        .to_pylist()
    )
    if not rows:
        return None
    name = _json_object(rows[0]["properties"]).get("name")
    return str(name) if name else None


def person_profile(ws: Workspace, person_id: str, show_contact: bool = False) -> PersonProfile:
    """Who `person_id` is and what they did (see the module docstring); contact traits only
    with `show_contact`. NotFound when the store knows nothing of them."""
    with event_source(ws) as con:
        row = _person_row(con, person_id)
        ev = con.table("events_resolved")
        mine = ev.filter(ev.person_id == person_id)
        summary = (
            mine.aggregate(
                n=mine.count(),
                first=mine.ts.min(),
                last=mine.ts.max(),
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        if row is None and not summary["n"]:
            raise NotFound(f"no person '{person_id}' in the event store")
        done = (
            mine.group_by("event")
            .aggregate(n=mine.count())
            .order_by([ibis.desc("n"), "event"])
            .limit(MAX_EVENT_NAMES)
            .to_pyarrow()
            .to_pylist()
        )
        ids = (
            mine.select("distinct_id")
            .distinct()
            .order_by("distinct_id")
            .limit(20)
            .to_pyarrow()
            .to_pylist()
        )
        account_id = (row or {}).get("account_id")
        if not account_id and summary["n"]:
            latest = (
                mine.filter(mine.account_id.notnull())
                .order_by(ibis.desc("ts"))
                .select("account_id")
                .limit(1)
                .to_pyarrow()
                .to_pylist()
            )
            account_id = latest[0]["account_id"] if latest else None
        account_name = _account_name(con, account_id)
    cohorts = person_cohorts(ws, person_id)
    props = _json_object((row or {}).get("properties"))
    first = (row or {}).get("first_seen")
    if summary["first"] is not None and (first is None or summary["first"] < first):
        first = summary["first"]
    return PersonProfile(
        person_id=person_id,
        account_id=account_id,
        account_name=account_name,
        properties=_masked(props, show_contact),
        first_seen=first,
        last_seen=summary["last"],
        events=int(summary["n"] or 0),
        top_events=[(str(r["event"]), int(r["n"])) for r in done[:10]],
        distinct_ids=[str(r["distinct_id"]) for r in ids],
        cohorts=cohorts,
        event_names=[str(r["event"]) for r in done],
    )


MAX_COHORTS_CHECKED = 100


def person_cohorts(
    ws: Workspace, person_id: str, as_of: dt.date | None = None
) -> list[dict[str, Any]]:
    """The saved cohorts `person_id` belongs to on `as_of` (the newest event's day): static
    cohorts by their list, dynamic ones by their rules (one query each, the first
    `MAX_COHORTS_CHECKED` cohorts)."""
    from productops.analytics.cohorts import service as cohorts
    from productops.analytics.query.cohorts import members
    from productops.analytics.query.tables import event_tables

    as_of = as_of or default_end(ws)
    with ws.sessions() as session:
        rows = cohorts.list_cohorts(session)[:MAX_COHORTS_CHECKED]
        specs = [(row, cohorts.spec_of(session, row, as_of)) for row in rows]
    if not specs:
        return []
    found = []
    with event_source(ws) as con:
        tables = event_tables(con)
        for row, spec in specs:
            if spec.definition is None:
                if person_id in (spec.people or ()):
                    found.append(
                        {"id": row.id, "name": row.name, "url": f"/insights/cohorts/{row.id}"}
                    )
                continue
            m = members(tables, spec, as_of=as_of)
            if int(m.filter(m.person_id == person_id).count().execute()):
                found.append({"id": row.id, "name": row.name, "url": f"/insights/cohorts/{row.id}"})
    return found


def event_condition(key: str, op: str = "eq", value: str = "") -> PropertyFilter:
    """A condition on an event property for the timeline, from a form's three boxes:
    `key` (`plan`, or `event.plan`), `op` (one of `FILTER_OPS`) and `value` as typed (a
    comma-separated list for `in` / `not_in`, nothing for `is_set` / `is_not_set`). Every
    mistake is an InvalidInput naming it (the explorers' own checks, `query.filters`)."""
    key = key.strip().removeprefix("event.")
    value = value.strip()
    if not key:
        raise InvalidInput("event property filter: name the property (e.g. plan)")
    if op not in FILTER_OPS:
        raise InvalidInput(
            f"event property filter: {op[:20]!r} is not an operator; use one of "
            + ", ".join(FILTER_OPS)
        )
    if len(value) > MAX_FILTER_VALUE:
        raise InvalidInput(
            f"event property filter {key[:60]}: the value has {len(value):,} characters "
            f"(at most {MAX_FILTER_VALUE})"
        )
    parsed: object = value
    if op in ("in", "not_in"):
        parsed = [v.strip() for v in value.split(",") if v.strip()]
    elif op in ("is_set", "is_not_set"):
        parsed = value or None
    return make_filter(f"event.{key}", op, parsed)


def person_events(
    ws: Workspace,
    person_id: str,
    *,
    before: str | None = None,
    limit: int = PAGE_SIZE,
    event: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    where: Sequence[PropertyFilter] = (),
) -> TimelinePage:
    """A person's events, newest first, `limit` at a time: `before` is the cursor the
    previous page gave; `event` keeps one event name, `start`/`end` (days, both included)
    a range, `where` the events passing every condition on their properties (see
    `event_condition`)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE_SIZE}")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"the first day {start} is after the last day {end}")
    for flt in where:
        if flt.dimension.scope != "event":
            raise InvalidInput(f"{flt.property}: the timeline filters on event properties only")
    with event_source(ws) as con:
        tables = event_tables(con)
        ev = tables.events
        q = ev.filter(ev.person_id == person_id)
        if event:
            q = q.filter(q.event == event)
        for flt in where:
            q = q.filter(condition(event_value(tables, q, flt.dimension), flt))
        if start is not None:
            q = q.filter(q.ts >= _day_start(start))
        if end is not None:
            q = q.filter(q.ts < _day_start(end + dt.timedelta(days=1)))
        if before:
            ts, event_id = _read_cursor(before)
            q = q.filter((q.ts < ts) | ((q.ts == ts) & (q.event_id < event_id)))
        rows = (
            q.select("event_id", "event", "type", "ts", "source", "account_id", "properties")
            .order_by([ibis.desc("ts"), ibis.desc("event_id")])
            .limit(limit + 1)
            .to_pyarrow()
            .to_pylist()
        )
    events = [
        TimelineEvent(
            event_id=str(r["event_id"]),
            event=str(r["event"]),
            type=str(r["type"]),
            ts=r["ts"],
            source=str(r["source"]),
            account_id=r["account_id"],
            properties=_json_object(r["properties"]),
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return TimelinePage(events, _cursor(events[-1].ts, events[-1].event_id) if more else None)


# --- an account --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountPerson:
    person_id: str
    name: str | None
    last_seen: dt.datetime | None
    active_days_30: int
    events_30: int


@dataclass(frozen=True)
class Feature:
    event: str
    people: int
    events: int
    first_used: dt.datetime
    last_used: dt.datetime
    adopted: bool  # used in the health window


@dataclass(frozen=True)
class HealthPart:
    name: str
    points: float
    out_of: int
    detail: str


@dataclass(frozen=True)
class Health:
    score: int
    band: str  # healthy | watch | at risk | no usage
    parts: list[HealthPart]
    window_end: dt.date


@dataclass(frozen=True)
class AccountProfile:
    account_id: str
    name: str | None
    properties: dict[str, Any]
    people: list[AccountPerson]
    people_count: int
    last_seen: dt.datetime | None
    activity: list[dict[str, Any]]  # week, active_people, events
    features: list[Feature]
    health: Health


def _features_only(ev: ir.Table, activity: ActivityFilter) -> ir.BooleanValue:
    keep = activity_predicate(ev, activity) & ~ev.event.isin(sorted(NOT_FEATURES))
    return keep & (ev.type == "track")


def health_score(
    people: int,
    active_now: int,
    active_before: int,
    active_days: list[int],
    features_used: int,
    window_end: dt.date,
) -> Health:
    """The usage-health score from its parts (see the module docstring)."""
    if active_now == 0 and active_before == 0:
        parts = [
            HealthPart("breadth", 0, 40, "nobody active in the last 30 days"),
            HealthPart("frequency", 0, 30, "no active days"),
            HealthPart("trend", 0, 15, "no activity in the 60 days"),
            HealthPart("features", 0, 15, "no features used"),
        ]
        return Health(0, "no usage", parts, window_end)
    breadth = 40 * min(1.0, active_now / max(people, active_now, 1))
    median_days = statistics.median(active_days) if active_days else 0
    frequency = 30 * min(1.0, median_days / 10)
    ratio = (1.0 if active_now else 0.0) if active_before == 0 else active_now / active_before
    trend = 15 * max(0.0, min(1.0, (ratio - 0.5) / 0.5))
    feature_points = 15 * min(1.0, features_used / 5)
    parts = [
        HealthPart(
            "breadth",
            round(breadth, 1),
            40,
            f"{active_now} of {max(people, active_now)} people active in the last 30 days",
        ),
        HealthPart(
            "frequency",
            round(frequency, 1),
            30,
            f"active people's median: {median_days:g} active days of 30",
        ),
        HealthPart(
            "trend",
            round(trend, 1),
            15,
            f"{active_now} active people against {active_before} in the 30 days before",
        ),
        HealthPart("features", round(feature_points, 1), 15, f"{features_used} features used"),
    ]
    score = round(breadth + frequency + trend + feature_points)
    band = "healthy" if score >= 70 else "watch" if score >= 40 else "at risk"
    return Health(score, band, parts, window_end)


def account_profile(
    ws: Workspace,
    account_id: str,
    show_contact: bool = False,
    end: dt.date | None = None,
    people_limit: int = 200,
) -> AccountProfile:
    """An account's usage (see the module docstring), over the weeks and 30-day windows
    ending at `end` (the newest event's day by default)."""
    end = end or default_end(ws)
    window_start = end - dt.timedelta(days=HEALTH_WINDOW_DAYS - 1)
    before_start = window_start - dt.timedelta(days=HEALTH_WINDOW_DAYS)
    weeks_start = end - dt.timedelta(weeks=ACTIVITY_WEEKS - 1, days=end.weekday())
    hi = _day_start(end + dt.timedelta(days=1))
    activity = activity_filter(ws)
    with event_source(ws) as con:
        accounts = con.table("accounts")
        acc = (
            accounts.filter(accounts.account_id == account_id)
            .select("properties")
            .limit(1)
            .to_pyarrow()
            .to_pylist()
        )
        persons = con.table("persons")
        member_rows = (
            persons.filter(persons.account_id == account_id)
            .select("person_id", "properties")
            .order_by("person_id")
            .to_pyarrow()
            .to_pylist()
        )
        member_ids = [str(r["person_id"]) for r in member_rows]
        ev = con.table("events_resolved")
        # An event is the account's when it names the account, or names none and its person
        # belongs to the account (`COALESCE(events.account_id, persons.account_id)`, without
        # joining every event to its person).
        mine = ev.account_id == account_id
        if member_ids:
            mine = mine | (ev.account_id.isnull() & ev.person_id.isin(member_ids))
        theirs = ev.filter(mine)
        frame = (
            theirs.select(
                "person_id",
                "event",
                "ts",
                active=activity_predicate(theirs, activity),
                feature=_features_only(theirs, activity),
            )
            .to_pyarrow()
            .to_pandas()
        )
    if not acc and frame.empty:
        raise NotFound(f"no account '{account_id}' in the event store")
    people_count = len(member_rows)
    member_rows = member_rows[:people_limit]
    active = frame[frame["active"]]
    recent = active[(active["ts"] >= _day_start(window_start)) & (active["ts"] < hi)]
    per_person = (
        recent.assign(day=recent["ts"].dt.date)
        .groupby("person_id")
        .agg(days=("day", "nunique"), events=("event", "size"))
        .reset_index()
        .to_dict("records")
    )
    earlier = active[
        (active["ts"] >= _day_start(before_start)) & (active["ts"] < _day_start(window_start))
    ]
    active_before = int(earlier["person_id"].nunique())
    last_seen_by = (
        frame.groupby("person_id")["ts"].max().reset_index(name="last").to_dict("records")
    )
    in_weeks = active[(active["ts"] >= _day_start(weeks_start)) & (active["ts"] < hi)]
    weekly = (
        in_weeks.assign(week=in_weeks["ts"].dt.to_period("W-SUN").dt.start_time.dt.date)
        .groupby("week")
        .agg(active_people=("person_id", "nunique"), events=("event", "size"))
        .reset_index()
        .to_dict("records")
    )
    used = frame[frame["feature"]]
    features = (
        used.groupby("event")
        .agg(
            people=("person_id", "nunique"),
            events=("event", "size"),
            first_used=("ts", "min"),
            last_used=("ts", "max"),
        )
        .reset_index()
        .sort_values(["people", "events", "event"], ascending=[False, False, True])
        .head(100)
        .to_dict("records")
    )
    last = {"last": frame["ts"].max().to_pydatetime() if len(frame) else None}
    stats = {r["person_id"]: r for r in per_person}
    seen = {r["person_id"]: r["last"] for r in last_seen_by}
    people = []
    for r in member_rows:
        props = _json_object(r["properties"])
        s = stats.get(r["person_id"], {})
        people.append(
            AccountPerson(
                person_id=str(r["person_id"]),
                name=str(props["name"]) if show_contact and props.get("name") else None,
                last_seen=seen[r["person_id"]].to_pydatetime() if r["person_id"] in seen else None,
                active_days_30=int(s.get("days", 0)),
                events_30=int(s.get("events", 0)),
            )
        )
    people.sort(
        key=lambda p: (p.last_seen is None, -p.last_seen.timestamp() if p.last_seen else 0.0)
    )
    feature_list = [
        Feature(
            event=str(f["event"]),
            people=int(f["people"]),
            events=int(f["events"]),
            first_used=f["first_used"].to_pydatetime(),
            last_used=f["last_used"].to_pydatetime(),
            adopted=f["last_used"] >= _day_start(window_start),
        )
        for f in features
    ]
    health = health_score(
        people=people_count,
        active_now=len(stats),
        active_before=active_before,
        active_days=[int(r["days"]) for r in per_person],
        features_used=sum(1 for f in feature_list if f.adopted),
        window_end=end,
    )
    weeks = _all_weeks(weeks_start, end, weekly)
    props = _json_object(acc[0]["properties"]) if acc else {}
    return AccountProfile(
        account_id=account_id,
        name=str(props["name"]) if props.get("name") else None,
        properties=dict(sorted(props.items())),
        people=people,
        people_count=people_count,
        last_seen=last["last"],
        activity=weeks,
        features=feature_list,
        health=health,
    )


def _all_weeks(start: dt.date, end: dt.date, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every week of the range, quiet ones as zeros (a gap is news, not a missing point)."""
    found = {}
    for r in rows:
        w = r["week"]
        found[w.date() if isinstance(w, dt.datetime) else w] = r
    out = []
    week = start
    while week <= end:
        r = found.get(week, {})
        out.append(
            {
                "week": week,
                "active_people": int(r.get("active_people", 0)),
                "events": int(r.get("events", 0)),
            }
        )
        week += dt.timedelta(weeks=1)
    return out


# --- kept until the data changes -------------------------------------------------------------


def _profiles_cache(ws: Workspace) -> ResultCache[Any]:
    cache: ResultCache[Any] | None = ws.extras.get("profiles.cache")
    if cache is None:
        # In memory only: a profile is small and quick to compute again after a restart.
        cache = ResultCache(None, Codec(lambda v: ({}, []), lambda m, f: None))
        ws.extras["profiles.cache"] = cache
    return cache


def _data_version(ws: Workspace) -> str:
    """The events, the customers, the catalog and the saved cohorts (a person's cohorts)."""
    from sqlalchemy import func, select

    from productops.analytics.cohorts.models import Cohort
    from productops.analytics.dashboards.service import base_version
    from productops.analytics.query.source import range_versions

    with ws.sessions() as session:
        cohorts = session.execute(select(func.count(Cohort.id), func.max(Cohort.updated_at))).one()
    return f"{base_version(ws)}|{range_versions(ws, [(None, None)])[0]}|{cohorts[0]}@{cohorts[1]}"


def cached_person_profile(ws: Workspace, person_id: str, show_contact: bool = False) -> Any:
    """`person_profile`, computed once per version of the data (see `query.cache`)."""
    got = _profiles_cache(ws).get(
        key_of("person", person_id, show_contact),
        _data_version(ws),
        lambda: person_profile(ws, person_id, show_contact),
    )
    return got.value


def cached_account_profile(ws: Workspace, account_id: str, show_contact: bool = False) -> Any:
    """`account_profile` ending at the newest event, computed once per version of the data."""
    end = default_end(ws)
    got = _profiles_cache(ws).get(
        key_of("account", account_id, show_contact, end),
        _data_version(ws),
        lambda: account_profile(ws, account_id, show_contact, end=end),
    )
    return got.value
