"""Permissions the experiments pillar adds to the house."""

from __future__ import annotations

from productops.core.auth import PermissionSpec

SDK_KEYS = "experiments.sdk"

PERMISSIONS = {
    SDK_KEYS: PermissionSpec(
        "Create and revoke SDK client keys (each reads the flags of one environment); "
        "admins only, like API keys.",
    ),
}
