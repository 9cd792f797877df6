"""Run the analyses where the events already live: any Ibis backend, by connection URL, with
a column mapping for an existing events table (and optionally people, accounts and an
identity table).

    tables = connect_warehouse(
        "postgres://analyst@db.internal/product",
        {"events": {"table": "tracks", "database": "segment", "event": "event_name",
                    "ts": "received_at", "user_id": "user_id",
                    "anonymous_id": "anonymous_id", "account_id": "context_group_id"},
         "accounts": {"table": "companies", "id": "id"}},
    )
    funnel(tables, ["Signed Up", "Report Created"], start, end)

The result is an `analyses.EventTables` whose expressions have the event store's names and
columns (`events_resolved`, `persons`, `accounts`), so every analysis runs unchanged. Columns
of the warehouse tables that the mapping does not name stay available under their own names:
a trait kept as a column (`plan`) is found as `account.plan` without a JSON properties column.
See docs/scale.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend
from pydantic import BaseModel, ConfigDict, ValidationError

from productops.analytics import store
from productops.analytics.query.tables import EventTables
from productops.core.errors import InvalidInput

# The columns of `events_resolved`: what the store writes, plus the resolved person.
EVENT_COLUMNS = (*store.EVENT_COLUMNS, "person_id")


class WarehouseError(InvalidInput):
    """The warehouse cannot be reached, or the mapping does not fit its tables."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventsMapping(_Strict):
    """Which columns of an existing events table hold what productops calls them."""

    table: str
    database: str | None = None
    event: str = "event"
    ts: str = "ts"
    user_id: str | None = None
    anonymous_id: str | None = None
    distinct_id: str | None = None
    person_id: str | None = None
    account_id: str | None = None
    event_id: str | None = None
    type: str | None = None
    source: str | None = None
    received_at: str | None = None
    properties: str | None = None


class PersonsMapping(_Strict):
    table: str
    database: str | None = None
    id: str = "person_id"
    account_id: str | None = None
    properties: str | None = None


class AccountsMapping(_Strict):
    table: str
    database: str | None = None
    id: str = "account_id"
    properties: str | None = None


class IdentitiesMapping(_Strict):
    """A table that maps every distinct id (anonymous or not) to its person."""

    table: str
    database: str | None = None
    distinct_id: str = "distinct_id"
    person_id: str = "person_id"


class WarehouseMapping(_Strict):
    events: EventsMapping
    persons: PersonsMapping | None = None
    accounts: AccountsMapping | None = None
    identities: IdentitiesMapping | None = None


def parse_mapping(mapping: WarehouseMapping | Mapping[str, Any]) -> WarehouseMapping:
    """A mapping from a dict (from TOML/YAML/JSON), with every mistake named."""
    if isinstance(mapping, WarehouseMapping):
        return mapping
    try:
        return WarehouseMapping.model_validate(dict(mapping))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise WarehouseError(f"the warehouse mapping is not valid: {problems}") from exc


def redact(url: str) -> str:
    """`url` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def connect_warehouse(url: str, mapping: WarehouseMapping | Mapping[str, Any]) -> EventTables:
    """Connect to the warehouse at `url` (any Ibis backend URL: `duckdb:///file.duckdb`,
    `postgres://…`, `clickhouse://…`, `bigquery://project/dataset`, `snowflake://…`,
    `trino://…`) and map its tables to the event store's shape."""
    parsed = parse_mapping(mapping)
    try:
        backend = ibis.connect(url)
    except Exception as exc:
        raise WarehouseError(f"cannot connect to {redact(url)}: {exc}") from exc
    return warehouse_tables(backend, parsed)


def warehouse_tables(
    backend: BaseBackend, mapping: WarehouseMapping | Mapping[str, Any]
) -> EventTables:
    """The event store's tables as expressions over an open backend's existing tables."""
    m = parse_mapping(mapping)
    events = _events(backend, m)
    persons = _persons(backend, m.persons) if m.persons else None
    accounts = _accounts(backend, m.accounts) if m.accounts else None
    return EventTables(backend, events, persons, accounts)


def _table(backend: BaseBackend, what: str, table: str, database: str | None) -> ir.Table:
    try:
        return backend.table(table, database=database)
    except Exception as exc:
        where = f"{database}.{table}" if database else table
        raise WarehouseError(f"{what} table {where!r} not found on {backend.name}") from exc


def _column(t: ir.Table, what: str, field: str, name: str) -> ir.Value:
    if name not in t.columns:
        raise WarehouseError(
            f"{what} table has no column {name!r} (mapping {what}.{field}); "
            f"its columns are {', '.join(t.columns)}"
        )
    return t[name]


def _extras(t: ir.Table, used: set[str], reserved: tuple[str, ...]) -> dict[str, ir.Value]:
    """Columns the mapping leaves alone, kept under their own names (traits as columns)."""
    return {c: t[c] for c in t.columns if c not in used and c not in reserved}


def _events(backend: BaseBackend, m: WarehouseMapping) -> ir.Table:
    em = m.events
    t = _table(backend, "events", em.table, em.database)

    def col(field: str) -> ir.Value | None:
        name = getattr(em, field)
        return None if name is None else _column(t, "events", field, name)

    def pick(field: str, default: ir.Value) -> ir.Value:
        found = col(field)
        return default if found is None else found

    text = ibis.null("string")
    ids = [c for c in (col("user_id"), col("anonymous_id")) if c is not None]
    distinct = col("distinct_id")
    if distinct is None:
        if not ids and em.person_id is None:
            raise WarehouseError(
                "the events mapping needs a user_id, anonymous_id, distinct_id or person_id column"
            )
        if len(ids) > 1:
            distinct = ibis.coalesce(*[c.cast("string") for c in ids])
        else:
            distinct = ids[0] if ids else col("person_id")
    ts = _column(t, "events", "ts", em.ts).cast("timestamp")
    cols: dict[str, Any] = {
        "event_id": pick("event_id", text).cast("string"),
        "event": _column(t, "events", "event", em.event).cast("string"),
        "type": pick("type", ibis.literal("track")).cast("string"),
        "ts": ts,
        "received_at": pick("received_at", ts).cast("timestamp"),
        "distinct_id": distinct.cast("string") if distinct is not None else text,
        "user_id": pick("user_id", text).cast("string"),
        "anonymous_id": pick("anonymous_id", text).cast("string"),
        "account_id": pick("account_id", text).cast("string"),
        "source": pick("source", ibis.literal("warehouse")).cast("string"),
        "properties": pick("properties", text),
    }
    used = {v for k, v in em.model_dump().items() if k not in {"table", "database"} and v}
    extras = _extras(t, used, EVENT_COLUMNS)
    person = col("person_id")
    if person is not None:
        # events without a person (anonymous visits) count under their own distinct id
        resolved = person.cast("string").fill_null(cols["distinct_id"])
        return t.select(**cols, person_id=resolved, **extras)
    rows = t.select(**cols, **extras)
    if m.identities is None:
        return rows.mutate(person_id=rows.distinct_id)
    im = m.identities
    it = _table(backend, "identities", im.table, im.database)
    links = it.select(
        _did=_column(it, "identities", "distinct_id", im.distinct_id).cast("string"),
        _pid=_column(it, "identities", "person_id", im.person_id).cast("string"),
    )
    joined = rows.left_join(links, rows.distinct_id == links._did)
    return joined.mutate(person_id=joined._pid.fill_null(joined.distinct_id)).drop("_did", "_pid")


def _persons(backend: BaseBackend, pm: PersonsMapping) -> ir.Table:
    t = _table(backend, "persons", pm.table, pm.database)
    cols: dict[str, Any] = {
        "person_id": _column(t, "persons", "id", pm.id).cast("string"),
        "account_id": (
            _column(t, "persons", "account_id", pm.account_id).cast("string")
            if pm.account_id
            else ibis.null("string")
        ),
        "properties": (
            _column(t, "persons", "properties", pm.properties)
            if pm.properties
            else ibis.null("string")
        ),
    }
    used = {pm.id, pm.account_id or "", pm.properties or ""}
    return t.select(**cols, **_extras(t, used, tuple(cols)))


def _accounts(backend: BaseBackend, am: AccountsMapping) -> ir.Table:
    t = _table(backend, "accounts", am.table, am.database)
    cols: dict[str, Any] = {
        "account_id": _column(t, "accounts", "id", am.id).cast("string"),
        "properties": (
            _column(t, "accounts", "properties", am.properties)
            if am.properties
            else ibis.null("string")
        ),
    }
    used = {am.id, am.properties or ""}
    return t.select(**cols, **_extras(t, used, tuple(cols)))


class MappedBackend:
    """A backend whose `table()` answers with the mapped tables, so code written against the
    event store's names (the analyses, the metric catalog) runs on the warehouse as is."""

    def __init__(self, tables: EventTables) -> None:
        self.tables = tables
        self.backend = tables.backend
        self.name = tables.backend.name

    def table(self, name: str, database: Any = None) -> ir.Table:
        mapped = {
            "events_resolved": self.tables.events,
            "events": self.tables.events,
            "persons": self.tables.persons,
            "accounts": self.tables.accounts,
        }.get(name)
        if mapped is None:
            raise WarehouseError(f"the warehouse mapping has no table '{name}'")
        return mapped

    def execute(self, expr: Any, **kwargs: Any) -> Any:
        return self.backend.execute(expr, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.backend, attr)


def load_mapping_file(path: Any) -> WarehouseMapping:
    """The mapping in a YAML file (the workspace's `warehouse.yml`), with mistakes named."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise WarehouseError(f"{path} does not exist: it maps the warehouse's tables") from exc
    except yaml.YAMLError as exc:
        raise WarehouseError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise WarehouseError(f"{path}: expected a mapping with an 'events' section")
    return parse_mapping(data)
