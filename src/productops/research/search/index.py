"""The search index of research text: passages of notes, highlights and insights, their
words with participants' names replaced by pseudonyms, so neither the index nor its vectors
name anyone. Rows are written when research changes (full text at once, through the
migration's triggers or GIN index); sentence vectors are computed by the job
`research.embed` (the feedback hub's offline MiniLM), queued when rows lack them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from productops import feedback
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.research.models import Chunk, Highlight, Insight, Note, ResearchSession
from productops.research.pseudonyms.mask import mask
from productops.research.pseudonyms.people import note_people, who

EMBED_KIND = "research.embed"
PASSAGE_CHARS = 700
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
Progress = Callable[[int, int | None, str], object]


def passages(body: str, size: int = PASSAGE_CHARS) -> list[str]:
    """A note cut into passages of about `size` characters along paragraphs (and sentences
    of a long paragraph)."""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", body):
        para = para.strip()
        if not para:
            continue
        if len(para) <= size:
            pieces.append(para)
            continue
        current = ""
        for sentence in _SENTENCE.split(para):
            while len(sentence) > size:
                pieces.append(sentence[:size])
                sentence = sentence[size:]
            if len(current) + len(sentence) + 1 > size and current:
                pieces.append(current)
                current = ""
            current = f"{current} {sentence}".strip()
        if current:
            pieces.append(current)
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + len(piece) + 2 <= size:
            out[-1] = f"{out[-1]}\n\n{piece}"
        else:
            out.append(piece)
    return out


def drop(session: Session, kind: str, ref_id: int) -> None:
    session.execute(delete(Chunk).where(Chunk.kind == kind, Chunk.ref_id == ref_id))


def drop_note(session: Session, note_id: int) -> None:
    session.execute(delete(Chunk).where(Chunk.note_id == note_id))


def _note_day(session: Session, note: Note) -> object:
    if note.session_id is not None:
        when = session.scalar(
            select(ResearchSession.happened_at).where(ResearchSession.id == note.session_id)
        )
        if when is not None:
            return when
    return note.created_at


def index_note(session: Session, note_id: int) -> None:
    """(Re)write the passages of a note and of its highlights."""
    note = session.get(Note, note_id)
    if note is None:
        return
    people = note_people(session, note)
    masked = mask(note.body, people).text
    participant = None
    if note.session_id is not None:
        participant = session.scalar(
            select(ResearchSession.participant_id).where(ResearchSession.id == note.session_id)
        )
    day = _note_day(session, note)
    session.execute(delete(Chunk).where(Chunk.kind == "note", Chunk.ref_id == note.id))
    title = mask(note.title, people).text
    for i, text in enumerate(passages(masked)):
        session.add(
            Chunk(
                kind="note",
                ref_id=note.id,
                note_id=note.id,
                study_id=note.study_id,
                participant_id=participant,
                position=i,
                text=f"{title}\n{text}" if i == 0 else text,
                day=day,
            )
        )
    for h_id in session.scalars(select(Highlight.id).where(Highlight.note_id == note.id)):
        index_highlight(session, h_id, people=people, day=day, queue=False)
    session.flush()
    want_vectors(session)


def index_highlight(
    session: Session,
    highlight_id: int,
    *,
    people: object = None,
    day: object = None,
    queue: bool = True,
) -> None:
    h = session.get(Highlight, highlight_id)
    if h is None:
        return
    note = session.get(Note, h.note_id)
    if note is None:
        return
    found = people if people is not None else note_people(session, note)
    if h.participant_id is not None:
        found = [*list(found), *who(session, [h.participant_id])]  # type: ignore[call-overload]
    text = mask(h.quote, found).text  # type: ignore[arg-type]
    session.execute(delete(Chunk).where(Chunk.kind == "highlight", Chunk.ref_id == h.id))
    session.add(
        Chunk(
            kind="highlight",
            ref_id=h.id,
            note_id=h.note_id,
            study_id=h.study_id,
            participant_id=h.participant_id,
            position=0,
            text=text,
            day=day if day is not None else _note_day(session, note),
        )
    )
    session.flush()
    if queue:
        want_vectors(session)


def index_insight(session: Session, insight_id: int) -> None:
    insight = session.get(Insight, insight_id)
    if insight is None:
        return
    from productops.research.models import InsightHighlight

    backing = list(
        session.scalars(
            select(Highlight.participant_id)
            .join(InsightHighlight, InsightHighlight.highlight_id == Highlight.id)
            .where(InsightHighlight.insight_id == insight.id)
        )
    )
    people = who(session, [p for p in backing if p])
    text = mask(f"{insight.title}\n{insight.body}", people).text
    session.execute(delete(Chunk).where(Chunk.kind == "insight", Chunk.ref_id == insight.id))
    session.add(
        Chunk(
            kind="insight",
            ref_id=insight.id,
            study_id=insight.study_id,
            position=0,
            text=text[:20_000],
            day=insight.created_at or utcnow(),
        )
    )
    session.flush()
    want_vectors(session)


def reindex_all(session: Session) -> int:
    """Rewrite every row of the index (after a change to how text is masked, say)."""
    session.execute(delete(Chunk))
    notes = list(session.scalars(select(Note.id)))
    for note_id in notes:
        index_note(session, note_id)
    for insight_id in session.scalars(select(Insight.id)):
        index_insight(session, insight_id)
    return int(session.scalar(select(func.count(Chunk.id))) or 0)


def want_vectors(session: Session) -> None:
    """Queue the job that computes missing vectors, unless one is already waiting."""
    from productops.core.jobs import enqueue
    from productops.core.models import Job, JobStatus

    waiting = session.scalar(
        select(func.count(Job.id)).where(Job.kind == EMBED_KIND, Job.status == JobStatus.queued)
    )
    if not waiting:
        enqueue(session, EMBED_KIND, {}, created_by="system")


def pending(session: Session) -> int:
    return int(session.scalar(select(func.count(Chunk.id)).where(Chunk.vector.is_(None))) or 0)


def embed_pending(ws: Workspace, progress: Progress | None = None, batch: int = 256) -> int:
    """Compute the sentence vectors the index lacks; returns how many."""
    from productops.research.search.service import forget  # (it imports this module's users)

    done = 0
    with ws.sessions() as s:
        total = pending(s)
    while True:
        with ws.sessions() as s:
            rows = s.execute(
                select(Chunk.id, Chunk.text)
                .where(Chunk.vector.is_(None))
                .order_by(Chunk.id)
                .limit(batch)
            ).all()
        if not rows:
            return done
        vectors = feedback.embed([t for _, t in rows])
        with transaction(ws.sessions) as s:
            for (chunk_id, _), vector in zip(rows, vectors, strict=True):
                s.execute(
                    update(Chunk)
                    .where(Chunk.id == chunk_id)
                    .values(vector=np.asarray(vector, dtype=np.float32).tobytes())
                )
        done += len(rows)
        forget(ws)  # this process's searches load the new vectors at once
        if progress is not None:
            progress(done, max(total, done), "computing sentence vectors of research")
