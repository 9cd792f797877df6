"""Accounts pages and `/api/v1/accounts`, `/api/v1/people`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.core.errors import TooLarge
from productops.core.schemas import Page
from productops.core.workspace import Workspace
from productops.customers import service
from productops.customers.permissions import PEOPLE_PII
from productops.customers.schemas import (
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    ImportSummary,
    PersonContact,
    PersonCreate,
    PersonPublic,
)
from productops.web.deps import (
    DbDep,
    ReadApi,
    UserPage,
    WriteApi,
    WritePage,
    is_fragment,
    reads_only,
)
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.nav import HomeCount, NavEntry, add_home_cards, add_nav, page_sections
from productops.web.params import Offset, RecordId
from productops.web.responses import error_responses
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["customers"])
PAGE_SIZE = 50
MAX_IMPORT_BYTES = 50 * 1024 * 1024

Search = Annotated[str | None, Query(max_length=200, description="name, domain or external id")]
PlanFilter = Annotated[str | None, Query(max_length=50)]
Sort = Literal["arr", "name", "newest"]


def _filters(
    q: str | None, plan: str | None, segment: str | None, region: str | None
) -> dict[str, str | None]:
    return {
        "q": q or None,
        "plan": plan or None,
        "segment": segment or None,
        "region": region or None,
    }


@pages.get("/accounts")
def accounts_page(
    request: Request,
    db: DbDep,
    principal: UserPage,
    q: Search = None,
    plan: PlanFilter = None,
    segment: PlanFilter = None,
    region: PlanFilter = None,
    sort: Sort = "arr",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    filters = _filters(q, plan, segment, region)
    rows, total = service.list_accounts(db, sort=sort, limit=PAGE_SIZE, offset=offset, **filters)
    context = {
        "accounts": rows,
        "total": total,
        "q": q or "",
        "plan": plan or "",
        "segment": segment or "",
        "region": region or "",
        "sort": sort,
        "offset": offset,
        "limit": PAGE_SIZE,
        "plans": service.distinct_values(db, "plan"),
        "segments": service.distinct_values(db, "segment"),
        "regions": service.distinct_values(db, "region"),
        "by_plan": service.arr_by(db, "plan"),
        "query": request.url.query,
    }
    response = render(
        request,
        "customers/accounts_table.html" if is_fragment(request) else "customers/accounts.html",
        context,
    )
    # The same URL answers a page or a fragment: caches (and Back) must keep them apart.
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


@pages.get("/accounts.csv")
def accounts_csv(
    db: DbDep,
    principal: UserPage,
    q: Search = None,
    plan: PlanFilter = None,
    segment: PlanFilter = None,
    region: PlanFilter = None,
    sort: Sort = "arr",
) -> Response:
    """The filtered accounts list as CSV (every account, not one page)."""
    columns, rows = service.export_accounts(db, sort=sort, **_filters(q, plan, segment, region))
    return csv_response(columns, rows, "accounts")


@pages.get("/accounts/{account_id}")
def account_page(request: Request, db: DbDep, principal: UserPage, account_id: int) -> Response:
    account = service.get_account(db, account_id)
    return render(
        request,
        "customers/account.html",
        {
            "account": account,
            "people": service.people_of(db, account_id, limit=100),
            "people_count": service.count_people(db, account_id),
            "can_edit": principal.can("write"),
            "show_contact": principal.can(PEOPLE_PII),
            # What other pillars show about this account (its feedback, …).
            "sections": page_sections(request, "account", db, principal, account_id),
        },
    )


@pages.post("/accounts/{account_id}")
def account_update_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    account_id: int,
    plan: Annotated[str, Form(max_length=50)],
    segment: Annotated[str, Form(max_length=50)],
    region: Annotated[str, Form(max_length=50)],
    arr: Annotated[float, Form(ge=0, le=1e12)],
) -> Response:
    service.update_account(
        db,
        account_id,
        AccountUpdate(plan=plan.strip(), segment=segment.strip(), region=region.strip(), arr=arr),
        actor=principal.actor,
    )
    return RedirectResponse(f"/accounts/{account_id}", status_code=303)


# --- API -----------------------------------------------------------------------------------


@api.get("/accounts", responses=CSV_RESPONSE_DOC, response_model=Page[AccountPublic])
def api_accounts(
    db: DbDep,
    principal: ReadApi,
    q: Search = None,
    plan: PlanFilter = None,
    segment: PlanFilter = None,
    region: PlanFilter = None,
    sort: Sort = "arr",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> Page[AccountPublic] | Response:
    """Accounts, filtered and sorted; `format=csv` gives every match as CSV."""
    filters = _filters(q, plan, segment, region)
    if format == "csv":
        columns, rows = service.export_accounts(db, sort=sort, **filters)
        return csv_response(columns, rows, "accounts")
    rows_, total = service.list_accounts(db, sort=sort, limit=limit, offset=offset, **filters)
    return Page[AccountPublic](
        items=[AccountPublic.model_validate(a) for a in rows_],
        total=total,
        limit=limit,
        offset=offset,
    )


NO_ACCOUNT = error_responses((404, "no account with that id"))


@api.post(
    "/accounts",
    status_code=201,
    responses=error_responses((409, "an account with that external id exists")),
)
def api_create_account(db: DbDep, principal: WriteApi, body: AccountCreate) -> AccountPublic:
    return AccountPublic.model_validate(service.create_account(db, body, actor=principal.actor))


@api.get("/accounts/{account_id}", responses=NO_ACCOUNT)
def api_account(db: DbDep, principal: ReadApi, account_id: RecordId) -> AccountPublic:
    return AccountPublic.model_validate(service.get_account(db, account_id))


@api.patch("/accounts/{account_id}", responses=NO_ACCOUNT)
def api_update_account(
    db: DbDep, principal: WriteApi, account_id: RecordId, body: AccountUpdate
) -> AccountPublic:
    """Change an account (only the fields sent). Analyses by plan, segment or region follow."""
    account = service.update_account(db, account_id, body, actor=principal.actor)
    return AccountPublic.model_validate(account)


def _person_out(principal: Principal, person: object) -> PersonPublic:
    if principal.can(PEOPLE_PII):
        return PersonContact.model_validate(person)
    return PersonPublic.model_validate(person)


@api.get(
    "/accounts/{account_id}/people",
    response_model=list[PersonContact | PersonPublic],
    responses=NO_ACCOUNT,
)
def api_account_people(db: DbDep, principal: ReadApi, account_id: RecordId) -> list[PersonPublic]:
    """The people of an account; emails only for callers with `people.pii`."""
    service.get_account(db, account_id)
    return [_person_out(principal, p) for p in service.people_of(db, account_id)]


@api.post(
    "/people",
    status_code=201,
    response_model=PersonContact | PersonPublic,
    responses=error_responses(
        (404, "no account with the `account_external_id` given"),
        (409, "a person with that external id exists"),
    ),
)
def api_create_person(db: DbDep, principal: WriteApi, body: PersonCreate) -> PersonPublic:
    return _person_out(principal, service.create_person(db, body, actor=principal.actor))


@api.get(
    "/people/{person_id}",
    response_model=PersonContact | PersonPublic,
    responses=error_responses((404, "no person with that id")),
)
def api_person(db: DbDep, principal: ReadApi, person_id: RecordId) -> PersonPublic:
    return _person_out(principal, service.get_person(db, person_id))


async def _upload(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_IMPORT_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_IMPORT_BYTES:
            raise _too_large()
    return bytes(body)


def _too_large() -> Exception:
    return TooLarge(f"the file is over {MAX_IMPORT_BYTES // 2**20} MiB")


_CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
}


IMPORT_REFUSALS = error_responses((413, f"the file is over {MAX_IMPORT_BYTES // 2**20} MiB"))


@api.post("/accounts/import", openapi_extra=_CSV_BODY, responses=IMPORT_REFUSALS)
@reads_only  # the import is a transaction of its own; the request's must not hold the lock
async def api_import_accounts(
    request: Request, principal: WriteApi, filename: str = "accounts.csv"
) -> ImportSummary:
    """Create or update accounts from a CSV body (external_id, name, domain, plan, segment,
    region, arr; other columns become traits). All or nothing; importing again changes
    nothing."""
    data = await _upload(request)
    return await _run_import(request, principal, data, filename, service.import_accounts)


@api.post("/people/import", openapi_extra=_CSV_BODY, responses=IMPORT_REFUSALS)
@reads_only
async def api_import_people(
    request: Request, principal: WriteApi, filename: str = "people.csv"
) -> ImportSummary:
    """Create or update people from a CSV body (external_id, account_external_id, email,
    name; other columns become traits)."""
    data = await _upload(request)
    return await _run_import(request, principal, data, filename, service.import_people)


async def _run_import(
    request: Request, principal: Principal, data: bytes, filename: str, fn: object
) -> ImportSummary:
    from starlette.concurrency import run_in_threadpool

    from productops.core.db import transaction
    from productops.web.deps import workspace_of

    ws = workspace_of(request)
    name = filename[:200]

    def work() -> ImportSummary:
        # A transaction of its own: the import is all or nothing.
        with transaction(ws.sessions) as s:
            result = fn(s, data, principal.actor, name=name)  # type: ignore[operator]
            return ImportSummary(**vars(result))

    return await run_in_threadpool(work)


def _counts(db: Session, principal: Principal, ws: Workspace) -> list[HomeCount]:
    s = service.summary(db)
    return [
        HomeCount("Accounts", f"{s.accounts:,}", "/accounts"),
        HomeCount("People in accounts", f"{s.people:,}"),
        HomeCount("Total ARR", f"${s.total_arr:,.0f}", "/accounts"),
    ]


def register(app: FastAPI) -> None:
    app.include_router(pages)
    app.include_router(api)
    add_nav(app, NavEntry("Accounts", "/accounts", order=5))
    add_home_cards(app, _counts, order=10)
