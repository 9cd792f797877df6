"""Saved insights and annotations: create, change, find and delete them (audited).

A saved insight is an explorer's question under a title: `kind` says which explorer (`sql`,
`funnel`, `retention`, `stickiness`, `lifecycle`, `metric`, and the kinds later explorers
add) and `params` what it ran with. What the parameters mean is the explorer's business: the
caller checks them before saving (the SQL page runs `sql.check_query`, the dashboards room
checks the rest); here they only have to be a small JSON object.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from productops.analytics.saved.models import Annotation, SavedInsight
from productops.core import audit
from productops.core.errors import InvalidInput, NotFound

INSIGHT_KINDS = (
    "sql",
    "funnel",
    "retention",
    "stickiness",
    "lifecycle",
    "metric",
    "trends",
    "paths",
)
MAX_PARAMS_BYTES = 200_000
MAX_NOTE_CHARS = 300


def _clean_text(value: str, what: str, max_chars: int, required: bool = True) -> str:
    text = " ".join(value.split()) if what != "description" else value.strip()
    if required and not text:
        raise InvalidInput(f"the {what} is empty")
    if len(text) > max_chars:
        raise InvalidInput(f"the {what} is longer than {max_chars} characters")
    return text


def save_insight(
    session: Session,
    kind: str,
    title: str,
    params: dict[str, Any],
    actor: str,
    description: str = "",
    insight_id: int | None = None,
) -> SavedInsight:
    """Keep an explorer's question under a title (or change a saved one)."""
    if kind not in INSIGHT_KINDS:
        raise InvalidInput(f"no kind of insight '{kind}' (one of {', '.join(INSIGHT_KINDS)})")
    if not isinstance(params, dict):
        raise InvalidInput("an insight's parameters are an object")
    if len(json.dumps(params, default=str)) > MAX_PARAMS_BYTES:
        raise InvalidInput(f"an insight's parameters are larger than {MAX_PARAMS_BYTES:,} bytes")
    title = _clean_text(title, "title", 200)
    description = _clean_text(description, "description", 5000, required=False)
    if insight_id is None:
        row = SavedInsight(
            kind=kind, title=title, description=description, params=params, created_by=actor
        )
        session.add(row)
    else:
        row = get_insight(session, insight_id)
        if row.kind != kind:
            raise InvalidInput(f"insight {insight_id} is a {row.kind} insight, not {kind}")
        row.title, row.description, row.params = title, description, params
    session.flush()
    audit.record(
        session, actor, "insight.save", "saved_insight", row.id, {"kind": kind, "title": title}
    )
    return row


def get_insight(session: Session, insight_id: int, kind: str | None = None) -> SavedInsight:
    row = session.get(SavedInsight, insight_id)
    if row is None or (kind is not None and row.kind != kind):
        raise NotFound(f"no saved {kind + ' ' if kind else ''}insight {insight_id}")
    return row


def list_insights(session: Session, kind: str | None = None) -> list[SavedInsight]:
    """Saved insights, newest change first (one kind only when `kind` is given)."""
    q = select(SavedInsight).order_by(SavedInsight.updated_at.desc(), SavedInsight.id.desc())
    if kind is not None:
        q = q.where(SavedInsight.kind == kind)
    return list(session.scalars(q).all())


def delete_insight(session: Session, insight_id: int, actor: str) -> None:
    row = get_insight(session, insight_id)
    session.delete(row)
    audit.record(
        session, actor, "insight.delete", "saved_insight", insight_id, {"title": row.title}
    )


# --- annotations ---------------------------------------------------------------------------


def add_annotation(session: Session, day: dt.date, text: str, actor: str) -> Annotation:
    """A dated note, drawn on every time chart whose range holds `day`."""
    row = Annotation(day=day, text=_clean_text(text, "note", MAX_NOTE_CHARS), created_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, actor, "annotation.add", "annotation", row.id, {"day": day.isoformat()})
    return row


def list_annotations(
    session: Session, start: dt.date | None = None, end: dt.date | None = None
) -> list[Annotation]:
    """Notes between `start` and `end` (both included), oldest first."""
    q = select(Annotation).order_by(Annotation.day, Annotation.id)
    if start is not None:
        q = q.where(Annotation.day >= start)
    if end is not None:
        q = q.where(Annotation.day <= end)
    return list(session.scalars(q).all())


def delete_annotation(session: Session, annotation_id: int, actor: str) -> None:
    row = session.get(Annotation, annotation_id)
    if row is None:
        raise NotFound(f"no annotation {annotation_id}")
    session.delete(row)
    audit.record(session, actor, "annotation.delete", "annotation", annotation_id, {})
