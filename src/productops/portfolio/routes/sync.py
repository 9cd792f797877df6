"""Connections to Jira and Linear on the web: add one (admins: it holds a credential), sync
it now or on a schedule, see each run's report, import a CSV export. The token is never
shown back: pages and the API say only whether one is stored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from productops.core import jobs
from productops.core.errors import InvalidInput
from productops.portfolio.models import Connection, Epic, Initiative, Issue
from productops.portfolio.permissions import CONNECT
from productops.portfolio.routes.common import ConnectApi, ConnectPage, choices
from productops.portfolio.schemas import (
    ConnectionCreate,
    ConnectionPublic,
    ConnectionUpdate,
    SchedulePut,
    SyncRunPublic,
)
from productops.portfolio.sync import service
from productops.web.deps import (
    DbDep,
    ReadApi,
    ReadPage,
    WriteApi,
    WritePage,
    reads_only,
    workspace_of,
)
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_UPLOAD = 50 * 2**20


def _public(db: Any, row: Connection) -> ConnectionPublic:
    out = ConnectionPublic(
        id=row.id,
        name=row.name,
        kind=row.kind,
        url=row.url,
        username=row.username,
        scope=row.scope,
        team_id=row.team_id,
        has_token=bool(row.token_encrypted),
        story_points_field=row.story_points_field,
        last_sync_at=row.last_sync_at,
    )
    sched = service.schedule_of(db, row.id)
    if sched is not None:
        out.schedule_every_hours, out.next_sync_at = sched
    return out


@pages.get("/portfolio/connections")
def connections_page(request: Request, db: DbDep, principal: ReadPage) -> Response:
    rows = service.list_connections(db)
    held: dict[int, list[int]] = {r.id: [0, 0] for r in rows}
    for model, i in ((Initiative, 0), (Epic, 0), (Issue, 1)):
        for cid, n in db.execute(
            select(model.connection_id, func.count()).group_by(model.connection_id)
        ):
            if cid in held:
                held[cid][i] += n
    return render(
        request,
        "portfolio/connections.html",
        {
            "connections": [_public(db, r) for r in rows],
            "held": held,
            "runs": service.last_runs(db, limit=30),
            "names": {r.id: r.name for r in rows},
            "can_connect": principal.can(CONNECT),
            "can_write": principal.can("write"),
            "tab": "connections",
            **choices(db),
        },
    )


@pages.post("/portfolio/connections")
def connection_create_form(
    request: Request,
    db: DbDep,
    principal: ConnectPage,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    kind: Annotated[str, Form(pattern="^(jira|jira-dc|linear)$")],
    token: Annotated[str, Form(min_length=1, max_length=4000)],
    url: Annotated[str, Form(max_length=500)] = "",
    username: Annotated[str, Form(max_length=320)] = "",
    scope: Annotated[str, Form(max_length=4000)] = "",
    team_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    team = int(team_id) if team_id.strip().isdigit() else None
    service.connect(
        workspace_of(request),
        db,
        name=name,
        kind=kind,
        url=url,
        token=token,
        username=username,
        scope=scope,
        team_id=team,
        actor=principal.actor,
    )
    return RedirectResponse("/portfolio/connections", status_code=303)


def _queue_sync(db: Any, connection_id: int, full: bool, actor: str) -> int:
    row = service.get_connection(db, connection_id)
    if row.kind not in service.API_KINDS:
        raise InvalidInput(f"'{row.name}' is fed by CSV files: import one instead")
    job = jobs.enqueue(
        db,
        service.SYNC_KIND,
        {"connection": connection_id, "full": full},
        title=f"Sync {row.name}",
        created_by=actor,
    )
    return job.id


@pages.post("/portfolio/connections/{connection_id}/sync")
def connection_sync_form(
    db: DbDep,
    principal: WritePage,
    connection_id: Id,
    full: Annotated[bool, Form()] = False,
) -> Response:
    job_id = _queue_sync(db, connection_id, full, principal.actor)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@pages.post("/portfolio/connections/{connection_id}/schedule")
def connection_schedule_form(
    db: DbDep,
    principal: ConnectPage,
    connection_id: Id,
    every_hours: Annotated[float, Form(ge=0, le=744)] = 0,
) -> Response:
    service.schedule_sync(db, connection_id, every_hours or None, principal.actor)
    return RedirectResponse("/portfolio/connections", status_code=303)


@pages.post("/portfolio/connections/{connection_id}/delete")
def connection_delete_form(
    db: DbDep,
    principal: ConnectPage,
    connection_id: Id,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if confirm != "yes":
        raise InvalidInput(
            "removing a connection removes the work synced from it: tick the box to confirm"
        )
    service.delete_connection(db, connection_id, principal.actor)
    return RedirectResponse("/portfolio/connections", status_code=303)


@pages.post("/portfolio/import")
@reads_only  # the import is a transaction of its own
async def import_form(
    request: Request,
    principal: WritePage,
    file: UploadFile,
    format: Annotated[str, Form(pattern="^(jira|linear)$")],
    connection: Annotated[str, Form(min_length=1, max_length=100)],
    date_order: Annotated[str, Form(pattern="^(auto|dmy|mdy|ymd)$")] = "auto",
) -> Response:
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput(f"the file is over {MAX_UPLOAD // 2**20} MiB")
    ws = workspace_of(request)
    await run_in_threadpool(
        service.import_file,
        ws,
        data,
        kind=format,
        connection=connection,
        name=(file.filename or "export.csv")[:200],
        date_order=date_order,
        actor=principal.actor,
    )
    return RedirectResponse("/portfolio/connections", status_code=303)


# --- API ----------------------------------------------------------------------------------


@api.get("/connections")
def api_connections(db: DbDep, principal: ReadApi) -> list[ConnectionPublic]:
    """Connections, without their tokens (only whether one is stored)."""
    return [_public(db, r) for r in service.list_connections(db)]


@api.post("/connections", status_code=201)
def api_connect(
    request: Request, db: DbDep, principal: ConnectApi, body: ConnectionCreate
) -> ConnectionPublic:
    """Add a connection (needs `portfolio.connect`: admins). The URL must pass the outbound
    guard; the token is stored encrypted and never shown again."""
    row = service.connect(workspace_of(request), db, **body.model_dump(), actor=principal.actor)
    return _public(db, row)


@api.patch("/connections/{connection_id}")
def api_update_connection(
    request: Request, db: DbDep, principal: ConnectApi, connection_id: Id, body: ConnectionUpdate
) -> ConnectionPublic:
    row = service.update_connection(
        workspace_of(request),
        db,
        connection_id,
        **body.model_dump(exclude_unset=True),
        actor=principal.actor,
    )
    return _public(db, row)


@api.delete("/connections/{connection_id}", status_code=204)
def api_delete_connection(db: DbDep, principal: ConnectApi, connection_id: Id) -> Response:
    """Remove a connection with everything synced from it."""
    service.delete_connection(db, connection_id, principal.actor)
    return Response(status_code=204)


@api.post("/connections/{connection_id}/sync", status_code=202)
def api_sync(
    db: DbDep, principal: WriteApi, connection_id: Id, full: bool = False
) -> dict[str, Any]:
    """Queue a sync as a background job; follow it at /api/v1/jobs/{job}."""
    return {"job": _queue_sync(db, connection_id, full, principal.actor)}


@api.put("/connections/{connection_id}/schedule")
def api_schedule(
    db: DbDep, principal: ConnectApi, connection_id: Id, body: SchedulePut
) -> ConnectionPublic:
    """Sync every N hours (0 or null stops)."""
    service.schedule_sync(db, connection_id, body.every_hours or None, principal.actor)
    return _public(db, service.get_connection(db, connection_id))


@api.get("/sync-runs")
def api_runs(
    db: DbDep,
    principal: ReadApi,
    connection: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="only this connection's runs")
    ] = None,
) -> list[SyncRunPublic]:
    """The last hundred syncs and imports, newest first, each with its report (created,
    updated, deleted, moved, unmapped) or its error."""
    return [SyncRunPublic.model_validate(r) for r in service.last_runs(db, connection, limit=100)]


_CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@api.post("/import", openapi_extra=_CSV_BODY)
@reads_only
async def api_import(
    request: Request,
    principal: WriteApi,
    format: Literal["jira", "linear"],
    connection: str,
    date_order: Literal["auto", "dmy", "mdy", "ymd"] = "auto",
    filename: str = "export.csv",
) -> dict[str, Any]:
    """Import a Jira or Linear CSV export (the body) into a file connection (made on first
    use). All or nothing; the file is the whole of that connection."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD:
            raise InvalidInput(f"the file is over {MAX_UPLOAD // 2**20} MiB")
    outcome = await run_in_threadpool(
        service.import_file,
        workspace_of(request),
        bytes(body),
        kind=format,
        connection=connection[:100],
        name=filename[:200],
        date_order=date_order,
        actor=principal.actor,
    )
    return {"run": outcome.run_id, **outcome.report.as_dict()}
