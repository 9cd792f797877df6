"""Credentials kept at rest: encrypted with a key that lives in the workspace's private files.

Pillars store tokens for Jira, Linear, Slack webhooks… through `encrypt` / `decrypt`. The key
is `secrets.key` in the workspace folder (Fernet: AES-128-CBC with an HMAC-SHA256), made on
first use with the owner's permissions only (0600), listed among the workspace's private
files and copied by backups so a restored workspace can still read its credentials. The
database alone (a dump, a PostgreSQL replica) gives nothing away.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken

from productops.core.errors import SettingsError

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

SECRETS_FILE = "secrets.key"


def key_path(ws: Workspace) -> Path:
    """Where the workspace keeps its encryption key."""
    return ws.path / SECRETS_FILE


def _fernet(ws: Workspace, create: bool) -> Fernet:
    path = key_path(ws)
    if not path.exists():
        if not create:
            raise SettingsError(
                f"{path} is missing: the stored credentials cannot be read; connect again"
            )
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it a moment ago: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
    path.chmod(0o600)
    try:
        return Fernet(path.read_bytes().strip())
    except ValueError as exc:
        raise SettingsError(f"{path} does not hold a valid key ({exc})") from None


def encrypt(ws: Workspace, plaintext: str) -> str:
    """`plaintext` encrypted with the workspace's key (made on first use), as text."""
    return _fernet(ws, create=True).encrypt(plaintext.encode()).decode("ascii")


def decrypt(ws: Workspace, token: str) -> str:
    """The plaintext of `encrypt`'s result; SettingsError when the key does not open it (the
    key file was replaced, or the database came from another workspace)."""
    try:
        return _fernet(ws, create=False).decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise SettingsError(
            f"a stored credential cannot be decrypted with {key_path(ws)}: it was made with "
            "another key; connect again"
        ) from None


def keyed_hash(ws: Workspace, value: str) -> str:
    """A keyed hash (HMAC-SHA256, keyed from the workspace's key) of `value`, as hex: finds an
    encrypted value again (an email address, say) without decrypting every row, and means
    nothing without the key."""
    import hashlib
    import hmac

    _fernet(ws, create=True)  # the key exists from here on
    key = hashlib.sha256(b"productops keyed hash\x00" + key_path(ws).read_bytes().strip()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
