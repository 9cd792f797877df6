"""Rules as people write them (targeting, rollouts, experiments), checked at save and
compiled to GrowthBook's SDK payload.

A rule names its condition in GrowthBook's condition language; a `force` rule serves one
value (to everyone it matches, or to a `coverage` share of them: a percentage rollout); an
`experiment` rule splits users between variations by weight, optionally inside a namespace
range so that experiments in the same namespace never share a user.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from productops.core.errors import InvalidInput
from productops.experiments.flags.conditions import ConditionError, check_condition
from productops.experiments.schemas import KEY_RE

VALUE_TYPES = ("boolean", "string", "number", "json")
ATTRIBUTE_RE = r"^[A-Za-z_$][A-Za-z0-9_.$-]{0,99}$"
MAX_RULES = 100


class RuleError(InvalidInput):
    """A rule that cannot be saved (the message names the rule, the field and why)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Namespace(_Strict):
    """A slice [start, end) of a namespace: experiments whose slices do not overlap never
    share a user."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    start: float = Field(ge=0, le=1)
    end: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Namespace:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Variation(_Strict):
    value: Any
    name: str = Field(default="", max_length=200)
    key: str = Field(default="", max_length=100)


class ForceRule(_Strict):
    """Serve `value` to the users the condition matches (all of them, or a `coverage` share:
    a percentage rollout that only grows when the share does)."""

    type: Literal["force"] = "force"
    id: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    description: str = Field(default="", max_length=1000)
    enabled: bool = True
    condition: dict[str, Any] = Field(default_factory=dict)
    value: Any
    coverage: float | None = Field(default=None, ge=0, le=1)
    hash_attribute: str = Field(default="id", pattern=ATTRIBUTE_RE)


class ExperimentRule(_Strict):
    """Split the users the condition matches between `variations` by `weights` (equal when
    left out); `coverage` is the share of them that enters at all."""

    type: Literal["experiment"]
    id: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    description: str = Field(default="", max_length=1000)
    enabled: bool = True
    condition: dict[str, Any] = Field(default_factory=dict)
    experiment_key: str = Field(pattern=KEY_RE)
    variations: list[Variation] = Field(min_length=2, max_length=20)
    weights: list[float] | None = None
    coverage: float = Field(default=1.0, ge=0, le=1)
    hash_attribute: str = Field(default="id", pattern=ATTRIBUTE_RE)
    fallback_attribute: str | None = Field(default=None, pattern=ATTRIBUTE_RE)
    namespace: Namespace | None = None
    bucket_version: int = Field(default=0, ge=0, le=1000)

    @model_validator(mode="after")
    def _weights(self) -> ExperimentRule:
        if self.weights is not None:
            if len(self.weights) != len(self.variations):
                raise ValueError(
                    f"{len(self.weights)} weights for {len(self.variations)} variations"
                )
            if any(w < 0 for w in self.weights):
                raise ValueError("weights cannot be negative")
            if abs(sum(self.weights) - 1) > 1e-6:
                raise ValueError(f"weights add up to {sum(self.weights):g}, not 1")
        keys = [v.key for v in self.variations if v.key]
        if len(set(keys)) != len(keys):
            raise ValueError("two variations have the same key")
        return self


Rule = Annotated[ForceRule | ExperimentRule, Field(discriminator="type")]


class _Rules(_Strict):
    rules: list[Rule] = Field(max_length=MAX_RULES)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part in ("ForceRule", "ExperimentRule", "force", "experiment"):
            continue
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "rules"


def parse_rules(raw: Any, value_type: str) -> list[ForceRule | ExperimentRule]:
    """Rules from their JSON form, each checked: shape, condition, the values' type. The
    error names the rule and field (`rules[2].condition.$or[0].age: unknown operator`)."""
    if not isinstance(raw, list):
        raise RuleError("rules: expected a list of rules")
    for i, item in enumerate(raw):
        if isinstance(item, dict) and "type" not in item:
            raise RuleError(f"rules[{i}].type: say 'force' or 'experiment'")
    try:
        rules = _Rules(rules=raw).rules
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RuleError(f"{_where(first['loc'])}: {first['msg']}") from None
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if not rule.id:
            rule.id = f"r{secrets.token_hex(4)}"
        if rule.id in seen:
            raise RuleError(f"rules[{i}].id: '{rule.id}' is used by an earlier rule")
        seen.add(rule.id)
        try:
            check_condition(rule.condition, f"rules[{i}].condition")
        except ConditionError as exc:
            raise RuleError(str(exc)) from None
        if isinstance(rule, ForceRule):
            check_value(rule.value, value_type, f"rules[{i}].value")
        else:
            for j, variation in enumerate(rule.variations):
                check_value(variation.value, value_type, f"rules[{i}].variations[{j}].value")
    return rules


def check_value(value: Any, value_type: str, where: str) -> None:
    """A served value must have the flag's type (SDKs cast by it)."""
    ok = {
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "json": value is not None,
    }.get(value_type)
    if ok is None:
        raise RuleError(f"value_type: '{value_type}' is not one of {', '.join(VALUE_TYPES)}")
    if not ok:
        raise RuleError(f"{where}: {_short(value)} is not a {value_type}")
    if value_type == "number" and value != value:
        raise RuleError(f"{where}: NaN is not a number a flag can serve")
    if value_type == "string" and len(value) > 10_000:
        raise RuleError(f"{where}: text over 10,000 characters")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def rules_json(rules: list[ForceRule | ExperimentRule]) -> list[dict[str, Any]]:
    return [r.model_dump(exclude_none=True) for r in rules]


def to_growthbook(
    flag_key: str,
    rules: list[ForceRule | ExperimentRule],
    *,
    running: set[str] | None = None,
) -> list[dict[str, Any]]:
    """The rules as GrowthBook's SDKs read them. An experiment rule is served only while its
    experiment runs (when `running` names the running experiments' keys)."""
    out: list[dict[str, Any]] = []
    for rule in rules:
        if not rule.enabled:
            continue
        if isinstance(rule, ForceRule):
            gb: dict[str, Any] = {"id": rule.id, "force": rule.value}
            if rule.condition:
                gb["condition"] = rule.condition
            if rule.coverage is not None:
                gb.update(
                    coverage=rule.coverage,
                    hashAttribute=rule.hash_attribute,
                    seed=f"{flag_key}:{rule.id}",
                    hashVersion=2,
                )
            out.append(gb)
            continue
        if running is not None and rule.experiment_key not in running:
            continue
        exp: dict[str, Any] = {
            "id": rule.id,
            "key": rule.experiment_key,
            "seed": rule.experiment_key,
            "hashVersion": 2,
            "hashAttribute": rule.hash_attribute,
            "variations": [v.value for v in rule.variations],
            "coverage": rule.coverage,
            "meta": [
                {"key": v.key or str(i), **({"name": v.name} if v.name else {})}
                for i, v in enumerate(rule.variations)
            ],
            "bucketVersion": rule.bucket_version,
            "phase": "0",
        }
        if rule.weights is not None:
            exp["weights"] = rule.weights
        if rule.fallback_attribute:
            exp["fallbackAttribute"] = rule.fallback_attribute
        if rule.condition:
            exp["condition"] = rule.condition
        if rule.namespace is not None:
            exp["namespace"] = [rule.namespace.name, rule.namespace.start, rule.namespace.end]
        out.append(exp)
    return out


def prerequisites_rule(prerequisites: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Flag-level prerequisites as GrowthBook serves them: a first rule whose parent
    conditions gate the whole flag (off, source `prerequisite`, when one fails)."""
    if not prerequisites:
        return None
    return {
        "id": "prerequisites",
        "parentConditions": [
            {"id": p["flag"], "condition": p.get("condition") or {"value": True}, "gate": True}
            for p in prerequisites
        ],
    }


def check_key(key: str, what: str = "key") -> str:
    if not re.fullmatch(KEY_RE, key or ""):
        raise InvalidInput(
            f"{what} '{key[:60]}' is not valid: letters, digits and . _ : - (up to 200, "
            "starting with a letter or digit)"
        )
    return key
