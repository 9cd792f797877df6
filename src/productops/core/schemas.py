"""Input and output models of the core API. Inputs never carry server-owned fields
(ids, hashes, timestamps); outputs never carry secrets."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from productops.core.models import JobStatus, Role, Scope

# Control characters and every character Python's `str.strip` removes, spelled out: `\s`
# means something else to JSON Schema, to Python and to pydantic's regex engine.
_BLANK = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# An email address as productops takes it (`auth.normalise_email`, the people's records):
# one '@' with something on each side, no spaces or control characters.
EMAIL_PATTERN = rf"^[^@{_BLANK}]+@[^@{_BLANK}]+$"
_EMAIL = re.compile(EMAIL_PATTERN)


def _address(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"'{value[:60]}' is not an email address")
    return value


def _address_or_none(value: str | None) -> str | None:
    return _address(value) if value else value


# The pattern is in the document; the check says what is wrong in words.
Email = Annotated[
    str,
    Field(max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN}),
    AfterValidator(_address),
]
# An address, or none (empty or null).
OptionalEmail = Annotated[
    str | None,
    Field(max_length=320, json_schema_extra={"pattern": rf"^([^@{_BLANK}]+@[^@{_BLANK}]+)?$"}),
    AfterValidator(_address_or_none),
]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: str = Field(default="", max_length=200)
    password: str = Field(min_length=10, max_length=1000)
    role: Role = Role.viewer


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class Me(BaseModel):
    kind: str
    id: int | None
    name: str
    role: Role | None
    scope: Scope | None
    permissions: list[str]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    scope: Scope


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scope: Scope
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(BaseModel):
    id: int
    name: str
    scope: Scope
    key: str = Field(description="The full key. It is shown this once and never again.")


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    title: str
    status: JobStatus
    progress_done: int
    progress_total: int | None
    message: str
    result: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str | None
    detail: dict[str, Any]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class TeamMemberPublic(BaseModel):
    user_id: int
    name: str
    email: str
    title: str


class TeamPublic(BaseModel):
    id: int
    name: str
    description: str
    members: list[TeamMemberPublic]


class Health(BaseModel):
    status: str
    version: str
    database: str
    schema_revision: str | None
