"""Permissions the research pillar adds to the house.

Participants' personal data (names, contact details, who said what) is `people.pii` of the
customers pillar: researchers and admins. Everyone else sees pseudonyms.
"""

from __future__ import annotations

from productops.core.auth import PermissionSpec

RESEARCH_WRITE = "research.write"
RESEARCH_RECRUIT = "research.recruit"
RESEARCH_OVERRIDE = "research.override"
PEOPLE_ERASE = "people.erase"

PERMISSIONS = {
    RESEARCH_WRITE: PermissionSpec(
        "Create and change studies, sessions, notes, highlights and insights.",
        roles=("editor", "researcher"),
        scopes=("write",),
    ),
    RESEARCH_RECRUIT: PermissionSpec(
        "Manage participants (contact details, consent, contact history, incentives) and "
        "invite them to studies, within the governance rules.",
        roles=("researcher",),
    ),
    RESEARCH_OVERRIDE: PermissionSpec(
        "Contact a participant who is in cooldown, over the invitation limit or marked do not "
        "contact (each override is recorded in the audit log). Opted-out and blocklisted "
        "people can never be contacted.",
    ),
    PEOPLE_ERASE: PermissionSpec(
        "Erase a person everywhere (participants, notes, feedback, events, search indexes).",
    ),
}
