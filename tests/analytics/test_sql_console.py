"""The SQL console reads and only reads: one SELECT over events, persons and accounts; no
writes, no files, no network, even if one of its checks were bypassed. CSV output cannot run
as a spreadsheet formula, and only read keys, editors and admins may use it."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from productops.analytics import sql as console
from productops.analytics import store
from productops.analytics.catalog import routes as catalog_routes
from productops.analytics.settings import events_file
from productops.analytics.sql.cli import sql as sql_command
from productops.analytics.sql.service import (
    SqlConsoleError,
    check_parse_tree,
    check_query,
    console_connection,
    csv_safe,
    execute_readonly,
    run_sql,
    to_csv,
)
from productops.cli.kit import error_detail
from productops.core.models import Role
from productops.core.workspace import Workspace, init_workspace
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

T0 = dt.datetime(2024, 3, 4, 9, 0)
STOLEN = Path(tempfile.gettempdir()) / "productops-console-stolen.csv"


def _event(n: int, name: str, who: str, props: dict[str, object] | None = None) -> store.Event:
    ts = T0 + dt.timedelta(hours=n)
    return store.Event(
        event_id=f"e{n}",
        event=name,
        type="track",
        ts=ts,
        received_at=ts,
        distinct_id=who,
        user_id=who,
        properties=props or {},
    )


def fill(ws: Workspace) -> None:
    con = store.connect(events_file(ws))
    try:
        store.append_arrow(
            con,
            store.events_to_arrow(
                [
                    _event(1, "Signed Up", "ana", {"plan": "pro"}),
                    _event(2, "Signed Up", "ben", {"plan": "free"}),
                    _event(3, "Order Completed", "ana", {"revenue": 42}),
                    _event(4, '=HYPERLINK("http://evil")', "ben"),
                ]
            ),
        )
        store.upsert_account(con, "acme", {"plan": "pro"}, T0)
        store.upsert_person(con, "ana", {"country": "DE"}, "acme", T0)
    finally:
        con.close()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace for the tests that only read (every refusal checks it stays intact)."""
    workspace = init_workspace(tmp_path_factory.mktemp("console") / "ws", name="Console Co")
    fill(workspace)
    yield workspace
    workspace.close()


# --- what runs ------------------------------------------------------------------------------------


def test_a_select_over_the_event_tables_runs(ws: Workspace) -> None:
    result = run_sql(
        ws, "SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC, event"
    )
    assert result.columns == ["event", "n"]
    assert result.rows[0] == ["Signed Up", 2]
    assert result.truncated is False

    joined = run_sql(
        ws,
        """
        SELECT p.properties->>'country' AS country, a.properties->>'plan' AS plan, count(*) AS n
        FROM events_resolved e
        JOIN persons p USING (person_id)
        JOIN accounts a ON a.account_id = p.account_id
        GROUP BY ALL
        """,
    )
    assert joined.rows == [["DE", "pro", 2]]


def test_ctes_unions_and_the_from_shorthand_are_allowed(ws: Workspace) -> None:
    cte = run_sql(
        ws,
        "WITH signups AS (SELECT * FROM events WHERE event = 'Signed Up') "
        "SELECT count(*) FROM signups;",
    )
    assert cte.rows == [[2]]
    union = run_sql(ws, "SELECT 1 AS x UNION ALL SELECT 2 ORDER BY x")
    assert union.rows == [[1], [2]]
    assert run_sql(ws, "FROM persons SELECT person_id").rows == [["ana"]]
    assert run_sql(ws, "SELECT sum(x) FROM range(4) t(x)").rows == [[6]]


def test_results_are_capped_and_say_so(ws: Workspace) -> None:
    result = run_sql(ws, "SELECT * FROM range(25) t(x) ORDER BY x", limit=10)
    assert [r[0] for r in result.rows] == list(range(10))
    assert result.truncated is True
    exact = run_sql(ws, "SELECT * FROM range(10) t(x)", limit=10)
    assert exact.truncated is False and exact.row_count == 10


def test_a_workspace_without_events_has_empty_tables(sqlite_workspace: Workspace) -> None:
    assert run_sql(sqlite_workspace, "SELECT count(*) FROM events").rows == [[0]]


def test_a_slow_query_is_stopped(ws: Workspace) -> None:
    with pytest.raises(SqlConsoleError, match="longer than"):
        run_sql(
            ws,
            "SELECT count(*) FROM range(100000000) a(x), range(100000000) b(y) WHERE x + y = -1",
            timeout_seconds=0.3,
        )


# --- what is refused: layer 1 (sqlglot) -----------------------------------------------------------

REFUSED = {
    "insert": "INSERT INTO events SELECT * FROM events",
    "update": "UPDATE persons SET account_id = NULL",
    "delete": "DELETE FROM events",
    "create": "CREATE TABLE t AS SELECT 1",
    "drop": "DROP TABLE events",
    "attach": "ATTACH '/tmp/other.duckdb' AS other",
    "copy to": f"COPY events TO '{STOLEN}'",
    "copy from": "COPY events FROM '/etc/passwd'",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "pragma": "PRAGMA table_info('events')",
    "set": "SET enable_external_access = true",
    "export": "EXPORT DATABASE '/tmp/dump'",
    "import": "IMPORT DATABASE '/tmp/dump'",
    "two statements": "SELECT 1; DROP TABLE events",
    "select into": "SELECT * INTO copy FROM events",
    "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
    "read_csv_auto": "SELECT * FROM read_csv_auto('/etc/passwd')",
    "read_parquet": "SELECT * FROM read_parquet('file.parquet')",
    "read_json": "SELECT * FROM read_json('https://example.com/x.json')",
    "read_text": "SELECT * FROM read_text('/etc/hostname')",
    "parquet_scan": "SELECT * FROM parquet_scan('file.parquet')",
    "glob": "SELECT * FROM glob('/etc/*')",
    "file as table": "SELECT * FROM 'file.parquet'",
    "url as table": "SELECT * FROM 'https://example.com/data.csv'",
    "file in a join": "SELECT * FROM events e JOIN '/etc/passwd.csv' p ON true",
    "file in a subquery": "SELECT (SELECT count(*) FROM 'x.csv') FROM events",
    "other database": "SELECT * FROM other.main.events",
    "internal table": "SELECT * FROM identities",
    "settings": "SELECT * FROM duckdb_settings()",
    "current_setting": "SELECT current_setting('home_directory')",
    "getenv": "SELECT getenv('PRODUCTOPS_SECRET_KEY')",
    "describe": "DESCRIBE events",
    "call": "CALL pragma_version()",
}


@pytest.mark.parametrize("query", REFUSED.values(), ids=REFUSED.keys())
def test_the_console_refuses(ws: Workspace, query: str) -> None:
    with pytest.raises(SqlConsoleError):
        run_sql(ws, query)
    assert not STOLEN.exists()
    # The store is untouched.
    assert run_sql(ws, "SELECT count(*) FROM events").rows == [[4]]


def test_refusals_say_why() -> None:
    with pytest.raises(SqlConsoleError, match="exactly one statement; this text has 2"):
        check_query("SELECT 1; SELECT 2")
    with pytest.raises(SqlConsoleError, match=r"only SELECT queries .* not COPY"):
        check_query("COPY events TO 'x.csv'")
    with pytest.raises(SqlConsoleError, match=r"read_csv\(\) is not allowed"):
        check_query("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(SqlConsoleError, match="files and URLs cannot be read"):
        check_query("SELECT * FROM 'file.parquet'")
    with pytest.raises(SqlConsoleError, match="unknown table 'identities'"):
        check_query("SELECT * FROM identities")
    with pytest.raises(SqlConsoleError, match="cannot parse the query"):
        check_query("SELEC 1")
    with pytest.raises(SqlConsoleError, match="empty"):
        check_query("  ;  ")


@settings(max_examples=100, deadline=None)
@given(
    st.text(max_size=200)
    | st.lists(
        st.sampled_from(
            [
                "SELECT",
                "*",
                "FROM",
                "events",
                "'x.csv'",
                "read_csv(",
                ")",
                "(",
                ";",
                "WITH",
                "a",
                "AS",
                "COPY",
                "TO",
                "ATTACH",
                ",",
                "1",
                "UNION",
                "range(3)",
                "glob(",
            ]
        ),
        max_size=12,
    ).map(" ".join)
)
def test_any_text_is_either_a_safe_select_or_refused_with_a_reason(query: str) -> None:
    # The two parse checks must stop every file access before the sandbox has to.
    con = duckdb.connect(":memory:", config=dict(console.SANDBOX_CONFIG))
    try:
        con.execute(store.DDL)
        checked = check_query(query)
        check_parse_tree(con, checked)
        execute_readonly(con, checked, timeout_seconds=2)
    except SqlConsoleError as exc:
        assert str(exc)
        assert "Permission" not in str(exc) and "disabled by configuration" not in str(exc)
    finally:
        con.close()


# --- layer 2 (DuckDB's own parser) and layer 3 (the sandboxed connection), each on its own --------

LAYER_2_REFUSES = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM 'file.parquet'",
    "COPY events TO 'x.csv'",
    "ATTACH 'x.duckdb'",
    "SELECT 1; SELECT 2",
    "SELECT * FROM identities",
    "SELECT current_setting('threads')",
    # A CTE name counts only where the CTE is in scope:
    "SELECT * FROM (WITH a AS (SELECT 1) SELECT * FROM a), a",
    # Functions and types DuckDB does not have yet would make it download an extension:
    "SELECT st_point(1, 2)",
    "SELECT '10.0.0.1'::INET",
]


@pytest.mark.parametrize("query", LAYER_2_REFUSES)
def test_duckdbs_parse_tree_is_checked_too(ws: Workspace, query: str) -> None:
    with console_connection(events_file(ws)) as con, pytest.raises(SqlConsoleError):
        check_parse_tree(con, query)


def test_duckdbs_parse_tree_allows_plain_selects(ws: Workspace) -> None:
    with console_connection(events_file(ws)) as con:
        check_parse_tree(con, "WITH a AS (SELECT * FROM events) SELECT * FROM a, range(2)")


def test_the_connection_itself_cannot_read_or_write_files(ws: Workspace, tmp_path: Path) -> None:
    # Real files, so that only the sandbox stands between the query and them.
    parquet = tmp_path / "file.parquet"
    csv_file = tmp_path / "secret.csv"
    csv_file.write_text("a,b\n1,2\n")
    with duckdb.connect() as plain:
        plain.execute(f"COPY (SELECT 1 AS a) TO '{parquet}' (FORMAT parquet)")
    stolen = tmp_path / "stolen.csv"
    attached = tmp_path / "other.duckdb"
    bypassing_checks = [
        f"SELECT * FROM read_csv('{csv_file}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM '{parquet}'",
        f"COPY (SELECT * FROM events) TO '{stolen}'",
        f"ATTACH '{attached}' AS other",
        "INSTALL httpfs",
    ]
    with console_connection(events_file(ws)) as con:
        for query in bypassing_checks:
            with pytest.raises(
                SqlConsoleError, match=r"Permission|disabled|read-only|does not exist"
            ):
                execute_readonly(con, query)
        # Nor can it switch the sandbox off again.
        with pytest.raises(SqlConsoleError):
            execute_readonly(con, "SET enable_external_access = true")
        assert execute_readonly(con, "SELECT count(*) FROM events").rows == [[4]]
    assert not stolen.exists() and not attached.exists()


def test_the_checks_still_hold_when_this_process_owns_the_writer(ws: Workspace) -> None:
    # With the ingest writer open in-process DuckDB allows no sandboxed second connection; the
    # console falls back to a cursor of the writer's, still behind both parse checks.
    path = events_file(ws)
    store.writer_for(path)
    try:
        assert run_sql(ws, "SELECT count(*) FROM events").rows == [[4]]
        with pytest.raises(SqlConsoleError):
            run_sql(ws, "SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(SqlConsoleError):
            run_sql(ws, f"COPY events TO '{STOLEN}'")
    finally:
        store.close_writer(path)
    assert not STOLEN.exists()


# --- CSV that spreadsheets cannot execute ---------------------------------------------------------


def test_csv_cells_cannot_become_formulas() -> None:
    assert csv_safe("=1+1") == "'=1+1"
    assert csv_safe("+49 30 123") == "'+49 30 123"
    assert csv_safe("-cmd") == "'-cmd"
    assert csv_safe("@SUM(A1)") == "'@SUM(A1)"
    assert csv_safe("\tx") == "'\tx"
    assert csv_safe("\rx") == "'\rx"
    assert csv_safe("plain") == "plain"
    assert csv_safe(-5) == -5  # numbers stay numbers
    assert csv_safe(None) == ""
    text = to_csv(["=name", "n"], [['=HYPERLINK("x")', -1.5], ["ok", 2]])
    assert text.splitlines() == ["'=name,n", '"\'=HYPERLINK(""x"")",-1.5', "ok,2"]


def test_console_csv_is_formula_safe(ws: Workspace) -> None:
    result = run_sql(ws, "SELECT event, -1 AS n FROM events WHERE event LIKE '=%'")
    assert result.to_csv().splitlines() == ["event,n", '"\'=HYPERLINK(""http://evil"")",-1']


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("sql")(sql_command)

    @app.command()
    def version() -> None:
        """Unused: a second command keeps `sql` a sub-command."""

    return app


def test_cli_prints_table_json_and_csv(ws: Workspace, cli: typer.Typer) -> None:
    runner = CliRunner()
    d = str(ws.path)
    q = "SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY event"
    table = runner.invoke(cli, ["sql", d, q])
    assert table.exit_code == 0, table.output
    assert "Signed Up" in table.stdout
    as_json = runner.invoke(cli, ["sql", d, q, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["columns"] == ["event", "n"] and data["truncated"] is False
    assert ["Signed Up", 2] in data["rows"]
    as_csv = runner.invoke(cli, ["sql", d, q, "--format", "csv"])
    assert as_csv.stdout.splitlines()[0] == "event,n"
    assert '"\'=HYPERLINK(""http://evil"")",1' in as_csv.stdout.splitlines()

    capped = runner.invoke(cli, ["sql", d, "SELECT * FROM range(5)", "--limit", "2"])
    assert capped.exit_code == 0 and "truncated" in capped.stderr


def test_cli_refusal_exits_with_the_reason(ws: Workspace, cli: typer.Typer) -> None:
    r = CliRunner().invoke(cli, ["sql", str(ws.path), "DELETE FROM events"])
    assert r.exit_code == 1
    assert "only SELECT queries" in r.stderr


# --- who may use it -------------------------------------------------------------------------------


def wire(app: FastAPI) -> FastAPI:
    """Add the console's route unless the analytics room already did."""
    if not any(getattr(r, "path", None) == "/api/v1/sql" for r in app.routes):
        catalog_routes.register(app)
    return app


def _app(ws: Workspace) -> TestClient:
    return TestClient(wire(create_app(ws)))


QUERY = {"query": "SELECT count(*) AS n FROM events"}


@pytest.fixture
def any_db(workspace: Workspace) -> Workspace:
    fill(workspace)
    return workspace


@pytest.mark.parametrize(("scope", "status"), [("read", 200), ("write", 200), ("ingest", 403)])
def test_api_keys_need_the_read_scope(any_db: Workspace, scope: str, status: int) -> None:
    client = _app(any_db)
    r = client.post(
        "/api/v1/sql", json=QUERY, headers={"Authorization": f"Bearer {api_key(any_db, scope)}"}
    )
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json() == {
            "columns": ["n"],
            "rows": [[4]],
            "row_count": 1,
            "truncated": False,
            "limit": 10_000,
        }


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.viewer, 403), (Role.researcher, 403), (Role.editor, 200), (Role.admin, 200)],
)
def test_of_the_people_only_editors_and_admins_may_query(
    any_db: Workspace, role: Role, status: int
) -> None:
    user = sign_in(any_db, role)
    wire(user.client.app)  # type: ignore[arg-type]
    r = user.client.post("/api/v1/sql", json=QUERY, headers={"X-CSRF-Token": user.csrf})
    assert r.status_code == status, r.text


def test_the_api_needs_a_caller_and_a_csrf_token(any_db: Workspace) -> None:
    assert _app(any_db).post("/api/v1/sql", json=QUERY).status_code == 401
    editor = sign_in(any_db, Role.editor)
    wire(editor.client.app)  # type: ignore[arg-type]
    assert editor.client.post("/api/v1/sql", json=QUERY).status_code == 403


def test_the_api_refuses_writes_and_gives_csv(any_db: Workspace) -> None:
    client = _app(any_db)
    auth = {"Authorization": f"Bearer {api_key(any_db, 'read')}"}
    r = client.post("/api/v1/sql", json={"query": "DROP TABLE events"}, headers=auth)
    assert r.status_code == 422
    assert "only SELECT" in error_detail(r)
    r = client.post(
        "/api/v1/sql?format=csv",
        json={"query": "SELECT event FROM events ORDER BY ts", "limit": 2},
        headers=auth,
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-truncated"] == "true"
    assert r.text.splitlines() == ["event", "Signed Up", "Signed Up"]
    r = client.post("/api/v1/sql", json={"query": "SELECT 1", "limit": 0}, headers=auth)
    assert r.status_code == 422


def test_the_console_module_documents_its_tables() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "sql.md").read_text()
    for table in console.QUERYABLE_TABLES:
        assert f"### `{table}`" in doc
    for column in store.EVENT_COLUMNS:
        assert f"| `{column}` |" in doc
