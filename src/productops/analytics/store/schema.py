"""The event store's schema: the tables every analysis and the SQL console see, the Arrow
shape events are written in, and how a connection is opened (with the schema brought up to
date when it is writable)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from productops.core.errors import ProductOpsError

SCHEMA_VERSION = "5"

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
    person_id    VARCHAR   NOT NULL,
    id_hash      UBIGINT   NOT NULL,
    person_key   BIGINT    NOT NULL,
    active       BOOLEAN   NOT NULL
);
CREATE TABLE IF NOT EXISTS person_keys (
    person_id  VARCHAR PRIMARY KEY,
    person_key BIGINT  NOT NULL
);
CREATE TABLE IF NOT EXISTS person_key_overrides (
    person_id  VARCHAR PRIMARY KEY,
    person_key BIGINT  NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    distinct_id VARCHAR PRIMARY KEY,
    person_id   VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS event_persons (
    person_id  VARCHAR PRIMARY KEY,
    account_id VARCHAR,
    properties JSON,
    first_seen TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS event_accounts (
    account_id VARCHAR PRIMARY KEY,
    properties JSON,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS app_persons (
    person_id  VARCHAR PRIMARY KEY,
    account_id VARCHAR,
    properties JSON,
    created_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS app_accounts (
    account_id VARCHAR PRIMARY KEY,
    properties JSON,
    created_at TIMESTAMP
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
CREATE TABLE IF NOT EXISTS dirty_days (day DATE NOT NULL);
CREATE TABLE IF NOT EXISTS event_counts (
    day         DATE      NOT NULL,
    event       VARCHAR   NOT NULL,
    source      VARCHAR   NOT NULL,
    quarantined BOOLEAN   NOT NULL,
    n           BIGINT    NOT NULL,
    first_ts    TIMESTAMP,
    last_ts     TIMESTAMP
);
CREATE TABLE IF NOT EXISTS tracking_counts (
    day         DATE      NOT NULL,
    event       VARCHAR   NOT NULL,
    i           INTEGER   NOT NULL,
    k           INTEGER   NOT NULL,
    source      VARCHAR   NOT NULL,
    quarantined BOOLEAN   NOT NULL,
    n           BIGINT    NOT NULL,
    first_ts    TIMESTAMP,
    last_ts     TIMESTAMP,
    example     VARCHAR,
    got         VARCHAR[]
);
CREATE TABLE IF NOT EXISTS quarantine (
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
    person_id    VARCHAR,
    reasons      VARCHAR
);
"""
# `dirty_days` lists the days whose events changed (every write adds the days it touched);
# `event_counts` and `tracking_counts` are per-day counts kept for the tracking plan's report
# and recounted for those days (see tracking/counts.py).
# `persons` and `accounts` are what analyses read: the customers pillar's record
# (`app_persons`, `app_accounts`, mirrored from the app database) merged over the traits that
# identify and group calls sent (`event_persons`, `event_accounts`); see store/customers.py.
# `person_id` is written with each event (its identity as known then) and rewritten when an
# identify or alias links its id to a person, so analyses need no join; the view keeps the
# name every analysis and the SQL console use.
# `person_key` is an integer standing for `person_id` and `active` says whether the event
# counts as activity by the default definition (`ACTIVE_RULE`), both decided when the event is
# written: analyses group people by the integer and filter by the flag instead of grouping
# text ids and comparing event names on every query (weekly retention over 10M events reads
# two narrow columns). The key is the low 63 bits of the id's MD5 (`person_key_sql`), so a
# write computes it without looking anything up; `person_keys` holds every id's key (to turn
# keys back into ids, and to see a clash: the one person in billions whose key another already
# has gets another key, kept in `person_key_overrides`). Both follow every rewrite of
# `person_id` (`rekey`), and a store whose flag was decided by another rule, or whose keys were
# made another way, is brought up to date when opened (`productops_meta`).
# `id_hash` is the low 64 bits of the MD5 of `event_id` (`id_hash_sql`, `id_hashes`): what the
# exactly-once check compares first (8 bytes an event, where the ids themselves are ~36),
# confirmed on `event_id` itself. MD5 because DuckDB and Python compute it alike (the writer
# hashes a batch without asking the store) and it never changes between versions.
VIEWS = """
CREATE OR REPLACE VIEW events_resolved AS
    SELECT * EXCLUDE (id_hash) FROM events;
"""
# Who counts as active by default: every event but the identity bookkeeping ones (identify,
# alias, group calls and PostHog's `$set`): a person who only sends these has done nothing in
# the product. The metric catalog's `active_user` block may change this per workspace; the
# analyses then test the events themselves instead of reading `events.active`.
EXCLUDED_FROM_ACTIVE: tuple[str, ...] = (
    "$identify",
    "$groupidentify",
    "$create_alias",
    "$set",
    "identify",
    "group",
    "alias",
)
EXCLUDED_TYPES: tuple[str, ...] = ("identify", "group", "alias")


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def active_sql(event: str = "event", type_: str = "type") -> str:
    """SQL for `events.active` of a row whose name and type are `event` and `type_`."""
    return (
        f"({event} NOT IN ({_sql_list(EXCLUDED_FROM_ACTIVE)}) "
        f"AND {type_} NOT IN ({_sql_list(EXCLUDED_TYPES)}))"
    )


ACTIVE_RULE = active_sql()
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
# The columns an insert names (`person_key` and `active` are added by `keyed_insert`).
STORED_COLUMNS = (*EVENT_COLUMNS, "person_id", "id_hash")
# Every column of `events`, in order.
ALL_COLUMNS = (*STORED_COLUMNS, "person_key", "active")
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
# An event id is unique for the life of the store. Resends of a batch usually carry the same
# original timestamp (give or take clock skew), so the writer confirms a suspected duplicate
# among the events near the batch's time range first, and reads the whole store only for the
# ids it did not find there (see `EventWriter`).
DEDUP_WINDOW = dt.timedelta(days=2)
# What `id_hash` holds (`productops_meta.id_hash`); a store that says otherwise is rehashed.
ID_HASH_KIND = "md5-low64"


def id_hash_sql(expr: str) -> str:
    """SQL for the `id_hash` of the event id `expr`: the low 64 bits of its MD5."""
    return f"CAST(md5_number({expr}) & CAST(18446744073709551615 AS UHUGEINT) AS UBIGINT)"


def id_hashes(ids: Sequence[str]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The `id_hash` of each id, computed here (as `id_hash_sql` computes it in DuckDB)."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.md5(i.encode(), usedforsecurity=False).digest()[:8], "little")
            for i in ids
        ),
        dtype=np.uint64,
        count=len(ids),
    )


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
    # The id was made from the event's content (it came without one): repeats of it in one
    # batch or file are numbered rather than taken for resends (see `number_copies`).
    derived: bool = False


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
        split = _split_profiles(con)
        con.execute(DDL)
        _add_person_id(con)
        _check_id_hash(con)
        _add_keys(con)
        if split:
            from productops.analytics.store.profiles import rebuild_profiles

            rebuild_profiles(con)
        con.execute(VIEWS)
        con.execute(
            "INSERT INTO productops_meta VALUES ('events_schema', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [SCHEMA_VERSION],
        )
    return con


def _split_profiles(con: duckdb.DuckDBPyConnection) -> bool:
    """Stores of schema 2 kept event traits in `persons` / `accounts`; from schema 3 those are
    `event_persons` / `event_accounts` and the merged tables are rebuilt. True when done."""
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    if "persons" not in tables or "event_persons" in tables:
        return False
    con.execute("ALTER TABLE persons RENAME TO event_persons")
    con.execute("ALTER TABLE accounts RENAME TO event_accounts")
    return True


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


PERSON_KEY_KIND = "md5-low63"


def person_key_sql(expr: str) -> str:
    """SQL for the `person_key` of the person id `expr` (unless `person_key_overrides` gives
    it another): the low 63 bits of its MD5, a non-negative BIGINT."""
    return f"CAST(md5_number({expr}) & CAST(9223372036854775807 AS UHUGEINT) AS BIGINT)"


def _key_of(column: str, overrides: str) -> str:
    return f"COALESCE({overrides}.person_key, {person_key_sql(column)})"


def add_person_keys(
    con: duckdb.DuckDBPyConnection, ids_sql: str, params: Sequence[Any] | None = None
) -> None:
    """Record the key of every `person_id` the query `ids_sql` yields that has none yet (the
    primary key's index finds the known ones), and settle a clash with a key already taken."""
    new = con.execute(
        f"""
        INSERT INTO person_keys
        SELECT person_id, {person_key_sql("person_id")}
        FROM (SELECT DISTINCT person_id FROM ({ids_sql}) WHERE person_id IS NOT NULL)
        ON CONFLICT DO NOTHING
        RETURNING person_id, person_key
        """,
        list(params or []),
    ).fetchall()
    if new:
        _settle_clashes(con, new)


def _settle_clashes(con: duckdb.DuckDBPyConnection, new: list[tuple[str, int]]) -> None:
    """A newly keyed person whose key another person already has gets another key (the MD5 of
    the id with `#1`, `#2` … after it), kept in `person_key_overrides`; the person who had the
    key first keeps it (of two newcomers, the first id in sort order)."""
    clashes = con.execute(
        "SELECT person_key, list(person_id ORDER BY person_id) FROM person_keys "
        "WHERE person_key IN (SELECT unnest(?::BIGINT[])) "
        "GROUP BY person_key HAVING count(*) > 1",
        [[k for _, k in new]],
    ).fetchall()
    newcomers = {pid for pid, _ in new}
    for _key, ids in clashes:
        keeper = next((i for i in ids if i not in newcomers), ids[0])
        for pid in ids:
            if pid == keeper:
                continue
            n = 1
            while True:
                row = con.execute(
                    f"SELECT {person_key_sql('?')} AS k, "
                    "EXISTS (SELECT 1 FROM person_keys WHERE person_key = k)",
                    [f"{pid}#{n}"],
                ).fetchone()
                assert row is not None
                if not row[1]:
                    break
                n += 1
            con.execute("UPDATE person_keys SET person_key = ? WHERE person_id = ?", [row[0], pid])
            con.execute(
                "INSERT INTO person_key_overrides VALUES (?, ?) "
                "ON CONFLICT (person_id) DO UPDATE SET person_key = excluded.person_key",
                [pid, row[0]],
            )
            con.execute("UPDATE events SET person_key = ? WHERE person_id = ?", [row[0], pid])


def keyed_insert(
    con: duckdb.DuckDBPyConnection,
    select_sql: str,
    people_sql: str | None,
    returning: str = "",
    order_by: str = "",
) -> str:
    """The `INSERT INTO events` of the rows `select_sql` yields (its columns named as
    `STORED_COLUMNS`, in that order, and maybe more), with their `person_key` and `active`,
    stored in the order of `order_by` (a column of those rows) when given. The people
    `people_sql` yields (a `person_id` column, no parameters; at least those of the rows) get
    their keys first (None: the caller saw to it). Returns the statement (run it with
    `select_sql`'s parameters)."""
    if people_sql is not None:
        add_person_keys(con, people_sql)
    cols = ", ".join(f"s.{c}" for c in STORED_COLUMNS)
    return f"""
    INSERT INTO events ({", ".join(ALL_COLUMNS)})
    SELECT {cols}, {_key_of("s.person_id", "o")}, {active_sql("s.event", "s.type")}
    FROM ({select_sql}) AS s LEFT JOIN person_key_overrides o ON o.person_id = s.person_id
    {f"ORDER BY s.{order_by}" if order_by else ""}
    {returning}
    """


def rekey(con: duckdb.DuckDBPyConnection, where: str, params: Sequence[Any] | None = None) -> None:
    """After `person_id` was rewritten on the events matching `where`: their `person_key`
    follows (new people get a key)."""
    add_person_keys(con, f"SELECT person_id FROM events WHERE {where}", params)
    key = person_key_sql("person_id")
    con.execute(
        f"UPDATE events SET person_key = {key} "
        f"WHERE person_key IS DISTINCT FROM {key} AND ({where})",
        list(params or []),
    )
    con.execute(
        f"""
        UPDATE events SET person_key = o.person_key FROM person_key_overrides o
        WHERE o.person_id = events.person_id AND ({where})
        """,
        list(params or []),
    )


def derive_all(con: duckdb.DuckDBPyConnection) -> None:
    """Decide `person_key` and `active` again for every event: after rows were written by
    hand (tests, generated benchmark data) with placeholders in those columns."""
    rekey(con, "true")
    con.execute(f"UPDATE events SET active = {ACTIVE_RULE}")


def _add_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Give stores made before `person_key` and `active` existed the columns, and decide the
    flag again when it was decided by another rule."""
    columns = {r[0] for r in con.execute("DESCRIBE events").fetchall()}
    kind = con.execute("SELECT value FROM productops_meta WHERE key = 'person_key'").fetchone()
    if "person_key" not in columns:
        con.execute("ALTER TABLE events ADD COLUMN person_key BIGINT")
    if "person_key" not in columns or kind != (PERSON_KEY_KIND,):
        con.execute("DELETE FROM person_keys")
        con.execute("DELETE FROM person_key_overrides")
        rekey(con, "true")
        con.execute(
            "INSERT INTO productops_meta VALUES ('person_key', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [PERSON_KEY_KIND],
        )
    if "person_key" not in columns:
        con.execute("ALTER TABLE events ALTER COLUMN person_key SET NOT NULL")
    if "active" not in columns:
        con.execute("ALTER TABLE events ADD COLUMN active BOOLEAN")
    rule = con.execute("SELECT value FROM productops_meta WHERE key = 'active_rule'").fetchone()
    if rule != (ACTIVE_RULE,):
        con.execute(f"UPDATE events SET active = {ACTIVE_RULE}")
        con.execute(
            "INSERT INTO productops_meta VALUES ('active_rule', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [ACTIVE_RULE],
        )
    if "active" not in columns:
        con.execute("ALTER TABLE events ALTER COLUMN active SET NOT NULL")


def _check_id_hash(con: duckdb.DuckDBPyConnection) -> None:
    """Give stores made before `events.id_hash` the column, and rehash a store whose
    `id_hash` was computed another way."""
    columns = {r[0] for r in con.execute("DESCRIBE events").fetchall()}
    kind = con.execute("SELECT value FROM productops_meta WHERE key = 'id_hash'").fetchone()
    if "id_hash" not in columns:
        con.execute("ALTER TABLE events ADD COLUMN id_hash UBIGINT")
        con.execute(f"UPDATE events SET id_hash = {id_hash_sql('event_id')}")
        con.execute("ALTER TABLE events ALTER COLUMN id_hash SET NOT NULL")
    elif kind != (ID_HASH_KIND,) and con.execute("SELECT count(*) FROM events").fetchone() != (0,):
        con.execute(f"UPDATE events SET id_hash = {id_hash_sql('event_id')}")
    if kind != (ID_HASH_KIND,):
        con.execute("DELETE FROM productops_meta WHERE key = 'id_hash_probe'")
        con.execute(
            "INSERT INTO productops_meta VALUES ('id_hash', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [ID_HASH_KIND],
        )


def number_copies(events: list[Event]) -> list[Event]:
    """The second, third … event with the same derived id (an identical event sent without
    an id) numbered `#2`, `#3` …: two identical clicks are two events, while sending the same
    batch again still adds nothing. Ids the sender chose are left alone (a repeat of one is a
    resend)."""
    seen: dict[str, int] = {}
    out: list[Event] = []
    for e in events:
        if e.derived:
            copy = seen.get(e.event_id, 0) + 1
            seen[e.event_id] = copy
            if copy > 1:
                e = replace(e, event_id=f"{e.event_id}#{copy}")
        out.append(e)
    return out
