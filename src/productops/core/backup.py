"""Backup and restore of a whole workspace.

The archive holds the settings and catalog files, every app-database table as JSON lines
(database-neutral, so a SQLite workspace can be restored onto PostgreSQL and back) with the
schema revision it was written at, and the DuckDB event store exported as Parquet.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from productops import __version__
from productops.core.db import (
    Base,
    UTCDateTime,
    current_revision,
    make_engine,
    migrate,
)
from productops.core.errors import BackupError
from productops.core.settings import SETTINGS_FILE
from productops.core.workspace import Workspace, open_workspace

FORMAT = 1
WORKSPACE_FILES = (SETTINGS_FILE, "*.yml", "*.yaml")


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def backup_workspace(workspace: Workspace, out: Path) -> dict[str, Any]:
    """Write the workspace to `out` (a .tar.gz); returns the manifest."""
    import productops.models  # noqa: F401

    out = out.resolve()
    if out.is_relative_to(workspace.path):
        raise BackupError(f"write the backup outside the workspace, not to {out}")
    with tempfile.TemporaryDirectory(prefix="productops-backup-") as tmp:
        root = Path(tmp) / "backup"
        (root / "files").mkdir(parents=True)
        (root / "app").mkdir()
        for pattern in WORKSPACE_FILES:
            for f in workspace.path.glob(pattern):
                if f.is_file():
                    shutil.copy2(f, root / "files" / f.name)
        tables: dict[str, int] = {}
        # One read transaction, so every table is copied at the same moment.
        with workspace.engine.connect() as conn, conn.begin():
            for table in Base.metadata.sorted_tables:
                n = 0
                with (root / "app" / f"{table.name}.jsonl").open("w") as fh:
                    for row in conn.execute(select(table)).mappings():
                        fh.write(json.dumps({k: _encode(v) for k, v in row.items()}) + "\n")
                        n += 1
                tables[table.name] = n
        events = workspace.settings.events_file
        if events.exists():
            import duckdb

            with duckdb.connect(str(events), read_only=True) as con:
                con.execute(f"EXPORT DATABASE '{root / 'events'}' (FORMAT parquet)")
        manifest = {
            "format": FORMAT,
            "productops_version": __version__,
            "schema_revision": current_revision(workspace.engine),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "database": workspace.engine.dialect.name,
            "tables": tables,
            "events": events.exists(),
        }
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(root, arcname="productops-backup")
        partial.chmod(0o600)
        partial.replace(out)
    return manifest


def _safe_extract(archive: Path, dest: Path) -> Path:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a productops backup: {exc}") from exc
    root = dest / "productops-backup"
    if not (root / "manifest.json").is_file():
        raise BackupError(f"{archive} has no manifest.json: not a productops backup")
    return root


def _decode_row(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        column = table.columns.get(key)
        if column is None:
            raise BackupError(f"table {table.name} has no column '{key}' at this revision")
        if value is not None and isinstance(column.type, UTCDateTime):
            value = dt.datetime.fromisoformat(value)
        out[key] = value
    return out


def _load_tables(engine: Engine, root: Path) -> None:
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if count:
                raise BackupError(f"the target database already has rows in '{table.name}'")
        for table in Base.metadata.sorted_tables:
            path = root / "app" / f"{table.name}.jsonl"
            if not path.exists():
                continue
            batch: list[dict[str, Any]] = []
            with path.open() as fh:
                for line_no, line in enumerate(fh, 1):
                    try:
                        batch.append(_decode_row(table, json.loads(line)))
                    except (ValueError, TypeError) as exc:
                        raise BackupError(f"{path.name} line {line_no}: {exc}") from exc
                    if len(batch) >= 5000:
                        conn.execute(insert(table), batch)
                        batch.clear()
            if batch:
                conn.execute(insert(table), batch)
        if engine.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                if "id" in table.columns and table.columns["id"].autoincrement is not False:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )


def restore_workspace(
    archive: Path, directory: Path, database_url: str | None = None
) -> dict[str, Any]:
    """Recreate a workspace from `archive` in `directory` (which must be new or empty).

    With `database_url`, the app database goes there (it must be empty) and the restored
    settings point at it. Nothing is left half-written: on any error the folder is removed.
    """
    import productops.models  # noqa: F401

    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: restore into a new folder")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="productops-restore-") as tmp:
            root = _safe_extract(archive, Path(tmp))
            manifest: dict[str, Any] = json.loads((root / "manifest.json").read_text())
            if manifest.get("format") != FORMAT:
                raise BackupError(f"backup format {manifest.get('format')} is not supported")
            for f in (root / "files").iterdir():
                shutil.copy2(f, directory / f.name)
            overrides = {"database_url": database_url} if database_url else {}
            if database_url:
                _write_database_url(directory, database_url)
            ws = open_workspace(directory, run_migrations=False, **overrides)
            try:
                revision = manifest.get("schema_revision") or "head"
                migrate(ws.engine, revision)
                _load_tables(ws.engine, root)
                migrate(ws.engine, "head")
            finally:
                ws.close()
            if manifest.get("events"):
                import duckdb

                events_file = ws.settings.events_file
                events_file.unlink(missing_ok=True)
                with duckdb.connect(str(events_file)) as con:
                    con.execute(f"IMPORT DATABASE '{root / 'events'}'")
        return manifest
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            for child in directory.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def _write_database_url(directory: Path, url: str) -> None:
    import tomllib

    import tomli_w

    path = directory / SETTINGS_FILE
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    data["database_url"] = url
    path.write_text(tomli_w.dumps(data))
    path.chmod(0o600)


__all__ = ["backup_workspace", "make_engine", "restore_workspace"]
