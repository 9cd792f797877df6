"""The event store follows the customers pillar: accounts and people have one source of
truth, the app database.

Three pairs of tables (see docs/metrics.md, "Accounts and people"):

- `app_accounts` / `app_persons`: a mirror of the customers pillar's records, keyed by their
  external ids (an account's `external_id` is the `groupId` events carry, a person's the
  `userId`), replaced whenever the customers' version changes;
- `event_accounts` / `event_persons`: the traits that group and identify calls sent;
- `accounts` / `persons`: what analyses read, the two merged with this precedence: **the
  record wins**. For a key both have (say `plan`), the app database's value is used; traits
  only events know are kept; a person's account is their record's account, else the one
  their group calls named.

`follow_customers(ws)` brings the mirror up to date when the customers changed; every
analysis calls it (through `event_source`) before it reads, so a changed plan shows in the
next chart without anyone copying anything.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from productops.analytics.store.profiles import mirror, mirrored_version

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

log = logging.getLogger(__name__)

# The version each store was last brought to in this process, so the common case (nothing
# changed) costs one small query on the app database and none on the event store.
_FOLLOWED: dict[Path, str] = {}
_FOLLOW_LOCK = threading.Lock()


def customers_version(ws: Workspace) -> str:
    """The customers' current version, as text."""
    from productops import customers

    with ws.sessions() as s:
        return json.dumps(customers.version(s), default=str)


def follow_customers(ws: Workspace) -> bool:
    """Bring the event store's mirror of accounts and people up to date; True when it
    changed. Runs in the process that owns the store (or that can open it); elsewhere it
    leaves the work to the owner."""
    from productops import customers
    from productops.analytics.settings import events_file
    from productops.analytics.store.schema import EventStoreError
    from productops.analytics.store.writer import write_through

    path = events_file(ws).resolve()
    if not path.exists():
        return False
    version = customers_version(ws)
    with _FOLLOW_LOCK:
        if _FOLLOWED.get(path) == version:
            return False

        def apply(con: duckdb.DuckDBPyConnection) -> None:
            if mirrored_version(con) == version:
                return
            with ws.sessions() as s:
                profiles = customers.profiles(s)
            mirror(con, profiles.accounts, profiles.people, version)

        try:
            write_through(path, apply)
        except (EventStoreError, duckdb.Error) as exc:
            # Another process owns the store (it follows the customers itself), or this one
            # holds it read-only right now: answer from the mirror as it is.
            log.debug("customers not mirrored into %s now: %s", path, exc)
            return False
        _FOLLOWED[path] = version
        return True


def forget(path: Path) -> None:
    """Drop what this process remembers of a store (it was replaced or removed)."""
    with _FOLLOW_LOCK:
        _FOLLOWED.pop(path.resolve(), None)
