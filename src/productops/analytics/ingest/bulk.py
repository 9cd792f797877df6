"""Bulk import of events from JSONL, CSV and Parquet files: `import_events(ws, path)`.

- **JSONL** (`.jsonl`, `.ndjson`, optionally `.gz`): one event per line, as a Segment message
  (`type`, `userId`/`anonymousId`, `messageId`, …), a PostHog event (`event`, `distinct_id`,
  `uuid`, `properties`) or the flat form below. Identify, alias and group records merge people
  and update profiles as they do over HTTP.
- **CSV** (`.csv`, `.tsv`, optionally `.gz`) and **Parquet** (`.parquet`): flat columns, read
  and written by DuckDB in one vectorised pass (the fast path):

  | column (any of these names, any case)                  | meaning                       |
  |--------------------------------------------------------|-------------------------------|
  | `event`, `event_name`                                  | event name (required)         |
  | `timestamp`, `ts`, `time`, `event_time`                | when (required): ISO 8601, a  |
  |                                                        | timestamp, or epoch s / ms    |
  | `distinct_id`, `user_id`, `anonymous_id`               | who (at least one per row)    |
  | `event_id`, `message_id`, `messageId`, `uuid`, `insert_id` | dedup key (else derived)  |
  | `account_id`, `group_id`                               | the customer account          |
  | `type`                                                 | track, page, identify, …      |
  | `properties`                                           | a JSON object                 |
  | `received_at`, `source`                                | kept when present             |
  | any other column                                       | a property of that name       |

An import is one transaction: by default a bad row stops it with an `ImportRowError` naming
the file, the row and the column, and nothing is stored. With `skip_bad_rows=True` the bad
rows are left out and listed in the result instead. Events are deduplicated on their id
against the store and within the file, so importing a file twice stores it once.

The store must not be held by a running server (`EventStoreError` says so): stop it, or send
the events over HTTP.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from productops.analytics import store
from productops.analytics.ingest.service import (
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TIME,
    MIN_TIME,
    POSTHOG_LIMITS,
    SEGMENT_EVENT_NAMES,
    SOURCE_IMPORT,
    MalformedPayload,
    Rejected,
    check_message,
    may_hold_surrogates,
    normalise_record,
    parse_json,
)
from productops.analytics.settings import events_file, section
from productops.core.clock import naive_utc, utcnow
from productops.core.errors import ProductOpsError

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

FORMATS = ("auto", "jsonl", "csv", "parquet")
# progress(done rows, total rows (estimated while reading JSONL), what is happening)
ProgressFn = Callable[[int, int | None, str | None], object]

JSONL_CHUNK = 50_000
MAX_PROBLEMS_KEPT = 1000

COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "event": ("event", "event_name"),
    "timestamp": ("timestamp", "ts", "time", "event_time"),
    "distinct_id": ("distinct_id",),
    "user_id": ("user_id", "userid"),
    "anonymous_id": ("anonymous_id", "anonymousid"),
    "event_id": ("event_id", "message_id", "messageid", "uuid", "insert_id"),
    "account_id": ("account_id", "group_id", "groupid"),
    "type": ("type",),
    "properties": ("properties",),
    "received_at": ("received_at",),
    "source": ("source",),
}


class ImportFileError(ProductOpsError):
    """The file cannot be imported as a whole (unreadable, unknown format, missing column)."""


class ImportRowError(ImportFileError):
    """A row of the file is wrong; nothing of the file was stored."""

    def __init__(self, file: str, row: int, problem: str, more: int = 0, unit: str = "row"):
        tail = f" ({more:,} more bad rows; --skip-bad-rows leaves them out)" if more else ""
        super().__init__(f"{file}: {unit} {row}, {problem}{tail}")
        self.file = file
        self.row = row
        self.problem = problem


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based data row (for JSONL: the line)
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows read, events stored now, duplicates (already stored or
    repeated in the file), and the rows left out with their reasons."""

    file: str
    format: str
    rows: int
    stored: int
    duplicates: int
    rejected_count: int = 0
    rejected: tuple[RowProblem, ...] = ()
    seconds: float = 0.0
    identities: int = 0

    @property
    def events_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "rows": self.rows,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected_count": self.rejected_count,
            "rejected": [{"row": p.row, "reason": p.reason} for p in self.rejected],
            "identity_updates": self.identities,
            "seconds": round(self.seconds, 3),
        }


def detect_format(path: Path) -> str:
    """The format a file's name says it has."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if last in (".csv", ".tsv", ".txt"):
        return "csv"
    if last in (".parquet", ".pq"):
        return "parquet"
    raise ImportFileError(
        f"{path.name}: cannot tell the format from the name; pass format jsonl, csv or parquet"
    )


def import_events(
    ws: Workspace,
    path: Path,
    format: str = "auto",
    progress: ProgressFn | None = None,
    skip_bad_rows: bool = False,
    display_name: str | None = None,
) -> ImportResult:
    """Import the events in a JSONL, CSV or Parquet file into the workspace's event store.

    All or nothing unless `skip_bad_rows`; re-importing stores nothing twice. Messages name
    the file as `display_name` when given (an upload is stored under another name).
    """
    path = Path(path)
    label = display_name or path.name
    if format not in FORMATS:
        raise ImportFileError(f"format '{format}' is not one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    fmt = detect_format(path) if format == "auto" else format
    started = time.perf_counter()
    limit = section(ws).import_memory_limit.strip()
    with store.bulk(events_file(ws)) as con, _memory_limit(con, limit):
        con.execute("SET SESSION TimeZone = 'UTC'")
        if fmt == "jsonl":
            try:
                result = _import_jsonl(con, path, progress, skip_bad_rows, label)
            except duckdb.Error as exc:
                raise ImportFileError(f"{label}: {_first_line(exc)}") from exc
        else:
            try:
                result = _import_table(con, path, fmt, progress, skip_bad_rows, label=label)
            except _LateTypeChange:
                # A CSV column changed type after DuckDB's sample: read it all to decide.
                result = _import_table(
                    con, path, fmt, progress, skip_bad_rows, sample_all=True, label=label
                )
    file = str(path) if display_name is None else display_name
    return dataclasses.replace(result, file=file, seconds=time.perf_counter() - started)


@contextmanager
def _memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """Hold the store to `limit` (`[analytics] import_memory_limit`) while importing: DuckDB
    spills joins, windows and aggregates to a folder next to the store beyond it. The limit
    belongs to the database instance (in a serving process, its other queries share it for
    the import's duration)."""
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    previous = str(row[0]) if row else None
    con.execute(f"SET memory_limit = '{limit}'")  # the setting's pattern admits no quote
    try:
        yield
    finally:
        if previous:
            con.execute(f"SET memory_limit = '{previous}'")


# --- the transaction -----------------------------------------------------------------------


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _insert_new(
    con: duckdb.DuckDBPyConnection,
    src: str,
    properties: str,
    checked: bool,
    repeats: bool,
    fresh: bool,
    people_src: str,
) -> str:
    """Insert the rows of relation `src` (columns as in `events`) whose id was never stored:
    only the valid ones when `checked` (it has a `problem` column), and the earliest of
    repeated ids when the file has `repeats` (a window over every row, so only when needed).
    A `fresh` store (no events yet) needs no look at what is stored. The people of relation
    `people_src` (a `distinct_id` column: every row of the file, the cheapest relation that
    has it) get their keys first (`store.keyed_insert`)."""
    never_stored = (
        "true" if fresh else "NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = s.event_id)"
    )
    rows = f"""
    SELECT s.event_id, s.event, s.type, s.ts, s.received_at, s.distinct_id, s.user_id,
           s.anonymous_id, s.account_id, s.source, {properties} AS properties,
           COALESCE(i.person_id, s.distinct_id) AS person_id,
           {store.id_hash_sql("s.event_id")} AS id_hash
    FROM {src} AS s LEFT JOIN identities i ON i.distinct_id = s.distinct_id
    WHERE {"s.problem IS NULL AND" if checked else ""} {never_stored}
    {"QUALIFY row_number() OVER (PARTITION BY s.event_id ORDER BY s.ts) = 1" if repeats else ""}
    """
    people = f"""
    SELECT COALESCE(i.person_id, s.distinct_id) AS person_id
    FROM (SELECT DISTINCT distinct_id FROM {people_src}) AS s
    LEFT JOIN identities i ON i.distinct_id = s.distinct_id
    """
    return store.keyed_insert(con, rows, people)


def _numbered(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """`relation` as stored: with the second, third … copy of a derived id numbered `#2`,
    `#3` … (two identical rows are two events; importing the file again still adds nothing).

    `relation` has `derived` (the row has no id of its own, its id is made from its content)
    and `content_hash` (a cheap hash of that content). Only rows whose content repeats go
    through the numbering window — they are found first (`import_repeats`, usually tiny), so
    the rest of the file streams into the store without being held in memory.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE import_repeats AS
            SELECT content_hash AS h FROM {relation} WHERE derived
            GROUP BY content_hash HAVING count(*) > 1"""
    )
    if _count(con, "SELECT count(*) FROM import_repeats") == 0:
        return _without_derived(relation)
    return f"""(
        SELECT * EXCLUDE (derived, content_hash) FROM {relation}
        WHERE NOT derived OR content_hash NOT IN (SELECT h FROM import_repeats)
        UNION ALL
        SELECT * EXCLUDE (copy_no, derived, content_hash)
                 REPLACE (CASE WHEN copy_no > 1 THEN event_id || '#' || copy_no
                               ELSE event_id END AS event_id)
        FROM (
            SELECT *, row_number() OVER (PARTITION BY event_id) AS copy_no
            FROM {relation}
            WHERE derived AND content_hash IN (SELECT h FROM import_repeats)
        )
    )"""


def _without_derived(relation: str) -> str:
    return f"(SELECT * EXCLUDE (derived, content_hash) FROM {relation})"


@dataclass(frozen=True)
class _Census:
    rows: int
    bad: int
    ids: int  # rows with an id of their own (the others get one derived from their content)
    distinct_ids: int  # of their hashes (a collision only costs the check for repeats)
    identity_rows: int
    first: dt.datetime | None = None
    last: dt.datetime | None = None

    @property
    def repeats(self) -> bool:
        """Whether ids of the file's own may repeat within it (derived ids are numbered)."""
        return self.distinct_ids < self.ids

    @property
    def derived(self) -> bool:
        """Whether some rows have no id of their own."""
        return self.ids < self.rows


def _census(
    con: duckdb.DuckDBPyConnection, inner: str, problem: str, progress: ProgressFn | None
) -> _Census:
    """One pass over the file: rows, bad rows, ids, identify/alias/group rows."""
    if progress is not None:
        progress(0, None, "checking")
    row = con.execute(
        f"""
        SELECT count(*), count({problem}), count(raw_event_id),
               count(DISTINCT hash(raw_event_id)) FILTER (WHERE raw_event_id IS NOT NULL),
               count(*) FILTER (WHERE type IN ('identify', 'alias', 'group')),
               min(ts), max(ts)
        FROM {inner}
        """
    ).fetchone()
    if row is None:
        return _Census(0, 0, 0, 0, 0)
    rows, bad, ids, distinct_ids, identity_rows = (int(v) for v in row[:5])
    return _Census(rows, bad, ids, distinct_ids, identity_rows, first=row[5], last=row[6])


def _mark_days(
    con: duckdb.DuckDBPyConnection, first: dt.datetime | None, last: dt.datetime | None
) -> None:
    """Note the days an import may have touched, for the tracking plan's counts."""
    if first is None or last is None:
        return
    con.execute(
        "INSERT INTO dirty_days SELECT CAST(d AS DATE) FROM generate_series("
        "CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY) AS t(d)",
        [first, last],
    )


@dataclass
class _Identities:
    """Identity updates in file order, without immediate repeats of the same update."""

    updates: list[store.IdentityUpdate] = field(default_factory=list)
    _last: Any = None

    def add(self, update: store.IdentityUpdate) -> None:
        key = (
            update.kind,
            update.distinct_id,
            update.person_id,
            update.account_id,
            json.dumps(update.traits, sort_keys=True, default=str),
        )
        if key != self._last:
            self.updates.append(update)
            self._last = key

    def apply(self, con: duckdb.DuckDBPyConnection) -> int:
        for update in self.updates:
            store.apply_identity(con, update)
        return len(self.updates)


def _run_with_progress(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    progress: ProgressFn | None,
    total: int,
    message: str,
) -> None:
    """Run one long statement, reporting DuckDB's own progress estimate meanwhile."""
    if progress is None:
        con.execute(sql)
        return
    con.execute("SET SESSION enable_progress_bar = true")
    con.execute("SET SESSION enable_progress_bar_print = false")
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            pct = con.query_progress()
            if pct >= 0:
                progress(int(total * min(pct, 100.0) / 100), total, message)

    watcher = threading.Thread(target=poll, name="productops-import-progress", daemon=True)
    watcher.start()
    try:
        con.execute(sql)
    finally:
        done.set()
        watcher.join()
    progress(total, total, message)


# --- JSONL ---------------------------------------------------------------------------------


@contextmanager
def _open_lines(path: Path) -> Iterator[tuple[IO[bytes], Iterable[bytes]]]:
    """(the file as stored, for progress by bytes read; its lines, decompressed if .gz)."""
    with path.open("rb") as raw:
        if path.suffix.lower() == ".gz":
            with gzip.GzipFile(fileobj=raw) as lines:
                yield raw, lines
        else:
            yield raw, raw


_STAGING_DDL = """
CREATE OR REPLACE TEMP TABLE import_staging (
    event_id VARCHAR, event VARCHAR, type VARCHAR, ts TIMESTAMP, received_at TIMESTAMP,
    distinct_id VARCHAR, user_id VARCHAR, anonymous_id VARCHAR, account_id VARCHAR,
    source VARCHAR, properties VARCHAR, problem VARCHAR, derived BOOLEAN
)
"""


def _import_jsonl(
    con: duckdb.DuckDBPyConnection, path: Path, progress: ProgressFn | None, skip: bool, label: str
) -> ImportResult:
    received_at = naive_utc(utcnow())
    size = max(path.stat().st_size, 1)
    rows = 0
    problems: list[RowProblem] = []
    problem_count = 0
    identities = _Identities()
    pending: list[store.Event] = []
    last_report = 0.0

    def flush() -> None:
        if pending:
            batch = store.events_to_arrow(pending)
            batch = batch.append_column("problem", pa.nulls(batch.num_rows, pa.string()))
            batch = batch.append_column("derived", pa.array([e.derived for e in pending]))
            con.register("import_chunk", batch)
            try:
                con.execute("INSERT INTO import_staging SELECT * FROM import_chunk")
            finally:
                con.unregister("import_chunk")
            pending.clear()

    with _transaction(con):
        con.execute(_STAGING_DDL)
        with _open_lines(path) as (raw, fh):
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                rows += 1
                try:
                    record = parse_json(line)
                    check_message(
                        record,
                        POSTHOG_LIMITS,
                        len(line) > POSTHOG_LIMITS.message_bytes,
                        may_hold_surrogates(line),
                    )
                    event, updates = normalise_record(record, received_at, SOURCE_IMPORT)
                except (MalformedPayload, Rejected) as exc:
                    reason = str(exc).replace("the body is not", "not")
                    if not skip:
                        raise ImportRowError(label, line_no, reason, unit="line") from exc
                    problem_count += 1
                    if len(problems) < MAX_PROBLEMS_KEPT:
                        problems.append(RowProblem(line_no, reason))
                    continue
                pending.append(event)
                for update in updates:
                    identities.add(update)
                if len(pending) >= JSONL_CHUNK:
                    flush()
                if progress is not None and time.monotonic() - last_report > 0.2:
                    last_report = time.monotonic()
                    estimate = int(rows * size / max(raw.tell(), 1))
                    progress(rows, max(rows, estimate), "reading")
        flush()
        before = _count(con, "SELECT count(*) FROM events")
        _run_with_progress(
            con,
            _insert_new(
                con,
                _numbered(con, "(SELECT *, hash(event_id) AS content_hash FROM import_staging)"),
                "CAST(properties AS JSON)",
                checked=False,
                repeats=True,
                fresh=before == 0,
                people_src="import_staging",
            ),
            progress,
            rows,
            "storing",
        )
        stored = _count(con, "SELECT count(*) FROM events") - before
        if stored:
            store.mark_dirty(con, "import_staging")
        applied = identities.apply(con)
        con.execute("DROP TABLE import_staging")
    valid = rows - problem_count
    return ImportResult(
        file=str(path),
        format="jsonl",
        rows=rows,
        stored=stored,
        duplicates=valid - stored,
        rejected_count=problem_count,
        rejected=tuple(problems),
        identities=applied,
    )


# --- CSV and Parquet (vectorised) ----------------------------------------------------------


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source_sql(
    path: Path, fmt: str, varchar: list[str] | None = None, sample_all: bool = False
) -> str:
    if fmt == "parquet":
        return f"read_parquet({_lit(str(path))})"
    options = ["header = true"]
    if sample_all:
        options.append("sample_size = -1")
    if any(s.lower() == ".tsv" for s in path.suffixes):
        options.append("delim = '\\t'")
    if varchar:
        types = ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in varchar)
        options.append(f"types = {{{types}}}")
    return f"read_csv({_lit(str(path))}, {', '.join(options)})"


def _describe(con: duckdb.DuckDBPyConnection, source: str, file: str) -> list[tuple[str, str]]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as exc:
        raise ImportFileError(f"{file}: cannot be read: {_first_line(exc)}") from exc
    return [(str(r[0]), str(r[1])) for r in rows]


class _LateTypeChange(Exception):
    """A CSV value did not fit the type DuckDB guessed from the first rows."""


def _first_line(exc: BaseException) -> str:
    """DuckDB's message without its advice and settings dump (first paragraph)."""
    lines = []
    for line in str(exc).strip().splitlines():
        if not line.strip():
            break
        if "unsuccessful or closed pending query result" in line:
            continue
        lines.append(line.strip()[:200])
    return "; ".join(lines) or type(exc).__name__


_TIME_TYPES = ("TIMESTAMP", "DATE")
_NUMBER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)


def _time_sql(col: str, type_: str, file: str) -> str:
    c = _ident(col)
    t = type_.upper()
    if t.startswith(_TIME_TYPES):
        return f"CAST({c} AS TIMESTAMP)"
    if t.startswith(_NUMBER_TYPES):
        return (
            f"CASE WHEN abs({c}) > 1e11 THEN epoch_ms(CAST({c} AS BIGINT)) "
            f"ELSE CAST(to_timestamp(CAST({c} AS DOUBLE)) AS TIMESTAMP) END"
        )
    if t == "VARCHAR":
        number = f"TRY_CAST({c} AS DOUBLE)"
        return (
            f"CASE WHEN {number} IS NULL THEN CAST(TRY_CAST({c} AS TIMESTAMPTZ) AS TIMESTAMP) "
            f"WHEN abs({number}) > 1e11 THEN epoch_ms(CAST({number} AS BIGINT)) "
            f"ELSE CAST(to_timestamp({number}) AS TIMESTAMP) END"
        )
    raise ImportFileError(f"{file}: column '{col}' has type {type_}, which is not a time")


def _id_sql(col: str | None) -> str:
    if col is None:
        return "CAST(NULL AS VARCHAR)"
    return f"NULLIF(trim(CAST({_ident(col)} AS VARCHAR)), '')"


def _import_table(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: str,
    progress: ProgressFn | None,
    skip: bool,
    sample_all: bool = False,
    label: str = "",
) -> ImportResult:
    file = label or path.name
    columns = _describe(con, _source_sql(path, fmt), file)
    by_lower: dict[str, str] = {}
    for name, _ in columns:
        by_lower.setdefault(name.lower(), name)
    found: dict[str, str | None] = {
        role: next((by_lower[n] for n in names if n in by_lower), None)
        for role, names in COLUMN_NAMES.items()
    }
    missing = [
        what
        for what, ok in (
            ("no event column (name one 'event' or 'event_name')", found["event"]),
            ("no time column (name one 'timestamp', 'ts' or 'time')", found["timestamp"]),
            (
                "no user column (name one 'distinct_id', 'user_id' or 'anonymous_id')",
                found["distinct_id"] or found["user_id"] or found["anonymous_id"],
            ),
        )
        if not ok
    ]
    if missing:
        read = ", ".join(f"'{name}'" for name, _ in columns[:20])
        raise ImportFileError(f"{file}: {'; '.join(missing)}; the columns read are {read}")
    known = {c for c in found.values() if c is not None}
    if fmt == "csv":
        # Read the columns productops interprets as text, so that a bad value becomes a
        # row-level error with its row number rather than a failed type guess.
        source = _source_sql(path, fmt, sorted(known), sample_all)
        columns = _describe(con, source, file)
    else:
        source = _source_sql(path, fmt)
    types = dict(columns)
    extras = [name for name, _ in columns if name not in known]

    ts_col = found["timestamp"]
    assert ts_col is not None
    ts_sql = _time_sql(ts_col, types[ts_col], file)
    event_col = found["event"]
    assert event_col is not None
    distinct_sql = (
        f"COALESCE({_id_sql(found['distinct_id'])}, {_id_sql(found['user_id'])}, "
        f"{_id_sql(found['anonymous_id'])})"
    )
    props_col = found["properties"]
    props_problem = "NULL"
    if props_col is None:
        props_sql = "CAST('{}' AS JSON)"
    else:
        p = _ident(props_col)
        ptype = types[props_col].upper()
        if ptype.startswith(("STRUCT", "MAP")):
            props_sql = f"COALESCE(to_json({p}), CAST('{{}}' AS JSON))"
        elif ptype in ("VARCHAR", "JSON"):
            props_sql = (
                f"CASE WHEN {p} IS NULL OR trim(CAST({p} AS VARCHAR)) = '' "
                f"THEN CAST('{{}}' AS JSON) "
                f"WHEN json_valid(CAST({p} AS VARCHAR)) "
                f"AND json_type(CAST({p} AS VARCHAR)) = 'OBJECT' THEN CAST({p} AS JSON) END"
            )
            props_problem = (
                f"CASE WHEN ({props_sql}) IS NULL THEN format('column ''{{}}'': {{}} is not a "
                f"JSON object', {_lit(props_col)}, left(CAST({p} AS VARCHAR), 60)) END"
            )
        else:
            raise ImportFileError(
                f"{file}: column '{props_col}' has type {types[props_col]}; "
                "it must hold JSON objects"
            )
    if extras:
        packed = ", ".join(f"{_ident(c)} := {_ident(c)}" for c in extras)
        props_sql = f"json_merge_patch({props_sql}, to_json(struct_pack({packed})))"

    event_sql = f"NULLIF(trim(CAST({_ident(event_col)} AS VARCHAR)), '')"
    type_sql = (
        f"CASE {event_sql} "
        + " ".join(
            f"WHEN {_lit(name)} THEN {_lit(kind)}" for kind, name in SEGMENT_EVENT_NAMES.items()
        )
        + " ELSE 'track' END"
    )
    if found["type"] is not None:
        t = f"lower(trim(CAST({_ident(found['type'])} AS VARCHAR)))"
        kinds = ", ".join(
            _lit(k) for k in ("track", "page", "screen", "identify", "group", "alias")
        )
        type_sql = f"CASE WHEN {t} IN ({kinds}) THEN {t} ELSE {type_sql} END"
    received_sql = "CAST(current_timestamp AS TIMESTAMP)"
    if found["received_at"] is not None:
        rc = found["received_at"]
        received_sql = f"COALESCE({_time_sql(rc, types[rc], file)}, {received_sql})"
    source_sql = _lit(SOURCE_IMPORT)
    if found["source"] is not None:
        source_sql = f"COALESCE({_id_sql(found['source'])}, {source_sql})"
    event_id_sql = (
        "md5(concat_ws(chr(31), event, CAST(ts AS VARCHAR), distinct_id, "
        "CAST(properties AS VARCHAR)))"
    )
    if found["event_id"] is not None:
        event_id_sql = f"COALESCE(raw_event_id, {event_id_sql})"

    ts_name = _lit(ts_col)
    ev_name = _lit(event_col)
    user_cols = " / ".join(
        f"'{c}'" for c in (found["distinct_id"], found["user_id"], found["anonymous_id"]) if c
    )
    # Only cheap expressions in the inner projection: it is evaluated for every row, while the
    # branches of the checks below run only for the rows that reach them.
    raw_ts = _ident(ts_col)
    ts_empty = (
        f"NULLIF(trim({raw_ts}), '') IS NULL"
        if types[ts_col].upper() == "VARCHAR"
        else f"{raw_ts} IS NULL"
    )
    inner = f"""(
        SELECT {event_sql} AS event,
               {type_sql} AS type,
               {ts_sql} AS ts,
               {ts_empty} AS ts_empty,
               {raw_ts} AS raw_ts,
               {received_sql} AS received_at,
               {distinct_sql} AS distinct_id,
               {_id_sql(found["user_id"])} AS user_id,
               {_id_sql(found["anonymous_id"])} AS anonymous_id,
               {_id_sql(found["account_id"])} AS account_id,
               {_id_sql(found["event_id"])} AS raw_event_id,
               {source_sql} AS source,
               {props_sql} AS properties,
               {props_problem} AS problem_props
        FROM {source}
    )"""
    years = f"{MIN_TIME.year} to {MAX_TIME.year - 1}"
    problem_sql = f"""CASE
        WHEN event IS NULL THEN format('column ''{{}}'' is empty', {ev_name})
        WHEN length(event) > {MAX_NAME_LENGTH}
          THEN format('column ''{{}}'' is longer than {MAX_NAME_LENGTH} characters', {ev_name})
        WHEN ts_empty THEN format('column ''{{}}'' is empty', {ts_name})
        WHEN ts IS NULL
          THEN format('column ''{{}}'': ''{{}}'' is not a time', {ts_name},
                      CAST(raw_ts AS VARCHAR))
        WHEN ts < TIMESTAMP '{MIN_TIME}' OR ts >= TIMESTAMP '{MAX_TIME}'
          THEN format('column ''{{}}'': {{}} is out of range ({years})',
                      {ts_name}, CAST(ts AS VARCHAR))
        WHEN distinct_id IS NULL
          THEN 'no user: column {user_cols.replace("'", "''")} is empty'
        WHEN length(distinct_id) > {MAX_ID_LENGTH} OR length(raw_event_id) > {MAX_ID_LENGTH}
          THEN 'an id is longer than {MAX_ID_LENGTH} characters'
        ELSE problem_props
    END"""
    columns_sql = f"""{event_id_sql} AS event_id, event, type, ts, received_at,
               distinct_id, user_id, anonymous_id, account_id, source, properties,
               raw_event_id IS NULL AS derived,
               hash(event, ts, distinct_id, CAST(properties AS VARCHAR)) AS content_hash"""
    try:
        with _transaction(con):
            census = _census(con, inner, problem_sql, progress)
            # In file order (row numbers for the problems found); as stored: rows without an
            # id of their own numbered when identical, else without the `derived` flag.
            checked = f"(SELECT {columns_sql}, {problem_sql} AS problem FROM {inner})"
            clean = f"(SELECT {columns_sql} FROM {inner})"
            problems: list[RowProblem] = []
            if census.bad:
                problems = _find_problems(con, checked, MAX_PROBLEMS_KEPT if skip else 1)
                if not skip:
                    first = problems[0]
                    raise ImportRowError(file, first.row, first.reason, more=census.bad - 1)
            before = _count(con, "SELECT count(*) FROM events")
            # When every row is valid the insert need not evaluate the checks a second time.
            source_rows = checked if census.bad else clean
            insert = _insert_new(
                con,
                _numbered(con, source_rows) if census.derived else _without_derived(source_rows),
                "properties",
                checked=census.bad > 0,
                repeats=census.repeats,
                fresh=before == 0,
                people_src=inner,
            )
            _run_with_progress(con, insert, progress, census.rows, "storing")
            stored = _count(con, "SELECT count(*) FROM events") - before
            if stored:
                _mark_days(con, census.first, census.last)
            applied = _apply_table_identities(con, checked) if census.identity_rows else 0
    except duckdb.Error as exc:
        if fmt == "csv" and not sample_all and "CSV Error" in str(exc):
            raise _LateTypeChange from exc
        raise ImportFileError(f"{file}: {_first_line(exc)}") from exc
    return ImportResult(
        file=str(path),
        format=fmt,
        rows=census.rows,
        stored=stored,
        duplicates=census.rows - census.bad - stored,
        rejected_count=census.bad,
        rejected=tuple(problems),
        identities=applied,
    )


def _find_problems(con: duckdb.DuckDBPyConnection, relation: str, limit: int) -> list[RowProblem]:
    """The first `limit` bad rows with their 1-based row numbers (file order is kept)."""
    reader = con.execute(f"SELECT problem FROM {relation}").to_arrow_reader(122_880)
    found: list[RowProblem] = []
    offset = 0
    for batch in reader:
        column = batch.column(0)
        if column.null_count < len(column):
            for i, value in enumerate(column.to_pylist()):
                if value is not None:
                    found.append(RowProblem(offset + i + 1, str(value)))
                    if len(found) >= limit:
                        return found
        offset += batch.num_rows
    return found


def _apply_table_identities(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    """Identify, alias and group rows of a flat file merge people as their HTTP twins do."""
    rows = con.execute(
        f"""
        SELECT event, type, distinct_id, user_id, anonymous_id, account_id,
               CAST(properties AS VARCHAR), ts
        FROM {relation}
        WHERE problem IS NULL AND type IN ('identify', 'alias', 'group')
        """
    ).fetchall()
    identities = _Identities()
    for event, kind, distinct_id, user_id, anonymous_id, account_id, props, ts in rows:
        record = {
            "event": event,
            "type": kind,
            "distinct_id": distinct_id,
            "user_id": user_id,
            "anonymous_id": anonymous_id,
            "account_id": account_id,
            "properties": json.loads(props) if props else {},
            "timestamp": ts.isoformat() if isinstance(ts, dt.datetime) else None,
        }
        try:
            _, updates = normalise_record(record, naive_utc(utcnow()), SOURCE_IMPORT)
        except Rejected:
            continue
        for update in updates:
            identities.add(update)
    return identities.apply(con)
