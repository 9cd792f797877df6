"""Accounts and people in the API: what may be sent (`…Create`, `…Update`, never server-owned
fields) and what is shown (`…Public`; contact details only in `PersonContact`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_ID = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str = _ID
    name: str = Field(min_length=1, max_length=300)
    domain: str | None = Field(default=None, max_length=300)
    plan: str = Field(default="", max_length=50)
    segment: str = Field(default="", max_length=50)
    region: str = Field(default="", max_length=50)
    arr: float = Field(default=0, ge=0, le=1e12)
    traits: dict[str, Any] = Field(default_factory=dict, max_length=200)


class AccountUpdate(BaseModel):
    """Only the fields sent are changed; `traits` are merged (a null value removes a trait)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=300)
    domain: str | None = Field(default=None, max_length=300)
    plan: str | None = Field(default=None, max_length=50)
    segment: str | None = Field(default=None, max_length=50)
    region: str | None = Field(default=None, max_length=50)
    arr: float | None = Field(default=None, ge=0, le=1e12)
    traits: dict[str, Any] | None = Field(default=None, max_length=200)


class AccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    name: str
    domain: str | None
    plan: str
    segment: str
    region: str
    arr: float
    traits: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str = _ID
    account_external_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=300)
    traits: dict[str, Any] = Field(default_factory=dict, max_length=200)


class PersonPublic(BaseModel):
    """A person as everyone may see them: no contact details."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    account_id: int | None
    name: str | None
    traits: dict[str, Any]
    created_at: dt.datetime


class PersonContact(PersonPublic):
    """A person with contact details (permission `people.pii`)."""

    email: str | None


class ImportSummary(BaseModel):
    file: str
    rows: int
    created: int
    updated: int
    unchanged: int
