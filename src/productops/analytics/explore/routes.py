"""The explorer pages: trends, funnels, retention, stickiness, lifecycle and paths. The
question is asked at the side (it updates the answer as it changes, through htmx) and
the answer shows its chart, its numbers and its SQL, with a CSV of the numbers. Every page's
address holds the whole question, so a link shares it.

Filters on every page: property rows (`fp`, `fo`, `fv`: property, op, value), cohorts the
people must be in (`cohort`) or not (`not_cohort`); breakdowns by a dimension (`breakdown`)
or by cohorts (`breakdown_cohort`)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import QueryParams

from productops.analytics import analyses
from productops.analytics import charts as house_charts
from productops.analytics.analyses import funnel_depth as F
from productops.analytics.analyses import inputs
from productops.analytics.analyses.paths import path_people, paths
from productops.analytics.analyses.trend_series import PROPERTY_KINDS, Series, trends
from productops.analytics.catalog.service import CatalogError, activity_filter, load_catalog
from productops.analytics.cohorts import service as cohorts
from productops.analytics.explore import charts
from productops.analytics.explore.service import Shown, remembered
from productops.analytics.query.filters import FILTER_OPS, OP_WORDS
from productops.analytics.query.source import (
    check_events_seen,
    default_end,
    event_names,
    event_source,
)
from productops.core.clock import utcnow
from productops.core.errors import InvalidInput, NotFound
from productops.web.deps import DbDep, UserPage, WritePage, workspace_of
from productops.web.export import frame_response
from productops.web.templating import render_charts

pages = APIRouter(include_in_schema=False)
SERIES_KINDS = {
    "events": "Total events",
    "people": "Unique people",
    "sum": "Sum of property",
    "avg": "Average of property",
    "min": "Minimum of property",
    "max": "Maximum of property",
    "median": "Median of property",
    "p75": "75th percentile",
    "p90": "90th percentile",
    "p95": "95th percentile",
    "p99": "99th percentile",
    "metric": "Catalog metric",
}
MAX_ROWS = 10
# the days a page takes (the analyses take 1900-2999; a page's range is nearer home)
PAGE_EARLIEST, PAGE_LATEST = dt.date(1970, 1, 1), dt.date(2099, 12, 31)


# --- reading the question ---------------------------------------------------------------------


def _int(q: QueryParams, name: str, default: int, lo: int, hi: int) -> int:
    raw = (q.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}: {raw[:20]!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise InvalidInput(f"{name}: choose {lo} to {hi}")
    return value


def _choice(q: QueryParams, name: str, allowed: tuple[str, ...] | list[str], default: str) -> str:
    value = (q.get(name) or default).strip()
    if value not in allowed:
        raise InvalidInput(f"{name}: use one of {', '.join(allowed)}")
    return value


def _day(q: QueryParams, name: str) -> dt.date | None:
    raw = (q.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name}: write the day as YYYY-MM-DD") from None
    if not PAGE_EARLIEST <= day <= PAGE_LATEST:
        raise InvalidInput(f"{name}: {day} is outside {PAGE_EARLIEST} to {PAGE_LATEST}")
    return day


def _ids(q: QueryParams, name: str) -> list[int]:
    out = []
    for raw in q.getlist(name):
        raw = raw.strip()
        if not raw:
            continue
        if not raw.isdigit() or len(raw) > 9:
            raise InvalidInput(f"{name}: {raw[:20]!r} is not a cohort id")
        out.append(int(raw))
    return out[:10]


def _text(q: QueryParams, name: str, limit: int = 200) -> str:
    value = (q.get(name) or "").strip()
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"{name}: 1 to {limit} printable characters")
    return value


class Question:
    """The parts every explorer shares: range, filters, breakdown."""

    def __init__(self, request: Request, db: Any, default_days: int = 30) -> None:
        q = request.query_params
        self.q = q
        ws = workspace_of(request)
        self.ws = ws
        self.newest = default_end(ws)
        self.preset = _choice(q, "range", list(inputs.DATE_PRESETS), "custom")
        start, end = _day(q, "start"), _day(q, "end")
        if self.preset and self.preset != "custom":
            self.start, self.end = inputs.date_range(self.preset, None, end, self.newest)
        else:
            self.end = end or self.newest
            self.start = start or self.end - dt.timedelta(days=default_days - 1)
        if self.start > self.end:
            raise InvalidInput(f"the start date {self.start} is after the end date {self.end}")
        props = q.getlist("fp")[:20]
        self.filter_rows = list(
            zip(props, q.getlist("fo")[: len(props)], q.getlist("fv")[: len(props)], strict=False)
        )
        parsed = inputs.form_filters(props, q.getlist("fo"), q.getlist("fv"))
        parsed += [inputs.parse_filter(t) for t in q.getlist("filter")[:20] if t.strip()]
        self.cohort_ids = _ids(q, "cohort")
        self.not_cohort_ids = _ids(q, "not_cohort")
        self.filters = inputs.filters_of(
            db, None, self.cohort_ids, self.not_cohort_ids, self.end, parsed
        )
        self.breakdown_text = _text(q, "breakdown", 120)
        self.breakdown_cohorts = _ids(q, "breakdown_cohort")
        self.limit = _int(q, "limit", 10, 1, 50)
        self.breakdown = inputs.breakdown_of(
            db, self.breakdown_text or None, self.breakdown_cohorts, self.end, self.limit
        )
        self.activity = activity_filter(ws)

    def key(self) -> list[Any]:
        return [
            str(self.start),
            str(self.end),
            self.filters.key(),
            self.breakdown.key() if self.breakdown else None,
        ]

    def link(self, **changes: Any) -> str:
        """This page's address with some parameters changed."""
        items = [(k, v) for k, v in self.q.multi_items() if k not in changes]
        for k, v in changes.items():
            if isinstance(v, list):
                items += [(k, str(x)) for x in v]
            elif v is not None:
                items.append((k, str(v)))
        return "?" + urlencode(items)


def _context(request: Request, db: Any, kind: str, title: str) -> dict[str, Any]:
    ws = workspace_of(request)
    dims = _dimension_choices(ws)
    return {
        "kind": kind,
        "title": title,
        "tab": kind,
        "action": f"/insights/{kind}",
        "event_names": list(event_names(ws))[:300],
        "dimensions": dims,
        "cohorts": cohorts.list_cohorts(db),
        "ops": [(op, OP_WORDS[op]) for op in FILTER_OPS],
        "presets": inputs.DATE_PRESETS,
        "series_kinds": SERIES_KINDS,
        "metrics": _metric_names(ws),
        "panels": [],
        "error": None,
        "q": request.query_params,
    }


def _dimension_choices(ws: Any) -> list[str]:
    out = ["account.plan", "account.segment", "account.region", "person.country", "event.$browser"]
    try:
        catalog = load_catalog(ws)
        out += [str(d.as_dimension()) for d in catalog.dimensions.values()]
    except CatalogError:
        pass
    return list(dict.fromkeys(out))


def _metric_names(ws: Any) -> list[str]:
    try:
        return [m.name for m in load_catalog(ws).metrics]
    except CatalogError:
        return []


def _page(request: Request, context: dict[str, Any]) -> Response:
    fmt = request.query_params.get("format")
    if fmt in ("csv", "parquet") and context.get("panels") and not context.get("error"):
        panel = context["panels"][0]
        return frame_response(panel.data, fmt, f"{context['kind']}-{panel.key}")
    status = 422 if context.get("error") else 200
    return render_charts(request, "analytics/explore_page.html", context, status_code=status)


def _ask(request: Request, db: Any, kind: str, title: str, build: Any) -> Response:
    context = _context(request, db, kind, title)
    try:
        question = Question(request, db, 90 if kind in ("retention", "lifecycle") else 30)
        context["question"] = question
        build(question, context)
    except (InvalidInput, NotFound) as exc:
        context["error"] = str(exc)
    return _page(request, context)


def _people_page(
    request: Request,
    db: Any,
    page: tuple[str, str],
    people: list[str],
    label: str,
    filename: str,
) -> Response:
    """The people behind one part of an answer (a funnel step, a path node): a list that can
    be saved as a cohort, or their ids as CSV / Parquet with `format`. `page` is the
    explorer's kind and title."""
    fmt = request.query_params.get("format")
    if fmt in ("csv", "parquet"):
        return frame_response(pd.DataFrame({"person_id": people}), fmt, filename)
    kind, title = page
    context = _context(request, db, kind, title)
    context.update(people=people, people_label=label, save_query=str(request.url.query))
    return render_charts(request, "analytics/explore_people.html", context)


def _sql(insight: Any) -> dict[str, str]:
    return insight.sql() if insight is not None else {}


# --- trends -------------------------------------------------------------------------------------


def _series(q: QueryParams) -> list[Series]:
    kinds = q.getlist("s_kind")[:MAX_ROWS] or ["events"]
    events = q.getlist("s_event")
    props = q.getlist("s_property")
    metrics = q.getlist("s_metric")
    out = []
    for i, kind in enumerate(kinds):
        event = (events[i] if i < len(events) else "").strip() or analyses.ANY_EVENT
        prop = (props[i] if i < len(props) else "").strip() or None
        metric = (metrics[i] if i < len(metrics) else "").strip() or None
        if not kind or (kind == "metric" and not metric):
            continue  # an empty row of the form
        if kind in PROPERTY_KINDS and not prop:
            raise InvalidInput(f"series {chr(65 + i)}: name the numeric property")
        try:
            out.append(
                Series(
                    kind=kind,
                    event=event,
                    property=prop if kind in PROPERTY_KINDS else None,
                    metric=metric if kind == "metric" else None,
                )
            )
        except ValueError as exc:
            raise InvalidInput(f"series {chr(65 + i)}: {exc}") from None
    return out or [Series()]


@pages.get("/insights/trends")
def trends_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """Series over time, with formulas, breakdowns, the previous range and five displays."""

    def build(question: Question, context: dict[str, Any]) -> None:
        q = question.q
        series = _series(q)
        formulas = [f for f in q.getlist("formula")[:5] if f.strip()]
        grain = _choice(q, "grain", ("day", "week", "month"), "day")
        display = _choice(q, "display", charts.DISPLAYS, "line")
        compare = q.get("compare") in ("1", "on", "true")
        context.update(
            series=series, formulas=formulas, grain=grain, display=display, compare=compare
        )
        names = [s.event for s in series if s.kind != "metric"]
        check_events_seen(question.ws, names, "series event")
        from productops.analytics.analyses.routes import catalog_metric_source

        def compute() -> Any:
            with event_source(question.ws) as con:
                return trends(
                    con,
                    series,
                    question.start,
                    question.end,
                    grain=grain,  # type: ignore[arg-type]
                    formulas=formulas,
                    breakdown=question.breakdown,
                    compare=compare,
                    filters=question.filters,
                    activity=question.activity,
                    metric_source=catalog_metric_source(question.ws),
                )

        key = ["trends", question.key(), [s.model_dump() for s in series], formulas, grain, compare]
        result, at = remembered(question.ws, key, compute)
        data = result.series.data
        totals = result.totals.data if result.totals is not None else pd.DataFrame()
        described = ", ".join(f"{chr(65 + i)}: {s.describe()}" for i, s in enumerate(series))
        shown = data
        if display == "table" and len(data):
            shown = _trends_table(data)
        elif display == "number" and len(totals):
            shown = totals
        main = Shown(
            "trends",
            described + (" · " + ", ".join(formulas) if formulas else ""),
            _describe(question, f"per {grain}"),
            shown,
            charts.trends_chart(
                data,
                display,
                grain,
                house_charts.workspace_palette(db),
                unfinished=_unfinished(data, grain, question.start, question.end),
            ),
            _sql(result.series),
            computed_at=at,
        )
        context["panels"] = [main]
        context["totals"] = totals
        context["labels"] = {chr(65 + i): s.describe() for i, s in enumerate(series)}

    return _ask(request, db, "trends", "Trends", build)


def _unfinished(data: pd.DataFrame, grain: str, start: dt.date, end: dt.date) -> set[dt.date]:
    """The trend's periods to dash or fade: cut by the range, or not over yet."""
    if data.empty or "period" not in data.columns:
        return set()
    periods = {pd.Timestamp(p).date() for p in data["period"]}
    return house_charts.unfinished_periods(
        periods,
        grain,  # type: ignore[arg-type]
        start,
        end,
        utcnow().date(),
    )


def _trends_table(data: pd.DataFrame) -> pd.DataFrame:
    """One row per series (and breakdown value, and range), one column per period."""
    keys = [c for c in ("series", "label", "breakdown", "compare") if c in data.columns]
    wide = data.pivot_table(index=keys, columns="period", values="value", aggfunc="first")
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


def _describe(question: Question, what: str) -> str:
    parts = [f"{question.start} to {question.end}, {what}"]
    if question.filters.describe():
        parts.append("where " + " and ".join(question.filters.describe()))
    if question.breakdown is not None:
        parts.append(f"by {question.breakdown}")
    return "; ".join(parts) + "."


# --- retention, stickiness, lifecycle -----------------------------------------------------------


@pages.get("/insights/retention")
def retention_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """Cohort retention on any start and return event, filtered, broken down."""

    def build(question: Question, context: dict[str, Any]) -> None:
        q = question.q
        start_event = _text(q, "start_event") or analyses.ANY_EVENT
        return_event = _text(q, "return_event") or None
        grain = _choice(q, "grain", ("day", "week", "month"), "week")
        mode = _choice(q, "mode", ("first_time", "recurring"), "first_time")
        return_mode = _choice(q, "return_mode", ("on", "on_or_after"), "on")
        periods = _int(q, "periods", 8, 1, 60)
        context.update(grain=grain)
        check_events_seen(question.ws, [start_event, return_event or ""], "retention event")

        def compute() -> Any:
            with event_source(question.ws) as con:
                return analyses.retention(
                    con,
                    question.start,
                    question.end,
                    start_event=start_event,
                    return_event=return_event,
                    grain=grain,  # type: ignore[arg-type]
                    mode=mode,  # type: ignore[arg-type]
                    return_mode=return_mode,  # type: ignore[arg-type]
                    periods=periods,
                    activity=question.activity,
                    filters=question.filters,
                    breakdown=question.breakdown,
                )

        key = [
            "retention",
            question.key(),
            start_event,
            return_event,
            grain,
            mode,
            return_mode,
            periods,
        ]
        result, at = remembered(question.ws, key, compute)
        shown_start = "any activity" if start_event == analyses.ANY_EVENT else start_event
        if question.breakdown is None:
            chart = house_charts.retention_chart(
                result.data, grain, today=question.end + dt.timedelta(days=1)
            )
        else:
            chart = charts.retention_curves(result.data)
        context["panels"] = [
            Shown(
                "retention",
                f"{shown_start} → {return_event or shown_start}",
                _describe(question, f"cohorts by {grain}, back N {grain}s later"),
                result.data,
                chart,
                _sql(result),
                computed_at=at,
            )
        ]

    return _ask(request, db, "retention", "Retention", build)


@pages.get("/insights/stickiness")
def stickiness_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """How many days (weeks, months) of the range people did an event, broken down."""

    def build(question: Question, context: dict[str, Any]) -> None:
        q = question.q
        event = _text(q, "event") or None
        grain = _choice(q, "grain", ("day", "week", "month"), "day")
        context.update(grain=grain)
        check_events_seen(question.ws, [event or ""], "event")

        def compute() -> Any:
            with event_source(question.ws) as con:
                return analyses.stickiness(
                    con,
                    question.start,
                    question.end,
                    grain=grain,  # type: ignore[arg-type]
                    activity=question.activity,
                    event=event,
                    filters=question.filters,
                    breakdown=question.breakdown,
                )

        result, at = remembered(question.ws, ["stickiness", question.key(), event, grain], compute)
        hist = result.days_active.data
        if question.breakdown is None:
            chart = house_charts.bar_histogram(
                hist, "active_periods", "persons", f"{grain}s active", "people"
            )
        else:
            chart = charts.breakdown_lines(
                hist, "active_periods", "persons", f"{grain}s active", "people"
            )
        ratio = result.ratio.data
        context["panels"] = [
            Shown(
                "stickiness",
                f"{grain.capitalize()}s active: {event or 'any activity'}",
                _describe(question, f"people by how many {grain}s they were active"),
                hist,
                chart,
                _sql(result.days_active),
                computed_at=at,
            ),
            Shown(
                "dau-mau",
                "DAU / MAU",
                "Share of the month's active people active on each day.",
                ratio,
                house_charts.series_chart(ratio, "day", "dau_mau", None, "DAU/MAU", percent=True)
                if len(ratio)
                else None,
                _sql(result.ratio),
                computed_at=at,
            ),
        ]

    return _ask(request, db, "stickiness", "Stickiness", build)


@pages.get("/insights/lifecycle")
def lifecycle_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """New, returning, resurrecting and dormant people per period, of any event."""

    def build(question: Question, context: dict[str, Any]) -> None:
        q = question.q
        event = _text(q, "event") or None
        grain = _choice(q, "grain", ("day", "week", "month"), "week")
        context.update(grain=grain)
        check_events_seen(question.ws, [event or ""], "event")

        def compute() -> Any:
            with event_source(question.ws) as con:
                return analyses.lifecycle(
                    con,
                    question.start,
                    question.end,
                    grain=grain,  # type: ignore[arg-type]
                    activity=question.activity,
                    event=event,
                    filters=question.filters,
                    breakdown=question.breakdown,
                )

        result, at = remembered(question.ws, ["lifecycle", question.key(), event, grain], compute)
        if question.breakdown is None:
            periods = list(result.data["period"]) if len(result.data) else []
            unfinished = house_charts.unfinished_periods(
                periods,
                grain,  # type: ignore[arg-type]
                question.start,
                question.end,
                question.end + dt.timedelta(days=1),
            )
            chart = house_charts.lifecycle_chart(result.data, grain, unfinished)
        else:
            chart = charts.lifecycle_by(result.data, grain)
        context["panels"] = [
            Shown(
                "lifecycle",
                f"Lifecycle of {event or 'any activity'} by {grain}",
                _describe(question, f"per {grain}"),
                result.data,
                chart,
                _sql(result),
                computed_at=at,
            )
        ]

    return _ask(request, db, "lifecycle", "Lifecycle", build)


# --- funnels ------------------------------------------------------------------------------------


def _funnel_question(q: QueryParams) -> tuple[list[str], int, list[F.Exclusion]]:
    steps = [s.strip() for s in q.getlist("steps")[:10] if s.strip()]
    window = _int(q, "window", 14, 1, 365)
    exclusions = []
    ex_events = q.getlist("ex_event")
    ex_from, ex_to = q.getlist("ex_from"), q.getlist("ex_to")
    for i, name in enumerate(ex_events[:5]):
        if not name.strip():
            continue
        try:
            exclusions.append(
                F.Exclusion(
                    event=name.strip(),
                    from_step=int(ex_from[i]) if i < len(ex_from) and ex_from[i] else 1,
                    to_step=int(ex_to[i]) if i < len(ex_to) and ex_to[i] else len(steps),
                )
            )
        except ValueError as exc:
            raise InvalidInput(f"exclusion {name}: {exc}") from None
    return steps, window, exclusions


@pages.get("/insights/funnel")
def funnel_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """A funnel of ordered steps: conversion, time to convert, the people at each step,
    exclusions and what goes with converting."""

    def build(question: Question, context: dict[str, Any]) -> None:
        q = question.q
        steps, window, exclusions = _funnel_question(q)
        correlate = _text(q, "correlate", 120) or None
        context.update(steps=steps, window=window, exclusions=exclusions, correlate=correlate)
        if len(steps) < 2:
            if steps:
                raise InvalidInput("a funnel needs at least two steps")
            return
        check_events_seen(question.ws, steps + [x.event for x in exclusions], "funnel step")

        def compute() -> Any:
            with event_source(question.ws) as con:
                plain = analyses.funnel(
                    con,
                    steps,
                    question.start,
                    question.end,
                    window=dt.timedelta(days=window),
                    breakdown=question.breakdown,
                    activity=question.activity,
                    filters=question.filters,
                )
                deep = F.funnel_people(
                    con,
                    steps,
                    question.start,
                    question.end,
                    window=dt.timedelta(days=window),
                    exclusions=exclusions,
                    filters=question.filters,
                )
                corr = F.correlation(
                    con,
                    deep,
                    question.start,
                    question.end,
                    dimension=correlate,
                    activity=question.activity,
                    filters=question.filters,
                )
            return plain, deep, corr

        key = [
            "funnel",
            question.key(),
            steps,
            window,
            [x.model_dump() for x in exclusions],
            correlate,
        ]
        (plain, deep, corr), at = remembered(question.ws, key, compute)
        counts = F.step_counts(deep)
        summary, hist = F.times_to_convert(deep)
        main_data = plain.data if not exclusions else counts
        context["panels"] = [
            Shown(
                "funnel",
                " → ".join(steps),
                _describe(question, f"in order within {window} days")
                + (
                    " Excluding: "
                    + ", ".join(
                        f"{x.event} between steps {x.from_step} and {x.to_step}" for x in exclusions
                    )
                    if exclusions
                    else ""
                ),
                main_data,
                house_charts.funnel_chart(plain.data) if not exclusions else None,
                {**_sql(plain), **_sql(deep.query)},
                computed_at=at,
            ),
            Shown(
                "time-to-convert",
                "Time to convert",
                "From each step to the next, for the people who made it (the attempt that "
                "went furthest).",
                summary,
                charts.time_histogram(hist),
                _sql(deep.query),
                computed_at=at,
            ),
            Shown(
                "correlation",
                "What goes with converting" + (f" ({correlate})" if correlate else " (events)"),
                "Odds ratio of reaching the last step with it against without it (+1 smoothing); "
                "above 1 goes with converting, below 1 with dropping.",
                corr.data,
                None,
                _sql(corr),
                computed_at=at,
            ),
        ]
        context["step_counts"] = counts
        context["funnel_link"] = question.link

    return _ask(request, db, "funnel", "Funnels", build)


@pages.get("/insights/funnel/people")
def funnel_people_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """The people who converted to, or dropped at, one step (CSV with format=csv)."""
    question = Question(request, db)
    steps, window, exclusions = _funnel_question(question.q)
    step = _int(question.q, "step", 1, 1, 10)
    which = _choice(question.q, "which", ("converted", "dropped"), "converted")
    with event_source(question.ws) as con:
        deep = F.funnel_people(
            con,
            steps,
            question.start,
            question.end,
            window=dt.timedelta(days=window),
            exclusions=exclusions,
            filters=question.filters,
        )
    people = F.people_at(deep, step, which)
    label = f"{which} at step {step} ({steps[step - 1] if step <= len(steps) else ''})"
    return _people_page(
        request, db, ("funnel", "Funnels"), people, label, f"funnel-step-{step}-{which}"
    )


@pages.post("/insights/funnel/people/cohort")
def funnel_people_cohort(
    request: Request,
    db: DbDep,
    principal: WritePage,
    name: str = Form(min_length=1, max_length=200),
    people: list[str] = Form(max_length=100_000),
) -> Response:
    """Save the people shown as a static cohort."""
    row = cohorts.create_cohort(db, name, people=people, actor=principal.actor)
    return RedirectResponse(f"/insights/cohorts/{row.id}", status_code=303)


# --- paths --------------------------------------------------------------------------------------


def _paths_question(q: QueryParams) -> dict[str, Any]:
    share = (q.get("min_share") or "").strip()
    try:
        min_share = float(share) / 100 if share else 0.01
    except ValueError:
        raise InvalidInput("minimum share: a percentage, e.g. 2") from None
    return {
        "event": _text(q, "event") or None,
        "direction": _choice(q, "direction", ("after", "before"), "after"),
        "depth": _int(q, "depth", 5, 2, 10),
        "min_share": min_share,
        "max_per_step": _int(q, "per_step", 8, 1, 30),
    }


@pages.get("/insights/paths")
def paths_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """What people do after (or before) an event: a flow of steps; click a node for its
    people."""

    def build(question: Question, context: dict[str, Any]) -> None:
        p = _paths_question(question.q)
        context.update(paths_form=p)
        check_events_seen(question.ws, [p["event"] or ""], "path event")

        def compute() -> Any:
            with event_source(question.ws) as con:
                return paths(
                    con,
                    question.start,
                    question.end,
                    filters=question.filters,
                    activity=question.activity,
                    **p,
                )

        result, at = remembered(question.ws, ["paths", question.key(), p], compute)

        def link(step: int, name: str) -> str:
            return "/insights/paths/people" + question.link(step=step, node=name)

        anchor = p["event"] or "their first event"
        context["svg"] = charts.sankey_svg(result.nodes.data, result.edges.data, link)
        context["panels"] = [
            Shown(
                "paths",
                f"{'After' if p['direction'] == 'after' else 'Before'} {anchor}",
                _describe(question, f"{p['depth']} steps, repeats folded")
                + f" {result.anchor_people:,} people; links under {p['min_share']:.0%} hidden.",
                result.edges.data,
                None,
                _sql(result.edges),
                computed_at=at,
            ),
            Shown(
                "path-nodes", "People at each step", "", result.nodes.data, None, {}, computed_at=at
            ),
        ]

    return _ask(request, db, "paths", "Paths", build)


@pages.get("/insights/paths/people")
def paths_people_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """The people at one node of a paths flow."""
    question = Question(request, db)
    p = _paths_question(question.q)
    step = _int(question.q, "step", 1, 1, 10)
    node = _text(question.q, "node")
    with event_source(question.ws) as con:
        people, total = path_people(
            con,
            question.start,
            question.end,
            step,
            node,
            event=p["event"],
            direction=p["direction"],
            depth=p["depth"],
            filters=question.filters,
            activity=question.activity,
            limit=100_000,
        )
    label = f"at step {step}: {node} ({total:,})"
    return _people_page(request, db, ("paths", "Paths"), people, label, f"paths-step-{step}")


def register(app: FastAPI) -> None:
    app.include_router(pages)
