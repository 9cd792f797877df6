"""Bulk import: JSONL, CSV and Parquet land in the event store with the same dedup as HTTP
ingest; a bad row names file, row and column and stores nothing; re-importing adds nothing."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from productops.analytics.ingest.bulk import (
    ImportFileError,
    ImportRowError,
    detect_format,
    import_events,
)
from productops.analytics.ingest.cli import events_app
from productops.analytics.settings import events_file
from productops.analytics.store import EventStoreError
from productops.core.workspace import Workspace


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    yield sqlite_workspace


def rows(ws: Workspace, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(events_file(ws)), read_only=True)
    try:
        return [tuple(r) for r in con.execute(sql, params or []).fetchall()]
    finally:
        con.close()


def total(ws: Workspace) -> int:
    return int(rows(ws, "SELECT count(*) FROM events")[0][0])


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def write_parquet(path: Path, select: str) -> Path:
    con = duckdb.connect()
    con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    con.close()
    return path


def write_jsonl(path: Path, records: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


PARQUET_SELECT = """
    SELECT 'evt-' || i AS event_id,
           CASE WHEN i % 2 = 0 THEN 'report_exported' ELSE 'signed_up' END AS event,
           TIMESTAMP '2025-01-01 00:00:00' + INTERVAL (i) MINUTE AS timestamp,
           'user-' || (i % 10) AS user_id,
           'acct-' || (i % 3) AS account_id,
           CASE WHEN i % 3 = 0 THEN 'free' ELSE 'pro' END AS plan,
           i * 1.5 AS amount
    FROM range(1000) t(i)
"""


# --- the three formats ---------------------------------------------------------------------


def test_parquet_rows_are_stored_with_extra_columns_as_properties(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write_parquet(tmp_path / "events.parquet", PARQUET_SELECT)
    result = import_events(ws, path)
    assert (result.format, result.rows, result.stored, result.duplicates) == (
        "parquet",
        1000,
        1000,
        0,
    )
    assert rows(
        ws,
        "SELECT event_id, event, type, ts, distinct_id, user_id, account_id, source, "
        "properties->>'plan', CAST(properties->'amount' AS DOUBLE) FROM events "
        "WHERE event_id = 'evt-3'",
    ) == [
        (
            "evt-3",
            "signed_up",
            "track",
            dt.datetime(2025, 1, 1, 0, 3),
            "user-3",
            "user-3",
            "acct-0",
            "import",
            "free",
            4.5,
        )
    ]


def test_csv_rows_are_stored_and_numbers_stay_numbers(ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "events.csv",
        "Event,Timestamp,distinct_id,message_id,seats,plan,zip\n"
        "Signed Up,2025-02-01T10:00:00Z,u1,m1,5,pro,01234\n"
        "Signed Up,2025-02-01 11:30:00+02:00,u2,m2,,free,\n"
        "Invite Sent,1738404000,u1,m3,2,pro,99999\n",
    )
    result = import_events(ws, path)
    assert (result.rows, result.stored) == (3, 3)
    assert rows(ws, "SELECT event_id, ts, distinct_id, properties FROM events ORDER BY 1") == [
        ("m1", dt.datetime(2025, 2, 1, 10, 0), "u1", '{"seats":5,"plan":"pro","zip":"01234"}'),
        ("m2", dt.datetime(2025, 2, 1, 9, 30), "u2", '{"plan":"free"}'),
        ("m3", dt.datetime(2025, 2, 1, 10, 0), "u1", '{"seats":2,"plan":"pro","zip":"99999"}'),
    ]


def test_jsonl_takes_segment_posthog_and_flat_lines(ws: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "events.jsonl",
        [
            {
                "type": "page",
                "anonymousId": "anon-1",
                "messageId": "s1",
                "timestamp": "2025-01-01T10:00:00Z",
                "properties": {"path": "/pricing"},
            },
            {
                "type": "identify",
                "userId": "user-1",
                "anonymousId": "anon-1",
                "messageId": "s2",
                "traits": {"plan": "pro"},
                "timestamp": "2025-01-01T10:01:00Z",
            },
            {
                "event": "$pageview",
                "distinct_id": "ph-1",
                "uuid": "p1",
                "timestamp": "2025-01-01T10:02:00Z",
                "properties": {"$groups": {"company": "acme"}},
            },
            {
                "event": "signed_up",
                "timestamp": "2025-01-01T10:03:00Z",
                "user_id": "user-1",
                "event_id": "f1",
                "plan": "pro",
            },
        ],
    )
    result = import_events(ws, path)
    assert (result.format, result.rows, result.stored, result.rejected_count) == (
        "jsonl",
        4,
        4,
        0,
    )
    assert rows(ws, "SELECT event_id, event, type, account_id FROM events ORDER BY 1") == [
        ("f1", "signed_up", "track", None),
        ("p1", "$pageview", "page", "acme"),
        ("s1", "$pageview", "page", None),
        ("s2", "$identify", "identify", None),
    ]
    assert rows(ws, "SELECT properties->>'plan' FROM events WHERE event_id = 'f1'") == [("pro",)]
    # The anonymous page view and the sign-up belong to one person.
    assert rows(
        ws, "SELECT DISTINCT person_id FROM events_resolved WHERE event_id IN ('s1', 'f1')"
    ) == [("user-1",)]


def test_flat_identify_rows_merge_people(ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "people.csv",
        "event,type,timestamp,user_id,anonymous_id,plan\n"
        "page_viewed,page,2025-01-01T09:00:00Z,,a-7,\n"
        "identified,identify,2025-01-01T09:05:00Z,u-7,a-7,team\n",
    )
    assert import_events(ws, path).identities == 1
    assert rows(ws, "SELECT DISTINCT person_id FROM events_resolved") == [("u-7",)]
    assert rows(ws, "SELECT properties->>'plan' FROM persons WHERE person_id = 'u-7'") == [
        ("team",)
    ]


def test_gzipped_jsonl_and_csv_are_read(ws: Workspace, tmp_path: Path) -> None:
    jsonl = write_jsonl(
        tmp_path / "a.jsonl.gz",
        [{"event": "x", "distinct_id": "d", "timestamp": "2025-01-01T00:00:00Z", "uuid": "g1"}],
    )
    csv = tmp_path / "b.csv.gz"
    csv.write_bytes(gzip.compress(b"event,ts,distinct_id\ny,2025-01-01,d\n"))
    assert import_events(ws, jsonl).stored == 1
    assert import_events(ws, csv).stored == 1
    assert total(ws) == 2


# --- exactly once --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_importing_a_file_twice_adds_nothing(ws: Workspace, tmp_path: Path, fmt: str) -> None:
    source = write_parquet(tmp_path / "src.parquet", PARQUET_SELECT)
    path = tmp_path / f"events.{fmt}"
    con = duckdb.connect()
    if fmt == "csv":
        con.execute(f"COPY (SELECT * FROM '{source}') TO '{path}' (HEADER)")
    elif fmt == "jsonl":
        con.execute(f"COPY (SELECT * FROM '{source}') TO '{path}' (FORMAT json)")
    else:
        path = source
    con.close()
    first = import_events(ws, path)
    again = import_events(ws, path)
    assert (first.stored, first.duplicates) == (1000, 0)
    assert (again.stored, again.duplicates) == (0, 1000)
    assert total(ws) == 1000


def test_rows_without_ids_get_a_stable_id_so_reimporting_adds_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    csv = write_csv(
        tmp_path / "noid.csv", "event,timestamp,user_id\na,2025-01-01,u\nb,2025-01-01,u\n"
    )
    jsonl = write_jsonl(
        tmp_path / "noid.jsonl", [{"event": "c", "distinct_id": "u", "timestamp": "2025-01-01"}]
    )
    for _ in range(2):
        import_events(ws, csv)
        import_events(ws, jsonl)
    assert total(ws) == 3


def test_a_repeated_id_within_a_file_is_stored_once(ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dup.csv",
        "event,timestamp,user_id,event_id\n"
        "late,2025-01-02,u,same\nearly,2025-01-01,u,same\nother,2025-01-01,u,x\n",
    )
    result = import_events(ws, path)
    assert (result.stored, result.duplicates) == (2, 1)
    assert rows(ws, "SELECT event FROM events WHERE event_id = 'same'") == [("early",)]


def test_import_after_http_ingest_skips_events_already_there(ws: Workspace, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "one.csv", "event,timestamp,user_id,event_id\na,2025-01-01,u,e1\n")
    both = write_csv(
        tmp_path / "two.csv",
        "event,timestamp,user_id,event_id\na,2025-01-01,u,e1\nb,2025-01-01,u,e2\n",
    )
    import_events(ws, first)
    assert import_events(ws, both).stored == 1


# --- bad input -----------------------------------------------------------------------------


def test_a_bad_row_names_file_row_and_column_and_stores_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        "event,timestamp,user_id\n"
        "ok,2025-01-01T00:00:00Z,u\n"
        "ok,2025-01-01T00:00:00Z,u\n"
        "ok,31/02/2025,u\n"
        "ok,,u\n",
    )
    with pytest.raises(ImportRowError) as caught:
        import_events(ws, path)
    message = str(caught.value)
    assert message.startswith("bad.csv: row 3, column 'timestamp': '31/02/2025' is not a time")
    assert "1 more bad rows" in message
    assert (caught.value.file, caught.value.row) == ("bad.csv", 3)
    assert total(ws) == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("event,timestamp,user_id\n,2025-01-01,u\n", "row 1, column 'event' is empty"),
        ("event,timestamp,user_id\nx,2025-01-01,\n", "row 1, no user: column 'user_id' is empty"),
        (
            "event,timestamp,user_id\nx,2025-01-01,u\nx,1900-01-01,u\n",
            "row 2, column 'timestamp': 1900-01-01 00:00:00 is out of range (1970 to 2099)",
        ),
        (
            "event,timestamp,user_id,properties\nx,2025-01-01,u,[1]\n",
            "row 1, column 'properties': [1] is not a JSON object",
        ),
    ],
)
def test_each_kind_of_bad_row_is_named(
    ws: Workspace, tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(ImportRowError, match=re.escape(problem)):
        import_events(ws, write_csv(tmp_path / "bad.csv", text))


def test_skip_bad_rows_keeps_the_rest_and_lists_what_was_left_out(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        "event,timestamp,user_id\nok,2025-01-01,u\nok,never,u\nok,2025-01-02,\nok,2025-01-03,u\n",
    )
    result = import_events(ws, path, skip_bad_rows=True)
    assert (result.rows, result.stored, result.rejected_count) == (4, 2, 2)
    assert [p.row for p in result.rejected] == [2, 3]
    assert "'never' is not a time" in result.rejected[0].reason


def test_a_bad_jsonl_line_is_named_and_nothing_is_stored(ws: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"event": "x", "distinct_id": "d", "timestamp": "2025-01-01"},
            "",
            '{"event": "y", "distinct_id": ',
        ],
    )
    with pytest.raises(ImportRowError, match=r"bad.jsonl: line 3, not valid JSON"):
        import_events(ws, path)
    assert total(ws) == 0
    path = write_jsonl(tmp_path / "bad2.jsonl", [{"event": "x", "timestamp": "2025-01-01"}])
    result = import_events(ws, path, skip_bad_rows=True)
    assert result.rejected[0].reason == "the event has no 'distinct_id'"


def test_a_csv_column_that_changes_type_late_is_still_imported(
    ws: Workspace, tmp_path: Path
) -> None:
    # DuckDB guesses column types from the first ~20k rows; a late text value must not fail.
    lines = [f"x,2025-01-01,u{i},{i}" for i in range(25_000)] + ["x,2025-01-01,late,many"]
    path = write_csv(tmp_path / "late.csv", "event,ts,user_id,seats\n" + "\n".join(lines) + "\n")
    assert import_events(ws, path).stored == 25_001
    assert rows(ws, "SELECT properties->>'seats' FROM events WHERE distinct_id = 'late'") == [
        ("many",)
    ]


def test_missing_columns_and_unknown_formats_are_named(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(
        ImportFileError, match=r"no time column .* the columns read are 'event', 'user_id'"
    ):
        import_events(ws, write_csv(tmp_path / "a.csv", "event,user_id\nx,u\n"))
    with pytest.raises(ImportFileError, match="no user column"):
        import_events(ws, write_csv(tmp_path / "b.csv", "event,ts\nx,2025-01-01\n"))
    with pytest.raises(ImportFileError, match="cannot tell the format"):
        detect_format(tmp_path / "events.xlsx")
    with pytest.raises(ImportFileError, match="no such file"):
        import_events(ws, tmp_path / "missing.csv")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(ImportFileError, match=r"junk\.parquet"):
        import_events(ws, tmp_path / "junk.parquet")


def test_the_store_held_by_another_process_is_named(ws: Workspace, tmp_path: Path) -> None:
    import_events(ws, write_csv(tmp_path / "a.csv", "event,ts,user_id\nx,2025-01-01,u\n"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(30)",
            str(events_file(ws)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(EventStoreError, match="Another process"):
            import_events(ws, tmp_path / "a.csv")
    finally:
        holder.kill()
        holder.wait()


def test_progress_is_reported_up_to_the_total(ws: Workspace, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None, str | None]] = []
    path = write_parquet(tmp_path / "e.parquet", PARQUET_SELECT)
    import_events(ws, path, progress=lambda d, t, m: seen.append((d, t, m)))
    assert seen[0] == (0, None, "checking")
    assert seen[-1] == (1000, 1000, "storing")


# --- the command ---------------------------------------------------------------------------


def test_cli_import_prints_json_and_a_summary(ws: Workspace, tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "e.parquet", PARQUET_SELECT)
    runner = CliRunner()
    r = runner.invoke(events_app, ["import", str(ws.path), str(path), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["rows"], out["stored"], out["duplicates"]) == (1000, 1000, 0)
    r = runner.invoke(events_app, ["import", str(ws.path), str(path), "--format", "parquet"])
    assert r.exit_code == 0, r.output
    assert "1,000 rows, 0 stored, 1,000 already there" in r.output


def test_cli_import_names_the_bad_row_and_exits_non_zero(ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", "event,timestamp,user_id\nok,soon,u\n")
    r = CliRunner().invoke(events_app, ["import", str(ws.path), str(path)])
    assert r.exit_code == 1
    assert "bad.csv: row 1, column 'timestamp': 'soon' is not a time" in r.output
    r = CliRunner().invoke(events_app, ["import", str(ws.path), str(path), "--skip-bad-rows"])
    assert r.exit_code == 0, r.output
    assert "row 1: column 'timestamp': 'soon' is not a time" in r.output


def test_import_speed_is_reported(ws: Workspace, tmp_path: Path) -> None:
    started = time.perf_counter()
    result = import_events(ws, write_parquet(tmp_path / "e.parquet", PARQUET_SELECT))
    assert 0 < result.seconds <= time.perf_counter() - started
    assert result.events_per_second == result.rows / result.seconds
