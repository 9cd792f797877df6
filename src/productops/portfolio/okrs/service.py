"""Objectives and key results.

A key result's progress is (current - start) / (target - start), kept between 0 and 1, so a
key result that lowers a number (churn from 5 % to 3 %) works the same way. Its current value
is typed by hand with a comment (a check-in), or read from the metric catalog: the latest
complete period of the metric, through the analytics pillar's public API.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from productops.core import audit, jobs
from productops.core.clock import utcnow
from productops.core.errors import InvalidInput, NotFound, ProductOpsError
from productops.core.models import Team, User
from productops.portfolio.models import CheckIn, KeyResult, Objective

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

PERIOD = re.compile(r"^(\d{4})-Q([1-4])$")
GRAINS = ("day", "week", "month")
DAILY_SCHEDULE = "portfolio.daily"


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """First and last day of a quarter written `2026-Q1`."""
    m = PERIOD.match(period.strip())
    if not m:
        raise InvalidInput(f"'{period[:20]}' is not a quarter (write it like 2026-Q1)")
    year, q = int(m.group(1)), int(m.group(2))
    start = dt.date(year, 3 * q - 2, 1)
    end = dt.date(year + (q == 4), (3 * q) % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def period_of(day: dt.date) -> str:
    """The quarter a day falls in, as `2026-Q1`."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def shift_period(period: str, quarters: int) -> str:
    start, _ = period_bounds(period)
    index = start.year * 4 + (start.month - 1) // 3 + quarters
    return f"{index // 4}-Q{index % 4 + 1}"


def kr_progress(start: float, target: float, current: float | None) -> float:
    """(current - start) / (target - start) between 0 and 1; 0 before any value."""
    if current is None:
        return 0.0
    if target == start:
        return 1.0 if current == target else 0.0
    return max(0.0, min(1.0, (current - start) / (target - start)))


# --- objectives -----------------------------------------------------------------------------


def _check_refs(session: Session, team_id: int | None, owner_id: int | None) -> None:
    if team_id is not None and session.get(Team, team_id) is None:
        raise NotFound(f"no team {team_id}")
    if owner_id is not None and session.get(User, owner_id) is None:
        raise NotFound(f"no user {owner_id}")


def create_objective(
    session: Session,
    title: str,
    period: str,
    *,
    description: str = "",
    team_id: int | None = None,
    owner_id: int | None = None,
    parent_id: int | None = None,
    weight: float = 1.0,
    work_weight: float = 0.0,
    actor: str,
) -> Objective:
    """Add an objective for a quarter. `work_weight` > 0 lets the progress of the work
    linked to it count beside its key results (by default it does not)."""
    if not title.strip():
        raise InvalidInput("an objective needs a title")
    period_bounds(period)
    _check_refs(session, team_id, owner_id)
    if parent_id is not None:
        get_objective(session, parent_id)
    if weight <= 0 or work_weight < 0:
        raise InvalidInput("an objective's weight is above 0 and its work weight not below 0")
    row = Objective(
        title=title.strip()[:300],
        description=description,
        period=period.strip(),
        team_id=team_id,
        owner_id=owner_id,
        parent_id=parent_id,
        weight=weight,
        work_weight=work_weight,
    )
    session.add(row)
    session.flush()
    ensure_daily_refresh(session, actor)
    audit.record(
        session,
        actor,
        "portfolio.objective.create",
        "portfolio_objective",
        row.id,
        {"title": row.title},
    )
    return row


def update_objective(session: Session, objective_id: int, actor: str, **fields: Any) -> Objective:
    """Change an objective's title, description, period, team, owner, parent, weights or
    status (active / closed)."""
    row = get_objective(session, objective_id)
    allowed = {
        "title",
        "description",
        "period",
        "team_id",
        "owner_id",
        "parent_id",
        "weight",
        "work_weight",
        "status",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise InvalidInput(f"an objective has no field {', '.join(sorted(unknown))}")
    if "period" in fields:
        period_bounds(fields["period"])
    if "status" in fields and fields["status"] not in ("active", "closed"):
        raise InvalidInput("an objective's status is active or closed")
    if "parent_id" in fields and fields["parent_id"] is not None:
        if fields["parent_id"] == objective_id or objective_id in _ancestors(
            session, fields["parent_id"]
        ):
            raise InvalidInput("an objective cannot sit under itself")
        get_objective(session, fields["parent_id"])
    _check_refs(session, fields.get("team_id"), fields.get("owner_id"))
    changes = {}
    for key, value in fields.items():
        if getattr(row, key) != value:
            changes[key] = {"from": getattr(row, key), "to": value}
            setattr(row, key, value)
    session.flush()
    if changes:
        audit.record(
            session, actor, "portfolio.objective.update", "portfolio_objective", row.id, changes
        )
    return row


def _ancestors(session: Session, objective_id: int) -> set[int]:
    seen: set[int] = set()
    current: int | None = objective_id
    while current is not None and current not in seen:
        seen.add(current)
        current = session.scalar(select(Objective.parent_id).where(Objective.id == current))
    return seen


def get_objective(session: Session, objective_id: int) -> Objective:
    row = session.get(Objective, objective_id)
    if row is None:
        raise NotFound(f"no objective {objective_id}")
    return row


def list_objectives(
    session: Session, *, period: str | None = None, team_id: int | None = None
) -> list[Objective]:
    q = select(Objective).order_by(Objective.period.desc(), Objective.id)
    if period:
        q = q.where(Objective.period == period)
    if team_id is not None:
        q = q.where(Objective.team_id == team_id)
    return list(session.scalars(q))


def periods(session: Session) -> list[str]:
    """Quarters that have objectives, newest first."""
    return list(
        session.scalars(select(Objective.period).distinct().order_by(Objective.period.desc()))
    )


# --- key results ------------------------------------------------------------------------------


def add_key_result(
    session: Session,
    objective_id: int,
    title: str,
    *,
    target: float,
    start: float = 0.0,
    unit: str = "",
    metric: str | None = None,
    metric_grain: str = "week",
    weight: float = 1.0,
    owner_id: int | None = None,
    ws: Workspace | None = None,
    actor: str,
) -> KeyResult:
    """Add a key result to an objective. With `metric`, its value is read from that catalog
    metric (checked against the workspace's catalog when `ws` is given)."""
    get_objective(session, objective_id)
    if not title.strip():
        raise InvalidInput("a key result needs a title")
    if weight <= 0:
        raise InvalidInput("a key result's weight is above 0")
    if metric_grain not in GRAINS:
        raise InvalidInput(f"grain '{metric_grain}' is not one of {', '.join(GRAINS)}")
    if metric is not None and ws is not None:
        _check_metric(ws, metric)
    _check_refs(session, None, owner_id)
    row = KeyResult(
        objective_id=objective_id,
        title=title.strip()[:300],
        target_value=float(target),
        start_value=float(start),
        unit=unit.strip()[:30],
        metric=metric,
        metric_grain=metric_grain,
        weight=weight,
        owner_id=owner_id,
    )
    session.add(row)
    session.flush()
    ensure_daily_refresh(session, actor, soon=metric is not None)
    audit.record(
        session, actor, "portfolio.kr.create", "portfolio_key_result", row.id, {"title": row.title}
    )
    return row


def ensure_daily_refresh(session: Session, actor: str = "system", *, soon: bool = False) -> None:
    """Once a workspace has objectives or synced work, `portfolio.refresh_metrics` runs every
    day: metric-driven key results read their value from the event store (so the portfolio's
    roll-ups follow the metric) and every epic, initiative and objective gets the day's
    snapshot, which the change log compares, even on days no sync runs. `soon`: the next run
    within a minute (a metric key result was just added)."""
    row = jobs.get_schedule(session, DAILY_SCHEDULE)
    first = utcnow() + (dt.timedelta(minutes=1) if soon else dt.timedelta(hours=1))
    if row is None:
        jobs.schedule(
            session,
            DAILY_SCHEDULE,
            "portfolio.refresh_metrics",
            {},
            dt.timedelta(days=1),
            first_run_at=first,
            actor=actor,
        )
    elif soon and row.next_run_at > first:
        row.next_run_at = first
        session.flush()


def _check_metric(ws: Workspace, metric: str) -> None:
    from productops import analytics

    analytics.load_catalog(ws).metric(metric)  # NotFound naming the metric


def get_key_result(session: Session, kr_id: int) -> KeyResult:
    row = session.get(KeyResult, kr_id)
    if row is None:
        raise NotFound(f"no key result {kr_id}")
    return row


def key_results_of(session: Session, objective_ids: list[int] | None = None) -> list[KeyResult]:
    q = select(KeyResult).order_by(KeyResult.objective_id, KeyResult.id)
    if objective_ids is not None:
        q = q.where(KeyResult.objective_id.in_(objective_ids))
    return list(session.scalars(q))


def check_in(
    session: Session,
    kr_id: int,
    value: float,
    comment: str = "",
    *,
    actor: str,
    source: str = "hand",
    at: dt.datetime | None = None,
) -> CheckIn:
    """Record a key result's value now, with a comment saying why it moved."""
    row = get_key_result(session, kr_id)
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput("a key result's value is a finite number")
    entry = CheckIn(
        key_result_id=kr_id,
        value=float(value),
        comment=comment.strip()[:5000],
        source=source,
        author=actor[:200],
        at=at or utcnow(),
    )
    session.add(entry)
    row.current_value = float(value)
    row.updated_at = entry.at
    session.flush()
    audit.record(
        session, actor, "portfolio.kr.checkin", "portfolio_key_result", kr_id, {"value": value}
    )
    return entry


def check_ins(session: Session, kr_id: int, limit: int = 200) -> list[CheckIn]:
    return list(
        session.scalars(
            select(CheckIn)
            .where(CheckIn.key_result_id == kr_id)
            .order_by(CheckIn.at.desc(), CheckIn.id.desc())
            .limit(limit)
        )
    )


def last_check_in_at(session: Session) -> dict[int, dt.datetime]:
    """Each key result's latest check-in time."""
    rows = session.execute(
        select(CheckIn.key_result_id, func.max(CheckIn.at)).group_by(CheckIn.key_result_id)
    )
    return {kr: at for kr, at in rows}  # noqa: C416 - rows, not pairs


@dataclass(frozen=True)
class MetricReading:
    """A catalog metric behind a key result: its series, and its value now: the latest
    complete period (the current week is still filling, and a conversion's last periods wait
    for their window to pass)."""

    metric: str
    label: str
    grain: str
    points: list[tuple[dt.date, float]]
    sql: str
    complete_until: dt.date | None = None  # periods starting after this are unfinished

    def is_complete(self, period: dt.date) -> bool:
        return self.complete_until is None or period <= self.complete_until

    @property
    def current(self) -> float | None:
        done = [v for d, v in self.points if self.is_complete(d)]
        return done[-1] if done else None


_GRAIN_DAYS = {"day": 1, "week": 7, "month": 31}


def read_metric(
    ws: Workspace, kr: KeyResult, start: dt.date | None = None, end: dt.date | None = None
) -> MetricReading:
    """The key result's metric from the event store, per period (through the analytics
    pillar's public API)."""
    from productops import analytics

    if not kr.metric:
        raise InvalidInput(f"key result {kr.id} is updated by hand, not by a metric")
    result = analytics.query_metric(ws, kr.metric, grain=kr.metric_grain, start=start, end=end)
    points: list[tuple[dt.date, float]] = []
    for rec in result.records():
        value = rec.get("value")
        period = rec.get("period")
        if value is None or period is None:
            continue
        points.append((dt.date.fromisoformat(str(period)[:10]), float(value)))
    points.sort()
    # A period is complete once it has ended and, for a conversion, its window has passed.
    wait = _GRAIN_DAYS.get(kr.metric_grain, 7)
    if result.metric.type == "conversion":
        wait += result.metric.conversion_window_days()
    last_complete = (end or utcnow().date()) - dt.timedelta(days=wait)
    return MetricReading(
        kr.metric, result.metric.label, kr.metric_grain, points, result.sql, last_complete
    )


@dataclass
class RefreshOutcome:
    """What a refresh of metric-driven key results did: how many were checked in, and the
    key results whose metric could not be read, with why."""

    checked_in: int = 0
    failed: dict[int, str] = field(default_factory=dict)


def refresh_metric_key_results(
    ws: Workspace, session: Session, actor: str = "system"
) -> RefreshOutcome:
    """Read every metric-driven key result's current value from the catalog and check it
    in when it changed (or had none today). A metric that cannot be read (removed from the
    catalog, say) is reported and the others still move."""
    today = utcnow().date()
    outcome = RefreshOutcome()
    for kr in session.scalars(select(KeyResult).where(KeyResult.metric.is_not(None))):
        obj = session.get(Objective, kr.objective_id)
        start = period_bounds(obj.period)[0] - dt.timedelta(days=7) if obj else None
        try:
            reading = read_metric(ws, kr, start=start)
        except ProductOpsError as exc:
            outcome.failed[kr.id] = f"{kr.title}: {exc}"[:500]
            continue
        value = reading.current
        if value is None:
            continue
        last = session.scalar(
            select(CheckIn)
            .where(CheckIn.key_result_id == kr.id)
            .order_by(CheckIn.at.desc(), CheckIn.id.desc())
            .limit(1)
        )
        if last is not None and last.value == value and last.at.date() == today:
            continue
        check_in(
            session,
            kr.id,
            value,
            f"{reading.label}, latest {reading.grain}",
            actor=actor,
            source="metric",
        )
        outcome.checked_in += 1
    return outcome
