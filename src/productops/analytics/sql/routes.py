"""The SQL console on the web: `POST /api/v1/sql`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from productops.analytics.sql import service as sql_service
from productops.core.auth import Permission, Principal
from productops.core.errors import PermissionDenied
from productops.web.deps import PrincipalDep, reads_only, workspace_of
from productops.web.export import CSV_RESPONSE_DOC
from productops.web.responses import error_responses

api = APIRouter(prefix="/api/v1", tags=["sql"])
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
        caller=f"{principal.kind}:{principal.id if principal.id is not None else principal.name}",
    )
    headers = {}
    if format == "csv":
        headers["Content-Disposition"] = 'attachment; filename="query.csv"'
        if answer.truncated:
            headers["X-Truncated"] = "true"
    return Response(answer.body, media_type=answer.media_type, headers=headers)


def register(app: FastAPI) -> None:
    app.include_router(api)
