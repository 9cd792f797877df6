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
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from productops.analytics import analyses
from productops.analytics.analyses import ActivityFilter, Insight
from productops.analytics.analyses import inputs as _inputs
from productops.analytics.analyses.trend_series import Series, trends
from productops.analytics.catalog.service import activity_filter
from productops.analytics.query.filters import FILTER_OPS, Filters, PropertyFilter
from productops.analytics.query.source import check_events_seen, default_end, event_source
from productops.core.errors import InvalidInput
from productops.web.deps import DbDep, ReadApi, reads_only, workspace_of
from productops.web.params import MAX_ID, EndDate, StartDate
from productops.web.responses import error_responses

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
FilterParam = Annotated[
    list[Annotated[str, Field(min_length=3, max_length=400)]] | None,
    Query(
        max_length=20,
        description="PROPERTY:OP[:VALUE], e.g. account.plan:in:pro,enterprise or "
        "person.country:is_set (ops: " + ", ".join(FILTER_OPS) + ")",
    ),
]
CohortId = Annotated[int, Field(ge=1, le=MAX_ID)]
CohortParam = Annotated[
    list[CohortId] | None, Query(max_length=10, description="only people in these cohorts")
]
NotCohortParam = Annotated[
    list[CohortId] | None, Query(max_length=10, description="leave out people in these cohorts")
]
BreakdownCohortParam = Annotated[
    list[CohortId] | None,
    Query(max_length=10, description="break down by these cohorts (instead of `breakdown`)"),
]
PersonBreakdown = Annotated[
    str | None,
    Query(max_length=120, description="person.TRAIT or account.TRAIT, e.g. account.plan"),
]
OptionalEvent = Annotated[
    str | None,
    Query(
        max_length=200,
        json_schema_extra=PRINTABLE,
        description="count only this event as activity (default: any activity)",
    ),
    Printable,
]
NO_COHORT = error_responses((404, "no cohort with an id given"))
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


def _filters(
    db: Any,
    texts: list[str] | None,
    cohort: list[int] | None,
    not_cohort: list[int] | None,
    as_of: dt.date,
) -> Filters:
    return _inputs.filters_of(db, texts, cohort, not_cohort, as_of)


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


@router.get("/stickiness", summary="DAU/MAU and the days-active histogram", responses=NO_COHORT)
def api_stickiness(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    start: Start = None,
    end: End = None,
    grain: GrainParam = "day",
    event: OptionalEvent = None,
    breakdown: PersonBreakdown = None,
    breakdown_cohort: BreakdownCohortParam = None,
    filter: FilterParam = None,
    cohort: CohortParam = None,
    not_cohort: NotCohortParam = None,
) -> StickinessOut:
    """DAU/MAU, and people by how many days (weeks, months) they were active: of any
    activity or of one `event`, filtered, broken down by a trait or by cohorts."""
    s, e = _dates(request, start, end)
    filters = _filters(db, filter, cohort, not_cohort, e)
    b = _inputs.breakdown_of(db, breakdown, breakdown_cohort, e)
    with _events(request, event) as (con, activity):
        result = analyses.stickiness(
            con,
            s,
            e,
            grain=grain,
            activity=activity,
            event=event or None,
            filters=filters,
            breakdown=b,
        )
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


@router.get("/retention", summary="Cohort retention (first-time or recurring)", responses=NO_COHORT)
def api_retention(
    request: Request,
    db: DbDep,
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
    breakdown: PersonBreakdown = None,
    breakdown_cohort: BreakdownCohortParam = None,
    filter: FilterParam = None,
    cohort: CohortParam = None,
    not_cohort: NotCohortParam = None,
) -> InsightOut:
    """Cohort retention, filtered (events, people, accounts, cohorts) and broken down by a
    person or account trait or by cohorts (a `breakdown` column, one triangle per value)."""
    s, e = _period_dates(request, start, end, grain)
    filters = _filters(db, filter, cohort, not_cohort, e)
    b = _inputs.breakdown_of(db, breakdown, breakdown_cohort, e)
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
                filters=filters,
                breakdown=b,
            )
        )


@router.get("/funnel", summary="Ordered funnel with a conversion window", responses=NO_COHORT)
def api_funnel(
    request: Request,
    db: DbDep,
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
    breakdown_cohort: BreakdownCohortParam = None,
    filter: FilterParam = None,
    cohort: CohortParam = None,
    not_cohort: NotCohortParam = None,
) -> InsightOut:
    s, e = _dates(request, start, end)
    filters = _filters(db, filter, cohort, not_cohort, e)
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
                breakdown=_inputs.breakdown_of(db, breakdown, breakdown_cohort, e),
                activity=activity,
                filters=filters,
            )
        )


@router.get(
    "/lifecycle", summary="New, returning, resurrecting and dormant people", responses=NO_COHORT
)
def api_lifecycle(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    start: Start = None,
    end: End = None,
    grain: GrainParam = "week",
    event: OptionalEvent = None,
    breakdown: PersonBreakdown = None,
    breakdown_cohort: BreakdownCohortParam = None,
    filter: FilterParam = None,
    cohort: CohortParam = None,
    not_cohort: NotCohortParam = None,
) -> InsightOut:
    """New, returning, resurrecting and dormant people per period, of any activity or one
    `event`, filtered, broken down by a trait or by cohorts."""
    s, e = _period_dates(request, start, end, grain)
    filters = _filters(db, filter, cohort, not_cohort, e)
    b = _inputs.breakdown_of(db, breakdown, breakdown_cohort, e)
    with _events(request, event) as (con, activity):
        return _out(
            analyses.lifecycle(
                con,
                s,
                e,
                grain=grain,
                activity=activity,
                event=event or None,
                filters=filters,
                breakdown=b,
            )
        )


class TrendsQuery(BaseModel):
    """A trends question: series, formulas, breakdown, range, filters."""

    model_config = ConfigDict(extra="forbid")

    series: list[Series] = Field(min_length=1, max_length=10, description="A, B, C… in order")
    formulas: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=5, description="e.g. A / B * 100"
    )
    grain: GrainParam = "day"
    date_range: _inputs.DatePreset = Field(
        default="30d", description="7d, 30d, 90d, mtd (month to date) or custom (start, end)"
    )
    start: dt.date | None = None
    end: dt.date | None = Field(default=None, description="default: the newest event's day")
    breakdown: str | None = Field(
        default=None, max_length=120, description="event.PROPERTY, person.TRAIT or account.TRAIT"
    )
    breakdown_cohorts: list[CohortId] = Field(default_factory=list, max_length=10)
    breakdown_limit: int = Field(default=10, ge=1, le=50, description="top N values + (other)")
    compare: bool = Field(default=False, description="also the previous range, lined up")
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    cohorts: list[CohortId] = Field(default_factory=list, max_length=10)
    not_cohorts: list[CohortId] = Field(default_factory=list, max_length=10)


class TrendsOut(BaseModel):
    kind: str = Field(description="trends")
    params: dict[str, Any] = Field(description="the parameters it ran with")
    data: list[dict[str, Any]] = Field(
        description="one row per series, breakdown value and period: series, label, "
        "[breakdown], period, value, [compare, previous_period]"
    )
    totals: list[dict[str, Any]] = Field(description="each series over the whole range")
    sql: dict[str, str] = Field(description="the SQL each query compiled to")


def run_trends(request: Request, db: Any, body: TrendsQuery) -> Any:
    """The trends result of a query (pages and API)."""
    ws = workspace_of(request)
    newest = _end(request, None)
    s, e = _inputs.date_range(body.date_range, body.start, body.end, newest)
    for day in (s, e):
        if not analyses.EARLIEST <= day <= analyses.LATEST:
            raise InvalidInput(f"dates must lie between {analyses.EARLIEST} and {analyses.LATEST}")
    filters = _inputs.filters_of(db, None, body.cohorts, body.not_cohorts, e, body.filters)
    b = _inputs.breakdown_of(db, body.breakdown, body.breakdown_cohorts, e, body.breakdown_limit)
    names = [x.event for x in body.series if x.kind != "metric"]
    with _events(request, *names) as (con, activity):
        return trends(
            con,
            list(body.series),
            s,
            e,
            grain=body.grain,
            formulas=list(body.formulas),
            breakdown=b,
            compare=body.compare,
            filters=filters,
            activity=activity,
            metric_source=catalog_metric_source(ws),
        )


def catalog_metric_source(ws: Any) -> Any:
    """Catalog metrics as trends series: the metric's own definition, by a catalog
    dimension."""

    def source(
        name: str, by: str | None, grain: str, start: dt.date, end: dt.date
    ) -> tuple[Any, str]:
        from productops.analytics.catalog.metrics import query_metric
        from productops.analytics.catalog.service import load_catalog

        if by is not None:
            catalog = load_catalog(ws)
            named = {str(d.as_dimension()): n for n, d in catalog.dimensions.items()}
            if by not in catalog.dimensions and by not in named:
                raise InvalidInput(
                    f"catalog metric {name}: break down by a catalog dimension "
                    f"({', '.join(sorted(catalog.dimensions)) or 'none defined'})"
                )
            by = named.get(by, by)
        result = query_metric(ws, name, by=by, grain=grain, start=start, end=end)
        frame = result.frame
        if by is not None and by in frame.columns:
            frame = frame[["period", by, "value"]]
        return frame, str(result.sql)

    return source


@router.post(
    "/trends",
    summary="Trends: series, formulas, breakdowns, the previous range",
    responses=NO_COHORT,
)
@reads_only
def api_trends(request: Request, db: DbDep, principal: ReadApi, body: TrendsQuery) -> TrendsOut:
    """Series over time (event counts, unique people, a property's sum, average, min, max or
    percentile, catalog metrics) with formulas across them (`A / B * 100`), broken down by a
    dimension (top N + `(other)`) or by cohorts, optionally beside the previous range."""
    result = run_trends(request, db, body)
    params = {
        k: v.isoformat() if isinstance(v, dt.date) else v for k, v in result.series.params.items()
    }
    return TrendsOut(
        kind="trends",
        params=params,
        data=result.series.records(),
        totals=result.totals.records() if result.totals is not None else [],
        sql=result.series.sql(),
    )


def register(app: FastAPI) -> None:
    app.include_router(router)
