"""Market insights: the competitors customers mention (by name or alias), the feedback that
mentions each, and per competitor the mentions, their sentiment and the trend by week.

Matching is whole words, case-insensitive ("Jira" matches "jira's" and "JIRA", not
"jirafe"). Adding or changing a competitor re-reads all feedback, so its history counts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.feedback.models import Competitor, FeedbackItem, Mention
from productops.feedback.schemas import CompetitorCreate

Progress = Callable[[int, int | None, str], object]
BATCH = 2000


@dataclass(frozen=True)
class Matcher:
    """One regular expression for every name and alias, and whose each is."""

    pattern: re.Pattern[str] | None
    owner: dict[str, int]

    def find(self, text: str) -> dict[int, str]:
        """{competitor id: the words that matched} for a text."""
        if self.pattern is None:
            return {}
        found: dict[int, str] = {}
        for m in self.pattern.finditer(text):
            competitor = self.owner.get(m.group(0).lower())
            if competitor is not None:
                found.setdefault(competitor, m.group(0))
        return found


def matcher(competitors: Iterable[Competitor]) -> Matcher:
    owner: dict[str, int] = {}
    for c in competitors:
        for name in [c.name, *(c.aliases or [])]:
            if name.strip():
                owner.setdefault(name.strip().lower(), c.id)
    if not owner:
        return Matcher(None, {})
    names = sorted(owner, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in names) + r")(?!\w)", re.I)
    return Matcher(pattern, owner)


def list_competitors(session: Session) -> list[Competitor]:
    return list(session.scalars(select(Competitor).order_by(Competitor.name)))


def get_competitor(session: Session, competitor_id: int) -> Competitor:
    c = session.get(Competitor, competitor_id)
    if c is None:
        raise NotFound(f"no competitor {competitor_id}")
    return c


def create_competitor(session: Session, data: CompetitorCreate, actor: str) -> Competitor:
    """Add a competitor; every piece of feedback that names it is tagged."""
    c = Competitor(name=data.name.strip(), aliases=data.aliases, website=data.website)
    session.add(c)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a competitor named '{data.name}' exists") from None
    audit.record(session, actor, "competitor.create", "competitor", c.id, {"name": c.name})
    retag(session)
    return c


def update_competitor(
    session: Session, competitor_id: int, data: CompetitorCreate, actor: str
) -> Competitor:
    c = get_competitor(session, competitor_id)
    before = {"name": c.name, "aliases": c.aliases}
    c.name, c.aliases, c.website = data.name.strip(), data.aliases, data.website
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a competitor named '{data.name}' exists") from None
    audit.record(
        session,
        actor,
        "competitor.update",
        "competitor",
        c.id,
        {"from": before, "to": {"name": c.name, "aliases": c.aliases}},
    )
    retag(session)
    return c


def delete_competitor(session: Session, competitor_id: int, actor: str) -> None:
    c = get_competitor(session, competitor_id)
    session.delete(c)
    session.flush()
    audit.record(session, actor, "competitor.delete", "competitor", competitor_id, {"name": c.name})


def tag_items(session: Session, item_ids: Sequence[int]) -> int:
    """Tag `item_ids` with the competitors they mention (their old tags replaced)."""
    match = matcher(list_competitors(session))
    found = 0
    for start in range(0, len(item_ids), BATCH):
        chunk = list(item_ids[start : start + BATCH])
        session.execute(delete(Mention).where(Mention.item_id.in_(chunk)))
        if match.pattern is None:
            continue
        rows = session.execute(
            select(FeedbackItem.id, FeedbackItem.title, FeedbackItem.text).where(
                FeedbackItem.id.in_(chunk)
            )
        ).all()
        mentions = [
            {"item_id": item_id, "competitor_id": cid, "matched": words[:200]}
            for item_id, title, text in rows
            for cid, words in match.find(f"{title or ''}\n{text}").items()
        ]
        if mentions:
            session.execute(insert(Mention), mentions)
            found += len(mentions)
    return found


def retag(session: Session) -> int:
    """Tag all feedback again (after the list of competitors changed)."""
    ids = list(session.scalars(select(FeedbackItem.id).order_by(FeedbackItem.id)))
    return tag_items(session, ids)


@dataclass(frozen=True)
class CompetitorStats:
    competitor: Competitor
    mentions: int
    accounts: int
    negative: int
    neutral: int
    positive: int
    mean_sentiment: float | None


def stats(session: Session, since: dt.datetime | None = None) -> list[CompetitorStats]:
    """Per competitor: mentions, distinct accounts, the sentiment of those mentions."""
    by_id = {c.id: c for c in list_competitors(session)}
    query = (
        select(
            Mention.competitor_id,
            func.count(Mention.item_id),
            func.count(func.distinct(FeedbackItem.account_id)),
            func.sum(_band(-1.01, -0.2)),
            func.sum(_band(-0.2, 0.2)),
            func.sum(_band(0.2, 1.01)),
            func.avg(FeedbackItem.sentiment),
        )
        .join(FeedbackItem, FeedbackItem.id == Mention.item_id)
        .group_by(Mention.competitor_id)
    )
    if since is not None:
        query = query.where(FeedbackItem.created_at >= since)
    counted = {row[0]: row for row in session.execute(query)}
    out = []
    for cid, c in by_id.items():
        row = counted.get(cid)
        out.append(
            CompetitorStats(
                competitor=c,
                mentions=int(row[1]) if row else 0,
                accounts=int(row[2]) if row else 0,
                negative=int(row[3] or 0) if row else 0,
                neutral=int(row[4] or 0) if row else 0,
                positive=int(row[5] or 0) if row else 0,
                mean_sentiment=round(float(row[6]), 3) if row and row[6] is not None else None,
            )
        )
    return sorted(out, key=lambda s: -s.mentions)


def _band(low: float, high: float) -> Any:
    from sqlalchemy import case

    return case(
        (FeedbackItem.sentiment > low, case((FeedbackItem.sentiment <= high, 1), else_=0)), else_=0
    )


def weekly(session: Session, competitor_id: int) -> list[dict[str, Any]]:
    """Mentions of a competitor per ISO week (Monday), with their mean sentiment."""
    rows = session.execute(
        select(FeedbackItem.created_at, FeedbackItem.sentiment)
        .join(Mention, Mention.item_id == FeedbackItem.id)
        .where(Mention.competitor_id == competitor_id)
    ).all()
    weeks: dict[dt.date, list[float]] = {}
    counts: dict[dt.date, int] = {}
    for created, sentiment in rows:
        day = created.date()
        monday = day - dt.timedelta(days=day.weekday())
        counts[monday] = counts.get(monday, 0) + 1
        if sentiment is not None:
            weeks.setdefault(monday, []).append(float(sentiment))
    return [
        {
            "week": week,
            "mentions": counts[week],
            "sentiment": round(sum(weeks.get(week, [0])) / max(1, len(weeks.get(week, []))), 3),
        }
        for week in sorted(counts)
    ]


def check_name(name: str) -> str:
    if not name.strip():
        raise InvalidInput("a competitor needs a name")
    return name.strip()
