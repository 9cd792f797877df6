"""Time, one meaning: `utcnow()` is the current time as a timezone-aware UTC datetime.

The DuckDB event store keeps naive UTC timestamps; `naive_utc` is the one way to get there.
"""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Now, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """`value` as a naive datetime in UTC (an aware value is converted; a naive one is taken
    to be UTC already)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def aware_utc(value: dt.datetime) -> dt.datetime:
    """`value` as an aware UTC datetime (a naive one is taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
