"""Contact details at rest: encrypted with the workspace's key (`core.secrets`, Fernet), and
an email's keyed hash kept beside it so a participant can be found by address."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from productops.core import secrets as house_secrets
from productops.core.workspace import Workspace

# Letters and digits that cannot be mistaken for one another when read aloud or copied.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_pseudonym() -> str:
    """A random pseudonym such as `P-7KQ3MX`: stable for the participant, meaningless alone."""
    return "P-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))


def normal_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip().lower()


@dataclass(frozen=True)
class Vault:
    """Seals and opens a workspace's contact details."""

    ws: Workspace

    def seal(self, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return house_secrets.encrypt(self.ws, value.strip())

    def open(self, token: str | None) -> str | None:
        if not token:
            return None
        return house_secrets.decrypt(self.ws, token)

    def email_index(self, email: str | None) -> str | None:
        normal = normal_email(email)
        return house_secrets.keyed_hash(self.ws, normal) if normal else None
