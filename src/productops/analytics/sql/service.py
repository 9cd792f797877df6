"""The SQL console: one read-only SELECT over the event store, nothing else.

Three layers keep a query from writing, attaching files or reaching the network:

1. sqlglot (DuckDB dialect) parses the text: exactly one statement, a SELECT (WITH, UNION,
   `FROM x` shorthand included); tables only from `QUERYABLE_TABLES` and the query's own
   CTEs; no table functions but a few that only read values (`range`, `unnest`...); no
   function that reads files, settings or the environment.
2. DuckDB's own parser (`json_serialize_sql`) checks the same on the tree DuckDB will run, so a
   difference between the two parsers cannot sneak a file read through; CTE names only count
   where they are in scope.
3. The query runs on a read-only connection opened with `enable_external_access = false`, so
   even a query that got past both checks cannot touch a file or the network. (When this
   process owns the store's writer, DuckDB allows no second configuration of the same file and
   the query runs on a cursor of the writer's connection, behind layers 1 and 2.)

Results are capped (`truncated` says when rows were left out) and a query that runs longer
than `timeout_seconds` is interrupted. The tables and their columns are in docs/sql.md.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import sqlglot
from sqlglot import exp

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.errors import InvalidInput
from productops.core.export import csv_safe as csv_safe
from productops.core.export import jsonable as jsonable
from productops.core.export import to_csv as to_csv

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

QUERYABLE_TABLES = ("events", "events_resolved", "persons", "accounts")
DEFAULT_LIMIT = 10_000
MAX_QUERY_CHARS = 100_000
DEFAULT_TIMEOUT_SECONDS = 30.0
# Table functions that only turn values into rows.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {"range", "generate_series", "unnest", "json_each", "json_tree"}
)
# Scalar functions that read the environment, settings or files, or stall the server.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "getenv",
        "current_setting",
        "sleep_ms",
        "pg_sleep",
        "json_execute_serialized_sql",
        "query",
        "query_table",
        "read_text",
        "read_blob",
        "glob",
    }
)
FORBIDDEN_FUNCTION_PREFIXES = (
    "read_",
    "parquet_",
    "sniff_",
    "duckdb_",
    "pragma_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "iceberg_",
    "delta_",
    "http",
    "s3",
    "load_",
    "install_",
)
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SqlConsoleError(InvalidInput):
    """The console refuses this query (the message says why) or it failed to run."""


@dataclass(frozen=True)
class SqlResult:
    """The rows of a console query; `truncated` is true when more rows than the limit came."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    limit: int

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def json_rows(self) -> list[list[Any]]:
        return [[jsonable(v) for v in row] for row in self.rows]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.json_rows()]

    def to_csv(self) -> str:
        return to_csv(self.columns, self.json_rows())


# --- layer 1: sqlglot ------------------------------------------------------------------------


def _function_refused(name: str) -> bool:
    name = name.lower()
    return name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_FUNCTION_PREFIXES)


def check_query(query: str) -> str:
    """Refuse anything but one read-only SELECT over the event tables; returns the query
    without surrounding whitespace and trailing semicolons."""
    text = query.strip()
    if not text:
        raise SqlConsoleError("the query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise SqlConsoleError(f"the query is longer than {MAX_QUERY_CHARS:,} characters")
    try:
        statements = [
            s
            for s in sqlglot.parse(text, read="duckdb")
            if s is not None and not isinstance(s, exp.Semicolon)  # a trailing comment
        ]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" (line {first.get('line')}, column {first.get('col')})" if first else ""
        raise SqlConsoleError(
            f"cannot parse the query{where}: {first.get('description') or exc}"
        ) from None
    except sqlglot.errors.SqlglotError as exc:
        raise SqlConsoleError(f"cannot parse the query: {_first_line(exc)}") from None
    except RecursionError:
        raise SqlConsoleError("cannot parse the query: it is nested too deeply") from None
    if not statements:
        raise SqlConsoleError("the query is empty")
    if len(statements) != 1:
        raise SqlConsoleError(
            f"the console runs exactly one statement; this text has {len(statements)}"
        )
    tree = statements[0]
    if not isinstance(tree, exp.Query) or isinstance(tree, exp.Pivot):
        kind = tree.key.upper() if isinstance(tree, exp.Expression) else "this statement"
        raise SqlConsoleError(
            f"only SELECT queries (WITH ... SELECT included) can run here, not {kind}"
        )
    for node in tree.walk():
        if isinstance(node, exp.Into):
            raise SqlConsoleError("SELECT ... INTO is not allowed: the console only reads")
        if isinstance(node, exp.Pivot):
            raise SqlConsoleError("PIVOT/UNPIVOT are not allowed in the console")
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for cte_name in cte_names:
        if not _PLAIN_NAME.match(cte_name):
            raise SqlConsoleError(
                f"CTE name '{cte_name}' must be a plain name (letters, digits, _)"
            )
    for table in tree.find_all(exp.Table):
        _check_table(table, cte_names)
    for func in tree.find_all(exp.Func):
        names = {func.sql_name().lower(), type(func).__name__.lower()}
        if isinstance(func, exp.Anonymous):
            names.add(str(func.this).lower())
        if isinstance(func.parent, exp.Table):
            continue  # checked as a table function
        refused = sorted(n for n in names if _function_refused(n))
        if refused:
            raise SqlConsoleError(
                f"function {refused[0]}() is not allowed in the console "
                "(no files, settings or environment)"
            )
    return text.rstrip(";").rstrip()


def _check_table(table: exp.Table, cte_names: set[str]) -> None:
    target = table.this
    if isinstance(target, exp.Func) or not isinstance(target, exp.Identifier):
        func_name = target.sql_name().lower() if isinstance(target, exp.Func) else ""
        if isinstance(target, exp.Anonymous):
            func_name = str(target.this).lower()
        if isinstance(target, exp.Explode | exp.Unnest | exp.GenerateSeries):
            return
        if func_name in ALLOWED_TABLE_FUNCTIONS:
            return
        shown = f"{func_name}()" if func_name else target.sql(dialect="duckdb")
        raise SqlConsoleError(
            f"{shown} is not allowed in the console: query the tables "
            f"{', '.join(QUERYABLE_TABLES)} (no files or URLs)"
        )
    name = target.name
    if target.quoted and not _PLAIN_NAME.match(name):
        raise SqlConsoleError(
            f"'{name}' is not a table of the console: files and URLs cannot be read; "
            f"query {', '.join(QUERYABLE_TABLES)}"
        )
    if table.catalog or (table.db and table.db.lower() != "main"):
        raise SqlConsoleError(
            f"'{table.sql(dialect='duckdb')}': only the tables {', '.join(QUERYABLE_TABLES)} "
            "of the event store can be queried"
        )
    if name.lower() not in QUERYABLE_TABLES and name.lower() not in cte_names:
        raise SqlConsoleError(
            f"unknown table '{name}': the console can query {', '.join(QUERYABLE_TABLES)}"
        )


# --- layer 2: DuckDB's own parse tree -----------------------------------------------------------


def check_parse_tree(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Check the statement as DuckDB itself parses it (no execution)."""
    try:
        row = con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
        tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    except (duckdb.Error, ValueError, RecursionError) as exc:
        raise SqlConsoleError(f"cannot parse the query: {_first_line(exc)}") from None
    if tree.get("error"):
        message = str(tree.get("error_message") or "the query cannot be parsed")
        if "Only SELECT" in message:
            message = "only SELECT queries can run in the console"
        raise SqlConsoleError(message)
    statements: list[Any] = tree.get("statements") or []
    if len(statements) != 1:
        raise SqlConsoleError(
            f"the console runs exactly one statement; this text has {len(statements)}"
        )
    known = _Known(
        functions=_names(con, "SELECT DISTINCT function_name FROM duckdb_functions()"),
        types=_names(con, "SELECT DISTINCT type_name FROM duckdb_types()"),
    )
    try:
        _walk(statements[0], frozenset(), known)
    except RecursionError:
        raise SqlConsoleError("the query is nested too deeply") from None


@dataclass(frozen=True)
class _Known:
    """Functions and types the connection has now: anything else would make DuckDB fetch
    and load an extension."""

    functions: frozenset[str]
    types: frozenset[str]


def _names(con: duckdb.DuckDBPyConnection, query: str) -> frozenset[str]:
    return frozenset(str(r[0]).lower() for r in con.execute(query).fetchall())


def _walk(node: Any, ctes: frozenset[str], known: _Known) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, ctes, known)
        return
    if not isinstance(node, dict):
        return
    cte_map = node.get("cte_map")
    if isinstance(cte_map, dict) and cte_map.get("map"):
        ctes = ctes | {str(entry.get("key", "")).lower() for entry in cte_map["map"]}
    kind = node.get("type")
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        schema = str(node.get("schema_name", "")).lower()
        if node.get("catalog_name") or schema not in ("", "main"):
            raise SqlConsoleError(f"'{name}': only the event store's own tables can be queried")
        if name.lower() not in QUERYABLE_TABLES and name.lower() not in ctes:
            raise SqlConsoleError(
                f"'{name}' is not a table of the console (files and URLs cannot be read); "
                f"query {', '.join(QUERYABLE_TABLES)}"
            )
    elif kind == "TABLE_FUNCTION":
        function = node.get("function") or {}
        name = str(function.get("function_name", "")).lower()
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise SqlConsoleError(f"table function {name}() is not allowed in the console")
    elif node.get("class") == "FUNCTION" or kind == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        if _function_refused(name):
            raise SqlConsoleError(f"function {name}() is not allowed in the console")
        if node.get("catalog") or str(node.get("schema", "")).lower() not in ("", "main"):
            raise SqlConsoleError(f"function {name}(): only plain function names are allowed")
        if name not in known.functions:
            raise SqlConsoleError(f"unknown function {name}()")
    elif node.get("id") == "UNBOUND":
        info = node.get("type_info") or {}
        name = str(info.get("name", "")).lower()
        if name not in known.types:
            raise SqlConsoleError(f"unknown type {info.get('name')}")
    for value in node.values():
        if isinstance(value, dict | list):
            _walk(value, ctes, known)


# --- layer 3: a connection that cannot reach outside ------------------------------------------

SANDBOX_CONFIG = store.READ_ONLY_CONFIG


@contextmanager
def console_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the event store with file and network access disabled
    (an empty store of the same tables before any event arrived).

    Falls back to `store.reader` when this process already has the store open with another
    configuration (the ingest writer), where DuckDB allows no second one.
    """
    if path.exists():
        try:
            con = duckdb.connect(str(path), read_only=True, config=dict(SANDBOX_CONFIG))
        except duckdb.ConnectionException:
            with store.reader(path) as shared:
                if _has_event_tables(shared):
                    yield shared
                    return
        except duckdb.IOException as exc:
            raise store.EventStoreError(
                f"cannot open {path} for reading: {exc}. Another process (probably "
                "`productops serve`) owns the event store; use its API instead."
            ) from exc
        else:
            try:
                if _has_event_tables(con):
                    yield con
                    return
            finally:
                con.close()
    empty = duckdb.connect(":memory:", config=dict(SANDBOX_CONFIG))
    try:
        empty.execute(store.SCHEMA)
        yield empty
    finally:
        empty.close()


def _has_event_tables(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return set(QUERYABLE_TABLES) <= {r[0] for r in rows}


def execute_readonly(
    con: duckdb.DuckDBPyConnection,
    query: str,
    limit: int = DEFAULT_LIMIT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> SqlResult:
    """Run a checked query on `con`, keeping at most `limit` rows."""
    timer = threading.Timer(timeout_seconds, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        rel = con.sql(query)
        if rel is None:
            raise SqlConsoleError("the statement returned no rows")
        columns = [str(c) for c in rel.columns]
        # Through Arrow: time zones need no pytz, and repeated column names stay apart.
        table = rel.limit(limit + 1).to_arrow_table()
        fetched = [list(row) for row in zip(*(c.to_pylist() for c in table.columns), strict=True)]
    except duckdb.InterruptException:
        raise SqlConsoleError(
            f"the query ran longer than {timeout_seconds:g} s and was stopped"
        ) from None
    except duckdb.Error as exc:
        raise SqlConsoleError(f"the query failed: {_first_line(exc)}") from None
    finally:
        timer.cancel()
    truncated = len(fetched) > limit
    return SqlResult(
        columns=columns,
        rows=fetched[:limit],
        truncated=truncated,
        limit=limit,
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def run_sql(
    ws: Workspace,
    query: str,
    limit: int = DEFAULT_LIMIT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> SqlResult:
    """Run one read-only SELECT over the workspace's events, persons and accounts."""
    if limit < 1:
        raise SqlConsoleError("limit must be at least 1")
    checked = check_query(query)
    with console_connection(events_file(ws)) as con:
        check_parse_tree(con, checked)
        return execute_readonly(con, checked, limit=limit, timeout_seconds=timeout_seconds)
