"""Dashboards: the standard product dashboard (works with no configuration) and saved
dashboards of catalog metrics. Each panel carries its data, a Vega-Lite chart and the SQL
behind every number."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.analytics import analyses
from productops.analytics.catalog.service import activity_filter
from productops.analytics.query.source import event_source, event_summary
from productops.analytics.settings import events_file
from productops.analytics.store.customers import customers_version
from productops.core import audit
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.export import frame_records
from productops.core.workspace import Workspace

ACCENT = "#3454d1"
LIFECYCLE_COLORS = {
    "new": "#3454d1",
    "returning": "#2a9d8f",
    "resurrecting": "#e9c46a",
    "dormant": "#e76f51",
}


@dataclass
class Panel:
    """One tile of a dashboard."""

    key: str
    title: str
    description: str
    data: pd.DataFrame
    chart: dict[str, Any] | None
    sql: dict[str, str] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        return frame_records(self.data)


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    # Dates in the data become ISO strings, which Vega-Lite parses as temporal values.
    spec: dict[str, Any] = json.loads(json.dumps(chart.to_dict(), default=str))
    spec.pop("$schema", None)
    spec.setdefault("config", {}).update({"view": {"stroke": None}, "font": "system-ui"})
    return spec


def _line(
    df: pd.DataFrame, x: str, ys: list[str], title_y: str, percent: bool = False
) -> dict[str, Any]:
    long = df.melt(id_vars=[x], value_vars=ys, var_name="series", value_name="value")
    fmt = ".0%" if percent else ",d"
    chart = (
        alt.Chart(long)
        .mark_line(point=False, strokeWidth=2)
        .encode(
            x=alt.X(f"{x}:T", title=None),
            y=alt.Y("value:Q", title=title_y, axis=alt.Axis(format=fmt)),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=[alt.Tooltip(f"{x}:T"), "series:N", alt.Tooltip("value:Q", format=fmt)],
        )
        .properties(width="container", height=220)
    )
    return _spec(chart)


def _standard(ws: Workspace, today: dt.date) -> list[Panel]:
    activity = activity_filter(ws)
    last30 = (today - dt.timedelta(days=29), today)
    panels: list[Panel] = []
    with event_source(ws) as con:
        au = analyses.rolling_active_users(
            con, today - dt.timedelta(days=89), today, activity=activity
        )
        df = au.data.rename(columns=str.lower)
        ys = [c for c in ("dau", "wau", "mau") if c in df.columns]
        panels.append(
            Panel(
                "active-users",
                "Active users",
                "DAU, WAU and MAU over rolling 1, 7 and 30 days "
                "(the catalog's definition of an active user).",
                au.data,
                _line(df, "day", ys, "people") if ys and len(df) else None,
                au.sql(),
            )
        )

        st = analyses.stickiness(con, *last30, activity=activity)
        ratio = st.ratio.data
        ratio_col = "dau_mau" if "dau_mau" in ratio.columns else None
        panels.append(
            Panel(
                "stickiness",
                "Stickiness (DAU/MAU)",
                "Share of the month's active people who are active on a given day.",
                ratio,
                _line(ratio, "day", [ratio_col], "DAU/MAU", percent=True)
                if ratio_col and len(ratio)
                else None,
                st.ratio.sql(),
            )
        )
        hist = st.days_active.data
        panels.append(
            Panel(
                "days-active",
                "Days active in the last 30 days",
                "How many people were active on 1, 2, … 30 distinct days (PostHog's stickiness).",
                hist,
                _spec(
                    alt.Chart(hist)
                    .mark_bar(color=ACCENT)
                    .encode(
                        x=alt.X(f"{hist.columns[0]}:O", title="days active"),
                        y=alt.Y(f"{hist.columns[1]}:Q", title="people"),
                        tooltip=list(hist.columns),
                    )
                    .properties(width="container", height=200)
                )
                if len(hist.columns) >= 2 and len(hist)
                else None,
                st.days_active.sql(),
            )
        )

        lc = analyses.lifecycle(
            con,
            today - dt.timedelta(weeks=11, days=today.weekday()),
            today,
            grain="week",
            activity=activity,
        )
        panels.append(
            Panel(
                "lifecycle",
                "Lifecycle by week",
                "New, returning, resurrecting and dormant people each week.",
                lc.data,
                _lifecycle_chart(lc.data),
                lc.sql(),
            )
        )

        ret = analyses.retention(
            con,
            today - dt.timedelta(weeks=9, days=today.weekday()),
            today,
            grain="week",
            mode="first_time",
            periods=8,
            activity=activity,
        )
        panels.append(
            Panel(
                "retention",
                "Weekly retention",
                "People by the week of their "
                "first activity, and the share active again N weeks later.",
                ret.data,
                retention_chart(ret.data),
                ret.sql(),
            )
        )

        features = _top_features(con, *last30, activity)
        frames, sqls = [], {}
        for feature in features:
            ad = analyses.adoption(con, feature, *last30, segment="account.plan", activity=activity)
            frames.append(ad.data.assign(feature=feature))
            sqls.update({f"{feature}: {k}": v for k, v in ad.sql().items()})
        adoption = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        panels.append(
            Panel(
                "adoption",
                "Feature adoption by plan",
                "Share of each plan's active people who used the feature in the last 30 days.",
                adoption,
                _adoption_chart(adoption),
                sqls,
            )
        )
    return panels


def _top_features(con: Any, start: dt.date, end: dt.date, activity: Any, n: int = 6) -> list[str]:
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
    q = (
        ev.filter(ev.ts >= lo, ev.ts < hi, ~ev.event.isin(list(skip)), ev.type == "track")
        .group_by("event")
        .aggregate(people=ev.distinct_id.nunique())
        .order_by([ibis_desc("people"), "event"])
        .limit(n)
    )
    return [str(e) for e in q.execute()["event"]]


def ibis_desc(column: str) -> Any:
    import ibis

    return ibis.desc(column)


def _lifecycle_chart(df: pd.DataFrame) -> dict[str, Any] | None:
    if df.empty:
        return None
    period = df.columns[0]
    states = [c for c in LIFECYCLE_COLORS if c in df.columns]
    if not states:
        return None
    long = df.melt(id_vars=[period], value_vars=states, var_name="state", value_name="people")
    long[period] = long[period].astype(str)
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(f"{period}:O", title="week starting", axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("people:Q", title="people"),
            color=alt.Color(
                "state:N",
                scale=alt.Scale(
                    domain=list(LIFECYCLE_COLORS), range=list(LIFECYCLE_COLORS.values())
                ),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=[f"{period}:O", "state:N", "people:Q"],
        )
        .properties(width="container", height=220)
    )
    return _spec(chart)


def retention_chart(df: pd.DataFrame, grain: str = "week") -> dict[str, Any] | None:
    needed = {"cohort", "period", "percent"}
    if df.empty or not needed <= set(df.columns):
        return None
    # `percent` is 0 to 100; the chart shows shares.
    df = df.assign(share=df["percent"] / 100.0)
    base = alt.Chart(df).encode(
        x=alt.X("period:O", title=f"{grain}s later"),
        y=alt.Y("cohort:O", title=f"cohort ({grain})", sort="ascending"),
    )
    heat = base.mark_rect().encode(
        color=alt.Color(
            "share:Q",
            title="retained",
            scale=alt.Scale(scheme="blues", domain=[0, 1]),
            legend=alt.Legend(format=".0%"),
        ),
        tooltip=["cohort:O", "period:O", alt.Tooltip("share:Q", format=".1%")],
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("share:Q", format=".0%"),
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#222")),
    )
    return _spec((heat + text).properties(width="container", height=260))


def funnel_chart(df: pd.DataFrame) -> dict[str, Any] | None:
    """Bars of people per step (one colour per breakdown value), conversion in the tooltip."""
    if df.empty or not {"step", "persons"} <= set(df.columns):
        return None
    data = df.assign(label=df["step"].astype(str) + ". " + df["event"].astype(str))
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("label:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("breakdown:N"),
            y=alt.Y("persons:Q", title="people"),
            color=alt.Color("breakdown:N", legend=alt.Legend(orient="top", title=None)),
            tooltip=[
                "breakdown:N",
                "label:N",
                "persons:Q",
                alt.Tooltip("conversion:Q", format=".1%"),
                alt.Tooltip("step_conversion:Q", format=".1%"),
            ],
        )
        .properties(width="container", height=240)
    )
    return _spec(chart)


def _adoption_chart(df: pd.DataFrame) -> dict[str, Any] | None:
    if df.empty or "adoption_rate" not in df.columns:
        return None
    seg = df.columns[0]
    chart = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("adoption_rate:Q", title="adoption", axis=alt.Axis(format=".0%")),
            y=alt.Y(f"{seg}:N", title=None),
            color=alt.Color(f"{seg}:N", legend=None),
            row=alt.Row(
                "feature:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")
            ),
            tooltip=["feature:N", f"{seg}:N", alt.Tooltip("adoption_rate:Q", format=".1%")],
        )
        .properties(width=420, height=alt.Step(14))
    )
    return _spec(chart)


# Computing the standard dashboard reads every event of the last months; results are kept
# until new events arrive (or the day changes).
_CACHE: OrderedDict[tuple[Any, ...], list[Panel]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def standard_dashboard(ws: Workspace, today: dt.date | None = None) -> list[Panel]:
    """The product dashboard that needs no configuration: active users, stickiness,
    lifecycle, retention and feature adoption by plan."""
    summary = event_summary(ws)
    today = today or dt.datetime.now(dt.UTC).date()
    if summary.last_event_time is not None:
        # End at the newest data, so a quiet today does not read as everyone leaving.
        today = min(today, summary.last_event_time.date())
    key = (
        str(events_file(ws)),
        today,
        summary.version,
        customers_version(ws),
        (ws.path / "metrics.yml").stat().st_mtime_ns if (ws.path / "metrics.yml").exists() else 0,
    )
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    panels = _standard(ws, today)
    with _CACHE_LOCK:
        _CACHE[key] = panels
        while len(_CACHE) > 8:
            _CACHE.popitem(last=False)
    return panels


# --- saved dashboards ----------------------------------------------------------------------

PANEL_KEYS = {"metric", "by", "grain", "days", "title"}


def _clean_panels(
    panels: list[dict[str, Any]], metric_names: set[str], dimension_names: set[str]
) -> list[dict[str, Any]]:
    out = []
    for i, panel in enumerate(panels, 1):
        if not isinstance(panel, dict):
            raise InvalidInput(f"panel {i}: expected an object")
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


def dashboard_panels(
    ws: Workspace, panels: list[dict[str, Any]], today: dt.date | None = None
) -> list[Panel]:
    """Run each panel's catalog metric and draw it."""
    from productops.analytics.catalog.metrics import query_metric

    today = today or dt.datetime.now(dt.UTC).date()
    out = []
    for i, p in enumerate(panels):
        start = today - dt.timedelta(days=int(p.get("days", 90)) - 1)
        try:
            result = query_metric(
                ws,
                p["metric"],
                by=p.get("by"),
                grain=p.get("grain", "week"),
                start=start,
                end=today,
            )
        except (InvalidInput, NotFound) as exc:
            # The catalog changed under a saved panel: say so in the panel, keep the rest.
            title = p.get("title") or p["metric"]
            out.append(
                Panel(
                    f"panel-{i}",
                    title,
                    f"This panel cannot be drawn: {exc}",
                    pd.DataFrame(),
                    None,
                    {},
                )
            )
            continue
        df = result.frame
        out.append(
            Panel(
                f"panel-{i}",
                p.get("title") or result.metric.label or p["metric"],
                result.metric.description or "",
                df,
                _metric_chart(df, p),
                {"metric": result.sql},
            )
        )
    return out


def _metric_chart(df: pd.DataFrame, panel: dict[str, Any]) -> dict[str, Any] | None:
    if df.empty:
        return None
    time_col = next(
        (c for c in ("period", "day", "week", "month", "date") if c in df.columns), None
    )
    value_col = next((c for c in ("value", panel["metric"]) if c in df.columns), None)
    if time_col is None or value_col is None:
        return None
    by = panel.get("by")
    enc: dict[str, Any] = {
        "x": alt.X(f"{time_col}:T", title=None),
        "y": alt.Y(f"{value_col}:Q", title=panel["metric"]),
        "tooltip": list(df.columns),
    }
    if by and by in df.columns:
        enc["color"] = alt.Color(f"{by}:N", legend=alt.Legend(orient="top"))
    chart = (
        alt.Chart(df).mark_line(point=True).encode(**enc).properties(width="container", height=220)
    )
    return _spec(chart)
