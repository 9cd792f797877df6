"""Accounts and people in the API: what may be sent (`…Create`, `…Update`, never server-owned
fields) and what is shown (`…Public`; contact details only in `PersonContact`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from productops.core.schemas import OptionalEmail

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


# An update may leave such a field out, but not set it to null: the account keeps a value.
Kept = AfterValidator(_not_null)


class AccountUpdate(BaseModel):
    """Only the fields sent are changed; `traits` are merged (a null value removes a trait).
    Of the others, only `domain` can be emptied with null."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Kept] = Field(
        default=None, min_length=1, max_length=300, json_schema_extra=_without_null
    )
    domain: str | None = Field(default=None, max_length=300)
    plan: Annotated[str | None, Kept] = Field(
        default=None, max_length=50, json_schema_extra=_without_null
    )
    segment: Annotated[str | None, Kept] = Field(
        default=None, max_length=50, json_schema_extra=_without_null
    )
    region: Annotated[str | None, Kept] = Field(
        default=None, max_length=50, json_schema_extra=_without_null
    )
    arr: Annotated[float | None, Kept] = Field(
        default=None, ge=0, le=1e12, json_schema_extra=_without_null
    )
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
    email: OptionalEmail = None
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
