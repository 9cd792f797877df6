"""The app database: migrations on SQLite and PostgreSQL, models in step with migrations,
SQLite's connection rules."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from productops.core.db import (
    Base,
    current_revision,
    downgrade,
    head_revision,
    include_object,
    migrate,
    transaction,
)
from productops.core.models import Team
from productops.core.workspace import Workspace


def test_migrations_reach_head_and_create_every_table(workspace: Workspace) -> None:
    assert current_revision(workspace.engine) == head_revision()
    tables = set(inspect(workspace.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_models_and_migrations_agree(workspace: Workspace) -> None:
    with workspace.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models differ from migrations; add a migration: {diff}"


def test_downgrade_to_base_and_upgrade_again(workspace: Workspace) -> None:
    downgrade(workspace.engine, "base")
    assert current_revision(workspace.engine) is None
    assert "users" not in inspect(workspace.engine).get_table_names()
    migrate(workspace.engine)
    assert current_revision(workspace.engine) == head_revision()


def test_a_failed_unit_of_work_leaves_nothing_behind(workspace: Workspace) -> None:
    try:
        with transaction(workspace.sessions) as s:
            s.add(Team(name="Half written"))
            s.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with workspace.sessions() as s:
        assert s.scalar(select(Team).where(Team.name == "Half written")) is None


def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(sqlite_workspace: Workspace) -> None:
    with sqlite_workspace.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000


def test_concurrent_writers_queue_instead_of_failing(sqlite_workspace: Workspace) -> None:
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(20):
                with transaction(sqlite_workspace.sessions) as s:
                    s.add(Team(name=f"team {i}-{j}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sqlite_workspace.sessions() as s:
        assert len(s.scalars(select(Team)).all()) == 80
