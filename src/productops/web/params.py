"""Query parameters written once for every page and API: what a form sends when a box is
left empty is "not given", not an error."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator


def blank_is_none(value: Any) -> Any:
    """A form's empty box (`?start=`) means the parameter was not given."""
    return None if isinstance(value, str) and not value.strip() else value


OptionalDate = Annotated[
    dt.date | None,
    BeforeValidator(blank_is_none),
    Query(description="a day, YYYY-MM-DD (UTC); empty or absent: the default"),
]
StartDate = Annotated[
    dt.date | None,
    BeforeValidator(blank_is_none),
    Query(description="first day (UTC), included; default: see the endpoint"),
]
EndDate = Annotated[
    dt.date | None,
    BeforeValidator(blank_is_none),
    Query(
        description="last day (UTC), included; default: the day of the newest event (today if "
        "that is later), so imported history is covered as the pages show it"
    ),
]
OptionalText = Annotated[str | None, BeforeValidator(blank_is_none)]
