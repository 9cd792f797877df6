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

What a query may take is bounded too (`[analytics] sql_*`), since a `read` key must not be
able to starve the server: at most `limit` rows (`truncated` says when rows were left out) and
`sql_max_result_bytes` of answer, counted while Arrow record batches are fetched and converted;
one deadline for running, fetching and writing the answer; the memory the process gains while
the query runs; and how many queries one caller, and all together, run at once. DuckDB's own
`memory_limit` and `threads` belong to the database instance, which in a serving process is the
event writer's, so they cannot be narrowed for one console cursor: the query runs in a thread of
its own while its caller watches the clock and the process's memory, and interrupts it. The
tables and their columns are in docs/sql.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from productops.analytics import store
from productops.analytics.settings import Section, events_file, section
from productops.core.errors import InvalidInput, RateLimited
from productops.core.export import csv_safe as csv_safe
from productops.core.export import jsonable as jsonable
from productops.core.export import to_csv as to_csv

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

QUERYABLE_TABLES = ("events", "events_resolved", "persons", "accounts")
DEFAULT_LIMIT = 10_000
MAX_QUERY_CHARS = 100_000
_DEFAULTS = Section()
DEFAULT_TIMEOUT_SECONDS = _DEFAULTS.sql_timeout_seconds
DEFAULT_MAX_RESULT_BYTES = _DEFAULTS.sql_max_result_bytes
DEFAULT_MAX_MEMORY_BYTES = _DEFAULTS.sql_max_memory_bytes
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
    """The rows of a console query, as JSON-ready values (times as ISO text...); `truncated`
    is true when more rows than the limit came."""

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


# --- limits: the whole request, the answer's size, memory, callers at once --------------------


@dataclass(frozen=True)
class ConsoleLimits:
    """What one console query may take (the `sql_*` settings of `[analytics]`)."""

    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES
    max_concurrent_per_caller: int = _DEFAULTS.sql_max_concurrent_per_caller
    max_concurrent: int = _DEFAULTS.sql_max_concurrent
    max_running: int = _DEFAULTS.sql_max_running
    low_priority: bool = _DEFAULTS.sql_low_priority

    @classmethod
    def of(cls, ws: Workspace) -> ConsoleLimits:
        s = section(ws)
        return cls(
            timeout_seconds=s.sql_timeout_seconds,
            max_result_bytes=s.sql_max_result_bytes,
            max_memory_bytes=s.sql_max_memory_bytes,
            max_concurrent_per_caller=s.sql_max_concurrent_per_caller,
            max_concurrent=s.sql_max_concurrent,
            max_running=s.sql_max_running,
            low_priority=s.sql_low_priority,
        )


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class _Gate:
    """The console queries of this process, by caller, from their arrival to the real end of
    their work (not when their caller stopped waiting for it), and how many execute now."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._deadlines: dict[str, list[float]] = {}
        self._executing = 0

    def in_flight(self, caller: str | None = None) -> int:
        """Queries taken and not yet ended (running or waiting for their turn)."""
        with self._lock:
            if caller is not None:
                return len(self._deadlines.get(caller, []))
            return sum(len(d) for d in self._deadlines.values())

    def enter(self, caller: str, deadline: float, limits: ConsoleLimits) -> Callable[[], None]:
        """Take a place for a query that must end by `deadline`; RateLimited when the caller
        or the process already runs as many as allowed. Returns the release."""
        with self._lock:
            mine = self._deadlines.get(caller, [])
            everyone = [d for ds in self._deadlines.values() for d in ds]
            if len(mine) >= limits.max_concurrent_per_caller:
                raise RateLimited(
                    f"you already have {len(mine)} SQL-console queries running or waiting, "
                    "the most one caller may have at once "
                    "([analytics] sql_max_concurrent_per_caller): try again when one has ended",
                    retry_after=_seconds_until(min(mine)),
                )
            if len(everyone) >= limits.max_concurrent:
                raise RateLimited(
                    f"the server already has {len(everyone)} SQL-console queries running or "
                    "waiting, the most it takes at once ([analytics] sql_max_concurrent): "
                    "try again shortly",
                    retry_after=_seconds_until(min(everyone)),
                )
            mine = self._deadlines.setdefault(caller, mine)
            mine.append(deadline)

        def release() -> None:
            with self._lock:
                mine.remove(deadline)
                if not mine and self._deadlines.get(caller) is mine:
                    del self._deadlines[caller]

        return release

    def take_turn(self, limits: ConsoleLimits, stopped: threading.Event) -> Callable[[], None]:
        """Wait until fewer than `max_running` queries execute (or `stopped`); returns the end
        of the turn."""
        with self._lock:
            while self._executing >= limits.max_running:
                if stopped.is_set():
                    raise _Stopped
                self._lock.wait(_POLL_SECONDS)
            self._executing += 1

        def done() -> None:
            with self._lock:
                self._executing -= 1
                self._lock.notify()

        return done


def _seconds_until(deadline: float) -> int:
    return max(1, math.ceil(deadline - time.monotonic()))


GATE = _Gate()


class _OneThread:
    """DuckDB's helper threads belong to the database instance, which in a serving process is
    the event writer's, and would run a console query at full priority next to ingest. While
    console queries run on such an instance it keeps to the threads that query it (`SET
    threads = 1`); the last one to end restores the number it had."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, tuple[int, int]] = {}  # instance -> (queries, threads before)

    @contextmanager
    def held(self, instance: str, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        with self._lock:
            users, before = self._users.get(instance, (0, 1))
            if users == 0:
                with closing(con.cursor()) as cur:
                    row = cur.execute("SELECT current_setting('threads')").fetchone()
                    before = int(row[0]) if row else 1
                    if before > 1:
                        cur.execute("SET threads = 1")
            self._users[instance] = (users + 1, before)
        try:
            yield
        finally:
            with self._lock:
                users, before = self._users.pop(instance)
                if users > 1:
                    self._users[instance] = (users - 1, before)
                elif before > 1:
                    with closing(con.cursor()) as cur:
                        cur.execute(f"SET threads = {before:d}")


ONE_THREAD = _OneThread()


def _lowest_cpu_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux, where niceness is per thread)."""
    if sys.platform == "linux":
        with suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


# How often the caller looks at the clock and at memory while a query runs.
_POLL_SECONDS = 0.05
# Rows per Arrow record batch: the unit in which results are fetched and sized.
_BATCH_ROWS = 256
# Values are turned into Python in pieces of about this many Arrow bytes: a stop is seen
# between pieces, and no single step holds the GIL long (ingest runs in the same process).
_PIECE_BYTES = 1 << 20


def _resident_bytes() -> int:
    """The process's resident memory now (Linux), else its peak so far."""
    try:
        with Path("/proc/self/statm").open("rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _cached_table_bytes(probe: duckdb.DuckDBPyConnection) -> int:
    """Memory DuckDB holds as cached blocks of stored tables (evictable, not the query's)."""
    row = probe.execute(
        "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"
    ).fetchone()
    return int(row[0]) if row else 0


class _TooLarge(Exception):
    pass


class _Stopped(Exception):
    pass


class _Collector:
    """Turns Arrow record batches into the answer (JSON-ready rows, JSON or CSV bytes) and
    counts its bytes as it goes, refusing past `max_bytes`."""

    def __init__(self, columns: list[str], output: str, max_bytes: int) -> None:
        self.columns = columns
        self.output = output
        self.max_bytes = max_bytes
        self.fetched = 0  # Arrow bytes
        self.size = 0  # bytes of the answer
        self.row_count = 0
        self.rows: list[list[Any]] = []
        self.parts: list[bytes] = []
        self._csv_header = to_csv(columns, [])
        if output == "csv":
            self._add_bytes(self._csv_header.encode())

    def _add_bytes(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise _TooLarge
        self.parts.append(data)

    def add(self, batch: pa.RecordBatch, stopped: threading.Event) -> None:
        # The rows as fetched are held to the cap too, before any is converted.
        self.fetched += batch.nbytes
        if self.fetched > self.max_bytes:
            raise _TooLarge
        # Column by column: repeated column names stay apart.
        pieces = _Pieces(stopped, self.max_bytes - self.size)
        values = [pieces.json_ready(column) for column in batch.columns]
        rows = [list(row) for row in zip(*values, strict=True)]
        del values
        if self.output == "csv":
            self._add_bytes(to_csv(self.columns, rows)[len(self._csv_header) :].encode())
        else:
            for row in rows:
                text = _json_bytes(row)
                if self.output == "json":
                    self._add_bytes(text)
                else:
                    self.size += len(text) + 1
                    if self.size > self.max_bytes:
                        raise _TooLarge
            if self.output == "rows":
                self.rows.extend(rows)
        self.row_count += len(rows)

    def body(self, truncated: bool, limit: int) -> bytes:
        if self.output == "csv":
            return b"".join(self.parts)
        return b"".join(
            (
                b'{"columns":',
                _json_bytes(self.columns),
                b',"rows":[',
                b",".join(self.parts),
                b'],"row_count":',
                str(self.row_count).encode(),
                b',"truncated":',
                b"true" if truncated else b"false",
                b',"limit":',
                str(limit).encode(),
                b"}",
            )
        )


class _Pieces:
    """How a batch is converted: in pieces of about `_PIECE_BYTES` of Arrow (a single huge
    list value too), each a short step: a stop is seen between pieces, no step holds the GIL
    long (ingest runs in the same process), and the pieces of a large value are counted
    against the room left under the cap as they are written, so an answer that cannot fit
    is refused before all of it was converted."""

    def __init__(self, stopped: threading.Event, room: int) -> None:
        self.stopped = stopped
        self.room = room

    def json_ready(self, array: pa.Array) -> list[Any]:
        """The values of `array` as JSON-ready Python."""
        if self.stopped.is_set():
            raise _Stopped
        if array.nbytes <= _PIECE_BYTES or len(array) == 0:
            return [jsonable(v) for v in array.to_pylist()]
        if len(array) > 1:
            step = max(1, len(array) * _PIECE_BYTES // array.nbytes)
            out: list[Any] = []
            for start in range(0, len(array), step):
                out.extend(self._counted(array.slice(start, step)))
            return out
        kind = array.type
        one = array[0]
        if one.is_valid and (
            pa.types.is_list(kind)
            or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)
        ):
            return [self._counted(one.values)]
        return [jsonable(v) for v in array.to_pylist()]

    def _counted(self, array: pa.Array) -> list[Any]:
        values = self.json_ready(array)
        if array.nbytes <= _PIECE_BYTES:
            self.room -= len(_json_bytes(values))
            if self.room < 0:
                raise _TooLarge
        return values


def _json_bytes(value: Any) -> bytes:
    # As FastAPI's JSONResponse writes it.
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str
    ).encode()


@dataclass(frozen=True)
class SqlAnswer:
    """A console query's answer as the API sends it: the JSON or CSV body, made within the
    console's limits."""

    body: bytes
    media_type: str
    row_count: int
    truncated: bool
    limit: int


class _ConsoleRun:
    """One console query: its work runs in a thread of its own; the caller waits for it until
    the deadline and watches the memory the process gains meanwhile."""

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
        query: str,
        limit: int,
        output: str,
        limits: ConsoleLimits,
        check_tree: bool,
        shared_instance: str | None,
    ) -> None:
        self.connect = connect
        self.query = query
        self.limit = limit
        self.output = output
        self.limits = limits
        self.check_tree = check_tree
        # The event store's path when the query shares the writer's DuckDB instance.
        self.shared_instance = shared_instance
        self.stopped = threading.Event()
        self.started = threading.Event()
        self.done = threading.Event()
        self.outcome: tuple[_Collector, bool] | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._probe: duckdb.DuckDBPyConnection | None = None
        self._baseline: tuple[int, int] | None = None

    # --- the work, in its own thread ---

    def work(self, release: Callable[[], None]) -> None:
        try:
            if self.shared_instance is not None and self.limits.low_priority:
                _lowest_cpu_priority()  # this thread is its own and ends with the query
            turn_done = GATE.take_turn(self.limits, self.stopped)
            self.started.set()
            try:
                self._work()
            finally:
                turn_done()
        except BaseException as exc:  # handed to the caller
            self.error = exc
        finally:
            release()
            self.done.set()

    def _work(self) -> None:
        with self.connect() as con:
            probe = con.cursor()
            with self._lock:
                self._con, self._probe = con, probe
            try:
                if self.stopped.is_set():
                    raise _Stopped
                if self.check_tree:
                    check_parse_tree(con, self.query)
                one_thread: AbstractContextManager[None] = nullcontext()
                if self.shared_instance is not None and self.limits.low_priority:
                    one_thread = ONE_THREAD.held(self.shared_instance, con)
                with one_thread:
                    self._baseline = (_resident_bytes(), _cached_table_bytes(probe))
                    self.outcome = self._fetch(con)
            finally:
                with self._lock:
                    self._con = self._probe = None
                probe.close()

    def _fetch(self, con: duckdb.DuckDBPyConnection) -> tuple[_Collector, bool]:
        rel = con.sql(self.query)
        if rel is None:
            raise SqlConsoleError("the statement returned no rows")
        collector = _Collector([str(c) for c in rel.columns], self.output, self.max_bytes)
        # Through Arrow: time zones need no pytz, and repeated column names stay apart.
        reader = rel.limit(self.limit + 1).to_arrow_reader(_BATCH_ROWS)
        try:
            for batch in reader:
                if self.stopped.is_set():
                    raise _Stopped
                room = self.limit - collector.row_count
                if batch.num_rows > room:
                    if room > 0:
                        collector.add(batch.slice(0, room), self.stopped)
                    return collector, True
                collector.add(batch, self.stopped)
        finally:
            reader.close()
        return collector, False

    @property
    def max_bytes(self) -> int:
        return self.limits.max_result_bytes

    def stop(self) -> None:
        self.stopped.set()
        with self._lock:
            if self._con is not None:
                self._con.interrupt()

    # --- the caller ---

    def memory_gained(self) -> int:
        """What the process gained since the query started, less DuckDB's table cache."""
        with self._lock:
            if self._baseline is None or self._probe is None:
                return 0
            resident, cached = self._baseline
            try:
                cached_now = _cached_table_bytes(self._probe)
            except duckdb.Error:
                cached_now = cached
        return _resident_bytes() - resident - max(0, cached_now - cached)

    def wait(self, deadline: float, until_ended: bool = False) -> tuple[_Collector, bool]:
        """The outcome, or the reason it was stopped. With `until_ended`, return or raise only
        once the work has ended (its connection is the caller's, who may close it next)."""
        limits = self.limits
        try:
            while not self.done.wait(_POLL_SECONDS):
                if time.monotonic() >= deadline:
                    self.stop()
                    if not self.started.is_set():
                        raise SqlConsoleError(
                            f"the query waited {limits.timeout_seconds:g} s for its turn and did "
                            f"not run: the server runs {limits.max_running} console "
                            "queries at a time ([analytics] sql_max_running); try again later"
                        )
                    raise SqlConsoleError(
                        f"the query ran longer than {limits.timeout_seconds:g} s and was stopped "
                        "([analytics] sql_timeout_seconds counts running it, fetching the rows "
                        "and writing the answer)"
                    )
                if self.memory_gained() > limits.max_memory_bytes:
                    self.stop()
                    raise SqlConsoleError(
                        f"the query needed more than {_size(limits.max_memory_bytes)} of memory "
                        "and was stopped ([analytics] sql_max_memory_bytes): aggregate more or "
                        "select fewer rows"
                    )
        except BaseException:
            self.stop()
            if until_ended:
                self.done.wait()
            raise
        if self.error is not None:
            raise _console_error(self.error, limits) from None
        assert self.outcome is not None
        return self.outcome


def _console_error(exc: BaseException, limits: ConsoleLimits) -> BaseException:
    if isinstance(exc, _TooLarge):
        return SqlConsoleError(
            f"the result is larger than {_size(limits.max_result_bytes)}, the most the console "
            "answers ([analytics] sql_max_result_bytes): select fewer rows or columns, or "
            "aggregate"
        )
    if isinstance(exc, duckdb.InterruptException | _Stopped):
        return SqlConsoleError("the query was stopped")
    if isinstance(exc, duckdb.Error):
        return SqlConsoleError(f"the query failed: {_first_line(exc)}")
    return exc


def _run(
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    query: str,
    limit: int,
    output: str,
    limits: ConsoleLimits,
    caller: str | None,
    check_tree: bool,
    shared_instance: str | None = None,
    until_ended: bool = False,
) -> tuple[_Collector, bool]:
    if limit < 1:
        raise SqlConsoleError("limit must be at least 1")
    deadline = time.monotonic() + limits.timeout_seconds
    release = GATE.enter(caller, deadline, limits) if caller is not None else (lambda: None)
    run = _ConsoleRun(connect, query, limit, output, limits, check_tree, shared_instance)
    try:
        worker = threading.Thread(
            target=run.work, args=(release,), name="productops-sql-console", daemon=True
        )
        worker.start()
    except BaseException:
        release()
        raise
    return run.wait(deadline, until_ended)


def execute_readonly(
    con: duckdb.DuckDBPyConnection,
    query: str,
    limit: int = DEFAULT_LIMIT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
) -> SqlResult:
    """Run a checked query on `con`, keeping at most `limit` rows, within `timeout_seconds`
    (running, fetching and converting) and `max_result_bytes` (as JSON)."""

    @contextmanager
    def given() -> Iterator[duckdb.DuckDBPyConnection]:
        yield con

    limits = ConsoleLimits(timeout_seconds=timeout_seconds, max_result_bytes=max_result_bytes)
    collector, truncated = _run(
        given, query, limit, "rows", limits, None, check_tree=False, until_ended=True
    )
    return SqlResult(collector.columns, collector.rows, truncated, limit)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


LOCAL_CALLER = "local"


def _limits(ws: Workspace, timeout_seconds: float | None) -> ConsoleLimits:
    limits = ConsoleLimits.of(ws)
    if timeout_seconds is not None:
        limits = replace(limits, timeout_seconds=timeout_seconds)
    return limits


@dataclass(frozen=True)
class _Target:
    query: str  # checked
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
    caller: str  # as the gate counts it: a key's id is per workspace
    shared_instance: str | None  # the store, when this process's writer owns it


def _target(ws: Workspace, query: str, caller: str) -> _Target:
    checked = check_query(query)
    path = events_file(ws)
    return _Target(
        query=checked,
        connect=lambda: console_connection(path),
        caller=f"{path}#{caller}",
        shared_instance=str(path.resolve()) if store.has_writer(path) else None,
    )


def run_sql(
    ws: Workspace,
    query: str,
    limit: int = DEFAULT_LIMIT,
    timeout_seconds: float | None = None,
    caller: str = LOCAL_CALLER,
) -> SqlResult:
    """Run one read-only SELECT over the workspace's events, persons and accounts, within the
    console's limits (`[analytics] sql_*`; `timeout_seconds` overrides the setting)."""
    t = _target(ws, query, caller)
    limits = _limits(ws, timeout_seconds)
    collector, truncated = _run(
        t.connect, t.query, limit, "rows", limits, t.caller, True, t.shared_instance
    )
    return SqlResult(collector.columns, collector.rows, truncated, limit)


def answer_sql(
    ws: Workspace,
    query: str,
    limit: int = DEFAULT_LIMIT,
    output: Literal["json", "csv"] = "json",
    caller: str = LOCAL_CALLER,
) -> SqlAnswer:
    """Like `run_sql`, but the answer the API sends (JSON or CSV bytes), written within the
    same deadline and size cap as running the query."""
    t = _target(ws, query, caller)
    limits = _limits(ws, None)
    collector, truncated = _run(
        t.connect, t.query, limit, output, limits, t.caller, True, t.shared_instance
    )
    return SqlAnswer(
        body=collector.body(truncated, limit),
        media_type="text/csv; charset=utf-8" if output == "csv" else "application/json",
        row_count=collector.row_count,
        truncated=truncated,
        limit=limit,
    )
