"""Epics, initiatives, the rules that map imported work, and links made by hand (to an
initiative, an objective, a team or a feature request). Changing a mapping needs
`portfolio.map` (editors and admins; `write` keys): a viewer can look, not change."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, or_, select

from productops.core.errors import InvalidInput
from productops.core.schemas import Page
from productops.portfolio.models import Epic, Initiative, Objective
from productops.portfolio.okrs.service import list_objectives
from productops.portfolio.permissions import MAP
from productops.portfolio.rollups.service import Filters, Rule, build, flag_label
from productops.portfolio.routes.common import MapApi, MapPage, choices, pct
from productops.portfolio.schemas import (
    EpicLinks,
    FeatureLinkCreate,
    InitiativeLink,
    RuleCreate,
    RulePublic,
)
from productops.portfolio.updates.service import updates_of
from productops.portfolio.work import service as work
from productops.web.deps import DbDep, ReadApi, ReadPage, workspace_of
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.responses import error_responses
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class IssuePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str | None
    title: str
    issue_type: str
    status: str
    status_category: str
    story_points: float | None
    assignee_name: str | None
    url: str | None


class EpicPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    connection_id: int | None
    key: str | None
    title: str
    description: str
    status: str
    status_category: str
    owner_name: str | None
    team_id: int | None
    project: str | None
    labels: list[str]
    components: list[str]
    initiative_id: int | None
    initiative_by: str | None
    objective_id: int | None
    objective_by: str | None
    start_date: dt.date | None
    target_date: dt.date | None
    url: str | None
    source_updated_at: dt.datetime | None


class InitiativePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    connection_id: int | None
    key: str | None
    title: str
    status: str
    status_category: str
    owner_name: str | None
    team_id: int | None
    objective_id: int | None
    target_date: dt.date | None


def _epic_row(request: Request, db: Any, epic_id: int) -> Any:
    ws = workspace_of(request)
    p = build(db, ws, Rule.of(ws), Filters(include_closed=True))
    return next((e for e in p.every_epic() if e.id == epic_id), None)


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links from a source are made clickable."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None


@pages.get("/portfolio/epics/{epic_id}")
def epic_page(request: Request, db: DbDep, principal: ReadPage, epic_id: Id) -> Response:
    epic = work.get_epic(db, epic_id)
    return render(
        request,
        "portfolio/epic.html",
        {
            "epic": epic,
            "row": _epic_row(request, db, epic_id),
            "issues": work.issues_of(db, epic_id),
            "features": work.features_of(db, epic_id),
            "updates": updates_of(db, "epic", epic_id),
            "initiatives": list(
                db.execute(select(Initiative.id, Initiative.title).order_by(Initiative.title))
            ),
            "objectives": list_objectives(db),
            "initiative": db.get(Initiative, epic.initiative_id) if epic.initiative_id else None,
            "objective": db.get(Objective, epic.objective_id) if epic.objective_id else None,
            "source_url": _safe_url(epic.url),
            "can_map": principal.can(MAP),
            "can_write": principal.can("write"),
            "flag_label": flag_label,
            "pct": pct,
            "tab": "portfolio",
            **choices(db),
        },
    )


def _form_id(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 2**31 - 1:
        raise InvalidInput(f"'{value[:12]}' is not an id")
    return int(value)


@pages.post("/portfolio/epics/{epic_id}/links")
def epic_links_form(
    db: DbDep,
    principal: MapPage,
    epic_id: Id,
    initiative_id: Annotated[str, Form(max_length=12)] = "",
    objective_id: Annotated[str, Form(max_length=12)] = "",
    team_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    work.link_epic(
        db,
        epic_id,
        initiative_id=_form_id(initiative_id),
        objective_id=_form_id(objective_id),
        team_id=_form_id(team_id),
        actor=principal.actor,
    )
    return RedirectResponse(f"/portfolio/epics/{epic_id}", status_code=303)


@pages.post("/portfolio/epics/{epic_id}/features")
def epic_feature_form(
    db: DbDep,
    principal: MapPage,
    epic_id: Id,
    feature_request_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    remove: Annotated[bool, Form()] = False,
) -> Response:
    if remove:
        work.unlink_feature(db, epic_id, feature_request_id, principal.actor)
    else:
        work.link_feature(db, epic_id, feature_request_id, principal.actor)
    return RedirectResponse(f"/portfolio/epics/{epic_id}", status_code=303)


@pages.get("/portfolio/initiatives/{initiative_id}")
def initiative_page(
    request: Request, db: DbDep, principal: ReadPage, initiative_id: Id
) -> Response:
    initiative = work.get_initiative(db, initiative_id)
    ws = workspace_of(request)
    p = build(db, ws, Rule.of(ws), Filters(include_closed=True))
    row = next(
        (i for o in p.every_objective() for i in o.initiatives if i.id == initiative_id),
        next((i for i in p.unlinked_initiatives if i.id == initiative_id), None),
    )
    return render(
        request,
        "portfolio/initiative.html",
        {
            "initiative": initiative,
            "row": row,
            "updates": updates_of(db, "initiative", initiative_id),
            "objectives": list_objectives(db),
            "objective": db.get(Objective, initiative.objective_id)
            if initiative.objective_id
            else None,
            "source_url": _safe_url(initiative.url),
            "can_map": principal.can(MAP),
            "can_write": principal.can("write"),
            "flag_label": flag_label,
            "pct": pct,
            "tab": "portfolio",
            "teams_by_id": p.teams,
            **choices(db),
        },
    )


@pages.post("/portfolio/initiatives/{initiative_id}/links")
def initiative_link_form(
    db: DbDep,
    principal: MapPage,
    initiative_id: Id,
    objective_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    work.link_initiative(db, initiative_id, _form_id(objective_id), principal.actor)
    return RedirectResponse(f"/portfolio/initiatives/{initiative_id}", status_code=303)


@pages.get("/portfolio/mapping")
def mapping_page(request: Request, db: DbDep, principal: ReadPage) -> Response:
    return render(
        request,
        "portfolio/mapping.html",
        {
            "rules": work.list_rules(db),
            "initiatives": {
                r[0]: r[1] for r in db.execute(select(Initiative.id, Initiative.title))
            },
            "objectives": list_objectives(db),
            "objective_titles": {o.id: o.title for o in list_objectives(db)},
            "can_map": principal.can(MAP),
            "tab": "mapping",
            **choices(db),
        },
    )


@pages.post("/portfolio/rules")
def rule_create_form(
    db: DbDep,
    principal: MapPage,
    match: Annotated[str, Form(pattern="^(label|component|project|parent)$")],
    value: Annotated[str, Form(min_length=1, max_length=300)],
    initiative_id: Annotated[str, Form(max_length=12)] = "",
    objective_id: Annotated[str, Form(max_length=12)] = "",
    team_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    work.add_rule(
        db,
        match=match,
        value=value,
        initiative_id=_form_id(initiative_id),
        objective_id=_form_id(objective_id),
        team_id=_form_id(team_id),
        actor=principal.actor,
    )
    return RedirectResponse("/portfolio/mapping", status_code=303)


@pages.post("/portfolio/rules/{rule_id}/delete")
def rule_delete_form(db: DbDep, principal: MapPage, rule_id: Id) -> Response:
    work.delete_rule(db, rule_id, principal.actor)
    return RedirectResponse("/portfolio/mapping", status_code=303)


# --- API ----------------------------------------------------------------------------------

EPIC_COLUMNS = (
    "id",
    "key",
    "title",
    "status",
    "status_category",
    "owner_name",
    "team_id",
    "initiative_id",
    "objective_id",
    "start_date",
    "target_date",
    "url",
)


def _epic_query(
    q: str | None,
    team: int | None,
    status_category: str | None,
    objective: int | None,
    initiative: int | None,
    unlinked: bool,
) -> Any:
    query = select(Epic)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Epic.title.ilike(like), Epic.key.ilike(like)))
    if team is not None:
        query = query.where(Epic.team_id == team)
    if status_category:
        query = query.where(Epic.status_category == status_category)
    if objective is not None:
        query = query.where(Epic.objective_id == objective)
    if initiative is not None:
        query = query.where(Epic.initiative_id == initiative)
    if unlinked:
        query = query.where(Epic.objective_id.is_(None), Epic.initiative_id.is_(None))
    return query


@api.get("/epics", responses=CSV_RESPONSE_DOC, response_model=Page[EpicPublic])
def api_epics(
    db: DbDep,
    principal: ReadApi,
    q: Annotated[str | None, Query(max_length=200)] = None,
    team: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status_category: Literal["new", "indeterminate", "done", "canceled"] | None = None,
    objective: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    initiative: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    unlinked: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    format: Literal["json", "csv"] = "json",
) -> Page[EpicPublic] | Response:
    """Epics, filtered; `format=csv` gives every match."""
    query = _epic_query(q, team, status_category, objective, initiative, unlinked)
    if format == "csv":
        rows = db.scalars(query.order_by(Epic.id)).all()
        return csv_response(
            list(EPIC_COLUMNS), [[getattr(e, c) for c in EPIC_COLUMNS] for e in rows], "epics"
        )
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(Epic.id).limit(limit).offset(offset)).all()
    return Page[EpicPublic](
        items=[EpicPublic.model_validate(e) for e in rows], total=total, limit=limit, offset=offset
    )


@api.get("/epics/{epic_id}")
def api_epic(db: DbDep, principal: ReadApi, epic_id: Id) -> dict[str, Any]:
    """An epic with its issues and the feature requests it delivers."""
    epic = work.get_epic(db, epic_id)
    return {
        **EpicPublic.model_validate(epic).model_dump(mode="json"),
        "issues": [
            IssuePublic.model_validate(i).model_dump(mode="json")
            for i in work.issues_of(db, epic_id)
        ],
        "feature_requests": work.features_of(db, epic_id),
    }


@api.put("/epics/{epic_id}/links")
def api_link_epic(db: DbDep, principal: MapApi, epic_id: Id, body: EpicLinks) -> EpicPublic:
    """Link an epic by hand (fields left out stay; null unlinks). Needs `portfolio.map`."""
    fields = body.model_dump(exclude_unset=True)
    epic = work.link_epic(db, epic_id, **fields, actor=principal.actor)
    return EpicPublic.model_validate(epic)


@api.post("/epics/{epic_id}/feature-requests", status_code=201)
def api_link_feature(
    db: DbDep, principal: MapApi, epic_id: Id, body: FeatureLinkCreate
) -> dict[str, Any]:
    work.link_feature(db, epic_id, body.feature_request_id, principal.actor)
    return {"epic_id": epic_id, "feature_requests": work.features_of(db, epic_id)}


@api.delete("/epics/{epic_id}/feature-requests/{feature_request_id}")
def api_unlink_feature(
    db: DbDep, principal: MapApi, epic_id: Id, feature_request_id: Id
) -> dict[str, Any]:
    work.unlink_feature(db, epic_id, feature_request_id, principal.actor)
    return {"epic_id": epic_id, "feature_requests": work.features_of(db, epic_id)}


@api.get("/initiatives")
def api_initiatives(db: DbDep, principal: ReadApi) -> list[InitiativePublic]:
    rows = db.scalars(select(Initiative).order_by(Initiative.id)).all()
    return [InitiativePublic.model_validate(i) for i in rows]


@api.put("/initiatives/{initiative_id}/links")
def api_link_initiative(
    db: DbDep, principal: MapApi, initiative_id: Id, body: InitiativeLink
) -> InitiativePublic:
    row = work.link_initiative(db, initiative_id, body.objective_id, principal.actor)
    return InitiativePublic.model_validate(row)


@api.get("/rules")
def api_rules(db: DbDep, principal: ReadApi) -> list[RulePublic]:
    return [RulePublic.model_validate(r) for r in work.list_rules(db)]


@api.post(
    "/rules",
    status_code=201,
    responses=error_responses(
        (404, "no initiative, objective, team or connection with the id given")
    ),
)
def api_add_rule(db: DbDep, principal: MapApi, body: RuleCreate) -> RulePublic:
    """Map imported epics by label, component, project or Jira parent (needs
    `portfolio.map`); existing epics follow at once."""
    rule = work.add_rule(db, **body.model_dump(), actor=principal.actor)
    return RulePublic.model_validate(rule)


@api.delete("/rules/{rule_id}", status_code=204)
def api_delete_rule(db: DbDep, principal: MapApi, rule_id: Id) -> Response:
    work.delete_rule(db, rule_id, principal.actor)
    return Response(status_code=204)
