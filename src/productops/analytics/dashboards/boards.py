"""Saved dashboards drawn: their panels (catalog metrics and saved insights of any kind, a
third, half, two thirds or the full width, in order) over the dashboard's range and filters
(or a reader's own range); changing the panels and the range; warming every dashboard after
a start."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from productops.analytics import charts
from productops.analytics.dashboards.insights import (
    InsightRef,
    Scope,
    insight_panel,
    insight_range,
)
from productops.analytics.dashboards.service import (
    PANEL_KEYS,
    Panel,
    _cache,
    _metric_panel,
    _stamp,
    _versions,
    get_dashboard,
    list_dashboards,
    palette,
    save_dashboard,
    standard_dashboard,
)
from productops.analytics.query.cache import key_of
from productops.analytics.query.source import default_end
from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import InvalidInput
from productops.core.workspace import Workspace


def set_panels(
    session: Session, ws: Workspace, dashboard_id: int, panels: list[dict[str, Any]], actor: str
) -> Any:
    """Replace a dashboard's panels (reordered, resized, added or removed), keeping the rest."""
    row = get_dashboard(session, dashboard_id)
    return save_dashboard(
        session, ws, row.name, row.description, panels, actor=actor, dashboard_id=dashboard_id
    )


def set_scope(session: Session, dashboard_id: int, settings: dict[str, Any], actor: str) -> Any:
    """The range and filters every panel of the dashboard is drawn with."""
    row = get_dashboard(session, dashboard_id)
    if settings.get("start") and settings.get("end") and settings["start"] > settings["end"]:
        raise InvalidInput("the dashboard's start date is after its end date")
    clean = Scope.of(settings).as_settings()
    row.settings = clean
    session.flush()
    audit.record(session, actor, "dashboard.scope", "dashboard", dashboard_id, clean)
    return row


def dashboard_panels(
    ws: Workspace,
    panels: list[dict[str, Any]],
    today: dt.date | None = None,
    settings: dict[str, Any] | None = None,
) -> list[Panel]:
    """Each saved panel drawn: a catalog metric, or a saved insight (any kind: see
    `dashboards.insights`), over the dashboard's range and with its filters (`settings`);
    computed once per data version (see the module docstring), ending at the newest event."""
    from productops.analytics.saved.models import SavedInsight

    scope = Scope.of(settings)
    real_today = today or utcnow().date()
    newest = default_end(ws, real_today)
    wanted = [p["insight"] for p in panels if "insight" in p]
    refs: dict[int, InsightRef] = {}
    if wanted:
        with ws.sessions() as s:
            for row in s.scalars(select(SavedInsight).where(SavedInsight.id.in_(wanted))):
                refs[row.id] = InsightRef(
                    row.id, row.kind, row.title, row.description, dict(row.params or {})
                )
    metric_panels = [(i, p) for i, p in enumerate(panels) if "insight" not in p]
    end = scope.end or newest
    windows = {
        i: scope.range(ws, int(p.get("days", 90)))
        if (scope.days or scope.start)
        else (
            end - dt.timedelta(days=int(p.get("days", 90)) - 1),
            end,
        )
        for i, p in metric_panels
    }
    # One scan for every panel's version: a conversion's second event may come after the
    # range, so a metric's version reads to the end; a saved insight's reads everything.
    ranges = [(lo, hi + dt.timedelta(days=3660)) for lo, hi in windows.values()]
    *metric_versions, shared = _versions(ws, [*ranges, insight_range(newest)])
    versions = dict(zip([i for i, _ in metric_panels], metric_versions, strict=True))
    cache = _cache(ws)
    colors: charts.Palette | None = None
    out: list[Panel] = []
    for i, p in enumerate(panels):
        width = p.get("width") or "half"
        if "insight" in p:
            ref = refs.get(p["insight"])
            if ref is None:
                panel = Panel(
                    f"panel-{i}",
                    p.get("title") or "Deleted insight",
                    f"Saved insight {p['insight']} was deleted; remove this panel.",
                    pd.DataFrame(),
                    None,
                    {},
                )
            else:
                if p.get("title"):
                    ref = replace(ref, title=p["title"])
                panel = insight_panel(
                    ws, ref, scope, key=f"panel-{i}", newest=newest, version=shared
                )
                if ref.kind == "sql":
                    panel = replace(panel, notes=sql_notes(scope))
            out.append(replace(panel, width=width, insight_id=p.get("insight")))
            continue
        start, pend = windows[i]

        def compute(
            p: dict[str, Any] = p, start: dt.date = start, pend: dt.date = pend, i: int = i
        ) -> list[Panel]:
            nonlocal colors
            colors = colors or palette(ws)
            filters = _scope_filters(ws, scope, pend)
            return [_metric_panel(ws, p, i, start, pend, real_today, colors, filters)]

        spec = {k: p.get(k) for k in sorted(PANEL_KEYS - {"width"})}
        key = key_of(
            "saved",
            spec,
            start.isoformat(),
            pend.isoformat(),
            *([list(scope.filters), list(scope.cohorts)] if scope.filters or scope.cohorts else []),
        )
        # The family's last result is shown while a new day's is computed: a dashboard's own
        # range or filters make another family (not yesterday's numbers of another question).
        scoped = scope.as_settings() if scope != Scope() else None
        family = key_of("saved", spec, *([scoped] if scoped else []))
        got = cache.get(key, versions[i], compute, family=family)
        out += [
            replace(q, key=f"panel-{i}", width=width)
            for q in _stamp(got.value, got.computed_at, got.refreshing)
        ]
    return out


def _scope_filters(ws: Workspace, scope: Scope, end: dt.date) -> Any:
    """The dashboard's filters and cohorts as the analyses take them (None when it sets none)."""
    if not scope.filters and not scope.cohorts:
        return None
    from productops.analytics.analyses.inputs import filters_of

    with ws.sessions() as s:
        return filters_of(s, list(scope.filters), list(scope.cohorts), None, end)


def sql_notes(scope: Scope) -> tuple[str, ...]:
    """What a SQL panel says when the dashboard sets what a SQL query cannot take: the query
    is run as written (its own tables, dates and conditions)."""
    notes = []
    if scope.filters or scope.cohorts:
        notes.append(
            "Dashboard filters don't apply to SQL queries: this panel shows the query as written."
        )
    if scope.days or scope.start or scope.end:
        notes.append("The dashboard's date range doesn't apply either: the query sets its dates.")
    return tuple(notes)


def warm(ws: Workspace) -> int:
    """Compute the product dashboard and every saved dashboard ahead of their first visit
    (the server does it when it starts, the demo when it is built); returns the panels."""
    from productops.analytics.query.source import event_summary

    if not event_summary(ws).events:
        return 0
    made = len(standard_dashboard(ws))
    with ws.sessions() as s:
        saved = [list(d.panels) for d in list_dashboards(s)]
    for panels in saved:
        made += len(dashboard_panels(ws, panels))
    return made
