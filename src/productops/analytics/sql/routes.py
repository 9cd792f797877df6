"""The SQL console on the web: `POST /api/v1/sql`, the SQL page (`/insights/sql`: the editor
with the schema beside it, the result as a table and a chart, CSV export) and saved queries
(`/api/v1/sql/queries`), which are saved insights of kind `sql` and can go on dashboards."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from productops.analytics import saved
from productops.analytics.sql import service as sql_service
from productops.analytics.sql.chart import CHART_TYPES, ChartChoice, plan_chart, result_chart
from productops.analytics.sql.schema import EXAMPLES, console_schema
from productops.core.auth import Permission, Principal
from productops.core.errors import InvalidInput, PermissionDenied
from productops.web.deps import (
    DbDep,
    PrincipalDep,
    UserPage,
    WriteApi,
    WritePage,
    is_fragment,
    reads_only,
    workspace_of,
)
from productops.web.export import CSV_RESPONSE_DOC
from productops.web.params import RecordId
from productops.web.responses import error_responses
from productops.web.templating import render_charts

api = APIRouter(prefix="/api/v1", tags=["sql"])
pages = APIRouter(include_in_schema=False)
# Rows the page shows and charts; the CSV export takes up to the console's own limit.
PAGE_ROWS = 1_000
SQL_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CSV_RESPONSE_DOC,
    **error_responses(
        (
            429,
            "The caller (or the server) already runs as many console queries as allowed; "
            "`Retry-After` says when to try again.",
        )
    ),
}


class SqlQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=sql_service.MAX_QUERY_CHARS)
    limit: int = Field(default=sql_service.DEFAULT_LIMIT, ge=1, le=sql_service.DEFAULT_LIMIT)


class SqlResultOut(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = Field(description="true when the query had more rows than `limit`")
    limit: int


# --- who may run SQL ------------------------------------------------------------------------------


def sql_principal(principal: PrincipalDep) -> Principal:
    """API keys with `read`; of the people, editors and admins (not viewers or researchers)."""
    needed = Permission.READ if principal.kind == "apikey" else Permission.WRITE
    if not principal.can(needed):
        who = f"role {principal.role}" if principal.role else f"scope {principal.scope}"
        raise PermissionDenied(f"{who} may not use the SQL console")
    return principal


SqlApi = Annotated[Principal, Depends(sql_principal)]


def sql_page_principal(principal: UserPage) -> Principal:
    """The SQL page: signed-in editors and admins, as for the console's API."""
    return sql_principal(principal)


SqlPage = Annotated[Principal, Depends(sql_page_principal)]


def _caller(principal: Principal) -> str:
    return f"{principal.kind}:{principal.id if principal.id is not None else principal.name}"


# --- API ------------------------------------------------------------------------------------------


@api.post("/sql", response_model=SqlResultOut, responses=SQL_RESPONSES)
@reads_only
def api_sql(
    request: Request,
    principal: SqlApi,
    body: SqlQuery,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Run one read-only SELECT over `events`, `events_resolved`, `persons` and `accounts`
    (see docs/sql.md), within the console's limits: its answer's size, one deadline for the
    whole request, memory, and how many queries a caller runs at once (429 beyond)."""
    # The answer is written inside the query's deadline and size cap, so it is sent as is
    # (FastAPI's own encoding of a large result would run past both).
    answer = sql_service.answer_sql(
        workspace_of(request),
        body.query,
        limit=body.limit,
        output=format,
        caller=_caller(principal),
    )
    headers = {}
    if format == "csv":
        headers["Content-Disposition"] = 'attachment; filename="query.csv"'
        if answer.truncated:
            headers["X-Truncated"] = "true"
    return Response(answer.body, media_type=answer.media_type, headers=headers)


# --- saved queries --------------------------------------------------------------------------

ChartTypeField = Literal["auto", "line", "bar", "area", "point", "none"]
NO_QUERY = error_responses((404, "no saved query with that id"))


class ChartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ChartTypeField = "auto"
    x: str = Field(default="", max_length=200, description="column on x; empty: the first")
    y: str = Field(default="", max_length=200, description="numeric column on y; empty: chosen")
    color: str = Field(default="", max_length=200, description="column that colours marks")


class SavedQueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, pattern=r"\S")
    description: str = Field(default="", max_length=5000)
    query: str = Field(min_length=1, max_length=sql_service.MAX_QUERY_CHARS)
    chart: ChartIn = Field(default_factory=ChartIn)


class SavedQueryOut(BaseModel):
    id: int
    title: str
    description: str
    query: str
    chart: ChartIn
    url: str = Field(description="the query on the SQL page")
    created_by: str
    updated_at: dt.datetime


def _query_out(row: Any) -> SavedQueryOut:
    params = row.params or {}
    return SavedQueryOut(
        id=row.id,
        title=row.title,
        description=row.description,
        query=str(params.get("query", "")),
        chart=ChartIn.model_validate(ChartChoice.of(params.get("chart")).as_params()),
        url=f"/insights/sql?insight={row.id}",
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def save_query(
    db: Any,
    title: str,
    description: str,
    query: str,
    chart: ChartChoice,
    actor: str,
    insight_id: int | None = None,
) -> Any:
    """Check the query as the console would, then keep it as a saved insight of kind sql."""
    checked = sql_service.check_query(query)
    return saved.save_insight(
        db,
        "sql",
        title,
        {"query": checked, "chart": chart.as_params()},
        actor=actor,
        description=description,
        insight_id=insight_id,
    )


@api.get("/sql/queries", summary="Saved SQL queries, newest change first")
def api_saved_queries(db: DbDep, principal: SqlApi) -> list[SavedQueryOut]:
    return [_query_out(r) for r in saved.list_insights(db, "sql")]


@api.post(
    "/sql/queries", status_code=201, summary="Save a SQL query (checked as the console would)"
)
def api_save_query(db: DbDep, principal: WriteApi, body: SavedQueryIn) -> SavedQueryOut:
    row = save_query(
        db,
        body.title,
        body.description,
        body.query,
        ChartChoice.of(body.chart.model_dump()),
        principal.actor,
    )
    return _query_out(row)


@api.get("/sql/queries/{query_id}", responses=NO_QUERY)
def api_saved_query(db: DbDep, principal: SqlApi, query_id: RecordId) -> SavedQueryOut:
    return _query_out(saved.get_insight(db, query_id, "sql"))


@api.put("/sql/queries/{query_id}", responses=NO_QUERY)
def api_update_query(
    db: DbDep, principal: WriteApi, query_id: RecordId, body: SavedQueryIn
) -> SavedQueryOut:
    saved.get_insight(db, query_id, "sql")
    row = save_query(
        db,
        body.title,
        body.description,
        body.query,
        ChartChoice.of(body.chart.model_dump()),
        principal.actor,
        insight_id=query_id,
    )
    return _query_out(row)


@api.delete("/sql/queries/{query_id}", status_code=204, responses=NO_QUERY)
def api_delete_query(db: DbDep, principal: WriteApi, query_id: RecordId) -> Response:
    saved.get_insight(db, query_id, "sql")
    saved.delete_insight(db, query_id, principal.actor)
    return Response(status_code=204)


@api.post(
    "/sql/queries/{query_id}/run",
    response_model=SqlResultOut,
    responses={**SQL_RESPONSES, **NO_QUERY},
    summary="Run a saved query (JSON or formula-safe CSV), within the console's limits",
)
@reads_only
def api_run_query(
    request: Request,
    db: DbDep,
    principal: SqlApi,
    query_id: RecordId,
    format: Literal["json", "csv"] = "json",
    limit: Annotated[int, Query(ge=1, le=sql_service.DEFAULT_LIMIT)] = sql_service.DEFAULT_LIMIT,
) -> Response:
    row = saved.get_insight(db, query_id, "sql")
    answer = sql_service.answer_sql(
        workspace_of(request),
        str((row.params or {}).get("query", "")),
        limit=limit,
        output=format,
        caller=_caller(principal),
    )
    headers = {}
    if format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="query-{query_id}.csv"'
        if answer.truncated:
            headers["X-Truncated"] = "true"
    return Response(answer.body, media_type=answer.media_type, headers=headers)


# --- the SQL page -----------------------------------------------------------------------------


def _choice(chart: str, x: str, y: str, color: str) -> ChartChoice:
    return ChartChoice.of({"type": chart, "x": x, "y": y, "color": color})


def _run_for_page(
    request: Request, principal: Principal, query: str, choice: ChartChoice
) -> dict[str, Any]:
    """The result block's context: rows, chart, or the console's refusal."""
    out: dict[str, Any] = {"query": query, "choice": choice, "chart_types": CHART_TYPES}
    try:
        result = sql_service.run_sql(
            workspace_of(request), query, limit=PAGE_ROWS, caller=_caller(principal)
        )
    except InvalidInput as exc:
        out["error"] = str(exc)
        return out
    plan = plan_chart(result, choice)
    out.update(
        result=result,
        chart=result_chart(result, choice),
        plan=plan,
        rows=result.json_rows(),
    )
    return out


@pages.get("/insights/sql")
def sql_page(
    request: Request,
    db: DbDep,
    principal: SqlPage,
    insight: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    example: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The console in the browser: the schema at the side, the editor, and (for a saved
    query) its result at once."""
    ws = workspace_of(request)
    current = saved.get_insight(db, insight, "sql") if insight is not None else None
    context: dict[str, Any] = {
        "tab": "sql",
        "schema": console_schema(ws),
        "saved_queries": saved.list_insights(db, "sql"),
        "examples": EXAMPLES,
        "current": current,
        "can_save": principal.can(Permission.WRITE),
        "chart_types": CHART_TYPES,
        "choice": ChartChoice(),
        "query": EXAMPLES.get(example) or next(iter(EXAMPLES.values())),
    }
    if current is not None:
        params = current.params or {}
        choice = ChartChoice.of(params.get("chart"))
        context.update(_run_for_page(request, principal, str(params.get("query", "")), choice))
    return render_charts(request, "analytics/sql.html", context)


@pages.post("/insights/sql/run")
@reads_only
def sql_run(
    request: Request,
    principal: SqlPage,
    query: Annotated[str, Form(max_length=sql_service.MAX_QUERY_CHARS)] = "",
    chart: Annotated[str, Form(max_length=20)] = "auto",
    x: Annotated[str, Form(max_length=200)] = "",
    y: Annotated[str, Form(max_length=200)] = "",
    color: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Run the editor's query: the result block (htmx), or the page with it."""
    context = _run_for_page(request, principal, query, _choice(chart, x, y, color))
    if is_fragment(request):
        return render_charts(request, "analytics/_sql_result.html", context)
    with workspace_of(request).sessions() as db:
        context.update(
            tab="sql",
            schema=console_schema(workspace_of(request)),
            saved_queries=saved.list_insights(db, "sql"),
            examples=EXAMPLES,
            current=None,
            can_save=principal.can(Permission.WRITE),
        )
        return render_charts(
            request, "analytics/sql.html", context, status_code=422 if "error" in context else 200
        )


@pages.post("/insights/sql/export")
@reads_only
def sql_export(
    request: Request,
    principal: SqlPage,
    query: Annotated[str, Form(min_length=1, max_length=sql_service.MAX_QUERY_CHARS)],
) -> Response:
    """The editor's query as a CSV download (formula-safe, up to the console's row limit)."""
    answer = sql_service.answer_sql(
        workspace_of(request), query, output="csv", caller=_caller(principal)
    )
    headers = {"Content-Disposition": 'attachment; filename="query.csv"'}
    if answer.truncated:
        headers["X-Truncated"] = "true"
    return Response(answer.body, media_type=answer.media_type, headers=headers)


@pages.post("/insights/sql/save")
def sql_save(
    request: Request,
    db: DbDep,
    principal: WritePage,
    query: Annotated[str, Form(min_length=1, max_length=sql_service.MAX_QUERY_CHARS)],
    title: Annotated[str, Form(min_length=1, max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "",
    chart: Annotated[str, Form(max_length=20)] = "auto",
    x: Annotated[str, Form(max_length=200)] = "",
    y: Annotated[str, Form(max_length=200)] = "",
    color: Annotated[str, Form(max_length=200)] = "",
    insight_id: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Save the editor's query (a new one, or over the saved query being edited)."""
    row = save_query(
        db, title, description, query, _choice(chart, x, y, color), principal.actor, insight_id
    )
    return RedirectResponse(f"/insights/sql?insight={row.id}", status_code=303)


@pages.post("/insights/sql/{insight_id}/delete")
def sql_delete(db: DbDep, principal: WritePage, insight_id: int) -> Response:
    saved.get_insight(db, insight_id, "sql")
    saved.delete_insight(db, insight_id, principal.actor)
    return RedirectResponse("/insights/sql", status_code=303)


def register(app: FastAPI) -> None:
    app.include_router(pages)
    app.include_router(api)
