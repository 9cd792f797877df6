"""Market insights: competitors (names and aliases), and per competitor the feedback that
mentions it, its sentiment and its trend; `/api/v1/competitors`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from productops.feedback.charts import sentiment_bars, weekly_lines
from productops.feedback.competitors import service as competitors
from productops.feedback.items import service as items
from productops.feedback.items.filters import Filters
from productops.feedback.routes.common import SUBNAV, form_model
from productops.feedback.schemas import (
    CompetitorCreate,
    CompetitorDetail,
    CompetitorPublic,
    CompetitorWeek,
    CompetitorWithMentions,
)
from productops.web.deps import DbDep, ReadApi, ReadPage, WriteApi, WritePage
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import RecordId
from productops.web.responses import error_responses
from productops.web.templating import render, render_charts

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/competitors", tags=["competitors"])
NOT_FOUND = error_responses((404, "no such competitor"))


def _aliases(text: str) -> list[str]:
    return [a.strip() for a in text.replace("\n", ",").split(",") if a.strip()]


@pages.get("/feedback/competitors")
def competitors_page(request: Request, db: DbDep, principal: ReadPage) -> Response:
    return render(
        request,
        "feedback/competitors.html",
        {"subnav": SUBNAV, "stats": competitors.stats(db), "can_write": principal.can("write")},
    )


@pages.get("/feedback/competitors.csv")
def competitors_csv(db: DbDep, principal: ReadPage) -> Response:
    rows = [
        [s.competitor.name, ", ".join(s.competitor.aliases or []), s.mentions, s.accounts,
         s.negative, s.neutral, s.positive, s.mean_sentiment]
        for s in competitors.stats(db)
    ]  # fmt: skip
    columns = ["competitor", "aliases", "mentions", "accounts", "negative", "neutral",
               "positive", "mean_sentiment"]  # fmt: skip
    return csv_response(columns, rows, "competitors")


@pages.post("/feedback/competitors")
def create_form(
    db: DbDep,
    principal: WritePage,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    aliases: Annotated[str, Form(max_length=3000)] = "",
) -> Response:
    c = competitors.create_competitor(
        db, form_model(CompetitorCreate, name=name, aliases=_aliases(aliases)), principal.actor
    )
    return RedirectResponse(f"/feedback/competitors/{c.id}", status_code=303)


@pages.get("/feedback/competitors/{competitor_id}")
def competitor_page(
    request: Request, db: DbDep, principal: ReadPage, competitor_id: int
) -> Response:
    c = competitors.get_competitor(db, competitor_id)
    stat = next(s for s in competitors.stats(db) if s.competitor.id == competitor_id)
    weekly = competitors.weekly(db, competitor_id)[-26:]
    rows, total = items.list_items(db, Filters(competitor_id=competitor_id), limit=30)
    _people, accounts = items.people_and_accounts(db, rows)
    return render_charts(
        request,
        "feedback/competitor.html",
        {
            "subnav": SUBNAV,
            "c": c,
            "stat": stat,
            "chart": weekly_lines(
                {"mentions": [w["mentions"] for w in weekly]},
                [w["week"] for w in weekly],
                title_y="mentions",
            ),
            "sentiment_chart": sentiment_bars(
                {"negative": stat.negative, "neutral": stat.neutral, "positive": stat.positive}
            ),
            "items": rows,
            "total": total,
            "accounts": accounts,
            "can_write": principal.can("write"),
        },
    )


@pages.post("/feedback/competitors/{competitor_id}")
def update_form(
    db: DbDep,
    principal: WritePage,
    competitor_id: int,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    aliases: Annotated[str, Form(max_length=3000)] = "",
    delete: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if delete:
        competitors.delete_competitor(db, competitor_id, principal.actor)
        return RedirectResponse("/feedback/competitors", status_code=303)
    competitors.update_competitor(
        db,
        competitor_id,
        form_model(CompetitorCreate, name=name, aliases=_aliases(aliases)),
        principal.actor,
    )
    return RedirectResponse(f"/feedback/competitors/{competitor_id}", status_code=303)


# --- API -----------------------------------------------------------------------------------


def _out(s: competitors.CompetitorStats) -> CompetitorWithMentions:
    return CompetitorWithMentions(
        **CompetitorPublic.model_validate(s.competitor).model_dump(),
        mentions=s.mentions,
        accounts=s.accounts,
        negative=s.negative,
        neutral=s.neutral,
        positive=s.positive,
        mean_sentiment=s.mean_sentiment,
    )


_COLUMNS = [
    "id", "name", "aliases", "mentions", "accounts", "negative", "neutral", "positive",
    "mean_sentiment",
]  # fmt: skip


@api.get("", responses=CSV_RESPONSE_DOC, response_model=list[CompetitorWithMentions])
def api_list(db: DbDep, principal: ReadApi, format: Literal["json", "csv"] = "json") -> Any:
    """Competitors with their mentions and the sentiment of those mentions."""
    out = [_out(s) for s in competitors.stats(db)]
    if format == "csv":
        rows = [
            [", ".join(v) if isinstance(v, list) else v for v in (getattr(o, c) for c in _COLUMNS)]
            for o in out
        ]
        return csv_response(_COLUMNS, rows, "competitors")
    return out


@api.post("", status_code=201, responses=error_responses((409, "the name is taken")))
def api_create(db: DbDep, principal: WriteApi, body: CompetitorCreate) -> CompetitorPublic:
    """Add a competitor; all feedback naming it (or an alias) is tagged."""
    return CompetitorPublic.model_validate(competitors.create_competitor(db, body, principal.actor))


@api.get("/{competitor_id}", responses=NOT_FOUND)
def api_get(db: DbDep, principal: ReadApi, competitor_id: RecordId) -> CompetitorDetail:
    """A competitor's mentions, their sentiment and accounts, and mentions week by week."""
    competitors.get_competitor(db, competitor_id)
    stat = next(s for s in competitors.stats(db) if s.competitor.id == competitor_id)
    return CompetitorDetail(
        **_out(stat).model_dump(),
        weekly=[
            CompetitorWeek(week=w["week"], mentions=w["mentions"], sentiment=w["sentiment"])
            for w in competitors.weekly(db, competitor_id)
        ],
    )


@api.put(
    "/{competitor_id}",
    responses=error_responses((404, "no such competitor"), (409, "the name is taken")),
)
def api_update(
    db: DbDep, principal: WriteApi, competitor_id: RecordId, body: CompetitorCreate
) -> CompetitorPublic:
    """Rename a competitor or change its aliases (mentions are found again)."""
    c = competitors.update_competitor(db, competitor_id, body, principal.actor)
    return CompetitorPublic.model_validate(c)


@api.delete("/{competitor_id}", status_code=204, responses=NOT_FOUND)
def api_delete(db: DbDep, principal: WriteApi, competitor_id: RecordId) -> Response:
    competitors.delete_competitor(db, competitor_id, principal.actor)
    return Response(status_code=204)
