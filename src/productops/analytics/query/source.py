"""Where the events are read from: the workspace's event store (or a warehouse) as an Ibis
backend, and a summary of what it holds (the data version caches key on)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import duckdb
import ibis
from ibis.backends import BaseBackend

from productops.analytics import store
from productops.analytics.settings import events_file, section, warehouse_mapping_file
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
