"""Applying `Filters` to an analysis' tables: property conditions and cohorts (the one place
that needs both `filters` and `cohorts`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import ibis.expr.types as ir

from productops.analytics.query.cohorts import members
from productops.analytics.query.filters import Filters, condition, event_value, with_profile_values
from productops.analytics.query.tables import EventTables


def filtered(tables: EventTables, filters: Filters | None) -> EventTables:
    """`tables` whose events are only those passing `filters` (the same tables when there
    are none). Persons and accounts stay whole: they describe, the events count."""
    if filters is None or filters.empty:
        return tables
    ev = tables.events
    columns = list(ev.columns)
    rows = ev
    keep: list[ir.BooleanValue] = []
    profile = [f for f in filters.properties if f.dimension.scope != "event"]
    for f in filters.properties:
        if f.dimension.scope == "event":
            keep.append(condition(event_value(tables, rows, f.dimension), f))
    if profile:
        rows, names = with_profile_values(tables, rows, [f.dimension for f in profile], "_fv")
        keep += [condition(rows[n], f) for n, f in zip(names, profile, strict=True)]
    if keep:
        rows = rows.filter(*keep)
    if profile:
        rows = rows.select(*columns)
    if filters.cohorts or filters.not_cohorts:
        for cohort in filters.cohorts:
            m = members(tables, cohort)
            rows = rows.semi_join(m, rows.person_id == m.person_id)
        for cohort in filters.not_cohorts:
            m = members(tables, cohort)
            rows = rows.anti_join(m, rows.person_id == m.person_id)
    return replace(tables, events=rows)


class FilteredBackend:
    """An Ibis backend whose `events_resolved` keeps only the events that pass `filters`: a
    catalog metric compiled on it counts only those events, by its own definition otherwise.
    Everything else is the backend's."""

    def __init__(self, backend: Any, filters: Filters) -> None:
        from productops.analytics.query.tables import event_tables

        self._backend = backend
        self._events = filtered(event_tables(backend), filters).events

    def table(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "events_resolved":
            return self._events
        return self._backend.table(name, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)
