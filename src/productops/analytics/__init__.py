"""Data & insights: event ingest, the event store, the metric catalog, analyses, dashboards and
the tracking plan."""
