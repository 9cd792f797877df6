"""Merged profiles: `persons` and `accounts` are the customers pillar's record
(`app_persons`, `app_accounts`) merged over the traits identify and group calls sent
(`event_persons`, `event_accounts`), the record winning (see `customers.py`)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import pyarrow as pa

META_KEY = "customers_version"

_MERGE_PERSONS = """
INSERT INTO persons
SELECT COALESCE(a.person_id, e.person_id),
       COALESCE(a.account_id, e.account_id),
       CASE WHEN a.person_id IS NULL THEN e.properties
            WHEN e.person_id IS NULL THEN a.properties
            ELSE json_merge_patch(COALESCE(e.properties, '{{}}'), a.properties) END,
       least(e.first_seen, a.created_at),
       now()::TIMESTAMP
FROM app_persons a FULL OUTER JOIN event_persons e ON a.person_id = e.person_id
{where}
"""
_MERGE_ACCOUNTS = """
INSERT INTO accounts
SELECT COALESCE(a.account_id, e.account_id),
       CASE WHEN a.account_id IS NULL THEN e.properties
            WHEN e.account_id IS NULL THEN a.properties
            ELSE json_merge_patch(COALESCE(e.properties, '{{}}'), a.properties) END,
       now()::TIMESTAMP
FROM app_accounts a FULL OUTER JOIN event_accounts e ON a.account_id = e.account_id
{where}
"""


def rebuild_profiles(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every merged `persons` and `accounts` row."""
    con.execute("DELETE FROM persons")
    con.execute(_MERGE_PERSONS.format(where=""))
    con.execute("DELETE FROM accounts")
    con.execute(_MERGE_ACCOUNTS.format(where=""))


def refresh_person(con: duckdb.DuckDBPyConnection, person_id: str) -> None:
    """Recompute one merged `persons` row (after an identify call)."""
    con.execute("DELETE FROM persons WHERE person_id = ?", [person_id])
    con.execute(
        _MERGE_PERSONS.format(where="WHERE COALESCE(a.person_id, e.person_id) = $1"), [person_id]
    )


def refresh_account(con: duckdb.DuckDBPyConnection, account_id: str) -> None:
    """Recompute one merged `accounts` row (after a group call)."""
    con.execute("DELETE FROM accounts WHERE account_id = ?", [account_id])
    con.execute(
        _MERGE_ACCOUNTS.format(where="WHERE COALESCE(a.account_id, e.account_id) = $1"),
        [account_id],
    )


def _naive(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def mirror(
    con: duckdb.DuckDBPyConnection,
    accounts: list[dict[str, Any]],
    people: list[dict[str, Any]],
    version: str,
) -> None:
    """Replace the mirror with these records and rebuild the merged tables (in the caller's
    transaction)."""
    acct = pa.table(
        {
            "account_id": [a["external_id"] for a in accounts],
            "properties": [json.dumps(a["properties"], default=str) for a in accounts],
            "created_at": pa.array([_naive(a["created_at"]) for a in accounts], pa.timestamp("us")),
        }
    )
    ppl = pa.table(
        {
            "person_id": [p["external_id"] for p in people],
            "account_id": pa.array([p["account_external_id"] for p in people], pa.string()),
            "properties": [json.dumps(p["properties"], default=str) for p in people],
            "created_at": pa.array([_naive(p["created_at"]) for p in people], pa.timestamp("us")),
        }
    )
    con.register("mirror_accounts", acct)
    con.register("mirror_people", ppl)
    try:
        con.execute("DELETE FROM app_accounts")
        con.execute(
            "INSERT INTO app_accounts SELECT account_id, properties::JSON, created_at "
            "FROM mirror_accounts"
        )
        con.execute("DELETE FROM app_persons")
        con.execute(
            "INSERT INTO app_persons SELECT person_id, account_id, properties::JSON, created_at "
            "FROM mirror_people"
        )
    finally:
        con.unregister("mirror_accounts")
        con.unregister("mirror_people")
    rebuild_profiles(con)
    con.execute(
        "INSERT INTO productops_meta VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [META_KEY, version],
    )


def mirrored_version(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("SELECT value FROM productops_meta WHERE key = ?", [META_KEY]).fetchone()
    return str(row[0]) if row else None
