"""Data & insights: event ingest that existing SDKs speak, the event store, the metric
catalog, analyses, dashboards, the tracking plan and the SQL console.

This is the pillar's public Python API; other pillars use only what `__all__` names. Inside,
the pillar is cut into rooms, each a folder with the house's file names: `store/` (schema,
writer, identities, the customers mirror), `ingest/` (Segment, PostHog, bulk import),
`tracking/` (the tracking plan), `query/` (event source, who is active, dimensions, grains),
`catalog/` (metrics.yml and catalog metrics), `analyses/`, `dashboards/` and `sql/`.

    from productops import analytics

    with analytics.event_source(ws) as con:
        weekly = analytics.retention(con, start, end, grain="week")
    analytics.query_metric(ws, "activation", grain="month").frame
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.analytics.analyses.service import (
        Insight,
        active_users,
        adoption,
        funnel,
        lifecycle,
        retention,
        stickiness,
    )
    from productops.analytics.catalog.metrics import (
        MetricResult,
        metric_per_unit,
        metric_unit_kind,
        query_metric,
    )
    from productops.analytics.catalog.service import Catalog, activity_filter, load_catalog
    from productops.analytics.ingest.bulk import ImportResult, import_events
    from productops.analytics.ingest.service import IngestResult, ingest_posthog, ingest_segment
    from productops.analytics.query import ActivityFilter, Dimension, EventSummary
    from productops.analytics.query.dimensions import property_text
    from productops.analytics.query.source import event_source, event_summary
    from productops.analytics.settings import events_file
    from productops.analytics.sql.service import SqlResult, run_sql
    from productops.analytics.store import ARROW_SCHEMA, append_arrow, bulk
    from productops.analytics.store.erase import ErasedEvents, erase_person_events, person_events

_NAMES = {
    "ARROW_SCHEMA": ".store",
    "ActivityFilter": ".query",
    "Catalog": ".catalog.service",
    "Dimension": ".query",
    "ErasedEvents": ".store.erase",
    "EventSummary": ".query",
    "ImportResult": ".ingest.bulk",
    "IngestResult": ".ingest.service",
    "Insight": ".analyses.service",
    "MetricResult": ".catalog.metrics",
    "SqlResult": ".sql.service",
    "active_users": ".analyses.service",
    "activity_filter": ".catalog.service",
    "adoption": ".analyses.service",
    "append_arrow": ".store",
    "bulk": ".store",
    "event_source": ".query.source",
    "event_summary": ".query.source",
    "erase_person_events": ".store.erase",
    "events_file": ".settings",
    "funnel": ".analyses.service",
    "import_events": ".ingest.bulk",
    "ingest_posthog": ".ingest.service",
    "ingest_segment": ".ingest.service",
    "lifecycle": ".analyses.service",
    "metric_per_unit": ".catalog.metrics",
    "metric_unit_kind": ".catalog.metrics",
    "person_events": ".store.erase",
    "property_text": ".query",
    "load_catalog": ".catalog.service",
    "query_metric": ".catalog.metrics",
    "retention": ".analyses.service",
    "run_sql": ".sql.service",
    "stickiness": ".analyses.service",
}
__all__ = [
    "ARROW_SCHEMA",
    "ActivityFilter",
    "Catalog",
    "Dimension",
    "ErasedEvents",
    "EventSummary",
    "ImportResult",
    "IngestResult",
    "Insight",
    "MetricResult",
    "SqlResult",
    "active_users",
    "activity_filter",
    "adoption",
    "append_arrow",
    "bulk",
    "erase_person_events",
    "event_source",
    "event_summary",
    "events_file",
    "funnel",
    "import_events",
    "ingest_posthog",
    "ingest_segment",
    "lifecycle",
    "load_catalog",
    "metric_per_unit",
    "metric_unit_kind",
    "person_events",
    "property_text",
    "query_metric",
    "retention",
    "run_sql",
    "stickiness",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
