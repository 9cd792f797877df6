"""Curated tags, and auto-tagging learned from the team's own tags.

People apply tags; `suggest` learns from them (one logistic regression per tag over the
items' sentence vectors, trained on the items tagged by people against those not) and
suggests each tag, with its confidence, on untagged items where the confidence is at least
`tag_suggestion_confidence`. A suggestion is only a suggestion until a person confirms it
(then it is applied) or rejects it (then it is never suggested for that item again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.db import transaction
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.workspace import Workspace
from productops.feedback.models import FeedbackItem, ItemTag, Tag
from productops.feedback.processing import service as processing
from productops.feedback.schemas import TagCreate
from productops.feedback.settings import section

MIN_EXAMPLES = 5
MAX_SUGGESTIONS_PER_ITEM = 3
APPLIED, SUGGESTED, REJECTED = "applied", "suggested", "rejected"


def list_tags(session: Session) -> list[tuple[Tag, int, int]]:
    """Every tag with how many items carry it and how many suggestions wait."""
    counts = {
        (tag_id, state): n
        for tag_id, state, n in session.execute(
            select(ItemTag.tag_id, ItemTag.state, func.count()).group_by(
                ItemTag.tag_id, ItemTag.state
            )
        )
    }
    return [
        (t, counts.get((t.id, APPLIED), 0), counts.get((t.id, SUGGESTED), 0))
        for t in session.scalars(select(Tag).order_by(Tag.name))
    ]


def get_tag(session: Session, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise NotFound(f"no tag {tag_id}")
    return tag


def create_tag(session: Session, data: TagCreate, actor: str) -> Tag:
    tag = Tag(name=data.name.strip(), description=data.description)
    session.add(tag)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a tag named '{data.name}' exists") from None
    audit.record(session, actor, "tag.create", "tag", tag.id, {"name": tag.name})
    return tag


def tags_of(session: Session, item_ids: Sequence[int]) -> dict[int, list[tuple[Tag, ItemTag]]]:
    """The applied and suggested tags of each item."""
    if not item_ids:
        return {}
    out: dict[int, list[tuple[Tag, ItemTag]]] = {}
    rows = session.execute(
        select(Tag, ItemTag)
        .join(ItemTag, ItemTag.tag_id == Tag.id)
        .where(ItemTag.item_id.in_(list(item_ids)), ItemTag.state != REJECTED)
        .order_by(ItemTag.state, Tag.name)
    )
    for tag, link in rows:
        out.setdefault(link.item_id, []).append((tag, link))
    return out


def apply_tag(session: Session, item_id: int, tag_id: int, actor: str) -> ItemTag:
    """Tag an item (or confirm the suggestion of that tag)."""
    if session.get(FeedbackItem, item_id) is None:
        raise NotFound(f"no feedback {item_id}")
    get_tag(session, tag_id)
    link = session.get(ItemTag, (item_id, tag_id))
    if link is None:
        link = ItemTag(item_id=item_id, tag_id=tag_id, state=APPLIED, created_by=actor)
        session.add(link)
    elif link.state == APPLIED:
        return link
    action = "tag.confirm" if link.state == SUGGESTED else "tag.apply"
    link.state, link.created_by = APPLIED, actor
    session.flush()
    audit.record(session, actor, action, "feedback", item_id, {"tag_id": tag_id})
    return link


def remove_tag(session: Session, item_id: int, tag_id: int, actor: str) -> None:
    """Take a tag off an item, or reject its suggestion (it is not suggested again)."""
    link = session.get(ItemTag, (item_id, tag_id))
    if link is None or link.state == REJECTED:
        raise NotFound(f"feedback {item_id} has no tag {tag_id}")
    action = "tag.reject" if link.state == SUGGESTED else "tag.remove"
    link.state, link.created_by, link.confidence = REJECTED, actor, None
    session.flush()
    audit.record(session, actor, action, "feedback", item_id, {"tag_id": tag_id})


@dataclass
class Tagger:
    """One-vs-rest logistic regression over sentence vectors: what auto-tagging learns and
    what the quality bench measures."""

    classes: list[int]
    model: object | None = None

    @classmethod
    def fit(cls, vectors: np.ndarray, labels: Sequence[Sequence[int]]) -> Tagger:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.preprocessing import MultiLabelBinarizer

        binarizer = MultiLabelBinarizer()
        y = binarizer.fit_transform([list(x) for x in labels])
        classes = [int(c) for c in binarizer.classes_]
        if len(classes) < 2:  # one tag alone has nothing to be told apart from
            return cls(classes)
        model = OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=2000))
        model.fit(vectors, y)
        return cls(classes, model)

    def proba(self, vectors: np.ndarray) -> np.ndarray:
        if self.model is None or not len(vectors):
            return np.zeros((len(vectors), len(self.classes)))
        out: np.ndarray = self.model.predict_proba(vectors)  # type: ignore[attr-defined]
        return out.reshape(len(vectors), -1)


def suggest(ws: Workspace) -> int:
    """Suggest tags on items from what people tagged; returns how many suggestions now wait.
    Old suggestions are replaced; confirmed, applied and rejected tags are left alone."""
    threshold = section(ws).tag_suggestion_confidence
    with ws.sessions() as s:
        links = s.execute(select(ItemTag.item_id, ItemTag.tag_id, ItemTag.state)).all()
    applied: dict[int, set[int]] = {}
    blocked: set[tuple[int, int]] = set()
    per_tag: dict[int, int] = {}
    for item_id, tag_id, state in links:
        blocked.add((item_id, tag_id))
        if state == APPLIED:
            applied.setdefault(item_id, set()).add(tag_id)
            per_tag[tag_id] = per_tag.get(tag_id, 0) + 1
    learnable = {t for t, n in per_tag.items() if n >= MIN_EXAMPLES}
    with transaction(ws.sessions) as s:
        s.execute(delete(ItemTag).where(ItemTag.state == SUGGESTED))
    if not learnable:
        return 0
    ids, vectors = processing.load_vectors(ws)
    if not len(ids):
        return 0
    position = {int(i): n for n, i in enumerate(ids)}
    train = [i for i in applied if i in position]
    # Items people looked at and tagged teach what each tag is; the rest are "not this tag"
    # only for tags the item does not carry, so train on tagged items.
    labels = [[t for t in applied[i] if t in learnable] for i in train]
    if len({t for ts in labels for t in ts}) < 1 or len(train) < MIN_EXAMPLES:
        return 0
    tagger = Tagger.fit(vectors[[position[i] for i in train]], labels)
    untagged = np.array([i for i in ids if int(i) not in applied], dtype=np.int64)
    if not len(untagged):
        return 0
    proba = tagger.proba(vectors[[position[int(i)] for i in untagged]])
    rows = []
    for row, item_id in enumerate(untagged):
        order = np.argsort(-proba[row])[:MAX_SUGGESTIONS_PER_ITEM]
        for col in order:
            confidence = float(proba[row, col])
            tag_id = tagger.classes[int(col)]
            if confidence >= threshold and (int(item_id), tag_id) not in blocked:
                rows.append(
                    {
                        "item_id": int(item_id),
                        "tag_id": tag_id,
                        "state": SUGGESTED,
                        "confidence": round(confidence, 4),
                        "created_by": "auto-tagging",
                    }
                )
    with transaction(ws.sessions) as s:
        for start in range(0, len(rows), 2000):
            s.execute(insert(ItemTag), rows[start : start + 2000])
    return len(rows)


def check_tag_name(name: str) -> str:
    if not name.strip():
        raise InvalidInput("a tag needs a name")
    return name.strip()
