"""A workspace: the folder with `productops.toml`, the SQLite app database and what each
pillar keeps there (the event store, `metrics.yml`, …). `init_workspace` makes one,
`open_workspace` opens it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from productops.core import pillars
from productops.core.db import make_engine, migrate, session_factory
from productops.core.errors import WorkspaceError
from productops.core.secrets import SECRETS_FILE
from productops.core.settings import SETTINGS_FILE, Settings, load_settings, new_secret_key

# The house's own folder inside a workspace: uploads, caches, the running server's address.
HOUSE_DIR = ".productops"


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

    @property
    def house_dir(self) -> Path:
        """`<workspace>/.productops`, created on first use, readable by the owner only."""
        folder = self.path / HOUSE_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def close(self) -> None:
        self.engine.dispose()


def init_workspace(
    directory: Path, name: str = "productops", secret_key: str | None = None, **settings: Any
) -> Workspace:
    """Create (or complete) a workspace folder and bring its databases up to date.

    `settings` are written to productops.toml: house settings by name, a pillar's section as
    a dict (`analytics={"warehouse_url": …}`). Running it again on an existing workspace keeps
    the settings and data already there.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    toml_path = directory / SETTINGS_FILE
    with private_files():  # every file is the owner's from its first byte
        if not toml_path.exists():
            content: dict[str, Any] = {"name": name, "secret_key": secret_key or new_secret_key()}
            content.update({k: v for k, v in settings.items() if v is not None})
            write_private(
                toml_path,
                "# productops workspace settings; PRODUCTOPS_* environment variables override.\n"
                + tomli_w.dumps(content),
            )
        ws = open_workspace(directory, run_migrations=True)
        for _, storage in pillars.parts("storage"):
            init = getattr(storage, "init", None)
            if init is not None:
                init(ws)
        protect_files(ws)
    return ws


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


def write_private(path: Path, text: str) -> None:
    """Write a file that only its owner may read (settings, keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)


def private_paths(ws: Workspace) -> list[Path]:
    """The workspace files that hold data: the app database (with its WAL files) and each
    pillar's stores."""
    paths = [ws.path / SETTINGS_FILE, ws.path / SECRETS_FILE]
    if not ws.settings.database_url:
        db = ws.settings.sqlite_path
        paths += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    for _, storage in pillars.parts("storage"):
        extra = getattr(storage, "private_paths", None)
        if extra is not None:
            paths += list(extra(ws))
    return paths


def protect_files(ws: Workspace) -> None:
    """Make the workspace's data files readable by their owner only (0600), and the house's
    folder (`.productops/`) the owner's only (0700)."""
    for path in private_paths(ws):
        if path.exists():
            path.chmod(0o600)
    folder = ws.path / HOUSE_DIR
    if folder.is_dir():
        folder.chmod(0o700)


PRIVATE_UMASK = 0o077


@contextmanager
def private_files() -> Iterator[None]:
    """Within the block, files and folders this process creates are its owner's only: SQLite's
    `-wal`/`-shm`, DuckDB's `.wal`, a store created on first use. The umask is per process,
    so `serve` holds it for its whole run."""
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)  # never looser than it was
    try:
        yield
    finally:
        os.umask(previous)
