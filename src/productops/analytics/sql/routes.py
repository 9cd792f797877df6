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
from productops.web.export import CSV_RESPONSE_DOC, csv_response

api = APIRouter(prefix="/api/v1", tags=["sql"])


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


@api.post("/sql", response_model=SqlResultOut, responses=CSV_RESPONSE_DOC)
@reads_only
def api_sql(
    request: Request,
    principal: SqlApi,
    body: SqlQuery,
    format: Literal["json", "csv"] = "json",
) -> SqlResultOut | Response:
    """Run one read-only SELECT over `events`, `events_resolved`, `persons` and `accounts`
    (see docs/sql.md)."""
    result = sql_service.run_sql(workspace_of(request), body.query, limit=body.limit)
    if format == "csv":
        extra = {"X-Truncated": "true"} if result.truncated else {}
        return csv_response(result.columns, result.json_rows(), "query", **extra)
    return SqlResultOut(
        columns=result.columns,
        rows=result.json_rows(),
        row_count=result.row_count,
        truncated=result.truncated,
        limit=result.limit,
    )


def register(app: FastAPI) -> None:
    app.include_router(api)
