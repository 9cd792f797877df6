"""The portfolio in the API: what may be sent (`…Create`, `…Update`: no server-owned fields)
and what is shown (`…Public`). A connection's token goes in once and never comes out."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Health = Literal["on_track", "at_risk", "off_track"]
# Years 1000 to 2999: a quarter's first and last day must be dates (year 0 and 10000 are not).
QUARTER = r"^[12][0-9]{3}-Q[1-4]$"
Period = Field(pattern=QUARTER, description="a quarter, e.g. 2026-Q1")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectionCreate(_In):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["jira", "jira-dc", "linear"]
    url: str = Field(default="", max_length=500)
    token: str = Field(min_length=1, max_length=4000, description="stored encrypted, never shown")
    username: str = Field(default="", max_length=320, description="Jira Cloud: the account email")
    scope: str = Field(default="", max_length=4000, description="Jira: JQL of the work to sync")
    team_id: int | None = None


class ConnectionUpdate(_In):
    url: str | None = Field(default=None, max_length=500)
    token: str | None = Field(default=None, max_length=4000)
    username: str | None = Field(default=None, max_length=320)
    scope: str | None = Field(default=None, max_length=4000)


class ConnectionPublic(BaseModel):
    """A connection as anyone may see it: no token, only whether one is stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    url: str
    username: str
    scope: str
    team_id: int | None
    has_token: bool
    story_points_field: str | None
    last_sync_at: dt.datetime | None
    schedule_every_hours: float | None = None
    next_sync_at: dt.datetime | None = None


class SchedulePut(_In):
    every_hours: float | None = Field(default=None, ge=0, le=744, description="0 or null: stop")


class SyncRunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    connection_id: int
    job_id: int | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    report: dict[str, object]
    error: str | None


class ObjectiveCreate(_In):
    title: str = Field(min_length=1, max_length=300)
    period: str = Period
    description: str = Field(default="", max_length=10_000)
    team_id: int | None = None
    owner_id: int | None = None
    parent_id: int | None = None
    weight: float = Field(default=1.0, gt=0, le=1000)
    work_weight: float = Field(default=0.0, ge=0, le=1000)


class ObjectiveUpdate(_In):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    period: str | None = Field(default=None, pattern=QUARTER)
    description: str | None = Field(default=None, max_length=10_000)
    team_id: int | None = None
    owner_id: int | None = None
    parent_id: int | None = None
    weight: float | None = Field(default=None, gt=0, le=1000)
    work_weight: float | None = Field(default=None, ge=0, le=1000)
    status: Literal["active", "closed"] | None = None


class KeyResultCreate(_In):
    title: str = Field(min_length=1, max_length=300)
    target: float
    start: float = 0.0
    unit: str = Field(default="", max_length=30)
    metric: str | None = Field(default=None, max_length=100, description="a catalog metric")
    metric_grain: Literal["day", "week", "month"] = "week"
    weight: float = Field(default=1.0, gt=0, le=1000)
    owner_id: int | None = None


class CheckInCreate(_In):
    value: float = Field(allow_inf_nan=False)
    comment: str = Field(default="", max_length=5000)


class UpdateCreate(_In):
    subject_type: Literal["objective", "initiative", "epic"]
    subject_id: int
    health: Health
    body: str = Field(default="", max_length=10_000)


class UpdatePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subject_type: str
    subject_id: int
    health: str
    body: str
    author: str
    source: str
    at: dt.datetime


class EpicLinks(_In):
    """Links made by hand; a field left out is left alone, null unlinks."""

    initiative_id: int | None = None
    objective_id: int | None = None
    team_id: int | None = None


class InitiativeLink(_In):
    objective_id: int | None = None


class RuleCreate(_In):
    match: Literal["label", "component", "project", "parent"]
    value: str = Field(min_length=1, max_length=300)
    initiative_id: int | None = None
    objective_id: int | None = None
    team_id: int | None = None
    connection_id: int | None = None


class RulePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    match: str
    value: str
    initiative_id: int | None
    objective_id: int | None
    team_id: int | None
    connection_id: int | None


class FeatureLinkCreate(_In):
    feature_request_id: int = Field(ge=1)
