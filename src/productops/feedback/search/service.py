"""Hybrid search over all feedback: full text in the database (SQLite FTS5, PostgreSQL
tsvector with a GIN index) and meaning from the stored sentence vectors, fused by
reciprocal rank, under the same filters as every list (source, date, segment, plan, ARR
band, sentiment, theme, request, competitor…). Saved views keep a search under a name.

The vectors of the workspace are held in memory (100,000 items are 150 MB of float32) and
reloaded when they change; a query is one matrix product.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, func, select, text
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
# Meaning: this many nearest items are taken before the filters narrow them.
NEAREST = 3000
RECHECK_SECONDS = 2.0
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
    checked: float = 0.0
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    matrix: np.ndarray = field(
        default_factory=lambda: np.zeros((0, embeddings.DIMENSIONS), np.float32)
    )


_indexes: dict[str, _Index] = {}
_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="feedback-search")


def _version(session: Session) -> tuple[Any, ...]:
    # Both come from indexes (the primary key's count, the created_at index's maximum).
    row = session.execute(
        select(func.count(FeedbackVector.item_id), func.max(FeedbackVector.created_at))
    ).one()
    return tuple(row)


def vector_index(ws: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, unit vectors) of the workspace, loaded once and again when they change
    (checked at most every `RECHECK_SECONDS`)."""
    key = str(ws.path)
    with _lock:
        index = _indexes.get(key)
        if index is not None and time.monotonic() - index.checked < RECHECK_SECONDS:
            return index.ids, index.matrix
        with ws.sessions() as s:
            version = _version(s)
        if index is None or index.version != version:
            ids, matrix = processing.load_vectors(ws)
            index = _Index(version, time.monotonic(), ids, np.ascontiguousarray(matrix))
            _indexes[key] = index
        index.checked = time.monotonic()
        return index.ids, index.matrix


# --- full text ---------------------------------------------------------------------------


# Words that match nearly everything: left out of the full-text half (the meaning half reads
# the whole question).
_STOP = """a an and are as at be but by can do for from has have how i if in is it its me my no
not of on or our please so that the their them there this to too us was we were what when where
which who why will with would you your"""
STOP_WORDS = frozenset(_STOP.split())
COUNT_CAP = 10_000


def _terms(query: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(query)][:30]
    kept = [w for w in words if w not in STOP_WORDS]
    return kept or words


_PG_VECTOR = "to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || text)"


def _text_ranked(session: Session, query: str, f: Filters) -> tuple[list[int], int]:
    """Items whose words match (best first, at most CANDIDATES), and how many match."""
    terms = _terms(query)
    if not terms:
        return [], 0
    dialect = session.get_bind().dialect.name
    filtered = bool(f.as_query()) or not f.include_duplicates
    if dialect == "sqlite":
        match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        # FTS5 ranks and stops at the limit by itself when asked directly; filters then
        # narrow the best matches by their ids (primary key).
        top = NEAREST if filtered else CANDIDATES
        ids = [
            int(r[0])
            for r in session.execute(
                text(
                    "SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH :q "
                    "ORDER BY rank LIMIT :n"
                ),
                {"q": match, "n": top},
            )
        ]
        total = int(
            session.scalar(
                text(
                    "SELECT count(*) FROM (SELECT 1 FROM feedback_fts WHERE feedback_fts "
                    "MATCH :q LIMIT :cap)"
                ),
                {"q": match, "cap": COUNT_CAP},
            )
            or 0
        )
        if not filtered:
            return ids, total
        kept = _narrow(session, ids, f)
        ranked_ids = [i for i in ids if i in kept]
        if total > len(ids):  # more matches than were narrowed: count them all, capped
            matching = FeedbackItem.id.in_(
                text("SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH :q").bindparams(
                    q=match
                )
            )
            counted = apply(select(FeedbackItem.id).where(matching), f).limit(COUNT_CAP)
            total = int(session.scalar(select(func.count()).select_from(counted.subquery())) or 0)
        else:
            total = len(ranked_ids)
        return ranked_ids[:CANDIDATES], total
    else:
        words = " | ".join(terms)
        matches = text(f"{_PG_VECTOR} @@ to_tsquery('english', :q_match)").bindparams(q_match=words)
        rank = text(f"ts_rank_cd({_PG_VECTOR}, to_tsquery('english', :q_rank)) DESC").bindparams(
            q_rank=words
        )
        ranked = apply(select(FeedbackItem.id).where(matches), f).order_by(rank).limit(CANDIDATES)
        counted = apply(select(FeedbackItem.id).where(matches), f).limit(COUNT_CAP)
    ids = list(session.scalars(ranked))
    total = int(session.scalar(select(func.count()).select_from(counted.subquery())) or 0)
    return ids, total


# --- meaning -----------------------------------------------------------------------------


def _narrow(session: Session, ids: list[int], f: Filters) -> set[int]:
    """Which of `ids` the filters keep: one query on the primary key (the ids travel as one
    JSON array, not thousands of parameters)."""
    if not ids:
        return set()
    listed: ColumnElement[bool]
    if session.get_bind().dialect.name == "sqlite":
        listed = FeedbackItem.id.in_(
            text("SELECT value FROM json_each(:ids)").bindparams(ids=json.dumps(ids))
        )
    else:
        listed = FeedbackItem.id == func.any(
            text("CAST(:ids AS bigint[])").bindparams(ids="{" + ",".join(map(str, ids)) + "}")
        )
    return set(session.scalars(apply(select(FeedbackItem.id).where(listed), f)))


def _meaning_ranked(
    ws: Workspace, session: Session, query: str, f: Filters
) -> tuple[list[tuple[int, float]], int]:
    """The nearest items by meaning (best first, at most CANDIDATES) under the filters, and
    how many items are that close (counted among the NEAREST when filters apply)."""
    ids, matrix = vector_index(ws)
    if not len(ids):
        return [], 0
    q = embeddings.embed([query], threads=section(ws).embedding_threads)[0]
    scores = matrix @ q
    matching = int((scores >= MIN_SIMILARITY).sum())
    top = min(NEAREST, len(scores))
    nearest = np.argpartition(-scores, top - 1)[:top]
    nearest = nearest[scores[nearest] >= MIN_SIMILARITY]
    nearest = nearest[np.argsort(-scores[nearest])]
    ranked = [(int(ids[i]), float(scores[i])) for i in nearest]
    if f.as_query() or not f.include_duplicates:
        # The filters narrow the nearest items in one query on their ids (primary key).
        kept = set(
            session.scalars(
                apply(select(FeedbackItem.id).where(FeedbackItem.id.in_([i for i, _ in ranked])), f)
            )
        )
        ranked = [(i, sim) for i, sim in ranked if i in kept]
        matching = len(ranked)
    return ranked[:CANDIDATES], matching


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

    def by_meaning() -> tuple[list[tuple[int, float]], int]:
        with ws.sessions() as own:
            return _meaning_ranked(ws, own, query, f)

    # Words and meaning at once: the database and the model both work outside the GIL.
    pending = _pool.submit(by_meaning) if mode != "text" else None
    with ws.sessions() as s:
        text_ids, text_total = ([], 0) if mode == "meaning" else _text_ranked(s, query, f)
        meaning, meaning_total = pending.result() if pending is not None else ([], 0)
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
    query = data.query.stored()
    # Refuse filters that cannot go together (since after until) now, not when opened.
    Filters.from_query({k: v for k, v in query.items() if k not in ("q", "mode", "sort")})
    view = SavedView(name=data.name.strip(), owner=owner, query=query)
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
    query.pop("sort", None)
    return q, mode, Filters.from_query({k: v for k, v in query.items() if v not in (None, "")})


# The name the pillar's public API gives `search` (the room itself is called `search`).
search_feedback = search
