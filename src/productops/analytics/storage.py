"""What the analytics pillar keeps in the workspace folder: the DuckDB event store and the
YAML files people edit (`metrics.yml`, `tracking-plan.yml`, `warehouse.yml`).

Backup writes each table of the event store as Parquet, read in one snapshot through the
process that owns the store (so a serving workspace can be backed up while it ingests).
Restore reads those files as data only (pyarrow, no SQL from the archive) into the tables
productops itself defines, on a connection without file access.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.errors import BackupError

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

FILES = ("metrics.yml", "tracking-plan.yml", "warehouse.yml")
METRICS_STARTER = """\
# The metric catalog: one shared definition of each metric, reviewable in git.
# Each metric names its event, how to aggregate it, and optional filters and dimensions.
metrics: []
"""
# Tables of the event store that hold data (productops_meta is written by the schema itself).
SKIPPED_TABLES = frozenset({"productops_meta"})
BATCH_ROWS = 256 * 1024


def init(ws: Workspace) -> None:
    """A starter metrics.yml and an empty event store with its schema."""
    metrics = ws.path / "metrics.yml"
    if not metrics.exists():
        metrics.write_text(METRICS_STARTER)
    path = events_file(ws)
    if not path.exists():
        store.connect(path).close()


def private_paths(ws: Workspace) -> list[Path]:
    path = events_file(ws)
    return [path, path.with_name(path.name + ".wal")]


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [str(r[0]) for r in rows if str(r[0]) not in SKIPPED_TABLES]


def schema_tables() -> set[str]:
    """The tables productops itself defines in an event store (others are not backed up)."""
    with duckdb.connect(":memory:") as con:
        con.execute(store.SCHEMA)
        return set(_tables(con))


def backup(ws: Workspace, folder: Path) -> dict[str, Any]:
    """Write every table of the event store to `folder/<table>.parquet`, from one snapshot."""
    path = events_file(ws)
    if not path.exists():
        return {"tables": {}}
    counts: dict[str, int] = {}
    with store.reader(path) as con:
        con.execute("BEGIN TRANSACTION")  # one snapshot of every table
        try:
            ours = schema_tables()
            for table in [t for t in _tables(con) if t in ours]:
                reader = con.execute(f'SELECT * FROM "{table}"').to_arrow_reader(BATCH_ROWS)
                n = 0
                with pq.ParquetWriter(folder / f"{table}.parquet", reader.schema) as out:
                    for batch in reader:
                        out.write_batch(batch)
                        n += batch.num_rows
                counts[table] = n
        finally:
            con.execute("ROLLBACK")
    (folder / "tables.json").write_text(json.dumps(counts, indent=2))
    return {"tables": counts}


def restore(ws: Workspace, folder: Path, info: dict[str, Any]) -> None:
    """Load the tables written by `backup` into a fresh event store of this version's schema.
    Files are read as data (Parquet through pyarrow); nothing from the archive is executed,
    and the connection has no file or network access."""
    expected = info.get("tables", {})
    if not isinstance(expected, dict):
        raise BackupError("the archive's event-store manifest is malformed")
    path = events_file(ws)
    path.unlink(missing_ok=True)
    con = store.connect(path, config=store.NO_EXTERNAL_ACCESS)
    try:
        known = set(_tables(con))
        con.execute("BEGIN TRANSACTION")
        for table, rows in expected.items():
            if table not in known:
                raise BackupError(
                    f"the archive holds an event-store table '{str(table)[:60]}' that this "
                    "version of productops does not define"
                )
            source = folder / f"{table}.parquet"
            if not source.is_file():
                raise BackupError(f"the archive lacks the event-store table '{table}'")
            loaded = 0
            parquet = pq.ParquetFile(source)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                con.register("restore_batch", pa.Table.from_batches([batch]))
                select = "SELECT * FROM restore_batch"
                if table == "events":
                    # Hashed here (the archive's may predate the column, or be hashed
                    # another way), not taken on trust.
                    hashed = f"{store.id_hash_sql('event_id')} AS id_hash"
                    select = (
                        f"SELECT * EXCLUDE (id_hash), {hashed} FROM restore_batch"
                        if "id_hash" in batch.schema.names
                        else f"SELECT *, {hashed} FROM restore_batch"
                    )
                try:
                    con.execute(f'INSERT INTO "{table}" BY NAME {select}')
                except duckdb.Error as exc:
                    raise BackupError(f"event-store table '{table}': {exc}") from exc
                finally:
                    con.unregister("restore_batch")
                loaded += batch.num_rows
            if loaded != rows:
                raise BackupError(f"event-store table '{table}' has {loaded} rows, not {rows}")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        path.unlink(missing_ok=True)
        raise
    con.close()
