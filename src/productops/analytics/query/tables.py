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
        source, events, _optional_table(source, "persons"), _optional_table(source, "accounts")
    )


def _optional_table(backend: BaseBackend, name: str) -> ir.Table | None:
    try:
        return backend.table(name)
    except Exception:
        return None
