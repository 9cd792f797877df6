"""An event id is stored once for the life of the store — over HTTP and through imports alike,
however far apart in time the copies come — while two identical events sent without an id
stay two events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from fastapi.testclient import TestClient

from productops.analytics import store
from productops.analytics.ingest.bulk import import_events
from productops.analytics.settings import events_file
from productops.core.workspace import Workspace
from tests.analytics.ingest_support import basic, close_store, count, ingest_app, rows
from tests.conftest import api_key


class Api:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.key = api_key(ws, "ingest")
        self.client = TestClient(ingest_app(ws))

    def segment(self, *messages: dict[str, Any], sent_at: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"batch": list(messages)}
        if sent_at is not None:
            body["sentAt"] = sent_at
        r = self.client.post("/v1/batch", json=body, headers=basic(self.key))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def posthog(self, *events: dict[str, Any]) -> dict[str, Any]:
        r = self.client.post("/batch/", json={"api_key": self.key, "batch": list(events)})
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def api(sqlite_workspace: Workspace) -> Iterator[Api]:
    yield Api(sqlite_workspace)
    close_store(sqlite_workspace)


def track(message_id: str | None, timestamp: str, **extra: Any) -> dict[str, Any]:
    msg = {
        "type": "track",
        "event": "Report Exported",
        "userId": "ana",
        "timestamp": timestamp,
        "properties": {"format": "csv"},
        **extra,
    }
    if message_id is not None:
        msg["messageId"] = message_id
    return msg


# --- over HTTP -----------------------------------------------------------------------------


def test_the_same_segment_message_id_months_apart_is_stored_once(api: Api) -> None:
    first = api.segment(track("m-1", "2025-01-05T10:00:00Z"))
    # months of other events in between, then a resend with a timestamp far from the first
    api.segment(*(track(f"fill-{i}", f"2025-03-{1 + i % 28:02d}T10:00:00Z") for i in range(50)))
    again = api.segment(track("m-1", "2025-06-20T10:00:00Z"))
    assert (first["stored"], again["stored"], again["duplicates"]) == (1, 0, 1)
    assert count(api.ws, "event_id = 'm-1'") == 1


def test_the_same_posthog_uuid_two_months_later_is_stored_once(api: Api) -> None:
    event_uuid = str(uuid.uuid4())
    event = {"event": "$pageview", "distinct_id": "ben", "uuid": event_uuid, "properties": {}}
    first = api.posthog(event | {"timestamp": "2025-02-01T09:00:00Z"})
    again = api.posthog(event | {"timestamp": "2025-04-01T09:00:00Z"})
    assert (first["stored"], again["stored"]) == (1, 0)
    assert count(api.ws, "event_id = ?", [event_uuid]) == 1


def test_a_segment_message_sent_again_three_days_later_is_stored_once(api: Api) -> None:
    # Clock-skew correction moves the event's time by the gap between the two sentAt values.
    message = track("m-skew", "2025-03-01T12:00:00Z")
    message["originalTimestamp"] = message.pop("timestamp")
    first = api.segment(message, sent_at="2025-03-01T12:00:05Z")
    again = api.segment(message, sent_at="2025-03-04T12:00:05Z")
    assert (first["stored"], again["stored"]) == (1, 0)
    times = rows(api.ws, "SELECT ts FROM events WHERE event_id = 'm-skew'")
    assert len(times) == 1


def test_two_identical_events_without_an_id_in_one_batch_stay_two(api: Api) -> None:
    click = track(None, "2025-03-01T12:00:00Z")
    first = api.segment(click, click, track(None, "2025-03-01T12:00:01Z"))
    assert first["stored"] == 3
    # the client retries the whole batch: nothing new
    again = api.segment(click, click, track(None, "2025-03-01T12:00:01Z"))
    assert (again["stored"], again["duplicates"]) == (0, 3)
    ids = [r[0] for r in rows(api.ws, "SELECT event_id FROM events ORDER BY event_id")]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert sum(i.endswith("#2") for i in ids) == 1


def test_ids_stored_by_an_import_are_known_to_the_serving_writer(api: Api, tmp_path: Path) -> None:
    api.segment(track("warm", "2025-01-01T00:00:00Z"))  # the writer and its index exist
    # the serving process reads files only from its import folder
    path = store.import_dir(events_file(api.ws)) / "old.csv"
    path.write_text("event,timestamp,user_id,event_id\nold,2024-06-01,ana,from-file\n")
    assert import_events(api.ws, path).stored == 1  # another connection of this process
    again = api.segment(track("from-file", "2025-06-01T00:00:00Z"))
    assert (again["stored"], again["duplicates"]) == (0, 1)
    assert count(api.ws, "event_id = 'from-file'") == 1


def test_a_hash_match_alone_does_not_drop_a_new_event(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index only points at ids to look up: an id whose hash it holds (as a colliding
    one would) is still stored when the store does not hold the id itself."""
    api.segment(track("before", "2025-01-01T00:00:00Z"))

    def everything_known(self: store.IdIndex, con: Any, hashes: Any) -> Any:
        return np.ones(len(hashes), dtype=bool)

    monkeypatch.setattr(store.IdIndex, "contains", everything_known)
    got = api.segment(
        track("before", "2025-01-01T00:00:00Z"), track("brand-new", "2025-09-01T00:00:00Z")
    )
    assert (got["stored"], got["duplicates"]) == (1, 1)
    assert count(api.ws) == 2


# --- imports ------------------------------------------------------------------------------


def stored_rows(ws: Workspace) -> int:
    with duckdb.connect(str(events_file(ws)), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def test_an_import_skips_ids_ingested_months_before(sqlite_workspace: Workspace, tmp_path: Path):
    ws = sqlite_workspace
    api = Api(ws)
    api.segment(track("e-1", "2024-01-10T00:00:00Z"), track("e-2", "2024-02-10T00:00:00Z"))
    close_store(ws)
    path = tmp_path / "later.csv"
    path.write_text(
        "event,timestamp,user_id,event_id\n"
        "a,2025-11-01,ana,e-1\nb,2025-11-02,ana,e-2\nc,2025-11-03,ana,e-3\n"
    )
    result = import_events(ws, path)
    assert (result.stored, result.duplicates) == (1, 2)
    assert stored_rows(ws) == 3


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_identical_rows_without_ids_stay_two_events_and_reimporting_adds_nothing(
    sqlite_workspace: Workspace, tmp_path: Path, suffix: str
) -> None:
    ws = sqlite_workspace
    lines = ["click,2025-03-01 12:00:00,ana"] * 3 + ["click,2025-03-01 12:00:01,ana"]
    csv = tmp_path / "clicks.csv"
    csv.write_text("event,timestamp,user_id\n" + "\n".join(lines) + "\n")
    path = csv
    if suffix == "parquet":
        path = tmp_path / "clicks.parquet"
        with duckdb.connect() as con:
            con.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{path}' (FORMAT parquet)")
    elif suffix == "jsonl":
        path = tmp_path / "clicks.jsonl"
        path.write_text(
            "".join(
                f'{{"event": "click", "timestamp": "{t}", "distinct_id": "ana"}}\n'
                for t in ["2025-03-01T12:00:00Z"] * 3 + ["2025-03-01T12:00:01Z"]
            )
        )
    first = import_events(ws, path)
    again = import_events(ws, path)
    assert (first.stored, again.stored, again.duplicates) == (4, 0, 4)
    assert stored_rows(ws) == 4


def test_a_file_with_more_copies_of_an_event_adds_only_the_extra_copies(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    """Overlapping exports: the copies the store already holds are not stored again."""
    ws = sqlite_workspace
    one = tmp_path / "one.csv"
    one.write_text("event,timestamp,user_id\nclick,2025-03-01 12:00:00,ana\n")
    three = tmp_path / "three.csv"
    three.write_text("event,timestamp,user_id\n" + "click,2025-03-01 12:00:00,ana\n" * 3)
    assert import_events(ws, one).stored == 1
    assert import_events(ws, three).stored == 2
    assert stored_rows(ws) == 3


def test_rows_with_and_without_ids_in_one_file(sqlite_workspace: Workspace, tmp_path: Path):
    ws = sqlite_workspace
    path = tmp_path / "mixed.csv"
    path.write_text(
        "event,timestamp,user_id,event_id\n"
        "a,2025-01-01,ana,id-1\na,2025-01-01,ana,id-1\n"  # a resend: one event
        "b,2025-01-01,ana,\nb,2025-01-01,ana,\n"  # two identical clicks without ids: two
    )
    first = import_events(ws, path)
    assert (first.stored, first.duplicates) == (3, 1)
    assert import_events(ws, path).stored == 0


# --- the store ----------------------------------------------------------------------------


def test_a_store_from_before_id_hashes_gains_them_and_keeps_exactly_once(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    path = events_file(ws)
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:  # schema 3: no id_hash (nor person_key, active)
        con.execute(old_ddl("id_hash", "person_key", "active"))
        con.execute(
            "INSERT INTO events VALUES ('old-1', 'a', 'track', TIMESTAMP '2023-01-01', "
            "TIMESTAMP '2023-01-01', 'ana', 'ana', NULL, NULL, 'api', '{}', 'ana')"
        )
        assert "id_hash" not in {r[0] for r in con.execute("DESCRIBE events").fetchall()}
    csv = tmp_path / "again.csv"
    csv.write_text("event,timestamp,user_id,event_id\na,2025-01-01,ana,old-1\n")
    assert import_events(ws, csv).stored == 0
    with duckdb.connect(str(path), read_only=True) as con:
        assert hashed_right(con)


def old_ddl(*missing: str) -> str:
    """The store's DDL as it was before the `missing` columns of `events` existed."""
    ddl = store.DDL
    for column in missing:
        line = next(x for x in ddl.splitlines() if x.strip().startswith(column + " "))
        ddl = ddl.replace(line + "\n", "").replace("," + "\n" + line, "")
    return ddl.replace("NOT NULL,\n);", "NOT NULL\n);")


def hashed_right(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every stored id_hash is the one Python computes for its id."""
    got = con.execute("SELECT event_id, id_hash FROM events ORDER BY event_id").fetchall()
    ids = [r[0] for r in got]
    return [r[1] for r in got] == store.id_hashes(ids).tolist()


def test_a_store_hashed_another_way_is_rehashed(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    path = events_file(ws)
    con = store.connect(path)
    at = dt.datetime(2025, 1, 1)
    event = store.Event("h-1", "a", "track", at, at, "ana")
    store.append_arrow(con, store.events_to_arrow([event]))
    # as the first stores of schema 4 were (DuckDB's own hash(), which versions may change)
    con.execute("UPDATE events SET id_hash = hash(event_id)")
    con.execute("UPDATE productops_meta SET value = 'duckdb-hash' WHERE key = 'id_hash'")
    con.close()
    con = store.connect(path)
    try:
        assert hashed_right(con)
    finally:
        con.close()


def test_writes_without_the_writer_check_the_whole_store(sqlite_workspace: Workspace) -> None:
    """Demo data, releases from quarantine and other writes on a connection of their own
    find an id stored long before, too."""
    con = store.connect(events_file(sqlite_workspace))
    try:
        old, later = dt.datetime(2023, 1, 1), dt.datetime(2025, 12, 1)
        first = [store.Event("kept", "a", "track", old, old, "ana")]
        assert store.append_arrow(con, store.events_to_arrow(first)) == 1
        again = [
            store.Event("kept", "a", "track", later, later, "ana"),
            store.Event("new", "a", "track", later, later, "ana"),
        ]
        assert store.append_arrow(con, store.events_to_arrow(again)) == 1
        assert con.execute("SELECT count(*) FROM events").fetchone() == (2,)
    finally:
        con.close()
