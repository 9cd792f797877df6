"""The words every room of the pillar shares: status categories and health."""

from __future__ import annotations

# Status categories (Jira's keys) plus `canceled` (Linear's canceled and duplicate issues):
# closed like `done`, but out of scope for progress, as Linear counts it.
CATEGORIES = ("new", "indeterminate", "done", "canceled")
CLOSED = frozenset({"done", "canceled"})
HEALTHS = ("on_track", "at_risk", "off_track")
HEALTH_TEXT = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}
