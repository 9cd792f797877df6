"""Permissions the portfolio pillar adds: credentials are for admins, mappings for editors."""

from __future__ import annotations

from productops.core.auth import PermissionSpec

CONNECT = "portfolio.connect"
MAP = "portfolio.map"

PERMISSIONS = {
    CONNECT: PermissionSpec(
        "Add, change or remove Jira and Linear connections and their credentials.",
        roles=(),
        scopes=(),
    ),
    MAP: PermissionSpec(
        "Change how imported work maps to initiatives, objectives and teams (rules and links "
        "made by hand).",
        roles=("editor",),
        scopes=("write",),
    ),
}
