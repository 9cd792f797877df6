"""What the experiments API takes (`…Create`, `…Update`: never server-owned fields) and
gives (`…Public`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

# A key of a flag, experiment or environment: what SDKs and URLs carry.
KEY_RE = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"

ValueType = Literal["boolean", "string", "number", "json"]
Status = Literal["draft", "running", "stopped", "decided"]
Decision = Literal["ship", "rollback", "iterate", "inconclusive"]
TestName = Literal["ttest", "sequential", "bayesian"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Prerequisite(_In):
    flag: str = Field(pattern=KEY_RE)
    condition: dict[str, Any] = Field(default_factory=lambda: {"value": True})


# Flag keys that are pages under /flags/.
RESERVED_FLAG_KEYS = ("schedules", "sdk", "stale")
# A default value has the flag's type (SDKs cast by it): what the checks at save enforce,
# said in the document so that API clients know it (a boolean flag may leave both out).
_NOT_NULL: JsonDict = {"type": ["object", "array", "string", "number", "boolean"]}
_DEFAULT_BY_TYPE: JsonDict = {
    "anyOf": [
        {"properties": {"value_type": {"const": "boolean"}, "default_value": {"type": "boolean"}}},
        {
            "required": ["value_type", "default_value"],
            "properties": {
                "value_type": {"const": "string"},
                "default_value": {"type": "string", "maxLength": 10_000},
            },
        },
        {
            "required": ["value_type", "default_value"],
            "properties": {"value_type": {"const": "number"}, "default_value": {"type": "number"}},
        },
        {
            "required": ["value_type", "default_value"],
            "properties": {"value_type": {"const": "json"}, "default_value": _NOT_NULL},
        },
    ]
}


class FlagCreate(_In):
    """A flag: its `default_value` has its `value_type` (`false` for a boolean flag when
    left out)."""

    model_config = ConfigDict(json_schema_extra=_DEFAULT_BY_TYPE)

    key: str = Field(
        pattern=KEY_RE,
        json_schema_extra={"not": {"enum": list(RESERVED_FLAG_KEYS)}},
        description="what SDKs ask for; not " + ", ".join(RESERVED_FLAG_KEYS) + " (pages)",
    )
    value_type: ValueType = "boolean"
    default_value: Any = False
    description: str = Field(default="", max_length=5000)
    project: str = Field(default="", max_length=100)
    owner: str = Field(default="", max_length=320)
    tags: list[str] = Field(default_factory=list, max_length=20)
    prerequisites: list[Prerequisite] = Field(default_factory=list, max_length=20)


class FlagUpdate(_In):
    """Only the fields sent change."""

    default_value: Any = None
    description: str | None = Field(default=None, max_length=5000)
    project: str | None = Field(default=None, max_length=100)
    owner: str | None = Field(default=None, max_length=320)
    tags: list[str] | None = Field(default=None, max_length=20)
    prerequisites: list[Prerequisite] | None = Field(default=None, max_length=20)
    archived: bool | None = None


class RulesUpdate(_In):
    """The environment's rules, in order (the first that matches serves the user)."""

    rules: list[dict[str, Any]] = Field(max_length=100)


class EnabledUpdate(_In):
    enabled: bool


class ScheduleCreate(_In):
    environment: str = Field(pattern=KEY_RE)
    run_at: dt.datetime
    enabled: bool | None = None
    rules: list[dict[str, Any]] | None = Field(default=None, max_length=100)


class FlagSettingPublic(BaseModel):
    environment: str
    enabled: bool
    rules: list[dict[str, Any]]
    version: int
    updated_at: dt.datetime


class FlagPublic(BaseModel):
    id: int
    key: str
    value_type: str
    default_value: Any
    description: str
    project: str
    owner: str
    tags: list[str]
    prerequisites: list[dict[str, Any]]
    archived: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    environments: list[FlagSettingPublic] = Field(default_factory=list)


class EvaluateRequest(_In):
    """Evaluate flags for one user in one environment."""

    environment: str = Field(default="production", pattern=KEY_RE)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=200)
    flags: list[str] | None = Field(default=None, max_length=1000)
    sticky_buckets: dict[str, dict[str, Any]] | None = Field(
        default=None,
        max_length=100,
        description="the user's sticky-bucket documents (as returned by an earlier call): "
        "with them users keep their variation when weights or coverage change",
    )


class ConnectionCreate(_In):
    name: str = Field(min_length=1, max_length=200)
    environment: str = Field(pattern=KEY_RE)
    project: str = Field(default="", max_length=100)


class Variation(_In):
    key: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    weight: float = Field(gt=0, le=1)


class Analysis(_In):
    test: TestName = "ttest"
    difference: Literal["relative", "absolute"] = "relative"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    correction: Literal["none", "holm", "benjamini_hochberg"] = "holm"
    cuped_days: int = Field(default=14, ge=0, le=90)
    sequential_tuning: float = Field(default=5000, gt=0)
    planned_users: int | None = Field(default=None, ge=2)


class Link(_In):
    title: str = Field(min_length=1, max_length=200)
    url: str = Field(max_length=1000, pattern=r"^https?://")


class ExperimentCreate(_In):
    key: str = Field(pattern=KEY_RE)
    name: str = Field(min_length=1, max_length=300)
    hypothesis: str = Field(default="", max_length=10_000)
    owner: str = Field(default="", max_length=320)
    primary_metric: str = Field(min_length=1, max_length=100)
    guardrail_metrics: list[str] = Field(default_factory=list, max_length=20)
    variations: list[Variation] = Field(min_length=2, max_length=20)
    exposure_event: str = Field(default="Experiment Viewed", min_length=1, max_length=200)
    flag_key: str | None = Field(default=None, pattern=KEY_RE)
    feature_request_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    epic_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    analysis: Analysis = Field(default_factory=Analysis)
    tags: list[str] = Field(default_factory=list, max_length=20)
    links: list[Link] = Field(default_factory=list, max_length=20)


class ExperimentUpdate(_In):
    """Only the fields sent change. Metrics, variations and the exposure event are fixed once
    the experiment has run (change them in a new experiment)."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    hypothesis: str | None = Field(default=None, max_length=10_000)
    owner: str | None = Field(default=None, max_length=320)
    primary_metric: str | None = Field(default=None, min_length=1, max_length=100)
    guardrail_metrics: list[str] | None = Field(default=None, max_length=20)
    variations: list[Variation] | None = Field(default=None, min_length=2, max_length=20)
    exposure_event: str | None = Field(default=None, min_length=1, max_length=200)
    flag_key: str | None = Field(default=None, pattern=KEY_RE)
    feature_request_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    epic_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    analysis: Analysis | None = None
    tags: list[str] | None = Field(default=None, max_length=20)
    links: list[Link] | None = Field(default=None, max_length=20)
    learnings: str | None = Field(default=None, max_length=20_000)


class Transition(_In):
    """Move an experiment on: start (draft → running), stop (running → stopped), decide
    (stopped → decided, with the decision and what was learned)."""

    action: Literal["start", "stop", "decide"]
    decision: Decision | None = None
    winner: str | None = Field(default=None, max_length=100)
    learnings: str = Field(default="", max_length=20_000)


class ExperimentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    name: str
    hypothesis: str
    owner: str
    status: str
    flag_id: int | None
    feature_request_id: int | None
    epic_id: int | None
    primary_metric: str
    guardrail_metrics: list[str]
    variations: list[dict[str, Any]]
    exposure_event: str
    analysis: dict[str, Any]
    tags: list[str]
    links: list[dict[str, str]]
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    decided_at: dt.datetime | None
    decision: str | None
    winner: str | None
    learnings: str
    created_at: dt.datetime
    updated_at: dt.datetime
