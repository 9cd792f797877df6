"""The analytics pillar's app-database tables (the events themselves live in DuckDB)."""

from __future__ import annotations

from productops.analytics.cohorts.models import Cohort, CohortMember
from productops.analytics.dashboards.models import Dashboard
from productops.analytics.saved.models import Annotation, SavedInsight

__all__ = ["Annotation", "Cohort", "CohortMember", "Dashboard", "SavedInsight"]
