"""The `[analytics]` section of productops.toml: where the events are kept and where the
analyses run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from productops.core.settings import PillarSection, Settings

if TYPE_CHECKING:
    from productops.core.workspace import Workspace


class Section(PillarSection):
    """[analytics]: the event store and where the analyses run."""

    events_path: str = Field(
        default="events.duckdb",
        description="The DuckDB event store, relative to the workspace.",
    )
    warehouse_url: str = Field(
        default="",
        description="Run analyses and metrics on this Ibis backend URL (postgres://…, "
        "clickhouse://…, bigquery://…, duckdb:///file) instead of the embedded event store.",
    )
    warehouse_mapping: str = Field(
        default="warehouse.yml",
        description="YAML file (relative to the workspace) mapping the warehouse's tables "
        "and columns; see docs/scale.md.",
    )


def _settings(ws: Workspace | Settings) -> Settings:
    return ws if isinstance(ws, Settings) else ws.settings


def section(ws: Workspace | Settings) -> Section:
    """The workspace's `[analytics]` settings."""
    return _settings(ws).section("analytics", Section)


def events_file(ws: Workspace | Settings) -> Path:
    """The workspace's DuckDB event store."""
    return _settings(ws).path(section(ws).events_path)


def warehouse_mapping_file(ws: Workspace) -> Path:
    return ws.settings.path(section(ws).warehouse_mapping)
