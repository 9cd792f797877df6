"""Feedback hub: every channel (support tickets, conversations, surveys, app reviews, sales
calls, the API) in one place, linked to the customers' accounts and people, cleaned and
scored offline, deduplicated, themed, and tied to feature requests that close the loop.

This is the pillar's public Python API; other pillars use only what `__all__` names (the
research pillar searches beside feedback with this engine, shares its tags, attaches
insights to its requests and erases people from it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.feedback.items.filters import Filters
    from productops.feedback.items.people import erase_person
    from productops.feedback.items.service import authors, list_items
    from productops.feedback.models import FeatureRequest, FeedbackItem, Tag
    from productops.feedback.processing.embeddings import DIMENSIONS, MODEL_ID, embed
    from productops.feedback.requests.notify import open_smtp, smtp_sender
    from productops.feedback.requests.service import get_request, list_requests
    from productops.feedback.schemas import TagCreate
    from productops.feedback.search.service import Hit, SearchResult, search_feedback
    from productops.feedback.themes.tags import check_tag_name, create_tag, get_tag, list_tags

_NAMES = {
    "DIMENSIONS": ".processing.embeddings",
    "FeatureRequest": ".models",
    "FeedbackItem": ".models",
    "Filters": ".items.filters",
    "Hit": ".search.service",
    "MODEL_ID": ".processing.embeddings",
    "SearchResult": ".search.service",
    "Tag": ".models",
    "TagCreate": ".schemas",
    "authors": ".items.service",
    "check_tag_name": ".themes.tags",
    "create_tag": ".themes.tags",
    "embed": ".processing.embeddings",
    "erase_person": ".items.people",
    "get_request": ".requests.service",
    "get_tag": ".themes.tags",
    "list_items": ".items.service",
    "list_requests": ".requests.service",
    "list_tags": ".themes.tags",
    "open_smtp": ".requests.notify",
    "search_feedback": ".search.service",
    "smtp_sender": ".requests.notify",
}
__all__ = [
    "DIMENSIONS",
    "MODEL_ID",
    "FeatureRequest",
    "FeedbackItem",
    "Filters",
    "Hit",
    "SearchResult",
    "Tag",
    "TagCreate",
    "authors",
    "check_tag_name",
    "create_tag",
    "embed",
    "erase_person",
    "get_request",
    "get_tag",
    "list_items",
    "list_requests",
    "list_tags",
    "open_smtp",
    "search_feedback",
    "smtp_sender",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
