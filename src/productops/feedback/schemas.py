"""Feedback in the API: what may be sent (`…Create`, `…Update`: never server-owned fields)
and what is shown (`…Public`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from productops.feedback.importers.base import EMAIL_PATTERN, KINDS, MAX_TEXT_CHARS, SCORE_KINDS
from productops.feedback.models import IMPORTANCE, REQUEST_STATUSES, STATUSES

_ID = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
# A name or title: at least one character that is not blank (names are stored stripped).
NONBLANK = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# Ids are 32-bit integers on PostgreSQL: a larger number can name nothing.
MAX_ID = 2**31 - 1
EMAIL_FIELD = Field(
    default=None, max_length=320, pattern=EMAIL_PATTERN, description="an email address"
)
Kind = Literal["ticket", "conversation", "survey", "review", "call", "other"]
Status = Literal["new", "triaged", "duplicate", "spam"]
RequestStatus = Literal["under_review", "planned", "in_progress", "shipped", "declined"]
Importance = Literal["unknown", "nice_to_have", "important", "critical"]
ArrBand = Literal["none", "under-10k", "10k-50k", "50k-250k", "250k-plus"]
Sentiment = Literal["negative", "neutral", "positive"]
Sort = Literal["newest", "oldest", "arr", "negative"]
SearchMode = Literal["hybrid", "text", "meaning"]
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
    email: str | None = EMAIL_FIELD
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
    theme_id: int | None = Field(default=None, ge=0, le=MAX_ID, description="0 removes the theme")
    duplicate_of_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class TagState(BaseModel):
    id: int
    name: str
    state: Literal["applied", "suggested", "rejected"]
    confidence: float | None


class FeedbackDetail(FeedbackPublic):
    tags: list[TagState] = Field(description="applied tags and suggestions waiting")
    duplicates: list[int] = Field(description="ids of the items merged into this one")


class SearchHit(FeedbackPublic):
    relevance: float = Field(description="the fused rank score (higher first)")
    text_rank: int | None = Field(description="its place among the full-text matches")
    similarity: float | None = Field(description="cosine similarity of meaning")


class SearchPublic(BaseModel):
    total: int = Field(description="matches (counted up to 10,000)")
    took_ms: float
    mode: SearchMode
    hits: list[SearchHit]


class ImportSummary(BaseModel):
    source: str
    files: list[str]
    read: int
    created: int
    updated: int
    unchanged: int
    skipped: dict[str, int] = Field(description="items left out, by reason")
    people_created: int


class FeedbackCreated(ImportSummary):
    ids: list[int] = Field(description="the items' ids, in the order sent")
    process_job: int | None = Field(description="the processing job queued, if any")


class ThemePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    key_phrases: list[str]
    kind: str
    status: str
    size: int


class ThemeTrendPublic(ThemePublic):
    weeks: list[dt.date] = Field(description="each week's Monday, oldest first")
    counts: list[int] = Field(description="feedback per week")
    last_week: int
    week_before: int
    growth: float | None = Field(description="last week against the one before (1.0: +100 %)")
    emerging: bool
    growing: bool


class JobQueued(BaseModel):
    job_id: int = Field(description="follow it at /api/v1/jobs/{job_id}")


class TagPublic(BaseModel):
    id: int
    name: str
    items: int = Field(description="items carrying it")
    suggested: int = Field(description="suggestions waiting for a person")


class ThemeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=NONBLANK)
    description: str | None = Field(default=None, max_length=5000)


class ThemeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NONBLANK)
    description: str | None = Field(default=None, max_length=5000)
    status: Literal["active", "archived"] | None = None


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]*" + NONBLANK + r"[^\x00-\x1f]*$"
    )
    description: str | None = Field(default=None, max_length=2000)


class RequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300, pattern=NONBLANK)
    description: str | None = Field(default=None, max_length=20_000)
    from_item_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="feedback it starts from"
    )
    excerpt: str | None = Field(default=None, max_length=5000)
    importance: Importance = "unknown"


class RequestUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=300, pattern=NONBLANK)
    description: str | None = Field(default=None, max_length=20_000)
    status: RequestStatus | None = None


class EvidenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: int = Field(ge=1, le=MAX_ID)
    excerpt: str | None = Field(default=None, max_length=5000)
    importance: Importance = "unknown"


class VoteCreate(BaseModel):
    """Who votes: a person by id, or by email (someone unknown is added as a person)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": ["person_id"]}, {"required": ["email"]}]},
    )

    person_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, json_schema_extra={"type": "integer"}
    )
    email: str | None = Field(
        default=None, max_length=320, pattern=EMAIL_PATTERN, json_schema_extra={"type": "string"}
    )

    @model_validator(mode="after")
    def _someone(self) -> VoteCreate:
        if not self.person_id and not self.email:
            raise ValueError("say who votes: person_id or email")
        return self


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_kind: Literal["epic", "objective", "initiative"]
    target_id: int = Field(ge=1, le=MAX_ID)


class RequestPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    status: str
    merged_into_id: int | None
    created_at: dt.datetime
    shipped_at: dt.datetime | None


class RequestWithDemand(RequestPublic):
    people: int = Field(description="distinct people asking (evidence and votes)")
    accounts: int = Field(description="distinct accounts asking")
    arr: float = Field(description="the ARR of those accounts, summed")
    evidence: int
    votes: int
    by_segment: dict[str, dict[str, float]] = Field(description="people, accounts, ARR")
    by_plan: dict[str, dict[str, float]] = Field(description="people, accounts, ARR")


class WeekAskers(BaseModel):
    week: dt.date = Field(description="the week's Monday")
    new_askers: int


class RequestDetail(RequestWithDemand):
    trend: list[WeekAskers]
    links: list[LinkCreate]


class EvidencePublic(BaseModel):
    request_id: int
    item_id: int
    excerpt: str | None
    importance: Importance


class VotePublic(BaseModel):
    request_id: int
    person_id: int


class Asker(BaseModel):
    request: str
    person: str | None
    email: str | None = Field(description="only for callers with people.pii")
    account: str | None
    plan: str | None
    segment: str | None
    arr: float | None
    voted: bool
    told: bool
    importance: str | None
    excerpt: str | None
    feedback_id: int | None


class CompetitorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=NONBLANK)
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


class CompetitorWithMentions(CompetitorPublic):
    mentions: int
    accounts: int = Field(description="distinct accounts whose feedback mentions it")
    negative: int
    neutral: int
    positive: int
    mean_sentiment: float | None


class CompetitorWeek(BaseModel):
    week: dt.date = Field(description="the week's Monday")
    mentions: int
    sentiment: float | None = Field(description="mean sentiment of the week's mentions")


class CompetitorDetail(CompetitorWithMentions):
    weekly: list[CompetitorWeek]


OptId = Field(default=None, ge=1, le=MAX_ID)
Short = Field(default=None, max_length=60)


class SavedQuery(BaseModel):
    """A search as the list and search endpoints take it: words, mode, sort and filters
    (`theme: 0` is feedback no theme claims)."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=500)
    mode: SearchMode | None = None
    sort: Sort | None = None
    source: str | None = Short
    kind: Kind | None = None
    status: Status | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    segment: str | None = Short
    plan: str | None = Short
    arr_band: ArrBand | None = None
    sentiment: Sentiment | None = None
    theme: int | None = Field(default=None, ge=0, le=MAX_ID)
    request: int | None = OptId
    competitor: int | None = OptId
    tag: int | None = OptId
    account: int | None = OptId
    person: int | None = OptId
    language: str | None = Short

    def stored(self) -> dict[str, Any]:
        """What a saved view keeps: the filters under their `Filters` names, then q, mode
        and sort (unset ones left out)."""
        ids = ("theme", "request", "competitor", "tag", "account", "person")
        out: dict[str, Any] = {}
        for key, value in self.model_dump(mode="json", exclude_none=True).items():
            if value == "":
                continue
            out[f"{key}_id" if key in ids else key] = value
        return out


class SavedViewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=NONBLANK)
    query: SavedQuery = Field(default_factory=SavedQuery)


class SavedViewPublic(BaseModel):
    id: int
    name: str
    query: dict[str, Any] = Field(description="words, mode, sort and filters, as saved")
