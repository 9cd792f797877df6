"""The SQL page: an editor runs a query in the browser with the schema beside it, sees the
rows and a chart of them, downloads them as formula-safe CSV, and saves the query (a saved
insight with its own link). Viewers cannot run SQL; read keys read saved queries but cannot
change them; hostile event names and properties stay text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.analytics.sql.chart import ChartChoice, result_chart
from productops.analytics.sql.schema import console_schema, property_expression
from productops.analytics.sql.service import SqlResult, run_sql
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

T0 = dt.datetime(2026, 10, 5, 9, 0)
XSS = '<script>alert("x")</script>'
FORMULA = '=HYPERLINK("http://evil.example","x")'


def _fill(ws: Workspace) -> None:
    events = []
    for day in range(14):
        for p in range(1 + day % 3):
            at = T0 + dt.timedelta(days=day, minutes=p)
            events.append(
                store.Event(
                    event_id=f"e{day}-{p}",
                    event="Report Created" if p else "Signed In",
                    type="track",
                    ts=at,
                    received_at=at,
                    distinct_id=f"u{p}",
                    user_id=f"u{p}",
                    properties={"plan": "pro" if p else "free", "$browser": "Firefox"},
                )
            )
    events.append(
        store.Event(
            event_id="hostile",
            event=XSS,
            type="track",
            ts=T0,
            received_at=T0,
            distinct_id="u9",
            user_id="u9",
            properties={"note": FORMULA, "html": XSS},
        )
    )
    con = store.connect(events_file(ws))
    try:
        store.append_arrow(con, store.events_to_arrow(events))
    finally:
        con.close()


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    _fill(sqlite_workspace)
    yield sqlite_workspace


DAILY = (
    "SELECT ts::DATE AS day, event, count(*) AS n FROM events "
    "WHERE event IN ('Signed In', 'Report Created') GROUP BY ALL ORDER BY day, event"
)


def test_the_page_shows_the_schema_beside_the_editor(ws: Workspace) -> None:
    editor = sign_in(ws, Role.editor)
    page = editor.client.get("/insights/sql")
    assert page.status_code == 200
    text = page.text
    for table in ("events", "events_resolved", "persons", "accounts"):
        assert f'data-insert="{table}"' in text
    assert 'data-insert="properties"' in text and "json" in text  # columns with their types
    assert "Report Created" in text  # the events most sent
    # A property key with a $ is offered as the JSON path that reads it.
    assert property_expression("$browser") == "properties->>'$.\"$browser\"'"
    assert run_sql(ws, f"SELECT {property_expression('$browser')} FROM events LIMIT 1").rows == [
        ["Firefox"]
    ]
    # The hostile event name is listed as text, never as markup.
    assert XSS not in text and "&lt;script&gt;" in text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_running_a_query_shows_rows_and_a_chart(ws: Workspace) -> None:
    editor = sign_in(ws, Role.editor)
    r = editor.client.post(
        "/insights/sql/run",
        data={"query": DAILY, "csrf_token": editor.csrf},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    assert "28 rows" not in r.text and re.search(r"\d+ rows", r.text)
    spec_text = re.search(r'id="sql-chart-spec">(.*?)</script>', r.text, re.S)
    assert spec_text is not None
    spec = json.loads(spec_text.group(1))
    # Dates on x draw a line over time, coloured by the text column.
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["type"] == "temporal"
    assert spec["encoding"]["color"]["field"] == "event"
    assert len(spec["data"]["values"]) == run_sql(ws, DAILY).row_count

    # The person picks bars and the columns; the chart follows.
    bars = editor.client.post(
        "/insights/sql/run",
        data={"query": DAILY, "chart": "bar", "x": "event", "y": "n", "csrf_token": editor.csrf},
        headers={"HX-Request": "true"},
    )
    spec = json.loads(re.search(r'id="sql-chart-spec">(.*?)</script>', bars.text, re.S).group(1))
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["x"]["field"] == "event"


def test_a_refused_query_says_why_on_the_page(ws: Workspace) -> None:
    editor = sign_in(ws, Role.editor)
    r = editor.client.post(
        "/insights/sql/run",
        data={"query": "DELETE FROM events", "csrf_token": editor.csrf},
        headers={"HX-Request": "true"},
    )
    assert "only SELECT" in r.text and 'role="alert"' in r.text
    full = editor.client.post(
        "/insights/sql/run", data={"query": "SELECT * FROM 'x.csv'", "csrf_token": editor.csrf}
    )
    assert full.status_code == 422 and "Tables" in full.text
    assert run_sql(ws, "SELECT count(*) FROM events").rows[0][0] > 0


def test_hostile_values_stay_text_in_the_table_and_the_csv_is_formula_safe(
    ws: Workspace,
) -> None:
    editor = sign_in(ws, Role.editor)
    query = (
        "SELECT event, properties->>'note' AS note, properties FROM events "
        "WHERE event_id = 'hostile'"
    )
    r = editor.client.post(
        "/insights/sql/run",
        data={"query": query, "csrf_token": editor.csrf},
        headers={"HX-Request": "true"},
    )
    assert XSS not in r.text and "&lt;script&gt;" in r.text
    export = editor.client.post(
        "/insights/sql/export", data={"query": query, "csrf_token": editor.csrf}
    )
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["event", "note", "properties"]
    assert rows[1][1] == "'" + FORMULA


def test_saved_queries_have_a_link_and_open_with_their_result(ws: Workspace) -> None:
    editor = sign_in(ws, Role.editor)
    r = editor.client.post(
        "/insights/sql/save",
        data={
            "query": DAILY,
            "title": f"Daily use {XSS}",
            "description": "per event",
            "chart": "area",
            "csrf_token": editor.csrf,
        },
    )
    assert r.status_code == 303
    url = r.headers["location"]
    insight_id = int(url.rsplit("=", 1)[1])
    page = editor.client.get(url)
    assert page.status_code == 200
    assert "Daily use &lt;script&gt;" in page.text and XSS not in page.text
    assert 'id="sql-chart-spec"' in page.text and '"area"' in page.text
    # Another editor finds it in the list and changes it.
    other = sign_in(ws, Role.editor)
    assert f"/insights/sql?insight={insight_id}" in other.client.get("/insights/sql").text
    changed = other.client.post(
        "/insights/sql/save",
        data={
            "query": "SELECT 1 AS one",
            "title": "One",
            "insight_id": str(insight_id),
            "csrf_token": other.csrf,
        },
    )
    assert changed.headers["location"] == url
    key = api_key(ws, "read")
    got = TestClient(create_app(ws)).get(
        f"/api/v1/sql/queries/{insight_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert got.json()["query"] == "SELECT 1 AS one" and got.json()["title"] == "One"
    # A query the console refuses is not saved.
    refused = other.client.post(
        "/insights/sql/save",
        data={"query": "COPY events TO 'x.csv'", "title": "x", "csrf_token": other.csrf},
    )
    assert refused.status_code == 422
    deleted = other.client.post(
        f"/insights/sql/{insight_id}/delete", data={"csrf_token": other.csrf}
    )
    assert deleted.status_code == 303
    assert editor.client.get(url).status_code == 404


def test_viewers_cannot_use_the_sql_page(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer)
    tab = '<li><a href="/insights/sql"'
    assert tab not in viewer.client.get("/insights/saved").text
    assert tab in sign_in(ws, Role.editor).client.get("/insights/saved").text
    assert viewer.client.get("/insights/sql").status_code == 403
    r = viewer.client.post(
        "/insights/sql/run", data={"query": "SELECT 1", "csrf_token": viewer.csrf}
    )
    assert r.status_code == 403
    r = viewer.client.post(
        "/insights/sql/save", data={"query": "SELECT 1", "title": "t", "csrf_token": viewer.csrf}
    )
    assert r.status_code == 403
    anonymous = TestClient(create_app(ws), follow_redirects=False)
    assert anonymous.get("/insights/sql").status_code == 303


def test_forms_need_the_csrf_token(ws: Workspace) -> None:
    editor = sign_in(ws, Role.editor)
    for url, data in (
        ("/insights/sql/run", {"query": "SELECT 1"}),
        ("/insights/sql/export", {"query": "SELECT 1"}),
        ("/insights/sql/save", {"query": "SELECT 1", "title": "t"}),
    ):
        assert editor.client.post(url, data=data).status_code == 403, url


def test_saved_queries_over_the_api(ws: Workspace) -> None:
    client = TestClient(create_app(ws))
    write = {"Authorization": f"Bearer {api_key(ws, 'write')}"}
    read = {"Authorization": f"Bearer {api_key(ws, 'read')}"}
    ingest = {"Authorization": f"Bearer {api_key(ws, 'ingest')}"}
    body = {"title": "Events by day", "query": DAILY, "chart": {"type": "line", "x": "day"}}
    created = client.post("/api/v1/sql/queries", json=body, headers=write)
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    assert created.json()["url"] == f"/insights/sql?insight={qid}"
    assert client.post("/api/v1/sql/queries", json=body, headers=read).status_code == 403
    assert client.get("/api/v1/sql/queries", headers=ingest).status_code == 403
    assert [q["id"] for q in client.get("/api/v1/sql/queries", headers=read).json()] == [qid]
    run = client.post(f"/api/v1/sql/queries/{qid}/run", headers=read)
    assert run.status_code == 200 and run.json()["columns"] == ["day", "event", "n"]
    as_csv = client.post(f"/api/v1/sql/queries/{qid}/run?format=csv", headers=read)
    assert as_csv.text.startswith("day,event,n")
    bad = client.put(
        f"/api/v1/sql/queries/{qid}", json={**body, "query": "DROP TABLE events"}, headers=write
    )
    assert bad.status_code == 422
    assert client.delete(f"/api/v1/sql/queries/{qid}", headers=read).status_code == 403
    assert client.delete(f"/api/v1/sql/queries/{qid}", headers=write).status_code == 204
    assert client.get(f"/api/v1/sql/queries/{qid}", headers=read).status_code == 404


def test_the_chart_is_chosen_from_the_result_shape() -> None:
    by_name = SqlResult(["event", "n"], [["a", 3], ["b", 1]], False, 10)
    spec = result_chart(by_name)
    assert spec is not None and spec["mark"]["type"] == "bar"
    assert spec["encoding"]["x"]["sort"] is None  # the query's order
    assert result_chart(SqlResult(["a", "b"], [["x", "y"]], False, 10)) is None  # nothing numeric
    assert result_chart(by_name, ChartChoice("none")) is None
    assert result_chart(by_name, ChartChoice("bar", x="missing")) is None
    dotted = result_chart(SqlResult(["a.b", "n"], [["x", 1]], False, 10))
    assert dotted is not None and dotted["encoding"]["x"]["field"] == "a\\.b"


def test_the_schema_lists_columns_from_the_store(ws: Workspace) -> None:
    schema = console_schema(ws)
    events = next(t for t in schema.tables if t.name == "events")
    assert ("ts", "TIMESTAMP") in [(c.name, c.type) for c in events.columns]
    assert "plan" in [k for k, _ in schema.property_keys]
