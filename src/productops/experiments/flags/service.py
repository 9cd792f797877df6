"""Flags in the user's words: create one, write its rules per environment, kill it,
schedule a change, find the stale ones. Every change is checked (a change that cannot be
evaluated is refused before it is stored) and audited."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import aware_utc, utcnow
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.experiments import suggest
from productops.experiments.flags.conditions import ConditionError, check_condition
from productops.experiments.flags.evaluate import Context, evaluate_feature
from productops.experiments.flags.rules import (
    VALUE_TYPES,
    ExperimentRule,
    ForceRule,
    RuleError,
    check_key,
    check_value,
    parse_rules,
    prerequisites_rule,
    rules_json,
    to_growthbook,
)
from productops.experiments.models import Environment, Flag, FlagSetting, ScheduledChange
from productops.experiments.schemas import RESERVED_FLAG_KEYS

DEFAULT_ENVIRONMENTS = (
    ("production", "Production"),
    ("staging", "Staging"),
    ("development", "Development"),
)
STALE_AFTER_DAYS = 30
RESERVED_KEYS = frozenset(RESERVED_FLAG_KEYS)  # /flags/<these> are pages

# Moves on every change made in this process, so payload caches here follow at once (other
# processes' changes are seen through `flags_version` within a second).
GENERATION = [0]


def changed() -> None:
    GENERATION[0] += 1


# --- environments --------------------------------------------------------------------------


def list_environments(session: Session) -> list[Environment]:
    return list(session.scalars(select(Environment).order_by(Environment.id)))


def ensure_environments(session: Session, actor: str = "system") -> list[Environment]:
    """The environments, making production, staging and development the first time."""
    envs = list_environments(session)
    if envs:
        return envs
    for key, name in DEFAULT_ENVIRONMENTS:
        session.add(Environment(key=key, name=name))
    session.flush()
    audit.record(
        session,
        actor,
        "experiments.environments.create",
        "environment",
        None,
        {"keys": [k for k, _ in DEFAULT_ENVIRONMENTS]},
    )
    return list_environments(session)


def create_environment(session: Session, key: str, name: str, actor: str) -> Environment:
    """Add an environment; every flag gets a setting there (on, no rules: its default)."""
    check_key(key, "environment key")
    ensure_environments(session, actor)
    env = Environment(key=key, name=name.strip()[:200] or key)
    session.add(env)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"an environment '{key}' exists") from exc
    for flag_id in session.scalars(select(Flag.id)):
        session.add(FlagSetting(flag_id=flag_id, environment_id=env.id, enabled=True, rules=[]))
    session.flush()
    changed()
    audit.record(
        session, actor, "experiments.environment.create", "environment", env.id, {"key": key}
    )
    return env


def environment(session: Session, key: str) -> Environment:
    env = session.scalar(select(Environment).where(Environment.key == key))
    if env is None:
        known = ", ".join(e.key for e in list_environments(session)) or "none yet"
        raise NotFound(f"no environment '{key}' (there are: {known})")
    return env


# --- flags ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagRow:
    """A flag with its per-environment state, as lists show it."""

    flag: Flag
    settings: dict[str, FlagSetting]


def get_flag(session: Session, flag_id: int) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(f"no flag {flag_id}")
    return flag


def flag_by_key(session: Session, key: str) -> Flag:
    flag = session.scalar(select(Flag).where(Flag.key == key))
    if flag is None:
        raise NotFound(f"no flag '{key}'")
    return flag


def settings_of(session: Session, flag_id: int) -> dict[str, FlagSetting]:
    rows = session.execute(
        select(Environment.key, FlagSetting)
        .join(FlagSetting, FlagSetting.environment_id == Environment.id)
        .where(FlagSetting.flag_id == flag_id)
        .order_by(Environment.id)
    ).all()
    return dict(rows)


def _check_default(value_type: str, value: Any) -> None:
    if value_type not in VALUE_TYPES:
        raise InvalidInput(f"value_type: '{value_type}' is not one of {', '.join(VALUE_TYPES)}")
    check_value(value, value_type, "default_value")


def _check_prerequisites(
    session: Session, flag_key: str, prerequisites: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for i, p in enumerate(prerequisites):
        where = f"prerequisites[{i}]"
        if not isinstance(p, dict) or set(p) - {"flag", "condition"} or "flag" not in p:
            raise InvalidInput(f'{where}: write {{"flag": key, "condition": {{...}}}}')
        if p["flag"] == flag_key:
            raise InvalidInput(f"{where}.flag: a flag cannot require itself")
        flag_by_key(session, str(p["flag"]))
        condition = p.get("condition") or {"value": True}
        try:
            check_condition(condition, f"{where}.condition")
        except ConditionError as exc:
            raise InvalidInput(str(exc)) from None
        out.append({"flag": str(p["flag"]), "condition": condition})
    return out


def create_flag(
    session: Session,
    key: str,
    value_type: str,
    default_value: Any,
    actor: str,
    *,
    description: str = "",
    project: str = "",
    owner: str = "",
    tags: list[str] | None = None,
    prerequisites: list[dict[str, Any]] | None = None,
) -> Flag:
    """A new flag, on in every environment and serving its default value until rules are
    added."""
    check_key(key, "flag key")
    if key in RESERVED_KEYS:
        raise InvalidInput(f"flag key '{key}' is taken by a page: choose another")
    _check_default(value_type, default_value)
    envs = ensure_environments(session, actor)
    flag = Flag(
        key=key,
        value_type=value_type,
        default_value=default_value,
        description=description,
        project=project,
        owner=owner,
        tags=_tags(tags),
        prerequisites=_check_prerequisites(session, key, prerequisites or []),
    )
    session.add(flag)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a flag '{key}' exists") from exc
    for env in envs:
        session.add(FlagSetting(flag_id=flag.id, environment_id=env.id, enabled=True, rules=[]))
    session.flush()
    _check_publishable(session, flag)
    changed()
    audit.record(
        session,
        actor,
        "flag.create",
        "flag",
        flag.id,
        {"key": key, "type": value_type, "default": default_value},
    )
    return flag


def _tags(tags: list[str] | None) -> list[str]:
    out: list[str] = []
    for tag in tags or []:
        tag = str(tag).strip()[:50]
        if tag and tag not in out:
            out.append(tag)
    return out[:20]


UPDATABLE = (
    "description",
    "project",
    "owner",
    "tags",
    "default_value",
    "prerequisites",
    "archived",
)


def update_flag(session: Session, flag_id: int, changes: dict[str, Any], actor: str) -> Flag:
    """Change a flag's description, project, owner, tags, default value, prerequisites or
    archived state (only the fields given). Audited with old and new values."""
    flag = get_flag(session, flag_id)
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise InvalidInput(f"'{unknown[0]}' cannot be changed here")
    diff: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "default_value":
            _check_default(flag.value_type, value)
        elif field == "prerequisites":
            value = _check_prerequisites(session, flag.key, value or [])
        elif field == "tags":
            value = _tags(value)
        elif field in ("description", "project", "owner"):
            value = str(value or "").strip()
        elif field == "archived":
            value = bool(value)
        if getattr(flag, field) != value:
            diff[field] = {"from": getattr(flag, field), "to": value}
            setattr(flag, field, value)
    if diff:
        flag.updated_at = utcnow()
        session.flush()
        _check_publishable(session, flag)
        changed()
        audit.record(session, actor, "flag.update", "flag", flag.id, {"key": flag.key, **diff})
    return flag


def set_rules(
    session: Session, flag_id: int, environment_key: str, rules: Any, actor: str
) -> FlagSetting:
    """Replace the flag's rules in one environment. Refused, naming the rule and field, when
    a rule is malformed, serves a value of the wrong type, overlaps another experiment in a
    namespace, or the flag could not then be evaluated."""
    flag = get_flag(session, flag_id)
    env = environment(session, environment_key)
    parsed = parse_rules(rules, flag.value_type)
    _check_namespaces(session, flag, env, parsed)
    setting = _setting(session, flag.id, env.id)
    before = setting.rules
    setting.rules = rules_json(parsed)
    setting.version += 1
    setting.updated_at = utcnow()
    session.flush()
    _check_publishable(session, flag)
    changed()
    audit.record(
        session,
        actor,
        "flag.rules",
        "flag",
        flag.id,
        {"key": flag.key, "environment": env.key, "from": before, "to": setting.rules},
    )
    return setting


def set_enabled(
    session: Session, flag_id: int, environment_key: str, enabled: bool, actor: str
) -> FlagSetting:
    """The kill switch: off serves the default value to everyone in that environment, rules
    ignored; on serves the rules again."""
    flag = get_flag(session, flag_id)
    env = environment(session, environment_key)
    setting = _setting(session, flag.id, env.id)
    if setting.enabled != enabled:
        setting.enabled = enabled
        setting.version += 1
        setting.updated_at = utcnow()
        session.flush()
        if enabled:  # killing always works (an emergency); serving the rules again is checked
            _check_publishable(session, flag)
        changed()
        audit.record(
            session,
            actor,
            "flag.enable" if enabled else "flag.kill",
            "flag",
            flag.id,
            {"key": flag.key, "environment": env.key},
        )
    return setting


def _setting(session: Session, flag_id: int, environment_id: int) -> FlagSetting:
    setting = session.scalar(
        select(FlagSetting).where(
            FlagSetting.flag_id == flag_id, FlagSetting.environment_id == environment_id
        )
    )
    if setting is None:
        setting = FlagSetting(
            flag_id=flag_id, environment_id=environment_id, enabled=True, rules=[]
        )
        session.add(setting)
        session.flush()
    return setting


def parsed_rules(setting: FlagSetting, value_type: str) -> list[ForceRule | ExperimentRule]:
    return parse_rules(setting.rules or [], value_type)


def _check_namespaces(
    session: Session, flag: Flag, env: Environment, rules: list[ForceRule | ExperimentRule]
) -> None:
    """Experiments in one namespace must not share a slice of it (else they share users)."""
    mine = [(i, r) for i, r in enumerate(rules) if isinstance(r, ExperimentRule) and r.namespace]
    if not mine:
        return
    others = session.execute(
        select(Flag.key, FlagSetting.rules)
        .join(FlagSetting, FlagSetting.flag_id == Flag.id)
        .where(FlagSetting.environment_id == env.id, Flag.id != flag.id)
    ).all()
    taken: list[tuple[str, str, float, float]] = []
    for key, raw in others:
        for r in raw or []:
            ns = (
                r.get("namespace")
                if r.get("type") == "experiment" and r.get("enabled", True)
                else None
            )
            if ns:
                taken.append(
                    (
                        f"flag '{key}' ({r.get('experiment_key')})",
                        ns["name"],
                        ns["start"],
                        ns["end"],
                    )
                )
    for i, r in mine:
        assert r.namespace is not None
        for j, other in mine:
            if j < i and other.namespace and other.namespace.name == r.namespace.name:
                taken.append(
                    (
                        f"rules[{j}]",
                        other.namespace.name,
                        other.namespace.start,
                        other.namespace.end,
                    )
                )
        for who, name, start, end in taken:
            if name == r.namespace.name and r.namespace.start < end and start < r.namespace.end:
                raise RuleError(
                    f"rules[{i}].namespace: [{r.namespace.start:g}, {r.namespace.end:g}) of "
                    f"'{name}' overlaps {who} at [{start:g}, {end:g}); experiments in one "
                    "namespace must use separate slices"
                )


# --- the payload SDKs read -----------------------------------------------------------------


def feature_of(
    flag: Flag, setting: FlagSetting | None, running: set[str] | None = None
) -> dict[str, Any]:
    """One flag as GrowthBook's SDKs read it in an environment."""
    if flag.archived or setting is None or not setting.enabled:
        return {"defaultValue": flag.default_value}
    rules = to_growthbook(
        flag.key, parse_rules(setting.rules or [], flag.value_type), running=running
    )
    gate = prerequisites_rule(flag.prerequisites or [])
    if gate is not None:
        rules.insert(0, gate)
    feature: dict[str, Any] = {"defaultValue": flag.default_value}
    if rules:
        feature["rules"] = rules
    return feature


def features(
    session: Session, environment_key: str, project: str = "", running: set[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every flag of the environment (of `project` too, when given) in GrowthBook's form;
    prerequisites from other projects are included so that gates can be evaluated."""
    env = environment(session, environment_key)
    rows = session.execute(
        select(Flag, FlagSetting)
        .outerjoin(
            FlagSetting,
            (FlagSetting.flag_id == Flag.id) & (FlagSetting.environment_id == env.id),
        )
        .order_by(Flag.key)
    ).all()
    by_key = {flag.key: (flag, setting) for flag, setting in rows}
    wanted = [k for k, (f, _) in by_key.items() if not project or f.project == project]
    out: dict[str, dict[str, Any]] = {}
    queue = list(wanted)
    while queue:
        key = queue.pop()
        if key in out or key not in by_key:
            continue
        flag, setting = by_key[key]
        out[key] = feature_of(flag, setting, running)
        queue.extend(p["flag"] for p in flag.prerequisites or [])
    return dict(sorted(out.items()))


SAMPLE_USERS: tuple[dict[str, Any], ...] = (
    {},
    {"id": "productops-check"},
    {"id": 12345, "country": "US", "email": "someone@example.com", "plan": "pro"},
)


def _check_publishable(session: Session, flag: Flag) -> None:
    """Evaluate the flag as it would be served, in every environment, for a few users: a
    change that cannot be evaluated (or that makes prerequisites a cycle) is refused."""
    for env_key, setting in settings_of(session, flag.id).items():
        payload = features(session, env_key)
        payload[flag.key] = feature_of(flag, setting)
        for attributes in SAMPLE_USERS:
            try:
                result = evaluate_feature(
                    Context(attributes=attributes, features=payload), flag.key
                )
                json.dumps(result.value)
            except Exception as exc:  # what no SDK could evaluate must not be served
                raise RuleError(
                    f"flag '{flag.key}' in {env_key} cannot be evaluated: {exc}"
                ) from None
            if result.source == "cyclicPrerequisite":
                raise RuleError(f"flag '{flag.key}': its prerequisites depend on it in a cycle")


# --- scheduled changes ---------------------------------------------------------------------


def schedule_change(
    session: Session,
    flag_id: int,
    environment_key: str,
    run_at: dt.datetime,
    actor: str,
    *,
    enabled: bool | None = None,
    rules: Any = None,
) -> ScheduledChange:
    """Turn the flag on or off, or replace its rules, at `run_at` (UTC). The rules are
    checked now, and again when the change applies."""
    flag = get_flag(session, flag_id)
    env = environment(session, environment_key)
    if enabled is None and rules is None:
        raise InvalidInput("a scheduled change turns the flag on or off, or sets its rules")
    run_at = aware_utc(run_at)
    if run_at <= utcnow():
        raise InvalidInput(f"run_at: {run_at.isoformat()} is not in the future")
    if rules is not None:
        rules = rules_json(parse_rules(rules, flag.value_type))
    change = ScheduledChange(
        flag_id=flag.id,
        environment_id=env.id,
        run_at=run_at,
        enabled=enabled,
        rules=rules,
        created_by=actor,
    )
    session.add(change)
    session.flush()
    from productops.core import jobs

    # Workers apply due changes every minute (one schedule, however many changes).
    jobs.schedule(
        session,
        "experiments.apply_schedules",
        "experiments.apply_schedules",
        None,
        dt.timedelta(minutes=1),
        actor=actor,
    )
    audit.record(
        session,
        actor,
        "flag.schedule",
        "flag",
        flag.id,
        {
            "key": flag.key,
            "environment": env.key,
            "run_at": run_at.isoformat(),
            "enabled": enabled,
            "rules": rules,
        },
    )
    return change


def pending_changes(session: Session, flag_id: int) -> list[tuple[ScheduledChange, str]]:
    rows = session.execute(
        select(ScheduledChange, Environment.key)
        .join(Environment, Environment.id == ScheduledChange.environment_id)
        .where(ScheduledChange.flag_id == flag_id)
        .order_by(ScheduledChange.run_at.desc())
        .limit(50)
    ).all()
    return [(c, k) for c, k in rows]


def cancel_change(session: Session, change_id: int, actor: str) -> None:
    change = session.get(ScheduledChange, change_id)
    if change is None or change.applied_at is not None:
        raise NotFound(f"no pending scheduled change {change_id}")
    session.delete(change)
    session.flush()
    audit.record(
        session, actor, "flag.schedule.cancel", "flag", change.flag_id, {"change": change_id}
    )


def apply_due_changes(session: Session, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Apply every scheduled change whose time has come, oldest first. A change that no
    longer passes the checks is recorded as failed and not applied."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(ScheduledChange)
            .where(ScheduledChange.applied_at.is_(None), ScheduledChange.run_at <= now)
            .order_by(ScheduledChange.run_at, ScheduledChange.id)
        )
    )
    done = []
    for change in due:
        env = session.get(Environment, change.environment_id)
        assert env is not None
        actor = f"schedule:{change.id}:{change.created_by}"
        try:
            with session.begin_nested():
                if change.rules is not None:
                    set_rules(session, change.flag_id, env.key, change.rules, actor)
                if change.enabled is not None:
                    set_enabled(session, change.flag_id, env.key, change.enabled, actor)
            change.outcome = "applied"
        except InvalidInput as exc:
            change.outcome = f"failed: {exc}"
        change.applied_at = now
        session.flush()
        done.append({"id": change.id, "flag_id": change.flag_id, "outcome": change.outcome})
    return done


# --- lists and reports ---------------------------------------------------------------------

FLAG_SORTS: dict[str, Any] = {
    "key": Flag.key.asc(),
    "updated": Flag.updated_at.desc(),
    "created": Flag.created_at.desc(),
}


def list_flags(
    session: Session,
    *,
    q: str | None = None,
    project: str | None = None,
    tag: str | None = None,
    value_type: str | None = None,
    archived: bool | None = False,
    sort: str = "key",
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[FlagRow], int]:
    """Flags matching the filters, with their state in every environment."""
    query = select(Flag)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Flag.key.ilike(like), Flag.description.ilike(like)))
    if project:
        query = query.where(Flag.project == project)
    if value_type:
        query = query.where(Flag.value_type == value_type)
    if archived is not None:
        query = query.where(Flag.archived.is_(archived))
    flags = list(session.scalars(query.order_by(FLAG_SORTS.get(sort, Flag.key.asc()), Flag.id)))
    if tag:
        flags = [f for f in flags if tag in (f.tags or [])]
    total = len(flags)
    page = flags[offset : offset + limit if limit is not None else None]
    settings: dict[int, dict[str, FlagSetting]] = {f.id: {} for f in page}
    if page:
        for key, setting in session.execute(
            select(Environment.key, FlagSetting)
            .join(FlagSetting, FlagSetting.environment_id == Environment.id)
            .where(FlagSetting.flag_id.in_([f.id for f in page]))
            .order_by(Environment.id)
        ):
            settings[setting.flag_id][key] = setting
    return [FlagRow(f, settings[f.id]) for f in page], total


def projects(session: Session) -> list[str]:
    return [p for p in session.scalars(select(Flag.project).distinct().order_by(Flag.project)) if p]


@dataclass(frozen=True)
class StaleFlag:
    """A flag that looks finished: it serves one value to everyone everywhere and has not
    changed for `days` days. Remove it from the code, then archive it."""

    flag: Flag
    days_unchanged: int
    serves: Any
    reason: str


def stale_flags(
    session: Session, days: int = STALE_AFTER_DAYS, now: dt.datetime | None = None
) -> list[StaleFlag]:
    """The stale-flag report: flags unchanged for `days` that serve one value to everyone
    in every environment (no rules, only full rollouts, or killed), oldest first."""
    now = now or utcnow()
    out: list[StaleFlag] = []
    for row in list_flags(session, limit=None)[0]:
        flag = row.flag
        last = max([flag.updated_at, *[s.updated_at for s in row.settings.values()]])
        age = (now - aware_utc(last)).days
        if age < days:
            continue
        served: list[str] = []
        values: list[Any] = []
        for setting in row.settings.values():
            one = _single_value(flag, setting)
            if one is None:
                break
            values.append(one[0])
            served.append(one[1])
        else:
            if len({json.dumps(v, sort_keys=True) for v in values}) <= 1:
                reason = "; ".join(sorted(set(served))) or "no environments"
                out.append(
                    StaleFlag(flag, age, values[0] if values else flag.default_value, reason)
                )
    return sorted(out, key=lambda s: -s.days_unchanged)


def _single_value(flag: Flag, setting: FlagSetting) -> tuple[Any, str] | None:
    """(the value everyone gets, why) or None when users can get different values."""
    if not setting.enabled:
        return flag.default_value, "killed"
    rules = [r for r in setting.rules or [] if r.get("enabled", True)]
    if not rules:
        return flag.default_value, "no rules"
    first = rules[0]
    if (
        first.get("type") == "force"
        and not first.get("condition")
        and first.get("coverage") in (None, 1, 1.0)
    ):
        return first.get("value"), "rolled out to everyone"
    return None


def did_you_mean(session: Session, typed: str) -> list[str]:
    """Search terms close to `typed` from the flags' keys and tags (for a search that found
    nothing)."""
    texts = list(session.scalars(select(Flag.key)))
    texts += [t for tags in session.scalars(select(Flag.tags)) for t in tags or []]
    return suggest.did_you_mean(typed, texts)


def export_flags(session: Session, **filters: Any) -> tuple[list[str], list[list[Any]]]:
    """The flags matching `filters` (as `list_flags`) as columns and rows for CSV."""
    rows, _ = list_flags(session, limit=None, **filters)
    envs = [e.key for e in list_environments(session)]
    columns = [
        "key",
        "type",
        "default_value",
        "project",
        "owner",
        "tags",
        "archived",
        *[f"{e}_state" for e in envs],
        "updated_at",
        "description",
    ]
    out = []
    for row in rows:
        f = row.flag
        states = []
        for e in envs:
            s = row.settings.get(e)
            n = len(s.rules or []) if s is not None else 0
            states.append(
                ""
                if s is None
                else ("on" if s.enabled else "killed") + f", {n} rule{'' if n == 1 else 's'}"
            )
        out.append(
            [
                f.key,
                f.value_type,
                json.dumps(f.default_value),
                f.project,
                f.owner,
                ",".join(f.tags or []),
                f.archived,
                *states,
                f.updated_at.isoformat(),
                f.description,
            ]
        )
    return columns, out


def flags_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever a flag or a setting does (what caches of the payload key on)."""
    flags = session.execute(select(func.count(Flag.id), func.max(Flag.updated_at))).one()
    settings = session.execute(
        select(
            func.count(FlagSetting.id),
            func.max(FlagSetting.updated_at),
            func.sum(FlagSetting.version),
        )
    ).one()
    return (*flags, *settings)
