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
    import_memory_limit: str = Field(
        default="1GB",
        pattern=r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$",
        description="Memory the event store may use while a file is imported (DuckDB's "
        "`memory_limit`, e.g. 1GB); beyond it the import spills to a temporary folder next "
        "to the store, so a file of any size imports in bounded memory.",
    )
    sql_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Wall-clock limit of one SQL-console query, from its start to the last "
        "byte of its answer (running, fetching, turning it into JSON or CSV).",
    )
    sql_max_result_bytes: int = Field(
        default=32 * 2**20,
        gt=0,
        description="Largest answer of one SQL-console query, in bytes of JSON or CSV (the "
        "rows as fetched are held to it too); a larger one is refused.",
    )
    sql_max_memory_bytes: int = Field(
        default=2**30,
        gt=0,
        description="How much the process's memory may grow while a SQL-console query runs "
        "(table data the event store caches not counted); beyond it the query is stopped.",
    )
    sql_max_concurrent_per_caller: int = Field(
        default=4,
        ge=1,
        description="SQL-console queries one API key or person may have at once (running or "
        "waiting for their turn); one more is answered 429 with Retry-After.",
    )
    sql_max_concurrent: int = Field(
        default=8,
        ge=1,
        description="SQL-console queries the process takes at once, all callers together "
        "(running or waiting for their turn); one more is answered 429 with Retry-After.",
    )
    sql_max_running: int = Field(
        default=1,
        ge=1,
        description="SQL-console queries that run at the same moment; the others wait for "
        "their turn (within their timeout), so ingest and pages keep the rest of the machine.",
    )
    sql_low_priority: bool = Field(
        default=True,
        description="In the serving process, run SQL-console queries after ingest and pages: "
        "on one DuckDB thread while they run (the event store's helper threads would run them "
        "at full priority) and, on Linux, on a thread of the lowest CPU priority.",
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
