"""Parameters written once for every page and API: what a form sends when a box is left
empty is "not given", not an error; days and times are read as the OpenAPI document writes
them (not as numbers of seconds); ids and offsets stay within the database's integers."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator, WithJsonSchema

from productops.core.clock import aware_utc

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339, the document's `date-time`: the offset is part of the time.
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def blank_is_none(value: Any) -> Any:
    """A form's empty box (`?start=`) means the parameter was not given."""
    return None if value == "" else value


def day(value: Any) -> Any:
    """A day written YYYY-MM-DD; an empty box is none (pydantic alone would also read a
    number of seconds, or a week date, as a day)."""
    if not isinstance(value, str) or value == "":
        return blank_is_none(value)
    if not _DAY.fullmatch(value):
        raise ValueError("write the day as YYYY-MM-DD")
    return dt.date.fromisoformat(value)


def moment(value: Any) -> Any:
    """A day (its first moment, UTC) or an RFC 3339 time with its offset, as aware UTC."""
    if not isinstance(value, str):
        return value
    if _DAY.fullmatch(value):
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
    if not _TIME.fullmatch(value):
        raise ValueError(
            "write a day (2025-03-01) or a time with its offset (2025-03-01T12:00:00Z)"
        )
    try:
        return aware_utc(dt.datetime.fromisoformat(value.upper()))
    except OverflowError:
        raise ValueError("the time lies outside the years 1 to 9999 in UTC") from None


# What the OpenAPI document says a date box takes: a day, or nothing (an empty box).
_DAY_OR_EMPTY = WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]}
)
OptionalDate = Annotated[
    dt.date | None,
    BeforeValidator(day),
    _DAY_OR_EMPTY,
    Query(description="a day, YYYY-MM-DD (UTC); empty or absent: the default"),
]
StartDate = Annotated[
    dt.date | None,
    BeforeValidator(day),
    _DAY_OR_EMPTY,
    Query(description="first day (UTC), included; default: see the endpoint"),
]
EndDate = Annotated[
    dt.date | None,
    BeforeValidator(day),
    _DAY_OR_EMPTY,
    Query(
        description="last day (UTC), included; default: the day of the newest event (today if "
        "that is later), so imported history is covered as the pages show it"
    ),
]
# A point in time for the API: a day or an RFC 3339 time.
OptionalMoment = Annotated[
    dt.datetime | None,
    BeforeValidator(moment),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    ),
]
OptionalText = Annotated[str | None, BeforeValidator(blank_is_none)]

# Ids are 32-bit integers on PostgreSQL (64-bit on SQLite): a larger number can name nothing,
# so the schema refuses it (422) instead of the database failing on it.
MAX_ID = 2**31 - 1
RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="the record's id")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")]
