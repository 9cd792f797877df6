"""`/api/v1/feedback`: send feedback (one or a batch), list and search it with filters, export
it, triage it, tag it, import files, and keep saved views."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from productops.core import jobs
from productops.core.db import transaction
from productops.core.errors import InvalidInput
from productops.core.schemas import Page
from productops.feedback.importers import SOURCES, InputFile
from productops.feedback.items import service as items
from productops.feedback.items.filters import Filters
from productops.feedback.routes.common import query_filters, read_upload
from productops.feedback.schemas import (
    FeedbackBatch,
    FeedbackCreate,
    FeedbackCreated,
    FeedbackDetail,
    FeedbackPublic,
    ImportSummary,
    SavedViewCreate,
    SavedViewPublic,
    SearchHit,
    SearchMode,
    SearchPublic,
    Sort,
    TagState,
    TriageUpdate,
)
from productops.feedback.search import service as search
from productops.feedback.settings import section
from productops.feedback.themes import tags
from productops.web.deps import DbDep, ReadApi, WriteApi, reads_only, workspace_of
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import Offset, RecordId
from productops.web.responses import error_responses

api = APIRouter(prefix="/api/v1/feedback", tags=["feedback"])
FiltersDep = Annotated[Filters, Depends(query_filters)]
NOT_FOUND = error_responses((404, "no such feedback (or tag)"))
# Words to find: at least one character that is not blank.
SearchWords = Annotated[
    str, Query(min_length=1, max_length=500, pattern=r"[^\x00-\x20\x7f-\xa0]", description="words")
]


@api.get("", responses=CSV_RESPONSE_DOC, response_model=Page[FeedbackPublic])
def api_list(
    db: DbDep,
    principal: ReadApi,
    f: FiltersDep,
    sort: Sort = "newest",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Feedback with filters (source, kind, status, since, until, segment, plan, arr_band,
    sentiment, theme (0: none), request, competitor, tag, account, person, language);
    `format=csv` gives every match as CSV."""
    if format == "csv":
        columns, rows = items.export_items(db, f, sort=sort)
        return csv_response(columns, rows, "feedback")
    rows_, total = items.list_items(db, f, sort=sort, limit=limit, offset=offset)
    return Page[FeedbackPublic](
        items=[FeedbackPublic.model_validate(i) for i in rows_],
        total=total,
        limit=limit,
        offset=offset,
    )


@api.post("", status_code=201)
def api_create(
    request: Request, db: DbDep, principal: WriteApi, body: FeedbackCreate | FeedbackBatch
) -> FeedbackCreated:
    """Send one piece of feedback, or a batch (`{"items": [...]}`, up to 1,000). Idempotent
    on (source, external_id): sending again updates instead of adding. Processing (sentiment,
    vectors, themes) follows in a background job."""
    payloads = body.items if isinstance(body, FeedbackBatch) else [body]
    result, stored = items.create_feedback(
        db, payloads, principal.actor, redact_pii=section(workspace_of(request)).redact_pii
    )
    job = None
    if result.created or result.updated:
        job = jobs.enqueue(db, "feedback.process", {}, created_by=principal.actor).id
    return FeedbackCreated(**result.as_dict(), ids=[i.id for i in stored], process_job=job)


@api.get("/search")
def api_search(
    request: Request,
    principal: ReadApi,
    f: FiltersDep,
    q: SearchWords,
    mode: SearchMode = "hybrid",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> SearchPublic:
    """Hybrid search: full text and meaning (offline sentence vectors), fused by rank, under
    the same filters as the list."""
    result = search.search(workspace_of(request), q, f, mode=mode, limit=limit, offset=offset)
    return SearchPublic(
        total=result.total,
        took_ms=round(result.took_ms, 1),
        mode=result.mode,
        hits=[
            SearchHit(
                **FeedbackPublic.model_validate(h.item).model_dump(),
                relevance=round(h.score, 6),
                text_rank=h.text_rank,
                similarity=None if h.similarity is None else round(h.similarity, 4),
            )
            for h in result.hits
        ],
    )


@api.get("/views")
def api_views(db: DbDep, principal: ReadApi) -> list[SavedViewPublic]:
    """Your saved views (each caller's own)."""
    return [
        SavedViewPublic(id=v.id, name=v.name, query=v.query)
        for v in search.list_views(db, principal.actor)
    ]


@api.post(
    "/views", status_code=201, responses=error_responses((409, "you have a view of that name"))
)
def api_save_view(db: DbDep, principal: WriteApi, body: SavedViewCreate) -> SavedViewPublic:
    """Keep a search (`q`, `mode`, `sort` and any list filter) under a name."""
    v = search.save_view(db, principal.actor, body)
    return SavedViewPublic(id=v.id, name=v.name, query=v.query)


@api.delete("/views/{view_id}", status_code=204, responses=error_responses((404, "no such view")))
def api_delete_view(db: DbDep, principal: WriteApi, view_id: RecordId) -> Response:
    """Delete one of your saved views."""
    search.delete_view(db, principal.actor, view_id)
    return Response(status_code=204)


_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@api.post("/import", openapi_extra=_FILE_BODY, responses=error_responses(413))
@reads_only  # the request's own session only reads: the import writes in a transaction of its own
async def api_import(
    request: Request,
    principal: WriteApi,
    source: Annotated[str, Query(pattern=f"^({'|'.join(SOURCES)})$", description="the source")],
    filename: Annotated[str, Query(max_length=200)] = "upload",
    records_path: Annotated[str | None, Query(max_length=200)] = None,
    survey_type: Literal["nps", "csat"] = "nps",
    mapping: Annotated[
        list[str], Query(description="target=column, for csv and json (repeat)")
    ] = [],  # noqa: B006 - FastAPI reads the default
) -> ImportSummary:
    """Import one file of a source from the request body (as `feedback import` does): all or
    nothing, idempotent. Processing follows in a background job."""
    pairs = {}
    for pair in mapping:
        target, sep, column = pair.partition("=")
        if not sep:
            raise InvalidInput(f"mapping '{pair[:60]}': write target=column")
        pairs[target.strip()] = column.strip()
    data = await read_upload(request)
    ws = workspace_of(request)

    def work() -> ImportSummary:
        with transaction(ws.sessions) as s:
            result = items.import_feedback(
                s,
                source,
                [InputFile(filename, data)],
                principal.actor,
                mapping=pairs or None,
                records_path=records_path,
                survey_type=survey_type,
                redact_pii=section(ws).redact_pii,
            )
            if result.created or result.updated:
                jobs.enqueue(s, "feedback.process", {}, created_by=principal.actor)
            return ImportSummary(**result.as_dict())

    return await run_in_threadpool(work)


@api.get("/{item_id}", responses=NOT_FOUND)
def api_get(db: DbDep, principal: ReadApi, item_id: RecordId) -> FeedbackDetail:
    """One piece of feedback with its tags (applied and suggested) and its duplicates."""
    item = items.get_item(db, item_id)
    return FeedbackDetail(
        **FeedbackPublic.model_validate(item).model_dump(),
        tags=[
            TagState(id=t.id, name=t.name, state=link.state, confidence=link.confidence)
            for t, link in tags.tags_of(db, [item_id]).get(item_id, [])
        ],
        duplicates=[d.id for d in items.duplicates_of(db, item_id)],
    )


@api.patch("/{item_id}", responses=NOT_FOUND)
def api_triage(
    db: DbDep, principal: WriteApi, item_id: RecordId, body: TriageUpdate
) -> FeedbackPublic:
    """Triage: status (new, triaged, duplicate, spam), theme (0 removes it), duplicate of."""
    return FeedbackPublic.model_validate(items.triage(db, item_id, body, principal.actor))


@api.put("/{item_id}/tags/{tag_id}", status_code=204, responses=NOT_FOUND)
def api_tag(db: DbDep, principal: WriteApi, item_id: RecordId, tag_id: RecordId) -> Response:
    """Apply a tag (or confirm its suggestion)."""
    tags.apply_tag(db, item_id, tag_id, principal.actor)
    return Response(status_code=204)


@api.delete("/{item_id}/tags/{tag_id}", status_code=204, responses=NOT_FOUND)
def api_untag(db: DbDep, principal: WriteApi, item_id: RecordId, tag_id: RecordId) -> Response:
    """Remove a tag (or reject its suggestion: it is not suggested again)."""
    tags.remove_tag(db, item_id, tag_id, principal.actor)
    return Response(status_code=204)
