"""Dashboards: the product dashboard (works with no configuration) and saved dashboards of
catalog metrics. Each panel carries its data, a chart and the SQL behind every number.

Panels are computed results (`query.cache`): a page shows what was computed for the data as
it is, or, when new events arrived in a panel's range, what was computed before while the new
result is computed in the background; each panel says when it was computed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.analytics import analyses, charts
from productops.analytics.catalog.service import activity_filter, catalog_path
from productops.analytics.query.activity import ActivityFilter
from productops.analytics.query.cache import Codec, ResultCache, key_of
from productops.analytics.query.grains import Grain
from productops.analytics.query.source import default_end, event_source, range_versions
from productops.analytics.store.customers import customers_version
from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.export import frame_records, readable
from productops.core.workspace import Workspace


@dataclass
class Panel:
    """One tile of a dashboard."""

    key: str
    title: str
    description: str
    data: pd.DataFrame
    chart: dict[str, Any] | None
    sql: dict[str, str] = field(default_factory=dict)
    computed_at: dt.datetime | None = None
    refreshing: bool = False
    width: str = "half"  # on a saved dashboard: third, half, two-thirds or full width
    insight_id: int | None = None  # the saved insight a dashboard panel shows
    svg: str | None = None  # a drawing made on the server (the paths flow), escaped markup
    notes: tuple[str, ...] = ()  # what the reader must know (the dashboard's filters ignored…)

    def records(self) -> list[dict[str, Any]]:
        return frame_records(self.data)

    def rows(self, limit: int = 200) -> list[list[str]]:
        """The first `limit` rows, each cell formatted for reading (`core.export.readable`)."""
        columns = [str(c) for c in self.data.columns]
        return [[readable(row.get(c), c) for c in columns] for row in self.records()[:limit]]


def _encode(panels: list[Panel]) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    meta = {
        "panels": [
            {
                "key": p.key,
                "title": p.title,
                "description": p.description,
                "chart": p.chart,
                "sql": p.sql,
                "svg": p.svg,
            }
            for p in panels
        ]
    }
    return meta, [p.data for p in panels]


def _decode(meta: dict[str, Any], frames: list[pd.DataFrame]) -> list[Panel]:
    return [
        Panel(
            m["key"],
            m["title"],
            m["description"],
            frame,
            m["chart"],
            dict(m["sql"]),
            svg=m.get("svg"),
        )
        for m, frame in zip(meta["panels"], frames, strict=True)
    ]


PANELS = Codec(_encode, _decode)


def _cache(ws: Workspace) -> ResultCache[list[Panel]]:
    cache: ResultCache[list[Panel]] | None = ws.extras.get("insights.cache")
    if cache is None:
        cache = ResultCache(ws.house_dir / "cache" / "insights", PANELS)
        ws.extras["insights.cache"] = cache
    return cache


def insights_cache(ws: Workspace) -> ResultCache[list[Panel]]:
    """The workspace's computed panels (tests and the demo's warm-up wait on it)."""
    return _cache(ws)


def base_version(ws: Workspace) -> str:
    """What every panel depends on besides events: the customers (plans, segments…) and the
    metric catalog (the definition of an active user, the metrics)."""
    path = catalog_path(ws)
    catalog = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "-"
    return f"{customers_version(ws)}|{catalog}"


def palette(ws: Workspace) -> charts.Palette:
    """Colours of the workspace's plans, segments and regions, the same in every chart."""
    with ws.sessions() as s:
        return charts.workspace_palette(s)


def _start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _stamp(panels: list[Panel], computed_at: dt.datetime, refreshing: bool) -> list[Panel]:
    return [replace(p, computed_at=computed_at, refreshing=refreshing) for p in panels]


# --- the product dashboard -------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """Panels computed together, with the range of event time they read."""

    name: str
    window: Callable[[dt.date], tuple[dt.date | None, dt.date]]
    compute: Callable[[Any, dt.date, ActivityFilter, charts.Palette, dt.date], list[Panel]]


def _active_users(
    con: Any, end: dt.date, activity: ActivityFilter, colors: charts.Palette, today: dt.date
) -> list[Panel]:
    au = analyses.rolling_active_users(con, end - dt.timedelta(days=89), end, activity=activity)
    df = au.data
    ys = [c for c in ("dau", "wau", "mau") if c in df.columns]
    unfinished = {end} if end >= today else set()
    return [
        Panel(
            "active-users",
            "Active users",
            "DAU, WAU and MAU over rolling 1, 7 and 30 days "
            "(the catalog's definition of an active user).",
            df,
            charts.line_chart(df, "day", ys, "people", unfinished=unfinished, palette=colors),
            au.sql(),
        )
    ]


def _stickiness(
    con: Any, end: dt.date, activity: ActivityFilter, colors: charts.Palette, today: dt.date
) -> list[Panel]:
    st = analyses.stickiness(con, end - dt.timedelta(days=29), end, activity=activity)
    ratio = st.ratio.data
    hist = st.days_active.data
    unfinished = {end} if end >= today else set()
    return [
        Panel(
            "stickiness",
            "Stickiness (DAU/MAU)",
            "Share of the month's active people who are active on a given day.",
            ratio,
            charts.series_chart(
                ratio, "day", "dau_mau", None, "DAU/MAU", percent=True, unfinished=unfinished
            )
            if "dau_mau" in ratio.columns
            else None,
            st.ratio.sql(),
        ),
        Panel(
            "days-active",
            "Days active in the last 30 days",
            "How many people were active on 1, 2, … 30 distinct days (PostHog's stickiness).",
            hist,
            charts.bar_histogram(
                hist, str(hist.columns[0]), str(hist.columns[1]), "days active", "people"
            )
            if len(hist.columns) >= 2 and len(hist)
            else None,
            st.days_active.sql(),
        ),
    ]


def _weeks_back(end: dt.date, weeks: int) -> dt.date:
    return end - dt.timedelta(weeks=weeks, days=end.weekday())


def _lifecycle(
    con: Any, end: dt.date, activity: ActivityFilter, colors: charts.Palette, today: dt.date
) -> list[Panel]:
    start = _weeks_back(end, 11)
    lc = analyses.lifecycle(con, start, end, grain="week", activity=activity)
    periods = list(lc.data["period"]) if "period" in lc.data.columns else []
    unfinished = charts.unfinished_periods(periods, "week", start, end, today)
    return [
        Panel(
            "lifecycle",
            "Lifecycle by week",
            "New, returning, resurrecting and dormant people each week (the current week, "
            "still filling, is faded).",
            lc.data,
            charts.lifecycle_chart(lc.data, "week", unfinished),
            lc.sql(),
        )
    ]


def _retention(
    con: Any, end: dt.date, activity: ActivityFilter, colors: charts.Palette, today: dt.date
) -> list[Panel]:
    ret = analyses.retention(
        con,
        _weeks_back(end, 9),
        end,
        grain="week",
        mode="first_time",
        periods=8,
        activity=activity,
    )
    return [
        Panel(
            "retention",
            "Weekly retention",
            "People by the week of their first activity, and the share active again N weeks "
            "later (cells of a week not over yet are faded).",
            ret.data,
            charts.retention_chart(ret.data, "week", today=min(today, end + dt.timedelta(days=1))),
            ret.sql(),
        )
    ]


def _adoption(
    con: Any, end: dt.date, activity: ActivityFilter, colors: charts.Palette, today: dt.date
) -> list[Panel]:
    start = end - dt.timedelta(days=29)
    features = _top_features(con, start, end, activity)
    frames, sqls = [], {}
    for feature in features:
        ad = analyses.adoption(con, feature, start, end, segment="account.plan", activity=activity)
        frames.append(ad.data.assign(feature=feature))
        sqls.update({f"{feature}: {k}": v for k, v in ad.sql().items()})
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return [
        Panel(
            "adoption",
            "Feature adoption by plan",
            "Share of each plan's active people who used the feature in the last 30 days.",
            data,
            charts.adoption_chart(data, colors),
            sqls,
        )
    ]


UNITS = (
    _Unit("active-users", lambda end: (end - dt.timedelta(days=89 + 29), end), _active_users),
    _Unit("stickiness", lambda end: (end - dt.timedelta(days=29 + 29), end), _stickiness),
    _Unit("lifecycle", lambda end: (None, end), _lifecycle),
    _Unit("retention", lambda end: (None, end), _retention),
    _Unit("adoption", lambda end: (end - dt.timedelta(days=29), end), _adoption),
)


def _top_features(con: Any, start: dt.date, end: dt.date, activity: Any, n: int = 6) -> list[str]:
    import ibis

    ev = con.table("events_resolved")
    lo = dt.datetime.combine(start, dt.time())
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    skip = {
        "Page Viewed",
        "$pageview",
        "Landing Page Viewed",
        "Signed Up",
        "Signed In",
        "Dashboard Viewed",
        *activity.exclude,
    }
    # Only names the analyses take (`query.activity.check_event_name`): an SDK may send a
    # control character in one, and the panel must not fail on it.
    nameable = (ev.event.length() <= 200) & ~ev.event.re_search(r"[\x00-\x1f]")
    q = (
        ev.filter(ev.ts >= lo, ev.ts < hi, ~ev.event.isin(list(skip)), ev.type == "track", nameable)
        .group_by("event")
        .aggregate(people=ev.distinct_id.nunique())
        .order_by([ibis.desc("people"), "event"])
        .limit(n)
    )
    return [str(e) for e in q.execute()["event"]]


def _versions(ws: Workspace, windows: list[tuple[dt.date | None, dt.date]]) -> list[str]:
    base = base_version(ws)
    ranges = [
        (_start_of_day(lo) if lo else None, _start_of_day(hi + dt.timedelta(days=1)))
        for lo, hi in windows
    ]
    return [f"{base}|{v}" for v in range_versions(ws, ranges)]


def standard_dashboard(
    ws: Workspace, today: dt.date | None = None, only: str | None = None
) -> list[Panel]:
    """The product dashboard that needs no configuration: active users, stickiness,
    lifecycle, retention and feature adoption by plan, ending at the newest event (a quiet
    today does not read as everyone leaving). `only` names one panel."""
    real_today = today or utcnow().date()
    end = default_end(ws, real_today)
    units = [
        u
        for u in UNITS
        if only is None or only == u.name or (only == "days-active" and u.name == "stickiness")
    ]
    if only is not None and not units:
        raise NotFound(f"no panel '{only}' on the product dashboard")
    versions = _versions(ws, [u.window(end) for u in units])
    cache = _cache(ws)
    panels: list[Panel] = []
    for unit, version in zip(units, versions, strict=True):

        def compute(unit: _Unit = unit) -> list[Panel]:
            activity = activity_filter(ws)
            colors = palette(ws)
            with event_source(ws) as con:
                return unit.compute(con, end, activity, colors, real_today)

        got = cache.get(
            key_of("standard", unit.name, end.isoformat()),
            version,
            compute,
            family=key_of("standard", unit.name),
        )
        panels += _stamp(got.value, got.computed_at, got.refreshing)
    if only is not None:
        panels = [p for p in panels if p.key == only]
    return panels


# --- saved dashboards ----------------------------------------------------------------------

PANEL_KEYS = {"metric", "by", "grain", "days", "title", "width"}
INSIGHT_PANEL_KEYS = {"insight", "title", "width"}
WIDTHS = ("third", "half", "two-thirds", "full")


def _clean_panels(
    panels: list[dict[str, Any]], metric_names: set[str], dimension_names: set[str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, panel in enumerate(panels, 1):
        if not isinstance(panel, dict):
            raise InvalidInput(f"panel {i}: expected an object")
        width = panel.get("width") or "half"
        if width not in WIDTHS:
            raise InvalidInput(
                f"panel {i}: width must be {', '.join(WIDTHS)}, not '{str(width)[:20]}'"
            )
        if "insight" in panel:
            unknown = set(panel) - INSIGHT_PANEL_KEYS
            if unknown:
                raise InvalidInput(f"panel {i}: unknown field(s) {', '.join(sorted(unknown))}")
            insight = panel["insight"]
            if not isinstance(insight, int) or isinstance(insight, bool) or insight < 1:
                raise InvalidInput(f"panel {i}: insight is a saved insight's id")
            out.append(
                {"insight": insight, "title": str(panel.get("title") or "")[:200], "width": width}
            )
            continue
        unknown = set(panel) - PANEL_KEYS
        if unknown:
            raise InvalidInput(f"panel {i}: unknown field(s) {', '.join(sorted(unknown))}")
        metric = panel.get("metric")
        if metric not in metric_names:
            raise InvalidInput(f"panel {i}: no metric '{metric}' in the catalog")
        grain = panel.get("grain", "week")
        if grain not in {"day", "week", "month"}:
            raise InvalidInput(f"panel {i}: grain must be day, week or month, not '{grain}'")
        days = panel.get("days", 90)
        if not isinstance(days, int) or not 1 <= days <= 3660:
            raise InvalidInput(f"panel {i}: days must be a whole number from 1 to 3660")
        by = panel.get("by") or None
        if by is not None and by not in dimension_names:
            known = ", ".join(sorted(dimension_names)) or "none defined"
            raise InvalidInput(f"panel {i}: no dimension '{by}' in the catalog ({known})")
        out.append(
            {
                "metric": metric,
                "by": by,
                "grain": grain,
                "days": days,
                "title": str(panel.get("title") or "")[:200],
                "width": width,
            }
        )
    return out


def save_dashboard(
    session: Session,
    ws: Workspace,
    name: str,
    description: str,
    panels: list[dict[str, Any]],
    actor: str,
    dashboard_id: int | None = None,
) -> Any:
    """Create (or replace the panels of) a saved dashboard of catalog metrics."""
    from productops.analytics.catalog.service import load_catalog
    from productops.analytics.dashboards.models import Dashboard

    name = name.strip()
    if not name:
        raise InvalidInput("a dashboard needs a name")
    catalog = load_catalog(ws)
    clean = _clean_panels(panels, {m.name for m in catalog.metrics}, set(catalog.dimensions))
    _check_insights(session, clean)
    if dashboard_id is None:
        row = Dashboard(name=name, description=description.strip(), panels=clean, created_by=actor)
        session.add(row)
    else:
        row = get_dashboard(session, dashboard_id)
        row.name, row.description, row.panels = name, description.strip(), clean
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a dashboard named '{name}' already exists") from exc
    audit.record(session, actor, "dashboard.save", "dashboard", row.id, {"name": name})
    return row


def _check_insights(session: Session, panels: list[dict[str, Any]]) -> None:
    from productops.analytics.saved.models import SavedInsight

    for i, p in enumerate(panels, 1):
        if "insight" in p and session.get(SavedInsight, p["insight"]) is None:
            raise InvalidInput(f"panel {i}: no saved insight {p['insight']}")


def get_dashboard(session: Session, dashboard_id: int) -> Any:
    from productops.analytics.dashboards.models import Dashboard

    row = session.get(Dashboard, dashboard_id)
    if row is None:
        raise NotFound(f"no dashboard {dashboard_id}")
    return row


def list_dashboards(session: Session) -> list[Any]:
    from productops.analytics.dashboards.models import Dashboard

    return list(session.scalars(select(Dashboard).order_by(Dashboard.name)).all())


def delete_dashboard(session: Session, dashboard_id: int, actor: str) -> None:
    row = get_dashboard(session, dashboard_id)
    session.delete(row)
    audit.record(session, actor, "dashboard.delete", "dashboard", dashboard_id, {"name": row.name})


def _metric_panel(
    ws: Workspace,
    p: dict[str, Any],
    i: int,
    start: dt.date,
    end: dt.date,
    today: dt.date,
    colors: charts.Palette,
    filters: Any = None,
) -> Panel:
    grain: Grain = p.get("grain", "week")
    try:
        from productops.analytics.catalog.metrics import query_metric

        result = query_metric(
            ws, p["metric"], by=p.get("by"), grain=grain, start=start, end=end, filters=filters
        )
    except (InvalidInput, NotFound) as exc:
        # The catalog changed under a saved panel: say so in the panel, keep the rest.
        title = p.get("title") or p["metric"]
        return Panel(
            f"panel-{i}", title, f"This panel cannot be drawn: {exc}", pd.DataFrame(), None, {}
        )
    df = result.frame
    chart = None
    if not df.empty and "period" in df.columns and "value" in df.columns:
        by = p.get("by")
        unfinished = charts.unfinished_periods(df["period"], grain, start, end, today)
        chart = charts.series_chart(
            df,
            "period",
            "value",
            by if by and by in df.columns else None,
            result.metric.label or p["metric"],
            grain=grain,
            percent=result.metric.type in ("ratio", "conversion"),
            unfinished=unfinished,
            palette=colors,
        )
    return Panel(
        f"panel-{i}",
        p.get("title") or result.metric.label or p["metric"],
        result.metric.description or "",
        df,
        chart,
        {"metric": result.sql},
    )
