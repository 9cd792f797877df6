"""Accounts pages and `/api/v1/accounts`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from productops.core.auth import Permission, Principal
from productops.core.schemas import Page
from productops.core.workspace import Workspace
from productops.customers import service
from productops.customers.schemas import AccountPublic, PersonPublic
from productops.web.deps import DbDep, UserPage, require
from productops.web.nav import HomeCount, NavEntry, add_home_cards, add_nav
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["accounts"])
ReadApi = Annotated[Principal, require(Permission.READ)]
PAGE_SIZE = 50


@pages.get("/accounts")
def accounts_page(
    request: Request,
    db: DbDep,
    principal: UserPage,
    q: Annotated[str | None, Query(max_length=200)] = None,
    plan: Annotated[str | None, Query(max_length=50)] = None,
    segment: Annotated[str | None, Query(max_length=50)] = None,
    sort: str = "arr",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    rows, total = service.list_accounts(
        db,
        q=q,
        plan=plan or None,
        segment=segment or None,
        sort=sort,
        limit=PAGE_SIZE,
        offset=offset,
    )
    context = {
        "accounts": rows,
        "total": total,
        "q": q or "",
        "plan": plan or "",
        "segment": segment or "",
        "sort": sort,
        "offset": offset,
        "limit": PAGE_SIZE,
        "plans": service.distinct_values(db, "plan"),
        "segments": service.distinct_values(db, "segment"),
        "by_plan": service.arr_by(db, "plan"),
    }
    fragment = request.headers.get("hx-request") == "true" and not request.headers.get(
        "hx-history-restore-request"
    )
    response = render(
        request,
        "customers/accounts_table.html" if fragment else "customers/accounts.html",
        context,
    )
    # The same URL answers a page or a fragment: caches (and Back) must keep them apart.
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


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
        },
    )


@api.get("/accounts")
def api_accounts(
    db: DbDep,
    principal: ReadApi,
    q: Annotated[str | None, Query(max_length=200)] = None,
    plan: Annotated[str | None, Query(max_length=50)] = None,
    segment: Annotated[str | None, Query(max_length=50)] = None,
    sort: str = "arr",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[AccountPublic]:
    rows, total = service.list_accounts(
        db, q=q, plan=plan, segment=segment, sort=sort, limit=limit, offset=offset
    )
    return Page[AccountPublic](
        items=[AccountPublic.model_validate(a) for a in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@api.get("/accounts/{account_id}")
def api_account(db: DbDep, principal: ReadApi, account_id: int) -> AccountPublic:
    return AccountPublic.model_validate(service.get_account(db, account_id))


@api.get("/accounts/{account_id}/people")
def api_account_people(db: DbDep, principal: ReadApi, account_id: int) -> list[PersonPublic]:
    service.get_account(db, account_id)
    return [PersonPublic.model_validate(p) for p in service.people_of(db, account_id)]


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
