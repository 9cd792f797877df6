"""Objectives and key results: their pages, the forms that change them, and the API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from productops.core.errors import InvalidInput, ProductOpsError
from productops.portfolio.okrs import service as okrs
from productops.portfolio.rollups.service import Filters, Rule, build
from productops.portfolio.routes.common import choices, pct
from productops.portfolio.schemas import (
    QUARTER,
    CheckInCreate,
    KeyResultCreate,
    ObjectiveCreate,
    ObjectiveUpdate,
)
from productops.portfolio.updates.service import updates_of
from productops.portfolio.views import charts
from productops.portfolio.views.service import progress_history
from productops.web.deps import DbDep, ReadApi, ReadPage, WriteApi, WritePage, workspace_of
from productops.web.responses import error_responses
from productops.web.templating import render_charts

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ObjectivePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    period: str
    parent_id: int | None
    team_id: int | None
    owner_id: int | None
    weight: float
    work_weight: float
    status: str


class KeyResultPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    objective_id: int
    title: str
    metric: str | None
    metric_grain: str
    start_value: float
    target_value: float
    current_value: float | None
    unit: str
    weight: float
    progress: float = 0.0


class CheckInPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key_result_id: int
    value: float
    comment: str
    source: str
    author: str
    at: dt.datetime


def _kr_out(kr: Any) -> KeyResultPublic:
    out = KeyResultPublic.model_validate(kr)
    out.progress = okrs.kr_progress(kr.start_value, kr.target_value, kr.current_value)
    return out


def _objective_row(request: Request, db: Session, objective_id: int) -> Any:
    ws = workspace_of(request)
    p = build(db, ws, Rule.of(ws), Filters(include_closed=True))
    for o in p.every_objective():
        if o.id == objective_id:
            return o
    okrs.get_objective(db, objective_id)  # NotFound
    return None


@pages.get("/portfolio/objectives/{objective_id}")
def objective_page(request: Request, db: DbDep, principal: ReadPage, objective_id: Id) -> Response:
    objective = okrs.get_objective(db, objective_id)
    row = _objective_row(request, db, objective_id)
    names = {objective_id: objective.title}
    chart = charts.progress_over_time(
        progress_history(db, "objective", names, days=200), "Progress over time"
    )
    return render_charts(
        request,
        "portfolio/objective.html",
        {
            "o": row,
            "objective": objective,
            "updates": updates_of(db, "objective", objective_id),
            "chart": chart,
            "pct": pct,
            "tab": "portfolio",
            "can_write": principal.can("write"),
            **choices(db),
        },
    )


@pages.post("/portfolio/objectives")
def objective_create_form(
    db: DbDep,
    principal: WritePage,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    period: Annotated[str, Form(pattern=QUARTER)],
    team_id: Annotated[str, Form(max_length=12)] = "",
    owner_id: Annotated[str, Form(max_length=12)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    row = okrs.create_objective(
        db,
        title,
        period,
        description=description,
        team_id=_opt_int(team_id, "team"),
        owner_id=_opt_int(owner_id, "owner"),
        actor=principal.actor,
    )
    return RedirectResponse(f"/portfolio/objectives/{row.id}", status_code=303)


def _opt_int(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 2**31 - 1:
        raise InvalidInput(f"'{value[:12]}' is not a {what}")
    return int(value)


def _opt_float(value: str, what: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{what}: '{value[:20]}' is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"{what}: '{value[:20]}' is not a finite number")
    return number


@pages.post("/portfolio/objectives/{objective_id}/status")
def objective_status_form(
    db: DbDep,
    principal: WritePage,
    objective_id: Id,
    status: Annotated[str, Form(pattern="^(active|closed)$")],
) -> Response:
    okrs.update_objective(db, objective_id, principal.actor, status=status)
    return RedirectResponse(f"/portfolio/objectives/{objective_id}", status_code=303)


@pages.post("/portfolio/objectives/{objective_id}/key-results")
def kr_create_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    objective_id: Id,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    target: Annotated[str, Form(max_length=40)],
    start: Annotated[str, Form(max_length=40)] = "0",
    unit: Annotated[str, Form(max_length=30)] = "",
    metric: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    target_value = _opt_float(target, "target")
    if target_value is None:
        raise InvalidInput("a key result needs a target")
    okrs.add_key_result(
        db,
        objective_id,
        title,
        target=target_value,
        start=_opt_float(start, "start") or 0.0,
        unit=unit,
        metric=metric.strip() or None,
        ws=workspace_of(request),
        actor=principal.actor,
    )
    return RedirectResponse(f"/portfolio/objectives/{objective_id}", status_code=303)


@pages.get("/portfolio/key-results/{kr_id}")
def kr_page(request: Request, db: DbDep, principal: ReadPage, kr_id: Id) -> Response:
    kr = okrs.get_key_result(db, kr_id)
    objective = okrs.get_objective(db, kr.objective_id)
    entries = okrs.check_ins(db, kr_id)
    reading = None
    metric_error = None
    if kr.metric:
        start, _ = okrs.period_bounds(objective.period)
        try:
            reading = okrs.read_metric(
                workspace_of(request), kr, start=start - dt.timedelta(days=90)
            )
        except ProductOpsError as exc:
            metric_error = str(exc)
    if reading is not None:
        points = [
            {"day": d.isoformat(), "value": v, "source": "event store"} for d, v in reading.points
        ]
    else:
        points = [
            {"day": c.at.date().isoformat(), "value": c.value, "source": c.source}
            for c in reversed(entries)
        ]
    chart = charts.key_result_chart(points, kr.start_value, kr.target_value, kr.unit or "value")
    current = (
        reading.current if reading is not None and reading.current is not None else kr.current_value
    )
    return render_charts(
        request,
        "portfolio/key_result.html",
        {
            "kr": kr,
            "objective": objective,
            "entries": entries,
            "reading": reading,
            "metric_error": metric_error,
            "current": current,
            "progress": okrs.kr_progress(kr.start_value, kr.target_value, current),
            "chart": chart,
            "pct": pct,
            "tab": "portfolio",
            "can_write": principal.can("write"),
        },
    )


@pages.post("/portfolio/key-results/{kr_id}/check-in")
def check_in_form(
    db: DbDep,
    principal: WritePage,
    kr_id: Id,
    value: Annotated[str, Form(max_length=40)],
    comment: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    number = _opt_float(value, "value")
    if number is None:
        raise InvalidInput("a check-in needs a value")
    okrs.check_in(db, kr_id, number, comment, actor=principal.actor)
    return RedirectResponse(f"/portfolio/key-results/{kr_id}", status_code=303)


# --- API ----------------------------------------------------------------------------------


@api.get("/objectives")
def api_objectives(
    db: DbDep,
    principal: ReadApi,
    period: Annotated[
        str | None, Query(pattern=QUARTER, description="a quarter, e.g. 2026-Q4")
    ] = None,
    team: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="a team's id")] = None,
) -> list[ObjectivePublic]:
    """Objectives, of one quarter or team when asked."""
    return [
        ObjectivePublic.model_validate(o)
        for o in okrs.list_objectives(db, period=period or None, team_id=team)
    ]


@api.post(
    "/objectives",
    status_code=201,
    responses=error_responses((404, "no parent objective, team or owner with the id given")),
)
def api_create_objective(db: DbDep, principal: WriteApi, body: ObjectiveCreate) -> ObjectivePublic:
    row = okrs.create_objective(db, **body.model_dump(), actor=principal.actor)
    return ObjectivePublic.model_validate(row)


@api.get("/objectives/{objective_id}")
def api_objective(
    request: Request, db: DbDep, principal: ReadApi, objective_id: Id
) -> dict[str, Any]:
    """An objective rolled up: progress, health, flags, key results and the linked work."""
    import dataclasses

    from productops.core.export import jsonable

    row = _objective_row(request, db, objective_id)
    return dict(jsonable(dataclasses.asdict(row)))


@api.patch("/objectives/{objective_id}")
def api_update_objective(
    db: DbDep, principal: WriteApi, objective_id: Id, body: ObjectiveUpdate
) -> ObjectivePublic:
    row = okrs.update_objective(
        db, objective_id, principal.actor, **body.model_dump(exclude_unset=True)
    )
    return ObjectivePublic.model_validate(row)


@api.post("/objectives/{objective_id}/key-results", status_code=201)
def api_create_kr(
    request: Request, db: DbDep, principal: WriteApi, objective_id: Id, body: KeyResultCreate
) -> KeyResultPublic:
    row = okrs.add_key_result(
        db, objective_id, **body.model_dump(), ws=workspace_of(request), actor=principal.actor
    )
    return _kr_out(row)


@api.get("/key-results/{kr_id}")
def api_kr(db: DbDep, principal: ReadApi, kr_id: Id) -> KeyResultPublic:
    return _kr_out(okrs.get_key_result(db, kr_id))


@api.get("/key-results/{kr_id}/metric")
def api_kr_metric(request: Request, db: DbDep, principal: ReadApi, kr_id: Id) -> dict[str, Any]:
    """A metric-driven key result's series from the event store, with the SQL behind it."""
    kr = okrs.get_key_result(db, kr_id)
    objective = okrs.get_objective(db, kr.objective_id)
    start, _ = okrs.period_bounds(objective.period)
    reading = okrs.read_metric(workspace_of(request), kr, start=start - dt.timedelta(days=90))
    return {
        "metric": reading.metric,
        "grain": reading.grain,
        "current": reading.current,
        "points": [
            {"period": d.isoformat(), "value": v, "complete": reading.is_complete(d)}
            for d, v in reading.points
        ],
        "sql": reading.sql,
    }


@api.get("/key-results/{kr_id}/check-ins")
def api_check_ins(db: DbDep, principal: ReadApi, kr_id: Id) -> list[CheckInPublic]:
    okrs.get_key_result(db, kr_id)
    return [CheckInPublic.model_validate(c) for c in okrs.check_ins(db, kr_id)]


@api.post("/key-results/{kr_id}/check-ins", status_code=201)
def api_check_in(db: DbDep, principal: WriteApi, kr_id: Id, body: CheckInCreate) -> CheckInPublic:
    """Record a key result's value by hand, with a comment saying why it moved."""
    entry = okrs.check_in(db, kr_id, body.value, body.comment, actor=principal.actor)
    return CheckInPublic.model_validate(entry)
