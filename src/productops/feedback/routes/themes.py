"""The theme explorer (themes with their weekly trend, emerging and growing themes, the
inbox of items no theme claims), each theme's page, tags, and their API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from productops.core import jobs
from productops.core.models import Job
from productops.feedback.charts import sentiment_bars, weekly_lines
from productops.feedback.items import service as items
from productops.feedback.items.filters import SENTIMENT_BANDS, Filters
from productops.feedback.models import FeedbackItem
from productops.feedback.routes.common import SUBNAV, form_model
from productops.feedback.schemas import (
    JobQueued,
    TagCreate,
    TagPublic,
    ThemeCreate,
    ThemePublic,
    ThemeTrendPublic,
    ThemeUpdate,
)
from productops.feedback.themes import service as themes
from productops.feedback.themes import tags
from productops.web.deps import DbDep, ReadApi, ReadPage, WriteApi, WritePage
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import RecordId
from productops.web.responses import error_responses
from productops.web.templating import render_charts

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/feedback", tags=["feedback themes"])
Weeks = Annotated[int, Query(ge=2, le=104)]


@pages.get("/feedback/themes")
def themes_page(request: Request, db: DbDep, principal: ReadPage, weeks: Weeks = 12) -> Response:
    trends = themes.trends(db, weeks=weeks)
    top = sorted(trends, key=lambda t: -sum(t.counts))[:8]
    chart = weekly_lines(
        {t.theme.name: t.counts for t in top}, trends[0].weeks if trends else [], title_y="feedback"
    )
    with_jobs = db.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.kind.in_(("feedback.discover", "feedback.process")),
            Job.status.in_(("queued", "running")),
        )
    )
    return render_charts(
        request,
        "feedback/themes.html",
        {
            "subnav": SUBNAV,
            "trends": trends,
            "emerging": [t for t in trends if t.emerging],
            "growing": [t for t in trends if t.growing and not t.emerging],
            "chart": chart,
            "weeks": weeks,
            "unassigned": themes.unassigned_count(db),
            "tags": tags.list_tags(db),
            "can_write": principal.can("write"),
            "working": bool(with_jobs),
        },
    )


@pages.get("/feedback/themes.csv")
def themes_csv(db: DbDep, principal: ReadPage, weeks: Weeks = 12) -> Response:
    return _themes_csv(themes.trends(db, weeks=weeks))


def _themes_csv(trends: list[themes.ThemeTrend]) -> Response:
    week_names = [w.isoformat() for w in trends[0].weeks] if trends else []
    rows = [
        [t.theme.id, t.theme.name, ", ".join(t.theme.key_phrases or []), t.theme.kind,
         t.theme.size, t.last_week, t.week_before, t.growth, t.emerging, t.growing, *t.counts]
        for t in trends
    ]  # fmt: skip
    columns = [
        "id", "theme", "key_phrases", "kind", "items", "last_week", "week_before",
        "growth", "emerging", "growing", *week_names,
    ]  # fmt: skip
    return csv_response(columns, rows, "themes")


@pages.post("/feedback/themes/discover")
def discover_form(db: DbDep, principal: WritePage) -> Response:
    """Queue theme discovery (processing what is pending first); its job page shows progress."""
    job = jobs.enqueue(db, "feedback.discover", {}, created_by=principal.actor)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@pages.post("/feedback/themes/new")
def create_theme_form(
    db: DbDep,
    principal: WritePage,
    name: Annotated[str, Form(min_length=1, max_length=200)],
) -> Response:
    theme = themes.create_theme(db, form_model(ThemeCreate, name=name), principal.actor)
    return RedirectResponse(f"/feedback/themes/{theme.id}", status_code=303)


@pages.post("/feedback/tags/new")
def create_tag_form(
    db: DbDep,
    principal: WritePage,
    name: Annotated[str, Form(min_length=1, max_length=100)],
) -> Response:
    tags.create_tag(db, form_model(TagCreate, name=name), principal.actor)
    return RedirectResponse("/feedback/themes#tags", status_code=303)


@pages.get("/feedback/themes/{theme_id}")
def theme_page(
    request: Request, db: DbDep, principal: ReadPage, theme_id: int, weeks: Weeks = 12
) -> Response:
    theme = themes.get_theme(db, theme_id)
    trend = themes.trends(db, weeks=weeks, theme_id=theme_id)[0]
    f = Filters(theme_id=theme_id)
    rows, total = items.list_items(db, f, limit=30)
    people, accounts = items.people_and_accounts(db, rows)
    bands = {}
    for name in SENTIMENT_BANDS:
        bands[name] = items.count_items(db, Filters(theme_id=theme_id, sentiment=name))
    account_count = db.scalar(
        select(func.count(func.distinct(FeedbackItem.account_id))).where(
            FeedbackItem.theme_id == theme_id
        )
    )
    return render_charts(
        request,
        "feedback/theme.html",
        {
            "subnav": SUBNAV,
            "theme": theme,
            "trend": trend,
            "chart": weekly_lines({theme.name: trend.counts}, trend.weeks),
            "sentiment_chart": sentiment_bars(bands),
            "bands": bands,
            "items": rows,
            "total": total,
            "accounts_count": account_count or 0,
            "people": people,
            "accounts": accounts,
            "can_write": principal.can("write"),
        },
    )


@pages.post("/feedback/themes/{theme_id}")
def update_theme_form(
    db: DbDep,
    principal: WritePage,
    theme_id: int,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    status: Annotated[str, Form(pattern="^(active|archived)$")] = "active",
) -> Response:
    themes.update_theme(
        db,
        theme_id,
        form_model(ThemeUpdate, name=name.strip(), status=status),
        principal.actor,
    )
    return RedirectResponse(f"/feedback/themes/{theme_id}", status_code=303)


# --- API -----------------------------------------------------------------------------------


_THEME_NOT_FOUND = error_responses((404, "no such theme"))


@api.get("/themes", responses=CSV_RESPONSE_DOC, response_model=list[ThemeTrendPublic])
def api_themes(
    db: DbDep, principal: ReadApi, weeks: Weeks = 12, format: Literal["json", "csv"] = "json"
) -> Any:
    """Themes with their weekly counts, growth, and whether they are emerging or growing;
    `format=csv` gives one row a theme and a column a week."""
    trends = themes.trends(db, weeks=weeks)
    if format == "csv":
        return _themes_csv(trends)
    return [
        ThemeTrendPublic(
            **ThemePublic.model_validate(t.theme).model_dump(),
            weeks=t.weeks,
            counts=t.counts,
            last_week=t.last_week,
            week_before=t.week_before,
            growth=t.growth,
            emerging=t.emerging,
            growing=t.growing,
        )
        for t in trends
    ]


@api.post("/themes", status_code=201, responses=error_responses((409, "the name is taken")))
def api_create_theme(db: DbDep, principal: WriteApi, body: ThemeCreate) -> ThemePublic:
    """A curated theme (discovery never changes it)."""
    return ThemePublic.model_validate(themes.create_theme(db, body, principal.actor))


@api.patch(
    "/themes/{theme_id}",
    responses=error_responses((404, "no such theme"), (409, "the name is taken")),
)
def api_update_theme(
    db: DbDep, principal: WriteApi, theme_id: RecordId, body: ThemeUpdate
) -> ThemePublic:
    """Rename a theme (discovery keeps the name), describe it, or archive it."""
    return ThemePublic.model_validate(themes.update_theme(db, theme_id, body, principal.actor))


@api.post("/themes/discover", status_code=202)
def api_discover(db: DbDep, principal: WriteApi) -> JobQueued:
    """Queue theme discovery; follow the job at /api/v1/jobs/{id}."""
    job = jobs.enqueue(db, "feedback.discover", {}, created_by=principal.actor)
    return JobQueued(job_id=job.id)


@api.get("/tags")
def api_tags(db: DbDep, principal: ReadApi) -> list[TagPublic]:
    """Tags with how many items carry each, and how many suggestions wait."""
    return [
        TagPublic(id=t.id, name=t.name, items=applied, suggested=suggested)
        for t, applied, suggested in tags.list_tags(db)
    ]


@api.post("/tags", status_code=201, responses=error_responses((409, "the name is taken")))
def api_create_tag(db: DbDep, principal: WriteApi, body: TagCreate) -> TagPublic:
    tag = tags.create_tag(db, body, principal.actor)
    return TagPublic(id=tag.id, name=tag.name, items=0, suggested=0)
