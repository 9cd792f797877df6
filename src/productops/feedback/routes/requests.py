"""The request board (ranked by demand), each request's page with every piece of evidence and
who asked, and `/api/v1/feature-requests`."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BeforeValidator

from productops.core.errors import InvalidInput
from productops.customers import PEOPLE_PII, distinct_values
from productops.feedback.charts import weekly_lines
from productops.feedback.requests import notify
from productops.feedback.requests import service as requests
from productops.feedback.routes.common import (
    SUBNAV,
    enum_or_blank,
    form_model,
    highlight,
    one_of,
)
from productops.feedback.schemas import (
    MAX_ID,
    Asker,
    EvidenceCreate,
    EvidencePublic,
    LinkCreate,
    RequestCreate,
    RequestDetail,
    RequestPublic,
    RequestUpdate,
    RequestWithDemand,
    VoteCreate,
    VotePublic,
    WeekAskers,
)
from productops.web.deps import DbDep, ReadApi, ReadPage, WriteApi, WritePage
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import RecordId, blank_is_none
from productops.web.responses import error_responses
from productops.web.templating import render_charts

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/feature-requests", tags=["feature requests"])
_STATUSES = ("open", "under_review", "planned", "in_progress", "shipped", "declined")
_BLANK = BeforeValidator(blank_is_none)
StatusFilter = Annotated[
    str | None,
    Query(description="a status, or open: any but shipped and declined"),
    _BLANK,
    one_of(_STATUSES),
    enum_or_blank(_STATUSES),
]
Sort = Literal["demand", "people", "newest"]
Slice = Annotated[
    str | None, Query(max_length=60, description="accounts in this segment / on this plan"), _BLANK
]
NOT_FOUND = error_responses((404, "no such request (or record it names)"))
NOT_FOUND_OR_MERGED = error_responses(
    (404, "no such request"), (409, "the request was merged into another")
)


@pages.get("/feedback/requests")
def board(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    status: StatusFilter = None,
    q: Annotated[str | None, Query(max_length=200), _BLANK] = None,
    segment: Slice = None,
    plan: Slice = None,
    sort: Sort = "demand",
) -> Response:
    rows = requests.list_requests(db, status=status, q=q, sort=sort, segment=segment, plan=plan)
    return render_charts(
        request,
        "feedback/requests.html",
        {
            "subnav": SUBNAV,
            "rows": rows,
            "status": status or "",
            "q": q or "",
            "sort": sort,
            "segment": segment or "",
            "plan": plan or "",
            "segments": distinct_values(db, "segment"),
            "plans": distinct_values(db, "plan"),
            "query": urlencode(
                {
                    k: v
                    for k, v in (
                        ("status", status),
                        ("q", q),
                        ("segment", segment),
                        ("plan", plan),
                        ("sort", sort),
                    )
                    if v
                }
            ),
            "labels": requests.STATUS_LABELS,
            "counts": requests.count_by_status(db),
            "can_write": principal.can("write"),
        },
    )


@pages.get("/feedback/requests.csv")
def board_csv(
    db: DbDep,
    principal: ReadPage,
    status: StatusFilter = None,
    q: Annotated[str | None, Query(max_length=200), _BLANK] = None,
    segment: Slice = None,
    plan: Slice = None,
    sort: Sort = "demand",
) -> Response:
    rows = requests.list_requests(db, status=status, q=q, sort=sort, segment=segment, plan=plan)
    columns = ["id", "title", "status", "people", "accounts", "arr", "evidence", "votes"]
    return csv_response(
        columns,
        [
            [
                r.request.id,
                r.request.title,
                r.request.status,
                len(r.demand.people),
                len(r.demand.accounts),
                round(r.demand.arr, 2),
                r.demand.evidence,
                r.demand.votes,
            ]
            for r in rows
        ],
        "feature-requests",
    )


@pages.post("/feedback/requests/new")
def create_form(
    db: DbDep,
    principal: WritePage,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    r = requests.create_request(
        db,
        form_model(RequestCreate, title=title, description=description or None),
        principal.actor,
    )
    return RedirectResponse(f"/feedback/requests/{r.id}", status_code=303)


@pages.get("/feedback/requests/{request_id}")
def request_page(request: Request, db: DbDep, principal: ReadPage, request_id: int) -> Response:
    r = requests.get_request(db, request_id)
    if r.merged_into_id:
        return RedirectResponse(f"/feedback/requests/{r.merged_into_id}", status_code=303)
    demand = requests.demand(db, [request_id]).get(request_id, requests.Demand())
    trend = requests.demand_trend(db, request_id)
    askers = requests.askers(db, request_id)
    return render_charts(
        request,
        "feedback/request.html",
        {
            "subnav": SUBNAV,
            "r": r,
            "demand": demand,
            "chart": weekly_lines(
                {"new people asking": [w["new_askers"] for w in trend]},
                [w["week"] for w in trend],
                title_y="people",
            ),
            "askers": [
                (a, [(ev, item, highlight(item.text, ev.excerpt)) for ev, item in a.evidence])
                for a in askers
            ],
            "links": requests.links_of(db, request_id),
            "labels": requests.STATUS_LABELS,
            "others": [x for x in requests.request_choices(db) if x.id != r.id],
            "show_contact": principal.can(PEOPLE_PII),
            "can_write": principal.can("write"),
        },
    )


@pages.get("/feedback/requests/{request_id}/askers.csv")
def askers_csv(db: DbDep, principal: ReadPage, request_id: int) -> Response:
    """Who asked (to tell them it shipped): emails only for callers who may see them."""
    columns, rows = requests.export_askers(db, request_id)
    if not principal.can(PEOPLE_PII):
        at = columns.index("email")
        rows = [[*row[:at], None, *row[at + 1 :]] for row in rows]
    return csv_response(columns, rows, f"request-{request_id}-askers")


@pages.post("/feedback/requests/{request_id}")
def update_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    request_id: int,
    action: Annotated[Literal["status", "merge", "link", "vote", "edit", "told"], Form()],
    status: Annotated[str, Form(max_length=20)] = "",
    into: Annotated[int | None, BeforeValidator(blank_is_none), Form()] = None,
    target_kind: Annotated[str, Form(max_length=30)] = "epic",
    target_id: Annotated[int | None, BeforeValidator(blank_is_none), Form()] = None,
    email: Annotated[str, Form(max_length=320)] = "",
    title: Annotated[str, Form(max_length=300)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    actor = principal.actor
    target = f"/feedback/requests/{request_id}"
    if action == "status":
        requests.update_request(
            db, request_id, form_model(RequestUpdate, status=status or None), actor
        )
    elif action == "edit":
        requests.update_request(
            db,
            request_id,
            form_model(RequestUpdate, title=title or None, description=description),
            actor,
        )
    elif action == "merge":
        if not into:
            raise InvalidInput("choose the request to merge this one into")
        requests.merge(db, request_id, into, actor)
        target = f"/feedback/requests/{into}"
    elif action == "link":
        if not target_id:
            raise InvalidInput("give the epic's or objective's id")
        requests.add_link(
            db,
            request_id,
            form_model(LinkCreate, target_kind=target_kind, target_id=target_id),
            actor,
        )
    elif action == "vote":
        requests.vote(db, request_id, form_model(VoteCreate, email=email.strip() or None), actor)
    else:
        notify.mark_told(db, request_id, actor)
    return RedirectResponse(target, status_code=303)


# --- API -----------------------------------------------------------------------------------


def _public(row: requests.RequestRow) -> RequestWithDemand:
    return RequestWithDemand(
        **RequestPublic.model_validate(row.request).model_dump(), **row.demand.as_dict()
    )


_CSV_COLUMNS = [
    "id", "title", "status", "people", "accounts", "arr", "evidence", "votes", "created_at",
    "shipped_at", "merged_into_id",
]  # fmt: skip


@api.get("", responses=CSV_RESPONSE_DOC, response_model=list[RequestWithDemand])
def api_list(
    db: DbDep,
    principal: ReadApi,
    status: StatusFilter = None,
    q: Annotated[
        str | None, Query(max_length=200, description="words of the title"), _BLANK
    ] = None,
    segment: Slice = None,
    plan: Slice = None,
    sort: Sort = "demand",
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Requests ranked by demand (ARR of the accounts asking, then accounts, then people);
    `status=open` is every status but shipped and declined; `segment` or `plan` count only
    the accounts there (and leave out requests none of them asked for); `format=csv` gives
    the numbers as CSV."""
    rows = requests.list_requests(db, status=status, q=q, sort=sort, segment=segment, plan=plan)
    out = [_public(r) for r in rows]
    if format == "csv":
        return csv_response(
            _CSV_COLUMNS,
            [[getattr(o, c) for c in _CSV_COLUMNS] for o in out],
            "feature-requests",
        )
    return out


@api.post("", status_code=201, responses=error_responses((404, "no such feedback")))
def api_create(db: DbDep, principal: WriteApi, body: RequestCreate) -> RequestWithDemand:
    """A new request, from a piece of feedback (`from_item_id`, with its excerpt and
    importance) or on its own."""
    r = requests.create_request(db, body, principal.actor)
    return _public(requests.RequestRow(r, requests.demand(db, [r.id]).get(r.id, requests.Demand())))


@api.get("/{request_id}", responses=NOT_FOUND)
def api_get(db: DbDep, principal: ReadApi, request_id: RecordId) -> RequestDetail:
    """A request with its demand, the new askers week by week and its roadmap links."""
    r = requests.get_request(db, request_id)
    row = _public(requests.RequestRow(r, requests.demand(db, [r.id]).get(r.id, requests.Demand())))
    return RequestDetail(
        **row.model_dump(),
        trend=[
            WeekAskers(week=w["week"], new_askers=w["new_askers"])
            for w in requests.demand_trend(db, request_id)
        ],
        links=[
            LinkCreate(target_kind=link.target_kind, target_id=link.target_id)
            for link in requests.links_of(db, request_id)
        ],
    )


@api.patch("/{request_id}", responses=NOT_FOUND_OR_MERGED)
def api_update(
    db: DbDep, principal: WriteApi, request_id: RecordId, body: RequestUpdate
) -> RequestPublic:
    """Change a request; `status: shipped` queues telling everyone who asked."""
    return RequestPublic.model_validate(
        requests.update_request(db, request_id, body, principal.actor)
    )


@api.post("/{request_id}/evidence", status_code=201, responses=NOT_FOUND)
def api_attach(
    db: DbDep, principal: WriteApi, request_id: RecordId, body: EvidenceCreate
) -> EvidencePublic:
    """Attach feedback (with the excerpt that asks, which must be its own words, and its
    importance)."""
    ev = requests.attach(db, request_id, body, principal.actor)
    return EvidencePublic(
        request_id=ev.request_id, item_id=ev.item_id, excerpt=ev.excerpt, importance=ev.importance
    )


@api.delete("/{request_id}/evidence/{item_id}", status_code=204, responses=NOT_FOUND)
def api_detach(db: DbDep, principal: WriteApi, request_id: RecordId, item_id: RecordId) -> Response:
    requests.detach(db, request_id, item_id, principal.actor)
    return Response(status_code=204)


@api.post("/{request_id}/votes", status_code=201, responses=NOT_FOUND)
def api_vote(db: DbDep, principal: WriteApi, request_id: RecordId, body: VoteCreate) -> VotePublic:
    """A person's vote (one per person; by id or email)."""
    v = requests.vote(db, request_id, body, principal.actor)
    return VotePublic(request_id=v.request_id, person_id=v.person_id)


@api.delete("/{request_id}/votes/{person_id}", status_code=204, responses=NOT_FOUND)
def api_unvote(
    db: DbDep, principal: WriteApi, request_id: RecordId, person_id: RecordId
) -> Response:
    requests.unvote(db, request_id, person_id, principal.actor)
    return Response(status_code=204)


@api.post("/{request_id}/merge", responses=NOT_FOUND_OR_MERGED)
def api_merge(
    db: DbDep,
    principal: WriteApi,
    request_id: RecordId,
    into: Annotated[int, Query(ge=1, le=MAX_ID, description="the request that stays")],
) -> RequestPublic:
    """Merge this request into `into` (evidence, votes and links move; each asker once)."""
    return RequestPublic.model_validate(requests.merge(db, request_id, into, principal.actor))


@api.post(
    "/{request_id}/links",
    status_code=201,
    responses=error_responses(
        (404, "no such request"), (409, "the request is already linked there")
    ),
)
def api_link(db: DbDep, principal: WriteApi, request_id: RecordId, body: LinkCreate) -> LinkCreate:
    """Link to an epic, initiative or objective of the roadmap."""
    link = requests.add_link(db, request_id, body, principal.actor)
    return LinkCreate(target_kind=link.target_kind, target_id=link.target_id)


@api.get(
    "/{request_id}/askers", responses={**NOT_FOUND, **CSV_RESPONSE_DOC}, response_model=list[Asker]
)
def api_askers(
    db: DbDep, principal: ReadApi, request_id: RecordId, format: Literal["json", "csv"] = "json"
) -> Any:
    """Everyone who asked: person, account, whether they voted or were told, the excerpt.
    Emails only for callers with `people.pii`."""
    columns, rows = requests.export_askers(db, request_id)
    if not principal.can(PEOPLE_PII):
        at = columns.index("email")
        rows = [[*row[:at], None, *row[at + 1 :]] for row in rows]
    if format == "csv":
        return csv_response(columns, rows, f"request-{request_id}-askers")
    return [Asker(**dict(zip(columns, row, strict=True))) for row in rows]
