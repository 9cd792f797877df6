"""Restore trusts nothing in an archive: a tampered backup is refused with a clear error, and
nothing outside the new workspace is written (the attacks of the hardening issue, item 4)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from productops.analytics import store
from productops.analytics.ingest.service import ingest_posthog
from productops.analytics.settings import events_file
from productops.core.backup import ROOT, backup_workspace, restore_workspace
from productops.core.errors import BackupError
from productops.core.workspace import Workspace


@pytest.fixture
def archive(sqlite_workspace: Workspace, tmp_path: Path) -> Path:
    ingest_posthog(
        sqlite_workspace,
        {"batch": [{"event": "x", "distinct_id": "u", "uuid": "e1"}], "api_key": "k"},
    )
    store.close_writer(events_file(sqlite_workspace))
    out = tmp_path / "good.tar.gz"
    backup_workspace(sqlite_workspace, out)
    return out


def _tamper(
    archive: Path,
    out: Path,
    change: Callable[[dict[str, bytes]], None],
    extra: list[tarfile.TarInfo] | None = None,
) -> Path:
    """A copy of `archive` whose regular files went through `change` (name → bytes)."""
    files: dict[str, bytes] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                files[member.name] = handle.read()
    change(files)
    with tarfile.open(out, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return out


def test_settings_pointing_a_store_outside_the_workspace_are_refused(
    archive: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")

    def point_outside(files: dict[str, bytes]) -> None:
        toml = files[f"{ROOT}/files/productops.toml"].decode()
        files[f"{ROOT}/files/productops.toml"] = (
            toml + f'\n[analytics]\nevents_path = "{victim}"\n'
        ).encode()

    bad = _tamper(archive, tmp_path / "bad.tar.gz", point_outside)
    with pytest.raises(BackupError, match="outside the workspace"):
        restore_workspace(bad, tmp_path / "new")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "name",
    [
        f"{ROOT}/../escaped.txt",
        "/tmp/absolute-escape.txt",  # noqa: S108 - the attack
        "elsewhere/file.txt",
    ],
)
def test_members_outside_the_backup_folder_are_refused(
    archive: Path, tmp_path: Path, name: str
) -> None:
    def add(files: dict[str, bytes]) -> None:
        files[name] = b"owned"

    bad = _tamper(archive, tmp_path / "bad.tar.gz", add)
    with pytest.raises(BackupError):
        restore_workspace(bad, tmp_path / "new")
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()  # noqa: S108
    assert not (tmp_path / "new").exists()


def test_a_link_out_of_the_archive_is_refused(archive: Path, tmp_path: Path) -> None:
    link = tarfile.TarInfo(f"{ROOT}/files/metrics.yml")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"

    def drop_metrics(files: dict[str, bytes]) -> None:
        files.pop(f"{ROOT}/files/metrics.yml", None)

    bad = _tamper(archive, tmp_path / "bad.tar.gz", drop_metrics, extra=[link])
    with pytest.raises(BackupError):
        restore_workspace(bad, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_an_unknown_file_or_table_is_refused(archive: Path, tmp_path: Path) -> None:
    def add_script(files: dict[str, bytes]) -> None:
        files[f"{ROOT}/files/run-me.sh"] = b"#!/bin/sh\nrm -rf ~\n"

    bad = _tamper(archive, tmp_path / "script.tar.gz", add_script)
    with pytest.raises(BackupError, match="not a file a workspace holds"):
        restore_workspace(bad, tmp_path / "new")

    def add_table(files: dict[str, bytes]) -> None:
        manifest = json.loads(files[f"{ROOT}/manifest.json"])
        manifest["pillars"]["analytics"]["tables"]["evil"] = 1
        files[f"{ROOT}/manifest.json"] = json.dumps(manifest).encode()
        files[f"{ROOT}/pillars/analytics/evil.parquet"] = files[
            f"{ROOT}/pillars/analytics/events.parquet"
        ]

    bad = _tamper(archive, tmp_path / "table.tar.gz", add_table)
    with pytest.raises(BackupError, match="does not define"):
        restore_workspace(bad, tmp_path / "new2")
    assert not (tmp_path / "new").exists() and not (tmp_path / "new2").exists()


def test_sql_in_an_archive_is_never_run(archive: Path, tmp_path: Path) -> None:
    """The old format ran `events/schema.sql` through IMPORT DATABASE; an archive carrying
    one (and claiming the old format) is refused before anything is read from it."""
    target = tmp_path / "written-by-sql.txt"

    def old_format(files: dict[str, bytes]) -> None:
        manifest = json.loads(files[f"{ROOT}/manifest.json"])
        manifest["format"] = 1
        manifest["events"] = True
        files[f"{ROOT}/manifest.json"] = json.dumps(manifest).encode()
        files[f"{ROOT}/events/schema.sql"] = f"COPY (SELECT 'owned') TO '{target}';".encode()

    bad = _tamper(archive, tmp_path / "sql.tar.gz", old_format)
    with pytest.raises(BackupError, match="format"):
        restore_workspace(bad, tmp_path / "new")
    assert not target.exists()


def test_a_good_archive_still_restores(archive: Path, tmp_path: Path) -> None:
    restore_workspace(archive, tmp_path / "copy")
    assert (tmp_path / "copy" / "events.duckdb").stat().st_mode & 0o077 == 0
