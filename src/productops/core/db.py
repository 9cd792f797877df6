"""The app database: one engine per workspace, SQLite pragmas, sessions, migrations.

SQLite (embedded default) and PostgreSQL (teams) are kept in lockstep: the same models,
the same Alembic migrations, tested on both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, inspect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC datetime is needed")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with productops' connection rules (SQLite pragmas, pool pre-ping)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # We emit BEGIN ourselves so that write units can take the lock up front.
        event.listen(engine, "connect", _sqlite_no_autobegin)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_no_autobegin(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    # Write units (see `transaction`) take SQLite's write lock at BEGIN, as Datasette does, so
    # two writers queue on the busy timeout instead of one failing half-way; reads stay deferred.
    write = conn.get_execution_options().get("productops_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def best_effort_write(engine: Engine, statement: Any) -> bool:
    """Run one small write in a transaction of its own, giving up at once when the database
    is busy (SQLite has one writer). For bookkeeping that must never fail or stall a request
    or a job: progress, heartbeats, "last used" stamps. Returns whether it was written."""
    from sqlalchemy.exc import OperationalError

    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            if sqlite and raw is not None:
                raw.execute("PRAGMA busy_timeout=200")
            try:
                with conn.execution_options(productops_write=True).begin():
                    conn.execute(statement)
            finally:
                if sqlite and raw is not None:
                    raw.execute("PRAGMA busy_timeout=10000")
    except OperationalError:
        return False
    return True


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits on success, rolls everything back on any error."""
    with factory() as session, session.begin():
        session.connection(execution_options={"productops_write": True})
        yield session


def migration_folders() -> list[Path]:
    """Where migrations live: the house's, then each pillar's `migrations/versions`. They form
    one history (each migration names the one before it, whichever folder that is in)."""
    from productops.core import pillars

    folders = [MIGRATIONS_DIR / "versions"]
    for pillar in pillars.pillars():
        folder = pillar.folder / "migrations" / "versions"
        if folder.is_dir():
            folders.append(folder)
    return folders


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "newline")
    cfg.set_main_option("version_locations", "\n".join(str(f) for f in migration_folders()))
    cfg.attributes["engine"] = engine
    return cfg


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Whether Alembic compares a schema object with the models: objects a pillar's migration
    makes beside its tables (full-text indexes: `Base.metadata.info["derived"]`) are not
    described by the models, so autogenerate must neither drop nor add them."""
    return name not in Base.metadata.info.get("derived", ())


def load_models() -> MetaData:
    """Import the house's tables and every pillar's `models`, so that `Base.metadata` (Alembic,
    backup, restore) sees them all; returns it."""
    from productops.core import models, pillars  # noqa: F401  - registers the tables

    pillars.load("models")
    return Base.metadata


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (all of productops' migrations by default)."""
    from alembic import command

    load_models()
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back down to `revision` ("base" removes every table)."""
    from alembic import command

    load_models()
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(None)).get_current_head()  # type: ignore[arg-type]
    assert head is not None
    return head


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
