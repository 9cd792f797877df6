"""What leaders open instead of digging through Jira: the roadmap in Now / Next / Later, the
timeline by quarter and team, a team's page, the quality flags, and charts of progress over
time. Each reads the rolled-up portfolio (`rollups.build`), so every page shows the same
numbers.

Now / Next / Later: **Now** is open work in progress, or dated to run today; **Next** is
work not started whose start or target falls before the end of next quarter; **Later** is
the rest of the open work (dated further out, or not dated at all).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from productops.core.clock import utcnow
from productops.portfolio.okrs.service import period_bounds, period_of, shift_period
from productops.portfolio.rollups.service import (
    EpicRow,
    Filters,
    Portfolio,
    flag_label,
)
from productops.portfolio.updates.service import history

BUCKETS = ("now", "next", "later")


def bucket_of(e: EpicRow, today: dt.date) -> str | None:
    """now / next / later for open work (None for closed work)."""
    if not e.is_open:
        return None
    if e.status_category == "indeterminate":
        return "now"
    if (
        e.start_date is not None
        and e.start_date <= today
        and (e.target_date is None or e.target_date >= today)
    ):
        return "now"
    _, next_end = period_bounds(shift_period(period_of(today), 1))
    first = e.start_date or e.target_date
    if first is not None and first <= next_end:
        return "next"
    return "later"


@dataclass
class Roadmap:
    columns: dict[str, list[EpicRow]]
    objective_of: dict[int, str]  # epic id → objective title
    teams: dict[int, str]


def _objective_titles(p: Portfolio) -> dict[int, str]:
    out: dict[int, str] = {}
    for o in p.every_objective():
        for e in o.all_epics():
            out[e.id] = o.title
    return out


def roadmap(p: Portfolio, today: dt.date | None = None) -> Roadmap:
    today = today or utcnow().date()
    columns: dict[str, list[EpicRow]] = {b: [] for b in BUCKETS}
    for e in p.every_epic():
        b = bucket_of(e, today)
        if b is not None:
            columns[b].append(e)
    for b in BUCKETS:
        columns[b].sort(key=lambda e: (e.target_date or dt.date.max, e.title))
    return Roadmap(columns, _objective_titles(p), p.teams)


def roadmap_rows(r: Roadmap) -> tuple[list[str], list[list[Any]]]:
    columns = [
        "column",
        "id",
        "key",
        "title",
        "team",
        "owner",
        "status",
        "progress",
        "start_date",
        "target_date",
        "objective",
        "flags",
    ]
    rows = []
    for b in BUCKETS:
        for e in r.columns[b]:
            rows.append(
                [
                    b,
                    e.id,
                    e.key,
                    e.title,
                    r.teams.get(e.team_id) if e.team_id else None,
                    e.owner_name,
                    e.status,
                    e.progress,
                    e.start_date,
                    e.target_date,
                    r.objective_of.get(e.id),
                    " ".join(e.flags),
                ]
            )
    return columns, rows


@dataclass
class Timeline:
    """Epics by quarter of their target date, in rows by team (or one row)."""

    quarters: list[str]
    rows: list[tuple[str, dict[str, list[EpicRow]]]]
    undated: list[EpicRow]
    by: str


def timeline(p: Portfolio, by: str = "team", today: dt.date | None = None) -> Timeline:
    today = today or utcnow().date()
    now = period_of(today)
    epics = list(p.every_epic())
    dated = [e for e in epics if e.target_date is not None]
    quarters = sorted({period_of(e.target_date) for e in dated if e.target_date} | {now})
    # Keep a readable window: from a quarter back to three ahead, plus what lies outside.
    window = [shift_period(now, k) for k in range(-1, 4)]
    quarters = sorted(set(window) | {q for q in quarters if window[0] <= q <= window[-1]})
    grid: dict[str, dict[str, list[EpicRow]]] = defaultdict(lambda: defaultdict(list))
    for e in dated:
        assert e.target_date is not None
        q = period_of(e.target_date)
        q = quarters[0] if q < quarters[0] else quarters[-1] if q > quarters[-1] else q
        row = (
            (p.teams.get(e.team_id) or "No team")
            if (by == "team" and e.team_id)
            else ("No team" if by == "team" else "All work")
        )
        grid[row][q].append(e)
    rows = [(name, dict(grid[name])) for name in sorted(grid, key=lambda n: (n == "No team", n))]
    return Timeline(quarters, rows, [e for e in epics if e.target_date is None], by)


def timeline_rows(t: Timeline, teams: dict[int, str]) -> tuple[list[str], list[list[Any]]]:
    columns = ["row", "quarter", "id", "key", "title", "team", "status", "progress", "target_date"]
    rows = []
    for name, cells in t.rows:
        for q in t.quarters:
            for e in cells.get(q, []):
                rows.append(
                    [
                        name,
                        q,
                        e.id,
                        e.key,
                        e.title,
                        teams.get(e.team_id) if e.team_id else None,
                        e.status,
                        e.progress,
                        e.target_date,
                    ]
                )
    for e in t.undated:
        rows.append(
            [
                "undated",
                None,
                e.id,
                e.key,
                e.title,
                teams.get(e.team_id) if e.team_id else None,
                e.status,
                e.progress,
                None,
            ]
        )
    return columns, rows


@dataclass
class FlagRow:
    kind: str  # epic | objective | key_result | initiative
    id: int
    title: str
    key: str | None
    flag: str
    team_id: int | None
    owner: str | None
    link: str

    @property
    def label(self) -> str:
        return flag_label(self.flag)


def flag_rows(p: Portfolio, flag: str | None = None) -> list[FlagRow]:
    """Every quality flag of the (filtered) portfolio, one row per flag."""
    out: list[FlagRow] = []
    for e in p.every_epic():
        for f in e.flags:
            out.append(
                FlagRow(
                    "epic",
                    e.id,
                    e.title,
                    e.key,
                    f,
                    e.team_id,
                    e.owner_name,
                    f"/portfolio/epics/{e.id}",
                )
            )
    for o in p.every_objective():
        for f in o.flags:
            out.append(
                FlagRow(
                    "objective",
                    o.id,
                    o.title,
                    None,
                    f,
                    o.team_id,
                    o.owner,
                    f"/portfolio/objectives/{o.id}",
                )
            )
        for k in o.key_results:
            for f in k.flags:
                out.append(
                    FlagRow(
                        "key_result",
                        k.id,
                        k.title,
                        None,
                        f,
                        o.team_id,
                        o.owner,
                        f"/portfolio/key-results/{k.id}",
                    )
                )
    if flag:
        out = [r for r in out if r.flag == flag]
    return out


@dataclass
class TeamView:
    team_id: int
    name: str
    epics: list[EpicRow]
    objectives: list[Any]
    buckets: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)


def team_view(p: Portfolio, team_id: int, name: str) -> TeamView:
    today = utcnow().date()
    epics = [e for e in p.every_epic() if e.team_id == team_id]
    objectives = [
        o
        for o in p.every_objective()
        if o.team_id == team_id or any(e.team_id == team_id for e in o.all_epics())
    ]
    buckets: dict[str, int] = defaultdict(int)
    flags: dict[str, int] = defaultdict(int)
    for e in epics:
        buckets[bucket_of(e, today) or "done"] += 1
        for f in e.flags:
            flags[f] += 1
    return TeamView(team_id, name, epics, objectives, dict(buckets), dict(flags))


def filters_from(**kw: Any) -> Filters:
    return Filters(**{k: v for k, v in kw.items() if v not in (None, "")})


def progress_history(
    session: Session, subject_type: str, ids: dict[int, str], days: int = 120
) -> list[dict[str, Any]]:
    """Snapshots as chart rows: {day, name, progress}."""
    since = utcnow().date() - dt.timedelta(days=days)
    if not ids:
        return []
    return [
        {"day": d.isoformat(), "name": ids[sid], "progress": round(p * 100, 1)}
        for sid, d, p in history(session, subject_type, list(ids), since)
        if p is not None
    ]
