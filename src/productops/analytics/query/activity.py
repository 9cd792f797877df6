"""Who counts as active: one definition for every analysis, metric and page.

`EXCLUDED_FROM_ACTIVE` are the identity bookkeeping events (identify, alias, group calls and
PostHog's `$set`): a person who only sends these has done nothing in the product. The metric
catalog's `active_user` block starts from these defaults and may change them per workspace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from productops.analytics.store import EXCLUDED_FROM_ACTIVE as EXCLUDED_FROM_ACTIVE
from productops.analytics.store import EXCLUDED_TYPES as EXCLUDED_TYPES
from productops.core.errors import InvalidInput

ANY_EVENT = "*"
"""As a start or return event: any event that counts as activity."""


@dataclass(frozen=True)
class ActivityFilter:
    """Which events make a person *active*: the listed ones, or (None) any event except the
    identity bookkeeping ones: events named in `exclude` or of a type in `exclude_types`."""

    events: list[str] | None = None
    exclude: list[str] = field(default_factory=lambda: list(EXCLUDED_FROM_ACTIVE))
    exclude_types: list[str] = field(default_factory=lambda: list(EXCLUDED_TYPES))


def check_event_name(name: str, what: str) -> str:
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise InvalidInput(f"{what} {name!r}: name an event (1 to 200 printable characters)")
    return name


def is_default(activity: ActivityFilter | None) -> bool:
    """The activity rule is the default one, which the event store decides at ingest."""
    return activity is None or activity == ActivityFilter()


def activity_predicate(events: ir.Table, activity: ActivityFilter | None) -> ir.BooleanValue:
    """True for the events that count as activity: the store's `active` flag under the
    default rule, the events' names and types under any other (or on a warehouse)."""
    if is_default(activity) and "active" in events.columns:
        return events.active
    activity = activity or ActivityFilter()
    if activity.events is not None:
        if not activity.events:
            raise InvalidInput("the activity definition lists no events")
        for name in activity.events:
            check_event_name(name, "activity event")
        return events.event.isin(list(activity.events))
    keep: ir.BooleanValue = ibis.literal(True)
    if activity.exclude:
        keep = keep & ~events.event.isin(list(activity.exclude))
    if activity.exclude_types and "type" in events.columns:
        keep = keep & ~events.type.isin(list(activity.exclude_types))
    return keep
