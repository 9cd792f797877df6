"""The tracking plan page (`/insights/tracking-plan`) and `/api/v1/tracking-plan/violations`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from productops.analytics import tracking as tracking_plan
from productops.core.auth import Permission
from productops.core.clock import aware_utc
from productops.core.errors import NotFound
from productops.web.deps import ReadApi, ReadPage, WriteApi, WritePage, reads_only, workspace_of
from productops.web.params import OptionalDate, OptionalMoment
from productops.web.responses import error_responses
from productops.web.templating import render

router = APIRouter()

# The event store keeps naive UTC times; the API writes them with their offset (RFC 3339).
UtcTime = Annotated[dt.datetime, AfterValidator(aware_utc)]


class ViolationPublic(BaseModel):
    event: str
    property: str | None = Field(description="the property concerned, if any")
    kind: str = Field(
        description="unknown_event, missing_property, mistyped_property, value_not_allowed "
        "or naming_drift"
    )
    detail: str = Field(description="what the plan expects, in words")
    count: int = Field(description="events breaking this rule, quarantined ones included")
    quarantined: int = Field(description="of those, how many are held in quarantine")
    by_source: dict[str, int] = Field(description="count per ingest source")
    first_seen: UtcTime = Field(description="event time (UTC) of the first such event")
    last_seen: UtcTime = Field(description="event time (UTC) of the last such event")
    example: str | None = Field(description="an offending value as JSON text (the latest)")


class ViolationsReport(BaseModel):
    plan_file: str
    start: UtcTime | None = Field(description="the `start` asked for, in UTC")
    end: UtcTime | None = Field(description="the `end` asked for, in UTC")
    quarantined: int = Field(description="events held in quarantine in all")
    violations: list[ViolationPublic]


def _public(s: tracking_plan.ViolationSummary) -> ViolationPublic:
    return ViolationPublic(
        event=s.event,
        property=s.property,
        kind=s.kind.value,
        detail=s.detail,
        count=s.count,
        quarantined=s.quarantined,
        by_source=s.by_source,
        first_seen=s.first_seen,
        last_seen=s.last_seen,
        example=s.example,
    )


@router.get("/insights/tracking-plan", include_in_schema=False)
def tracking_plan_page(
    request: Request,
    principal: ReadPage,
    start: OptionalDate = None,
    end: OptionalDate = None,
) -> Response:
    ws = workspace_of(request)
    errors: list[str] = []
    plan = None
    try:
        plan = tracking_plan.load_plan(ws)
    except tracking_plan.TrackingPlanError as exc:
        errors = exc.errors
    report = tracking_plan.violations(ws, start, end) if plan is not None else None
    job = None
    if report is not None and report.recounting:
        from productops.analytics.tracking import counts

        job = counts.recount_job_state(ws)
    return render(
        request,
        "analytics/tracking_plan.html",
        {
            "plan": plan,
            "plan_file": tracking_plan.PLAN_FILE,
            "errors": errors,
            "violations": report.violations if report else [],
            "recounting": report.recounting if report else False,
            "properties_pending": report.properties_pending if report else False,
            "job": job,
            "quarantined": tracking_plan.quarantine_count(ws),
            "can_release": principal.can(Permission.WRITE),
            "start": start,
            "end": end,
        },
    )


@router.post("/insights/tracking-plan/release", include_in_schema=False)
@reads_only
def release_quarantine_form(request: Request, principal: WritePage) -> Response:
    """Let every quarantined event into the event store (editors and admins)."""
    from fastapi.responses import RedirectResponse

    from productops.core import audit
    from productops.core.db import transaction

    ws = workspace_of(request)
    result = tracking_plan.release_quarantine(ws, "all")
    # The long DuckDB work is done; only now take the app database's write lock.
    with transaction(ws.sessions) as db:
        audit.record(
            db,
            principal.actor,
            "quarantine.release",
            "events",
            None,
            {"released": result.released, "inserted": result.inserted},
        )
    return RedirectResponse("/insights/tracking-plan", status_code=303)


@router.get(
    "/api/v1/tracking-plan/violations",
    tags=["tracking plan"],
    responses=error_responses((404, "the workspace has no tracking plan")),
)
def tracking_plan_violations(
    request: Request,
    principal: ReadApi,
    start: Annotated[OptionalMoment, Query(description="events at or after this")] = None,
    end: Annotated[OptionalMoment, Query(description="events before this")] = None,
) -> ViolationsReport:
    """How the stored events break the workspace's tracking plan, most frequent first."""
    ws = workspace_of(request)
    if tracking_plan.load_plan(ws) is None:
        raise NotFound(f"the workspace has no {tracking_plan.PLAN_FILE}")
    return ViolationsReport(
        plan_file=tracking_plan.PLAN_FILE,
        start=start,
        end=end,
        quarantined=tracking_plan.quarantine_count(ws),
        violations=[_public(s) for s in tracking_plan.violations_report(ws, start, end)],
    )


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_ids: list[str] | None = Field(
        default=None, max_length=100_000, description="the events to let in; none means all"
    )


class ReleaseOut(BaseModel):
    released: int = Field(description="events taken out of quarantine")
    inserted: int = Field(description="of those, how many were new to the event store")


@router.post("/api/v1/tracking-plan/quarantine/release", tags=["tracking plan"])
@reads_only
def api_release_quarantine(request: Request, principal: WriteApi, body: ReleaseIn) -> ReleaseOut:
    """Let quarantined events into the event store (each once), as the page's button does."""
    from productops.core import audit
    from productops.core.db import transaction

    ws = workspace_of(request)
    result = tracking_plan.release_quarantine(ws, body.event_ids or "all")
    with transaction(ws.sessions) as db:
        audit.record(
            db,
            principal.actor,
            "quarantine.release",
            "events",
            None,
            {"released": result.released, "inserted": result.inserted},
        )
    return ReleaseOut(released=result.released, inserted=result.inserted)


def register(app: FastAPI) -> None:
    app.include_router(router)
