"""A workspace: the folder with `productops.toml`, the SQLite app database, the DuckDB event
store and `metrics.yml`. `init_workspace` makes one, `open_workspace` opens it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from productops.core.db import make_engine, migrate, session_factory
from productops.core.errors import WorkspaceError
from productops.core.settings import SETTINGS_FILE, Settings, load_settings, new_secret_key

METRICS_FILE = "metrics.yml"
METRICS_STARTER = """\
# The metric catalog: one shared definition of each metric, reviewable in git.
# Each metric names its event, how to aggregate it, and optional filters and dimensions.
metrics: []
"""


@dataclass
class Workspace:
    """An open workspace: settings, the app database engine and a session factory."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.settings.workspace

    def close(self) -> None:
        self.engine.dispose()


def init_workspace(
    directory: Path, name: str = "productops", secret_key: str | None = None, **settings: Any
) -> Workspace:
    """Create (or complete) a workspace folder and bring its databases up to date.

    Running it again on an existing workspace keeps the settings and data already there.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    toml_path = directory / SETTINGS_FILE
    if not toml_path.exists():
        content: dict[str, Any] = {"name": name, "secret_key": secret_key or new_secret_key()}
        content.update({k: v for k, v in settings.items() if v is not None})
        toml_path.write_text(
            "# productops workspace settings; PRODUCTOPS_* environment variables override.\n"
            + tomli_w.dumps(content)
        )
        toml_path.chmod(0o600)
    metrics = directory / METRICS_FILE
    if not metrics.exists():
        metrics.write_text(METRICS_STARTER)
    ws = open_workspace(directory, run_migrations=True)
    init_event_store(ws.settings)
    return ws


def init_event_store(settings: Settings) -> None:
    """Create the DuckDB event file with its metadata table."""
    import duckdb

    with duckdb.connect(str(settings.events_file)) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS productops_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
        )
        con.execute(
            "INSERT INTO productops_meta VALUES ('schema_version', '1') ON CONFLICT DO NOTHING"
        )


def open_workspace(directory: Path, run_migrations: bool = True, **overrides: Any) -> Workspace:
    """Open an existing workspace, upgrading its app database schema when asked."""
    directory = directory.resolve()
    if not directory.is_dir():
        raise WorkspaceError(f"{directory} is not a workspace folder: run `productops init` first")
    settings = load_settings(directory, **overrides)
    engine = make_engine(settings.app_database_url)
    if run_migrations:
        migrate(engine)
    return Workspace(settings=settings, engine=engine, sessions=session_factory(engine))
