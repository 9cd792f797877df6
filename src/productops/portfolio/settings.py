"""The `[portfolio]` section of productops.toml: how syncs behave, and the thresholds of the
roll-ups, health and quality flags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from productops.core.settings import PillarSection, Settings

if TYPE_CHECKING:
    from productops.core.workspace import Workspace


class Section(PillarSection):
    """[portfolio]: syncs from Jira and Linear, roll-ups, health and quality flags."""

    page_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Issues asked for per page when syncing Jira or Linear.",
    )
    max_retries: int = Field(
        default=5,
        ge=0,
        le=20,
        description="Retries of one request after a 429, a 502/503/504 or a dropped connection.",
    )
    max_retry_wait_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Longest wait a sync accepts from a `Retry-After`; a longer one stops it.",
    )
    rollup: Literal["count", "points"] = Field(
        default="points",
        description="How epic progress is counted by default: `count` (issues done / issues) "
        "or `points` (story points done / story points); pages can choose the other.",
    )
    partial_credit: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of an in-progress issue's estimate counted as done in the `points` "
        "roll-up (Linear uses 0.25; Jira none).",
    )
    stale_epic_days: int = Field(
        default=30,
        ge=1,
        description="An open epic not updated in its source for this many days is flagged stale.",
    )
    thin_description_chars: int = Field(
        default=80,
        ge=0,
        description="An epic whose description is shorter than this is flagged thin.",
    )
    update_cycle_days: int = Field(
        default=7,
        ge=1,
        description="The update cycle: owners write an update, and key results get a value, "
        "at least this often (reminders and flags follow it).",
    )
    update_stale_days: int = Field(
        default=14,
        ge=1,
        description="Health from a written update older than this is shown as stale.",
    )


def section(ws: Workspace | Settings) -> Section:
    """The workspace's `[portfolio]` settings."""
    settings = ws if isinstance(ws, Settings) else ws.settings
    return settings.section("portfolio", Section)
