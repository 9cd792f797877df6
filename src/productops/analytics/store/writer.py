"""Writing events: appending with exactly-once on `event_id`, and the one writer a serving
process keeps (group commit: concurrent requests are committed together, and each is
acknowledged only after the commit)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from productops.analytics.store.identities import apply_identity
from productops.analytics.store.schema import (
    ARROW_SCHEMA,
    DEDUP_WINDOW,
    EVENT_COLUMNS,
    READ_ONLY_CONFIG,
    AppendResult,
    Event,
    EventStoreError,
    IdentityUpdate,
    add_person_keys,
    connect,
    id_hash_sql,
    id_hashes,
    keyed_insert,
)


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


def append_arrow(
    con: duckdb.DuckDBPyConnection, batch: pa.Table, index: IdIndex | None = None
) -> int:
    """Insert the events of `batch` whose event_id was never stored; returns how many were
    inserted. Duplicates inside the batch keep their first occurrence.

    With an `index` of the stored ids (the writer's), only ids it knows are looked up in the
    store; without one, the batch is checked against every stored event.
    """
    return len(append_arrow_ids(con, batch, index).ids)


@dataclass(frozen=True)
class Appended:
    """What `append_arrow_ids` inserted: the ids, and their hashes for an `IdIndex` (with the
    people it recorded keys for)."""

    ids: list[str]
    hashes: np.ndarray[Any, np.dtype[np.uint64]]
    people: list[str] = field(default_factory=list)


_NEW_ROWS = """
SELECT event_id, event, type, ts, received_at, b.distinct_id, user_id, anonymous_id,
       account_id, source, properties::JSON AS properties,
       COALESCE(i.person_id, b.distinct_id) AS person_id, id_hash, _seq
FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY _seq) AS n
    FROM incoming_batch
) b LEFT JOIN identities i ON i.distinct_id = b.distinct_id
WHERE n = 1 AND b.event_id NOT IN (SELECT unnest(?::VARCHAR[]))
"""


def append_arrow_ids(
    con: duckdb.DuckDBPyConnection, batch: pa.Table, index: IdIndex | None = None
) -> Appended:
    """Like `append_arrow`, but returns the event ids that were inserted (and their hashes)."""
    if batch.num_rows == 0:
        return Appended([], np.empty(0, np.uint64))
    people: list[str] = []
    hashes = id_hashes(batch.column("event_id").to_pylist())
    batch = batch.append_column("_seq", pa.array(range(batch.num_rows), pa.int64()))
    batch = batch.append_column("id_hash", pa.array(hashes, pa.uint64()))
    con.register("incoming_batch", batch)
    try:
        known = _known(con, hashes) if index is None else index.contains(con, hashes)
        stored = _stored_among(con, batch.select(["event_id", "ts"]).filter(pa.array(known)))
        # The batch resolved once (the identities join), then keyed and inserted.
        con.execute(f"CREATE OR REPLACE TEMP TABLE incoming_rows AS {_NEW_ROWS}", [stored])
        try:
            people_sql: str | None = "SELECT person_id FROM incoming_rows"
            if index is not None:
                # Only people the writer has not seen keyed since the store last changed
                # behind its back go through `person_keys` (an insert per batch cost more
                # than the rest of a small batch's write).
                batch_people = con.execute("SELECT DISTINCT person_id FROM incoming_rows")
                people = [r[0] for r in batch_people.fetchall() if r[0] not in index.people]
                if people:
                    add_person_keys(con, "SELECT unnest(?::VARCHAR[]) AS person_id", [people])
                people_sql = None
            insert = keyed_insert(
                con,
                "SELECT * FROM incoming_rows",
                people_sql,
                "RETURNING event_id, id_hash",
                order_by="_seq",
            )
            rows = con.execute(insert).fetchall()
        finally:
            con.execute("DROP TABLE IF EXISTS incoming_rows")
        if rows:
            mark_dirty(con, "incoming_batch")
        hashed = np.fromiter((r[1] for r in rows), np.uint64)
        return Appended([r[0] for r in rows], hashed, people)
    finally:
        con.unregister("incoming_batch")


def _known(
    con: duckdb.DuckDBPyConnection, hashes: np.ndarray[Any, np.dtype[np.uint64]]
) -> np.ndarray[Any, Any]:
    """For each hash, whether a stored event has it, from the store's `id_hash` column (for
    writes without the writer's `IdIndex`)."""
    found = con.execute(
        "SELECT DISTINCT id_hash FROM events WHERE id_hash IN (SELECT unnest(?::UBIGINT[]))",
        [hashes.tolist()],
    ).fetchnumpy()["id_hash"]
    return np.isin(hashes, np.asarray(found, dtype=np.uint64))


def _stored_among(con: duckdb.DuckDBPyConnection, suspects: pa.Table) -> list[str]:
    """Which of the suspected ids (`event_id`, `ts` of the batch's events whose id hash the
    store holds) are stored: first among the events near their times, then, for the rest,
    in the whole store."""
    if suspects.num_rows == 0:
        return []
    con.register("suspects", suspects)
    try:
        lo, hi = con.execute("SELECT min(ts), max(ts) FROM suspects").fetchone() or (None, None)
        found = {
            r[0]
            for r in con.execute(
                f"""SELECT DISTINCT e.event_id FROM events e SEMI JOIN suspects s
                   ON e.id_hash = {id_hash_sql("s.event_id")} AND e.event_id = s.event_id
                   WHERE e.ts BETWEEN ? AND ?""",
                [lo - DEDUP_WINDOW, hi + DEDUP_WINDOW],
            ).fetchall()
        }
        rest = [i for i in suspects.column("event_id").to_pylist() if i not in found]
        if rest:
            found.update(
                r[0]
                for r in con.execute(
                    """SELECT DISTINCT e.event_id FROM events e
                       WHERE e.id_hash IN (SELECT unnest(?::UBIGINT[]))
                         AND e.event_id IN (SELECT unnest(?::VARCHAR[]))""",
                    [id_hashes(rest).tolist(), rest],
                ).fetchall()
            )
        return sorted(found)
    finally:
        con.unregister("suspects")


class IdIndex:
    """The `id_hash` of every stored event, in memory (8 bytes an event), so that the writer
    looks up in the store only the ids whose hash it has seen: a new event costs a binary
    search, not a read of the store.

    It follows the writes it is told about (`add`) and reloads itself when the store holds a
    different number of events than it knows of (another connection wrote: an import, the
    demo, a release from quarantine).
    """

    MERGE_AT = 65_536  # recent hashes kept in a set until there are this many
    PEOPLE_AT_MOST = 500_000  # people known to have their key recorded, forgotten beyond

    def __init__(self) -> None:
        self._sorted: np.ndarray[Any, np.dtype[np.uint64]] = np.empty(0, np.uint64)
        self._recent: set[int] = set()
        self._rows = -1  # how many stored events the hashes cover (-1: not loaded)
        # person ids whose `person_keys` row this writer committed since the store last
        # changed behind its back (an erasure deletes events, so it empties this too)
        self.people: set[str] = set()

    @property
    def loaded(self) -> bool:
        return self._rows >= 0

    def sync(self, con: duckdb.DuckDBPyConnection) -> None:
        """Load the hashes again when the store changed behind the index's back."""
        row = con.execute("SELECT count(*) FROM events").fetchone()
        rows = int(row[0]) if row else 0
        if rows == self._rows:
            return
        hashes = con.execute("SELECT id_hash FROM events").fetchnumpy()["id_hash"]
        self._sorted = np.sort(np.asarray(hashes, dtype=np.uint64))
        self._recent, self._rows = set(), rows
        self.people = set()

    def contains(
        self, con: duckdb.DuckDBPyConnection, hashes: np.ndarray[Any, np.dtype[np.uint64]]
    ) -> np.ndarray[Any, Any]:
        """For each hash, whether a stored event has it (after catching up with `con`)."""
        self.sync(con)
        known = np.zeros(len(hashes), dtype=bool)
        if len(self._sorted):
            pos = np.searchsorted(self._sorted, hashes).clip(max=len(self._sorted) - 1)
            known = self._sorted[pos] == hashes
        if self._recent:
            recent = self._recent
            known |= np.fromiter((h in recent for h in hashes.tolist()), bool, len(hashes))
        return known

    def note_people(self, people: list[str]) -> None:
        """Note people whose key was just committed."""
        if len(self.people) + len(people) > self.PEOPLE_AT_MOST:
            self.people = set()
        self.people.update(people)

    def add(self, hashes: np.ndarray[Any, np.dtype[np.uint64]]) -> None:
        """Note the hashes of events just committed."""
        if not len(hashes) or not self.loaded:
            return
        self._recent.update(hashes.tolist())
        self._rows += len(hashes)
        if len(self._recent) >= self.MERGE_AT:
            merged = np.fromiter(self._recent, np.uint64, len(self._recent))
            self._sorted = np.sort(np.concatenate([self._sorted, merged]))
            self._recent = set()


def mark_dirty(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Note the days of `relation`'s rows (a table or subquery with `ts`) as changed, in the
    caller's transaction, so the per-day counts are redone for them."""
    con.execute(f"INSERT INTO dirty_days SELECT DISTINCT CAST(ts AS DATE) FROM {relation}")


def write_through(path: Path, fn: Callable[[duckdb.DuckDBPyConnection], object]) -> None:
    """Run `fn` in one transaction on the store: through this process's writer when it owns
    the store (serialised with ingest), else on a connection of its own."""
    path = path.resolve()
    if has_writer(path):
        writer_for(path).write([], [], also=fn, timeout=600)
        return
    with bulk(path) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


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
        self._con = connect_owner(path)
        self._index = IdIndex()
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

    def warm(self) -> None:
        """Load the index of stored ids now (in the writer's thread), not at the first event."""
        self.submit([], also=self._index.sync)

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
            appended = append_arrow_ids(self._con, events_to_arrow(everything), self._index)
            new_ids = set(appended.ids)
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
        self._index.add(appended.hashes)
        self._index.note_people(appended.people)
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


def has_writer(path: Path) -> bool:
    """Whether this process owns the store at `path` (has its writer open)."""
    with _WRITERS_LOCK:
        return path.resolve() in _WRITERS


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


def import_dir(path: Path) -> Path:
    """The one folder the serving process may read files from (files to import are put
    there first): `.productops/imports` next to the event store."""
    return path.resolve().parent / ".productops" / "imports"


def connect_owner(path: Path) -> duckdb.DuckDBPyConnection:
    """The connection of the process that owns the store: writable, and with file access off
    except for the import folder (so SQL-console queries on its cursors reach no file)."""
    folder = import_dir(path)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    con = connect(path)
    try:
        con.execute("SET allowed_directories = ?", [[str(folder) + "/"]])
        con.execute("SET enable_external_access = false")
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def bulk(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection for large writes (imports, demo data): a cursor of this
    process's writer when it owns the store (reading files only from `import_dir`), else a
    connection of its own (EventStoreError when another process owns the store)."""
    path = path.resolve()
    with _WRITERS_LOCK:
        writer = _WRITERS.get(path)
    if writer is not None:
        with writer.read() as cur:
            yield cur
        return
    try:
        con = connect(path)
    except duckdb.ConnectionException as exc:  # this process holds it read-only
        raise EventStoreError(f"cannot open {path} for writing: {exc}") from exc
    try:
        yield con
    finally:
        con.close()
