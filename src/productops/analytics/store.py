"""The event store: DuckDB in the workspace (embedded default).

Tables (the SQL console and every analysis see the same names):

- `events`: one row per event, deduplicated on `event_id` (Segment `messageId`, PostHog
  `uuid`). `ts` is UTC event time after clock-skew correction; `distinct_id` is the user id
  when known, else the anonymous id.
- `identities`: `distinct_id` → `person_id`, written by identify/alias, so an anonymous visit
  and the sign-up after it count as one person (retroactively, at query time).
- `persons`, `accounts`: profiles with `properties` (traits) used as dimensions.
- view `events_resolved`: `events` plus `person_id`.

DuckDB has one writer process: the process that serves the workspace owns the file and
batches appends (see `EventWriter`); other processes open it read-only.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from productops.core.errors import ProductOpsError

SCHEMA_VERSION = "2"

DDL = """
CREATE TABLE IF NOT EXISTS productops_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS events (
    event_id     VARCHAR   NOT NULL,
    event        VARCHAR   NOT NULL,
    type         VARCHAR   NOT NULL,
    ts           TIMESTAMP NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    distinct_id  VARCHAR   NOT NULL,
    user_id      VARCHAR,
    anonymous_id VARCHAR,
    account_id   VARCHAR,
    source       VARCHAR   NOT NULL,
    properties   JSON,
    person_id    VARCHAR   NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    distinct_id VARCHAR PRIMARY KEY,
    person_id   VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS persons (
    person_id  VARCHAR PRIMARY KEY,
    account_id VARCHAR,
    properties JSON,
    first_seen TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    account_id VARCHAR PRIMARY KEY,
    properties JSON,
    updated_at TIMESTAMP NOT NULL
);
"""
# `person_id` is written with each event (its identity as known then) and rewritten when an
# identify or alias links its id to a person, so analyses need no join; the view keeps the
# name every analysis and the SQL console use.
VIEWS = """
CREATE OR REPLACE VIEW events_resolved AS
    SELECT * FROM events;
"""
# The whole schema, for a fresh (e.g. empty in-memory) store.
SCHEMA = DDL + VIEWS

EVENT_COLUMNS = (
    "event_id",
    "event",
    "type",
    "ts",
    "received_at",
    "distinct_id",
    "user_id",
    "anonymous_id",
    "account_id",
    "source",
    "properties",
)
ARROW_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event", pa.string()),
        ("type", pa.string()),
        ("ts", pa.timestamp("us")),
        ("received_at", pa.timestamp("us")),
        ("distinct_id", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("account_id", pa.string()),
        ("source", pa.string()),
        ("properties", pa.string()),
    ]
)
# Resends of a batch carry the same original timestamp (give or take clock skew), so the
# duplicate check only needs to look at events near the batch's time range.
DEDUP_WINDOW = dt.timedelta(days=2)


class EventStoreError(ProductOpsError):
    """The event store cannot be opened or written."""


@dataclass(frozen=True)
class Event:
    """One event, normalised from whichever protocol it came in."""

    event_id: str
    event: str
    type: str
    ts: dt.datetime  # naive UTC
    received_at: dt.datetime  # naive UTC
    distinct_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    account_id: str | None = None
    source: str = "api"
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IdentityUpdate:
    """Identify / alias / group side effects of an event."""

    kind: str  # "identify" | "alias" | "group"
    distinct_id: str | None = None
    person_id: str | None = None
    account_id: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    at: dt.datetime | None = None


@dataclass(frozen=True)
class AppendResult:
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


# The writer a server process keeps open never needs to read files or the network, so it
# runs without (which also sandboxes SQL-console queries that run on its cursors).
NO_EXTERNAL_ACCESS = {"enable_external_access": False}
# Read-only connections use one configuration everywhere (DuckDB refuses to open the same file
# twice in a process with different settings): no files, no network, no Python-variable scans.
READ_ONLY_CONFIG = {"enable_external_access": False, "python_enable_replacements": False}


def connect(
    path: Path, read_only: bool = False, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the event store, creating its tables when writable."""
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=dict(config or {}))
    except duckdb.IOException as exc:
        raise EventStoreError(
            f"cannot open {path}: {exc}. Another process (probably `productops serve`) owns "
            "the event store; stop it or send events through its API."
        ) from exc
    if not read_only:
        con.execute(DDL)
        _add_person_id(con)
        con.execute(VIEWS)
        con.execute(
            "INSERT INTO productops_meta VALUES ('events_schema', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [SCHEMA_VERSION],
        )
    return con


def _add_person_id(con: duckdb.DuckDBPyConnection) -> None:
    """Stores made before `events.person_id` existed get it, filled from `identities`."""
    columns = {r[0] for r in con.execute("DESCRIBE events").fetchall()}
    if "person_id" in columns:
        return
    con.execute("ALTER TABLE events ADD COLUMN person_id VARCHAR")
    con.execute(
        "UPDATE events SET person_id = COALESCE("
        "(SELECT i.person_id FROM identities i WHERE i.distinct_id = events.distinct_id), "
        "distinct_id)"
    )
    con.execute("ALTER TABLE events ALTER COLUMN person_id SET NOT NULL")


def events_to_arrow(events: Sequence[Event]) -> pa.Table:
    cols: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
    for e in events:
        cols["event_id"].append(e.event_id)
        cols["event"].append(e.event)
        cols["type"].append(e.type)
        cols["ts"].append(e.ts)
        cols["received_at"].append(e.received_at)
        cols["distinct_id"].append(e.distinct_id)
        cols["user_id"].append(e.user_id)
        cols["anonymous_id"].append(e.anonymous_id)
        cols["account_id"].append(e.account_id)
        cols["source"].append(e.source)
        cols["properties"].append(json.dumps(e.properties, separators=(",", ":"), default=str))
    return pa.table(cols, schema=ARROW_SCHEMA)


def append_arrow(con: duckdb.DuckDBPyConnection, batch: pa.Table, windowed: bool = True) -> int:
    """Insert the events of `batch` whose event_id is new; returns how many were inserted.

    Duplicates inside the batch keep their first occurrence. With `windowed`, the check
    against stored events only reads events near the batch's time range (cheap for live
    ingest); bulk imports of old data pass `windowed=False`.
    """
    return len(append_arrow_ids(con, batch, windowed))


def append_arrow_ids(
    con: duckdb.DuckDBPyConnection, batch: pa.Table, windowed: bool = True
) -> list[str]:
    """Like `append_arrow`, but returns the event ids that were inserted."""
    if batch.num_rows == 0:
        return []
    batch = batch.append_column("_seq", pa.array(range(batch.num_rows), pa.int64()))
    con.register("incoming_batch", batch)
    try:
        where = ""
        params: list[Any] = []
        if windowed:
            where = "AND e.ts BETWEEN ? AND ?"
            lo, hi = con.execute("SELECT min(ts), max(ts) FROM incoming_batch").fetchone() or (
                None,
                None,
            )
            params = [lo - DEDUP_WINDOW, hi + DEDUP_WINDOW]
        rows = con.execute(
            f"""
            INSERT INTO events
            SELECT event_id, event, type, ts, received_at, b.distinct_id, user_id,
                   anonymous_id, account_id, source, properties::JSON,
                   COALESCE(i.person_id, b.distinct_id)
            FROM (
                SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY _seq) AS n
                FROM incoming_batch
            ) b LEFT JOIN identities i ON i.distinct_id = b.distinct_id
            WHERE n = 1 AND NOT EXISTS (
                SELECT 1 FROM events e WHERE e.event_id = b.event_id {where}
            )
            RETURNING event_id
            """,
            params,
        ).fetchall()
        return [r[0] for r in rows]
    finally:
        con.unregister("incoming_batch")


def apply_identity(con: duckdb.DuckDBPyConnection, update: IdentityUpdate) -> None:
    """Merge anonymous ids into people, and update person and account traits."""
    now = update.at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if update.kind in {"identify", "alias"} and update.person_id:
        if update.distinct_id and update.distinct_id != update.person_id:
            _link(con, update.distinct_id, update.person_id, now)
        _link(con, update.person_id, update.person_id, now)
    if update.kind == "identify" and update.person_id:
        upsert_person(con, update.person_id, update.traits, update.account_id, now)
    if update.kind == "group" and update.account_id:
        upsert_account(con, update.account_id, update.traits, now)
        if update.person_id:
            upsert_person(con, update.person_id, {}, update.account_id, now)


def _link(
    con: duckdb.DuckDBPyConnection, distinct_id: str, person_id: str, now: dt.datetime
) -> None:
    row = con.execute(
        "SELECT person_id FROM identities WHERE distinct_id = ?", [distinct_id]
    ).fetchone()
    target = con.execute(
        "SELECT person_id FROM identities WHERE distinct_id = ?", [person_id]
    ).fetchone()
    canonical = target[0] if target else person_id
    if row is None:
        con.execute("INSERT INTO identities VALUES (?, ?, ?)", [distinct_id, canonical, now])
        if distinct_id != canonical:
            # Events already stored under this id now belong to the person.
            con.execute(
                "UPDATE events SET person_id = ? WHERE distinct_id = ? "
                "AND person_id IS DISTINCT FROM ?",
                [canonical, distinct_id, canonical],
            )
    # An id already linked to another person keeps that person: as in PostHog, two identified
    # people are never merged (a shared browser, or a sender that knows someone else's id,
    # must not move one person's history onto another).


def upsert_person(
    con: duckdb.DuckDBPyConnection,
    person_id: str,
    traits: dict[str, Any],
    account_id: str | None,
    now: dt.datetime,
) -> None:
    con.execute(
        """
        INSERT INTO persons VALUES (?, ?, ?::JSON, ?, ?)
        ON CONFLICT (person_id) DO UPDATE SET
            account_id = COALESCE(excluded.account_id, persons.account_id),
            properties = json_merge_patch(COALESCE(persons.properties, '{}'),
                                          excluded.properties),
            first_seen = LEAST(persons.first_seen, excluded.first_seen),
            updated_at = excluded.updated_at
        """,
        [person_id, account_id, json.dumps(traits, default=str), now, now],
    )


def upsert_account(
    con: duckdb.DuckDBPyConnection, account_id: str, traits: dict[str, Any], now: dt.datetime
) -> None:
    con.execute(
        """
        INSERT INTO accounts VALUES (?, ?::JSON, ?)
        ON CONFLICT (account_id) DO UPDATE SET
            properties = json_merge_patch(COALESCE(accounts.properties, '{}'),
                                          excluded.properties),
            updated_at = excluded.updated_at
        """,
        [account_id, json.dumps(traits, default=str), now],
    )


# Work to do inside the same transaction as the events (e.g. writing quarantined events).
AlsoInTransaction = Callable[[duckdb.DuckDBPyConnection], object]


@dataclass
class _Pending:
    events: list[Event]
    identities: list[IdentityUpdate]
    future: Future[AppendResult]
    also: AlsoInTransaction | None = None


class EventWriter:
    """The single writer of a workspace's event store.

    Requests hand their events to `submit`, which returns once the events are committed
    (durable) — so an HTTP 200 means stored. Concurrent requests are committed together in
    one transaction (group commit), which is what makes ingest fast.
    """

    def __init__(self, path: Path, max_batch: int = 20_000) -> None:
        self.path = path
        self.max_batch = max_batch
        self._con = connect(path, config=NO_EXTERNAL_ACCESS)
        self._lock = threading.Condition()
        self._queue: list[_Pending] = []
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="productops-event-writer", daemon=True
        )
        self._thread.start()

    def submit(
        self,
        events: list[Event],
        identities: list[IdentityUpdate] | None = None,
        also: AlsoInTransaction | None = None,
    ) -> Future[AppendResult]:
        fut: Future[AppendResult] = Future()
        with self._lock:
            if self._closed:
                raise EventStoreError("the event writer is closed")
            self._queue.append(_Pending(events, identities or [], fut, also))
            self._lock.notify()
        return fut

    def write(
        self,
        events: list[Event],
        identities: list[IdentityUpdate] | None = None,
        timeout: float = 30.0,
        also: AlsoInTransaction | None = None,
    ) -> AppendResult:
        """Store `events` (and run `also` in the same transaction); returns once committed."""
        return self.submit(events, identities, also).result(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if not self._queue and self._closed:
                    return
                taken: list[_Pending] = []
                size = 0
                while self._queue and (
                    not taken or size + len(self._queue[0].events) <= self.max_batch
                ):
                    p = self._queue.pop(0)
                    taken.append(p)
                    size += len(p.events)
            self._commit(taken)

    def _commit(self, taken: list[_Pending]) -> None:
        try:
            self._con.execute("BEGIN TRANSACTION")
            # One insert for every request in the group (the expensive part), then each
            # request is credited with the new ids it sent first.
            everything = [e for p in taken for e in p.events]
            new_ids = set(append_arrow_ids(self._con, events_to_arrow(everything)))
            for p in taken:
                for update in p.identities:
                    apply_identity(self._con, update)
                if p.also is not None:
                    p.also(self._con)
            self._con.execute("COMMIT")
        except Exception as exc:
            with suppress(duckdb.Error):
                self._con.execute("ROLLBACK")
            for p in taken:
                p.future.set_exception(exc)
            return
        for p in taken:
            inserted = 0
            for e in p.events:
                if e.event_id in new_ids:
                    new_ids.discard(e.event_id)
                    inserted += 1
            p.future.set_result(AppendResult(received=len(p.events), inserted=inserted))

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the writer's connection for reads in the owning process."""
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._thread.join(timeout=30)
        self._con.close()


def iter_chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- one writer per process --------------------------------------------------------------

_WRITERS: dict[Path, EventWriter] = {}
_WRITERS_LOCK = threading.Lock()


def writer_for(path: Path) -> EventWriter:
    """This process's writer for the event store at `path` (created on first use)."""
    path = path.resolve()
    with _WRITERS_LOCK:
        writer = _WRITERS.get(path)
        if writer is None:
            writer = EventWriter(path)
            _WRITERS[path] = writer
        return writer


def close_writer(path: Path) -> None:
    with _WRITERS_LOCK:
        writer = _WRITERS.pop(path.resolve(), None)
    if writer is not None:
        writer.close()


@contextmanager
def reader(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for reading: the writer's own when this process owns the store,
    otherwise a read-only connection of its own."""
    path = path.resolve()
    with _WRITERS_LOCK:
        writer = _WRITERS.get(path)
    if writer is not None:
        with writer.read() as cur:
            yield cur
        return
    con = connect(path, read_only=True, config=READ_ONLY_CONFIG)
    try:
        yield con
    finally:
        con.close()
