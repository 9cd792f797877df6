"""Named errors, worded for the person who will read them."""

from __future__ import annotations


class ProductOpsError(Exception):
    """Base class for every error productops raises on purpose."""


class WorkspaceError(ProductOpsError):
    """The workspace folder is missing, incomplete or unreadable."""


class SettingsError(ProductOpsError):
    """A setting is missing, malformed or unsafe."""


class InvalidInput(ProductOpsError, ValueError):
    """A value given by the user is not acceptable (the message says which and why)."""


class NotFound(ProductOpsError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class Conflict(ProductOpsError):
    """The change clashes with what is already stored (a duplicate name, say)."""


class PermissionDenied(ProductOpsError):
    """The caller is known but not allowed to do this."""


class AuthenticationFailed(ProductOpsError):
    """The credentials are wrong, expired or missing."""


class TooLarge(ProductOpsError):
    """The request, or a file sent in it, is over a size limit (the message says which)."""


class RateLimited(ProductOpsError):
    """Too many attempts; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BlockedURL(ProductOpsError):
    """An outbound URL points somewhere productops refuses to go."""


class OutboundError(ProductOpsError):
    """An outbound request failed: timeout, too large, bad scheme, too many redirects."""


class BackupError(ProductOpsError):
    """A backup could not be written or restored."""
