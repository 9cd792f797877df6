"""Roll-ups: how far each epic, initiative and objective has come, how healthy its owners say
it is, and what needs a leader's attention. The rules follow the anchors, each selectable:

- **count** (Jira's issue-count progress): closed issues / issues, by status category;
  canceled issues (Linear) leave the scope.
- **points** (Jira Plans, Linear): story points done / story points; `partial_credit` counts
  that share of in-progress points as done (Linear uses 0.25). An epic without estimates
  falls back to the count.
- An epic without issues counts as one unit of work: done, in progress (partial credit) or
  not started.
- An initiative sums its epics' scope (a big epic weighs more than a small one).
- **Objectives** move with their key results: each key result's (current - start) /
  (target - start), averaged with the key results' weights, together with child objectives
  (their weights). Initiatives and epics do not move an objective unless it says so
  (`work_weight` > 0: the linked work counts as one more item of that weight).
- **Health** is what the owners wrote in their latest update (on track, at risk, off track),
  shown beside the computed progress and marked stale after `update_stale_days`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from productops.core.clock import utcnow
from productops.core.models import Team, User
from productops.portfolio.models import Epic, Initiative, Issue, KeyResult, Objective, Update
from productops.portfolio.okrs.service import kr_progress, last_check_in_at
from productops.portfolio.settings import Section, section
from productops.portfolio.terms import CLOSED

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

RULES = ("count", "points")
FLAG_TEXT = {
    "no_objective": "serves no objective",
    "stale": "not updated in its source lately",
    "thin_description": "empty or thin description",
    "open_children": "closed with open issues under it",
    "no_owner": "no owner",
    "no_active_work": "no open work linked",
    "no_checkin": "no key-result value this cycle",
    "no_update": "no written update this cycle",
}


@dataclass(frozen=True)
class Rule:
    """How progress is counted: `count` or `points`, and the share of in-progress story
    points counted as done."""

    kind: str = "points"
    partial_credit: float = 0.0

    @classmethod
    def of(cls, ws: Workspace | None, kind: str | None = None, credit: float | None = None) -> Rule:
        settings = section(ws) if ws is not None else Section()
        return cls(
            kind=kind if kind in RULES else settings.rollup,
            partial_credit=settings.partial_credit
            if credit is None
            else max(0.0, min(1.0, credit)),
        )


@dataclass
class Scope:
    """The issues under something, by status category, in counts and story points."""

    total: int = 0
    done: int = 0
    started: int = 0
    points: float = 0.0
    points_done: float = 0.0
    points_started: float = 0.0
    unestimated: int = 0

    def add(self, other: Scope) -> None:
        self.total += other.total
        self.done += other.done
        self.started += other.started
        self.points += other.points
        self.points_done += other.points_done
        self.points_started += other.points_started
        self.unestimated += other.unestimated

    def progress(self, rule: Rule) -> float | None:
        if rule.kind == "points" and self.points > 0:
            return min(
                1.0, (self.points_done + rule.partial_credit * self.points_started) / self.points
            )
        if self.total > 0:
            return self.done / self.total
        return None


@dataclass
class Health:
    """The latest written update: its health, when, by whom, and whether it is stale."""

    health: str
    at: dt.datetime
    author: str
    body: str
    stale: bool


@dataclass
class EpicRow:
    id: int
    key: str | None
    title: str
    status: str
    status_category: str
    owner_name: str | None
    team_id: int | None
    initiative_id: int | None
    objective_id: int | None
    start_date: dt.date | None
    target_date: dt.date | None
    updated_at: dt.datetime | None
    description_chars: int
    url: str | None
    scope: Scope
    progress: float | None = None
    health: Health | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status_category not in CLOSED

    @property
    def days_late(self) -> int:
        """Days past its target date while still open (0 when on time, done or undated)."""
        if self.target_date is None or not self.is_open:
            return 0
        return max(0, (utcnow().date() - self.target_date).days)


@dataclass
class InitiativeRow:
    id: int
    key: str | None
    title: str
    status: str
    status_category: str
    owner_name: str | None
    team_id: int | None
    objective_id: int | None
    target_date: dt.date | None
    epics: list[EpicRow] = field(default_factory=list)
    scope: Scope = field(default_factory=Scope)
    progress: float | None = None
    health: Health | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class KeyResultRow:
    id: int
    title: str
    metric: str | None
    start: float
    target: float
    current: float | None
    unit: str
    weight: float
    progress: float
    last_check_in: dt.datetime | None
    flags: list[str] = field(default_factory=list)


@dataclass
class ObjectiveRow:
    id: int
    title: str
    period: str
    status: str
    team_id: int | None
    owner: str | None
    weight: float
    work_weight: float
    parent_id: int | None
    key_results: list[KeyResultRow] = field(default_factory=list)
    initiatives: list[InitiativeRow] = field(default_factory=list)
    epics: list[EpicRow] = field(default_factory=list)  # linked directly, not through one
    children: list[ObjectiveRow] = field(default_factory=list)
    work: Scope = field(default_factory=Scope)
    work_progress: float | None = None
    progress: float | None = None
    health: Health | None = None
    flags: list[str] = field(default_factory=list)

    def all_epics(self) -> Iterable[EpicRow]:
        yield from self.epics
        for i in self.initiatives:
            yield from i.epics


@dataclass
class Portfolio:
    """Objectives with their key results, initiatives and epics, rolled up; and the work
    that serves no objective."""

    rule: Rule
    objectives: list[ObjectiveRow]
    unlinked_initiatives: list[InitiativeRow]
    unlinked_epics: list[EpicRow]
    teams: dict[int, str]
    epics_total: int
    issues_total: int

    def flag_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for e in self.every_epic():
            for f in e.flags:
                counts[f] += 1
        for o in self.every_objective():
            for f in o.flags:
                counts[f] += 1
            for kr in o.key_results:
                for f in kr.flags:
                    counts[f] += 1
        return dict(counts)

    def every_objective(self) -> Iterable[ObjectiveRow]:
        stack = list(self.objectives)
        while stack:
            o = stack.pop(0)
            yield o
            stack[0:0] = o.children

    def every_epic(self) -> Iterable[EpicRow]:
        for o in self.every_objective():
            yield from o.all_epics()
        for i in self.unlinked_initiatives:
            yield from i.epics
        yield from self.unlinked_epics


# --- reading ---------------------------------------------------------------------------------


def epic_scopes(session: Session, epic_ids: list[int] | None = None) -> dict[int, Scope]:
    """Each epic's issues by status category (one grouped query)."""
    estimated = Issue.story_points.is_not(None)
    q = select(
        Issue.epic_id,
        Issue.status_category,
        func.count(),
        func.coalesce(func.sum(Issue.story_points), 0.0),
        func.sum(case((estimated, 0), else_=1)),
    ).where(Issue.epic_id.is_not(None))
    if epic_ids is not None:
        q = q.where(Issue.epic_id.in_(epic_ids))
    scopes: dict[int, Scope] = defaultdict(Scope)
    for epic_id, category, n, points, unestimated in session.execute(
        q.group_by(Issue.epic_id, Issue.status_category)
    ):
        if category == "canceled":
            continue
        s = scopes[epic_id]
        s.total += n
        s.points += float(points or 0)
        s.unestimated += int(unestimated or 0)
        if category == "done":
            s.done += n
            s.points_done += float(points or 0)
        elif category == "indeterminate":
            s.started += n
            s.points_started += float(points or 0)
    return dict(scopes)


def latest_health(
    session: Session, subject_type: str, stale_days: int, ids: list[int] | None = None
) -> dict[int, Health]:
    """The latest update of each subject of a type."""
    latest = (
        select(Update.subject_id, func.max(Update.at).label("at"))
        .where(Update.subject_type == subject_type)
        .group_by(Update.subject_id)
    )
    if ids is not None:
        latest = latest.where(Update.subject_id.in_(ids))
    sub = latest.subquery()
    rows = session.execute(
        select(Update.subject_id, Update.health, Update.at, Update.author, Update.body, Update.id)
        .join(sub, (Update.subject_id == sub.c.subject_id) & (Update.at == sub.c.at))
        .where(Update.subject_type == subject_type)
        .order_by(Update.id)
    )
    cutoff = utcnow() - dt.timedelta(days=stale_days)
    out: dict[int, Health] = {}
    for subject_id, health, at, author, body, _ in rows:
        out[subject_id] = Health(health, at, author, body, stale=at < cutoff)
    return out


def epic_progress(scope: Scope, category: str, rule: Rule) -> float:
    progress = scope.progress(rule)
    if progress is not None:
        return progress
    if category in CLOSED:
        return 1.0
    return rule.partial_credit if category == "indeterminate" else 0.0


def _unit_scope(category: str) -> Scope:
    """An epic without issues as one unit of work."""
    if category == "canceled":
        return Scope()
    return Scope(total=1, done=int(category == "done"), started=int(category == "indeterminate"))


@dataclass
class Filters:
    """What a portfolio view shows: a quarter, a team, an owner, a health, a flag, a text."""

    period: str | None = None
    team_id: int | None = None
    owner: str | None = None
    health: str | None = None
    flag: str | None = None
    q: str | None = None
    include_closed: bool = False

    def epic_matches(self, e: EpicRow) -> bool:
        if self.team_id is not None and e.team_id != self.team_id:
            return False
        if self.owner and (e.owner_name or "").lower() != self.owner.lower():
            return False
        if self.health and (e.health.health if e.health else "none") != self.health:
            return False
        if self.flag and self.flag not in e.flags:
            return False
        if self.q:
            text = f"{e.key or ''} {e.title}".lower()
            if self.q.lower() not in text:
                return False
        # Closed work is listed when asked for, or when it still has open work under it.
        return self.include_closed or e.is_open or "open_children" in e.flags


def build(
    session: Session, ws: Workspace | None, rule: Rule, filters: Filters | None = None
) -> Portfolio:
    """The whole portfolio rolled up, then narrowed to `filters` (progress is always computed
    over all the work, so a filter never changes a number, only what is listed)."""
    settings = section(ws) if ws is not None else Section()
    filters = filters or Filters()
    now = utcnow()
    teams = {r[0]: r[1] for r in session.execute(select(Team.id, Team.name))}
    users = {r[0]: r[1] for r in session.execute(select(User.id, User.name))}
    scopes = epic_scopes(session)
    epic_health = latest_health(session, "epic", settings.update_stale_days)
    init_health = latest_health(session, "initiative", settings.update_stale_days)
    obj_health = latest_health(session, "objective", settings.update_stale_days)
    stale_before = now - dt.timedelta(days=settings.stale_epic_days)
    epics: list[EpicRow] = []
    for row in session.execute(
        select(
            Epic.id,
            Epic.key,
            Epic.title,
            Epic.status,
            Epic.status_category,
            Epic.owner_name,
            Epic.team_id,
            Epic.initiative_id,
            Epic.objective_id,
            Epic.start_date,
            Epic.target_date,
            Epic.source_updated_at,
            func.length(Epic.description),
            Epic.url,
        ).order_by(Epic.target_date.is_(None), Epic.target_date, Epic.id)
    ):
        e = EpicRow(
            id=row[0],
            key=row[1],
            title=row[2],
            status=row[3],
            status_category=row[4],
            owner_name=row[5],
            team_id=row[6],
            initiative_id=row[7],
            objective_id=row[8],
            start_date=row[9],
            target_date=row[10],
            updated_at=row[11],
            description_chars=int(row[12] or 0),
            url=row[13],
            scope=Scope(),
        )
        own = scopes.get(e.id)
        e.scope = own if own is not None and own.total else _unit_scope(e.status_category)
        e.progress = epic_progress(own or Scope(), e.status_category, rule)
        e.health = epic_health.get(e.id)
        if e.is_open and e.updated_at is not None and e.updated_at < stale_before:
            e.flags.append("stale")
        if e.description_chars < settings.thin_description_chars:
            e.flags.append("thin_description")
        if not e.is_open and own is not None and own.total > own.done:
            e.flags.append("open_children")
        if not e.owner_name:
            e.flags.append("no_owner")
        epics.append(e)
    initiatives: dict[int, InitiativeRow] = {}
    for irow in session.execute(
        select(
            Initiative.id,
            Initiative.key,
            Initiative.title,
            Initiative.status,
            Initiative.status_category,
            Initiative.owner_name,
            Initiative.team_id,
            Initiative.objective_id,
            Initiative.target_date,
        ).order_by(Initiative.id)
    ):
        i = InitiativeRow(
            id=irow[0],
            key=irow[1],
            title=irow[2],
            status=irow[3],
            status_category=irow[4],
            owner_name=irow[5],
            team_id=irow[6],
            objective_id=irow[7],
            target_date=irow[8],
        )
        i.health = init_health.get(i.id)
        if not i.owner_name:
            i.flags.append("no_owner")
        initiatives[i.id] = i
    objectives: dict[int, ObjectiveRow] = {}
    for model in session.scalars(select(Objective).order_by(Objective.period.desc(), Objective.id)):
        objectives[model.id] = ObjectiveRow(
            id=model.id,
            title=model.title,
            period=model.period,
            status=model.status,
            team_id=model.team_id,
            owner=users.get(model.owner_id) if model.owner_id else None,
            weight=model.weight,
            work_weight=model.work_weight,
            parent_id=model.parent_id,
            health=obj_health.get(model.id),
        )
    checked = last_check_in_at(session)
    cycle_start = now - dt.timedelta(days=settings.update_cycle_days)
    for kr in session.scalars(select(KeyResult).order_by(KeyResult.id)):
        parent = objectives.get(kr.objective_id)
        if parent is None:
            continue
        last = checked.get(kr.id)
        k = KeyResultRow(
            id=kr.id,
            title=kr.title,
            metric=kr.metric,
            start=kr.start_value,
            target=kr.target_value,
            current=kr.current_value,
            unit=kr.unit,
            weight=kr.weight,
            progress=kr_progress(kr.start_value, kr.target_value, kr.current_value),
            last_check_in=last,
        )
        if parent.status == "active" and (last is None or last < cycle_start):
            k.flags.append("no_checkin")
        parent.key_results.append(k)
    # Place the work in the tree.
    for e in epics:
        objective = objectives.get(e.objective_id) if e.objective_id else None
        initiative = initiatives.get(e.initiative_id) if e.initiative_id else None
        if objective is None and (initiative is None or initiative.objective_id not in objectives):
            e.flags.insert(0, "no_objective")
        if initiative is not None:
            initiative.epics.append(e)
            initiative.scope.add(e.scope)
        elif objective is not None:
            objective.epics.append(e)
    for i in initiatives.values():
        i.progress = i.scope.progress(rule) if i.epics else None
        if i.progress is None and i.status_category in CLOSED:
            i.progress = 1.0
        if i.objective_id in objectives:
            objectives[i.objective_id].initiatives.append(i)
    roots = []
    for o in objectives.values():
        if o.parent_id in objectives:
            objectives[o.parent_id].children.append(o)
        else:
            roots.append(o)
    for o in roots:
        _roll_objective(o, rule)
    for o in objectives.values():
        active = [e for e in o.all_epics() if e.is_open]
        if o.status == "active" and not active:
            o.flags.append("no_active_work")
        if not o.owner:
            o.flags.append("no_owner")
    unlinked_i = [i for i in initiatives.values() if i.objective_id not in objectives]
    unlinked_e = [
        e for e in epics if e.objective_id not in objectives and e.initiative_id not in initiatives
    ]
    issues_total = sum(s.total for s in scopes.values())
    portfolio = Portfolio(
        rule=rule,
        objectives=roots,
        unlinked_initiatives=unlinked_i,
        unlinked_epics=unlinked_e,
        teams=teams,
        epics_total=len(epics),
        issues_total=issues_total,
    )
    return _narrow(portfolio, filters)


def _roll_objective(o: ObjectiveRow, rule: Rule) -> float | None:
    items: list[tuple[float, float]] = [(kr.progress, kr.weight) for kr in o.key_results]
    for child in o.children:
        p = _roll_objective(child, rule)
        if p is not None:
            items.append((p, child.weight))
    for e in o.epics:
        o.work.add(e.scope)
    for i in o.initiatives:
        o.work.add(i.scope)
    o.work_progress = o.work.progress(rule)
    if o.work_weight > 0 and o.work_progress is not None:
        items.append((o.work_progress, o.work_weight))
    total = sum(w for _, w in items)
    o.progress = sum(p * w for p, w in items) / total if total > 0 else None
    return o.progress


def _narrow(p: Portfolio, f: Filters) -> Portfolio:
    """Keep what the filters ask for; an objective stays while it or its work matches."""
    narrowing_work = any((f.team_id is not None, f.owner, f.health, f.flag, f.q))

    def keep_objective(o: ObjectiveRow) -> bool:
        if f.period and o.period != f.period:
            return False
        o.children = [c for c in o.children if keep_objective(c)]
        for i in o.initiatives:
            i.epics = [e for e in i.epics if f.epic_matches(e)]
        o.epics = [e for e in o.epics if f.epic_matches(e)]
        if narrowing_work:
            o.initiatives = [
                i
                for i in o.initiatives
                if i.epics or (f.team_id is not None and i.team_id == f.team_id)
            ]
            own = (
                (f.team_id is not None and o.team_id == f.team_id)
                or (
                    f.flag is not None
                    and (f.flag in o.flags or any(f.flag in k.flags for k in o.key_results))
                )
                or (f.health is not None and o.health is not None and o.health.health == f.health)
                or (f.q is not None and f.q.lower() in o.title.lower())
            )
            return bool(own or o.initiatives or o.epics or o.children)
        return True

    p.objectives = [o for o in p.objectives if keep_objective(o)]
    for i in p.unlinked_initiatives:
        i.epics = [e for e in i.epics if f.epic_matches(e)]
    p.unlinked_initiatives = [i for i in p.unlinked_initiatives if i.epics or not narrowing_work]
    p.unlinked_epics = [e for e in p.unlinked_epics if f.epic_matches(e)]
    return p


def flag_label(flag: str) -> str:
    return FLAG_TEXT.get(flag, flag.replace("_", " "))


def share(value: float | None) -> str:
    """A progress as people read it: `42%`, or `—` when there is nothing to count."""
    return "—" if value is None else f"{value * 100:.0f}%"


def portfolio_rows(p: Portfolio) -> tuple[list[str], list[list[Any]]]:
    """The portfolio as one flat table (objective → initiative → epic) for CSV."""
    columns = [
        "level",
        "id",
        "key",
        "title",
        "period",
        "team",
        "owner",
        "status",
        "progress",
        "health",
        "health_at",
        "health_stale",
        "issues",
        "issues_done",
        "points",
        "points_done",
        "target_date",
        "flags",
        "objective_id",
        "initiative_id",
    ]
    rows: list[list[Any]] = []

    def health(h: Health | None) -> list[Any]:
        return [h.health, h.at, h.stale] if h else [None, None, None]

    def epic_row(e: EpicRow, obj: int | None) -> list[Any]:
        return [
            "epic",
            e.id,
            e.key,
            e.title,
            None,
            p.teams.get(e.team_id) if e.team_id else None,
            e.owner_name,
            e.status,
            round(e.progress, 4) if e.progress is not None else None,
            *health(e.health),
            e.scope.total,
            e.scope.done,
            e.scope.points,
            e.scope.points_done,
            e.target_date,
            " ".join(e.flags),
            obj,
            e.initiative_id,
        ]

    for o in p.every_objective():
        rows.append(
            [
                "objective",
                o.id,
                None,
                o.title,
                o.period,
                p.teams.get(o.team_id) if o.team_id else None,
                o.owner,
                o.status,
                round(o.progress, 4) if o.progress is not None else None,
                *health(o.health),
                o.work.total,
                o.work.done,
                o.work.points,
                o.work.points_done,
                None,
                " ".join(o.flags),
                o.parent_id,
                None,
            ]
        )
        for i in o.initiatives:
            rows.append(_initiative_row(p, i, o.id, health))
            rows += [epic_row(e, o.id) for e in i.epics]
        rows += [epic_row(e, o.id) for e in o.epics]
    for i in p.unlinked_initiatives:
        rows.append(_initiative_row(p, i, None, health))
        rows += [epic_row(e, None) for e in i.epics]
    rows += [epic_row(e, None) for e in p.unlinked_epics]
    return columns, rows


def _initiative_row(p: Portfolio, i: InitiativeRow, obj: int | None, health: Any) -> list[Any]:
    return [
        "initiative",
        i.id,
        i.key,
        i.title,
        None,
        p.teams.get(i.team_id) if i.team_id else None,
        i.owner_name,
        i.status,
        round(i.progress, 4) if i.progress is not None else None,
        *health(i.health),
        i.scope.total,
        i.scope.done,
        i.scope.points,
        i.scope.points_done,
        i.target_date,
        " ".join(i.flags),
        obj,
        None,
    ]
