"""Dashboards on the web: the product dashboard (`/insights`), the funnel and retention
explorers, saved dashboards, and their exports."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from productops.analytics import dashboards
from productops.analytics.query.source import default_end, event_names, event_summary
from productops.core.auth import Permission
from productops.core.errors import InvalidInput, NotFound
from productops.web.deps import DbDep, ReadApi, UserPage, WriteApi, WritePage, workspace_of
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


EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(2099, 12, 31)


def _form_dates(
    ws: Any, start: dt.date | None, end: dt.date | None, days: int
) -> tuple[dt.date, dt.date]:
    if end is None:
        # Default to the newest data, so an empty today does not read as people leaving.
        end = default_end(ws)
    for day in (start, end):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise InvalidInput(f"{day} is outside {EARLIEST} to {LATEST}")
    start = start or end - dt.timedelta(days=days - 1)
    if start > end:
        raise InvalidInput(f"the start date {start} is after the end date {end}")
    return start, end


def _explore_page(request: Request, context: dict[str, Any]) -> Response:
    ws = workspace_of(request)
    seen = event_names(ws)
    context["event_names"] = list(seen)[:300]
    context["dimensions"] = _dimension_choices(ws)
    # The form comes back with the reason beside it; the status says it was not answered.
    status = 422 if context.get("error") else 200
    return _chart_page(request, "analytics/explore.html", context, status)


def _dimension_choices(ws: Any) -> list[tuple[str, str]]:
    """(value, label) of the breakdowns to offer: the catalog's dimensions, then the account
    and person traits every workspace has."""
    from productops.analytics.catalog.service import CatalogError, load_catalog

    out: list[tuple[str, str]] = []
    try:
        catalog = load_catalog(ws)
        out += [
            (str(d.as_dimension()), f"{name} ({d.as_dimension()})")
            for name, d in sorted(catalog.dimensions.items())
        ]
    except CatalogError:
        pass
    for value in ("account.plan", "account.segment", "account.region"):
        if value not in {v for v, _ in out}:
            out.append((value, value))
    return out


@pages.get("/insights/funnel")
def funnel_page(
    request: Request,
    principal: UserPage,
    steps: Annotated[list[str] | None, Query(max_length=10)] = None,
    window: Annotated[int, Query(ge=1, le=365)] = 14,
    breakdown: Annotated[str, Query(max_length=120)] = "",
    start: OptionalDate = None,
    end: OptionalDate = None,
) -> Response:
    """A funnel of up to ten ordered steps, with a conversion window and a breakdown."""
    ws = workspace_of(request)
    chosen = [s.strip() for s in (steps or []) if s and s.strip()]
    form: dict[str, Any] = {"steps": chosen, "window": window, "breakdown": breakdown}
    panel, error = None, None
    try:
        s, e = _form_dates(ws, start, end, 30)
        form.update(start=s, end=e)
        if len(chosen) >= 2:
            panel = dashboards.funnel_panel(
                ws, chosen, s, e, window_days=window, breakdown=breakdown or None
            )
        elif steps:
            error = "a funnel needs at least two steps"
    except InvalidInput as exc:
        error = str(exc)
    return _explore_page(
        request,
        {
            "kind": "funnel",
            "title": "Funnel",
            "action": "/insights/funnel",
            "form": form,
            "panel": panel,
            "error": error,
            "tab": "funnel",
        },
    )


@pages.get("/insights/retention")
def retention_page(
    request: Request,
    principal: UserPage,
    start_event: Annotated[str, Query(max_length=200)] = "",
    return_event: Annotated[str, Query(max_length=200)] = "",
    grain: Literal["day", "week", "month"] = "week",
    mode: Literal["first_time", "recurring"] = "first_time",
    return_mode: Literal["on", "on_or_after"] = "on",
    start: OptionalDate = None,
    end: OptionalDate = None,
) -> Response:
    """Cohort retention on any start and return event ("retention by feature")."""
    ws = workspace_of(request)
    form: dict[str, Any] = {
        "start_event": start_event,
        "return_event": return_event,
        "grain": grain,
        "mode": mode,
        "return_mode": return_mode,
    }
    panel, error = None, None
    try:
        s, e = _form_dates(ws, start, end, 70)
        form.update(start=s, end=e)
        panel = dashboards.retention_panel(
            ws,
            s,
            e,
            start_event=start_event.strip() or "*",
            return_event=return_event.strip() or None,
            grain=grain,
            mode=mode,
            return_mode=return_mode,
        )
    except InvalidInput as exc:
        error = str(exc)
    return _explore_page(
        request,
        {
            "kind": "retention",
            "title": "Retention",
            "action": "/insights/retention",
            "form": form,
            "panel": panel,
            "error": error,
            "tab": "retention",
        },
    )


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


@pages.get("/insights/dashboards/{dashboard_id}")
def dashboard_page(request: Request, db: DbDep, principal: UserPage, dashboard_id: int) -> Response:
    row = dashboards.get_dashboard(db, dashboard_id)
    panels = dashboards.dashboard_panels(workspace_of(request), row.panels)
    return _chart_page(
        request,
        "analytics/dashboard.html",
        {"dashboard": row, "panels": panels, "tab": "dashboards"},
    )


@pages.get("/insights/dashboards/{dashboard_id}/panel/{index}")
def dashboard_panel_fragment(
    request: Request, db: DbDep, principal: UserPage, dashboard_id: int, index: int
) -> Response:
    """One panel of a saved dashboard, for the page to swap in once it is refreshed."""
    row = dashboards.get_dashboard(db, dashboard_id)
    if not 0 <= index < len(row.panels):
        raise NotFound(f"dashboard {dashboard_id} has no panel {index}")
    panel = dashboards.dashboard_panels(workspace_of(request), row.panels)[index]
    return render(
        request,
        "analytics/_panel.html",
        {
            "panel": panel,
            "export_base": f"/insights/dashboards/{dashboard_id}/panels/",
            "export_by_key": False,
            "loop_index": index,
            "refresh_url": f"/insights/dashboards/{dashboard_id}/panel/{index}",
        },
    )


@pages.get("/insights/dashboards/{dashboard_id}/panels/{index}.{fmt}")
def export_dashboard_panel(
    request: Request, db: DbDep, principal: UserPage, dashboard_id: int, index: int, fmt: str
) -> Response:
    row = dashboards.get_dashboard(db, dashboard_id)
    if not 0 <= index < len(row.panels):
        raise NotFound(f"dashboard {dashboard_id} has no panel {index}")
    panel = dashboards.dashboard_panels(workspace_of(request), row.panels)[index]
    return _export(panel, fmt, f"dashboard-{dashboard_id}-panel-{index}")


# --- API -----------------------------------------------------------------------------------


class PanelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field(max_length=200)
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


class PanelOut(BaseModel):
    key: str
    title: str
    description: str
    data: list[dict[str, Any]]
    chart: dict[str, Any] | None
    sql: dict[str, str]


def _dash_out(row: Any) -> DashboardOut:
    return DashboardOut(
        id=row.id, name=row.name, description=row.description, panels=list(row.panels)
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
        [p.model_dump() for p in body.panels],
        actor=principal.actor,
    )
    return _dash_out(row)


@api.get("/dashboards/{dashboard_id}", responses=NO_DASHBOARD)
def api_dashboard(
    request: Request, db: DbDep, principal: ReadApi, dashboard_id: RecordId
) -> list[PanelOut]:
    row = dashboards.get_dashboard(db, dashboard_id)
    return [_panel_out(p) for p in dashboards.dashboard_panels(workspace_of(request), row.panels)]


@api.delete("/dashboards/{dashboard_id}", status_code=204, responses=NO_DASHBOARD)
def api_delete_dashboard(db: DbDep, principal: WriteApi, dashboard_id: RecordId) -> Response:
    dashboards.delete_dashboard(db, dashboard_id, actor=principal.actor)
    return Response(status_code=204)


def register(app: FastAPI) -> None:
    app.include_router(pages)
    app.include_router(api)
