"""Dashboards on the web: the product dashboard (`/insights`), saved dashboards (panels of any
saved insight, edited from the page), saved insights, annotations, and their exports. The
explorers (`/insights/funnel`, `/insights/retention`, …) are `analytics.explore`."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from productops.analytics import dashboards, saved
from productops.analytics.dashboards.insights import (
    KIND_LABELS,
    InsightRef,
    Scope,
    check_params,
    explorer_url,
    insight_panel,
)
from productops.analytics.query.source import default_end, event_summary
from productops.core.auth import Permission
from productops.core.errors import InvalidInput, NotFound
from productops.web.deps import (
    DbDep,
    ReadApi,
    UserPage,
    WriteApi,
    WritePage,
    is_fragment,
    workspace_of,
)
from productops.web.export import frame_response
from productops.web.params import OptionalDate, RecordId
from productops.web.responses import error_responses
from productops.web.templating import render, render_charts

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["dashboards"])
NO_DASHBOARD = error_responses((404, "no dashboard with that id"))


def _chart_page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return render_charts(request, name, context, status_code=status_code)


def _export(panel: dashboards.Panel, fmt: str, filename: str) -> Response:
    return frame_response(panel.data, fmt, filename)


@pages.get("/insights")
def insights_page(request: Request, principal: UserPage) -> Response:
    ws = workspace_of(request)
    summary = event_summary(ws)
    panels = dashboards.standard_dashboard(ws) if summary.events else []
    return _chart_page(
        request,
        "analytics/insights.html",
        {"panels": panels, "summary": summary, "tab": "dashboard"},
    )


@pages.get("/insights/panel/{key}")
def standard_panel_fragment(request: Request, principal: UserPage, key: str) -> Response:
    """One panel of the product dashboard, for the page to swap in once it is refreshed."""
    panels = dashboards.standard_dashboard(workspace_of(request), only=key)
    return render(
        request,
        "analytics/_panel.html",
        {
            "panel": panels[0],
            "export_base": "/insights/panels/",
            "export_by_key": True,
            "refresh_url": f"/insights/panel/{key}",
        },
    )


@pages.get("/insights/panels/{key}.{fmt}")
def export_standard_panel(request: Request, principal: UserPage, key: str, fmt: str) -> Response:
    panels = dashboards.standard_dashboard(workspace_of(request), only=key)
    return _export(panels[0], fmt, key)


@pages.get("/insights/dashboards")
def dashboards_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    from productops.analytics.catalog.service import load_catalog

    catalog = load_catalog(workspace_of(request))
    return render(
        request,
        "analytics/dashboards.html",
        {
            "dashboards": dashboards.list_dashboards(db),
            "tab": "dashboards",
            "metrics": catalog.metrics,
            "dimensions": sorted(catalog.dimensions.items()),
            "can_write": principal.can(Permission.WRITE),
        },
    )


@pages.post("/insights/dashboards")
def dashboards_create(
    request: Request,
    db: DbDep,
    principal: WritePage,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    metric: Annotated[list[str], Form()],
    description: Annotated[str, Form(max_length=5000)] = "",
    by: Annotated[str, Form(max_length=100)] = "",
    grain: Annotated[str, Form(max_length=10)] = "week",
) -> Response:
    panels = [{"metric": m, "by": by or None, "grain": grain} for m in metric if m]
    row = dashboards.save_dashboard(
        db, workspace_of(request), name, description, panels, actor=principal.actor
    )
    return RedirectResponse(f"/insights/dashboards/{row.id}", status_code=303)


VIEW_PARAMS = ("range", "days", "start", "end")
PRESET_DAYS = {"7d": 7, "30d": 30, "90d": 90}


def _view_day(request: Request, name: str) -> dt.date | None:
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name}: write the day as YYYY-MM-DD") from None
    if not dt.date(1970, 1, 1) <= day <= dt.date(2099, 12, 31):
        raise InvalidInput(f"{name}: {day} is outside 1970-01-01 to 2099-12-31")
    return day


def _view_scope(request: Request, row: Any) -> tuple[Scope, Scope, str]:
    """The dashboard's saved scope; the one this page shows (the range in the address —
    `?range=30d`, `?days=N` or `?start=&end=` — for this reader only, never saved); and the
    address's query that keeps it (`""` when the page shows the saved range)."""
    saved_scope = Scope.of(row.settings)
    q = request.query_params
    if not any((q.get(k) or "").strip() for k in VIEW_PARAMS):
        return saved_scope, saved_scope, ""
    preset = (q.get("range") or "").strip()
    start, end = _view_day(request, "start"), _view_day(request, "end")
    days: int | None = None
    if preset in PRESET_DAYS:
        days, start = PRESET_DAYS[preset], None
    elif preset == "mtd":
        start = (end or default_end(workspace_of(request))).replace(day=1)
    elif preset not in ("", "custom"):
        raise InvalidInput(f"range: use one of 7d, 30d, 90d, mtd, custom, not '{preset[:20]}'")
    raw_days = (q.get("days") or "").strip()
    if days is None and start is None and raw_days:
        if not raw_days.isdigit() or not 1 <= int(raw_days) <= 3660:
            raise InvalidInput("days: a whole number from 1 to 3660")
        days = int(raw_days)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"the start date {start} is after the end date {end}")
    if (days, start, end) in (
        (None, None, None),
        (saved_scope.days, saved_scope.start, saved_scope.end),
    ):
        return saved_scope, saved_scope, ""  # nothing asked, or the saved range itself
    shown = replace(saved_scope, days=days, start=start, end=end)
    keep = {"days": days, "start": start, "end": end}
    query = urlencode({k: str(v) for k, v in keep.items() if v is not None})
    return saved_scope, shown, "?" + query


@pages.get("/insights/dashboards/{dashboard_id}")
def dashboard_page(request: Request, db: DbDep, principal: UserPage, dashboard_id: int) -> Response:
    """A saved dashboard. Anyone who may read it may look at another range through the
    address (`?range=30d`, `?start=…&end=…`) without changing it for others; editors may save
    that range, change the filters and edit, resize, reorder and remove panels."""
    row = dashboards.get_dashboard(db, dashboard_id)
    saved_scope, scope, view_query = _view_scope(request, row)
    panels = dashboards.dashboard_panels(
        workspace_of(request), row.panels, settings=scope.as_settings()
    )
    return _chart_page(
        request,
        "analytics/dashboard.html",
        {
            "dashboard": row,
            "panels": panels,
            "tab": "dashboards",
            "scope": scope,
            "saved_scope": saved_scope,
            "view_query": view_query,
            "preset": _preset_of(scope),
            "widths": WIDTH_LABELS,
            "can_write": principal.can(Permission.WRITE),
            "insights": saved.list_insights(db),
            "kind_labels": KIND_LABELS,
            "cohorts": _cohorts(db),
        },
    )


WIDTH_LABELS = {"third": "⅓", "half": "½", "two-thirds": "⅔", "full": "Full"}


def _preset_of(scope: Scope) -> str:
    if scope.start is None and scope.end is None:
        for name, days in PRESET_DAYS.items():
            if scope.days == days:
                return name
        return "" if scope.days is None else "custom"
    return "custom"


def _cohorts(db: Any) -> list[Any]:
    from productops.analytics.cohorts import service as cohorts

    return list(cohorts.list_cohorts(db))


@pages.get("/insights/dashboards/{dashboard_id}/panel/{index}")
def dashboard_panel_fragment(
    request: Request, db: DbDep, principal: UserPage, dashboard_id: int, index: int
) -> Response:
    """One panel of a saved dashboard, for the page to swap in once it is refreshed."""
    row = dashboards.get_dashboard(db, dashboard_id)
    if not 0 <= index < len(row.panels):
        raise NotFound(f"dashboard {dashboard_id} has no panel {index}")
    _, scope, view_query = _view_scope(request, row)
    panel = dashboards.dashboard_panels(
        workspace_of(request), row.panels, settings=scope.as_settings()
    )[index]
    return render(
        request,
        "analytics/_panel.html",
        {
            "panel": panel,
            "export_base": f"/insights/dashboards/{dashboard_id}/panels/",
            "export_by_key": False,
            "export_query": view_query,
            "loop_index": index,
            "refresh_url": f"/insights/dashboards/{dashboard_id}/panel/{index}{view_query}",
        },
    )


@pages.get("/insights/dashboards/{dashboard_id}/panels/{index}.{fmt}")
def export_dashboard_panel(
    request: Request, db: DbDep, principal: UserPage, dashboard_id: int, index: int, fmt: str
) -> Response:
    row = dashboards.get_dashboard(db, dashboard_id)
    if not 0 <= index < len(row.panels):
        raise NotFound(f"dashboard {dashboard_id} has no panel {index}")
    _, scope, _ = _view_scope(request, row)
    panel = dashboards.dashboard_panels(
        workspace_of(request), row.panels, settings=scope.as_settings()
    )[index]
    return _export(panel, fmt, f"dashboard-{dashboard_id}-panel-{index}")


# --- API -----------------------------------------------------------------------------------


PanelWidth = Literal["third", "half", "two-thirds", "full"]


class PanelIn(BaseModel):
    """A catalog metric (`metric`, `by`, `grain`, `days`) or a saved insight (`insight`)."""

    model_config = ConfigDict(extra="forbid")

    metric: str | None = Field(default=None, max_length=200)
    insight: int | None = Field(default=None, ge=1, le=2**31 - 1, description="a saved insight")
    width: PanelWidth = "half"
    by: str | None = Field(default=None, max_length=100)
    grain: str = Field(default="week", pattern="^(day|week|month)$")
    days: int = Field(default=90, ge=1, le=3660)
    title: str = Field(default="", max_length=200)


class DashboardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    panels: list[PanelIn] = Field(max_length=40)


class DashboardOut(BaseModel):
    id: int
    name: str
    description: str
    panels: list[dict[str, Any]]
    settings: dict[str, Any] = Field(
        default_factory=dict, description="the dashboard-wide range and filters"
    )


class PanelOut(BaseModel):
    key: str
    title: str
    description: str
    data: list[dict[str, Any]]
    chart: dict[str, Any] | None
    sql: dict[str, str]


def _dash_out(row: Any) -> DashboardOut:
    return DashboardOut(
        id=row.id,
        name=row.name,
        description=row.description,
        panels=list(row.panels),
        settings=dict(row.settings or {}),
    )


def _panel_out(p: dashboards.Panel) -> PanelOut:
    return PanelOut(
        key=p.key,
        title=p.title,
        description=p.description,
        data=p.records(),
        chart=p.chart,
        sql=p.sql,
    )


@api.get("/dashboards/standard", summary="The standard product dashboard, with its numbers")
def api_standard_dashboard(request: Request, principal: ReadApi) -> list[PanelOut]:
    return [_panel_out(p) for p in dashboards.standard_dashboard(workspace_of(request))]


@api.get("/dashboards")
def api_list_dashboards(db: DbDep, principal: ReadApi) -> list[DashboardOut]:
    return [_dash_out(r) for r in dashboards.list_dashboards(db)]


@api.post(
    "/dashboards",
    status_code=201,
    responses=error_responses((409, "a dashboard of that name exists")),
)
def api_create_dashboard(
    request: Request, db: DbDep, principal: WriteApi, body: DashboardIn
) -> DashboardOut:
    row = dashboards.save_dashboard(
        db,
        workspace_of(request),
        body.name,
        body.description,
        [_panel_in(p) for p in body.panels],
        actor=principal.actor,
    )
    return _dash_out(row)


@api.get("/dashboards/{dashboard_id}", responses=NO_DASHBOARD)
def api_dashboard(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    dashboard_id: RecordId,
    start: OptionalDate = None,
    end: OptionalDate = None,
    days: Annotated[int | None, Query(ge=1, le=3660, description="the last N days")] = None,
) -> list[PanelOut]:
    """Every panel drawn over the dashboard's range and filters; `start`/`end` or `days`
    give another range for this answer only (the dashboard keeps its own)."""
    row = dashboards.get_dashboard(db, dashboard_id)
    scope = Scope.of(row.settings)
    if start is not None or end is not None or days is not None:
        if start is not None and end is not None and start > end:
            raise InvalidInput(f"the start date {start} is after the end date {end}")
        scope = replace(scope, days=None if start else days, start=start, end=end)
    panels = dashboards.dashboard_panels(
        workspace_of(request), row.panels, settings=scope.as_settings()
    )
    return [_panel_out(p) for p in panels]


@api.delete("/dashboards/{dashboard_id}", status_code=204, responses=NO_DASHBOARD)
def api_delete_dashboard(db: DbDep, principal: WriteApi, dashboard_id: RecordId) -> Response:
    dashboards.delete_dashboard(db, dashboard_id, actor=principal.actor)
    return Response(status_code=204)


def _panel_in(p: PanelIn) -> dict[str, Any]:
    if p.insight is not None:
        return {"insight": p.insight, "title": p.title, "width": p.width}
    return p.model_dump(exclude={"insight"})


# --- saved insights ---------------------------------------------------------------------------

NO_INSIGHT = error_responses((404, "no saved insight with that id"))
InsightKind = Literal[
    "sql", "funnel", "retention", "stickiness", "lifecycle", "trends", "paths", "metric"
]


def _ref(row: Any) -> InsightRef:
    return InsightRef(row.id, row.kind, row.title, row.description, dict(row.params or {}))


def _kind_of(path: str) -> str:
    """The explorer a page address belongs to (`/insights/funnel` → funnel)."""
    for kind, base in EXPLORER_PATHS.items():
        if path == base:
            return kind
    raise InvalidInput(f"{path} is not an explorer whose insights can be saved")


EXPLORER_PATHS = {
    "funnel": "/insights/funnel",
    "retention": "/insights/retention",
    "stickiness": "/insights/stickiness",
    "lifecycle": "/insights/lifecycle",
    "trends": "/insights/trends",
    "paths": "/insights/paths",
}


@pages.get("/insights/saved")
def saved_insights_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    """Every saved insight (with its link) and the workspace's annotations."""
    return render(
        request,
        "analytics/saved_insights.html",
        {
            "insights": saved.list_insights(db),
            "annotations": saved.list_annotations(db),
            "kind_labels": KIND_LABELS,
            "tab": "saved",
            "can_write": principal.can(Permission.WRITE),
        },
    )


@pages.post("/insights/saved")
def saved_insight_create(
    request: Request,
    db: DbDep,
    principal: WritePage,
    title: Annotated[str, Form(min_length=1, max_length=200)],
    page: Annotated[str, Form(min_length=1, max_length=200)],
    query: Annotated[str, Form(max_length=8000)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Save what an explorer page shows (its address and query string) under a title."""
    kind = _kind_of(page)
    params = check_params(kind, {"query": query})
    row = saved.save_insight(
        db, kind, title, params, actor=principal.actor, description=description
    )
    return RedirectResponse(f"/insights/saved/{row.id}", status_code=303)


@pages.get("/insights/saved/{insight_id}")
def saved_insight_page(
    request: Request, db: DbDep, principal: UserPage, insight_id: int
) -> Response:
    """A saved insight: its title, description, chart, numbers and SQL; its link is the
    address to share inside the workspace."""
    row = saved.get_insight(db, insight_id)
    panel = insight_panel(workspace_of(request), _ref(row), key=f"insight-{row.id}")
    if is_fragment(request):
        return render(
            request,
            "analytics/_panel.html",
            {"panel": panel, "page_heading": True, "page_description": row.description},
        )
    return _chart_page(
        request,
        "analytics/saved_insight.html",
        {
            "insight": row,
            "panel": panel,
            "explorer": explorer_url(row.kind, row.params or {}),
            "kind_label": KIND_LABELS.get(row.kind, row.kind),
            "dashboards": dashboards.list_dashboards(db),
            "can_write": principal.can(Permission.WRITE),
            "tab": "saved",
        },
    )


@pages.post("/insights/saved/{insight_id}")
def saved_insight_edit(
    db: DbDep,
    principal: WritePage,
    insight_id: int,
    title: Annotated[str, Form(min_length=1, max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    row = saved.get_insight(db, insight_id)
    saved.save_insight(
        db,
        row.kind,
        title,
        dict(row.params or {}),
        actor=principal.actor,
        description=description,
        insight_id=insight_id,
    )
    return RedirectResponse(f"/insights/saved/{insight_id}", status_code=303)


@pages.post("/insights/saved/{insight_id}/delete")
def saved_insight_delete(db: DbDep, principal: WritePage, insight_id: int) -> Response:
    saved.delete_insight(db, insight_id, principal.actor)
    return RedirectResponse("/insights/saved", status_code=303)


@pages.post("/insights/dashboards/{dashboard_id}/add")
def dashboard_add_insight(
    request: Request,
    db: DbDep,
    principal: WritePage,
    dashboard_id: int,
    insight_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    width: Annotated[PanelWidth, Form()] = "half",
) -> Response:
    """Put a saved insight on this dashboard (as its last panel)."""
    saved_insight_add_to_dashboard(request, db, principal, insight_id, dashboard_id, width)
    row = dashboards.get_dashboard(db, dashboard_id)
    return RedirectResponse(f"{_back(request, row)}#panel-{len(row.panels) - 1}", 303)


@pages.post("/insights/saved/{insight_id}/add")
def saved_insight_add_to_dashboard(
    request: Request,
    db: DbDep,
    principal: WritePage,
    insight_id: int,
    dashboard_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    width: Annotated[PanelWidth, Form()] = "half",
) -> Response:
    """Put a saved insight on a dashboard (as its last panel)."""
    saved.get_insight(db, insight_id)
    row = dashboards.get_dashboard(db, dashboard_id)
    panels = [*row.panels, {"insight": insight_id, "width": width}]
    dashboards.set_panels(db, workspace_of(request), dashboard_id, panels, principal.actor)
    return RedirectResponse(f"/insights/dashboards/{dashboard_id}#panel-{len(panels) - 1}", 303)


# --- editing a dashboard from its page ------------------------------------------------------


def _back(request: Request, row: Any) -> str:
    """The dashboard's page after an edit from it, over the range its reader was looking at
    (the page's forms post to an address that keeps `?range=` / `?start=&end=`)."""
    _, _, view_query = _view_scope(request, row)
    return f"/insights/dashboards/{row.id}{view_query}"


@pages.post("/insights/dashboards/{dashboard_id}/panels/{index}/{action}")
def dashboard_panel_edit(
    request: Request,
    db: DbDep,
    principal: WritePage,
    dashboard_id: int,
    index: int,
    action: Literal["up", "down", "move", "wide", "narrow", "resize", "rename", "remove"],
    width: Annotated[str, Form(max_length=20)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
    to: Annotated[int | None, Form(ge=0, le=1000)] = None,
) -> Response:
    """Reorder (up, down; move to the place `to`, as when a panel is dropped on another),
    resize (resize to `width`: third, half, two-thirds or full; wide and narrow: full and
    half), retitle (rename to `title`; empty: the insight's own) or remove a panel."""
    row = dashboards.get_dashboard(db, dashboard_id)
    panels = [dict(p) for p in row.panels]
    if not 0 <= index < len(panels):
        raise NotFound(f"dashboard {dashboard_id} has no panel {index}")
    target = index
    if action == "up" and index > 0:
        target = index - 1
        panels[index - 1], panels[index] = panels[index], panels[index - 1]
    elif action == "down" and index < len(panels) - 1:
        target = index + 1
        panels[index + 1], panels[index] = panels[index], panels[index + 1]
    elif action == "move":
        if to is None or not 0 <= to < len(panels):
            raise InvalidInput(f"to: a place from 0 to {len(panels) - 1}")
        panels.insert(to, panels.pop(index))
        target = to
    elif action in ("wide", "narrow"):
        panels[index]["width"] = "full" if action == "wide" else "half"
    elif action == "resize":
        if width not in WIDTH_LABELS:
            raise InvalidInput(f"width: one of {', '.join(WIDTH_LABELS)}")
        panels[index]["width"] = width
    elif action == "rename":
        panels[index]["title"] = title.strip()
    elif action == "remove":
        panels.pop(index)
        target = max(0, index - 1)
    dashboards.set_panels(db, workspace_of(request), dashboard_id, panels, principal.actor)
    return RedirectResponse(f"{_back(request, row)}#panel-{target}", 303)


@pages.post("/insights/dashboards/{dashboard_id}/edit")
def dashboard_edit(
    request: Request,
    db: DbDep,
    principal: WritePage,
    dashboard_id: int,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """A dashboard's name and description (its panels as they are)."""
    row = dashboards.get_dashboard(db, dashboard_id)
    dashboards.save_dashboard(
        db,
        workspace_of(request),
        name,
        description,
        [dict(p) for p in row.panels],
        actor=principal.actor,
        dashboard_id=dashboard_id,
    )
    return RedirectResponse(_back(request, row), 303)


@pages.post("/insights/dashboards/{dashboard_id}/delete")
def dashboard_delete(db: DbDep, principal: WritePage, dashboard_id: int) -> Response:
    """Delete a dashboard (its saved insights stay)."""
    dashboards.delete_dashboard(db, dashboard_id, actor=principal.actor)
    return RedirectResponse("/insights/dashboards", 303)


@pages.post("/insights/dashboards/{dashboard_id}/scope")
def dashboard_scope_edit(
    db: DbDep,
    principal: WritePage,
    dashboard_id: int,
    days: Annotated[str, Form(max_length=5)] = "",
    start: Annotated[str, Form(max_length=10)] = "",
    end: Annotated[str, Form(max_length=10)] = "",
    filters: Annotated[str, Form(max_length=4000)] = "",
    cohort: Annotated[list[int] | None, Form(max_length=10)] = None,
) -> Response:
    """The dashboard-wide range (last N days, or from/to), filters (one per line) and the
    cohorts whose people every panel keeps."""
    from productops.analytics.cohorts import service as cohorts

    for cohort_id in cohort or []:
        cohorts.get_cohort(db, cohort_id)
    settings: dict[str, Any] = {
        "days": int(days) if days.isdigit() else None,
        "start": start or None,
        "end": end or None,
        "filters": [line.strip() for line in filters.splitlines() if line.strip()],
        "cohorts": list(cohort or []),
    }
    for day in (start, end):
        if day:
            try:
                dt.date.fromisoformat(day)
            except ValueError:
                raise InvalidInput(f"'{day}' is not a day (YYYY-MM-DD)") from None
    if settings["filters"]:
        from productops.analytics.analyses.inputs import parse_filter

        for text in settings["filters"]:
            parse_filter(text)
    dashboards.set_scope(db, dashboard_id, settings, principal.actor)
    return RedirectResponse(f"/insights/dashboards/{dashboard_id}", 303)


# --- annotations ---------------------------------------------------------------------------


@pages.post("/insights/annotations")
def annotation_add(
    db: DbDep,
    principal: WritePage,
    day: Annotated[dt.date, Form()],
    text: Annotated[str, Form(min_length=1, max_length=300)],
    back: Annotated[str, Form(max_length=300)] = "/insights/saved",
) -> Response:
    saved.add_annotation(db, day, text, principal.actor)
    return RedirectResponse(back if back.startswith("/insights") else "/insights/saved", 303)


@pages.post("/insights/annotations/{annotation_id}/delete")
def annotation_delete(db: DbDep, principal: WritePage, annotation_id: int) -> Response:
    saved.delete_annotation(db, annotation_id, principal.actor)
    return RedirectResponse("/insights/saved#annotations", 303)


# --- saved insights and annotations: API ----------------------------------------------------


class SavedInsightIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: InsightKind
    title: str = Field(min_length=1, max_length=200, pattern=r"\S")
    description: str = Field(default="", max_length=5000)
    params: dict[str, Any] = Field(
        description="sql: {query, chart}; metric: {metric, by, grain, days}; trends: {body: "
        "the body of POST /api/v1/insights/trends}; other explorers: {query: the page's query "
        "string}"
    )


class SavedInsightUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    description: str | None = Field(default=None, max_length=5000)


class SavedInsightOut(BaseModel):
    id: int
    kind: str
    title: str
    description: str
    params: dict[str, Any]
    url: str = Field(description="the insight's page, to share inside the workspace")
    explorer: str | None = Field(description="the explorer page that shows it")
    created_by: str
    updated_at: dt.datetime


class SavedInsightResult(SavedInsightOut):
    panel: PanelOut


def _insight_out(row: Any) -> SavedInsightOut:
    return SavedInsightOut(
        id=row.id,
        kind=row.kind,
        title=row.title,
        description=row.description,
        params=dict(row.params or {}),
        url=f"/insights/saved/{row.id}",
        explorer=explorer_url(row.kind, row.params or {}),
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


@api.get("/saved-insights", tags=["saved insights"], summary="Saved insights, newest first")
def api_saved_insights(db: DbDep, principal: ReadApi) -> list[SavedInsightOut]:
    return [_insight_out(r) for r in saved.list_insights(db)]


@api.post("/saved-insights", status_code=201, tags=["saved insights"])
def api_save_insight(db: DbDep, principal: WriteApi, body: SavedInsightIn) -> SavedInsightOut:
    """Save an insight of any kind (the parameters are checked for its kind)."""
    if body.kind == "trends":
        params = _trends_params(body.params)
    else:
        params = check_params(body.kind, body.params)
    row = saved.save_insight(
        db, body.kind, body.title, params, actor=principal.actor, description=body.description
    )
    return _insight_out(row)


def _trends_params(params: dict[str, Any]) -> dict[str, Any]:
    from productops.analytics.analyses.routes import TrendsQuery

    raw = params.get("body")
    if not isinstance(raw, dict):
        raise InvalidInput("a trends insight keeps {body: the trends question}")
    try:
        question = TrendsQuery.model_validate(raw)
    except ValueError as exc:
        raise InvalidInput(f"the trends question: {str(exc).splitlines()[0]}") from None
    return {"body": question.model_dump(mode="json")}


@api.get("/saved-insights/{insight_id}", responses=NO_INSIGHT, tags=["saved insights"])
def api_saved_insight(
    request: Request, db: DbDep, principal: ReadApi, insight_id: RecordId
) -> SavedInsightResult:
    """A saved insight with its result (data, chart and SQL)."""
    row = saved.get_insight(db, insight_id)
    panel = insight_panel(workspace_of(request), _ref(row))
    return SavedInsightResult(**_insight_out(row).model_dump(), panel=_panel_out(panel))


@api.patch("/saved-insights/{insight_id}", responses=NO_INSIGHT, tags=["saved insights"])
def api_update_insight(
    db: DbDep, principal: WriteApi, insight_id: RecordId, body: SavedInsightUpdate
) -> SavedInsightOut:
    row = saved.get_insight(db, insight_id)
    row = saved.save_insight(
        db,
        row.kind,
        body.title if body.title is not None else row.title,
        dict(row.params or {}),
        actor=principal.actor,
        description=body.description if body.description is not None else row.description,
        insight_id=insight_id,
    )
    return _insight_out(row)


@api.delete(
    "/saved-insights/{insight_id}", status_code=204, responses=NO_INSIGHT, tags=["saved insights"]
)
def api_delete_insight(db: DbDep, principal: WriteApi, insight_id: RecordId) -> Response:
    saved.delete_insight(db, insight_id, principal.actor)
    return Response(status_code=204)


class AnnotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: dt.date
    text: str = Field(min_length=1, max_length=300, pattern=r"\S")


class AnnotationOut(BaseModel):
    id: int
    day: dt.date
    text: str
    created_by: str


def _note_out(row: Any) -> AnnotationOut:
    return AnnotationOut(id=row.id, day=row.day, text=row.text, created_by=row.created_by)


@api.get("/annotations", tags=["annotations"], summary="Dated notes drawn on time charts")
def api_annotations(
    db: DbDep, principal: ReadApi, start: OptionalDate = None, end: OptionalDate = None
) -> list[AnnotationOut]:
    return [_note_out(r) for r in saved.list_annotations(db, start, end)]


@api.post("/annotations", status_code=201, tags=["annotations"])
def api_add_annotation(db: DbDep, principal: WriteApi, body: AnnotationIn) -> AnnotationOut:
    return _note_out(saved.add_annotation(db, body.day, body.text, principal.actor))


@api.delete(
    "/annotations/{annotation_id}",
    status_code=204,
    tags=["annotations"],
    responses=error_responses((404, "no annotation with that id")),
)
def api_delete_annotation(db: DbDep, principal: WriteApi, annotation_id: RecordId) -> Response:
    saved.delete_annotation(db, annotation_id, principal.actor)
    return Response(status_code=204)


class DashboardScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(default=None, ge=1, le=3660, description="the last N days")
    start: dt.date | None = None
    end: dt.date | None = None
    filters: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=20, description="PROPERTY:OP[:VALUE]"
    )
    cohorts: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        default_factory=list, max_length=10
    )


@api.put("/dashboards/{dashboard_id}/panels", responses=NO_DASHBOARD)
def api_set_panels(
    request: Request, db: DbDep, principal: WriteApi, dashboard_id: RecordId, body: list[PanelIn]
) -> DashboardOut:
    """Replace a dashboard's panels: their order, width, catalog metrics and saved insights."""
    if len(body) > 40:
        raise InvalidInput("a dashboard holds at most 40 panels")
    row = dashboards.set_panels(
        db, workspace_of(request), dashboard_id, [_panel_in(p) for p in body], principal.actor
    )
    return _dash_out(row)


@api.put("/dashboards/{dashboard_id}/scope", responses=NO_DASHBOARD)
def api_set_scope(
    db: DbDep, principal: WriteApi, dashboard_id: RecordId, body: DashboardScopeIn
) -> DashboardOut:
    """The range and filters every panel of the dashboard is drawn with."""
    if body.filters:
        from productops.analytics.analyses.inputs import parse_filter

        for text in body.filters:
            parse_filter(text)
    row = dashboards.set_scope(db, dashboard_id, body.model_dump(mode="json"), principal.actor)
    return _dash_out(row)


def register(app: FastAPI) -> None:
    app.include_router(pages)
    app.include_router(api)
