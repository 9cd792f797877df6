"""Cohorts on the web: `/api/v1/cohorts` (list, create, change, delete, size over time,
people) and the pages `/insights/cohorts` (list, new from rules or an uploaded CSV, a
cohort's size chart and people)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from productops.analytics.cohorts import service
from productops.analytics.cohorts.models import Cohort
from productops.analytics.query.cohorts import CohortDefinition, CohortRule
from productops.analytics.query.filters import FILTER_OPS, make_filter
from productops.analytics.query.source import default_end, event_names
from productops.core.auth import Permission
from productops.core.errors import InvalidInput
from productops.web.deps import DbDep, ReadApi, UserPage, WriteApi, WritePage, workspace_of
from productops.web.export import frame_response
from productops.web.params import EndDate, OptionalDate, RecordId, StartDate
from productops.web.responses import error_responses
from productops.web.templating import render, render_charts

api = APIRouter(prefix="/api/v1", tags=["cohorts"])
pages = APIRouter(include_in_schema=False)
NO_COHORT = error_responses((404, "no cohort with that id"))
PersonId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
MAX_UPLOAD = 20 * 1024 * 1024


class CohortIn(BaseModel):
    """A new cohort: `definition` (dynamic) or `people` (static), not both."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    description: str = Field(default="", max_length=5000)
    definition: CohortDefinition | None = None
    people: list[PersonId] | None = Field(default=None, max_length=100_000)


class CohortUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    description: str | None = Field(default=None, max_length=5000)
    definition: CohortDefinition | None = None
    people: list[PersonId] | None = Field(default=None, max_length=100_000)


class CohortOut(BaseModel):
    id: int
    name: str
    description: str
    kind: Literal["dynamic", "static"]
    definition: dict[str, Any] | None = Field(description="the rules of a dynamic cohort")
    summary: str = Field(description="the rules in words, or how many people a static one has")
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class SizeOut(BaseModel):
    day: dt.date
    people: int


class CohortSizesOut(BaseModel):
    cohort: int
    grain: str
    sizes: list[SizeOut]
    sql: str


class CohortPeopleOut(BaseModel):
    cohort: int
    as_of: dt.date
    total: int = Field(description="how many people the cohort holds")
    people: list[str] = Field(description="their person ids, sorted (the first `limit`)")


def _summary(db: Any, row: Cohort) -> str:
    if row.kind == "static":
        return f"a list of {service.static_size(db, row.id):,} people"
    return service.parse_definition(row.definition).describe()


def _out(db: Any, row: Cohort) -> CohortOut:
    return CohortOut(
        id=row.id,
        name=row.name,
        description=row.description,
        kind="static" if row.kind == "static" else "dynamic",
        definition=row.definition if row.kind == "dynamic" else None,
        summary=_summary(db, row),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@api.get("/cohorts", summary="Saved cohorts")
def api_list_cohorts(db: DbDep, principal: ReadApi) -> list[CohortOut]:
    return [_out(db, r) for r in service.list_cohorts(db)]


@api.post(
    "/cohorts",
    status_code=201,
    summary="Save a cohort (rules or a list of people)",
    responses=error_responses((409, "a cohort of that name exists")),
)
def api_create_cohort(db: DbDep, principal: WriteApi, body: CohortIn) -> CohortOut:
    row = service.create_cohort(
        db,
        body.name,
        description=body.description,
        definition=body.definition,
        people=list(body.people) if body.people is not None else None,
        actor=principal.actor,
    )
    return _out(db, row)


@api.get("/cohorts/{cohort_id}", responses=NO_COHORT)
def api_cohort(db: DbDep, principal: ReadApi, cohort_id: RecordId) -> CohortOut:
    return _out(db, service.get_cohort(db, cohort_id))


@api.put(
    "/cohorts/{cohort_id}",
    responses={**NO_COHORT, **error_responses((409, "a cohort of that name exists"))},
)
def api_update_cohort(
    db: DbDep, principal: WriteApi, cohort_id: RecordId, body: CohortUpdate
) -> CohortOut:
    row = service.update_cohort(
        db,
        cohort_id,
        name=body.name,
        description=body.description,
        definition=body.definition,
        people=list(body.people) if body.people is not None else None,
        actor=principal.actor,
    )
    return _out(db, row)


@api.delete("/cohorts/{cohort_id}", status_code=204, responses=NO_COHORT)
def api_delete_cohort(db: DbDep, principal: WriteApi, cohort_id: RecordId) -> Response:
    service.delete_cohort(db, cohort_id, actor=principal.actor)
    return Response(status_code=204)


@api.get("/cohorts/{cohort_id}/sizes", responses=NO_COHORT, summary="A cohort's size over time")
def api_cohort_sizes(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    cohort_id: RecordId,
    start: StartDate = None,
    end: EndDate = None,
    grain: Literal["day", "week", "month"] = "week",
) -> CohortSizesOut:
    """How many people the cohort held at the end of each day, week or month (default: the
    twelve weeks up to the newest event)."""
    ws = workspace_of(request)
    _check_days(start, end)
    spec = service.spec(db, cohort_id)
    got = service.cohort_sizes(ws, spec, start, end, grain)
    sizes = [SizeOut(day=d, people=int(n)) for d, n in got.data[["day", "people"]].values]
    return CohortSizesOut(cohort=cohort_id, grain=grain, sizes=sizes, sql=got.sql)


@api.get("/cohorts/{cohort_id}/people", responses=NO_COHORT, summary="A cohort's people")
def api_cohort_people(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    cohort_id: RecordId,
    as_of: Annotated[
        OptionalDate, Query(description="the day it is taken (default: newest)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> CohortPeopleOut:
    ws = workspace_of(request)
    _check_days(as_of, None)
    day = as_of or default_end(ws)
    spec = service.spec(db, cohort_id)
    people, total = service.cohort_people(ws, spec, day, limit)
    return CohortPeopleOut(cohort=cohort_id, as_of=day, total=total, people=people)


def _check_days(*days: dt.date | None) -> None:
    for day in days:
        if day is not None and not dt.date(1900, 1, 1) <= day <= dt.date(2999, 12, 31):
            raise InvalidInput("dates must lie between 1900-01-01 and 2999-12-31")


# --- pages ---------------------------------------------------------------------------------


@pages.get("/insights/cohorts")
def cohorts_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    rows = service.list_cohorts(db)
    return render(
        request,
        "analytics/cohorts.html",
        {
            "cohorts": [(r, _summary(db, r)) for r in rows],
            "tab": "cohorts",
            "can_write": principal.can(Permission.WRITE),
            "event_names": list(event_names(workspace_of(request)))[:300],
            "ops": FILTER_OPS,
            "error": None,
            "form": {},
        },
    )


@pages.post("/insights/cohorts")
async def cohorts_create(
    request: Request,
    db: DbDep,
    principal: WritePage,
    name: Annotated[str, Form(max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "",
    kind: Annotated[Literal["dynamic", "static"], Form()] = "dynamic",
    match: Annotated[Literal["all", "any"], Form()] = "all",
    rule_type: Annotated[list[str] | None, Form()] = None,
    rule_event: Annotated[list[str] | None, Form()] = None,
    rule_times: Annotated[list[str] | None, Form()] = None,
    rule_days: Annotated[list[str] | None, Form()] = None,
    rule_start: Annotated[list[str] | None, Form()] = None,
    rule_end: Annotated[list[str] | None, Form()] = None,
    rule_property: Annotated[list[str] | None, Form()] = None,
    rule_op: Annotated[list[str] | None, Form()] = None,
    rule_value: Annotated[list[str] | None, Form()] = None,
    people_file: UploadFile | None = None,
) -> Response:
    """Save a cohort from the form: rules (one row each) or an uploaded CSV of people."""
    try:
        if kind == "static":
            if people_file is None or not people_file.filename:
                raise InvalidInput("choose a CSV file with a person_id column")
            data = await people_file.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise InvalidInput("the file is larger than 20 MB")
            people = service.people_from_csv(data, people_file.filename)
            row = service.create_cohort(
                db, name, description=description, people=people, actor=principal.actor
            )
        else:
            rules: list[CohortRule] = []
            for i, t in enumerate(rule_type or []):

                def at(values: list[str] | None, i: int = i) -> str:
                    return (values[i] if values and i < len(values) else "").strip()

                if not t:
                    continue
                spec: dict[str, Any] = {"type": t}
                if t == "property":
                    if not at(rule_property):
                        continue
                    value: Any = at(rule_value)
                    if at(rule_op) in ("in", "not_in"):
                        value = [v.strip() for v in value.split(",") if v.strip()]
                    elif at(rule_op) in ("is_set", "is_not_set"):
                        value = None
                    spec["filter"] = make_filter(at(rule_property), at(rule_op) or "eq", value)
                else:
                    if not at(rule_event):
                        continue
                    spec["event"] = at(rule_event)
                    if at(rule_times):
                        spec["at_least"] = int(at(rule_times))
                    if at(rule_days):
                        spec["days"] = int(at(rule_days))
                    if t == "first_did":
                        spec["start"] = at(rule_start) or None
                        spec["end"] = at(rule_end) or None
                rules.append(service.parse_definition({"rules": [spec]}).rules[0])
            if not rules:
                raise InvalidInput("add at least one rule")
            row = service.create_cohort(
                db,
                name,
                description=description,
                definition=CohortDefinition(match=match, rules=rules),
                actor=principal.actor,
            )
    except (InvalidInput, ValueError) as exc:
        rows = service.list_cohorts(db)
        return render(
            request,
            "analytics/cohorts.html",
            {
                "cohorts": [(r, _summary(db, r)) for r in rows],
                "tab": "cohorts",
                "can_write": True,
                "event_names": list(event_names(workspace_of(request)))[:300],
                "ops": FILTER_OPS,
                "error": str(exc),
                "form": {"name": name, "description": description},
            },
            status_code=422,
        )
    return RedirectResponse(f"/insights/cohorts/{row.id}", status_code=303)


@pages.get("/insights/cohorts/{cohort_id}")
def cohort_page(
    request: Request,
    db: DbDep,
    principal: UserPage,
    cohort_id: int,
    grain: Literal["day", "week", "month"] = "week",
) -> Response:
    from productops.analytics import charts

    ws = workspace_of(request)
    row = service.get_cohort(db, cohort_id)
    spec = service.spec_of(db, row)
    end = default_end(ws)
    start = end - dt.timedelta(days={"day": 29, "week": 7 * 12, "month": 365}[grain])
    sizes = service.cohort_sizes(ws, spec, start, end, grain)
    people, total = service.cohort_people(ws, spec, end, 200)
    chart = None
    if len(sizes.data):
        chart = charts.line_chart(sizes.data, "day", ["people"], "people")
    return render_charts(
        request,
        "analytics/cohort.html",
        {
            "cohort": row,
            "summary": _summary(db, row),
            "sizes": sizes,
            "chart": chart,
            "people": people,
            "total": total,
            "end": end,
            "grain": grain,
            "tab": "cohorts",
            "can_write": principal.can(Permission.WRITE),
        },
    )


@pages.get("/insights/cohorts/{cohort_id}/people.{fmt}")
def cohort_people_export(
    request: Request, db: DbDep, principal: UserPage, cohort_id: int, fmt: str
) -> Response:
    import pandas as pd

    ws = workspace_of(request)
    spec = service.spec(db, cohort_id)
    people, _ = service.cohort_people(ws, spec, None, 1_000_000)
    return frame_response(pd.DataFrame({"person_id": people}), fmt, f"cohort-{cohort_id}")


@pages.post("/insights/cohorts/{cohort_id}/delete")
def cohort_delete(db: DbDep, principal: WritePage, cohort_id: int) -> Response:
    service.delete_cohort(db, cohort_id, actor=principal.actor)
    return RedirectResponse("/insights/cohorts", status_code=303)


def register(app: FastAPI) -> None:
    app.include_router(pages)
    app.include_router(api)
