"""Accounts and people as the API shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


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


class PersonPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    account_id: int | None
    name: str | None
    traits: dict[str, Any]
    created_at: dt.datetime
