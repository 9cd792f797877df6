"""The update cadence: owners write a short update (health and a few lines) each cycle,
reminders say who owes one, daily snapshots keep the history, and the change log says what
moved since last week (dates slipped, scope added, health changed, work finished or added) —
what the weekly digest sends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import InvalidInput, NotFound
from productops.core.models import User
from productops.portfolio.models import Epic, Initiative, Objective, Snapshot, Update
from productops.portfolio.rollups.service import Filters, Rule, build
from productops.portfolio.settings import section
from productops.portfolio.terms import CLOSED, HEALTH_TEXT, HEALTHS

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

SUBJECTS = {"objective": Objective, "initiative": Initiative, "epic": Epic}


def write_update(
    session: Session,
    subject_type: str,
    subject_id: int,
    health: str,
    body: str,
    *,
    actor: str,
    author: str | None = None,
    at: dt.datetime | None = None,
) -> Update:
    """An owner's update on an objective, initiative or epic: its health and a narrative."""
    model = SUBJECTS.get(subject_type)
    if model is None:
        raise InvalidInput(f"updates are written on {', '.join(SUBJECTS)}, not '{subject_type}'")
    if session.get(model, subject_id) is None:
        raise NotFound(f"no {subject_type} {subject_id}")
    if health not in HEALTHS:
        raise InvalidInput(f"health is one of {', '.join(HEALTHS)}, not '{health[:30]}'")
    body = body.strip()
    if len(body) > 10_000:
        raise InvalidInput("an update is at most 10,000 characters: keep it short")
    row = Update(
        subject_type=subject_type,
        subject_id=subject_id,
        health=health,
        body=body,
        author=(author or actor)[:300],
        at=at or utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "portfolio.update",
        f"portfolio_{subject_type}",
        subject_id,
        {"health": health},
    )
    return row


def updates_of(
    session: Session, subject_type: str, subject_id: int, limit: int = 50
) -> list[Update]:
    return list(
        session.scalars(
            select(Update)
            .where(Update.subject_type == subject_type, Update.subject_id == subject_id)
            .order_by(Update.at.desc(), Update.id.desc())
            .limit(limit)
        )
    )


def recent_updates(session: Session, days: int = 14, limit: int = 200) -> list[Update]:
    since = utcnow() - dt.timedelta(days=days)
    return list(
        session.scalars(
            select(Update).where(Update.at >= since).order_by(Update.at.desc()).limit(limit)
        )
    )


@dataclass(frozen=True)
class Reminder:
    """Someone who owes an update on something this cycle."""

    owner: str
    subject_type: str
    subject_id: int
    title: str
    last_update: dt.datetime | None


def reminders(ws: Workspace, session: Session) -> list[Reminder]:
    """Open epics, initiatives and active objectives whose owner wrote no update this cycle,
    by owner."""
    cycle = utcnow() - dt.timedelta(days=section(ws).update_cycle_days)
    last = {
        (t, i): at
        for t, i, at in session.execute(
            select(Update.subject_type, Update.subject_id, func.max(Update.at)).group_by(
                Update.subject_type, Update.subject_id
            )
        )
    }
    out: list[Reminder] = []
    users = {r[0]: r[1] for r in session.execute(select(User.id, User.name))}
    for oid, title, owner_id in session.execute(
        select(Objective.id, Objective.title, Objective.owner_id).where(
            Objective.status == "active"
        )
    ):
        at = last.get(("objective", oid))
        if owner_id and (at is None or at < cycle):
            out.append(Reminder(users.get(owner_id, "?"), "objective", oid, title, at))
    for model, kind in ((Initiative, "initiative"), (Epic, "epic")):
        for sid, title, owner in session.execute(
            select(model.id, model.title, model.owner_name).where(
                model.status_category == "indeterminate"
            )
        ):
            at = last.get((kind, sid))
            if owner and (at is None or at < cycle):
                out.append(Reminder(owner, kind, sid, title, at))
    out.sort(key=lambda r: (r.owner.lower(), r.subject_type, r.title))
    return out


# --- snapshots ---------------------------------------------------------------------------------


def take_snapshots(ws: Workspace | None, session: Session, day: dt.date) -> int:
    """Record how every epic, initiative and objective stands today (replacing today's
    earlier snapshot); returns how many rows were written."""
    rule = Rule.of(ws)
    p = build(session, ws, rule, Filters(include_closed=True))
    rows: list[dict[str, Any]] = []

    def add(kind: str, sid: int, progress: float | None, scope: Any, **extra: Any) -> None:
        rows.append(
            {
                "subject_type": kind,
                "subject_id": sid,
                "day": day,
                "progress": progress,
                "issues_total": scope.total,
                "issues_done": scope.done,
                "points_total": scope.points,
                "points_done": scope.points_done,
                **extra,
            }
        )

    for e in p.every_epic():
        add(
            "epic",
            e.id,
            e.progress,
            e.scope,
            target_date=e.target_date,
            status_category=e.status_category,
            health=e.health.health if e.health else None,
            is_open=e.is_open,
        )
    seen: set[int] = set()
    initiatives = [i for o in p.every_objective() for i in o.initiatives]
    for i in [*initiatives, *p.unlinked_initiatives]:
        if i.id in seen:
            continue
        seen.add(i.id)
        add(
            "initiative",
            i.id,
            i.progress,
            i.scope,
            target_date=i.target_date,
            status_category=i.status_category,
            health=i.health.health if i.health else None,
            is_open=i.status_category not in CLOSED,
        )
    for o in p.every_objective():
        add(
            "objective",
            o.id,
            o.progress,
            o.work,
            health=o.health.health if o.health else None,
            is_open=o.status == "active",
        )
    session.execute(delete(Snapshot).where(Snapshot.day == day))
    for start in range(0, len(rows), 1000):
        session.execute(insert(Snapshot), rows[start : start + 1000])
    return len(rows)


def history(
    session: Session, subject_type: str, subject_ids: list[int], since: dt.date | None = None
) -> list[tuple[int, dt.date, float | None]]:
    """(subject id, day, progress) snapshots of some subjects, oldest first."""
    q = select(Snapshot.subject_id, Snapshot.day, Snapshot.progress).where(
        Snapshot.subject_type == subject_type, Snapshot.subject_id.in_(subject_ids)
    )
    if since is not None:
        q = q.where(Snapshot.day >= since)
    return [(sid, d, p) for sid, d, p in session.execute(q.order_by(Snapshot.day))]


# --- the change log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Something that moved between two days."""

    kind: str  # slipped | pulled_in | scope_added | scope_removed | health | done | added | removed
    subject_type: str
    subject_id: int
    title: str
    key: str | None
    before: Any
    after: Any

    def describe(self) -> str:
        match self.kind:
            case "slipped":
                return f"target date slipped from {self.before} to {self.after}"
            case "pulled_in":
                return f"target date moved in from {self.before} to {self.after}"
            case "scope_added":
                return f"scope grew from {self.before:g} to {self.after:g} points"
            case "scope_removed":
                return f"scope shrank from {self.before:g} to {self.after:g} points"
            case "health":
                return (
                    f"health went from {HEALTH_TEXT.get(self.before, 'none')} to "
                    f"{HEALTH_TEXT.get(self.after, 'none')}"
                )
            case "done":
                return "finished"
            case "added":
                return "added to the roadmap"
            case _:
                return "removed from the roadmap"


def _snapshot_on(
    session: Session, day: dt.date
) -> tuple[dt.date | None, dict[tuple[str, int], Snapshot]]:
    """The latest snapshot day on or before `day`, and its rows."""
    found = session.scalar(select(func.max(Snapshot.day)).where(Snapshot.day <= day))
    if found is None:
        return None, {}
    rows = session.scalars(select(Snapshot).where(Snapshot.day == found))
    return found, {(r.subject_type, r.subject_id): r for r in rows}


CHANGE_KINDS = (
    "slipped",
    "pulled_in",
    "scope_added",
    "scope_removed",
    "health",
    "done",
    "added",
    "removed",
)


def change_log(
    session: Session,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    kind: str | None = None,
    team_id: int | None = None,
) -> tuple[dt.date | None, dt.date | None, list[Change]]:
    """What moved between the snapshot of `since` (default: a week before `until`) and the
    latest one (of `until`, default today): (from day, to day, changes); only changes of
    one `kind` or of one team's work when asked."""
    only = kind  # `kind` is the subject's type in the loop below
    if only is not None and only not in CHANGE_KINDS:
        raise InvalidInput(f"'{only}' is not a kind of change ({', '.join(CHANGE_KINDS)})")
    until = until or utcnow().date()
    since = since or until - dt.timedelta(days=7)
    if since > until:
        raise InvalidInput("the change log's start is after its end")
    to_day, after = _snapshot_on(session, until)
    from_day, before = _snapshot_on(session, since)
    if to_day is None or from_day is None or from_day == to_day:
        return from_day, to_day, []
    titles = _titles(session)
    changes: list[Change] = []
    for key, now in after.items():
        kind, sid = key
        if kind == "objective":
            title, ext = titles.get(key, ("?", None))
        else:
            title, ext = titles.get(key, ("?", None))
        old = before.get(key)
        if old is None:
            if kind != "objective":
                changes.append(Change("added", kind, sid, title, ext, None, None))
            continue
        if old.target_date and now.target_date and now.target_date != old.target_date:
            moved = "slipped" if now.target_date > old.target_date else "pulled_in"
            changes.append(Change(moved, kind, sid, title, ext, old.target_date, now.target_date))
        if kind == "epic" and now.points_total != old.points_total:
            grew = "scope_added" if now.points_total > old.points_total else "scope_removed"
            changes.append(Change(grew, kind, sid, title, ext, old.points_total, now.points_total))
        if (now.health or None) != (old.health or None):
            changes.append(Change("health", kind, sid, title, ext, old.health, now.health))
        if old.is_open and not now.is_open and kind != "objective":
            changes.append(Change("done", kind, sid, title, ext, None, None))
    for key in before.keys() - after.keys():
        if key[0] == "epic":
            title, ext = titles.get(key, ("(deleted)", None))
            changes.append(Change("removed", key[0], key[1], title, ext, None, None))
    if only is not None:
        changes = [c for c in changes if c.kind == only]
    if team_id is not None:
        teams = teams_of(session)
        changes = [c for c in changes if teams.get((c.subject_type, c.subject_id)) == team_id]
    order = {"slipped": 0, "health": 1, "scope_added": 2, "done": 3, "added": 4}
    changes.sort(key=lambda c: (order.get(c.kind, 9), c.subject_type, c.title))
    return from_day, to_day, changes


def teams_of(session: Session) -> dict[tuple[str, int], int | None]:
    """The team of every epic, initiative and objective."""
    out: dict[tuple[str, int], int | None] = {}
    for kind, model in (("epic", Epic), ("initiative", Initiative), ("objective", Objective)):
        for i, team in session.execute(select(model.id, model.team_id)):
            out[(kind, i)] = team
    return out


def titles_of(session: Session) -> dict[tuple[str, int], tuple[str, str | None]]:
    """(title, key) of every epic, initiative and objective, by (type, id)."""
    return _titles(session)


def _titles(session: Session) -> dict[tuple[str, int], tuple[str, str | None]]:
    out: dict[tuple[str, int], tuple[str, str | None]] = {}
    for i, t, k in session.execute(select(Epic.id, Epic.title, Epic.key)):
        out[("epic", i)] = (t, k)
    for i, t, k in session.execute(select(Initiative.id, Initiative.title, Initiative.key)):
        out[("initiative", i)] = (t, k)
    for i, t in session.execute(select(Objective.id, Objective.title)):
        out[("objective", i)] = (t, None)
    return out
