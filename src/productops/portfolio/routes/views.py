"""The leader's pages: the executive portfolio, the roadmap (Now / Next / Later), the
timeline, a team's page and the quality flags; each filterable by link, exportable as CSV,
and offered as JSON under /api/v1/portfolio."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from productops.core.clock import utcnow
from productops.core.export import jsonable
from productops.core.teams import get_team
from productops.portfolio.rollups.service import Portfolio, build, portfolio_rows
from productops.portfolio.routes.common import PortfolioViewDep, ViewDep, choices, pct
from productops.portfolio.views import charts
from productops.portfolio.views.service import (
    BUCKETS,
    flag_rows,
    progress_history,
    roadmap,
    roadmap_rows,
    team_view,
    timeline,
    timeline_rows,
)
from productops.web.deps import DbDep, ReadApi, ReadPage, workspace_of
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.responses import error_responses
from productops.web.templating import render, render_charts

NO_TEAM = error_responses((404, "no team with the id given in `team`"))
pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])
Format = Literal["json", "csv"]
By = Literal["team", "all"]
TeamId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _portfolio(request: Request, db: Session, view: Any) -> Portfolio:
    return build(db, workspace_of(request), view.rule, view.filters)


# The executive page lists, under each initiative, the epics that need attention most (flags,
# then health, then the nearest target date); the initiative's page lists them all.
EPIC_LIMIT = 12


def _attention(p: Portfolio) -> None:
    rank = {"off_track": 0, "at_risk": 1, "on_track": 3}

    def key(e: Any) -> tuple[Any, ...]:
        health = rank.get(e.health.health, 2) if e.health else 2
        return (-len(e.flags), health, e.target_date or dt.date.max, e.id)

    for o in p.every_objective():
        o.epics.sort(key=key)
        for i in o.initiatives:
            i.epics.sort(key=key)
    for i in p.unlinked_initiatives:
        i.epics.sort(key=key)
    p.unlinked_epics.sort(key=key)


def _objective_chart(db: Session, p: Portfolio) -> dict[str, Any] | None:
    objectives = {o.id: o.title for o in p.objectives[:12]}
    return charts.progress_over_time(
        progress_history(db, "objective", objectives), "Objective progress over time"
    )


@pages.get("/portfolio")
def portfolio_page(
    request: Request, db: DbDep, principal: ReadPage, view: PortfolioViewDep
) -> Response:
    p = _portfolio(request, db, view)
    _attention(p)
    return render_charts(
        request,
        "portfolio/portfolio.html",
        {
            "p": p,
            "view": view,
            "tab": "portfolio",
            "pct": pct,
            "flag_counts": p.flag_counts(),
            "epic_limit": EPIC_LIMIT,
            "chart": _objective_chart(db, p),
            **choices(db),
        },
    )


@pages.get("/portfolio.csv")
def portfolio_csv(
    request: Request, db: DbDep, principal: ReadPage, view: PortfolioViewDep
) -> Response:
    columns, rows = portfolio_rows(_portfolio(request, db, view))
    return csv_response(columns, rows, "portfolio")


@api.get("", responses={**CSV_RESPONSE_DOC, **NO_TEAM})
def api_portfolio(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    view: PortfolioViewDep,
    format: Format = "json",
) -> Response:
    """Objectives → initiatives → epics with progress, health and flags (the executive
    page); `format=csv` gives it as one flat table."""
    p = _portfolio(request, db, view)
    if format == "csv":
        return csv_response(*portfolio_rows(p), "portfolio")
    body = jsonable(dataclasses.asdict(p))
    body["flag_counts"] = p.flag_counts()
    return JSONResponse(body)


@pages.get("/portfolio/roadmap")
def roadmap_page(request: Request, db: DbDep, principal: ReadPage, view: ViewDep) -> Response:
    p = _portfolio(request, db, view)
    return render(
        request,
        "portfolio/roadmap.html",
        {
            "r": roadmap(p),
            "view": view,
            "tab": "roadmap",
            "pct": pct,
            "buckets": BUCKETS,
            **choices(db),
        },
    )


@pages.get("/portfolio/roadmap.csv")
def roadmap_csv(request: Request, db: DbDep, principal: ReadPage, view: ViewDep) -> Response:
    return csv_response(*roadmap_rows(roadmap(_portfolio(request, db, view))), "roadmap")


@api.get("/roadmap", responses={**CSV_RESPONSE_DOC, **NO_TEAM})
def api_roadmap(
    request: Request, db: DbDep, principal: ReadApi, view: ViewDep, format: Format = "json"
) -> Response:
    """Open epics in Now / Next / Later (see the rules in docs/portfolio.md)."""
    r = roadmap(_portfolio(request, db, view))
    columns, rows = roadmap_rows(r)
    if format == "csv":
        return csv_response(columns, rows, "roadmap")
    return JSONResponse(jsonable([dict(zip(columns, row, strict=True)) for row in rows]))


def _bars(p: Portfolio, limit: int = 120) -> list[dict[str, Any]]:
    bars = []
    for e in p.every_epic():
        if e.target_date is None:
            continue
        start = e.start_date or e.target_date
        if start > e.target_date:
            start = e.target_date
        bars.append(
            {
                "label": f"{e.key} {e.title}" if e.key else e.title,
                "team": p.teams.get(e.team_id, "No team") if e.team_id else "No team",
                "start": start.isoformat(),
                "end": e.target_date.isoformat(),
                "start_text": start.isoformat(),
                "end_text": e.target_date.isoformat(),
                "progress": pct(e.progress),
                "open": e.is_open,
            }
        )
    bars.sort(key=lambda b: (b["end"], b["label"]))
    return bars[:limit]


@pages.get("/portfolio/timeline")
def timeline_page(
    request: Request, db: DbDep, principal: ReadPage, view: ViewDep, by: By = "team"
) -> Response:
    p = _portfolio(request, db, view)
    bars = _bars(p)
    return render_charts(
        request,
        "portfolio/timeline.html",
        {
            "t": timeline(p, by),
            "p": p,
            "view": view,
            "by": by,
            "tab": "timeline",
            "pct": pct,
            "chart": charts.timeline_chart(bars, utcnow().date()),
            "charted": len(bars),
            **choices(db),
        },
    )


@pages.get("/portfolio/timeline.csv")
def timeline_csv(
    request: Request, db: DbDep, principal: ReadPage, view: ViewDep, by: By = "team"
) -> Response:
    p = _portfolio(request, db, view)
    return csv_response(*timeline_rows(timeline(p, by), p.teams), "timeline")


@api.get("/timeline", responses={**CSV_RESPONSE_DOC, **NO_TEAM})
def api_timeline(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    view: ViewDep,
    by: By = "team",
    format: Format = "json",
) -> Response:
    """Epics by quarter of their target date, in rows by team (`by=team`) or one row."""
    p = _portfolio(request, db, view)
    columns, rows = timeline_rows(timeline(p, by), p.teams)
    if format == "csv":
        return csv_response(columns, rows, "timeline")
    return JSONResponse(jsonable([dict(zip(columns, row, strict=True)) for row in rows]))


def _team_context(request: Request, db: Session, view: Any, team_id: int) -> dict[str, Any]:
    team = get_team(db, team_id)
    view.filters.team_id = None  # the team page narrows itself, after the roll-up
    p = _portfolio(request, db, view)
    tv = team_view(p, team_id, team.name)
    return {"tv": tv, "p": p, "team": team}


@pages.get("/portfolio/teams/{team_id}")
def team_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    view: ViewDep,
    team_id: TeamId,
) -> Response:
    ctx = _team_context(request, db, view, team_id)
    open_epics = [e for e in ctx["tv"].epics if e.is_open][:8]
    chart_ids = {e.id: (e.key or e.title) for e in open_epics}
    chart = charts.progress_over_time(
        progress_history(db, "epic", chart_ids), "Open epics: progress over time"
    )
    return render_charts(
        request,
        "portfolio/team.html",
        {**ctx, "view": view, "tab": "teams", "pct": pct, "chart": chart, **choices(db)},
    )


@api.get("/teams/{team_id}")
def api_team(
    request: Request, db: DbDep, principal: ReadApi, view: ViewDep, team_id: TeamId
) -> Response:
    """A team's epics with progress, health, flags and roadmap column, and its objectives."""
    ctx = _team_context(request, db, view, team_id)
    tv = ctx["tv"]
    return JSONResponse(
        jsonable(
            {
                "team": {"id": tv.team_id, "name": tv.name},
                "buckets": tv.buckets,
                "flags": tv.flags,
                "epics": [dataclasses.asdict(e) for e in tv.epics],
                "objectives": [
                    {"id": o.id, "title": o.title, "period": o.period, "progress": o.progress}
                    for o in tv.objectives
                ],
            }
        )
    )


@pages.get("/portfolio/flags")
def flags_page(request: Request, db: DbDep, principal: ReadPage, view: ViewDep) -> Response:
    p = _portfolio(request, db, view)
    rows = flag_rows(p, view.filters.flag)
    return render(
        request,
        "portfolio/flags.html",
        {
            "rows": rows,
            "p": p,
            "view": view,
            "tab": "flags",
            "counts": p.flag_counts(),
            **choices(db),
        },
    )


def _flag_table(p: Portfolio, flag: str | None) -> tuple[list[str], list[list[Any]]]:
    columns = ["kind", "id", "key", "title", "flag", "what", "team", "owner", "link"]
    return columns, [
        [
            r.kind,
            r.id,
            r.key,
            r.title,
            r.flag,
            r.label,
            p.teams.get(r.team_id) if r.team_id else None,
            r.owner,
            r.link,
        ]
        for r in flag_rows(p, flag)
    ]


@pages.get("/portfolio/flags.csv")
def flags_csv(request: Request, db: DbDep, principal: ReadPage, view: ViewDep) -> Response:
    return csv_response(*_flag_table(_portfolio(request, db, view), view.filters.flag), "flags")


@api.get("/flags", responses={**CSV_RESPONSE_DOC, **NO_TEAM})
def api_flags(
    request: Request, db: DbDep, principal: ReadApi, view: ViewDep, format: Format = "json"
) -> Response:
    """Quality flags: epics with no objective, stale or thin epics, open work under closed
    epics, work with no owner, objectives with no active work, key results with no value
    this cycle."""
    columns, rows = _flag_table(_portfolio(request, db, view), view.filters.flag)
    if format == "csv":
        return csv_response(columns, rows, "flags")
    return JSONResponse(jsonable([dict(zip(columns, row, strict=True)) for row in rows]))
