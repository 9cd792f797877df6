"""Saved insights and annotations: an explorer's question kept under a title (with its own
URL, shareable inside the workspace, placeable on dashboards), and dated notes drawn on every
chart whose time range holds them. This room only stores them; the dashboards room computes
a saved insight, the SQL room saves its queries here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.analytics.saved.models import Annotation, SavedInsight
    from productops.analytics.saved.service import (
        INSIGHT_KINDS,
        add_annotation,
        delete_annotation,
        delete_insight,
        get_insight,
        list_annotations,
        list_insights,
        save_insight,
    )

_NAMES = {
    "Annotation": ".models",
    "SavedInsight": ".models",
    "INSIGHT_KINDS": ".service",
    "add_annotation": ".service",
    "delete_annotation": ".service",
    "delete_insight": ".service",
    "get_insight": ".service",
    "list_annotations": ".service",
    "list_insights": ".service",
    "save_insight": ".service",
}
__all__ = [
    "INSIGHT_KINDS",
    "Annotation",
    "SavedInsight",
    "add_annotation",
    "delete_annotation",
    "delete_insight",
    "get_insight",
    "list_annotations",
    "list_insights",
    "save_insight",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
