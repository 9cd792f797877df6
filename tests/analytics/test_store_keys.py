"""The event store's integer person keys and its activity flag decided at ingest: every write
path fills them, identity merges move them, old stores gain them, and an analysis reading
them answers exactly as one reading the events' ids and names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pytest

from productops.analytics import analyses as A
from productops.analytics import store
from productops.analytics.ingest.bulk import import_events
from productops.analytics.query.activity import ActivityFilter
from productops.analytics.settings import events_file
from productops.analytics.store.erase import erase_person_events
from productops.core.workspace import Workspace
from tests.analytics.insights_data import END, START, write_store
from tests.analytics.test_exactly_once import old_ddl

AT = dt.datetime(2025, 3, 3, 12)


def _event(eid: str, name: str, distinct_id: str, kind: str = "track") -> store.Event:
    return store.Event(eid, name, kind, AT, AT, distinct_id)


def _keys(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int, bool]]:
    rows = con.execute("SELECT event_id, person_id, person_key, active FROM events").fetchall()
    return {eid: (pid, key, active) for eid, pid, key, active in rows}


def test_each_person_has_one_key_and_an_identify_moves_the_anonymous_events_to_it(
    tmp_path: Path,
) -> None:
    con = store.connect(tmp_path / "events.duckdb")
    try:
        store.append_arrow(
            con,
            store.events_to_arrow(
                [
                    _event("1", "$pageview", "anon-1"),
                    _event("2", "$pageview", "ana"),
                    _event("3", "Signed Up", "ana"),
                    _event("4", "$identify", "ana", "identify"),
                    _event("5", "$set", "bob"),
                    _event("6", "Report Created", "bob"),
                ]
            ),
        )
        before = _keys(con)
        assert before["2"][1] == before["3"][1] == before["4"][1]
        assert len({before[e][1] for e in ("1", "2", "5")}) == 3
        # identity bookkeeping is not activity; everything else is
        assert {e: v[2] for e, v in before.items()} == {
            "1": True,
            "2": True,
            "3": True,
            "4": False,
            "5": False,
            "6": True,
        }
        store.apply_identity(con, store.IdentityUpdate("identify", "anon-1", "ana"))
        after = _keys(con)
        assert after["1"] == ("ana", before["2"][1], True)
        # a later event of the anonymous id lands on the person's key too
        store.append_arrow(con, store.events_to_arrow([_event("7", "$pageview", "anon-1")]))
        assert _keys(con)["7"][:2] == ("ana", before["2"][1])
        pairs = con.execute("SELECT person_id, person_key FROM person_keys").fetchall()
        assert len({k for _, k in pairs}) == len(pairs)  # a key stands for one id
    finally:
        con.close()


def test_an_import_gives_keys_and_the_flag_and_merges_people_it_identifies(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    csv = tmp_path / "events.csv"
    csv.write_text(
        "event,type,timestamp,user_id,anonymous_id,event_id\n"
        "$pageview,track,2025-01-01,,anon-9,a\n"
        "Signed Up,track,2025-01-02,cy,,b\n"
        "$identify,identify,2025-01-02,cy,anon-9,c\n"
    )
    assert import_events(ws, csv).stored == 3
    with duckdb.connect(str(events_file(ws)), read_only=True) as con:
        got = _keys(con)
    assert got["a"][0] == got["b"][0] == got["c"][0] == "cy"
    assert got["a"][1] == got["b"][1] == got["c"][1]
    assert (got["a"][2], got["b"][2], got["c"][2]) == (True, True, False)


def test_a_store_from_before_person_keys_gains_them_and_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    with duckdb.connect(str(path)) as con:  # schema 4: no person_key, no active
        con.execute(old_ddl("person_key", "active"))
        con.execute(
            "INSERT INTO events VALUES "
            "('o-1', 'a', 'track', TIMESTAMP '2023-01-01', TIMESTAMP '2023-01-01', 'ana', "
            "'ana', NULL, NULL, 'api', '{}', 'ana', 1), "
            "('o-2', '$set', 'track', TIMESTAMP '2023-01-01', TIMESTAMP '2023-01-01', 'ana', "
            "'ana', NULL, NULL, 'api', '{}', 'ana', 2), "
            "('o-3', 'b', 'track', TIMESTAMP '2023-01-02', TIMESTAMP '2023-01-02', 'bo', "
            "'bo', NULL, NULL, 'api', '{}', 'bo', 3)"
        )
    con = store.connect(path)
    try:
        got = _keys(con)
        assert got["o-1"][1] == got["o-2"][1] != got["o-3"][1]
        assert (got["o-1"][2], got["o-2"][2], got["o-3"][2]) == (True, False, True)
        nullable = con.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'events' AND column_name IN ('person_key', 'active')"
        ).fetchall()
        assert sorted(nullable) == [("active", "NO"), ("person_key", "NO")]
    finally:
        con.close()


def test_a_flag_decided_by_another_rule_is_decided_again(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    con = store.connect(path)
    store.append_arrow(con, store.events_to_arrow([_event("1", "$set", "ana")]))
    con.execute("UPDATE events SET active = true")
    con.execute("UPDATE productops_meta SET value = 'an older rule' WHERE key = 'active_rule'")
    con.close()
    con = store.connect(path)
    try:
        assert _keys(con)["1"][2] is False
    finally:
        con.close()


def test_erasing_a_person_forgets_their_key(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    con = store.connect(path)
    store.append_arrow(
        con, store.events_to_arrow([_event("1", "a", "ana"), _event("2", "a", "bo")])
    )
    con.close()
    erase_person_events(path, ["ana"], [])
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT person_id FROM person_keys").fetchall() == [("bo",)]


# --- the same answers with and without the keys ---------------------------------------------


@pytest.fixture(scope="module")
def keyed_and_plain(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]]:
    """The synthetic months with planted answers in a store (keys and flag), and the same
    events in memory without them (the path a warehouse or an older reader takes)."""
    path = tmp_path_factory.mktemp("keys") / "events.duckdb"
    write_store(path)
    keyed = store.connect(path, read_only=True)
    plain = duckdb.connect()
    plain.execute(f"ATTACH '{path}' AS src (READ_ONLY)")
    plain.execute(
        "CREATE TABLE events_resolved AS "
        "SELECT * EXCLUDE (person_key, active) FROM src.events_resolved"
    )
    for name in ("persons", "accounts"):
        plain.execute(f"CREATE TABLE {name} AS SELECT * FROM src.{name}")
    plain.execute("DETACH src")
    yield keyed, plain
    keyed.close()
    plain.close()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


ANALYSES = {
    "retention": lambda s: A.retention(s, START, END, grain="week", periods=8).data,
    "retention by plan": lambda s: (
        A.retention(s, START, END, grain="week", periods=8, breakdown="account.plan").data
    ),
    "adoption by plan": lambda s: A.adoption(s, "report_created", START, END).data,
    "adoption, no segment": lambda s: (
        A.adoption(s, "report_created", START, END, segment=None).data
    ),
    "adoption by account": lambda s: (
        A.adoption(s, "report_created", START, END, unit="account").data
    ),
    "active users": lambda s: A.active_users(s, START, END, grain="week").data,
    "stickiness by plan": lambda s: (
        A.stickiness(s, START, END, breakdown="account.plan").days_active.data
    ),
    "rolling": lambda s: A.rolling_active_users(s, START, END).data,
    "lifecycle by plan": lambda s: A.lifecycle(s, START, END, breakdown="account.plan").data,
    "trends, people by plan": lambda s: (
        A.trends(
            s,
            [A.Series(kind="people", event="report_created")],
            START,
            END,
            breakdown="account.plan",
        ).series.data
    ),
    "trends, active people by week": lambda s: (
        A.trends(s, [A.Series(kind="people", event="*")], START, END, grain="week").series.data
    ),
    "retention, own activity rule": lambda s: (
        A.retention(s, START, END, activity=ActivityFilter(exclude=["$pageview"])).data
    ),
}


@pytest.mark.parametrize("name", list(ANALYSES))
def test_analyses_answer_alike_with_and_without_keys(
    keyed_and_plain: tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection], name: str
) -> None:
    keyed, plain = keyed_and_plain
    fast = A.event_tables(ibis.duckdb.from_connection(keyed))
    slow = A.event_tables(ibis.duckdb.from_connection(plain))
    assert fast.keyed and not slow.keyed
    got, want = ANALYSES[name](fast), ANALYSES[name](slow)
    assert len(want) > 0
    _same(got, want)


def test_the_flag_is_read_only_under_the_default_rule(
    keyed_and_plain: tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection],
) -> None:
    keyed, _ = keyed_and_plain
    src = ibis.duckdb.from_connection(keyed)
    default = A.retention(src, START, END).sql()["retention"]
    own = A.retention(src, START, END, activity=ActivityFilter(exclude=["$pageview"])).sql()[
        "retention"
    ]
    assert "person_key" in default and '"active"' in default
    assert '"active"' not in own and "$pageview" in own


def test_weeks_numbered_by_duckdb_integer_division_are_the_python_numbers() -> None:
    from productops.analytics.query.grains import period_index, period_number

    days = [dt.date(1900, 1, 1) + dt.timedelta(days=d) for d in range(0, 400_000, 997)]
    days += [dt.date(1969, 12, 28) + dt.timedelta(days=d) for d in range(10)]
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t AS SELECT unnest(?::TIMESTAMP[]) AS ts", [days])
        t = ibis.duckdb.from_connection(con).table("t")
        for dialect in ("duckdb", None):
            expr = t.select(t.ts, p=period_index(t.ts, "week", dialect))
            got = {r.ts.date(): int(r.p) for r in expr.execute().itertuples()}
            assert got == {d: period_number(d, "week") for d in days}
    finally:
        con.close()


def test_a_person_whose_key_another_has_gets_another_key_everywhere(tmp_path: Path) -> None:
    """MD5 clashes of 63 bits are one in billions; this plants one: `zed` already holds the
    key `ana` would get."""
    con = store.connect(tmp_path / "events.duckdb")
    try:
        ana_key = con.execute(f"SELECT {store.person_key_sql('?')}", ["ana"]).fetchone()
        assert ana_key is not None
        con.execute("INSERT INTO person_keys VALUES ('zed', ?)", [ana_key[0]])
        store.append_arrow(con, store.events_to_arrow([_event("1", "a", "ana")]))
        store.append_arrow(con, store.events_to_arrow([_event("2", "a", "ana")]))
        got = _keys(con)
        assert got["1"][1] == got["2"][1] != ana_key[0]
        pairs = dict(con.execute("SELECT person_id, person_key FROM person_keys").fetchall())
        assert pairs == {"zed": ana_key[0], "ana": got["1"][1]}
        # an anonymous id merged into ana later follows her override
        store.append_arrow(con, store.events_to_arrow([_event("3", "a", "anon-5")]))
        store.apply_identity(con, store.IdentityUpdate("identify", "anon-5", "ana"))
        assert _keys(con)["3"][1] == got["1"][1]
    finally:
        con.close()


def test_keys_made_another_way_are_made_again(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    con = store.connect(path)
    store.append_arrow(con, store.events_to_arrow([_event("1", "a", "ana")]))
    con.execute("UPDATE events SET person_key = 1")
    con.execute("UPDATE person_keys SET person_key = 1")
    con.execute("UPDATE productops_meta SET value = 'sequence' WHERE key = 'person_key'")
    con.close()
    con = store.connect(path)
    try:
        want = con.execute(f"SELECT {store.person_key_sql('?')}", ["ana"]).fetchone()
        assert want is not None
        assert _keys(con)["1"][1] == want[0]
        assert con.execute("SELECT person_key FROM person_keys").fetchall() == [want]
    finally:
        con.close()


def test_the_writer_records_a_key_again_for_a_person_erased_and_back(tmp_path: Path) -> None:
    """The serving writer skips people it already keyed; an erasure empties what it knows."""
    path = (tmp_path / "events.duckdb").resolve()
    store.connect(path).close()
    writer = store.writer_for(path)
    try:
        writer.write([_event("1", "a", "ana")])
        writer.write([_event("2", "a", "ana")])
        erase_person_events(path, ["ana"], [])
        writer.write([_event("3", "a", "ana")])
        with writer.read() as cur:
            assert cur.execute("SELECT person_id FROM person_keys").fetchall() == [("ana",)]
            assert cur.execute("SELECT event_id FROM events").fetchall() == [("3",)]
    finally:
        store.close_writer(path)
