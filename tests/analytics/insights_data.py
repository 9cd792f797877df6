"""Generated events with planted answers, for the insights-depth tests: the parity test's
synthetic months (random, seeded: compared with hand-written SQL) plus a planted story whose
numbers are known by construction.

The planted story (all in May 2024, END = May 31):
- `planted-0` … `planted-4` do `report_shared` 1, 2, 3, 4 and 5 times between May 20 and
  May 29, so "did report_shared at least 3 times in the last 30 days" is exactly planted-2,
  -3, -4; they belong to account `acct-planted` (plan `planted`), country `XX`.
- `planted-5` did `report_shared` once on March 3 only: the first time ever in March.
- the path after `tour_started` for the planted people: planted-0..3 go
  tour_started → tour_step → tour_done, planted-4 goes tour_started → tour_skipped.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from productops.analytics import store
from tests.analytics.test_spark_parity import END, START, synthetic_events

PLANTED = [f"planted-{i}" for i in range(6)]


def planted_events() -> tuple[list[store.Event], list[store.IdentityUpdate]]:
    events: list[store.Event] = []
    ids: list[store.IdentityUpdate] = [
        store.IdentityUpdate("group", account_id="acct-planted", traits={"plan": "planted"})
    ]

    def add(name: str, person: str, at: dt.datetime) -> None:
        events.append(
            store.Event(
                event_id=f"pl-{len(events)}",
                event=name,
                type="track",
                ts=at,
                received_at=at,
                distinct_id=person,
                user_id=person,
                account_id="acct-planted",
                source="planted",
                properties={"$browser": "Planted"},
            )
        )

    for i in range(5):
        for k in range(i + 1):
            add("report_shared", PLANTED[i], dt.datetime(2024, 5, 20 + k, 10, i))
        start = dt.datetime(2024, 5, 10, 9, i)
        add("tour_started", PLANTED[i], start)
        if i < 4:
            add("tour_step", PLANTED[i], start + dt.timedelta(minutes=1))
            add("tour_done", PLANTED[i], start + dt.timedelta(minutes=2))
        else:
            add("tour_skipped", PLANTED[i], start + dt.timedelta(minutes=1))
    add("report_shared", PLANTED[5], dt.datetime(2024, 3, 3, 12))
    for p in PLANTED:
        ids.append(
            store.IdentityUpdate(
                "identify", p, p, account_id="acct-planted", traits={"country": "XX"}
            )
        )
    return events, ids


def write_store(path: Path) -> None:
    events, ids = synthetic_events()
    more, more_ids = planted_events()
    con = store.connect(path)
    try:
        store.append_arrow(con, store.events_to_arrow(events + more))
        for update in ids + more_ids:
            store.apply_identity(con, update)
    finally:
        con.close()


__all__ = ["END", "PLANTED", "START", "write_store"]
