"""The tables an analysis reads: `events_resolved`, `persons` and `accounts` of any Ibis
backend (the event store, a PySpark session), or a warehouse's own tables mapped onto those
names (`warehouse.connect_warehouse`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import ibis.expr.types as ir
from ibis.backends import BaseBackend

from productops.core.errors import InvalidInput


@dataclass(frozen=True)
class EventTables:
    """The tables an analysis reads, as Ibis expressions named and shaped like the store's."""

    backend: BaseBackend
    events: ir.Table
    persons: ir.Table | None = None
    accounts: ir.Table | None = None
    # The event store's `person_keys` (person_id → the integer `events.person_key`).
    keys: ir.Table | None = None

    @property
    def keyed(self) -> bool:
        """The events carry the store's integer `person_key` (and its table is here)."""
        return self.keys is not None and "person_key" in self.events.columns

    @property
    def dialect(self) -> str:
        return str(self.backend.name)


Source: TypeAlias = "BaseBackend | EventTables"


def event_tables(source: Source) -> EventTables:
    """The store's tables on `source` (`events_resolved`, and `persons`/`accounts` if present)."""
    if isinstance(source, EventTables):
        return source
    try:
        events = source.table("events_resolved")
    except Exception as exc:
        raise InvalidInput(
            f"the {source.name} connection has no table or view 'events_resolved' "
            "(map an existing events table with warehouse.connect_warehouse)"
        ) from exc
    return EventTables(
        source,
        events,
        _optional_table(source, "persons"),
        _optional_table(source, "accounts"),
        _optional_table(source, "person_keys"),
    )


def person_key(tables: EventTables, rows: ir.Table) -> ir.Value:
    """What people are counted and grouped by in `rows` (events of `tables`): the store's
    integer `person_key` when it has one (`keys` turns it back into a `person_id`), else the
    text `person_id`."""
    return rows.person_key if tables.keyed else rows.person_id


def with_person_ids(tables: EventTables, rows: ir.Table, key: str = "person_id") -> ir.Table:
    """`rows` whose column `key` holds what `person_key` gave, with it turned into the
    `person_id` text (the same table when people are grouped by `person_id` already)."""
    if not tables.keyed or tables.keys is None:
        return rows
    k = tables.keys.select(_k=tables.keys.person_key, _pid=tables.keys.person_id)
    j = rows.join(k, rows[key] == k._k)
    return j.mutate(**{key: j._pid}).drop("_k", "_pid")


def _optional_table(backend: BaseBackend, name: str) -> ir.Table | None:
    try:
        return backend.table(name)
    except Exception:
        return None
