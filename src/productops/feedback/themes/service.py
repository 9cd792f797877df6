"""Themes in the workspace: the discovery job, placing new feedback into known themes,
curated themes, week-over-week trends (emerging and growing themes) and the inbox.

Discovery re-runs over all feedback (spam and duplicates aside). A new cluster close to a
theme found before (centres at cosine ≥ `SAME_THEME`) keeps that theme's id and, if a person
renamed it, its name; themes nobody's feedback falls into any more are archived. Items a
person put into a theme stay there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.errors import Conflict, NotFound
from productops.core.workspace import Workspace
from productops.feedback.models import FeedbackItem, Theme
from productops.feedback.processing import embeddings
from productops.feedback.processing import service as processing
from productops.feedback.schemas import ThemeCreate, ThemeUpdate
from productops.feedback.settings import section
from productops.feedback.themes.discovery import FLOOR, cluster, key_phrases, label

Progress = Callable[[int, int | None, str], object]
SAME_THEME = 0.8
EXCLUDED = ("spam", "duplicate")


def _noop(done: int, total: int | None, message: str) -> None:
    return None


@dataclass(frozen=True)
class DiscoveryResult:
    items: int
    themes: int
    new_themes: int
    kept_themes: int
    archived_themes: int
    unassigned: int

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def run_discovery(
    ws: Workspace, progress: Progress | None = None, *, seed: int = 0
) -> DiscoveryResult:
    """Discover themes over all embedded feedback and store them (see the module)."""
    report = progress or _noop
    report(0, 100, "reading vectors")
    ids, vectors = processing.load_vectors(ws)
    with ws.sessions() as s:
        rows = s.execute(
            select(
                FeedbackItem.id, FeedbackItem.status, FeedbackItem.theme_source, FeedbackItem.text
            )
        ).all()
    info = {r[0]: r for r in rows}
    keep = np.array([info.get(int(i), (0, "spam"))[1] not in EXCLUDED for i in ids], dtype=bool)
    ids, vectors = ids[keep], vectors[keep]
    report(10, 100, f"finding themes among {len(ids):,} items")
    found = cluster(vectors, min_size=section(ws).theme_min_size, seed=seed)
    report(70, 100, "naming themes")
    texts = [info[int(i)][3] for i in ids]
    phrases = key_phrases(texts, found.labels.tolist(), found.k)
    with transaction(ws.sessions) as s:
        existing = list(
            s.scalars(select(Theme).where(Theme.kind == "discovered", Theme.status == "active"))
        )
        theme_ids, new, kept = _match_themes(s, existing, found.centroids, phrases, found)
        matched = set(theme_ids)
        archived = 0
        for theme in existing:
            if theme.id not in matched:
                theme.status = "archived"
                archived += 1
        # Automatic placements are redone; a person's stay.
        s.execute(
            update(FeedbackItem)
            .where(FeedbackItem.theme_source == "auto")
            .values(theme_id=None, theme_source=None, theme_similarity=None)
        )
        by_theme: dict[int, list[tuple[int, float]]] = {}
        for item_id, lab, sim in zip(ids, found.labels, found.similarity, strict=True):
            if lab >= 0 and info[int(item_id)][2] != "manual":
                by_theme.setdefault(theme_ids[lab], []).append((int(item_id), float(sim)))
        for theme_id, members in by_theme.items():
            for start in range(0, len(members), 500):
                chunk = members[start : start + 500]
                for item_id, sim in chunk:
                    s.execute(
                        update(FeedbackItem)
                        .where(FeedbackItem.id == item_id)
                        .values(
                            theme_id=theme_id, theme_source="auto", theme_similarity=round(sim, 4)
                        )
                    )
            report(75 + int(20 * len(by_theme) / max(1, found.k)), 100, "placing feedback")
        _refresh_sizes(s)
        audit.record(
            s,
            "system",
            "feedback.themes_discovered",
            "theme",
            None,
            {"themes": found.k, "new": new, "kept": kept, "archived": archived},
        )
    report(100, 100, "themes discovered")
    return DiscoveryResult(
        items=len(ids),
        themes=found.k,
        new_themes=new,
        kept_themes=kept,
        archived_themes=archived,
        unassigned=int((found.labels < 0).sum()),
    )


def _match_themes(
    s: Session, existing: list[Theme], centroids: np.ndarray, phrases: list[list[str]], found: Any
) -> tuple[list[int], int, int]:
    old = [(t, embeddings.from_bytes(t.centroid)) for t in existing if t.centroid]
    taken: set[int] = set()
    ids: list[int] = []
    new = kept = 0
    for i, centre in enumerate(centroids):
        best: Theme | None = None
        best_sim = SAME_THEME
        for theme, old_centre in old:
            if theme.id in taken or len(old_centre) != len(centre):
                continue
            sim = float(np.dot(centre, old_centre))
            if sim >= best_sim:
                best, best_sim = theme, sim
        if best is None:
            best = Theme(name=label(phrases[i]), kind="discovered")
            s.add(best)
            new += 1
        else:
            kept += 1
        if not best.named_by_person:
            best.name = label(phrases[i])
        best.key_phrases = phrases[i]
        best.centroid = embeddings.to_bytes(centre)
        best.status = "active"
        s.flush()
        taken.add(best.id)
        ids.append(best.id)
    return ids, new, kept


def _refresh_sizes(s: Session) -> None:
    counts = dict(
        s.execute(
            select(FeedbackItem.theme_id, func.count(FeedbackItem.id))
            .where(FeedbackItem.theme_id.is_not(None))
            .group_by(FeedbackItem.theme_id)
        ).all()
    )
    for theme in s.scalars(select(Theme)):
        theme.size = int(counts.get(theme.id, 0))


def place_pending(ws: Workspace, progress: Progress | None = None) -> int:
    """Put new feedback (no theme yet, not spam or a duplicate) into the nearest active
    theme when it is close enough; the rest waits in the inbox."""
    with ws.sessions() as s:
        themes = [
            (t.id, embeddings.from_bytes(t.centroid))
            for t in s.scalars(select(Theme).where(Theme.status == "active"))
            if t.centroid
        ]
        pending = list(
            s.scalars(
                select(FeedbackItem.id).where(
                    FeedbackItem.theme_id.is_(None),
                    FeedbackItem.theme_source.is_(None),
                    FeedbackItem.status.not_in(EXCLUDED),
                )
            )
        )
    if not themes or not pending:
        return 0
    ids, vectors = processing.load_vectors(ws, pending)
    if not len(ids):
        return 0
    centres = np.stack([c for _, c in themes])
    sims = vectors @ centres.T
    best = sims.argmax(axis=1)
    best_sim = sims[np.arange(len(ids)), best]
    placed = 0
    with transaction(ws.sessions) as s:
        for item_id, b, sim in zip(ids, best, best_sim, strict=True):
            if sim < FLOOR:
                continue
            s.execute(
                update(FeedbackItem)
                .where(FeedbackItem.id == int(item_id), FeedbackItem.theme_id.is_(None))
                .values(
                    theme_id=themes[int(b)][0], theme_source="auto", theme_similarity=float(sim)
                )
            )
            placed += 1
        _refresh_sizes(s)
    if progress:
        progress(placed, placed or None, "themes")
    return placed


# --- themes people see ---------------------------------------------------------------------


def list_themes(session: Session, include_archived: bool = False) -> list[Theme]:
    query = select(Theme).order_by(Theme.size.desc(), Theme.name)
    if not include_archived:
        query = query.where(Theme.status == "active")
    return list(session.scalars(query))


def get_theme(session: Session, theme_id: int) -> Theme:
    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFound(f"no theme {theme_id}")
    return theme


def create_theme(session: Session, data: ThemeCreate, actor: str) -> Theme:
    """A curated theme: made by a person, never changed by discovery."""
    if session.scalar(select(Theme).where(func.lower(Theme.name) == data.name.lower())):
        raise Conflict(f"a theme named '{data.name}' exists")
    theme = Theme(
        name=data.name.strip(), description=data.description, kind="curated", named_by_person=True
    )
    session.add(theme)
    session.flush()
    audit.record(session, actor, "theme.create", "theme", theme.id, {"name": theme.name})
    return theme


def update_theme(session: Session, theme_id: int, data: ThemeUpdate, actor: str) -> Theme:
    theme = get_theme(session, theme_id)
    if data.name is not None:
        name = data.name.strip()
        data = data.model_copy(update={"name": name})
        taken = select(Theme.id).where(func.lower(Theme.name) == name.lower(), Theme.id != theme_id)
        if session.scalar(taken) is not None:
            raise Conflict(f"a theme named '{name}' exists")
    changes: dict[str, Any] = {}
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is not None and getattr(theme, key) != value:
            changes[key] = {"from": getattr(theme, key), "to": value}
            setattr(theme, key, value)
    if "name" in changes:
        theme.named_by_person = True
    if changes:
        session.flush()
        audit.record(session, actor, "theme.update", "theme", theme.id, changes)
    return theme


@dataclass(frozen=True)
class ThemeTrend:
    """A theme's feedback per ISO week, and how it moves."""

    theme: Theme
    weeks: list[dt.date]
    counts: list[int]
    last_week: int
    week_before: int
    recent_share: float  # share of its feedback in the last 28 days

    @property
    def growth(self) -> float | None:
        """Last full week against the week before (1.0 = +100 %); None without a base."""
        if self.week_before == 0:
            return None
        return round((self.last_week - self.week_before) / self.week_before, 3)

    @property
    def growing(self) -> bool:
        return self.last_week >= 5 and (self.growth is None or self.growth >= 0.3)

    @property
    def emerging(self) -> bool:
        return self.recent_share >= 0.5 and sum(self.counts) >= 5


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def trends(
    session: Session, weeks: int = 12, today: dt.date | None = None, theme_id: int | None = None
) -> list[ThemeTrend]:
    """Per active theme, its feedback in each of the last `weeks` full ISO weeks; the last
    full week against the one before tells growing themes, a theme whose feedback is mostly
    from the last 28 days is emerging."""
    today = today or utcnow().date()
    this_week = monday(today)
    first = this_week - dt.timedelta(weeks=weeks)
    start = dt.datetime.combine(first, dt.time(0), tzinfo=dt.UTC)
    recent_since = dt.datetime.combine(this_week - dt.timedelta(days=28), dt.time(0), tzinfo=dt.UTC)
    query = select(FeedbackItem.theme_id, FeedbackItem.created_at).where(
        FeedbackItem.theme_id.is_not(None),
        FeedbackItem.created_at >= start,
        FeedbackItem.status.not_in(EXCLUDED),
    )
    if theme_id is not None:
        query = query.where(FeedbackItem.theme_id == theme_id)
    week_list = [first + dt.timedelta(weeks=i) for i in range(weeks)]
    index = {w: i for i, w in enumerate(week_list)}
    counts: dict[int, list[int]] = {}
    for tid, created in session.execute(query):
        w = monday(created.date())
        if w in index and tid is not None:
            counts.setdefault(tid, [0] * weeks)[index[w]] += 1
    totals = dict(
        session.execute(
            select(FeedbackItem.theme_id, func.count(FeedbackItem.id))
            .where(FeedbackItem.theme_id.is_not(None), FeedbackItem.status.not_in(EXCLUDED))
            .group_by(FeedbackItem.theme_id)
        ).all()
    )
    recent = dict(
        session.execute(
            select(FeedbackItem.theme_id, func.count(FeedbackItem.id))
            .where(
                FeedbackItem.theme_id.is_not(None),
                FeedbackItem.created_at >= recent_since,
                FeedbackItem.status.not_in(EXCLUDED),
            )
            .group_by(FeedbackItem.theme_id)
        ).all()
    )
    out = []
    themes = [get_theme(session, theme_id)] if theme_id is not None else list_themes(session)
    for theme in themes:
        c = counts.get(theme.id, [0] * weeks)
        total = int(totals.get(theme.id, 0))
        out.append(
            ThemeTrend(
                theme=theme,
                weeks=week_list,
                counts=c,
                last_week=c[-1] if c else 0,
                week_before=c[-2] if len(c) > 1 else 0,
                recent_share=(int(recent.get(theme.id, 0)) / total) if total else 0.0,
            )
        )
    return out


def unassigned_count(session: Session) -> int:
    """Items no theme claims (spam and duplicates aside): the inbox."""
    return int(
        session.scalar(
            select(func.count(FeedbackItem.id)).where(
                FeedbackItem.theme_id.is_(None), FeedbackItem.status.not_in(EXCLUDED)
            )
        )
        or 0
    )
