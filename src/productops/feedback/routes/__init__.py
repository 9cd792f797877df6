"""The feedback pillar's pages and `/api/v1` endpoints: the triage inbox and search, each
item's page, import, themes and tags, feature requests, competitors; the feedback section
of each account's page; navigation and home cards."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.core.workspace import Workspace
from productops.feedback.items.filters import Filters
from productops.feedback.routes import api, competitors, imports, inbox, requests, themes
from productops.web.nav import HomeCount, NavEntry, add_home_cards, add_nav, add_page_section


def _counts(db: Session, principal: Principal, ws: Workspace) -> list[HomeCount]:
    from productops.feedback.items import service as items
    from productops.feedback.requests import service as request_service

    new = items.count_items(db, Filters(status="new"))
    total = items.count_items(db)
    open_requests = sum(
        n
        for status, n in request_service.count_by_status(db).items()
        if status in request_service.OPEN_STATUSES
    )
    return [
        HomeCount("Feedback to triage", f"{new:,}", "/feedback"),
        HomeCount("Feedback, all channels", f"{total:,}", "/feedback?status=all"),
        HomeCount("Open feature requests", f"{open_requests:,}", "/feedback/requests?status=open"),
    ]


def register(app: FastAPI) -> None:
    # The items API last: its `/api/v1/feedback/{item_id}` would take `/themes`, `/tags`…
    for module in (inbox, themes, requests, competitors, imports, api):
        for name in ("pages", "api"):
            router = getattr(module, name, None)
            if router is not None:
                app.include_router(router)
    add_nav(app, NavEntry("Feedback", "/feedback", order=20))
    add_home_cards(app, _counts, order=20)
    add_page_section(app, "account", inbox.account_section, order=20)
