"""The analytics pillar's Python API for the rest of productops: the workspace's events as an
Ibis backend, the active-user definition, and a summary for the home page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import duckdb
import ibis
from ibis.backends import BaseBackend

from productops.analytics import store
from productops.analytics.analyses import ActivityFilter
from productops.core.workspace import Workspace


def activity_filter(ws: Workspace) -> ActivityFilter:
    """The catalog's one definition of an active user, as the analyses take it."""
    from productops.analytics.catalog import load_catalog

    au = load_catalog(ws).active_user
    return ActivityFilter(
        events=None if au.events == "any" else list(au.events),
        exclude=list(au.exclude_events),
        exclude_types=list(au.exclude_types),
    )


def _has_event_tables(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {"events_resolved", "persons", "accounts"} <= {r[0] for r in rows}


@contextmanager
def event_source(ws: Workspace) -> Iterator[BaseBackend]:
    """The workspace's events as an Ibis backend: the warehouse when `warehouse_url` is set,
    otherwise the embedded event store (an empty one before any event)."""
    if ws.settings.warehouse_url:
        from pathlib import Path

        from productops.analytics import warehouse

        mapping_path = Path(ws.settings.warehouse_mapping)
        if not mapping_path.is_absolute():
            mapping_path = ws.path / mapping_path
        mapping = warehouse.load_mapping_file(mapping_path)
        tables = warehouse.connect_warehouse(ws.settings.warehouse_url, mapping)
        try:
            yield warehouse.MappedBackend(tables)
        finally:
            with suppress(Exception):
                tables.backend.disconnect()
        return
    path = ws.settings.events_file
    if path.exists():
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
    path = ws.settings.events_file
    if not path.exists():
        return EventSummary(0, 0, None)
    with store.reader(path) as con:
        if not _has_event_tables(con):
            return EventSummary(0, 0, None)
        row = con.execute("SELECT count(*), max(received_at), max(ts) FROM events").fetchone()
        events, last, last_ts = row if row else (0, None, None)
        people = con.execute("SELECT count(*) FROM persons").fetchone()
    return EventSummary(int(events), int(people[0]) if people else 0, last, last_ts)
