"""One search over research and feedback: "what do we already know about X".

Research text (insights, highlights, note passages) is searched like the feedback hub
searches feedback: full text in the database (FTS5 / tsvector) and meaning from the sentence
vectors of the same offline model, fused by reciprocal rank; feedback is searched by the
feedback hub's own engine. The answer comes in that order: insights first, then highlights,
then passages of notes, then raw feedback. Filters: study, method, tag, segment, date (a
study or method filter leaves feedback out: feedback belongs to no study).

The index holds research text with participants' names already replaced by pseudonyms, so
what search shows names no one, whoever asks.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.orm import Session

from productops import feedback
from productops.core.errors import InvalidInput
from productops.core.workspace import Workspace
from productops.research.models import (
    Chunk,
    Highlight,
    HighlightTag,
    InsightHighlight,
    InsightTag,
    Study,
)
from productops.research.participants.service import participant_filter

CANDIDATES = 300
RRF_K = 60
MIN_SIMILARITY = 0.3
MAX_QUERY_CHARS = 500
KINDS = ("insight", "highlight", "note")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Filters:
    study_id: int | None = None
    method: str | None = None
    tag_id: int | None = None
    segment: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise InvalidInput("the first day is after the last day")

    @property
    def research_only(self) -> bool:
        return self.study_id is not None or bool(self.method)


@dataclass(frozen=True)
class Found:
    """One research result: an insight, a highlight or a passage of a note."""

    kind: str
    ref_id: int
    note_id: int | None
    study_id: int | None
    text: str
    score: float
    day: dt.datetime


@dataclass
class Answer:
    query: str
    insights: list[Found] = field(default_factory=list)
    highlights: list[Found] = field(default_factory=list)
    notes: list[Found] = field(default_factory=list)
    feedback: list[Any] = field(default_factory=list)  # the feedback hub's hits
    totals: dict[str, int] = field(default_factory=dict)
    took_ms: float = 0.0
    feedback_left_out: bool = False


# --- the vectors in memory ---------------------------------------------------------------


@dataclass
class _Index:
    version: tuple[Any, ...] = ()
    checked: float = 0.0
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 384), np.float32))


_indexes: dict[str, _Index] = {}
_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="research-search")
# The newest row's id is one step down the primary key, checked every query (an edit writes
# new rows, so it moves); counting rows, and rows with a vector, scans the table, so that is
# checked at most this often (vectors are filled in by a job, and this process's job forgets
# the index itself; a removed row left in memory is skipped, as its id finds nothing).
FULL_CHECK_SECONDS = 10.0


def _cheap_version(session: Session) -> tuple[Any, ...]:
    return (session.scalar(select(func.max(Chunk.id))),)


def _full_version(session: Session) -> tuple[Any, ...]:
    counted = select(func.count(Chunk.id), func.count(Chunk.vector))
    return (*_cheap_version(session), *session.execute(counted).one())


def forget(ws: Workspace) -> None:
    """Drop the workspace's vectors from memory (after the embedding job wrote new ones)."""
    with _lock:
        _indexes.pop(str(ws.path), None)


def vector_index(ws: Workspace, session: Session) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, unit vectors) of the workspace, loaded once and again when they change."""
    key = str(ws.path)
    cheap = _cheap_version(session)
    with _lock:
        index = _indexes.get(key)
        fresh = (
            index is not None
            and index.version[:1] == cheap
            and time.monotonic() - index.checked < FULL_CHECK_SECONDS
        )
        if fresh and index is not None:
            return index.ids, index.matrix
    version = _full_version(session)
    with _lock:
        index = _indexes.get(key)
        if index is not None and index.version == version:
            index.checked = time.monotonic()
            return index.ids, index.matrix
    rows = session.execute(
        select(Chunk.id, Chunk.vector).where(Chunk.vector.is_not(None)).order_by(Chunk.id)
    ).all()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.zeros((len(rows), feedback.DIMENSIONS), dtype=np.float32)
    for i, (_, blob) in enumerate(rows):
        matrix[i] = np.frombuffer(blob or b"", dtype=np.float32)
    with _lock:
        _indexes[key] = _Index(version, time.monotonic(), ids, matrix)
    return ids, matrix


# --- filters -----------------------------------------------------------------------------


def _conditions(f: Filters) -> list[Any]:
    c: list[Any] = []
    if f.study_id is not None:
        c.append(Chunk.study_id == f.study_id)
    if f.method:
        c.append(Chunk.study_id.in_(select(Study.id).where(Study.method == f.method)))
    if f.since:
        c.append(Chunk.day >= dt.datetime.combine(f.since, dt.time(), dt.UTC))
    if f.until:
        c.append(Chunk.day < dt.datetime.combine(f.until + dt.timedelta(days=1), dt.time(), dt.UTC))
    if f.tag_id is not None:
        tagged_highlights = select(HighlightTag.highlight_id).where(HighlightTag.tag_id == f.tag_id)
        c.append(
            or_(
                and_(Chunk.kind == "highlight", Chunk.ref_id.in_(tagged_highlights)),
                and_(
                    Chunk.kind == "insight",
                    or_(
                        Chunk.ref_id.in_(
                            select(InsightTag.insight_id).where(InsightTag.tag_id == f.tag_id)
                        ),
                        Chunk.ref_id.in_(
                            select(InsightHighlight.insight_id).where(
                                InsightHighlight.highlight_id.in_(tagged_highlights)
                            )
                        ),
                    ),
                ),
                and_(
                    Chunk.kind == "note",
                    exists().where(
                        Highlight.note_id == Chunk.note_id,
                        Highlight.id.in_(tagged_highlights),
                    ),
                ),
            )
        )
    if f.segment:
        from productops.research.models import Participant

        in_segment = select(Participant.id).where(participant_filter(f.segment))
        c.append(
            or_(
                Chunk.participant_id.in_(in_segment),
                and_(
                    Chunk.kind == "insight",
                    Chunk.ref_id.in_(
                        select(InsightHighlight.insight_id)
                        .join(Highlight, Highlight.id == InsightHighlight.highlight_id)
                        .where(Highlight.participant_id.in_(in_segment))
                    ),
                ),
            )
        )
    return c


# --- full text ---------------------------------------------------------------------------


# Words that match nearly every passage (as in the feedback hub's search): left out of the
# full-text half unless the question has no other words; the meaning half reads it whole.
_STOP = """a an and are as at be but by can do for from has have how i if in is it its me my no
not of on or our please so that the their them there this to too us was we were what when where
which who why will with would you your about already know"""
STOP_WORDS = frozenset(_STOP.split())


def _terms(query: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(query)][:30]
    kept = [w for w in words if w not in STOP_WORDS]
    return kept or words


def _text_ranked(session: Session, query: str, f: Filters) -> list[int]:
    """Rows whose words match, best first (at most CANDIDATES)."""
    terms = _terms(query)
    if not terms:
        return []
    conditions = _conditions(f)
    if session.get_bind().dialect.name == "sqlite":
        match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        if not conditions:
            # FTS5 ranks and cuts by itself when nothing narrows the rows.
            ranked_fts = text(
                "SELECT rowid FROM research_fts WHERE research_fts MATCH :q ORDER BY rank LIMIT :n"
            ).bindparams(q=match, n=CANDIDATES)
            return [int(r[0]) for r in session.execute(ranked_fts)]
        fts = (
            text(
                "SELECT rowid AS id, bm25(research_fts) AS rank FROM research_fts "
                "WHERE research_fts MATCH :q"
            )
            .bindparams(q=match)
            .columns(id=Chunk.id.type, rank=Chunk.position.type)
            .subquery("fts")
        )
        ranked = (
            select(Chunk.id)
            .join(fts, fts.c.id == Chunk.id)
            .where(*conditions)
            .order_by(fts.c.rank)
            .limit(CANDIDATES)
        )
    else:
        words = " | ".join(terms)
        vector = "to_tsvector('english'::regconfig, research_chunks.text)"
        matches = text(f"{vector} @@ to_tsquery('english', :q_match)").bindparams(q_match=words)
        rank = text(f"ts_rank_cd({vector}, to_tsquery('english', :q_rank)) DESC").bindparams(
            q_rank=words
        )
        ranked = select(Chunk.id).where(matches, *conditions).order_by(rank).limit(CANDIDATES)
    return list(session.scalars(ranked))


def _meaning_ranked(
    ws: Workspace, session: Session, vector: np.ndarray, f: Filters
) -> list[tuple[int, float]]:
    ids, matrix = vector_index(ws, session)
    if not len(ids):
        return []
    scores = matrix @ vector
    conditions = _conditions(f)
    if conditions:
        allowed = np.fromiter(session.scalars(select(Chunk.id).where(*conditions)), dtype=np.int64)
        scores = np.where(np.isin(ids, allowed), scores, -1.0)
    top = min(CANDIDATES, len(scores))
    best = np.argpartition(-scores, top - 1)[:top]
    best = best[np.argsort(-scores[best])]
    return [(int(ids[i]), float(scores[i])) for i in best if scores[i] >= MIN_SIMILARITY]


def what_we_know(
    ws: Workspace,
    query: str,
    filters: Filters | None = None,
    *,
    per_kind: int = 10,
    include_feedback: bool = True,
) -> Answer:
    """Everything research and feedback hold about `query`: insights first, then
    highlights, then passages of notes, then raw feedback."""
    started = time.perf_counter()
    query = query.strip()[:MAX_QUERY_CHARS]
    if not query:
        raise InvalidInput("search for some words")
    f = filters or Filters()
    answer = Answer(query=query)
    # The feedback hub's search runs beside the research part (the model and the database
    # both work outside the GIL), so the answer takes the longer of the two, not their sum.
    pending = None
    if include_feedback and not f.research_only:
        pending = _pool.submit(
            feedback.search_feedback,
            ws,
            query,
            feedback.Filters(segment=f.segment, since=f.since, until=f.until, tag_id=f.tag_id),
            limit=per_kind,
        )
    vector = feedback.embed([query])[0]
    with ws.sessions() as s:
        text_ids = _text_ranked(s, query, f)
        meaning = _meaning_ranked(ws, s, vector, f)
        scores: dict[int, float] = {}
        for rank, chunk_id in enumerate(text_ids):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, (chunk_id, _) in enumerate(meaning):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        ordered = sorted(scores, key=lambda i: -scores[i])
        # Kinds first (small rows), words only for what is shown.
        kinds = {
            r.id: r
            for r in s.execute(
                select(Chunk.id, Chunk.kind, Chunk.ref_id).where(Chunk.id.in_(ordered))
            )
        }
        seen_notes: set[int] = set()
        chosen: dict[str, list[int]] = {k: [] for k in KINDS}
        totals = dict.fromkeys(KINDS, 0)
        for chunk_id in ordered:
            c = kinds.get(chunk_id)
            if c is None:
                continue
            if c.kind == "note":
                if c.ref_id in seen_notes:
                    continue
                seen_notes.add(c.ref_id)
            totals[c.kind] += 1
            if len(chosen[c.kind]) < per_kind:
                chosen[c.kind].append(chunk_id)
        shown = [i for ids in chosen.values() for i in ids]
        columns = (Chunk.id, Chunk.kind, Chunk.ref_id, Chunk.note_id, Chunk.study_id, Chunk.text)
        full = (
            {r.id: r for r in s.execute(select(*columns, Chunk.day).where(Chunk.id.in_(shown)))}
            if shown
            else {}
        )
        buckets = {
            kind: [
                Found(c.kind, c.ref_id, c.note_id, c.study_id, c.text, scores[c.id], c.day)
                for c in (full[i] for i in ids)
            ]
            for kind, ids in chosen.items()
        }
    answer.insights, answer.highlights, answer.notes = (
        buckets["insight"],
        buckets["highlight"],
        buckets["note"],
    )
    answer.totals = {**totals, "text_matches": len(text_ids)}
    if pending is not None:
        fb = pending.result()
        answer.feedback = fb.hits
        answer.totals["feedback"] = fb.total
    else:
        answer.feedback_left_out = include_feedback
        answer.totals["feedback"] = 0
    answer.took_ms = (time.perf_counter() - started) * 1000
    return answer
