"""The update cadence on the web: write an update, see who owes one, and the change log of
what moved since last week."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from productops.core.clock import utcnow
from productops.core.errors import NotFound
from productops.core.export import jsonable
from productops.core.models import Team
from productops.portfolio.routes.common import choices, pct
from productops.portfolio.schemas import UpdateCreate, UpdatePublic
from productops.portfolio.terms import HEALTH_TEXT
from productops.portfolio.updates import service as updates
from productops.web.deps import DbDep, ReadApi, ReadPage, WriteApi, WritePage, workspace_of
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import OptionalDate
from productops.web.responses import error_responses
from productops.web.templating import render

NO_TEAM = error_responses((404, "no team with the id given in `team`"))
pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])
SUBJECT_PAGES = {"objective": "objectives", "initiative": "initiatives", "epic": "epics"}


def _change_rows(changes: list[updates.Change]) -> tuple[list[str], list[list[Any]]]:
    columns = ["kind", "subject_type", "subject_id", "key", "title", "what", "before", "after"]
    return columns, [
        [c.kind, c.subject_type, c.subject_id, c.key, c.title, c.describe(), c.before, c.after]
        for c in changes
    ]


ChangeKind = Annotated[
    Literal[
        "slipped",
        "pulled_in",
        "scope_added",
        "scope_removed",
        "health",
        "done",
        "added",
        "removed",
        "",
    ]
    | None,
    Query(description="only changes of this kind"),
]
ChangeTeam = Annotated[
    str | None, Query(pattern=r"^[0-9]{0,10}$", description="only this team's work; empty: all")
]
CHANGE_NAMES = {
    "slipped": "dates slipped",
    "pulled_in": "dates pulled in",
    "scope_added": "scope added",
    "scope_removed": "scope removed",
    "health": "health changed",
    "done": "finished",
    "added": "added",
    "removed": "removed",
}


def _team(db: Session, team: str | None) -> int | None:
    if not team:
        return None
    team_id = int(team)
    if not 1 <= team_id <= 2**31 - 1 or db.get(Team, team_id) is None:
        raise NotFound(f"no team {team_id}")
    return team_id


def _of_team(db: Session, rows: list[Any], team_id: int | None) -> list[Any]:
    if team_id is None:
        return rows
    teams = updates.teams_of(db)
    return [r for r in rows if teams.get((r.subject_type, r.subject_id)) == team_id]


@pages.get("/portfolio/updates")
def updates_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    since: OptionalDate = None,
    kind: ChangeKind = None,
    team: ChangeTeam = None,
) -> Response:
    ws = workspace_of(request)
    team_id = _team(db, team)
    start, end, changes = updates.change_log(db, since=since, kind=kind or None, team_id=team_id)
    params = {k: str(v) for k, v in {"since": since, "kind": kind, "team": team_id}.items() if v}
    return render(
        request,
        "portfolio/updates.html",
        {
            "recent": _of_team(db, updates.recent_updates(db), team_id),
            "titles": updates.titles_of(db),
            "kind": kind or "",
            "team": team_id,
            "query": urlencode(params),
            "change_names": CHANGE_NAMES,
            **choices(db),
            "reminders": _of_team(db, updates.reminders(ws, db), team_id),
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
def changes_csv(
    db: DbDep,
    principal: ReadPage,
    since: OptionalDate = None,
    kind: ChangeKind = None,
    team: ChangeTeam = None,
) -> Response:
    _, _, changes = updates.change_log(db, since=since, kind=kind or None, team_id=_team(db, team))
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


@api.get("/changes", responses={**CSV_RESPONSE_DOC, **NO_TEAM})
def api_changes(
    db: DbDep,
    principal: ReadApi,
    since: OptionalDate = None,
    until: OptionalDate = None,
    kind: ChangeKind = None,
    team: ChangeTeam = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """What moved between two days (default: the last week): target dates slipped or
    pulled in, scope added, health changed, work finished, added or removed; of one kind
    or one team's work when asked."""
    start, end, changes = updates.change_log(
        db, since=since, until=until, kind=kind or None, team_id=_team(db, team)
    )
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
