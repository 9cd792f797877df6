"""The learning library on the web (`/experiments/library`, `/api/v1/library`) and the
experiment doc (`/experiments/{key}/doc`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from productops.experiments.library import service
from productops.experiments.registry import service as registry
from productops.experiments.schemas import KEY_RE
from productops.web.deps import DbDep, ReadApi, ReadPage
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import Offset
from productops.web.responses import error_responses
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["experiments"])
Search = Annotated[
    str | None, Query(max_length=200, description="words in the name, hypothesis or learnings")
]
Short = Annotated[str | None, Query(max_length=100)]
Decision = Literal["", "ship", "rollback", "iterate", "inconclusive"]
ExpKey = Annotated[str, Path(pattern=KEY_RE)]


def _rows(entries: list[service.Entry]) -> tuple[list[str], list[list[Any]]]:
    columns = [
        "key",
        "name",
        "decision",
        "winner",
        "decided_at",
        "primary_metric",
        "result",
        "tags",
        "hypothesis",
        "learnings",
    ]
    return columns, [
        [
            e.experiment.key,
            e.experiment.name,
            e.experiment.decision,
            e.experiment.winner,
            e.experiment.decided_at.isoformat() if e.experiment.decided_at else "",
            e.experiment.primary_metric,
            e.headline,
            ",".join(e.experiment.tags),
            e.experiment.hypothesis,
            e.experiment.learnings,
        ]
        for e in entries
    ]


@api.get("/library", responses=CSV_RESPONSE_DOC)
def api_library(
    db: DbDep,
    principal: ReadApi,
    q: Search = None,
    tag: Short = None,
    decision: Decision = "",
    metric: Short = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Decided experiments with the headline of the results frozen at the decision."""
    entries, total = service.search(
        db,
        q=q,
        tag=tag,
        decision=decision or None,
        metric=metric,
        limit=None if format == "csv" else limit,
        offset=0 if format == "csv" else offset,
    )
    columns, rows = _rows(entries)
    if format == "csv":
        return csv_response(columns, rows, "learning-library")
    return {
        "items": [dict(zip(columns, r, strict=True)) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@api.get(
    "/experiments/{key}/doc",
    response_class=Response,
    responses={
        200: {
            "content": {"text/markdown": {"schema": {"type": "string"}}},
            "description": "The experiment doc, Markdown",
        },
        **error_responses((404, "no experiment of that key")),
    },
)
def api_doc(db: DbDep, principal: ReadApi, key: ExpKey) -> Response:
    """The experiment doc as Markdown (the frozen results once decided)."""
    exp = registry.experiment_by_key(db, key)
    snap = registry.frozen_result(db, exp.id) or registry.latest_result(db, exp.id)
    return Response(
        service.experiment_doc(exp, snap.data if snap else None),
        media_type="text/markdown; charset=utf-8",
    )


@pages.get("/experiments/library")
def library_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Search = None,
    tag: Short = None,
    decision: Decision = "",
    metric: Short = None,
) -> Response:
    entries, total = service.search(
        db, q=q, tag=tag, decision=decision or None, metric=metric, limit=100
    )
    return render(
        request,
        "experiments/library.html",
        {
            "entries": entries,
            "total": total,
            "suggestions": registry.did_you_mean(db, q, "decided") if q and not total else [],
            "q": q or "",
            "tag": tag or "",
            "decision": decision,
            "metric": metric or "",
            "tags": service.all_tags(db),
            "query": request.url.query,
        },
    )


@pages.get("/experiments/library.csv")
def library_csv(
    db: DbDep,
    principal: ReadPage,
    q: Search = None,
    tag: Short = None,
    decision: Decision = "",
    metric: Short = None,
) -> Response:
    entries, _ = service.search(
        db, q=q, tag=tag, decision=decision or None, metric=metric, limit=None
    )
    columns, rows = _rows(entries)
    return csv_response(columns, rows, "learning-library")


@pages.get("/experiments/{key}/doc")
def doc_page(
    request: Request, db: DbDep, principal: ReadPage, key: ExpKey, download: bool = False
) -> Response:
    exp = registry.experiment_by_key(db, key)
    snap = registry.frozen_result(db, exp.id) or registry.latest_result(db, exp.id)
    text = service.experiment_doc(exp, snap.data if snap else None)
    if download:
        return Response(
            text,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{exp.key}.md"'},
        )
    return render(request, "experiments/doc.html", {"exp": exp, "text": text})
