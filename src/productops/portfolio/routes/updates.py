"""The update cadence on the web: write an update, see who owes one, and the change log of
what moved since last week."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from productops.core.clock import utcnow
from productops.core.export import jsonable
from productops.portfolio.routes.common import pct
from productops.portfolio.schemas import UpdateCreate, UpdatePublic
from productops.portfolio.terms import HEALTH_TEXT
from productops.portfolio.updates import service as updates
from productops.web.deps import DbDep, ReadApi, ReadPage, WriteApi, WritePage, workspace_of
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import OptionalDate
from productops.web.responses import error_responses
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])
SUBJECT_PAGES = {"objective": "objectives", "initiative": "initiatives", "epic": "epics"}


def _change_rows(changes: list[updates.Change]) -> tuple[list[str], list[list[Any]]]:
    columns = ["kind", "subject_type", "subject_id", "key", "title", "what", "before", "after"]
    return columns, [
        [c.kind, c.subject_type, c.subject_id, c.key, c.title, c.describe(), c.before, c.after]
        for c in changes
    ]


@pages.get("/portfolio/updates")
def updates_page(
    request: Request, db: DbDep, principal: ReadPage, since: OptionalDate = None
) -> Response:
    ws = workspace_of(request)
    start, end, changes = updates.change_log(db, since=since)
    return render(
        request,
        "portfolio/updates.html",
        {
            "recent": updates.recent_updates(db),
            "reminders": updates.reminders(ws, db),
            "changes": changes,
            "since": since or (utcnow().date() - dt.timedelta(days=7)),
            "change_from": start,
            "change_to": end,
            "health_names": HEALTH_TEXT,
            "subject_pages": SUBJECT_PAGES,
            "pct": pct,
            "tab": "updates",
        },
    )


@pages.get("/portfolio/changes.csv")
def changes_csv(db: DbDep, principal: ReadPage, since: OptionalDate = None) -> Response:
    _, _, changes = updates.change_log(db, since=since)
    return csv_response(*_change_rows(changes), "portfolio-changes")


@pages.post("/portfolio/updates")
def update_form(
    db: DbDep,
    principal: WritePage,
    subject_type: Annotated[str, Form(pattern="^(objective|initiative|epic)$")],
    subject_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    health: Annotated[str, Form(pattern="^(on_track|at_risk|off_track)$")],
    body: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    updates.write_update(
        db,
        subject_type,
        subject_id,
        health,
        body,
        actor=principal.actor,
        author=principal.display_name or principal.name,
    )
    return RedirectResponse(
        f"/portfolio/{SUBJECT_PAGES[subject_type]}/{subject_id}#updates", status_code=303
    )


@api.get("/updates")
def api_updates(
    db: DbDep,
    principal: ReadApi,
    subject_type: Literal["objective", "initiative", "epic"] | None = None,
    subject_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    days: Annotated[int, Query(ge=1, le=3650)] = 14,
) -> list[UpdatePublic]:
    """Written updates: of one subject, or everything of the last `days`."""
    if subject_type is not None and subject_id is not None:
        rows = updates.updates_of(db, subject_type, subject_id)
    else:
        rows = updates.recent_updates(db, days=days)
    return [UpdatePublic.model_validate(u) for u in rows]


@api.post(
    "/updates",
    status_code=201,
    responses=error_responses((404, "no objective, initiative or epic with the id given")),
)
def api_write_update(db: DbDep, principal: WriteApi, body: UpdateCreate) -> UpdatePublic:
    """Write an update (health and narrative) on an objective, initiative or epic."""
    row = updates.write_update(
        db,
        body.subject_type,
        body.subject_id,
        body.health,
        body.body,
        actor=principal.actor,
        author=principal.display_name or principal.name,
    )
    return UpdatePublic.model_validate(row)


@api.get("/changes", responses=CSV_RESPONSE_DOC)
def api_changes(
    db: DbDep,
    principal: ReadApi,
    since: OptionalDate = None,
    until: OptionalDate = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """What moved between two days (default: the last week): target dates slipped or
    pulled in, scope added, health changed, work finished, added or removed."""
    start, end, changes = updates.change_log(db, since=since, until=until)
    columns, rows = _change_rows(changes)
    if format == "csv":
        return csv_response(columns, rows, "portfolio-changes")
    return JSONResponse(
        jsonable(
            {
                "from": start,
                "to": end,
                "changes": [dict(zip(columns, row, strict=True)) for row in rows],
            }
        )
    )


@api.get("/reminders")
def api_reminders(request: Request, db: DbDep, principal: ReadApi) -> Response:
    """Who owes an update this cycle, on what."""
    rows = updates.reminders(workspace_of(request), db)
    return JSONResponse(jsonable([r.__dict__ for r in rows]))
