"""Saved insights drawn as panels: a SQL query, a funnel, retention, stickiness, lifecycle,
trends or a catalog metric, each from the parameters its explorer ran with, over the range
and with the filters a dashboard sets for all its panels.

An explorer's insight is saved as its page's query string (`{"query": "steps=A&steps=B&…"}`),
so that what is saved is exactly what the page showed and the link back to the explorer is
the page itself; trends and SQL keep their own bodies. A dashboard's range replaces the
insight's own; its filters (`PROPERTY:OP[:VALUE]` texts and cohort ids) are added to the
insight's, for every kind that takes filters, catalog metrics included (the events they
count are filtered); a SQL query is run as written, and its panel on a dashboard says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlencode

import pandas as pd
from sqlalchemy.orm import Session

from productops.analytics import analyses, charts
from productops.analytics.catalog.service import activity_filter
from productops.analytics.dashboards.service import (
    Panel,
    _cache,
    _metric_panel,
    _stamp,
    _versions,
    palette,
)
from productops.analytics.explore import charts as explore_charts
from productops.analytics.query.cache import key_of
from productops.analytics.query.source import check_events_seen, default_end, event_source
from productops.analytics.sql import service as sql_service
from productops.analytics.sql.chart import ChartChoice, result_chart
from productops.core.clock import utcnow
from productops.core.errors import InvalidInput, NotFound, ProductOpsError
from productops.core.workspace import Workspace

EXPLORERS = {
    "funnel": "/insights/funnel",
    "retention": "/insights/retention",
    "stickiness": "/insights/stickiness",
    "lifecycle": "/insights/lifecycle",
    "trends": "/insights/trends",
    "paths": "/insights/paths",
}
KIND_LABELS = {
    "sql": "SQL query",
    "funnel": "Funnel",
    "retention": "Retention",
    "stickiness": "Stickiness",
    "lifecycle": "Lifecycle",
    "trends": "Trends",
    "paths": "Paths",
    "metric": "Catalog metric",
}
DEFAULT_DAYS = {"funnel": 30, "retention": 70, "stickiness": 30, "lifecycle": 84, "metric": 90}
SQL_PANEL_ROWS = 1_000
CANNOT_DRAW = "This insight cannot be drawn"
MAX_DAYS = 3660


@dataclass(frozen=True)
class Scope:
    """What a dashboard sets for every panel: a range (`days` back from the newest event, or
    `start`/`end`) and filters added to each insight's own."""

    days: int | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    filters: tuple[str, ...] = ()
    cohorts: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: dict[str, Any] | None) -> Scope:
        s = settings or {}

        def day(v: Any) -> dt.date | None:
            return dt.date.fromisoformat(v) if isinstance(v, str) and v else None

        days = s.get("days")
        return cls(
            days=int(days) if isinstance(days, int) and 1 <= days <= MAX_DAYS else None,
            start=day(s.get("start")),
            end=day(s.get("end")),
            filters=tuple(str(f) for f in s.get("filters") or [] if str(f).strip()),
            cohorts=tuple(int(c) for c in s.get("cohorts") or [] if str(c).isdigit()),
        )

    def as_settings(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "filters": list(self.filters),
            "cohorts": list(self.cohorts),
        }

    def range(self, ws: Workspace, own_days: int) -> tuple[dt.date, dt.date]:
        end = self.end or default_end(ws)
        if self.start is not None:
            return self.start, end
        return end - dt.timedelta(days=(self.days or own_days) - 1), end


def query_params(query: str) -> dict[str, list[str]]:
    """An explorer's query string as lists of values (empty boxes dropped)."""
    parsed = parse_qs(query or "", keep_blank_values=False, max_num_fields=200)
    return {k: [v for v in vs if v.strip()] for k, vs in parsed.items()}


def _one(params: dict[str, list[str]], name: str, default: str = "") -> str:
    values = params.get(name) or []
    return values[0].strip() if values else default


def _int(params: dict[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    text = _one(params, name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not '{text}'") from None
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be {lo} to {hi}")
    return value


def _day(params: dict[str, list[str]], name: str) -> dt.date | None:
    text = _one(params, name)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a day (YYYY-MM-DD), not '{text}'") from None


def explorer_url(kind: str, params: dict[str, Any]) -> str | None:
    """The explorer page that shows the insight (its own query string)."""
    base = EXPLORERS.get(kind)
    if base is None:
        return "/insights/sql" if kind == "sql" else None
    query = params.get("query")
    return f"{base}?{query}" if isinstance(query, str) and query else base


def check_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters kept for a saved insight of `kind`, checked as far as their shape goes
    (what the data decides, such as an event never seen, shows in the panel instead)."""
    if kind == "sql":
        query = sql_service.check_query(str(params.get("query") or ""))
        return {"query": query, "chart": ChartChoice.of(params.get("chart")).as_params()}
    if kind == "metric":
        metric = str(params.get("metric") or "").strip()
        if not metric:
            raise InvalidInput("a metric insight names a catalog metric")
        grain = str(params.get("grain") or "week")
        if grain not in ("day", "week", "month"):
            raise InvalidInput("grain must be day, week or month")
        days = params.get("days", 90)
        if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise InvalidInput(f"days must be 1 to {MAX_DAYS}")
        return {"metric": metric, "by": params.get("by") or None, "grain": grain, "days": days}
    if kind in EXPLORERS:
        query = params.get("query", "")
        if not isinstance(query, str) or len(query) > 8000:
            raise InvalidInput("an explorer insight keeps its page's query string (8,000 at most)")
        if kind == "funnel" and len(query_params(query).get("steps", [])) < 2:
            raise InvalidInput("a funnel needs at least two steps")
        return {"query": query.lstrip("?")}
    raise InvalidInput(f"no kind of insight '{kind}'")


# --- computing --------------------------------------------------------------------------------


def _filters(session: Session, own: dict[str, list[str]], scope: Scope, end: dt.date) -> Any:
    """The explorer's filters (rows of property / op / value, `filter` texts, cohorts) and the
    dashboard's, together."""
    from productops.analytics.analyses.inputs import filters_of, form_filters

    props = own.get("fp", [])[:20]
    parsed = form_filters(props, own.get("fo", []), own.get("fv", [])) if props else []
    texts = list(own.get("filter", [])) + list(own.get("filters", [])) + list(scope.filters)
    ids = [int(c) for c in own.get("cohort", []) + own.get("cohorts", []) if c.isdigit()]
    ids += list(scope.cohorts)
    not_ids = [int(c) for c in own.get("not_cohort", []) if c.isdigit()]
    return filters_of(session, texts, ids, not_ids, end, parsed)


def _own_range(
    ws: Workspace, own: dict[str, list[str]], scope: Scope, default_days: int
) -> tuple[dt.date, dt.date]:
    """The dashboard's range when it sets one, else the explorer's (a preset such as `30d`,
    or from / to)."""
    from productops.analytics.analyses.inputs import date_range

    if scope.start is not None or scope.days is not None or scope.end is not None:
        return scope.range(ws, default_days)
    preset = _one(own, "range") or _one(own, "date_range")
    start, end = _day(own, "start"), _day(own, "end")
    if preset and preset != "custom":
        return date_range(preset, None, end, default_end(ws))
    end = end or default_end(ws)
    return start or end - dt.timedelta(days=default_days - 1), end


def _breakdown(session: Session, own: dict[str, list[str]], end: dt.date) -> Any:
    from productops.analytics.analyses.inputs import breakdown_of

    ids = [int(c) for c in own.get("breakdown_cohort", []) if c.isdigit()]
    limit = _int(own, "limit", 10, 1, 50)
    return breakdown_of(session, _one(own, "breakdown") or None, ids, end, limit)


def _panel(
    kind: str, title: str, description: str, result: Any, chart: dict[str, Any] | None
) -> Panel:
    return Panel(kind, title, description, result.data, chart, result.sql())


def _compute(
    ws: Workspace,
    session: Session,
    kind: str,
    params: dict[str, Any],
    scope: Scope,
    today: dt.date,
) -> Panel:
    if kind == "sql":
        rows = sql_service.run_sql(ws, str(params.get("query", "")), limit=SQL_PANEL_ROWS)
        frame = pd.DataFrame(rows.json_rows(), columns=rows.columns)
        if len(set(rows.columns)) != len(rows.columns):
            frame = pd.DataFrame(rows.json_rows())
        chart = result_chart(rows, ChartChoice.of(params.get("chart")))
        note = f" (first {SQL_PANEL_ROWS:,} rows)" if rows.truncated else ""
        return Panel(
            "sql", "", f"A saved SQL query{note}.", frame, chart, {"query": params["query"]}
        )
    if kind == "metric":
        days = int(params.get("days", 90))
        start, end = scope.range(ws, days)
        p = {**params, "days": (end - start).days + 1}
        filters = _filters(session, {}, scope, end) if scope.filters or scope.cohorts else None
        return _metric_panel(ws, p, 0, start, end, today, palette(ws), filters)
    own = query_params(str(params.get("query", "")))
    if kind == "trends":
        return _trends(ws, session, params, own, scope)
    start, end = _own_range(ws, own, scope, DEFAULT_DAYS.get(kind, 30))
    if start > end:
        raise InvalidInput(f"the start date {start} is after the end date {end}")
    filters = _filters(session, own, scope, end)
    activity = activity_filter(ws)
    if kind == "funnel":
        steps = own.get("steps", [])
        check_events_seen(ws, steps, "funnel step")
        window = _int(own, "window", 14, 1, 365)
        with event_source(ws) as con:
            result = analyses.funnel(
                con,
                steps,
                start,
                end,
                window=dt.timedelta(days=window),
                breakdown=_one(own, "breakdown") or None,
                activity=activity,
                filters=filters,
            )
        return _panel(
            kind,
            " → ".join(steps),
            f"People who did each step in order within {window} days, {start} to {end}.",
            result,
            charts.funnel_chart(result.data, palette(ws)),
        )
    if kind == "retention":
        start_event = _one(own, "start_event", "*") or "*"
        return_event = _one(own, "return_event") or None
        check_events_seen(ws, [start_event, return_event or ""], "event")
        grain = _one(own, "grain", "week")
        with event_source(ws) as con:
            result = analyses.retention(
                con,
                start,
                end,
                start_event=start_event,
                return_event=return_event,
                grain=grain,  # type: ignore[arg-type]
                mode=_one(own, "mode", "first_time"),  # type: ignore[arg-type]
                return_mode=_one(own, "return_mode", "on"),  # type: ignore[arg-type]
                periods=_int(own, "periods", 8, 1, 60),
                activity=activity,
                filters=filters,
                breakdown=_breakdown(session, own, end),
            )
        shown = "any activity" if start_event == "*" else start_event
        return _panel(
            kind,
            f"{shown} → {return_event or shown}",
            f"Cohorts by {grain}, {start} to {end}; the share back N {grain}s later.",
            result,
            charts.retention_chart(result.data, grain, today=today)
            if "breakdown" not in result.data.columns
            else explore_charts.retention_curves(result.data),
        )
    if kind in ("stickiness", "lifecycle"):
        grain = _one(own, "grain", "day" if kind == "stickiness" else "week")
        event = _one(own, "event") or None
        if event:
            check_events_seen(ws, [event])
        with event_source(ws) as con:
            if kind == "stickiness":
                st = analyses.stickiness(
                    con,
                    start,
                    end,
                    grain=grain,  # type: ignore[arg-type]
                    activity=activity,
                    event=event,
                    filters=filters,
                    breakdown=_breakdown(session, own, end),
                )
                hist = st.days_active
                frame = hist.data
                chart = None
                if len(frame) and "breakdown" in frame.columns:
                    chart = explore_charts.breakdown_lines(
                        frame, "active_periods", "persons", f"{grain}s active", "people"
                    )
                elif len(frame.columns) >= 2 and len(frame):
                    chart = charts.bar_histogram(
                        frame,
                        str(frame.columns[0]),
                        str(frame.columns[1]),
                        f"{grain}s active",
                        "people",
                    )
                return Panel(
                    kind,
                    f"Stickiness: {event or 'any activity'}",
                    f"People by the number of {grain}s they were active, {start} to {end}.",
                    frame,
                    chart,
                    hist.sql(),
                )
            lc = analyses.lifecycle(
                con,
                start,
                end,
                grain=grain,  # type: ignore[arg-type]
                activity=activity,
                event=event,
                filters=filters,
                breakdown=_breakdown(session, own, end),
            )
        periods = list(lc.data["period"]) if "period" in lc.data.columns else []
        unfinished = charts.unfinished_periods(periods, grain, start, end, today)  # type: ignore[arg-type]
        return _panel(
            kind,
            f"Lifecycle: {event or 'any activity'}",
            f"New, returning, resurrecting and dormant people by {grain}, {start} to {end}.",
            lc,
            charts.lifecycle_chart(lc.data, grain, unfinished)
            if "breakdown" not in lc.data.columns
            else _narrow_facets(explore_charts.lifecycle_by(lc.data, grain)),
        )
    if kind == "paths":
        return _paths(ws, own, scope, start, end, filters, activity)
    raise InvalidInput(f"{KIND_LABELS.get(kind, kind)} insights cannot be drawn on a dashboard yet")


def _narrow_facets(chart: dict[str, Any] | None) -> dict[str, Any] | None:
    """A chart of small multiples (one per breakdown value) narrow enough for two of them in
    a half-width panel (the explorer's are drawn wider)."""
    inner = chart.get("spec") if chart else None
    if isinstance(inner, dict) and isinstance(inner.get("width"), int | float):
        inner["width"], inner["height"] = min(inner["width"], 165), 140
    return chart


def _paths(
    ws: Workspace,
    own: dict[str, list[str]],
    scope: Scope,
    start: dt.date,
    end: dt.date,
    filters: Any,
    activity: Any,
) -> Panel:
    """The paths explorer's flow (the same drawing), its links as the numbers; a step's bar
    opens its people over the panel's range and filters."""
    from productops.analytics.analyses.paths import paths

    event = _one(own, "event") or None
    direction = _one(own, "direction", "after") or "after"
    if direction not in ("after", "before"):
        raise InvalidInput("direction must be after or before")
    depth = _int(own, "depth", 5, 2, 10)
    share = _one(own, "min_share")
    try:
        min_share = float(share) / 100 if share else 0.01
    except ValueError:
        raise InvalidInput("minimum share: a percentage, e.g. 2") from None
    per_step = _int(own, "per_step", 8, 1, 30)
    if event:
        check_events_seen(ws, [event], "path event")
    with event_source(ws) as con:
        result = paths(
            con,
            start,
            end,
            event=event,
            direction=direction,  # type: ignore[arg-type]
            depth=depth,
            min_share=min_share,
            max_per_step=per_step,
            filters=filters,
            activity=activity,
        )
    kept = [
        (k, v)
        for k, vs in own.items()
        if k not in {"start", "end", "range", "date_range", "step", "node", "format"}
        for v in vs
    ]
    kept += [("start", start.isoformat()), ("end", end.isoformat())]
    kept += [("filter", f) for f in scope.filters] + [("cohort", str(c)) for c in scope.cohorts]

    def link(step: int, name: str) -> str:
        return "/insights/paths/people?" + urlencode([*kept, ("step", step), ("node", name)])

    anchor = event or "their first event"
    return Panel(
        "paths",
        f"{'After' if direction == 'after' else 'Before'} {anchor}",
        f"{depth} steps, {start} to {end}, repeats folded; {result.anchor_people:,} people; "
        f"links under {min_share:.0%} hidden.",
        result.edges.data,
        None,
        result.edges.sql(),
        svg=explore_charts.sankey_svg(result.nodes.data, result.edges.data, link),
    )


def _trends(
    ws: Workspace, session: Session, params: dict[str, Any], own: dict[str, list[str]], scope: Scope
) -> Panel:
    """A trends insight keeps the body of `POST /api/v1/insights/trends` in `params["body"]`."""
    from productops.analytics.analyses.trend_series import Series, trends

    body = params.get("body")
    if not isinstance(body, dict):
        body = _trends_body(own)
    from productops.analytics.analyses.inputs import breakdown_of, date_range, filters_of

    start, end = date_range(
        body.get("date_range") or "30d",
        _parse_day(body.get("start")),
        _parse_day(body.get("end")),
        default_end(ws),
    )
    if scope.start is not None or scope.days is not None or scope.end is not None:
        start, end = scope.range(ws, 30)
    series = [Series.model_validate(s) for s in body.get("series") or []]
    filters = filters_of(
        session,
        list(scope.filters),
        list(body.get("cohorts") or []) + list(scope.cohorts),
        list(body.get("not_cohorts") or []),
        end,
        [_filter(f) for f in body.get("filters") or []],
    )
    b = breakdown_of(
        session,
        body.get("breakdown"),
        list(body.get("breakdown_cohorts") or []),
        end,
        int(body.get("breakdown_limit") or 10),
    )
    grain = body.get("grain") or "day"
    check_events_seen(ws, [s.event for s in series if s.kind != "metric" and s.event])
    with event_source(ws) as con:
        result = trends(
            con,
            series,
            start,
            end,
            grain=grain,  # type: ignore[arg-type]
            formulas=list(body.get("formulas") or []),
            breakdown=b,
            compare=bool(body.get("compare")),
            filters=filters,
            activity=activity_filter(ws),
            metric_source=_metric_source(ws),
        )
    data = result.series.data
    chart = None
    if not data.empty and "period" in data.columns and "value" in data.columns:
        # Each line named and coloured as in the explorer: `series · value` when several
        # series are broken down, so two series with the same value are two colours.
        drawn, color = data, "label" if "label" in data.columns else None
        if "breakdown" in data.columns:
            several = "label" in data.columns and data["label"].nunique() > 1
            drawn = data.assign(line=charts.trend_lines(data)) if several else data
            color = "line" if several else "breakdown"
        periods = {pd.Timestamp(p).date() for p in data["period"]}
        chart = charts.series_chart(
            drawn,
            "period",
            "value",
            color,
            "value",
            grain=grain,
            palette=palette(ws),
            unfinished=charts.unfinished_periods(
                periods,
                grain,  # type: ignore[arg-type]
                start,
                end,
                utcnow().date(),
            ),
        )
    return Panel(
        "trends", "Trends", f"{start} to {end} by {grain}.", data, chart, result.series.sql()
    )


def _metric_source(ws: Workspace) -> Any:
    """Catalog metrics as trends series, by their own definition (as the trends API reads
    them)."""

    def source(
        name: str, by: str | None, grain: str, start: dt.date, end: dt.date
    ) -> tuple[Any, str]:
        from productops.analytics.catalog.metrics import query_metric
        from productops.analytics.catalog.service import load_catalog

        if by is not None:
            named = {str(d.as_dimension()): n for n, d in load_catalog(ws).dimensions.items()}
            by = named.get(by, by)
        result = query_metric(ws, name, by=by, grain=grain, start=start, end=end)
        frame = result.frame
        if by is not None and by in frame.columns:
            frame = frame[["period", by, "value"]]
        return frame, str(result.sql)

    return source


def _trends_body(own: dict[str, list[str]]) -> dict[str, Any]:
    """The trends explorer's query string as the trends question (series A, B, … from the
    `s_kind`, `s_event`, `s_property`, `s_metric` rows)."""
    kinds = own.get("s_kind", [])[:10] or ["events"]
    events, props, metrics = (
        own.get("s_event", []),
        own.get("s_property", []),
        own.get("s_metric", []),
    )
    series = []
    for i, kind in enumerate(kinds):
        event = events[i] if i < len(events) else "*"
        prop = props[i] if i < len(props) else None
        metric = metrics[i] if i < len(metrics) else None
        if kind == "metric" and not metric:
            continue
        entry: dict[str, Any] = {"kind": kind, "event": event or "*"}
        if prop and kind not in ("events", "people", "metric"):
            entry["property"] = prop
        if kind == "metric":
            entry["metric"] = metric
        series.append(entry)
    return {
        "series": series or [{"kind": "events", "event": "*"}],
        "formulas": own.get("formula", [])[:5],
        "grain": _one(own, "grain", "day"),
        "date_range": _one(own, "range", "30d") or "30d",
        "start": _one(own, "start") or None,
        "end": _one(own, "end") or None,
        "breakdown": _one(own, "breakdown") or None,
        "breakdown_cohorts": [int(c) for c in own.get("breakdown_cohort", []) if c.isdigit()],
        "breakdown_limit": _int(own, "limit", 10, 1, 50),
        "compare": _one(own, "compare") in ("1", "true", "on", "yes"),
        "filters": list(own.get("filter", [])),
        "cohorts": [int(c) for c in own.get("cohort", []) if c.isdigit()],
        "not_cohorts": [int(c) for c in own.get("not_cohort", []) if c.isdigit()],
    }


def _parse_day(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value) if isinstance(value, str) and value else None


def _filter(value: Any) -> Any:
    from productops.analytics.analyses.inputs import parse_filter
    from productops.analytics.query.filters import make_filter

    if isinstance(value, str):
        return parse_filter(value)
    if isinstance(value, dict):
        return make_filter(str(value.get("property")), str(value.get("op")), value.get("value"))
    return value


def insight_range(newest: dt.date) -> tuple[dt.date | None, dt.date]:
    """The events a saved insight may read: all of them (its range is its own)."""
    return (None, newest + dt.timedelta(days=MAX_DAYS))


def insight_version(ws: Workspace, newest: dt.date) -> str:
    return _versions(ws, [insight_range(newest)])[0]


@dataclass(frozen=True)
class InsightRef:
    """What a panel needs of a saved insight (so the computation needs no ORM row)."""

    id: int
    kind: str
    title: str
    description: str
    params: dict[str, Any]


def insight_panel(
    ws: Workspace,
    insight: InsightRef,
    scope: Scope | None = None,
    key: str | None = None,
    extra: dict[str, Any] | None = None,
    *,
    newest: dt.date | None = None,
    version: str | None = None,
) -> Panel:
    """A saved insight as a panel, computed once per version of the data it reads; a
    question the data cannot answer (an event never seen, a catalog changed) shows as a panel
    that says why, not as an error page."""
    scope = scope or Scope()
    today = utcnow().date()
    params = {**insight.params, **(extra or {})}
    plain = {k: v for k, v in params.items() if not k.startswith("_")}
    # A dashboard passes the newest day and the data's version it read once for all panels.
    newest = newest or default_end(ws)
    version = version or insight_version(ws, newest)
    cache_key = key_of("insight", insight.kind, plain, scope.as_settings(), newest)

    def compute() -> list[Panel]:
        # A session of its own: a stale result is recomputed after the request has ended.
        try:
            with ws.sessions() as session:
                panel = _compute(ws, session, insight.kind, params, scope, today)
        except (InvalidInput, NotFound, ProductOpsError) as exc:
            panel = Panel(insight.kind, "", f"{CANNOT_DRAW}: {exc}", pd.DataFrame(), None, {})
        return [panel]

    got = _cache(ws).get(cache_key, version, compute)
    got_panel = _stamp(got.value, got.computed_at, got.refreshing)[0]
    failed = got_panel.description.startswith(CANNOT_DRAW)
    return replace(
        got_panel,
        key=key or f"insight-{insight.id}",
        title=insight.title or got_panel.title,
        description=got_panel.description
        if failed
        else insight.description or got_panel.description,
    )
