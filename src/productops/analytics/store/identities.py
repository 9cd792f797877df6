"""Identity merging and profiles in the event store: identify / alias link anonymous ids to
people (rewriting `events.person_id`); identify / group traits update `event_persons` and
`event_accounts`, and the merged `persons` / `accounts` rows follow."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb

from productops.analytics.store.profiles import refresh_account, refresh_person
from productops.analytics.store.schema import IdentityUpdate, rekey
from productops.core.clock import naive_utc, utcnow


def apply_identity(con: duckdb.DuckDBPyConnection, update: IdentityUpdate) -> None:
    """Merge anonymous ids into people, and update person and account traits."""
    now = update.at or naive_utc(utcnow())
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
            rekey(con, "distinct_id = ?", [distinct_id])
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
        INSERT INTO event_persons VALUES (?, ?, ?::JSON, ?, ?)
        ON CONFLICT (person_id) DO UPDATE SET
            account_id = COALESCE(excluded.account_id, event_persons.account_id),
            properties = json_merge_patch(COALESCE(event_persons.properties, '{}'),
                                          excluded.properties),
            first_seen = LEAST(event_persons.first_seen, excluded.first_seen),
            updated_at = excluded.updated_at
        """,
        [person_id, account_id, json.dumps(traits, default=str), now, now],
    )
    refresh_person(con, person_id)


def upsert_account(
    con: duckdb.DuckDBPyConnection, account_id: str, traits: dict[str, Any], now: dt.datetime
) -> None:
    con.execute(
        """
        INSERT INTO event_accounts VALUES (?, ?::JSON, ?)
        ON CONFLICT (account_id) DO UPDATE SET
            properties = json_merge_patch(COALESCE(event_accounts.properties, '{}'),
                                          excluded.properties),
            updated_at = excluded.updated_at
        """,
        [account_id, json.dumps(traits, default=str), now],
    )
    refresh_account(con, account_id)
