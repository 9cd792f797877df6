"""The analyses run on an existing warehouse: a connection URL and a column mapping for the
events table (and people, accounts, identity links) are enough, whatever the columns are
called; traits kept as plain columns work like JSON traits. Mapping mistakes are named.

The "warehouse" here is a DuckDB file with its own schema holding the same story as
test_analyses.py, so the hand-worked numbers must come out again.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from productops.analytics import analyses as A
from productops.analytics.query.warehouse import (
    WarehouseError,
    connect_warehouse,
    parse_mapping,
    redact,
)
from productops.core.errors import InvalidInput
from tests.analytics.test_analyses import JAN1, JAN31, STEPS, STORY, column, funnel_counts

MAPPING: dict[str, Any] = {
    "events": {
        "table": "tracks",
        "database": "tracking",
        "event": "event_name",
        "ts": "occurred_at",
        "event_id": "msg_id",
        "user_id": "uid",
        "anonymous_id": "anon",
        "account_id": "org_id",
        "type": "call",
        "properties": "payload",
    },
    "persons": {"table": "users", "database": "crm", "id": "id", "account_id": "company_id"},
    "accounts": {"table": "companies", "database": "crm", "id": "id"},
    "identities": {
        "table": "id_links",
        "database": "tracking",
        "distinct_id": "alias",
        "person_id": "canonical",
    },
}


@pytest.fixture(scope="module")
def warehouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("warehouse") / "dw.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA tracking; CREATE SCHEMA crm")
        con.execute(
            """CREATE TABLE tracking.tracks (msg_id VARCHAR, event_name VARCHAR,
                 occurred_at TIMESTAMP, uid VARCHAR, anon VARCHAR, org_id VARCHAR,
                 call VARCHAR, payload VARCHAR, app_version VARCHAR)"""
        )
        con.executemany(
            "INSERT INTO tracking.tracks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    e.event_id,
                    e.event,
                    e.ts,
                    e.user_id,
                    e.anonymous_id,
                    e.account_id,
                    e.type,
                    json.dumps(e.properties),
                    "2.0" if e.ts.day > 7 else "1.0",
                ]
                for e in STORY
            ],
        )
        con.execute(
            """CREATE TABLE tracking.id_links AS
               SELECT * FROM (VALUES ('a-1', 'alice')) t(alias, canonical)"""
        )
        con.execute(
            """CREATE TABLE crm.users AS SELECT * FROM (VALUES
                 ('alice', 'acme', 'DE'), ('bob', 'beta', 'US'), ('carol', NULL, 'DE'),
                 ('dave', NULL, NULL)) t(id, company_id, country)"""
        )
        con.execute(
            """CREATE TABLE crm.companies AS SELECT * FROM (VALUES
                 ('acme', 'pro', 'Acme Inc'), ('beta', 'free', 'Beta LLC')) t(id, plan, name)"""
        )
    return f"duckdb:///{path}"


@pytest.fixture(scope="module")
def dw(warehouse_url: str) -> A.EventTables:
    return connect_warehouse(warehouse_url, MAPPING)


def test_a_mapped_warehouse_table_gives_the_same_numbers_as_the_store(dw: A.EventTables) -> None:
    weekly = A.active_users(dw, JAN1, JAN31, grain="week")
    assert column(weekly, "active_persons") == [3, 2, 1, 1, 1]  # a-1 linked to alice
    assert funnel_counts(A.funnel(dw, STEPS, JAN1, JAN31)) == {"all": [4, 3, 1]}
    lifecycle = A.lifecycle(dw, JAN1, JAN31)
    assert column(lifecycle, "dormant") == [0, -2, -2, -1, -1]


def test_traits_kept_as_columns_work_as_dimensions(dw: A.EventTables) -> None:
    by_plan = A.funnel(dw, STEPS, JAN1, JAN31, breakdown="account.plan")
    assert funnel_counts(by_plan) == {"(none)": [1, 1, 0], "free": [1, 1, 0], "pro": [2, 1, 1]}
    by_country = A.adoption(dw, "report", JAN1, JAN31, segment="person.country")
    assert by_country.data.set_index("segment")["adopters"].to_dict() == {
        "(none)": 1,
        "DE": 2,
        "US": 0,
    }


def test_event_properties_come_from_json_or_from_unmapped_columns(dw: A.EventTables) -> None:
    by_browser = A.funnel(dw, STEPS, JAN1, JAN31, breakdown="event.$browser")
    assert funnel_counts(by_browser)["Chrome"] == [2, 1, 1]
    by_version = A.funnel(dw, ["$pageview", "signup"], JAN1, JAN31, breakdown="event.app_version")
    assert funnel_counts(by_version) == {"1.0": [3, 3], "2.0": [1, 0]}


def test_the_sql_runs_against_the_warehouse_tables(dw: A.EventTables) -> None:
    sql = A.retention(dw, JAN1, JAN31).sql()["retention"]
    assert '"tracking"."tracks"' in sql and "occurred_at" in sql and "events_resolved" not in sql


def test_without_identity_links_each_distinct_id_is_a_person(warehouse_url: str) -> None:
    mapping = {**MAPPING, "identities": None}
    weekly = A.active_users(connect_warehouse(warehouse_url, mapping), JAN1, JAN31, grain="week")
    assert column(weekly, "active_persons") == [4, 2, 1, 1, 1]  # a-1 and alice apart


def test_a_person_id_column_can_replace_identity_links(warehouse_url: str) -> None:
    events = {**MAPPING["events"], "person_id": "uid", "user_id": None}
    tables = connect_warehouse(warehouse_url, {"events": events})
    people = tables.events.person_id
    # events without a uid (a-1's visit, erin's events) count under their anonymous id
    assert set(people.execute()) == {"alice", "a-1", "bob", "carol", "dave", "erin-anon"}
    assert tables.persons is None and tables.accounts is None


EVENTS = MAPPING["events"]
NO_IDS = {"table": "tracks", "database": "tracking", "event": "event_name", "ts": "occurred_at"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"events": {**EVENTS, "event": "evt"}}, "no column 'evt' (mapping events.event)"),
        ({"events": {**EVENTS, "table": "nope"}}, "events table 'tracking.nope' not found"),
        ({"persons": {"table": "users", "database": "crm", "id": "uuid"}}, "has no column 'uuid'"),
        ({"events": {**EVENTS, "colour": "red"}}, "events.colour: Extra inputs"),
        ({"events": NO_IDS}, "needs a user_id, anonymous_id, distinct_id or person_id"),
    ],
)
def test_mapping_mistakes_are_named(
    warehouse_url: str, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(WarehouseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        connect_warehouse(warehouse_url, {**MAPPING, **change})


def test_a_missing_person_trait_needs_a_persons_table(warehouse_url: str) -> None:
    tables = connect_warehouse(warehouse_url, {"events": MAPPING["events"]})
    with pytest.raises(InvalidInput, match="no persons table"):
        A.funnel(tables, STEPS, JAN1, JAN31, breakdown="person.country")


def test_connection_errors_do_not_show_the_password() -> None:
    url = "postgres://analyst:s3cret-pw@127.0.0.1:9/warehouse"
    assert redact(url) == "postgres://analyst:***@127.0.0.1:9/warehouse"
    with pytest.raises(WarehouseError) as caught:
        connect_warehouse(url, MAPPING)
    assert "s3cret-pw" not in str(caught.value)
    assert "analyst:***@127.0.0.1:9" in str(caught.value)


def test_mappings_come_from_plain_dicts() -> None:
    parsed = parse_mapping({"events": {"table": "t", "user_id": "u"}})
    assert (parsed.events.event, parsed.events.ts, parsed.persons) == ("event", "ts", None)


def test_a_warehouse_date_range_is_checked_like_the_store(dw: A.EventTables) -> None:
    with pytest.raises(InvalidInput, match="after the end date"):
        A.lifecycle(dw, JAN31, dt.date(2024, 1, 2))


def test_a_workspace_set_to_a_warehouse_serves_its_numbers(
    warehouse_url: str, tmp_path: Path
) -> None:
    import yaml
    from fastapi.testclient import TestClient

    from productops.analytics.catalog.metrics import query_metric
    from productops.analytics.catalog.service import parse_catalog
    from productops.core.workspace import init_workspace, open_workspace
    from productops.web.app import create_app
    from tests.conftest import api_key

    init_workspace(tmp_path / "ws", analytics={"warehouse_url": warehouse_url}).close()
    (tmp_path / "ws" / "warehouse.yml").write_text(yaml.safe_dump(MAPPING))
    (tmp_path / "ws" / "metrics.yml").write_text(
        "metrics:\n  - {name: signups, type: unique_users, event: signup}\n"
    )
    ws = open_workspace(tmp_path / "ws")
    try:
        key = api_key(ws, "read")
        r = TestClient(create_app(ws)).get(
            f"/api/v1/insights/funnel?steps={STEPS[0]}&steps={STEPS[1]}&start={JAN1}&end={JAN31}",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200, r.text
        assert "tracking" in next(iter(r.json()["sql"].values()))  # ran on the warehouse
        got = [row["persons"] for row in sorted(r.json()["data"], key=lambda x: x["step"])]
        assert got == [4, 3]  # the hand-worked story, read from the warehouse's own tables
        parse_catalog((tmp_path / "ws" / "metrics.yml").read_text(), "metrics.yml")
        result = query_metric(ws, "signups", grain="all", start=JAN1, end=JAN31)
        assert "tracking" in result.sql
        assert list(result.frame["value"]) == [4]  # alice, bob, carol and erin-anon
    finally:
        ws.close()


def test_a_missing_mapping_file_is_named(warehouse_url: str, tmp_path: Path) -> None:
    from productops.analytics.query.source import event_source
    from productops.core.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws", analytics={"warehouse_url": warehouse_url})
    with pytest.raises(WarehouseError, match=r"warehouse\.yml does not exist"), event_source(ws):
        pass
    ws.close()
