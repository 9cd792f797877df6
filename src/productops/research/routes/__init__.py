"""The research pillar's pages and `/api/v1` endpoints: one search over research and
feedback, studies, the note editor with highlighting, the insight board, the participant
list with eligibility, the recruiting flow, consent texts; navigation and home cards."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.core.workspace import Workspace
from productops.research.routes import api, pages, people
from productops.web.nav import HomeCount, NavEntry, add_home_cards, add_nav


def _counts(db: Session, principal: Principal, ws: Workspace) -> list[HomeCount]:
    from productops.research.models import Insight, Participant, Study

    studies = (
        db.scalar(
            select(func.count(Study.id)).where(
                Study.status.in_(("recruiting", "running", "analysing"))
            )
        )
        or 0
    )
    insights = db.scalar(select(func.count(Insight.id))) or 0
    pool = db.scalar(select(func.count(Participant.id))) or 0
    return [
        HomeCount("Studies under way", f"{studies:,}", "/research/studies"),
        HomeCount("Research insights", f"{insights:,}", "/research/insights"),
        HomeCount("Research participants", f"{pool:,}", "/research/participants"),
    ]


def register(app: FastAPI) -> None:
    for router in (pages.pages, people.pages, api.api, api.people_api):
        app.include_router(router)
    add_nav(app, NavEntry("Research", "/research", order=25))
    add_home_cards(app, _counts, order=25)
