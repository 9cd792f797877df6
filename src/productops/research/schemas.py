"""Research in the API: what may be sent (`…Create`, `…Update`; `extra="forbid"`, never a
server-owned field) and what is shown (`…Public`). Participants come in two shapes:
`ParticipantPublic` (pseudonym, segment, status: for everyone) and `ParticipantContact`
(name and contact details: `people.pii` only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from productops.core.schemas import OptionalEmail

Method = Literal[
    "interview", "usability_test", "survey", "diary_study", "card_sort", "concept_test",
    "field_visit", "other",
]  # fmt: skip
StudyStatus = Literal["planned", "recruiting", "running", "analysing", "done", "cancelled"]
ContactStatus = Literal["free", "do_not_contact", "blocklisted", "opted_out"]
ContactKind = Literal["invited", "scheduled", "participated", "no_show"]
InsightStatus = Literal["draft", "published"]
Title = Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]+$")
Id = Field(ge=1, le=2**31 - 1)
OptionalId = Field(default=None, ge=1, le=2**31 - 1)
# An id in a list: within the database's integers, so a larger one is refused by the schema.
ListedId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Word50 = Annotated[str, Field(max_length=50)]
# A new tag of the feedback hub's taxonomy, named as its own schema allows.
TagName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
MAX_BODY = 2_000_000


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("leave the field out to keep it; it cannot be emptied with null")
    return value


def _without_null(schema: dict[str, Any]) -> None:
    """The document shows the field as its value's type alone (null is refused)."""
    for option in schema.pop("anyOf", []):
        if option.get("type") != "null":
            schema.update(option)
    schema.pop("default", None)


# An update may leave such a field out, but not set it to null: the record keeps a value.
Kept = AfterValidator(_not_null)


class StudyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Title
    goal: str = Field(default="", max_length=20_000)
    method: Method = "interview"
    status: StudyStatus = "planned"
    owner_id: int | None = OptionalId
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    objective_id: int | None = OptionalId
    request_id: int | None = OptionalId

    @model_validator(mode="after")
    def _dates(self) -> StudyCreate:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class StudyUpdate(BaseModel):
    """Only the fields sent change; null empties owner, dates and links (a title, goal,
    method and status are kept: left out, not null)."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str | None, Kept] = Field(
        default=None,
        min_length=1,
        max_length=300,
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]+$",
        json_schema_extra=_without_null,
    )
    goal: Annotated[str | None, Kept] = Field(
        default=None, max_length=20_000, json_schema_extra=_without_null
    )
    method: Annotated[Method | None, Kept] = Field(default=None, json_schema_extra=_without_null)
    status: Annotated[StudyStatus | None, Kept] = Field(
        default=None, json_schema_extra=_without_null
    )
    owner_id: int | None = OptionalId
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    objective_id: int | None = OptionalId
    request_id: int | None = OptionalId


class StudyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    goal: str
    method: str
    status: str
    owner_id: int | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    objective_id: int | None
    request_id: int | None
    created_at: dt.datetime


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Title
    participant_id: int | None = OptionalId
    happened_at: dt.datetime | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=24 * 60)


class SessionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    study_id: int
    title: str
    participant: str | None = Field(description="the participant's pseudonym")
    happened_at: dt.datetime | None
    duration_minutes: int | None


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Title
    body: str = Field(default="", max_length=MAX_BODY)
    session_id: int | None = OptionalId


class NoteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=300)
    body: str | None = Field(default=None, max_length=MAX_BODY)


class SpeakerLink(BaseModel):
    """Who a speaker label of a note is."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200)
    role: Literal["participant", "researcher", "observer"] = "participant"
    participant_id: int | None = OptionalId


class SpeakerPublic(BaseModel):
    label: str = Field(
        description="the label as the caller may see it (a pseudonym without people.pii)"
    )
    role: str
    participant: str | None


class NotePublic(BaseModel):
    id: int
    study_id: int
    session_id: int | None
    title: str
    body: str = Field(description="markdown; participants' names are pseudonyms without people.pii")
    source: str
    speakers: list[SpeakerPublic]
    created_at: dt.datetime
    updated_at: dt.datetime


class HighlightCreate(BaseModel):
    """An exact span of the note's body as the caller sees it (`start`..`end`, characters),
    with the words it covers (`quote`) as a check."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(ge=0, le=MAX_BODY)
    end: int = Field(ge=1, le=MAX_BODY)
    quote: str | None = Field(default=None, max_length=20_000)
    tag_ids: list[ListedId] = Field(default_factory=list, max_length=50)
    new_tags: list[TagName] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _span(self) -> HighlightCreate:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class HighlightPublic(BaseModel):
    id: int
    note_id: int
    study_id: int
    session_id: int | None
    participant: str | None = Field(description="pseudonym, or the name with people.pii")
    start: int
    end: int
    quote: str
    tags: list[str]
    created_at: dt.datetime


class TagChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag_ids: list[ListedId] = Field(default_factory=list, max_length=50)
    new_tags: list[TagName] = Field(default_factory=list, max_length=20)


class InsightCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Title
    body: str = Field(default="", max_length=100_000)
    study_id: int | None = OptionalId
    status: InsightStatus = "draft"
    highlight_ids: list[ListedId] = Field(default_factory=list, max_length=500)
    tag_ids: list[ListedId] = Field(default_factory=list, max_length=50)


class InsightUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=300)
    body: str | None = Field(default=None, max_length=100_000)
    status: InsightStatus | None = None
    highlight_ids: list[ListedId] | None = Field(default=None, max_length=500)
    tag_ids: list[ListedId] | None = Field(default=None, max_length=50)


class InsightPublic(BaseModel):
    id: int
    title: str
    body: str
    study_id: int | None
    status: str
    highlights: list[HighlightPublic]
    tags: list[str]
    request_ids: list[int]
    created_at: dt.datetime


class EvidenceLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: int = Id


class ParticipantCreate(BaseModel):
    """A participant: an existing customers person (`person_id`), or a new one made from
    `name` and `email` (no plaintext copy of the address is kept outside the vault)."""

    model_config = ConfigDict(extra="forbid")

    person_id: int | None = OptionalId
    name: str | None = Field(default=None, max_length=300)
    email: OptionalEmail = None
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+() .-]*$")
    segment: str | None = Field(default=None, max_length=50)
    account_external_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _who(self) -> ParticipantCreate:
        if self.person_id is None and not (self.email or self.name):
            raise ValueError("give person_id, or the new person's name or email")
        return self


class ParticipantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: OptionalEmail = None
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+() .-]*$")
    segment: str | None = Field(default=None, max_length=50)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ContactStatus
    reason: str = Field(default="", max_length=2000)


class ParticipantPublic(BaseModel):
    """A participant as everyone may see them."""

    id: int
    pseudonym: str
    segment: str | None
    plan: str | None
    status: str = Field(description="free, in_cooldown, do_not_contact, blocklisted, opted_out")
    consent: str = Field(description="current, outdated (re-consent needed), withdrawn or none")
    last_contacted_at: dt.datetime | None
    sessions: int
    invitations_in_period: int


class ParticipantContact(ParticipantPublic):
    """A participant with who they are (permission `people.pii`)."""

    person_id: int
    name: str | None
    email: str | None
    phone: str | None
    account: str | None


class ConsentTextCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Title
    body: str = Field(min_length=1, max_length=100_000)


class ConsentRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, le=10_000, description="default: current")
    method: Literal["form", "verbal", "email", "import"] = "form"
    withdraw: bool = False


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ContactKind
    study_id: int | None = OptionalId
    at: dt.datetime | None = None
    override: bool = Field(
        default=False,
        description="contact despite cooldown or do-not-contact (needs research.override)",
    )


class IncentiveCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: float = Field(gt=0, le=100_000)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    kind: Literal["gift_card", "cash", "donation", "voucher", "other"] = "gift_card"
    study_id: int | None = OptionalId
    paid_at: dt.datetime | None = None


class Screener(BaseModel):
    """Who to recruit: every criterion is optional; empty means any."""

    model_config = ConfigDict(extra="forbid")

    segments: list[Word50] = Field(default_factory=list, max_length=50)
    plans: list[Word50] = Field(default_factory=list, max_length=50)
    used_event: str | None = Field(default=None, max_length=200, description="did this event")
    used_at_least: int = Field(default=1, ge=1, le=1_000_000)
    used_within_days: int = Field(default=30, ge=1, le=3650)
    gave_feedback_within_days: int | None = Field(default=None, ge=1, le=3650)
    feedback_tag_id: int | None = OptionalId
    not_contacted_days: int | None = Field(default=None, ge=1, le=3650)
    exclude_study_id: int | None = OptionalId
    require_consent: bool = False


class ScreenerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    study_id: int | None = OptionalId
    criteria: Screener = Field(default_factory=Screener)


class InvitationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    study_id: int = Id
    participant_ids: list[ListedId] = Field(min_length=1, max_length=5000)
    send_email: bool = Field(
        default=False, description="email through SMTP; else record and export"
    )
    subject: str = Field(default="", max_length=200)
    message: str = Field(default="", max_length=5000)
    override: bool = False
