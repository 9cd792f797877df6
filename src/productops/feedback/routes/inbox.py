"""The triage inbox (and search) and each item's page with its keyboard-driven actions:
done, spam, theme, request, duplicate, tags. Every action goes on to the next item of the
same list."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BeforeValidator
from sqlalchemy import select
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.core.errors import InvalidInput
from productops.customers import PEOPLE_PII, distinct_values
from productops.feedback.competitors import service as competitors
from productops.feedback.items import service as items
from productops.feedback.items.filters import (
    ARR_BANDS,
    SENTIMENT_BANDS,
    SORTS,
    Filters,
    apply,
    order,
)
from productops.feedback.models import STATUSES, FeedbackItem, Mention
from productops.feedback.requests import service as requests
from productops.feedback.routes.common import (
    PAGE_SIZE,
    SUBNAV,
    Words,
    did_you_mean,
    filter_params,
    form_model,
    highlight,
    query_filters,
)
from productops.feedback.schemas import (
    EvidenceCreate,
    RequestCreate,
    SavedQuery,
    SavedViewCreate,
    TagCreate,
    TriageUpdate,
)
from productops.feedback.search import service as search
from productops.feedback.themes import service as themes
from productops.feedback.themes import tags
from productops.web.deps import DbDep, ReadPage, WritePage, is_fragment, workspace_of
from productops.web.export import csv_response
from productops.web.params import blank_is_none
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
FiltersDep = Annotated[Filters, Depends(query_filters)]
Sort = Literal["newest", "oldest", "arr", "negative"]
Mode = Literal["hybrid", "text", "meaning"]
OptionalId = Annotated[int | None, BeforeValidator(blank_is_none)]


def _choices(db: Session) -> dict[str, Any]:
    return {
        "sources": items.sources_in_use(db),
        "statuses": STATUSES,
        "segments": distinct_values(db, "segment"),
        "plans": distinct_values(db, "plan"),
        "arr_bands": list(ARR_BANDS),
        "sentiments": list(SENTIMENT_BANDS),
        "themes": themes.list_themes(db),
        "sorts": SORTS,
    }


@pages.get("/feedback")
def inbox(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    f: FiltersDep,
    q: Words = None,
    sort: Sort = "newest",
    mode: Mode = "hybrid",
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
    status: Annotated[str | None, Query(max_length=20)] = "new",
) -> Response:
    """The inbox: new feedback by default; any filters; with words, a hybrid search."""
    ws = workspace_of(request)
    f.status = None if status in (None, "", "all") else status
    hits: list[Any] = []
    took = None
    if q:
        result = search.search(ws, q, f, mode=mode, limit=PAGE_SIZE, offset=offset)
        rows = [h.item for h in result.hits]
        hits = result.hits
        total, took = result.total, result.took_ms
    else:
        rows, total = items.list_items(db, f, sort=sort, limit=PAGE_SIZE, offset=offset)
    people, accounts = items.people_and_accounts(db, rows)
    choices = _choices(db)
    # A value typed into the address that nothing has: say so, and what was meant.
    hints = [
        f"No feedback has {label} '{value}'{did_you_mean(value, known)}."
        for label, value, known in (
            ("source", f.source, choices["sources"]),
            ("segment", f.segment, choices["segments"]),
            ("plan", f.plan, choices["plans"]),
        )
        if value and value not in known
    ]
    params = {**filter_params(f), "q": q or "", "sort": sort, "mode": mode}
    if "status" not in params:
        params["status"] = "all" if f.status is None else f.status
    context = {
        "subnav": SUBNAV,
        "items": rows,
        "hits": {h.item.id: h for h in hits},
        "total": total,
        "took_ms": took,
        "people": people,
        "accounts": accounts,
        "theme_names": {t.id: t.name for t in themes.list_themes(db, include_archived=True)},
        "f": f,
        "q": q or "",
        "sort": sort,
        "mode": mode,
        "offset": offset,
        "limit": PAGE_SIZE,
        "query": urlencode({k: v for k, v in params.items() if v not in (None, "")}),
        "views": search.list_views(db, principal.actor),
        "can_write": principal.can("write"),
        "unassigned": themes.unassigned_count(db),
        "hints": hints,
        **choices,
    }
    response = render(
        request,
        "feedback/inbox_table.html" if is_fragment(request) else "feedback/inbox.html",
        context,
    )
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


@pages.get("/feedback.csv")
def inbox_csv(
    db: DbDep,
    principal: ReadPage,
    f: FiltersDep,
    sort: Sort = "newest",
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The filtered feedback as CSV (every match, formula-safe)."""
    if not status or status == "all":
        f.status = None
    columns, rows = items.export_items(db, f, sort=sort)
    return csv_response(columns, rows, "feedback")


def _neighbours(db: Session, back: str, item_id: int) -> tuple[int | None, int | None]:
    """The items before and after `item_id` in the inbox list the person came from."""
    values = dict(parse_qsl(back))
    status = values.pop("status", "new")
    sort = values.pop("sort", "newest")
    for key in ("q", "mode", "offset"):
        values.pop(key, None)
    try:
        f = query_filters(**_typed(values))
    except (TypeError, ValueError):
        return None, None
    f.status = None if status in ("all", "") else status
    ids = list(
        db.scalars(
            order(apply(select(FeedbackItem.id), f), sort if sort in SORTS else "newest").limit(
                2000
            )
        )
    )
    if item_id not in ids:
        return None, ids[0] if ids else None
    at = ids.index(item_id)
    return (ids[at - 1] if at > 0 else None), (ids[at + 1] if at + 1 < len(ids) else None)


def _typed(values: dict[str, str]) -> dict[str, Any]:
    import datetime as dt

    out: dict[str, Any] = {}
    known = set(query_filters.__annotations__) - {"return"}
    for key, value in values.items():
        if key not in known or not value:
            continue
        if key in ("since", "until"):
            out[key] = dt.date.fromisoformat(value)
        elif key in ("theme", "request", "competitor", "tag", "account", "person"):
            out[key] = int(value)
        else:
            out[key] = value[:60]
    return out


def _safe_back(back: str | None) -> str:
    """Only a query string of the inbox (never a URL to follow elsewhere)."""
    if not back or len(back) > 2000:
        return "status=new"
    return urlencode(parse_qsl(back)[:30])


@pages.get("/feedback/items/{item_id}")
def item_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    item_id: int,
    back: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    item = items.get_item(db, item_id)
    back = _safe_back(back)
    previous, following = _neighbours(db, back, item_id)
    people, accounts = items.people_and_accounts(db, [item])
    original = items.get_item(db, item.duplicate_of_id) if item.duplicate_of_id else None
    linked = requests.requests_of_item(db, item_id)
    mentions = db.execute(
        select(Mention.competitor_id, Mention.matched).where(Mention.item_id == item_id)
    ).all()
    competitor_names = {c.id: c.name for c in competitors.list_competitors(db)}
    return render(
        request,
        "feedback/item.html",
        {
            "subnav": SUBNAV,
            "item": item,
            "person": people.get(item.person_id or 0),
            "account": accounts.get(item.account_id or 0),
            "show_contact": principal.can(PEOPLE_PII),
            "can_write": principal.can("write"),
            "back": back,
            "previous": previous,
            "following": following,
            "original": original,
            "copies": items.duplicates_of(db, item.id),
            "linked": [(r, e, highlight(item.text, e.excerpt)) for r, e in linked],
            "mentions": [(competitor_names.get(cid, "?"), m) for cid, m in mentions],
            "themes": themes.list_themes(db),
            "theme": themes.get_theme(db, item.theme_id) if item.theme_id else None,
            "item_tags": tags.tags_of(db, [item.id]).get(item.id, []),
            "all_tags": [t for t, _, _ in tags.list_tags(db)],
            "open_requests": requests.request_choices(db, open_only=True),
            "thread": [t for t in (item.extra or {}).get("thread", []) if isinstance(t, dict)][:50],
            "transcript": [
                t for t in (item.extra or {}).get("transcript", []) if isinstance(t, dict)
            ][:200],
        },
    )


def _go_on(item_id: int, back: str, following: int | None, stay: bool) -> RedirectResponse:
    query = urlencode({"back": back})
    if stay or following is None:
        target = f"/feedback/items/{item_id}?{query}" if stay else f"/feedback?{back}"
    else:
        target = f"/feedback/items/{following}?{query}"
    return RedirectResponse(target, status_code=303)


@pages.post("/feedback/items/{item_id}/triage")
def triage_form(
    db: DbDep,
    principal: WritePage,
    item_id: int,
    action: Annotated[
        Literal["done", "spam", "new", "theme", "duplicate", "request", "new_request"], Form()
    ],
    back: Annotated[str, Form(max_length=2000)] = "",
    theme_id: Annotated[OptionalId, Form()] = None,
    duplicate_of: Annotated[OptionalId, Form()] = None,
    request_id: Annotated[OptionalId, Form()] = None,
    title: Annotated[str, Form(max_length=300)] = "",
    excerpt: Annotated[str, Form(max_length=5000)] = "",
    importance: Annotated[
        Literal["unknown", "nice_to_have", "important", "critical"], Form()
    ] = "unknown",
) -> Response:
    """A triage decision from the item's page; then the next item of the same list."""
    back = _safe_back(back)
    _, following = _neighbours(db, back, item_id)
    actor = principal.actor
    stay = False
    if action == "done":
        items.triage(db, item_id, TriageUpdate(status="triaged"), actor)
    elif action == "spam":
        items.triage(db, item_id, TriageUpdate(status="spam"), actor)
    elif action == "new":
        items.triage(db, item_id, TriageUpdate(status="new"), actor)
        stay = True
    elif action == "theme":
        if theme_id is None:
            raise InvalidInput("choose a theme")
        items.triage(db, item_id, TriageUpdate(theme_id=theme_id), actor)
    elif action == "duplicate":
        if not duplicate_of:
            raise InvalidInput("give the number of the feedback this one repeats")
        items.triage(db, item_id, TriageUpdate(duplicate_of_id=duplicate_of), actor)
    elif action == "request":
        if not request_id:
            raise InvalidInput("choose a request")
        requests.attach(
            db,
            request_id,
            form_model(
                EvidenceCreate, item_id=item_id, excerpt=excerpt or None, importance=importance
            ),
            actor,
        )
    else:
        if not title.strip():
            raise InvalidInput("give the new request a title")
        requests.create_request(
            db,
            form_model(
                RequestCreate,
                title=title,
                from_item_id=item_id,
                excerpt=excerpt or None,
                importance=importance,
            ),
            actor,
        )
    return _go_on(item_id, back, following, stay)


@pages.post("/feedback/items/{item_id}/tags")
def tag_form(
    db: DbDep,
    principal: WritePage,
    item_id: int,
    action: Annotated[Literal["apply", "remove"], Form()],
    back: Annotated[str, Form(max_length=2000)] = "",
    tag_id: Annotated[OptionalId, Form()] = None,
    new_tag: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Apply, confirm, remove or reject a tag on an item."""
    if action == "apply" and new_tag.strip():
        existing = {t.name.lower(): t.id for t, _, _ in tags.list_tags(db)}
        tag_id = (
            existing.get(new_tag.strip().lower())
            or tags.create_tag(db, form_model(TagCreate, name=new_tag.strip()), principal.actor).id
        )
    if tag_id is None:
        raise InvalidInput("choose a tag")
    if action == "apply":
        tags.apply_tag(db, item_id, tag_id, principal.actor)
    else:
        tags.remove_tag(db, item_id, tag_id, principal.actor)
    return _go_on(item_id, _safe_back(back), None, stay=True)


@pages.post("/feedback/views")
def save_view_form(
    db: DbDep,
    principal: ReadPage,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    query: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Save the current search and filters under a name (each person's own views)."""
    values: dict[str, Any] = dict(parse_qsl(query))
    kept = {k: v for k, v in values.items() if v not in ("", None) and k in SavedQuery.model_fields}
    if kept.get("status") == "all":
        kept.pop("status")
    view = form_model(SavedViewCreate, name=name, query=form_model(SavedQuery, **kept))
    search.save_view(db, principal.actor, view)
    return RedirectResponse(f"/feedback?{query}", status_code=303)


@pages.get("/feedback/views/{view_id}")
def open_view(db: DbDep, principal: ReadPage, view_id: int) -> Response:
    view = search.get_view(db, principal.actor, view_id)
    q, mode, f = search.view_filters(view)
    params = {**filter_params(f), "q": q or "", "mode": mode}
    params["sort"] = (view.query or {}).get("sort") or "newest"
    params.setdefault("status", f.status or "all")
    return RedirectResponse(
        "/feedback?" + urlencode({k: v for k, v in params.items() if v}), status_code=303
    )


@pages.post("/feedback/views/{view_id}/delete")
def delete_view_form(db: DbDep, principal: ReadPage, view_id: int) -> Response:
    search.delete_view(db, principal.actor, view_id)
    return RedirectResponse("/feedback", status_code=303)


def account_section(request: Request, db: Session, principal: Principal, account_id: int) -> Any:
    """The feedback of an account, on the account's page (a section of the customers page)."""
    from markupsafe import Markup

    f = Filters(account_id=account_id)
    rows, total = items.list_items(db, f, limit=10)
    asked = requests.requests_of_account(db, account_id)
    templates = request.app.state.templates
    html = templates.get_template("feedback/_account_section.html").render(
        {
            "items": rows,
            "total": total,
            "account_id": account_id,
            "requests": asked,
            "theme_names": {t.id: t.name for t in themes.list_themes(db, include_archived=True)},
        }
    )
    return Markup(html)  # noqa: S704 - rendered by the autoescaping environment above
