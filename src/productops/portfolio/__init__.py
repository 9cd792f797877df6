"""Roadmap & OKRs: objectives and key results, initiatives, epics and issues imported from
Jira and Linear, rolled up so leaders see what is built, by whom, toward which objective, and
whether it is on track.

This is the pillar's public Python API; other pillars use only what `__all__` names.
"""

from __future__ import annotations

__all__: list[str] = []
