"""Backup and restore of a whole workspace.

The archive (`productops-backup/` inside a .tar.gz) holds:

- `manifest.json`: format, version, Alembic schema revision, database dialect, row counts;
- `files/`: productops.toml and the files each pillar keeps in the workspace (its
  `storage.FILES`), by name only;
- `app/<table>.jsonl`: every app-database table as JSON lines, read in one transaction
  (database-neutral, so a SQLite workspace can be restored onto PostgreSQL and back);
- `pillars/<name>/`: what each pillar's `storage.backup` wrote (the event store as Parquet).

Restore trusts nothing in the archive: members are extracted with tarfile's `data` filter
(no links out, no absolute paths, no devices), only known file names are copied, every data
path of the restored settings must lie inside the new workspace, and each pillar loads its
own part as data into the schema this version defines.
"""

from __future__ import annotations

import datetime as dt
import decimal
import fnmatch
import json
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Engine,
    LargeBinary,
    Numeric,
    Time,
    func,
    insert,
    select,
    text,
)

from productops import __version__
from productops.core import pillars
from productops.core.clock import utcnow
from productops.core.db import UTCDateTime, current_revision, load_models, migrate
from productops.core.errors import BackupError
from productops.core.secrets import SECRETS_FILE
from productops.core.settings import SETTINGS_FILE
from productops.core.workspace import (
    Workspace,
    open_workspace,
    private_paths,
    protect_files,
    write_private,
)

FORMAT = 2
ROOT = "productops-backup"
MAX_MANIFEST_BYTES = 1_000_000


def _encode(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):  # datetime too
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def workspace_file_patterns() -> list[str]:
    """The files of a workspace folder a backup copies as they are."""
    patterns = [SETTINGS_FILE, SECRETS_FILE]
    for _, storage in pillars.parts("storage"):
        patterns += list(getattr(storage, "FILES", ()))
    return patterns


def backup_workspace(workspace: Workspace, out: Path) -> dict[str, Any]:
    """Write the workspace to `out` (a .tar.gz); returns the manifest. Safe while the
    workspace is served: the app tables are read in one transaction and each pillar reads
    its own store in one snapshot."""
    metadata = load_models()
    out = out.resolve()
    if out.is_relative_to(workspace.path):
        raise BackupError(f"write the backup outside the workspace, not to {out}")
    with tempfile.TemporaryDirectory(prefix="productops-backup-") as tmp:
        root = Path(tmp) / ROOT
        (root / "files").mkdir(parents=True)
        (root / "app").mkdir()
        for pattern in workspace_file_patterns():
            for f in workspace.path.glob(pattern):
                if f.is_file() and not f.is_symlink():
                    shutil.copy2(f, root / "files" / f.name)
        tables: dict[str, int] = {}
        with workspace.engine.connect() as conn, conn.begin():
            for table in metadata.sorted_tables:
                n = 0
                with (root / "app" / f"{table.name}.jsonl").open("w") as fh:
                    for row in conn.execute(select(table)).mappings():
                        fh.write(json.dumps({k: _encode(v) for k, v in row.items()}) + "\n")
                        n += 1
                tables[table.name] = n
        parts: dict[str, Any] = {}
        for pillar, storage in pillars.parts("storage"):
            fn = getattr(storage, "backup", None)
            if fn is None:
                continue
            folder = root / "pillars" / pillar.name
            folder.mkdir(parents=True)
            parts[pillar.name] = fn(workspace, folder)
        manifest = {
            "format": FORMAT,
            "productops_version": __version__,
            "schema_revision": current_revision(workspace.engine),
            "created_at": utcnow().isoformat(),
            "database": workspace.engine.dialect.name,
            "tables": tables,
            "pillars": parts,
        }
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(root, arcname=ROOT)
        partial.chmod(0o600)
        partial.replace(out)
    return manifest


def _safe_extract(archive: Path, dest: Path) -> Path:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                name = member.name
                parts = name.split("/")
                clean = posixpath.normpath(name)
                if (
                    name.startswith("/")
                    or ".." in parts
                    or not (clean == ROOT or clean.startswith(ROOT + "/"))
                ):
                    raise BackupError(
                        f"{archive.name} holds '{member.name[:80]}' outside {ROOT}/: not a "
                        "productops backup"
                    )
            # The data filter refuses absolute paths, '..', links leaving the folder and
            # special files, and drops set-uid bits.
            tar.extractall(dest, filter="data")
    except BackupError:
        raise
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive} is not a productops backup (cannot be read: {exc})") from exc
    root = dest / ROOT
    manifest = root / "manifest.json"
    if not manifest.is_file() or manifest.is_symlink():
        raise BackupError(f"{archive} has no manifest.json: not a productops backup")
    if manifest.stat().st_size > MAX_MANIFEST_BYTES:
        raise BackupError(f"{archive}: manifest.json is too large")
    return root


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of an archive written by `backup_workspace`."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(f"{ROOT}/manifest.json")
            if member is None:
                raise KeyError("manifest.json")
            data: dict[str, Any] = json.loads(member.read(MAX_MANIFEST_BYTES))
            return data
    except (tarfile.TarError, OSError, KeyError, ValueError) as exc:
        raise BackupError(f"{archive} has no readable manifest: {exc}") from exc


def _decode_row(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        column = table.columns.get(key)
        if column is None:
            raise BackupError(f"table {table.name} has no column '{key}' at this revision")
        if value is not None and isinstance(column.type, UTCDateTime):
            value = dt.datetime.fromisoformat(value)
        elif value is not None and isinstance(column.type, LargeBinary):
            value = bytes.fromhex(value)  # written as hex by _encode
        elif value is not None and isinstance(column.type, DateTime):
            value = dt.datetime.fromisoformat(value)
        elif value is not None and isinstance(column.type, Date):
            value = dt.date.fromisoformat(value)
        elif value is not None and isinstance(column.type, Time):
            value = dt.time.fromisoformat(value)
        elif value is not None and isinstance(column.type, Numeric) and isinstance(value, str):
            value = decimal.Decimal(value)
        out[key] = value
    return out


def _load_tables(engine: Engine, root: Path) -> None:
    metadata = load_models()
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if count:
                raise BackupError(f"the target database already has rows in '{table.name}'")
        for table in metadata.sorted_tables:
            path = root / "app" / f"{table.name}.jsonl"
            if not path.is_file() or path.is_symlink():
                continue
            batch: list[dict[str, Any]] = []
            with path.open() as fh:
                for line_no, line in enumerate(fh, 1):
                    try:
                        row = json.loads(line)
                        if not isinstance(row, dict):
                            raise ValueError("a row must be a JSON object")
                        batch.append(_decode_row(table, row))
                    except (ValueError, TypeError) as exc:
                        raise BackupError(f"{path.name} line {line_no}: {exc}") from exc
                    if len(batch) >= 5000:
                        conn.execute(insert(table), batch)
                        batch.clear()
            if batch:
                conn.execute(insert(table), batch)
        if engine.dialect.name == "postgresql":
            for table in metadata.sorted_tables:
                if "id" in table.columns and table.columns["id"].autoincrement is not False:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )


def _copy_files(root: Path, directory: Path) -> None:
    """Copy only the files a workspace is known to hold, by plain name."""
    patterns = workspace_file_patterns()
    folder = root / "files"
    if not folder.is_dir():
        raise BackupError("the archive has no files/ folder: not a productops backup")
    for f in folder.iterdir():
        if not f.is_file() or f.is_symlink():
            raise BackupError(f"files/{f.name[:80]} in the archive is not a plain file")
        if not any(fnmatch.fnmatchcase(f.name, p) for p in patterns):
            raise BackupError(f"files/{f.name[:80]} is not a file a workspace holds")
        shutil.copyfile(f, directory / f.name)
    if not (directory / SETTINGS_FILE).is_file():
        raise BackupError(f"the archive has no {SETTINGS_FILE}")


def _check_paths_inside(ws: Workspace) -> None:
    """Every data path the restored settings name must lie inside the new workspace, so a
    tampered productops.toml cannot make restore write elsewhere."""
    for path in private_paths(ws):
        resolved = path.resolve()
        if not resolved.is_relative_to(ws.path.resolve()):
            raise BackupError(
                f"the archived settings put a data file at {path}, outside the workspace "
                f"{ws.path}: refusing to restore there"
            )


def restore_workspace(
    archive: Path, directory: Path, database_url: str | None = None
) -> dict[str, Any]:
    """Recreate a workspace from `archive` in `directory` (which must be new or empty).

    With `database_url`, the app database goes there (it must be empty) and the restored
    settings point at it. Nothing is left half-written: on any error the folder is removed.
    """
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: restore into a new folder")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with tempfile.TemporaryDirectory(prefix="productops-restore-") as tmp:
            root = _safe_extract(archive, Path(tmp))
            try:
                manifest: dict[str, Any] = json.loads((root / "manifest.json").read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                raise BackupError(f"{archive.name}: manifest.json is not JSON") from exc
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                shown = manifest.get("format") if isinstance(manifest, dict) else "?"
                raise BackupError(f"backup format {shown!r} is not supported (need {FORMAT})")
            _copy_files(root, directory)
            if database_url:
                _write_database_url(directory, database_url)
            overrides = {"database_url": database_url} if database_url else {}
            ws = open_workspace(directory, run_migrations=False, **overrides)
            try:
                _check_paths_inside(ws)
                revision = str(manifest.get("schema_revision") or "head")
                migrate(ws.engine, revision)
                _load_tables(ws.engine, root)
                migrate(ws.engine, "head")
                parts = manifest.get("pillars") or {}
                if not isinstance(parts, dict):
                    raise BackupError("the manifest's pillars entry is malformed")
                known = {p.name for p, _ in pillars.parts("storage")}
                unknown = set(parts) - known
                if unknown:
                    raise BackupError(
                        f"the archive holds data of pillars this version does not have: "
                        f"{', '.join(sorted(str(u)[:40] for u in unknown))}"
                    )
                for pillar, storage in pillars.parts("storage"):
                    fn = getattr(storage, "restore", None)
                    if fn is not None and pillar.name in parts:
                        fn(ws, root / "pillars" / pillar.name, parts[pillar.name])
                protect_files(ws)
            finally:
                ws.close()
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
    write_private(path, tomli_w.dumps(data))


__all__ = ["backup_workspace", "read_manifest", "restore_workspace"]
