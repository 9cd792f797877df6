"""The event store: DuckDB in the workspace (embedded default).

Tables (the SQL console and every analysis see the same names):

- `events`: one row per event, each `event_id` (Segment `messageId`, PostHog `uuid`) stored
  once for the life of the store. `ts` is UTC event time after clock-skew correction;
  `distinct_id` is the user id when known, else the anonymous id.
- `identities`: `distinct_id` → `person_id`, written by identify/alias, so an anonymous visit
  and the sign-up after it count as one person (retroactively, at query time).
- `persons`, `accounts`: profiles with `properties` (traits) used as dimensions.
- `person_keys`: `person_id` → `person_key`, the integer analyses group people by;
  `events.person_key` and `events.active` (the default activity rule) are decided when an
  event is written and follow identity merges.
- view `events_resolved`: `events` without its dedup hash.

DuckDB has one writer process: the process that serves the workspace owns the file and
batches appends (see `EventWriter`); other processes open it read-only.
"""

from productops.analytics.store.customers import follow_customers
from productops.analytics.store.identities import (
    apply_identity,
    upsert_account,
    upsert_person,
)
from productops.analytics.store.profiles import (
    rebuild_profiles,
    refresh_account,
    refresh_person,
)
from productops.analytics.store.schema import (
    ACTIVE_RULE,
    ALL_COLUMNS,
    ARROW_SCHEMA,
    DDL,
    DEDUP_WINDOW,
    EVENT_COLUMNS,
    EXCLUDED_FROM_ACTIVE,
    EXCLUDED_TYPES,
    NO_EXTERNAL_ACCESS,
    READ_ONLY_CONFIG,
    SCHEMA,
    SCHEMA_VERSION,
    STORED_COLUMNS,
    VIEWS,
    AppendResult,
    Event,
    EventStoreError,
    IdentityUpdate,
    active_sql,
    add_person_keys,
    connect,
    derive_all,
    id_hash_sql,
    id_hashes,
    keyed_insert,
    number_copies,
    person_key_sql,
    rekey,
)
from productops.analytics.store.writer import (
    AlsoInTransaction,
    Appended,
    EventWriter,
    IdIndex,
    append_arrow,
    append_arrow_ids,
    bulk,
    close_writer,
    connect_owner,
    events_to_arrow,
    has_writer,
    import_dir,
    iter_chunks,
    mark_dirty,
    reader,
    write_through,
    writer_for,
)

__all__ = [
    "ACTIVE_RULE",
    "ALL_COLUMNS",
    "ARROW_SCHEMA",
    "DDL",
    "DEDUP_WINDOW",
    "EVENT_COLUMNS",
    "EXCLUDED_FROM_ACTIVE",
    "EXCLUDED_TYPES",
    "NO_EXTERNAL_ACCESS",
    "READ_ONLY_CONFIG",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STORED_COLUMNS",
    "VIEWS",
    "AlsoInTransaction",
    "AppendResult",
    "Appended",
    "Event",
    "EventStoreError",
    "EventWriter",
    "IdIndex",
    "IdentityUpdate",
    "active_sql",
    "add_person_keys",
    "append_arrow",
    "append_arrow_ids",
    "apply_identity",
    "bulk",
    "close_writer",
    "connect",
    "connect_owner",
    "derive_all",
    "events_to_arrow",
    "follow_customers",
    "has_writer",
    "id_hash_sql",
    "id_hashes",
    "import_dir",
    "iter_chunks",
    "keyed_insert",
    "mark_dirty",
    "number_copies",
    "person_key_sql",
    "reader",
    "rebuild_profiles",
    "refresh_account",
    "refresh_person",
    "rekey",
    "upsert_account",
    "upsert_person",
    "write_through",
    "writer_for",
]
