"""Feedback hub: every channel (support tickets, conversations, surveys, app reviews, sales
calls, the API) in one place, linked to the customers' accounts and people, cleaned and
scored offline, deduplicated, themed, and tied to feature requests that close the loop.

This is the pillar's public Python API; other pillars use only what `__all__` names.
"""

from __future__ import annotations

__all__: list[str] = []
