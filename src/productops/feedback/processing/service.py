"""Processing, offline: language, sentiment and the sentence vector of every item that has
not been processed since it arrived or changed. Nothing leaves the machine.

Work is done in batches, each in a short transaction of its own, so the web UI and the job's
progress can write in between; a stopped run picks up where it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, insert, select, update

from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.feedback.models import FeedbackItem, FeedbackVector
from productops.feedback.processing import embeddings, language, sentiment
from productops.feedback.settings import section

Progress = Callable[[int, int | None, str], object]
BATCH = 500
EMBED_BATCH = 256


@dataclass(frozen=True)
class ProcessResult:
    scored: int
    embedded: int


def _noop(done: int, total: int | None, message: str) -> None:
    return None


def score_pending(ws: Workspace, progress: Progress | None = None) -> list[int]:
    """Language and sentiment for items not processed since they arrived or changed."""
    report = progress or _noop
    with ws.sessions() as s:
        total = (
            s.scalar(select(func.count(FeedbackItem.id)).where(FeedbackItem.processed_at.is_(None)))
            or 0
        )
    done = 0
    last_id = 0
    scored: list[int] = []
    while True:
        with transaction(ws.sessions) as s:
            rows = s.execute(
                select(
                    FeedbackItem.id, FeedbackItem.text, FeedbackItem.score, FeedbackItem.score_kind
                )
                .where(FeedbackItem.processed_at.is_(None), FeedbackItem.id > last_id)
                .order_by(FeedbackItem.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            now = utcnow()
            values = []
            for item_id, text, score, kind in rows:
                value, source = sentiment.sentiment(text, score, kind)
                values.append(
                    {
                        "b_id": item_id,
                        "language": language.detect(text),
                        "sentiment": round(value, 4),
                        "sentiment_source": source,
                        "processed_at": now,
                    }
                )
            s.connection().execute(
                update(FeedbackItem.__table__)  # type: ignore[arg-type]
                .where(FeedbackItem.__table__.c.id == _bind("b_id"))
                .values(
                    language=_bind("language"),
                    sentiment=_bind("sentiment"),
                    sentiment_source=_bind("sentiment_source"),
                    processed_at=_bind("processed_at"),
                ),
                values,
            )
            last_id = rows[-1][0]
        scored += [r[0] for r in rows]
        done += len(rows)
        report(done, total, "language and sentiment")
    return scored


def _bind(name: str) -> object:
    from sqlalchemy import bindparam

    return bindparam(name)


def embed_pending(ws: Workspace, progress: Progress | None = None) -> list[int]:
    """Compute and store the vector of every item that has none (or one of an older model)."""
    report = progress or _noop
    threads = section(ws).embedding_threads
    with ws.sessions() as s:
        missing = (
            select(FeedbackItem.id)
            .outerjoin(FeedbackVector, FeedbackVector.item_id == FeedbackItem.id)
            .where(
                (FeedbackVector.item_id.is_(None)) | (FeedbackVector.model != embeddings.MODEL_ID)
            )
        )
        ids = list(s.scalars(missing.order_by(FeedbackItem.id)))
    total = len(ids)
    done = 0
    report(0, total, "embedding feedback")
    for start in range(0, total, EMBED_BATCH):
        chunk = ids[start : start + EMBED_BATCH]
        with ws.sessions() as s:
            rows = s.execute(
                select(FeedbackItem.id, FeedbackItem.title, FeedbackItem.text).where(
                    FeedbackItem.id.in_(chunk)
                )
            ).all()
        texts = {item_id: _embedding_text(title, text) for item_id, title, text in rows}
        present = [i for i in chunk if i in texts]
        vectors = embeddings.embed([texts[i] for i in present], threads=threads)
        now = utcnow()
        with transaction(ws.sessions) as s:
            s.execute(delete(FeedbackVector).where(FeedbackVector.item_id.in_(present)))
            s.execute(
                insert(FeedbackVector),
                [
                    {
                        "item_id": item_id,
                        "model": embeddings.MODEL_ID,
                        "vector": embeddings.to_bytes(vec),
                        "created_at": now,
                    }
                    for item_id, vec in zip(present, vectors, strict=True)
                ],
            )
        done += len(chunk)
        report(done, total, "embedding feedback")
    return ids


def _embedding_text(title: str | None, text: str) -> str:
    """What the vector is made of: the title (when it adds to the text) and the text."""
    if title and title.strip() and title.strip().lower() not in text.lower():
        return f"{title.strip()}. {text}"
    return text


def load_vectors(ws: Workspace, ids: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, vectors) of every embedded item, or of `ids`."""
    with ws.sessions() as s:
        query = select(FeedbackVector.item_id, FeedbackVector.vector).where(
            FeedbackVector.model == embeddings.MODEL_ID
        )
        if ids is not None:
            query = query.where(FeedbackVector.item_id.in_(ids))
        rows = s.execute(query.order_by(FeedbackVector.item_id)).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, embeddings.DIMENSIONS), np.float32)
    item_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
        len(rows), embeddings.DIMENSIONS
    )
    return item_ids, matrix
