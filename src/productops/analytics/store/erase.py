"""Erasing a person from the event store, and reading everything it holds on them (a GDPR
access request).

A person is known to the store by ids: their user id (the customers' external id) and every
distinct or anonymous id that identify/alias calls linked to it (`identities`). Erasing
deletes their events and quarantined events, those links, their profiles (`persons`,
`event_persons`, `app_persons`), and replaces their email and name where other rows still
carry them (other people's event properties, the tracking report's example values). It runs
in one transaction through `write_through`, so it works beside a running server: the
writer's in-memory id index reloads by itself because the number of events changed. The days
whose events went are marked for recounting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from productops.analytics.store.writer import mark_dirty, reader, write_through

ERASED = "[erased]"
_PROFILE_TABLES = (
    "persons",
    "event_persons",
    "app_persons",
    "person_keys",
    "person_key_overrides",
)


@dataclass(frozen=True)
class ErasedEvents:
    """What the store no longer holds on the person."""

    ids: list[str]
    events: int
    quarantined: int
    identities: int
    profiles: int
    scrubbed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_ids_known": len(self.ids),
            "events": self.events,
            "quarantined": self.quarantined,
            "identities": self.identities,
            "profiles": self.profiles,
            "rows_scrubbed": self.scrubbed,
        }


def _all_ids(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> list[str]:
    """`ids` and every distinct id linked to them (either way round) in `identities`."""
    known = {i for i in ids if i}
    if not known:
        return []
    rows = con.execute(
        "SELECT distinct_id, person_id FROM identities "
        "WHERE person_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR distinct_id IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(known), sorted(known)],
    ).fetchall()
    for distinct_id, person_id in rows:
        known.update((distinct_id, person_id))
    return sorted(known)


_IDS = "(SELECT id FROM _erase_ids)"


def _who() -> str:
    cols = ("person_id", "distinct_id", "user_id", "anonymous_id")
    return " OR ".join(f"{c} IN {_IDS}" for c in cols)


def _load_ids(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _erase_ids AS SELECT unnest(?::VARCHAR[]) AS id", [list(ids)]
    )


def erase_person_events(path: Path, ids: Sequence[str], strings: Sequence[str]) -> ErasedEvents:
    """Remove everything the event store at `path` holds on the person with `ids`, and
    replace `strings` (their email, name) wherever other rows carry them. Idempotent."""
    path = Path(path)
    result: dict[str, Any] = {}
    needles = sorted({s for s in strings if s and len(s) >= 3})
    escaped = sorted({json.dumps(s)[1:-1] for s in needles} | set(needles))

    def erase(con: duckdb.DuckDBPyConnection) -> None:
        every = _all_ids(con, ids)
        result["ids"] = every
        counts = {"events": 0, "quarantined": 0, "identities": 0, "profiles": 0, "scrubbed": 0}
        if every:
            _load_ids(con, every)
            mark_dirty(con, f"(SELECT ts FROM events WHERE {_who()})")
            counts["events"] = _count_delete(con, "events", _who())
            counts["quarantined"] = _count_delete(con, "quarantine", _who())
            counts["identities"] = _count_delete(
                con, "identities", f"person_id IN {_IDS} OR distinct_id IN {_IDS}"
            )
            for table in _PROFILE_TABLES:
                counts["profiles"] += _count_delete(con, table, f"person_id IN {_IDS}")
            con.execute("DROP TABLE IF EXISTS _erase_ids")
        for needle in escaped:
            counts["scrubbed"] += _scrub(con, needle)
        result.update(counts)

    write_through(path, erase)
    return ErasedEvents(
        ids=result.get("ids", []),
        events=result.get("events", 0),
        quarantined=result.get("quarantined", 0),
        identities=result.get("identities", 0),
        profiles=result.get("profiles", 0),
        scrubbed=result.get("scrubbed", 0),
    )


def _count_delete(con: duckdb.DuckDBPyConnection, table: str, where: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    n = int(row[0]) if row else 0
    if n:
        con.execute(f"DELETE FROM {table} WHERE {where}")
    return n


def _scrub(con: duckdb.DuckDBPyConnection, needle: str) -> int:
    """Replace `needle` (any case) in the JSON properties of events, quarantined events and
    profiles, and drop tracking-report examples that show it."""
    changed = 0
    like = {"n": f"%{needle.lower()}%", "needle": needle}
    for table in ("events", "quarantine", "persons", "event_persons", "app_persons"):
        where = "lower(CAST(properties AS VARCHAR)) LIKE $n"
        row = con.execute(
            f"SELECT count(*) FROM {table} WHERE {where}", {"n": like["n"]}
        ).fetchone()
        n = int(row[0]) if row else 0
        if n:
            con.execute(
                f"UPDATE {table} SET properties = CAST(regexp_replace(CAST(properties AS VARCHAR), "
                f"$pattern, $erased, 'gi') AS JSON) WHERE {where}",
                {"n": like["n"], "pattern": _regex(needle), "erased": ERASED},
            )
            changed += n
    row = con.execute(
        "SELECT count(*) FROM tracking_counts WHERE lower(example) LIKE $n "
        "OR lower(CAST(got AS VARCHAR)) LIKE $n",
        {"n": like["n"]},
    ).fetchone()
    n = int(row[0]) if row else 0
    if n:
        con.execute(
            "UPDATE tracking_counts SET example = NULL, got = NULL WHERE lower(example) LIKE $n "
            "OR lower(CAST(got AS VARCHAR)) LIKE $n",
            {"n": like["n"]},
        )
        changed += n
    return changed


def _regex(needle: str) -> str:
    return re.escape(needle)


def person_events(path: Path, ids: Sequence[str], limit: int = 100_000) -> list[dict[str, Any]]:
    """Every event (and quarantined event) the store holds on the person with `ids`, oldest
    first, at most `limit`: for an access request."""
    path = Path(path)
    if not path.exists():
        return []
    with reader(path) as con:
        every = _all_ids(con, ids)
        if not every:
            return []
        rows = []
        who = " OR ".join(
            f"{c} IN (SELECT unnest($ids))"
            for c in ("person_id", "distinct_id", "user_id", "anonymous_id")
        )
        for table in ("events", "quarantine"):
            cur = con.execute(
                f"SELECT event_id, event, type, ts, distinct_id, user_id, anonymous_id, "
                f"account_id, source, CAST(properties AS VARCHAR) FROM {table} "
                f"WHERE {who} ORDER BY ts LIMIT $limit",
                {"ids": every, "limit": limit},
            )
            for r in cur.fetchall():
                rows.append(
                    {
                        "table": table,
                        "event_id": r[0],
                        "event": r[1],
                        "type": r[2],
                        "ts": r[3].isoformat() if r[3] else None,
                        "distinct_id": r[4],
                        "user_id": r[5],
                        "anonymous_id": r[6],
                        "account_id": r[7],
                        "source": r[8],
                        "properties": json.loads(r[9]) if r[9] else None,
                    }
                )
        return rows[:limit]
