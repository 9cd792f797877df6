"""The `[research]` section of productops.toml: the governance rules of recruiting, and the
limits on imported transcripts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from productops.core.settings import PillarSection, Settings

if TYPE_CHECKING:
    from productops.core.workspace import Workspace


class Section(PillarSection):
    """[research]: how often participants may be contacted, and transcript limits."""

    invite_cooldown_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Days after an invitation during which the same participant is in cooldown "
        "(not invited again).",
    )
    participation_cooldown_days: int = Field(
        default=90,
        ge=0,
        le=3650,
        description="Days after taking part in a session during which a participant is in "
        "cooldown.",
    )
    max_invitations: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Most invitations one participant may get within `invitation_period_days` "
        "(a rolling window).",
    )
    invitation_period_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="The rolling window of `max_invitations`, in days.",
    )
    invitation_from: str = Field(
        default="",
        description="The From address of invitations (empty: the feedback hub's smtp_from). "
        "Invitations are sent through the SMTP server of [feedback] smtp_host, vetted by the "
        "outbound guard.",
    )
    max_transcript_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=512 * 1024 * 1024,
        description="Largest transcript or document that can be imported, in bytes.",
    )
    max_docx_unpacked_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1024,
        le=2 * 1024 * 1024 * 1024,
        description="Largest total size a Word file may unpack to (refuses zip bombs).",
    )


def section(ws: Workspace | Settings) -> Section:
    """The workspace's `[research]` settings."""
    settings = ws if isinstance(ws, Settings) else ws.settings
    return settings.section("research", Section)
