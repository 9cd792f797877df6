"""The query layer under every insight: where the events are read from, who counts as active,
dimensions, time grains and the tables an analysis reads."""

from __future__ import annotations

from productops.analytics.query.activity import (
    ANY_EVENT,
    EXCLUDED_FROM_ACTIVE,
    EXCLUDED_TYPES,
    ActivityFilter,
    activity_predicate,
    check_event_name,
)
from productops.analytics.query.dimensions import (
    NONE_LABEL,
    Dimension,
    attribute,
    check_property_name,
    property_number,
    property_text,
    resolve,
)
from productops.analytics.query.grains import (
    GRAINS,
    Grain,
    check_grain,
    period_end,
    period_index,
    period_number,
    period_of,
    period_start,
    periods,
    truncate,
)
from productops.analytics.query.source import EventSummary, event_source, event_summary
from productops.analytics.query.tables import EventTables, Source, event_tables

__all__ = [
    "ANY_EVENT",
    "EXCLUDED_FROM_ACTIVE",
    "EXCLUDED_TYPES",
    "GRAINS",
    "NONE_LABEL",
    "ActivityFilter",
    "Dimension",
    "EventSummary",
    "EventTables",
    "Grain",
    "Source",
    "activity_predicate",
    "attribute",
    "check_event_name",
    "check_grain",
    "check_property_name",
    "event_source",
    "event_summary",
    "event_tables",
    "period_end",
    "period_index",
    "period_number",
    "period_of",
    "period_start",
    "periods",
    "property_number",
    "property_text",
    "resolve",
    "truncate",
]
