"""Hybrid search over all feedback: full text in the database (SQLite FTS5, PostgreSQL
tsvector with a GIN index) and meaning from the stored sentence vectors, fused by
reciprocal rank, under the same filters as every list (source, date, segment, plan, ARR
band, sentiment, theme, request, competitor…). Saved views keep a search under a name.

The vectors of the workspace are held in memory (100,000 items are 150 MB of float32) and
reloaded when they change; a query is one matrix product.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.workspace import Workspace
from productops.feedback.items.filters import Filters, apply
from productops.feedback.models import FeedbackItem, FeedbackVector, SavedView
from productops.feedback.processing import embeddings
from productops.feedback.processing import service as processing
from productops.feedback.schemas import SavedViewCreate
from productops.feedback.settings import section

CANDIDATES = 300
RRF_K = 60
MIN_SIMILARITY = 0.3  # below this, a semantic neighbour is not a match
MAX_QUERY_CHARS = 500
MODES = ("hybrid", "text", "meaning")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Hit:
    item: FeedbackItem
    score: float
    text_rank: int | None
    similarity: float | None


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    total: int
    took_ms: float
    mode: str


# --- the vectors in memory -------------------------------------------------------------------


@dataclass
class _Index:
    version: tuple[Any, ...] = ()
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    matrix: np.ndarray = field(
        default_factory=lambda: np.zeros((0, embeddings.DIMENSIONS), np.float32)
    )


_indexes: dict[str, _Index] = {}
_lock = threading.Lock()


def _version(session: Session) -> tuple[Any, ...]:
    row = session.execute(
        select(
            func.count(FeedbackVector.item_id),
            func.max(FeedbackVector.created_at),
            func.sum(FeedbackVector.item_id),
        )
    ).one()
    return tuple(row)


def vector_index(ws: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, unit vectors) of the workspace, loaded once and again when they change."""
    key = str(ws.path)
    with ws.sessions() as s:
        version = _version(s)
    with _lock:
        index = _indexes.get(key)
        if index is None or index.version != version:
            ids, matrix = processing.load_vectors(ws)
            index = _Index(version, ids, np.ascontiguousarray(matrix))
            _indexes[key] = index
        return index.ids, index.matrix


# --- full text ---------------------------------------------------------------------------


def _terms(query: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(query)][:30]


def _fts_sqlite(terms: list[str]) -> Any:
    # Every term quoted (no FTS5 syntax from the user), any term may match; bm25 ranks.
    match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
    sql = (
        "SELECT rowid AS id, bm25(feedback_fts) AS rank FROM feedback_fts "
        "WHERE feedback_fts MATCH :q"
    )
    return (
        text(sql)
        .bindparams(q=match)
        .columns(id=FeedbackItem.id.type, rank=FeedbackItem.sentiment.type)
        .subquery("fts")
    )


_PG_VECTOR = "to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || text)"


def _text_ranked(session: Session, query: str, f: Filters) -> tuple[list[int], int]:
    """Items whose words match (best first, at most CANDIDATES), and how many match."""
    terms = _terms(query)
    if not terms:
        return [], 0
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        fts = _fts_sqlite(terms)
        base = select(FeedbackItem.id).join(fts, fts.c.id == FeedbackItem.id)
        ranked = apply(base, f).order_by(fts.c.rank).limit(CANDIDATES)
        counted = apply(
            select(func.count()).select_from(FeedbackItem).join(fts, fts.c.id == FeedbackItem.id), f
        )
    else:
        words = " | ".join(terms)
        matches = text(f"{_PG_VECTOR} @@ to_tsquery('english', :q_match)").bindparams(q_match=words)
        rank = text(f"ts_rank_cd({_PG_VECTOR}, to_tsquery('english', :q_rank)) DESC").bindparams(
            q_rank=words
        )
        ranked = apply(select(FeedbackItem.id).where(matches), f).order_by(rank).limit(CANDIDATES)
        counted = apply(select(func.count(FeedbackItem.id)).where(matches), f)
    ids = list(session.scalars(ranked))
    total = int(session.scalar(counted) or 0)
    return ids, total


# --- meaning -----------------------------------------------------------------------------


def _allowed(session: Session, f: Filters) -> np.ndarray | None:
    if not f.as_query() and f.include_duplicates:
        return None
    return np.fromiter(session.scalars(apply(select(FeedbackItem.id), f)), dtype=np.int64)


def _meaning_ranked(
    ws: Workspace, session: Session, query: str, f: Filters
) -> tuple[list[tuple[int, float]], int]:
    ids, matrix = vector_index(ws)
    if not len(ids):
        return [], 0
    q = embeddings.embed([query], threads=section(ws).embedding_threads)[0]
    scores = matrix @ q
    allowed = _allowed(session, f)
    if allowed is not None:
        scores = np.where(np.isin(ids, allowed), scores, -1.0)
    matching = int((scores >= MIN_SIMILARITY).sum())
    top = min(CANDIDATES, len(scores))
    best = np.argpartition(-scores, top - 1)[:top]
    best = best[np.argsort(-scores[best])]
    return [(int(ids[i]), float(scores[i])) for i in best if scores[i] >= MIN_SIMILARITY], matching


def search(
    ws: Workspace,
    query: str,
    filters: Filters | None = None,
    *,
    mode: str = "hybrid",
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    """Feedback matching `query` by its words, its meaning, or both (reciprocal rank
    fusion), under `filters`; best first."""
    started = time.perf_counter()
    if mode not in MODES:
        raise InvalidInput(f"mode '{mode}' is not one of {', '.join(MODES)}")
    query = query.strip()[:MAX_QUERY_CHARS]
    if not query:
        raise InvalidInput("search for some words")
    f = filters or Filters()
    with ws.sessions() as s:
        text_ids, text_total = ([], 0) if mode == "meaning" else _text_ranked(s, query, f)
        meaning, meaning_total = ([], 0) if mode == "text" else _meaning_ranked(ws, s, query, f)
        scores: dict[int, float] = {}
        for rank, item_id in enumerate(text_ids):
            scores[item_id] = scores.get(item_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, (item_id, _) in enumerate(meaning):
            scores[item_id] = scores.get(item_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        ordered = sorted(scores, key=lambda i: -scores[i])
        page = ordered[offset : offset + limit]
        items = {i.id: i for i in s.scalars(select(FeedbackItem).where(FeedbackItem.id.in_(page)))}
        text_rank = {item_id: r + 1 for r, item_id in enumerate(text_ids)}
        similarity = dict(meaning)
        hits = [
            Hit(items[i], scores[i], text_rank.get(i), similarity.get(i))
            for i in page
            if i in items
        ]
        s.expunge_all()
    total = {"text": text_total, "meaning": meaning_total}.get(mode, max(len(scores), text_total))
    return SearchResult(hits, total, (time.perf_counter() - started) * 1000, mode)


# --- saved views -------------------------------------------------------------------------


def save_view(session: Session, owner: str, data: SavedViewCreate) -> SavedView:
    """Keep a search (its words and filters) under a name, for its owner."""
    query = dict(data.query)
    q = query.pop("q", None)
    mode = query.pop("mode", None)
    Filters.from_query(query)  # refuse unknown or malformed filters now, not when opened
    view = SavedView(name=data.name.strip(), owner=owner, query={**query, "q": q, "mode": mode})
    session.add(view)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"you already have a view named '{data.name}'") from None
    audit.record(session, owner, "feedback.view_saved", "saved_view", view.id, {"name": view.name})
    return view


def list_views(session: Session, owner: str) -> list[SavedView]:
    return list(
        session.scalars(select(SavedView).where(SavedView.owner == owner).order_by(SavedView.name))
    )


def get_view(session: Session, owner: str, view_id: int) -> SavedView:
    view = session.get(SavedView, view_id)
    if view is None or view.owner != owner:
        raise NotFound(f"no saved view {view_id}")
    return view


def delete_view(session: Session, owner: str, view_id: int) -> None:
    view = get_view(session, owner, view_id)
    session.delete(view)
    session.flush()
    audit.record(session, owner, "feedback.view_deleted", "saved_view", view_id, {})


def view_filters(view: SavedView) -> tuple[str | None, str, Filters]:
    """(words, mode, filters) of a saved view."""
    query = dict(view.query or {})
    q = query.pop("q", None)
    mode = query.pop("mode", None) or "hybrid"
    return q, mode, Filters.from_query({k: v for k, v in query.items() if v not in (None, "")})


# The name the pillar's public API gives `search` (the room itself is called `search`).
search_feedback = search
