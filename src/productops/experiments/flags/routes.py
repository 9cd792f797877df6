"""Flags on the web: `/api/v1/flags` and the `/flags` pages (list, editor with a rule
builder per environment, kill switches, schedules, the stale-flag report)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.core.errors import InvalidInput, NotFound
from productops.experiments.flags import service
from productops.experiments.models import Flag
from productops.experiments.schemas import (
    KEY_RE,
    EnabledUpdate,
    FlagCreate,
    FlagPublic,
    FlagSettingPublic,
    FlagUpdate,
    RulesUpdate,
    ScheduleCreate,
)
from productops.experiments.settings import section
from productops.web.deps import (
    DbDep,
    ReadApi,
    ReadPage,
    WriteApi,
    WritePage,
    is_fragment,
    workspace_of,
)
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import Offset, RecordId
from productops.web.responses import error_responses
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["flags"])
FlagKey = Annotated[str, Path(pattern=KEY_RE, description="the flag's key")]
EnvKey = Annotated[str, Path(pattern=KEY_RE, description="an environment's key")]
Search = Annotated[str | None, Query(max_length=200, description="key or description")]
Short = Annotated[str | None, Query(max_length=100)]
ValueTypeFilter = Literal["", "boolean", "string", "number", "json"]
PAGE_SIZE = 50
NO_FLAG = error_responses((404, "no flag (or environment) of that key"))


def _public(db: Session, flag: Flag) -> FlagPublic:
    settings = service.settings_of(db, flag.id)
    return FlagPublic(
        id=flag.id,
        key=flag.key,
        value_type=flag.value_type,
        default_value=flag.default_value,
        description=flag.description,
        project=flag.project,
        owner=flag.owner,
        tags=flag.tags or [],
        prerequisites=flag.prerequisites or [],
        archived=flag.archived,
        created_at=flag.created_at,
        updated_at=flag.updated_at,
        environments=[
            FlagSettingPublic(
                environment=k,
                enabled=s.enabled,
                rules=s.rules or [],
                version=s.version,
                updated_at=s.updated_at,
            )
            for k, s in settings.items()
        ],
    )


def _filters(
    q: str | None, project: str | None, tag: str | None, value_type: str | None, archived: bool
) -> dict[str, Any]:
    return {
        "q": q or None,
        "project": project or None,
        "tag": tag or None,
        "value_type": value_type or None,
        "archived": archived,
    }


# --- API -------------------------------------------------------------------------------------


@api.get("/flags", responses=CSV_RESPONSE_DOC)
def api_flags(
    db: DbDep,
    principal: ReadApi,
    q: Search = None,
    project: Short = None,
    tag: Short = None,
    value_type: ValueTypeFilter = "",
    archived: bool = False,
    sort: Literal["key", "updated", "created"] = "key",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Flags with their state in every environment; `format=csv` gives every match."""
    filters = _filters(q, project, tag, value_type, archived)
    if format == "csv":
        columns, rows = service.export_flags(db, sort=sort, **filters)
        return csv_response(columns, rows, "flags")
    rows_, total = service.list_flags(db, sort=sort, limit=limit, offset=offset, **filters)
    return {
        "items": [_public(db, r.flag).model_dump(mode="json") for r in rows_],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@api.post(
    "/flags",
    status_code=201,
    responses=error_responses(
        (404, "a prerequisite names no flag"), (409, "a flag with that key exists")
    ),
)
def api_create_flag(db: DbDep, principal: WriteApi, body: FlagCreate) -> FlagPublic:
    """A new flag, on in every environment and serving its default until rules are added."""
    flag = service.create_flag(
        db,
        body.key,
        body.value_type,
        body.default_value,
        principal.actor,
        description=body.description,
        project=body.project,
        owner=body.owner,
        tags=body.tags,
        prerequisites=[p.model_dump() for p in body.prerequisites],
    )
    return _public(db, flag)


@api.get("/flags/stale", responses=CSV_RESPONSE_DOC)
def api_stale(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Flags that serve one value to everyone and have not changed for `days` (the
    `[experiments] stale_flag_days` setting by default): remove them from the code."""
    days = days or section(workspace_of(request)).stale_flag_days
    rows = service.stale_flags(db, days)
    columns = ["key", "days_unchanged", "serves", "why", "owner", "project"]
    data = [
        [r.flag.key, r.days_unchanged, json.dumps(r.serves), r.reason, r.flag.owner, r.flag.project]
        for r in rows
    ]
    if format == "csv":
        return csv_response(columns, data, "stale-flags")
    return {"days": days, "flags": [dict(zip(columns, row, strict=True)) for row in data]}


@api.get("/flags/{key}", responses=NO_FLAG)
def api_flag(db: DbDep, principal: ReadApi, key: FlagKey) -> FlagPublic:
    return _public(db, service.flag_by_key(db, key))


@api.patch("/flags/{key}", responses=NO_FLAG)
def api_update_flag(db: DbDep, principal: WriteApi, key: FlagKey, body: FlagUpdate) -> FlagPublic:
    """Change the fields sent (audited)."""
    flag = service.flag_by_key(db, key)
    changes = body.model_dump(exclude_unset=True)
    if "prerequisites" in changes and changes["prerequisites"] is not None:
        changes["prerequisites"] = [p.model_dump() for p in body.prerequisites or []]
    service.update_flag(db, flag.id, changes, principal.actor)
    return _public(db, flag)


@api.put("/flags/{key}/environments/{environment}/rules", responses=NO_FLAG)
def api_set_rules(
    db: DbDep, principal: WriteApi, key: FlagKey, environment: EnvKey, body: RulesUpdate
) -> FlagPublic:
    """Replace the rules of one environment. A malformed rule is refused (400) naming the
    rule and field; nothing is changed then."""
    flag = service.flag_by_key(db, key)
    service.set_rules(db, flag.id, environment, body.rules, principal.actor)
    return _public(db, flag)


@api.put("/flags/{key}/environments/{environment}/enabled", responses=NO_FLAG)
def api_set_enabled(
    db: DbDep, principal: WriteApi, key: FlagKey, environment: EnvKey, body: EnabledUpdate
) -> FlagPublic:
    """The kill switch: `false` serves the default value to everyone in the environment."""
    flag = service.flag_by_key(db, key)
    service.set_enabled(db, flag.id, environment, body.enabled, principal.actor)
    return _public(db, flag)


@api.post("/flags/{key}/schedules", status_code=201, responses=NO_FLAG)
def api_schedule(
    db: DbDep, principal: WriteApi, key: FlagKey, body: ScheduleCreate
) -> dict[str, Any]:
    """Turn the flag on or off, or set its rules, at `run_at` (checked now and when due)."""
    flag = service.flag_by_key(db, key)
    change = service.schedule_change(
        db,
        flag.id,
        body.environment,
        body.run_at,
        principal.actor,
        enabled=body.enabled,
        rules=body.rules,
    )
    return {"id": change.id, "run_at": change.run_at.isoformat(), "environment": body.environment}


@api.delete(
    "/flags/schedules/{change_id}",
    status_code=204,
    responses=error_responses((404, "no pending change")),
)
def api_cancel_schedule(db: DbDep, principal: WriteApi, change_id: RecordId) -> Response:
    service.cancel_change(db, change_id, principal.actor)
    return Response(status_code=204)


@api.get("/environments")
def api_environments(db: DbDep, principal: ReadApi) -> list[dict[str, Any]]:
    return [{"key": e.key, "name": e.name} for e in service.list_environments(db)]


# --- pages ------------------------------------------------------------------------------------

OPERATORS = {
    "is": "is",
    "is_not": "is not",
    "in": "is one of",
    "not_in": "is not one of",
    "contains": "contains",
    "regex": "matches the pattern",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "vgte": "version is at least",
    "vlt": "version is below",
    "exists": "is set",
    "not_exists": "is not set",
}


def _operand(text: str) -> Any:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


_IN_WORDS = {
    "$ne": "is not",
    "$in": "is one of",
    "$nin": "is not one of",
    "$regex": "matches the pattern",
    "$gt": "is more than",
    "$gte": "is at least",
    "$lt": "is less than",
    "$lte": "is at most",
    "$vgte": "version is at least",
    "$vlt": "version is below",
}


def _shown(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else json.dumps(value)


def describe_condition(condition: Any) -> str | None:
    """A condition the rule builder writes, in words (`country is one of US, CA and plan is
    pro`); None for anything else, which the page shows as JSON."""
    if not isinstance(condition, dict) or not condition:
        return None
    parts = []
    for attribute, test in condition.items():
        if attribute.startswith("$"):
            return None
        if isinstance(test, str | int | float | bool):
            parts.append(f"{attribute} is {_shown(test)}")
            continue
        if not isinstance(test, dict) or len(test) != 1:
            return None
        ((op, operand),) = test.items()
        if op == "$exists" and isinstance(operand, bool):
            parts.append(f"{attribute} {'is set' if operand else 'is not set'}")
        elif op in ("$in", "$nin") and isinstance(operand, list):
            items = ", ".join(_shown(x) for x in operand)
            parts.append(f"{attribute} {_IN_WORDS[op]} {items}")
        elif op in _IN_WORDS and isinstance(operand, str | int | float):
            parts.append(f"{attribute} {_IN_WORDS[op]} {_shown(operand)}")
        else:
            return None
    return " and ".join(parts)


def build_condition(attribute: str, operator: str, operand: str) -> dict[str, Any]:
    """A GrowthBook condition from the rule builder's three boxes."""
    attribute = attribute.strip()
    if not attribute:
        return {}
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}", attribute):
        raise InvalidInput(
            f"attribute: '{attribute[:40]}' is not an attribute name (letters, digits, _ . -)"
        )
    items = [x.strip() for x in operand.split(",") if x.strip()]
    ops: dict[str, Any] = {
        "is": lambda: operand.strip(),
        "is_not": lambda: {"$ne": operand.strip()},
        "in": lambda: {"$in": items},
        "not_in": lambda: {"$nin": items},
        "contains": lambda: {"$regex": re.escape(operand.strip())},
        "regex": lambda: {"$regex": operand.strip()},
        "gt": lambda: {"$gt": _operand(operand)},
        "gte": lambda: {"$gte": _operand(operand)},
        "lt": lambda: {"$lt": _operand(operand)},
        "lte": lambda: {"$lte": _operand(operand)},
        "vgte": lambda: {"$vgte": operand.strip()},
        "vlt": lambda: {"$vlt": operand.strip()},
        "exists": lambda: {"$exists": True},
        "not_exists": lambda: {"$exists": False},
    }
    if operator not in ops:
        raise InvalidInput(f"operator: '{operator}' is not one of {', '.join(ops)}")
    if operator not in ("exists", "not_exists") and not operand.strip():
        raise InvalidInput(f"value: say what {attribute} {OPERATORS[operator]}")
    return {attribute: ops[operator]()}


def parse_served(flag: Flag, text: str, where: str = "value") -> Any:
    """A value typed in a box, as the flag's type."""
    text = text.strip()
    if flag.value_type == "boolean":
        if text.lower() not in ("true", "false", "on", "off"):
            raise InvalidInput(f"{where}: say true or false")
        return text.lower() in ("true", "on")
    if flag.value_type == "number":
        value = _operand(text)
        if isinstance(value, str):
            raise InvalidInput(f"{where}: '{text[:40]}' is not a number")
        return value
    if flag.value_type == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{where}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
    return text


def _running(db: Session) -> set[str]:
    from sqlalchemy import select

    from productops.experiments.models import Experiment

    return set(db.scalars(select(Experiment.key).where(Experiment.status == "running")))


def _flag_page(
    request: Request,
    db: Session,
    principal: Principal,
    flag: Flag,
    error: str | None = None,
    status: int = 200,
    environment: str | None = None,
) -> Response:
    settings = service.settings_of(db, flag.id)
    parsed = {env: service.parsed_rules(s, flag.value_type) for env, s in settings.items()}
    return render(
        request,
        "experiments/flag.html",
        {
            "flag": flag,
            "settings": settings,
            "rules": parsed,
            "rules_json": {env: json.dumps(s.rules or [], indent=2) for env, s in settings.items()},
            "environments": list(settings),
            "active_env": environment if environment in settings else next(iter(settings), None),
            "operators": OPERATORS,
            "pending": service.pending_changes(db, flag.id),
            "running": _running(db),
            "describe": describe_condition,
            "can_edit": principal.can("write"),
            "error": error,
            "default_json": json.dumps(flag.default_value),
            "prerequisites_json": json.dumps(flag.prerequisites or []),
        },
        status_code=status,
    )


@pages.get("/flags")
def flags_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Search = None,
    project: Short = None,
    tag: Short = None,
    value_type: ValueTypeFilter = "",
    archived: bool = False,
    sort: Literal["key", "updated", "created"] = "key",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    filters = _filters(q, project, tag, value_type, archived)
    rows, total = service.list_flags(db, sort=sort, limit=PAGE_SIZE, offset=offset, **filters)
    envs = [e.key for e in service.list_environments(db)]
    context = {
        "rows": rows,
        "total": total,
        "suggestions": service.did_you_mean(db, q) if q and not total else [],
        "environments": envs,
        "q": q or "",
        "project": project or "",
        "tag": tag or "",
        "value_type": value_type,
        "archived": archived,
        "sort": sort,
        "offset": offset,
        "limit": PAGE_SIZE,
        "projects": service.projects(db),
        "query": request.url.query,
        "can_edit": principal.can("write"),
    }
    template = "experiments/flags_table.html" if is_fragment(request) else "experiments/flags.html"
    response = render(request, template, context)
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


@pages.get("/flags.csv")
def flags_csv(
    db: DbDep,
    principal: ReadPage,
    q: Search = None,
    project: Short = None,
    tag: Short = None,
    value_type: ValueTypeFilter = "",
    archived: bool = False,
) -> Response:
    columns, rows = service.export_flags(db, **_filters(q, project, tag, value_type, archived))
    return csv_response(columns, rows, "flags")


@pages.post("/flags")
def create_flag_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: Annotated[str, Form(max_length=200)],
    value_type: Annotated[Literal["boolean", "string", "number", "json"], Form()],
    default_value: Annotated[str, Form(max_length=10_000)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    project: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        probe = Flag(key=key, value_type=value_type)
        default = parse_served(
            probe,
            default_value
            or (
                "false"
                if value_type == "boolean"
                else "0"
                if value_type == "number"
                else "{}"
                if value_type == "json"
                else ""
            ),
            "default value",
        )
        flag = service.create_flag(
            db,
            key.strip(),
            value_type,
            default,
            principal.actor,
            description=description.strip(),
            project=project.strip(),
            owner=principal.name,
        )
    except InvalidInput as exc:
        rows, total = service.list_flags(db, limit=PAGE_SIZE)
        return render(
            request,
            "experiments/flags.html",
            {
                "rows": rows,
                "total": total,
                "environments": [e.key for e in service.list_environments(db)],
                "q": "",
                "project": "",
                "tag": "",
                "value_type": "",
                "archived": False,
                "sort": "key",
                "offset": 0,
                "limit": PAGE_SIZE,
                "projects": service.projects(db),
                "query": "",
                "can_edit": True,
                "error": str(exc),
                "form": {
                    "key": key,
                    "value_type": value_type,
                    "default_value": default_value,
                    "description": description,
                    "project": project,
                },
            },
            status_code=422,
        )
    return RedirectResponse(f"/flags/{flag.key}", status_code=303)


@pages.get("/flags/stale")
def stale_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> Response:
    days = days or section(workspace_of(request)).stale_flag_days
    return render(
        request, "experiments/stale.html", {"rows": service.stale_flags(db, days), "days": days}
    )


@pages.get("/flags/stale.csv")
def stale_csv(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> Response:
    days = days or section(workspace_of(request)).stale_flag_days
    rows = service.stale_flags(db, days)
    return csv_response(
        ["key", "days_unchanged", "serves", "why", "owner", "project"],
        [
            [
                r.flag.key,
                r.days_unchanged,
                json.dumps(r.serves),
                r.reason,
                r.flag.owner,
                r.flag.project,
            ]
            for r in rows
        ],
        "stale-flags",
    )


@pages.get("/flags/{key}")
def flag_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    key: FlagKey,
    env: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return _flag_page(request, db, principal, service.flag_by_key(db, key), environment=env)


def _back(key: str, env: str | None = None) -> Response:
    return RedirectResponse(f"/flags/{key}" + (f"?env={env}#rules" if env else ""), status_code=303)


def _guarded(
    request: Request, db: Session, principal: Principal, key: str, env: str | None, change: Any
) -> Response:
    """Run a form's change; a refusal re-renders the editor with the reason (400) and
    nothing stored."""
    flag = service.flag_by_key(db, key)
    try:
        with db.begin_nested():
            change(flag)
    except InvalidInput as exc:
        return _flag_page(request, db, principal, flag, error=str(exc), status=422, environment=env)
    return _back(key, env)


@pages.post("/flags/{key}/environments/{environment}/enabled")
def enabled_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: FlagKey,
    environment: EnvKey,
    enabled: Annotated[Literal["on", "off"], Form()],
) -> Response:
    return _guarded(
        request,
        db,
        principal,
        key,
        environment,
        lambda f: service.set_enabled(db, f.id, environment, enabled == "on", principal.actor),
    )


@pages.post("/flags/{key}/environments/{environment}/rules/add")
def add_rule_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: FlagKey,
    environment: EnvKey,
    kind: Annotated[Literal["force", "rollout", "experiment"], Form()],
    attribute: Annotated[str, Form(max_length=100)] = "",
    operator: Annotated[str, Form(max_length=20)] = "is",
    operand: Annotated[str, Form(max_length=2000)] = "",
    condition_json: Annotated[str, Form(max_length=20_000)] = "",
    value: Annotated[str, Form(max_length=10_000)] = "",
    coverage: Annotated[str, Form(max_length=10)] = "",
    experiment_key: Annotated[str, Form(max_length=200)] = "",
    variations: Annotated[str, Form(max_length=10_000)] = "",
    weights: Annotated[str, Form(max_length=500)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    def change(flag: Flag) -> None:
        if condition_json.strip():
            try:
                condition = json.loads(condition_json)
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    f"condition: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
                ) from None
        else:
            condition = build_condition(attribute, operator, operand)
        rule: dict[str, Any] = {"condition": condition, "description": description.strip()}
        if kind in ("force", "rollout"):
            rule.update(type="force", value=parse_served(flag, value))
            if kind == "rollout":
                rule["coverage"] = _percent(coverage, "coverage")
        else:
            lines = [line.strip() for line in variations.splitlines() if line.strip()]
            if len(lines) < 2:
                raise InvalidInput(
                    "variations: one per line, at least two (name = value, or a value)"
                )
            rule_variations = []
            for i, line in enumerate(lines):
                name, sep, raw = line.partition("=")
                text = raw if sep else name
                rule_variations.append(
                    {
                        "key": str(i),
                        "name": name.strip() if sep else "",
                        "value": parse_served(flag, text, f"variations line {i + 1}"),
                    }
                )
            rule.update(
                type="experiment", experiment_key=experiment_key.strip(), variations=rule_variations
            )
            if weights.strip():
                parts = [_percent(w, "weights") for w in weights.split(",")]
                rule["weights"] = [round(p, 6) for p in parts]
            if coverage.strip():
                rule["coverage"] = _percent(coverage, "coverage")
        current = service.settings_of(db, flag.id)[environment].rules or []
        service.set_rules(db, flag.id, environment, [*current, rule], principal.actor)

    return _guarded(request, db, principal, key, environment, change)


def _percent(text: str, where: str) -> float:
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise InvalidInput(f"{where}: '{text[:20]}' is not a percentage") from None
    if not 0 <= value <= 100:
        raise InvalidInput(f"{where}: {value:g}% is not between 0 and 100")
    return value / 100


@pages.post("/flags/{key}/environments/{environment}/rules")
def rules_json_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: FlagKey,
    environment: EnvKey,
    rules: Annotated[str, Form(max_length=200_000)],
) -> Response:
    def change(flag: Flag) -> None:
        try:
            parsed = json.loads(rules)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"rules: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
        service.set_rules(db, flag.id, environment, parsed, principal.actor)

    return _guarded(request, db, principal, key, environment, change)


@pages.post("/flags/{key}/environments/{environment}/rules/{rule_id}/{action}")
def rule_action_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: FlagKey,
    environment: EnvKey,
    rule_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    action: Literal["delete", "up", "down", "toggle"],
) -> Response:
    def change(flag: Flag) -> None:
        rules = list(service.settings_of(db, flag.id)[environment].rules or [])
        index = next((i for i, r in enumerate(rules) if r.get("id") == rule_id), None)
        if index is None:
            raise NotFound(f"no rule '{rule_id}' in {environment}")
        if action == "delete":
            rules.pop(index)
        elif action == "toggle":
            rules[index] = {**rules[index], "enabled": not rules[index].get("enabled", True)}
        else:
            other = index - 1 if action == "up" else index + 1
            if 0 <= other < len(rules):
                rules[index], rules[other] = rules[other], rules[index]
        service.set_rules(db, flag.id, environment, rules, principal.actor)

    return _guarded(request, db, principal, key, environment, change)


@pages.post("/flags/{key}/settings")
def settings_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: FlagKey,
    description: Annotated[str, Form(max_length=5000)] = "",
    owner: Annotated[str, Form(max_length=320)] = "",
    project: Annotated[str, Form(max_length=100)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
    default_value: Annotated[str, Form(max_length=10_000)] = "",
    prerequisites: Annotated[str, Form(max_length=10_000)] = "[]",
    archived: Annotated[str | None, Form()] = None,
) -> Response:
    def change(flag: Flag) -> None:
        try:
            prereqs = json.loads(prerequisites or "[]")
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"prerequisites: not JSON ({exc.msg})") from None
        if not isinstance(prereqs, list):
            raise InvalidInput('prerequisites: a list like [{"flag": "billing-v2"}]')
        service.update_flag(
            db,
            flag.id,
            {
                "description": description,
                "owner": owner,
                "project": project,
                "tags": [t.strip() for t in tags.split(",") if t.strip()],
                "default_value": parse_served(
                    flag,
                    default_value,
                    "default value",
                ),
                "prerequisites": prereqs,
                "archived": archived == "on",
            },
            principal.actor,
        )

    return _guarded(request, db, principal, key, None, change)


@pages.post("/flags/{key}/schedule")
def schedule_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: FlagKey,
    environment: Annotated[str, Form(pattern=KEY_RE)],
    run_at: Annotated[str, Form(max_length=40)],
    action: Annotated[Literal["on", "off"], Form()],
) -> Response:
    def change(flag: Flag) -> None:
        try:
            when = dt.datetime.fromisoformat(run_at.strip())
        except ValueError:
            raise InvalidInput("run_at: write a time as YYYY-MM-DDTHH:MM (UTC)") from None
        service.schedule_change(
            db,
            flag.id,
            environment,
            when.replace(tzinfo=when.tzinfo or dt.UTC),
            principal.actor,
            enabled=action == "on",
        )

    return _guarded(request, db, principal, key, environment, change)


@pages.post("/flags/schedules/{change_id}/cancel")
def cancel_schedule_form(
    db: DbDep, principal: WritePage, change_id: RecordId, key: Annotated[str, Form(pattern=KEY_RE)]
) -> Response:
    service.cancel_change(db, change_id, principal.actor)
    return _back(key)
