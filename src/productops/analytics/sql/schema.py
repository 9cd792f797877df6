"""What the SQL page shows beside the editor: the console's tables, their columns and types
(read from the store itself), what each column means, the event names and property keys the
store holds most, and a few example queries to start from."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from productops.analytics import store
from productops.analytics.query.source import event_names, event_summary
from productops.analytics.settings import events_file
from productops.analytics.sql.service import QUERYABLE_TABLES

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

# docs/sql.md, "Tables", in a line each.
COLUMN_NOTES: dict[str, dict[str, str]] = {
    "events": {
        "event_id": "unique id (messageId / uuid)",
        "event": "event name",
        "type": "track, page, identify…",
        "ts": "when it happened (UTC)",
        "received_at": "when it arrived (UTC)",
        "distinct_id": "user id, else anonymous id",
        "user_id": "user id sent",
        "anonymous_id": "anonymous id sent",
        "account_id": "account (groupId) named",
        "source": "protocol or import",
        "properties": "JSON: properties->>'key'",
        "person_id": "the person after identity merges",
        "id_hash": "MD5 low 64 bits of event_id",
        "person_key": "an integer standing for person_id (fast to group by)",
        "active": "counts as activity (not an identify/alias/group/$set call)",
    },
    "events_resolved": {"person_id": "never NULL: count people here"},
    "persons": {
        "person_id": "the person (user id)",
        "account_id": "their account",
        "properties": "JSON traits: properties->>'country'",
        "first_seen": "first identify/group call",
        "updated_at": "last change",
    },
    "accounts": {
        "account_id": "the account (group key)",
        "properties": "JSON traits: properties->>'plan'",
        "updated_at": "last change",
    },
}
TABLE_NOTES = {
    "events": "one row per event",
    "events_resolved": "events with person_id filled in",
    "persons": "people and their traits",
    "accounts": "accounts and their traits",
}
EXAMPLES: dict[str, str] = {
    "Events by name": (
        "SELECT event, count(*) AS events, count(DISTINCT person_id) AS people\n"
        "FROM events_resolved\nGROUP BY ALL\nORDER BY events DESC\nLIMIT 20"
    ),
    "Weekly active people": (
        "SELECT date_trunc('week', ts)::DATE AS week, count(DISTINCT person_id) AS active\n"
        "FROM events_resolved\nWHERE type = 'track'\nGROUP BY ALL\nORDER BY week"
    ),
    "Active people by plan, weekly": (
        "SELECT date_trunc('week', e.ts)::DATE AS week,\n"
        "       a.properties->>'plan' AS plan,\n"
        "       count(DISTINCT e.person_id) AS active\n"
        "FROM events_resolved e\n"
        "LEFT JOIN persons p USING (person_id)\n"
        "LEFT JOIN accounts a ON a.account_id = COALESCE(e.account_id, p.account_id)\n"
        "WHERE e.type = 'track'\nGROUP BY ALL\nORDER BY week, plan"
    ),
    "People per country": (
        "SELECT properties->>'country' AS country, count(*) AS people\n"
        "FROM persons\nGROUP BY ALL\nORDER BY people DESC"
    ),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    note: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    note: str
    columns: list[Column] = field(default_factory=list)


@dataclass(frozen=True)
class Schema:
    tables: list[Table]
    events: list[str]
    property_keys: list[tuple[str, str]]  # (key, the SQL that reads it from `properties`)


def property_expression(key: str) -> str:
    """`properties->>'plan'`; a key with `$`, dots, brackets or quotes as a quoted JSON path."""
    if key.replace("_", "").isalnum() and not key[:1].isdigit():
        return f"properties->>'{key}'"
    quoted = key.replace("\\", "\\\\").replace('"', '\\"').replace("'", "''")
    return f"properties->>'$.\"{quoted}\"'"


def _columns(con: object, table: str) -> list[Column]:
    rows = con.execute(  # type: ignore[attr-defined]
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    notes = {**COLUMN_NOTES.get("events", {}), **COLUMN_NOTES.get(table, {})}
    if table in ("persons", "accounts"):
        notes = COLUMN_NOTES[table]
    return [Column(str(n), str(t), notes.get(str(n), "")) for n, t in rows]


_CACHE: dict[str, tuple[object, Schema]] = {}
_LOCK = threading.Lock()


def console_schema(ws: Workspace, names: int = 50, keys: int = 50) -> Schema:
    """The console's tables with their columns and types, the `names` most sent events and
    the `keys` most used event property keys (from the latest 20,000 events); kept until new
    events arrive."""
    path = events_file(ws)
    version = (event_summary(ws).version, names, keys)
    with _LOCK:
        hit = _CACHE.get(str(path.resolve()))
    if hit is not None and hit[0] == version:
        return hit[1]
    schema = _read_schema(ws, names, keys)
    with _LOCK:
        _CACHE[str(path.resolve())] = (version, schema)
    return schema


def _read_schema(ws: Workspace, names: int, keys: int) -> Schema:
    path = events_file(ws)
    tables = [Table(t, TABLE_NOTES[t]) for t in QUERYABLE_TABLES]
    if not path.exists():
        return Schema(tables, [], [])
    with store.reader(path) as con:
        present = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        tables = [
            Table(t.name, t.note, _columns(con, t.name) if t.name in present else [])
            for t in tables
        ]
        if "events" not in present:
            return Schema(tables, [], [])
        found = con.execute(
            "SELECT k, count(*) AS n FROM (SELECT unnest(json_keys(properties)) AS k FROM "
            "(SELECT properties FROM events ORDER BY received_at DESC LIMIT 20000)) "
            "GROUP BY k ORDER BY n DESC, k LIMIT ?",
            [keys],
        ).fetchall()
    return Schema(
        tables,
        list(event_names(ws))[:names],
        [(str(r[0]), property_expression(str(r[0]))) for r in found],
    )
