"""The `[experiments]` section of productops.toml."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from productops.core.settings import PillarSection, Settings

if TYPE_CHECKING:
    from productops.core.workspace import Workspace


class Section(PillarSection):
    """[experiments]: flags, SDKs and experiment analysis."""

    stale_flag_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="A flag that serves one value to everyone and has not changed for this "
        "many days is listed in the stale-flag report.",
    )
    srm_threshold: float = Field(
        default=0.001,
        gt=0,
        lt=0.5,
        description="Below this p-value of the sample-ratio check an experiment's results "
        "carry an SRM warning (assignment or tracking is broken).",
    )
    sdk_cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins browsers may read the GrowthBook features endpoint from "
        "(`/api/features/{client_key}`); client keys are public, so any by default.",
    )


def section(ws: Workspace | Settings) -> Section:
    settings = ws if isinstance(ws, Settings) else ws.settings
    return settings.section("experiments", Section)
