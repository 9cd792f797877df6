"""The metric catalog on the web: `/api/v1/metrics` and the `/insights/metrics` pages (the
catalog, its editor, and one metric's numbers with their SQL)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from productops.analytics.catalog import metrics as metrics_service
from productops.analytics.catalog import service as catalog_service
from productops.analytics.catalog.service import Catalog, CatalogError, Metric
from productops.core import audit
from productops.core.auth import Permission, Principal
from productops.core.clock import utcnow
from productops.core.errors import ProductOpsError
from productops.web.deps import (
    DbDep,
    UserPage,
    client_ip,
    require,
    workspace_of,
)
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import OptionalDate
from productops.web.responses import error_responses
from productops.web.templating import render, render_charts

router = APIRouter()
pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["metrics"])

ReadApi = Annotated[Principal, require(Permission.READ)]
WritePage = Annotated[Principal, require(Permission.WRITE, page=True)]
MetricName = Annotated[str, Path(max_length=63, pattern=r"^[a-z][a-z0-9_]*$")]
Grain = Literal["day", "week", "month", "all"]
ByParam = Annotated[
    list[str] | None,
    Query(description="Catalog dimensions to break down by (repeat, or comma-separate)."),
]


# --- schemas -------------------------------------------------------------------------------------


class FilterOut(BaseModel):
    property: str | None = None
    dimension: str | None = None
    op: str
    value: Any = None


class MetricOut(BaseModel):
    """A catalog metric's definition."""

    name: str
    label: str
    description: str
    type: str
    definition: str = Field(description="the definition in one sentence")
    event: list[str] | None = None
    property: str | None = None
    filters: list[FilterOut] = []
    then: list[str] | None = None
    then_filters: list[FilterOut] = []
    window_days: int | None = None
    numerator: str | None = None
    denominator: str | None = None


class DimensionOut(BaseModel):
    name: str
    source: str = Field(description="person, account or event")
    definition: str


class CatalogOut(BaseModel):
    metrics: list[MetricOut]
    dimensions: list[DimensionOut]
    active_user: str = Field(description="the one definition of an active user")


class MetricResultOut(BaseModel):
    """A metric's numbers and the SQL that computed them."""

    metric: str
    label: str
    type: str
    grain: str
    by: list[str]
    start: str | None
    end: str | None
    columns: list[str]
    rows: list[dict[str, Any]]
    sql: str


def _metric_out(m: Metric) -> MetricOut:
    data = m.model_dump(mode="json")
    return MetricOut(**data, definition=m.definition())


def _catalog_out(c: Catalog) -> CatalogOut:
    return CatalogOut(
        metrics=[_metric_out(m) for m in c.metrics],
        dimensions=[
            DimensionOut(name=n, source=d.source, definition=d.describe())
            for n, d in c.dimensions.items()
        ],
        active_user=c.active_user.describe(),
    )


# --- API ------------------------------------------------------------------------------------------


@api.get("/metrics")
def api_metrics(request: Request, principal: ReadApi) -> CatalogOut:
    """The metric catalog: every metric and dimension with its definition."""
    return _catalog_out(catalog_service.load_catalog(workspace_of(request)))


@api.get(
    "/metrics/{name}",
    response_model=MetricResultOut,
    responses={**CSV_RESPONSE_DOC, **error_responses((404, "no metric of that name"))},
)
def api_metric(
    request: Request,
    principal: ReadApi,
    name: MetricName,
    by: ByParam = None,
    grain: Grain = "day",
    start: OptionalDate = None,
    end: OptionalDate = None,
    format: Literal["json", "csv"] = "json",
) -> MetricResultOut | Response:
    """A catalog metric per period (and dimension), with the SQL it compiled to."""
    result = metrics_service.query_metric(
        workspace_of(request), name, by=by, grain=grain, start=start, end=end
    )
    if format == "csv":
        return csv_response(result.columns, result.rows(), result.metric.name)
    return MetricResultOut(**metrics_service.result_json(result))


# --- pages ----------------------------------------------------------------------------------------


def _catalog_page(
    request: Request,
    principal: Principal,
    text: str | None = None,
    errors: list[str] | None = None,
    saved: bool = False,
    status_code: int = 200,
    unseen: list[catalog_service.UnseenEvent] | None = None,
) -> Response:
    ws = workspace_of(request)
    current: Catalog | None = None
    if text is None:
        text = catalog_service.read_catalog_text(ws)
        try:
            current = catalog_service.parse_catalog(text)
        except CatalogError as exc:
            errors = [p.render(exc.filename) for p in exc.problems]
    else:
        try:
            current = catalog_service.load_catalog(ws)
        except CatalogError:
            current = None
    return render(
        request,
        "analytics/metrics.html",
        {
            "catalog": current,
            "text": text,
            "errors": errors or [],
            "saved": saved,
            "can_edit": principal.can(Permission.WRITE),
            "filename": catalog_service.METRICS_FILE,
            "unseen": unseen or [],
        },
        status_code=status_code,
    )


@pages.get("/insights/metrics")
def metrics_page(request: Request, principal: UserPage, saved: bool = False) -> Response:
    return _catalog_page(request, principal, saved=saved)


@pages.post("/insights/metrics")
def save_metrics_page(
    request: Request,
    db: DbDep,
    principal: WritePage,
    text: Annotated[str, Form(max_length=catalog_service.MAX_CATALOG_BYTES)],
    confirm_unseen: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    ws = workspace_of(request)
    # Browsers send CRLF line ends from a textarea; the file keeps LF like the rest of git.
    text = text.replace("\r\n", "\n")
    try:
        parsed = catalog_service.parse_catalog(text)
        # A metric on an event never sent is usually a typo: ask before saving it.
        unseen = catalog_service.unseen_events(ws, parsed)
        if unseen and confirm_unseen != "yes":
            return _catalog_page(request, principal, text=text, unseen=unseen, status_code=409)
        saved = catalog_service.save_catalog(ws, text)
    except CatalogError as exc:
        errors = [p.render(exc.filename) for p in exc.problems]
        return _catalog_page(request, principal, text=text, errors=errors, status_code=422)
    audit.record(
        db,
        principal.actor,
        "metrics.catalog.save",
        "metric_catalog",
        catalog_service.METRICS_FILE,
        {"metrics": [m.name for m in saved.metrics]},
        ip=client_ip(request),
    )
    return RedirectResponse("/insights/metrics?saved=true", status_code=303)


@pages.get("/insights/metrics/{name}")
def metric_page(
    request: Request,
    principal: UserPage,
    name: MetricName,
    by: Annotated[str | None, Query(max_length=200)] = None,
    grain: Grain = "week",
    start: OptionalDate = None,
    end: OptionalDate = None,
) -> Response:
    ws = workspace_of(request)
    catalog = catalog_service.load_catalog(ws)
    metric = catalog.metric(name)
    result = None
    error = None
    chart = None
    try:
        result = metrics_service.query_metric(
            ws, name, by=by or None, grain=grain, start=start, end=end, catalog=catalog
        )
        chart = _metric_chart(result, by or None, grain)
    except ProductOpsError as exc:
        error = str(exc)
    warnings = [u.message for u in catalog_service.unseen_events(ws, catalog) if u.metric == name]
    return render_charts(
        request,
        "analytics/metric.html",
        {
            "chart": chart,
            "warnings": warnings,
            "metric": metric,
            "catalog": catalog,
            "result": result,
            "error": error,
            "by": by or "",
            "grain": grain,
            "start": start.isoformat() if start else "",
            "end": end.isoformat() if end else "",
            "grains": ["day", "week", "month", "all"],
        },
    )


def _metric_chart(result: Any, by: str | None, grain: str) -> dict[str, Any] | None:
    from productops.analytics import charts

    frame = result.frame
    if frame.empty or "period" not in frame.columns or "value" not in frame.columns:
        return None
    today = utcnow().date()
    periods = [p for p in frame["period"] if p is not None]
    start = result.start or (min(periods) if periods else today)
    end = result.end or today
    unfinished = charts.unfinished_periods(periods, grain, start, end, today)  # type: ignore[arg-type]
    return charts.series_chart(
        frame,
        "period",
        "value",
        by if by and by in frame.columns else None,
        result.metric.label,
        grain=grain,
        percent=result.metric.type in ("ratio", "conversion"),
        unfinished=unfinished,
    )


router.include_router(pages)
router.include_router(api)


def register(app: FastAPI) -> None:
    app.include_router(router)
