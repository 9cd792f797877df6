"""The `[feedback]` section of productops.toml: processing, themes and closing the loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from productops.core.settings import PillarSection, Settings

if TYPE_CHECKING:
    from productops.core.workspace import Workspace


class Section(PillarSection):
    """[feedback]: how feedback is processed, themed and answered."""

    redact_pii: bool = Field(
        default=False,
        description="Replace email addresses, phone numbers, card numbers and IBANs in "
        "feedback text with placeholders when it is imported (the text as received is not "
        "kept either).",
    )
    embedding_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="CPU threads the offline embedding model may use (one leaves a core to "
        "the web server on a small machine).",
    )
    duplicate_similarity: float = Field(
        default=0.93,
        gt=0,
        le=1,
        description="Cosine similarity from which two items of the same person or account "
        "are near-duplicates (any two items from 0.98: copy-paste).",
    )
    theme_min_size: int = Field(
        default=5,
        ge=2,
        description="Fewest items a discovered theme needs; smaller groups stay unassigned.",
    )
    tag_suggestion_confidence: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="Auto-tagging suggests a tag only from this confidence on.",
    )
    smtp_host: str = Field(
        default="",
        description="SMTP server that tells people their request shipped (empty: no email; "
        "the list of whom to tell is exported instead). It is vetted like any outbound "
        "address (see outbound_allow_private).",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS (port 587)."
    )
    smtp_username: str = Field(default="", description="SMTP user name (empty: no login).")
    smtp_password: str = Field(default="", description="SMTP password.")
    smtp_from: str = Field(
        default="",
        description="The From address of close-the-loop emails.",
    )


def section(ws: Workspace | Settings) -> Section:
    """The workspace's `[feedback]` settings."""
    settings = ws if isinstance(ws, Settings) else ws.settings
    return settings.section("feedback", Section)
