"""`/api/v1/insights/...`: the analyses over the workspace's events, as JSON with the SQL
that computed every number.

Each endpoint is a thin wrapper over the function of the same name in `analyses`; dates are
ISO dates, both included. The range ends, unless told otherwise, on the day of the newest event
(today when events are current) — as the pages do — and starts 30 days before (retention and
lifecycle: 12 periods before). The active-user definition comes from the metric catalog
(`metrics.yml`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from ibis.backends import BaseBackend
from pydantic import AfterValidator, BaseModel, Field

from productops.analytics import analyses
from productops.analytics.analyses import ActivityFilter, Insight
from productops.analytics.catalog.service import activity_filter
from productops.analytics.query.source import check_events_seen, default_end, event_source
from productops.core.errors import InvalidInput
from productops.web.deps import ReadApi, workspace_of
from productops.web.params import EndDate, StartDate

router = APIRouter(prefix="/api/v1/insights", tags=["insights"])

GrainParam = Literal["day", "week", "month"]
Start = StartDate
End = EndDate


def _printable(name: str) -> str:
    if any(ord(c) < 32 for c in name):
        raise ValueError(f"{name!r}: name an event (1 to 200 printable characters)")
    return name


# An event name as the analyses take it (`query.activity.check_event_name`): 1 to 200
# printable characters. Whether the store has seen it is the data's to say (422 then).
PRINTABLE = {"pattern": r"^[^\x00-\x1f]*$"}
Printable = AfterValidator(_printable)
EventName = Annotated[
    str, Query(min_length=1, max_length=200, json_schema_extra=PRINTABLE), Printable
]
Step = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra=PRINTABLE), Printable]
Breakdown = Annotated[
    str | None,
    Query(
        max_length=120,
        description="person.TRAIT, account.TRAIT or event.PROPERTY, e.g. account.plan",
    ),
]
WINDOW_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
DEFAULT_PERIODS = {"day": 14, "week": 12, "month": 12}


class InsightOut(BaseModel):
    kind: str = Field(description="which analysis")
    params: dict[str, Any] = Field(description="the parameters it ran with")
    data: list[dict[str, Any]] = Field(description="the result rows")
    sql: dict[str, str] = Field(description="the SQL each query compiled to")


class StickinessOut(BaseModel):
    ratio: InsightOut = Field(description="DAU, MAU and DAU/MAU per day")
    days_active: InsightOut = Field(description="people by number of active days (or weeks…)")


def _out(result: Insight) -> InsightOut:
    params = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in result.params.items()}
    return InsightOut(kind=result.kind, params=params, data=result.records(), sql=result.sql())


@contextmanager
def _events(request: Request, *names: str | None) -> Iterator[tuple[BaseBackend, ActivityFilter]]:
    """The workspace's events as an Ibis backend, with the catalog's active-user definition;
    refuses event `names` the store has never seen, with a suggestion."""
    ws = workspace_of(request)
    check_events_seen(ws, [n for n in names if n])
    activity = activity_filter(ws)
    with event_source(ws) as con:
        yield con, activity


def _end(request: Request, end: dt.date | None) -> dt.date:
    end = end or default_end(workspace_of(request))
    if not analyses.EARLIEST + dt.timedelta(days=400) <= end <= analyses.LATEST:
        raise InvalidInput(f"dates must lie between {analyses.EARLIEST} and {analyses.LATEST}")
    return end


def _dates(
    request: Request, start: dt.date | None, end: dt.date | None, days: int = 30
) -> tuple[dt.date, dt.date]:
    end = _end(request, end)
    return start or end - dt.timedelta(days=days - 1), end


def _period_dates(
    request: Request, start: dt.date | None, end: dt.date | None, grain: str
) -> tuple[dt.date, dt.date]:
    end = _end(request, end)
    if start is not None:
        return start, end
    n = DEFAULT_PERIODS[grain]
    if grain == "day":
        return end - dt.timedelta(days=n - 1), end
    if grain == "week":
        return end - dt.timedelta(weeks=n - 1, days=end.weekday()), end
    month = end.year * 12 + end.month - 1 - (n - 1)
    return dt.date(month // 12, month % 12 + 1, 1), end


@router.get("/active-users", summary="Active users per day, week or month")
def api_active_users(
    request: Request,
    principal: ReadApi,
    start: Start = None,
    end: End = None,
    grain: GrainParam = "day",
    rolling: Annotated[
        bool, Query(description="DAU/WAU/MAU per day over rolling 1/7/30-day windows")
    ] = False,
) -> InsightOut:
    """Distinct active people per calendar period, or (rolling) PostHog's DAU/WAU/MAU."""
    s, e = _dates(request, start, end)
    if rolling and grain != "day":
        raise InvalidInput("rolling active users are per day: leave grain as day")
    with _events(request) as (con, activity):
        if rolling:
            return _out(analyses.rolling_active_users(con, s, e, activity=activity))
        return _out(analyses.active_users(con, s, e, grain=grain, activity=activity))


@router.get("/stickiness", summary="DAU/MAU and the days-active histogram")
def api_stickiness(
    request: Request,
    principal: ReadApi,
    start: Start = None,
    end: End = None,
    grain: GrainParam = "day",
) -> StickinessOut:
    s, e = _dates(request, start, end)
    with _events(request) as (con, activity):
        result = analyses.stickiness(con, s, e, grain=grain, activity=activity)
        return StickinessOut(ratio=_out(result.ratio), days_active=_out(result.days_active))


@router.get("/adoption", summary="Feature adoption by segment")
def api_adoption(
    request: Request,
    principal: ReadApi,
    feature: EventName,
    start: Start = None,
    end: End = None,
    segment: Breakdown = "account.plan",
    unit: Literal["person", "account"] = "person",
) -> InsightOut:
    """Share of active people (or accounts) in each segment that used the feature event."""
    s, e = _dates(request, start, end)
    with _events(request, feature) as (con, activity):
        return _out(
            analyses.adoption(
                con, feature, s, e, segment=segment or None, unit=unit, activity=activity
            )
        )


@router.get("/retention", summary="Cohort retention (first-time or recurring)")
def api_retention(
    request: Request,
    principal: ReadApi,
    start: Start = None,
    end: End = None,
    start_event: Annotated[EventName, Query(description="* = any activity")] = analyses.ANY_EVENT,
    return_event: Annotated[
        str | None,
        Query(max_length=200, json_schema_extra=PRINTABLE, description="default: the start event"),
        Printable,
    ] = None,
    grain: GrainParam = "week",
    mode: Literal["first_time", "recurring"] = "first_time",
    return_mode: Literal["on", "on_or_after"] = "on",
    periods: Annotated[int, Query(ge=1, le=120)] = 10,
) -> InsightOut:
    s, e = _period_dates(request, start, end, grain)
    with _events(request, start_event, return_event) as (con, activity):
        return _out(
            analyses.retention(
                con,
                s,
                e,
                start_event=start_event,
                return_event=return_event or None,
                grain=grain,
                mode=mode,
                return_mode=return_mode,
                periods=periods,
                activity=activity,
            )
        )


@router.get("/funnel", summary="Ordered funnel with a conversion window")
def api_funnel(
    request: Request,
    principal: ReadApi,
    steps: Annotated[
        list[Step], Query(min_length=2, max_length=10, description="event names, in order")
    ],
    start: Start = None,
    end: End = None,
    window: Annotated[int, Query(ge=1, le=100_000)] = 14,
    window_unit: Literal["second", "minute", "hour", "day", "week"] = "day",
    order: Literal["ordered", "strict"] = "ordered",
    breakdown: Breakdown = None,
) -> InsightOut:
    s, e = _dates(request, start, end)
    seconds = window * WINDOW_UNITS[window_unit]
    if seconds > 365 * 86400:
        raise InvalidInput("the conversion window is longer than 365 days")
    with _events(request, *steps) as (con, activity):
        return _out(
            analyses.funnel(
                con,
                steps,
                s,
                e,
                window=dt.timedelta(seconds=seconds),
                order=order,
                breakdown=breakdown or None,
                activity=activity,
            )
        )


@router.get("/lifecycle", summary="New, returning, resurrecting and dormant people")
def api_lifecycle(
    request: Request,
    principal: ReadApi,
    start: Start = None,
    end: End = None,
    grain: GrainParam = "week",
) -> InsightOut:
    s, e = _period_dates(request, start, end, grain)
    with _events(request) as (con, activity):
        return _out(analyses.lifecycle(con, s, e, grain=grain, activity=activity))


def register(app: FastAPI) -> None:
    app.include_router(router)
