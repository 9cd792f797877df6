"""The portfolio on the web: the leader's views, objectives and key results, epics and
their mappings, the update cadence, and connections. `register(app)` is what the house
calls."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.portfolio.models import Epic, Objective
from productops.portfolio.routes import okrs, sync, updates, views, work
from productops.web.nav import HomeCount, NavEntry, add_home_cards, add_nav

ROOMS = (views, okrs, work, updates, sync)


def _counts(db: Session, principal: Principal, ws: Any) -> list[HomeCount]:
    objectives = db.scalar(select(func.count(Objective.id)).where(Objective.status == "active"))
    epics = db.scalar(
        select(func.count(Epic.id)).where(Epic.status_category.not_in(("done", "canceled")))
    )
    return [
        HomeCount("Active objectives", f"{objectives or 0:,}", "/portfolio"),
        HomeCount("Open epics", f"{epics or 0:,}", "/portfolio/roadmap"),
    ]


def register(app: FastAPI) -> None:
    for room in ROOMS:
        app.include_router(room.pages)
        app.include_router(room.api)
    add_nav(app, NavEntry("Roadmap", "/portfolio", order=30))
    add_home_cards(app, _counts, order=30)
