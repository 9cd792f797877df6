"""Where the events are read from: the workspace's event store (or a warehouse) as an Ibis
backend, and a summary of what it holds (the data version caches key on)."""

from __future__ import annotations

import datetime as dt
import difflib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import ibis
from ibis.backends import BaseBackend

from productops.analytics import store
from productops.analytics.settings import events_file, section, warehouse_mapping_file
from productops.core.clock import utcnow
from productops.core.errors import InvalidInput
from productops.core.workspace import Workspace


def _has_event_tables(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {"events_resolved", "persons", "accounts"} <= {r[0] for r in rows}


@contextmanager
def event_source(ws: Workspace) -> Iterator[BaseBackend]:
    """The workspace's events as an Ibis backend: the warehouse when `warehouse_url` is set,
    otherwise the embedded event store (an empty one before any event)."""
    url = section(ws).warehouse_url
    if url:
        from productops.analytics.query import warehouse

        mapping = warehouse.load_mapping_file(warehouse_mapping_file(ws))
        tables = warehouse.connect_warehouse(url, mapping)
        try:
            yield warehouse.MappedBackend(tables)
        finally:
            with suppress(Exception):
                tables.backend.disconnect()
        return
    path = events_file(ws)
    if path.exists():
        store.follow_customers(ws)
        with store.reader(path) as con:
            if _has_event_tables(con):
                yield ibis.duckdb.from_connection(con)
                return
    empty = duckdb.connect()
    try:
        empty.execute(store.SCHEMA)
        yield ibis.duckdb.from_connection(empty)
    finally:
        empty.close()


@dataclass(frozen=True)
class EventSummary:
    events: int
    people: int
    last_event: dt.datetime | None
    last_event_time: dt.datetime | None = None

    @property
    def version(self) -> tuple[int, str]:
        """Changes whenever events arrive: a cache key for computed insights."""
        return self.events, str(self.last_event)


def event_summary(ws: Workspace) -> EventSummary:
    """How many events and people the store holds, when the newest event arrived
    (`last_event`) and the time of the latest event (`last_event_time`)."""
    path = events_file(ws)
    if not path.exists():
        return EventSummary(0, 0, None)
    with store.reader(path) as con:
        if not _has_event_tables(con):
            return EventSummary(0, 0, None)
        row = con.execute("SELECT count(*), max(received_at), max(ts) FROM events").fetchone()
        events, last, last_ts = row if row else (0, None, None)
        people = con.execute("SELECT count(*) FROM persons").fetchone()
    return EventSummary(int(events), int(people[0]) if people else 0, last, last_ts)


def default_end(ws: Workspace, today: dt.date | None = None) -> dt.date:
    """The last day an analysis covers when none is given, for pages and API alike: the day
    of the newest event, or today when events are up to date (never a future day)."""
    today = today or utcnow().date()
    last = event_summary(ws).last_event_time
    return min(today, last.date()) if last is not None else today


def range_versions(
    ws: Workspace, ranges: Sequence[tuple[dt.datetime | None, dt.datetime | None]]
) -> list[str]:
    """For each [lo, hi) range of event time (None: open), a version of the events in it: it
    changes when an event in that range arrives, and only then. One scan for all ranges."""
    path = events_file(ws)
    if not ranges:
        return []
    if not path.exists():
        return ["empty"] * len(ranges)
    parts: list[str] = []
    params: list[Any] = []
    for lo, hi in ranges:
        conditions = []
        if lo is not None:
            conditions.append("ts >= ?")
            params.append(lo)
        if hi is not None:
            conditions.append("ts < ?")
            params.append(hi)
        where = " AND ".join(conditions) or "true"
        parts.append(f"count(*) FILTER (WHERE {where})")
        params_copy = list(params[len(params) - len(conditions) :])
        parts.append(f"max(received_at) FILTER (WHERE {where})")
        params += params_copy
    with store.reader(path) as con:
        if not _has_event_tables(con):
            return ["empty"] * len(ranges)
        row = con.execute(f"SELECT {', '.join(parts)} FROM events", params).fetchone()
    values = list(row or [])
    return [f"{values[2 * i]}@{values[2 * i + 1]}" for i in range(len(ranges))]


# --- the events seen, for "did you mean" ----------------------------------------------------

_NAMES_CACHE: dict[Path, tuple[tuple[int, str], dict[str, int]]] = {}
_NAMES_LOCK = threading.Lock()


def event_names(ws: Workspace) -> dict[str, int]:
    """Every event name the store holds, with how many events have it (most sent first);
    kept until new events arrive."""
    path = events_file(ws).resolve()
    summary = event_summary(ws)
    with _NAMES_LOCK:
        hit = _NAMES_CACHE.get(path)
        if hit is not None and hit[0] == summary.version:
            return hit[1]
    names: dict[str, int] = {}
    if summary.events:
        with store.reader(path) as con:
            rows = con.execute(
                "SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC, event"
            ).fetchall()
        names = {str(name): int(n) for name, n in rows}
    with _NAMES_LOCK:
        _NAMES_CACHE[path] = (summary.version, names)
    return names


class UnknownEvent(InvalidInput):
    """An analysis names an event the store has never seen (a typo, usually)."""


def unknown_event_message(name: str, seen: dict[str, int]) -> str:
    """`no event named 'Sign Up' — did you mean 'Signed Up'?`"""
    by_lower = {s.lower(): s for s in seen}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    hint = ""
    if close:
        hint = " — did you mean " + " or ".join(f"'{by_lower[c]}'" for c in close) + "?"
    elif seen:
        top = ", ".join(f"'{s}'" for s in list(seen)[:5])
        hint = f" (the most sent are {top})"
    return f"no event named '{name}'{hint}"


def check_events_seen(ws: Workspace, names: list[str], what: str = "event") -> None:
    """Refuse event names the store has never seen, with a suggestion; nothing is refused
    while the store is empty (nothing to compare with) or when the analysis runs on a
    warehouse (its names are not read here)."""
    if section(ws).warehouse_url:
        return
    seen = event_names(ws)
    if not seen:
        return
    for name in names:
        if name and name != "*" and name not in seen:
            message = unknown_event_message(name, seen)
            raise UnknownEvent(message if what == "event" else f"{what}: {message}")
