"""Feedback in the API: what may be sent (`…Create`, `…Update`: never server-owned fields)
and what is shown (`…Public`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from productops.feedback.importers.base import KINDS, MAX_TEXT_CHARS, SCORE_KINDS
from productops.feedback.models import IMPORTANCE, REQUEST_STATUSES, STATUSES

_ID = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
Kind = Literal["ticket", "conversation", "survey", "review", "call", "other"]
Status = Literal["new", "triaged", "duplicate", "spam"]
RequestStatus = Literal["under_review", "planned", "in_progress", "shipped", "declined"]
Importance = Literal["unknown", "nice_to_have", "important", "critical"]
assert set(KINDS) == set(Kind.__args__)  # type: ignore[attr-defined]
assert set(STATUSES) == set(Status.__args__)  # type: ignore[attr-defined]
assert set(REQUEST_STATUSES) == set(RequestStatus.__args__)  # type: ignore[attr-defined]
assert set(IMPORTANCE) == set(Importance.__args__)  # type: ignore[attr-defined]


class FeedbackCreate(BaseModel):
    """One piece of feedback sent through the API. `source` + `external_id` identify it:
    sending it again updates it instead of adding a second one."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="api", min_length=1, max_length=40, pattern=r"^[a-z0-9_.-]+$")
    external_id: str = _ID
    kind: Kind = "other"
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    title: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime | None = Field(default=None, description="default: now")
    url: str | None = Field(default=None, max_length=1000, pattern=r"^https://")
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=300)
    user_id: str | None = Field(default=None, max_length=200, description="the person's id")
    account_id: str | None = Field(
        default=None, max_length=200, description="the account's external id"
    )
    score: float | None = Field(default=None, ge=0, le=10)
    score_kind: Literal["nps", "csat", "stars", "ces", "thumbs"] | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    extra: dict[str, Any] = Field(default_factory=dict, max_length=50)

    @field_validator("tags")
    @classmethod
    def _short_tags(cls, v: list[str]) -> list[str]:
        return [t.strip()[:100] for t in v if t.strip()]


assert set(SCORE_KINDS) >= {"nps", "csat", "stars"}


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[FeedbackCreate] = Field(min_length=1, max_length=1000)


class FeedbackPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    external_id: str
    kind: str
    title: str | None
    text: str
    url: str | None
    person_id: int | None
    account_id: int | None
    created_at: dt.datetime
    score: float | None
    score_kind: str | None
    sentiment: float | None
    sentiment_source: str | None
    language: str | None
    status: str
    duplicate_of_id: int | None
    theme_id: int | None
    theme_source: str | None


class TriageUpdate(BaseModel):
    """A triage decision: any of status, theme, duplicate-of; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    theme_id: int | None = Field(default=None, ge=0, description="0 removes the theme")
    duplicate_of_id: int | None = Field(default=None, ge=1)


class ImportSummary(BaseModel):
    source: str
    files: list[str]
    read: int
    created: int
    updated: int
    unchanged: int
    skipped: dict[str, int]
    people_created: int


class ThemePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    key_phrases: list[str]
    kind: str
    status: str
    size: int


class ThemeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class ThemeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    status: Literal["active", "archived"] | None = None


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    description: str | None = Field(default=None, max_length=2000)


class RequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    from_item_id: int | None = Field(default=None, ge=1, description="feedback it starts from")
    excerpt: str | None = Field(default=None, max_length=5000)
    importance: Importance = "unknown"


class RequestUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    status: RequestStatus | None = None


class EvidenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: int = Field(ge=1)
    excerpt: str | None = Field(default=None, max_length=5000)
    importance: Importance = "unknown"


class VoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: int | None = Field(default=None, ge=1)
    email: str | None = Field(default=None, max_length=320)


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_kind: Literal["epic", "objective", "initiative"]
    target_id: int = Field(ge=1)


class RequestPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    status: str
    merged_into_id: int | None
    created_at: dt.datetime
    shipped_at: dt.datetime | None


class CompetitorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list, max_length=30)
    website: str | None = Field(default=None, max_length=300)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        return [a.strip()[:200] for a in v if a.strip()]


class CompetitorPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    aliases: list[str]
    website: str | None


class SavedViewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    query: dict[str, Any] = Field(default_factory=dict, max_length=30)
