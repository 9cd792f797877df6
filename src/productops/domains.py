"""The one list of pillars. A pillar is a package under `productops` and one line here; the
house finds everything else it brings by module name (see `core/pillars.py` and
docs/architecture.md, "Adding a pillar").

Order matters only where a pillar builds on another: a pillar comes after the pillars it
uses (navigation, home cards and demo steps keep this order unless they say otherwise).
"""

from __future__ import annotations

DOMAINS: tuple[str, ...] = (
    "productops.customers",
    "productops.analytics",
    "productops.feedback",
    "productops.research",
    "productops.portfolio",
    "productops.experiments",
)
