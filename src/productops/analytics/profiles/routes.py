"""Profiles on the web: a person's page (`/insights/people/{id}`) and an account's usage page
(`/insights/accounts/{id}`), the usage section on the customers' account page, and
`/api/v1/profiles/...`. Contact traits (email, name, phone…) only for `people.pii`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from productops import customers
from productops.analytics import profiles
from productops.analytics.profiles.service import MAX_PAGE_SIZE, PAGE_SIZE, TimelinePage
from productops.analytics.query.filters import FILTER_OPS, OP_WORDS
from productops.core.auth import Principal
from productops.core.errors import InvalidInput, NotFound
from productops.web.deps import ReadApi, UserPage, is_fragment, workspace_of
from productops.web.nav import add_page_section
from productops.web.params import OptionalDate
from productops.web.responses import error_responses
from productops.web.templating import render, render_charts

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/profiles", tags=["profiles"])
NO_PERSON = error_responses((404, "the event store knows no such person"))
NO_ACCOUNT = error_responses((404, "the event store knows no such account"))

PRINTABLE = {"pattern": r"^[^\x00-\x1f/]+$"}
PersonIdPath = Annotated[
    str, Path(min_length=1, max_length=200, json_schema_extra=PRINTABLE, description="person_id")
]
AccountIdPath = Annotated[
    str,
    Path(min_length=1, max_length=200, json_schema_extra=PRINTABLE, description="account_id"),
]
Before = Annotated[
    str | None,
    Query(
        max_length=400,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="the `next_cursor` of the previous page (older events)",
    ),
]
EventFilter = Annotated[str | None, Query(max_length=200, description="only this event name")]
PropertyKey = Annotated[
    str,
    Query(
        max_length=10_000,
        description="only events whose property of this name (e.g. `plan`) passes `op` `value`",
    ),
]
PropertyOp = Annotated[
    str, Query(max_length=20, description="the comparison: " + ", ".join(FILTER_OPS))
]
PropertyValue = Annotated[
    str,
    Query(
        max_length=10_000,
        description="what `prop` is compared with (200 characters at most; comma-separated "
        "for in / not_in; none for is_set / is_not_set)",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


def person_url(person_id: str) -> str:
    """The page of a person (every people list links here)."""
    return "/insights/people/" + quote(person_id, safe="")


def account_url(account_id: str) -> str:
    return "/insights/accounts/" + quote(account_id, safe="")


def _show_contact(principal: Principal) -> bool:
    return principal.can(customers.PEOPLE_PII)


# --- pages ---------------------------------------------------------------------------------


def _conditions(prop: str, op: str, value: str) -> list[Any]:
    """The timeline's event-property condition, when the form names one."""
    if not (prop.strip() or value.strip()):
        return []
    return [profiles.event_condition(prop, op, value)]


@pages.get("/insights/people/{person_id:path}")
def person_page(
    request: Request,
    principal: UserPage,
    person_id: str,
    event: Annotated[str, Query(max_length=200)] = "",
    start: OptionalDate = None,
    end: OptionalDate = None,
    before: Annotated[str, Query(max_length=400)] = "",
    prop: PropertyKey = "",
    op: PropertyOp = "eq",
    value: PropertyValue = "",
) -> Response:
    """A person: properties, account, cohorts, most used events and the event timeline,
    newest first, filtered by event name, days and an event-property condition (`prop`
    `op` `value`); `before` pages to older events with the same filters (the htmx 'older'
    button). A filter the timeline cannot take is named beside the form (422)."""
    ws = workspace_of(request)
    filters = {
        "event": event,
        "start": start.isoformat() if start else "",
        "end": end.isoformat() if end else "",
        "prop": prop.strip(),
        "op": op if prop.strip() else "",
        "value": value.strip(),
    }
    kept = [(k, v) for k, v in filters.items() if v]
    error = None
    try:
        timeline = profiles.person_events(
            ws,
            person_id,
            before=before or None,
            event=event or None,
            start=start,
            end=end,
            where=_conditions(prop, op, value),
        )
    except InvalidInput as exc:
        if is_fragment(request):
            raise
        error = str(exc)
        timeline = TimelinePage([], None)
    base_url = person_url(person_id)
    next_url = None
    if timeline.next_cursor:
        next_url = base_url + "?" + urlencode([*kept, ("before", timeline.next_cursor)])
    context: dict[str, Any] = {
        "timeline": timeline,
        "person_id": person_id,
        "base_url": base_url,
        "next_url": next_url,
        "filters": filters,
        "filtered": bool(kept),
        "filter_error": error,
        "ops": [(o, OP_WORDS[o]) for o in FILTER_OPS],
        "account_url": account_url,
    }
    if before and is_fragment(request):
        return render(request, "analytics/_timeline.html", context)
    profile = profiles.cached_person_profile(ws, person_id, _show_contact(principal))
    context.update(
        profile=profile,
        tab="people",
        show_contact=_show_contact(principal),
        property_keys=sorted({k for e in timeline.events for k in e.properties})[:200],
    )
    return render(request, "analytics/person.html", context, status_code=422 if error else 200)


@pages.get("/insights/accounts/{account_id:path}")
def account_usage_page(request: Request, principal: UserPage, account_id: str) -> Response:
    """An account's usage: health score, activity over time, features, people."""
    ws = workspace_of(request)
    profile = profiles.cached_account_profile(ws, account_id, _show_contact(principal))
    with ws.sessions() as db:
        try:
            found = customers.account_by_external_id(db, account_id)
            record = {"id": found.id, "name": found.name}
        except NotFound:
            record = None
    return render_charts(
        request,
        "analytics/account_usage.html",
        {
            "profile": profile,
            "record": record,
            "chart": _activity_chart(profile.activity),
            "person_url": person_url,
            "tab": "people",
        },
    )


def _activity_chart(weeks: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not any(w["events"] for w in weeks):
        return None
    # Each bar spans its week (to six days on), not a hairline at the week's first day.
    values = [
        {
            "week": w["week"].isoformat(),
            "week_end": (w["week"] + dt.timedelta(days=6)).isoformat(),
            "measure": m,
            "value": w[key],
        }
        for w in weeks
        for m, key in (("active people", "active_people"), ("events", "events"))
    ]
    return {
        "data": {"values": values},
        "transform": [{"filter": "datum.measure == 'active people'"}],
        "mark": {"type": "bar", "tooltip": True, "color": "#1f6feb"},
        "encoding": {
            "x": {
                "field": "week",
                "type": "temporal",
                "scale": {"type": "utc"},
                "title": None,
                "axis": {"format": "%b %-d", "labelOverlap": True},
            },
            "x2": {"field": "week_end"},
            "y": {
                "field": "value",
                "type": "quantitative",
                "title": "active people",
                "axis": {"format": "d", "tickMinStep": 1},
            },
            "y2": {"datum": 0},
            "tooltip": [
                {"field": "week", "type": "temporal", "title": "week of", "format": "%b %-d, %Y"},
                {"field": "value", "type": "quantitative", "title": "active people"},
            ],
        },
        "width": "container",
        "height": 160,
        "config": {"view": {"stroke": None}, "font": "system-ui"},
    }


def account_section(
    request: Request, db: Session, principal: Principal, account_id: int
) -> Markup | None:
    """On the customers' account page: usage health, last seen and a link to the profile."""
    account = customers.get_account(db, account_id)
    try:
        profile = profiles.cached_account_profile(
            workspace_of(request), account.external_id, _show_contact(principal)
        )
    except NotFound:
        profile = None
    response = render(
        request,
        "analytics/_account_usage_section.html",
        {"profile": profile, "url": account_url(account.external_id), "person_url": person_url},
    )
    # Rendered by the autoescaping environment: the traits and names in it are escaped.
    return Markup(bytes(response.body).decode())  # noqa: S704


# --- API -----------------------------------------------------------------------------------


class EventCountOut(BaseModel):
    event: str
    count: int


class PersonOut(BaseModel):
    person_id: str
    account_id: str | None
    account_name: str | None
    properties: dict[str, Any] = Field(
        description="traits; contact details (email, name, phone…) only with people.pii"
    )
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    events: int
    top_events: list[EventCountOut] = Field(description="their most sent events")
    distinct_ids: list[str]
    cohorts: list[dict[str, Any]]
    url: str


class EventOut(BaseModel):
    event_id: str
    event: str
    type: str
    ts: dt.datetime
    source: str
    account_id: str | None
    properties: dict[str, Any]


class TimelineOut(BaseModel):
    events: list[EventOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `before` for older events")


class AccountPersonOut(BaseModel):
    person_id: str
    name: str | None
    last_seen: dt.datetime | None
    active_days_30: int
    events_30: int


class FeatureOut(BaseModel):
    event: str
    people: int
    events: int
    first_used: dt.datetime
    last_used: dt.datetime
    adopted: bool = Field(description="used in the last 30 days")


class HealthPartOut(BaseModel):
    name: str
    points: float
    out_of: int
    detail: str


class HealthOut(BaseModel):
    score: int = Field(ge=0, le=100)
    band: str = Field(description="healthy (70+), watch (40-69), at risk (<40) or no usage")
    parts: list[HealthPartOut]
    window_end: dt.date


class WeekOut(BaseModel):
    week: dt.date
    active_people: int
    events: int


class AccountOut(BaseModel):
    account_id: str
    name: str | None
    properties: dict[str, Any]
    people: list[AccountPersonOut]
    people_count: int
    last_seen: dt.datetime | None
    activity: list[WeekOut]
    features: list[FeatureOut]
    health: HealthOut
    url: str


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


@api.get("/people/{person_id}", responses=NO_PERSON, summary="A person's profile")
def api_person(request: Request, principal: ReadApi, person_id: PersonIdPath) -> PersonOut:
    p = profiles.cached_person_profile(workspace_of(request), person_id, _show_contact(principal))
    return PersonOut(
        person_id=p.person_id,
        account_id=p.account_id,
        account_name=p.account_name,
        properties=p.properties,
        first_seen=_utc(p.first_seen),
        last_seen=_utc(p.last_seen),
        events=p.events,
        top_events=[EventCountOut(event=e, count=n) for e, n in p.top_events],
        distinct_ids=p.distinct_ids,
        cohorts=p.cohorts,
        url=person_url(p.person_id),
    )


@api.get(
    "/people/{person_id}/events",
    summary="A person's events, newest first, a page at a time",
)
def api_person_events(
    request: Request,
    principal: ReadApi,
    person_id: PersonIdPath,
    before: Before = None,
    limit: Limit = PAGE_SIZE,
    event: EventFilter = None,
    start: OptionalDate = None,
    end: OptionalDate = None,
    prop: PropertyKey = "",
    op: PropertyOp = "eq",
    value: PropertyValue = "",
) -> TimelineOut:
    """`event`, `start`/`end` and one event-property condition (`prop` `op` `value`, as on
    the person's page) filter the events; `next_cursor` pages on with the same filters."""
    page = profiles.person_events(
        workspace_of(request),
        person_id,
        before=before,
        limit=limit,
        event=event,
        start=start,
        end=end,
        where=_conditions(prop, op, value),
    )
    return TimelineOut(
        events=[
            EventOut(
                event_id=e.event_id,
                event=e.event,
                type=e.type,
                ts=_utc(e.ts),
                source=e.source,
                account_id=e.account_id,
                properties=e.properties,
            )
            for e in page.events
        ],
        next_cursor=page.next_cursor,
    )


@api.get("/accounts/{account_id}", responses=NO_ACCOUNT, summary="An account's usage profile")
def api_account(request: Request, principal: ReadApi, account_id: AccountIdPath) -> AccountOut:
    a = profiles.cached_account_profile(workspace_of(request), account_id, _show_contact(principal))
    return AccountOut(
        account_id=a.account_id,
        name=a.name,
        properties=a.properties,
        people=[
            AccountPersonOut(
                person_id=p.person_id,
                name=p.name,
                last_seen=_utc(p.last_seen),
                active_days_30=p.active_days_30,
                events_30=p.events_30,
            )
            for p in a.people
        ],
        people_count=a.people_count,
        last_seen=_utc(a.last_seen),
        activity=[WeekOut(**w) for w in a.activity],
        features=[
            FeatureOut(
                event=f.event,
                people=f.people,
                events=f.events,
                first_used=_utc(f.first_used),
                last_used=_utc(f.last_used),
                adopted=f.adopted,
            )
            for f in a.features
        ],
        health=HealthOut(
            score=a.health.score,
            band=a.health.band,
            parts=[HealthPartOut(**vars(p)) for p in a.health.parts],
            window_end=a.health.window_end,
        ),
        url=account_url(a.account_id),
    )


def register(app: FastAPI) -> None:
    app.include_router(pages)
    app.include_router(api)
    add_page_section(app, "account", account_section, order=10)
