"""Person and account profiles: who a person is and what they did (properties, cohorts, the
event timeline), and how an account uses the product (its people, activity over time, last
seen, features adopted, a usage-health score)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.analytics.profiles.service import (
        AccountProfile,
        PersonProfile,
        TimelinePage,
        account_profile,
        cached_account_profile,
        cached_person_profile,
        event_condition,
        health_score,
        is_contact_trait,
        person_events,
        person_profile,
    )

_NAMES = {
    "AccountProfile": ".service",
    "PersonProfile": ".service",
    "TimelinePage": ".service",
    "account_profile": ".service",
    "cached_account_profile": ".service",
    "cached_person_profile": ".service",
    "event_condition": ".service",
    "health_score": ".service",
    "is_contact_trait": ".service",
    "person_events": ".service",
    "person_profile": ".service",
}
__all__ = [
    "AccountProfile",
    "PersonProfile",
    "TimelinePage",
    "account_profile",
    "cached_account_profile",
    "cached_person_profile",
    "event_condition",
    "health_score",
    "is_contact_trait",
    "person_events",
    "person_profile",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
