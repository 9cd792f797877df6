"""Initiatives, epics and issues: what a sync writes, how imported epics find their
initiative, objective and team (the source's parent, mapping rules, or a link made by hand,
which always wins), and the links to feature requests.

`apply_fetched` writes one fetch of a connection in the caller's transaction: new items are
created, changed ones updated, unchanged ones left alone, items no longer in the source
deleted, and issues that changed epic (or key) counted as moved. Running it twice on the same
fetch changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.models import Team
from productops.portfolio.connectors.records import Fetched, WorkItem
from productops.portfolio.models import (
    Connection,
    Epic,
    FeatureLink,
    Initiative,
    Issue,
    MappingRule,
    Objective,
    Update,
)
from productops.portfolio.terms import CLOSED

MATCHES = ("label", "component", "project", "parent")
SAMPLE = 25
CHUNK = 500


@dataclass
class SyncReport:
    """What a sync did. `moved`: issues that changed epic or key, epics that changed
    initiative; `unmapped`: open epics that serve no objective after the sync."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    moved: int = 0
    unmapped: int = 0
    items: int = 0
    updates: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, what: str, key: str | None) -> None:
        if key:
            keys = self.samples.setdefault(what, [])
            if len(keys) < SAMPLE:
                keys.append(key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- sync -------------------------------------------------------------------------------------


def _team_ids(session: Session) -> dict[str, int]:
    return {name.lower(): tid for tid, name in session.execute(select(Team.id, Team.name))}


def _rules(session: Session, connection_id: int | None) -> list[MappingRule]:
    q = select(MappingRule).order_by(MappingRule.id)
    if connection_id is not None:
        q = q.where(
            or_(MappingRule.connection_id.is_(None), MappingRule.connection_id == connection_id)
        )
    return list(session.scalars(q))


def _facets(epic: Epic, match: str) -> set[str]:
    """The epic's values a rule of kind `match` compares with, lower case."""
    if match == "label":
        return {v.lower() for v in epic.labels or []}
    if match == "component":
        return {v.lower() for v in epic.components or []}
    if match == "project":
        return {(epic.project or "").lower()}
    return {(epic.parent_external_id or "").lower()}


def _matching(rules: Sequence[MappingRule], epic: Epic) -> list[MappingRule]:
    found = []
    for rule in rules:
        if rule.connection_id is not None and rule.connection_id != epic.connection_id:
            continue
        if rule.value.lower() in _facets(epic, rule.match):
            found.append(rule)
    return found


def map_epic(epic: Epic, rules: Sequence[MappingRule], source_initiative: int | None) -> None:
    """Link an epic by its source parent, else by the first matching rule; links made by
    hand are kept."""
    matched = _matching(rules, epic)
    if epic.initiative_by != "hand":
        rule_init = next((r.initiative_id for r in matched if r.initiative_id), None)
        if source_initiative is not None:
            epic.initiative_id, epic.initiative_by = source_initiative, "parent"
        elif rule_init is not None:
            epic.initiative_id, epic.initiative_by = rule_init, "rule"
        else:
            epic.initiative_id, epic.initiative_by = None, None
    if epic.objective_by != "hand":
        rule_obj = next((r.objective_id for r in matched if r.objective_id), None)
        epic.objective_id = rule_obj
        epic.objective_by = "rule" if rule_obj is not None else None
    rule_team = next((r.team_id for r in matched if r.team_id), None)
    if rule_team is not None:
        epic.team_id = rule_team


def _epic_fields(item: WorkItem) -> dict[str, Any]:
    return {
        "key": item.key,
        "title": item.title,
        "description": item.description,
        "status": item.status,
        "status_category": item.status_category,
        "owner_name": item.owner_name,
        "project": item.project,
        "labels": list(item.labels),
        "components": list(item.components),
        "parent_external_id": item.parent_key or item.parent_ref,
        "start_date": item.start_date,
        "target_date": item.target_date,
        "url": item.url,
        "source_created_at": item.created_at,
        "source_updated_at": item.updated_at,
        "resolved_at": item.resolved_at,
    }


def _set(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def apply_fetched(
    session: Session, connection: Connection, fetched: Fetched, actor: str
) -> SyncReport:
    """Write a fetch of `connection` (see the module docstring); returns the report."""
    report = SyncReport(items=len(fetched.items))
    cid = connection.id
    teams = _team_ids(session)
    rules = _rules(session, cid)
    by_level: dict[str, list[WorkItem]] = {"initiative": [], "epic": [], "issue": []}
    for item in fetched.items:
        by_level[item.level].append(item)
    level_of = {item.external_id: item.level for item in fetched.items}

    def gone(external_id: str | None, level: str) -> bool:
        if external_id is None:
            return False
        if external_id in level_of:
            return level_of[external_id] != level
        if fetched.complete:
            return True
        return fetched.present is not None and external_id not in fetched.present

    # Initiatives.
    initiatives: dict[str, Initiative] = {
        i.external_id or "": i
        for i in session.scalars(select(Initiative).where(Initiative.connection_id == cid))
    }
    init_ref: dict[str, int] = {}
    for item in by_level["initiative"]:
        row = initiatives.get(item.external_id)
        values: dict[str, Any] = {
            "key": item.key,
            "title": item.title,
            "description": item.description,
            "status": item.status,
            "status_category": item.status_category,
            "owner_name": item.owner_name,
            "target_date": item.target_date,
            "url": item.url,
            "source_updated_at": item.updated_at,
        }
        if item.team_name and item.team_name.lower() in teams:
            values["team_id"] = teams[item.team_name.lower()]
        if row is None:
            row = Initiative(connection_id=cid, external_id=item.external_id, **values)
            if "team_id" not in values:
                row.team_id = connection.team_id
            session.add(row)
            initiatives[item.external_id] = row
            report.created += 1
            report.note("created", item.key or item.title)
        elif _set(row, values):
            report.updated += 1
        else:
            report.unchanged += 1
    for ext, row in list(initiatives.items()):
        if gone(ext, "initiative"):
            session.delete(row)
            del initiatives[ext]
            report.deleted += 1
            report.note("deleted", row.key or row.title)
    session.flush()
    for ext, row in initiatives.items():
        init_ref[ext] = row.id
        if row.key:
            init_ref[row.key] = row.id

    # Epics.
    epics: dict[str, Epic] = {
        e.external_id or "": e
        for e in session.scalars(select(Epic).where(Epic.connection_id == cid))
    }
    for item in by_level["epic"]:
        epic_row = epics.get(item.external_id)
        values = _epic_fields(item)
        source_init = None
        for ref in (item.parent_ref, item.parent_key, *item.initiative_refs):
            if ref and ref in init_ref:
                source_init = init_ref[ref]
                break
        team = teams.get((item.team_name or "").lower()) or connection.team_id
        if epic_row is None:
            epic_row = Epic(connection_id=cid, external_id=item.external_id, team_id=team, **values)
            map_epic(epic_row, rules, source_init)
            session.add(epic_row)
            epics[item.external_id] = epic_row
            report.created += 1
            report.note("created", item.key or item.title)
            continue
        before = (epic_row.initiative_id, epic_row.objective_id, epic_row.team_id, epic_row.key)
        changed = _set(epic_row, values)
        if item.team_name and item.team_name.lower() in teams:
            epic_row.team_id = teams[item.team_name.lower()]
        map_epic(epic_row, rules, source_init)
        after = (epic_row.initiative_id, epic_row.objective_id, epic_row.team_id, epic_row.key)
        if before[0] != after[0] and before[0] is not None and epic_row.initiative_by == "parent":
            report.moved += 1
            report.note("moved", epic_row.key or epic_row.title)
        if changed or before != after:
            report.updated += 1
        else:
            report.unchanged += 1
    for ext, epic_row in list(epics.items()):
        if gone(ext, "epic"):
            session.delete(epic_row)
            del epics[ext]
            report.deleted += 1
            report.note("deleted", epic_row.key or epic_row.title)
    session.flush()
    epic_ref: dict[str, int] = {}
    for ext, epic_row in epics.items():
        epic_ref[ext] = epic_row.id
        if epic_row.key:
            epic_ref[epic_row.key] = epic_row.id

    _apply_issues(session, connection, by_level["issue"], epic_ref, gone, report)
    report.updates = _apply_updates(session, fetched, epic_ref)
    report.unmapped = _unmapped(session, cid, report)
    connection.story_points_field = fetched.story_points_field or connection.story_points_field
    session.flush()
    audit.record(
        session,
        actor,
        "portfolio.sync",
        "portfolio_connection",
        cid,
        {k: v for k, v in report.as_dict().items() if k != "samples"},
    )
    return report


ISSUE_COLUMNS = (
    "key",
    "title",
    "issue_type",
    "status",
    "status_category",
    "story_points",
    "assignee_name",
    "epic_id",
    "parent_external_id",
    "source_updated_at",
    "resolved_at",
    "url",
)


def _apply_issues(
    session: Session,
    connection: Connection,
    items: list[WorkItem],
    epic_ref: dict[str, int],
    gone: Any,
    report: SyncReport,
) -> None:
    cid = connection.id
    existing: dict[str, tuple[Any, ...]] = {
        row[1]: tuple(row)
        for row in session.execute(
            select(Issue.id, Issue.external_id, *[getattr(Issue, c) for c in ISSUE_COLUMNS]).where(
                Issue.connection_id == cid
            )
        )
    }
    # An issue's epic: its explicit epic link, else its parent when that is an epic, else
    # (a sub-task) its parent issue's epic.
    direct: dict[str, int | None] = {}
    key_of: dict[str, str] = {}
    for item in items:
        epic = None
        for ref in (item.epic_ref, item.parent_ref, item.parent_key):
            if ref and ref in epic_ref:
                epic = epic_ref[ref]
                break
        direct[item.external_id] = epic
        if item.key:
            key_of[item.key] = item.external_id
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for item in items:
        epic = direct[item.external_id]
        if epic is None and item.parent_ref:
            parent = item.parent_ref if item.parent_ref in direct else key_of.get(item.parent_ref)
            if parent is not None:
                epic = direct.get(parent)
        values = {
            "key": item.key,
            "title": item.title,
            "issue_type": item.issue_type,
            "status": item.status,
            "status_category": item.status_category,
            "story_points": item.story_points,
            "assignee_name": item.owner_name,
            "epic_id": epic,
            "parent_external_id": item.parent_key or item.parent_ref,
            "source_updated_at": item.updated_at,
            "resolved_at": item.resolved_at,
            "url": item.url,
        }
        old = existing.get(item.external_id)
        if old is None:
            inserts.append({"connection_id": cid, "external_id": item.external_id, **values})
            report.created += 1
            report.note("created", item.key)
            continue
        current = dict(zip(ISSUE_COLUMNS, old[2:], strict=True))
        if _same(current, values):
            report.unchanged += 1
            continue
        if current["epic_id"] != epic or (current["key"] and current["key"] != item.key):
            report.moved += 1
            report.note("moved", item.key)
        report.updated += 1
        updates.append({"id": old[0], **values})
    for chunk in _chunks(inserts):
        session.execute(insert(Issue), chunk)
    for chunk in _chunks(updates):
        session.execute(update(Issue), chunk)
    doomed = [(old[0], old[2]) for ext, old in existing.items() if gone(ext, "issue")]
    for chunk in _chunks(doomed):
        session.execute(delete(Issue).where(Issue.id.in_([i for i, _ in chunk])))
    report.deleted += len(doomed)
    for _, key in doomed[:SAMPLE]:
        report.note("deleted", key)


def _same(current: dict[str, Any], values: dict[str, Any]) -> bool:
    return all(current[key] == value for key, value in values.items())


def _chunks(rows: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


def _apply_updates(session: Session, fetched: Fetched, epic_ref: dict[str, int]) -> int:
    written = 0
    known = set(
        session.scalars(
            select(Update.external_id).where(
                Update.external_id.in_([u.external_id for u in fetched.updates])
            )
        )
    )
    for u in fetched.updates:
        subject = epic_ref.get(u.subject_ref)
        if subject is None or u.external_id in known:
            continue
        session.add(
            Update(
                subject_type="epic",
                subject_id=subject,
                health=u.health,
                body=u.body,
                author=u.author[:300],
                source="linear",
                external_id=u.external_id,
                at=u.at,
            )
        )
        written += 1
    return written


def _unmapped(session: Session, connection_id: int, report: SyncReport) -> int:
    rows = session.execute(
        select(Epic.key, Epic.title)
        .outerjoin(Initiative, Epic.initiative_id == Initiative.id)
        .where(
            Epic.connection_id == connection_id,
            Epic.objective_id.is_(None),
            Initiative.objective_id.is_(None),
            Epic.status_category.not_in(CLOSED),
        )
    ).all()
    for key, title in rows[:SAMPLE]:
        report.note("unmapped", key or title)
    return len(rows)


def reapply_rules(session: Session, actor: str) -> int:
    """Map every imported epic again after the rules changed; returns how many moved."""
    rules = _rules(session, None)
    init_by_ref: dict[tuple[int | None, str], int] = {}
    for i in session.scalars(select(Initiative).where(Initiative.connection_id.is_not(None))):
        if i.external_id:
            init_by_ref[(i.connection_id, i.external_id)] = i.id
        if i.key:
            init_by_ref[(i.connection_id, i.key)] = i.id
    moved = 0
    for epic in session.scalars(select(Epic).where(Epic.connection_id.is_not(None))):
        before = (epic.initiative_id, epic.objective_id, epic.team_id)
        source = None
        if epic.initiative_by == "parent":
            source = epic.initiative_id
        elif epic.parent_external_id:
            source = init_by_ref.get((epic.connection_id, epic.parent_external_id))
        map_epic(epic, rules, source)
        moved += before != (epic.initiative_id, epic.objective_id, epic.team_id)
    session.flush()
    audit.record(session, actor, "portfolio.rules.apply", "portfolio_rule", None, {"moved": moved})
    return moved


# --- rules --------------------------------------------------------------------------------


def list_rules(session: Session) -> list[MappingRule]:
    return list(session.scalars(select(MappingRule).order_by(MappingRule.id)))


def add_rule(
    session: Session,
    *,
    match: str,
    value: str,
    initiative_id: int | None = None,
    objective_id: int | None = None,
    team_id: int | None = None,
    connection_id: int | None = None,
    actor: str,
) -> MappingRule:
    """Map imported epics whose `match` (label, component, project, parent) is `value` to
    an initiative, an objective and/or a team; existing epics follow at once."""
    if match not in MATCHES:
        raise InvalidInput(f"'{match}' is not one of {', '.join(MATCHES)}")
    value = value.strip()
    if not value:
        raise InvalidInput("a rule needs a value to match")
    if initiative_id is None and objective_id is None and team_id is None:
        raise InvalidInput("a rule needs an initiative, an objective or a team to map to")
    if initiative_id is not None:
        get_initiative(session, initiative_id)
    if objective_id is not None and session.get(Objective, objective_id) is None:
        raise NotFound(f"no objective {objective_id}")
    if team_id is not None and session.get(Team, team_id) is None:
        raise NotFound(f"no team {team_id}")
    if connection_id is not None and session.get(Connection, connection_id) is None:
        raise NotFound(f"no connection {connection_id}")
    clash = session.scalar(
        select(MappingRule).where(
            MappingRule.match == match,
            func.lower(MappingRule.value) == value.lower(),
            MappingRule.connection_id.is_(None)
            if connection_id is None
            else MappingRule.connection_id == connection_id,
        )
    )
    if clash is not None:
        raise Conflict(f"a rule for {match} '{value}' exists already (rule {clash.id})")
    rule = MappingRule(
        match=match,
        value=value[:300],
        initiative_id=initiative_id,
        objective_id=objective_id,
        team_id=team_id,
        connection_id=connection_id,
        created_by=actor,
    )
    session.add(rule)
    session.flush()
    audit.record(
        session,
        actor,
        "portfolio.rule.add",
        "portfolio_rule",
        rule.id,
        {"match": match, "value": value},
    )
    reapply_rules(session, actor)
    return rule


def delete_rule(session: Session, rule_id: int, actor: str) -> None:
    rule = session.get(MappingRule, rule_id)
    if rule is None:
        raise NotFound(f"no mapping rule {rule_id}")
    session.delete(rule)
    session.flush()
    audit.record(session, actor, "portfolio.rule.delete", "portfolio_rule", rule_id)
    reapply_rules(session, actor)


# --- epics and initiatives ------------------------------------------------------------------


def get_epic(session: Session, epic_id: int) -> Epic:
    epic = session.get(Epic, epic_id)
    if epic is None:
        raise NotFound(f"no epic {epic_id}")
    return epic


def get_initiative(session: Session, initiative_id: int) -> Initiative:
    row = session.get(Initiative, initiative_id)
    if row is None:
        raise NotFound(f"no initiative {initiative_id}")
    return row


def create_initiative(
    session: Session,
    title: str,
    *,
    objective_id: int | None = None,
    team_id: int | None = None,
    owner_name: str | None = None,
    target_date: dt.date | None = None,
    description: str = "",
    actor: str,
) -> Initiative:
    """An initiative made here (not imported)."""
    if not title.strip():
        raise InvalidInput("an initiative needs a title")
    if objective_id is not None and session.get(Objective, objective_id) is None:
        raise NotFound(f"no objective {objective_id}")
    row = Initiative(
        title=title.strip()[:500],
        description=description,
        objective_id=objective_id,
        objective_by="hand" if objective_id else None,
        team_id=team_id,
        owner_name=owner_name,
        target_date=target_date,
        status="Active",
        status_category="indeterminate",
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "portfolio.initiative.create", "portfolio_initiative", row.id)
    return row


def create_epic(
    session: Session,
    title: str,
    *,
    initiative_id: int | None = None,
    objective_id: int | None = None,
    team_id: int | None = None,
    owner_name: str | None = None,
    start_date: dt.date | None = None,
    target_date: dt.date | None = None,
    description: str = "",
    actor: str,
) -> Epic:
    """An epic made here (work not tracked in Jira or Linear)."""
    if not title.strip():
        raise InvalidInput("an epic needs a title")
    epic = Epic(
        title=title.strip()[:500],
        description=description,
        team_id=team_id,
        owner_name=owner_name,
        start_date=start_date,
        target_date=target_date,
        status="To Do",
        status_category="new",
        source_updated_at=utcnow(),
    )
    session.add(epic)
    session.flush()
    link_epic(session, epic.id, initiative_id=initiative_id, objective_id=objective_id, actor=actor)
    audit.record(session, actor, "portfolio.epic.create", "portfolio_epic", epic.id)
    return epic


_UNSET: Any = object()


def link_epic(
    session: Session,
    epic_id: int,
    *,
    initiative_id: int | None = _UNSET,
    objective_id: int | None = _UNSET,
    team_id: int | None = _UNSET,
    actor: str,
) -> Epic:
    """Link an epic by hand to an initiative, an objective or a team (None unlinks, and
    hands the epic back to its source parent and the rules at the next sync)."""
    epic = get_epic(session, epic_id)
    changes: dict[str, Any] = {}
    if initiative_id is not _UNSET:
        if initiative_id is not None:
            get_initiative(session, initiative_id)
        changes["initiative_id"] = initiative_id
        epic.initiative_id = initiative_id
        epic.initiative_by = "hand" if initiative_id is not None else None
    if objective_id is not _UNSET:
        if objective_id is not None and session.get(Objective, objective_id) is None:
            raise NotFound(f"no objective {objective_id}")
        changes["objective_id"] = objective_id
        epic.objective_id = objective_id
        epic.objective_by = "hand" if objective_id is not None else None
    if team_id is not _UNSET:
        if team_id is not None and session.get(Team, team_id) is None:
            raise NotFound(f"no team {team_id}")
        changes["team_id"] = team_id
        epic.team_id = team_id
    if epic.connection_id is not None and "initiative_id" in changes and initiative_id is None:
        map_epic(epic, _rules(session, epic.connection_id), None)
    if epic.connection_id is not None and "objective_id" in changes and objective_id is None:
        map_epic(epic, _rules(session, epic.connection_id), None)
    session.flush()
    if changes:
        audit.record(session, actor, "portfolio.epic.link", "portfolio_epic", epic.id, changes)
    return epic


def link_initiative(
    session: Session, initiative_id: int, objective_id: int | None, actor: str
) -> Initiative:
    """Point an initiative at the objective it serves (None: at none)."""
    row = get_initiative(session, initiative_id)
    if objective_id is not None and session.get(Objective, objective_id) is None:
        raise NotFound(f"no objective {objective_id}")
    row.objective_id = objective_id
    row.objective_by = "hand" if objective_id is not None else None
    session.flush()
    audit.record(
        session,
        actor,
        "portfolio.initiative.link",
        "portfolio_initiative",
        initiative_id,
        {"objective_id": objective_id},
    )
    return row


def issues_of(session: Session, epic_id: int, limit: int = 500) -> list[Issue]:
    q = (
        select(Issue)
        .where(Issue.epic_id == epic_id)
        .order_by(Issue.status_category, Issue.key, Issue.id)
        .limit(limit)
    )
    return list(session.scalars(q))


# --- feature requests ------------------------------------------------------------------


def link_feature(
    session: Session, epic_id: int, feature_request_id: int, actor: str
) -> FeatureLink:
    """Record that an epic delivers a feature request of the feedback hub (by its id)."""
    get_epic(session, epic_id)
    if feature_request_id <= 0:
        raise InvalidInput("a feature request id is a positive number")
    link = session.get(FeatureLink, (epic_id, feature_request_id))
    if link is None:
        link = FeatureLink(epic_id=epic_id, feature_request_id=feature_request_id, created_by=actor)
        session.add(link)
        session.flush()
        audit.record(
            session,
            actor,
            "portfolio.feature.link",
            "portfolio_epic",
            epic_id,
            {"feature_request_id": feature_request_id},
        )
    return link


def unlink_feature(session: Session, epic_id: int, feature_request_id: int, actor: str) -> None:
    link = session.get(FeatureLink, (epic_id, feature_request_id))
    if link is None:
        raise NotFound(f"epic {epic_id} is not linked to feature request {feature_request_id}")
    session.delete(link)
    session.flush()
    audit.record(
        session,
        actor,
        "portfolio.feature.unlink",
        "portfolio_epic",
        epic_id,
        {"feature_request_id": feature_request_id},
    )


def features_of(session: Session, epic_id: int) -> list[int]:
    return list(
        session.scalars(
            select(FeatureLink.feature_request_id)
            .where(FeatureLink.epic_id == epic_id)
            .order_by(FeatureLink.feature_request_id)
        )
    )


def epics_for_feature(session: Session, feature_request_id: int) -> list[Epic]:
    """The epics that deliver a feature request (what the feedback hub shows beside it)."""
    return list(
        session.scalars(
            select(Epic)
            .join(FeatureLink, FeatureLink.epic_id == Epic.id)
            .where(FeatureLink.feature_request_id == feature_request_id)
            .order_by(Epic.id)
        )
    )
