"""Backup and restore round-trip a whole workspace, and refuse to half-restore."""

from __future__ import annotations

import datetime as dt
import tarfile
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from productops.analytics.settings import events_file
from productops.cli import app as cli
from productops.core import auth
from productops.core.backup import backup_workspace, restore_workspace
from productops.core.db import Base
from productops.core.demo import DemoScale, build_demo
from productops.core.errors import AuthenticationFailed, BackupError
from productops.core.workspace import Workspace, open_workspace
from tests.conftest import PASSWORD, make_user


def _dump(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    with ws.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            pk = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*pk))]
    return out


def _tiny_company(ws: Workspace) -> None:
    build_demo(ws, seed=3, anchor=dt.date(2026, 11, 1), scale=DemoScale.named("tiny"))


EVENTS_DIGEST = (
    "SELECT count(*), count(DISTINCT event_id), sum(hash(event_id, person_id, ts)) FROM events"
)


def _events_digest(ws: Workspace) -> tuple[object, ...]:
    with duckdb.connect(str(events_file(ws)), read_only=True) as con:
        row = con.execute(EVENTS_DIGEST).fetchone()
        assert row is not None
        return tuple(row)


def test_backup_and_restore_round_trip(workspace: Workspace, tmp_path: Path) -> None:
    _tiny_company(workspace)
    _, email = make_user(workspace, "editor")
    archive = tmp_path / "backup.tar.gz"
    before = _events_digest(workspace)
    manifest = backup_workspace(workspace, archive)
    assert manifest["tables"]["accounts"] == 40
    # A PostgreSQL workspace is restored onto SQLite (its own database still holds the rows).
    target_db = None
    if workspace.engine.dialect.name == "postgresql":
        target_db = f"sqlite:///{tmp_path / 'restored.db'}"
    restore_workspace(archive, tmp_path / "restored", database_url=target_db)
    restored = open_workspace(tmp_path / "restored")
    try:
        assert _dump(restored) == _dump(workspace)
        assert restored.settings.secret_key == workspace.settings.secret_key
        with restored.sessions() as s:
            assert auth.authenticate(s, email, PASSWORD).email == email
        assert _events_digest(restored) == before and before[0] > 20_000
    finally:
        restored.close()


def test_restore_refuses_a_folder_that_is_not_empty(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar.gz"
    backup_workspace(sqlite_workspace, archive)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(BackupError, match="not empty"):
        restore_workspace(archive, target)
    assert (target / "keep.txt").read_text() == "mine"


def test_a_broken_archive_leaves_nothing_behind(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(BackupError, match="not a productops backup"):
        restore_workspace(bad, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_a_corrupt_table_file_rolls_the_restore_back(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    make_user(sqlite_workspace, "viewer")
    archive = tmp_path / "b.tar.gz"
    backup_workspace(sqlite_workspace, archive)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    with (unpacked / "productops-backup" / "app" / "teams.jsonl").open("w") as fh:
        fh.write("{broken json\n")
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(broken, "w:gz") as tar:
        tar.add(unpacked / "productops-backup", arcname="productops-backup")
    with pytest.raises(BackupError, match=r"teams\.jsonl line 1"):
        restore_workspace(broken, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_backup_inside_the_workspace_is_refused(sqlite_workspace: Workspace) -> None:
    with pytest.raises(BackupError, match="outside the workspace"):
        backup_workspace(sqlite_workspace, sqlite_workspace.path / "b.tar.gz")


def test_sqlite_workspace_restores_onto_postgresql(
    sqlite_workspace: Workspace, tmp_path: Path, pg_database_url: str
) -> None:
    _tiny_company(sqlite_workspace)
    archive = tmp_path / "b.tar.gz"
    backup_workspace(sqlite_workspace, archive)
    from sqlalchemy import text

    from productops.core.db import make_engine

    engine = make_engine(pg_database_url)
    with engine.begin() as conn:  # an empty database: drop what other tests left
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    restore_workspace(archive, tmp_path / "pg", database_url=pg_database_url)
    restored = open_workspace(tmp_path / "pg")
    try:
        assert restored.engine.dialect.name == "postgresql"
        assert _dump(restored) == _dump(sqlite_workspace)
        with auth_session(restored) as s:  # new rows get fresh ids after the restore
            user = auth.create_user(s, "after@example.com", "After", PASSWORD, "viewer")
            assert user.id > max(r[0] for r in _dump(sqlite_workspace)["users"])
    finally:
        restored.close()


def auth_session(ws: Workspace):  # type: ignore[no-untyped-def]
    from productops.core.db import transaction

    return transaction(ws.sessions)


def test_cli_backup_and_restore(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    _, email = make_user(sqlite_workspace, "viewer")
    runner = CliRunner()
    out = tmp_path / "cli.tar.gz"
    r = runner.invoke(cli, ["backup", str(sqlite_workspace.path), str(out), "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["restore", str(out), str(tmp_path / "again")])
    assert r.exit_code == 0, r.output
    ws = open_workspace(tmp_path / "again")
    with ws.sessions() as s:
        auth.authenticate(s, email, PASSWORD)
        with pytest.raises(AuthenticationFailed):
            auth.authenticate(s, email, "wrong password")
    ws.close()
