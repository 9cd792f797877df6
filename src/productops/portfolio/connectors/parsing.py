"""Small, strict readers of source values: timestamps, dates, numbers, names."""

from __future__ import annotations

import datetime as dt
from typing import Any


def timestamp(value: Any) -> dt.datetime | None:
    """An ISO timestamp as Jira (`2022-06-09T16:29:31.871-0700`) or Linear
    (`2024-05-02T09:20:11.512Z`) writes it, as aware UTC; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def day(value: Any) -> dt.date | None:
    """A `YYYY-MM-DD` date (or the date of a timestamp); None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        stamp = timestamp(text)
        return stamp.date() if stamp else None


def number(value: Any) -> float | None:
    """A finite number (an estimate): numbers and numeric text; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            result = float(value.strip().replace(",", "."))
        except ValueError:
            return None
    else:
        return None
    if result != result or result in (float("inf"), float("-inf")):
        return None
    return result


def name_of(value: Any, *keys: str) -> str | None:
    """The first text under `keys` of a dict (`displayName`, `name`), or the text itself."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        for key in keys:
            found = value.get(key)
            if isinstance(found, str) and found.strip():
                return found.strip()
    return None


def texts(value: Any, key: str | None = None) -> list[str]:
    """A list of text values (labels) or of dicts' `key` (components' names)."""
    if not isinstance(value, list):
        return []
    out = []
    for v in value:
        if key is not None and isinstance(v, dict):
            v = v.get(key)
        if isinstance(v, str) and v.strip():
            out.append(v.strip()[:300])
    return out


def clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text[:limit]


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
