"""Permissions the customers pillar adds to the house."""

from __future__ import annotations

from productops.core.auth import PermissionSpec

PEOPLE_PII = "people.pii"

PERMISSIONS = {
    PEOPLE_PII: PermissionSpec(
        "See people's email addresses and other contact details (researchers recruit with "
        "them; everyone else sees names only).",
        roles=("researcher",),
    ),
}
