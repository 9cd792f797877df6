"""Catalog metrics, compiled once to Ibis and run wherever the events live.

`compile_metric(con, catalog, name, ...)` turns a metric of the catalog into an Ibis table
expression over three tables of any Ibis backend:

- `events_resolved`: `event_id`, `event`, `type`, `ts` (timestamp, UTC), `source`,
  `account_id`, `properties` (JSON text) and `person_id` (identity-merged);
- `persons`: `person_id`, `account_id`, `properties` (JSON text of traits);
- `accounts`: `account_id`, `properties` (JSON text of traits).

The embedded DuckDB store has exactly these (see `store.py`); on another backend, create
tables or views of these names and columns. The account of an event is the event's own
`account_id`, else the account of its person.

`query_metric(ws, name, ...)` runs it on the workspace's DuckDB store and returns the numbers
with the SQL they came from. Result columns: `period` (the first day of the day, ISO week
(Monday) or month; absent for grain `all`), one column per `by` dimension, then `value`
(ratios also carry `numerator` and `denominator`, conversions `entered` and `converted`).
Periods without events have no row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from productops.analytics.catalog.service import Catalog, Filter, Metric, load_catalog
from productops.analytics.query.dimensions import Dimension, property_number, property_text
from productops.analytics.query.filtering import FilteredBackend
from productops.analytics.query.filters import Filters
from productops.analytics.query.grains import check_grain, truncate
from productops.core.errors import InvalidInput
from productops.core.export import frame_rows, jsonable

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

GRAINS = ("day", "week", "month", "all")
_DIM_PREFIX = "dim__"


class MetricQueryError(InvalidInput):
    """A metric query cannot be answered as asked (bad grain, dates, dimension...)."""


@dataclass(frozen=True)
class MetricResult:
    """The numbers of one metric, with the SQL they were computed by."""

    metric: Metric
    frame: pd.DataFrame
    sql: str
    grain: str
    by: tuple[str, ...] = ()
    start: dt.date | None = None
    end: dt.date | None = None
    columns: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """Rows as JSON-ready dicts (dates as ISO text, missing values as None)."""
        return [
            {k: jsonable(v) for k, v in row.items()} for row in self.frame.to_dict(orient="records")
        ]

    def rows(self) -> list[list[Any]]:
        return frame_rows(self.frame)


# --- compiling ---------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What one metric query needs from the tables."""

    con: Any
    catalog: Catalog
    by: tuple[str, ...]
    grain: str
    start: dt.date | None
    end: dt.date | None

    @property
    def keys(self) -> list[str]:
        return (["period"] if self.grain != "all" else []) + list(self.by)


def as_date(value: dt.date | str | None, what: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise MetricQueryError(f"{what} '{value}' is not a date (YYYY-MM-DD)") from None


def _normalise_by(by: str | Sequence[str] | None) -> tuple[str, ...]:
    if by is None:
        return ()
    if isinstance(by, str):
        by = [by]
    names = tuple(part.strip() for b in by for part in b.split(",") if part.strip())
    if len(set(names)) != len(names):
        raise MetricQueryError("a dimension is named twice in 'by'")
    return names


def _needs(catalog: Catalog, dims: Sequence[Dimension], filters: Sequence[Filter]) -> set[str]:
    """Which profile tables the rows need: 'person' and/or 'account'."""
    needed: set[str] = set()
    refs = list(dims) + [catalog.dimension(f.dimension) for f in filters if f.dimension]
    for d in refs:
        if d.scope in ("person", "account"):
            needed.add(d.scope)
    if "account" in needed:
        needed.add("person")  # an event's account falls back to its person's account
    return needed


def _event_rows(plan: _Plan, filters: Sequence[Filter], extra: Collection[str] = ()) -> Any:
    """`events_resolved` with the profile columns the dimensions and filters need:
    `p_props`, `a_props` and `account` (the event's account, else its person's)."""
    con = plan.con
    dims = [plan.catalog.dimension(b) for b in plan.by]
    needed = _needs(plan.catalog, dims, filters) | set(extra)
    ev = con.table("events_resolved")
    cols: dict[str, Any] = {
        "event_id": ev.event_id,
        "event": ev.event,
        "type": ev.type,
        "ts": ev.ts,
        "source": ev.source,
        "person_id": ev.person_id,
        "e_props": ev.properties,
        "e_account": ev.account_id,
    }
    rows = ev.select(**cols)
    if "person" in needed:
        persons = con.table("persons")
        p = persons.select(
            p_person_id=persons.person_id,
            p_account=persons.account_id,
            p_props=persons.properties,
        )
        rows = rows.left_join(p, rows.person_id == p.p_person_id).drop("p_person_id")
        rows = rows.mutate(account=ibis.coalesce(rows.e_account, rows.p_account))
    else:
        rows = rows.mutate(account=rows.e_account)
    if "account" in needed:
        accounts = con.table("accounts")
        a = accounts.select(a_account=accounts.account_id, a_props=accounts.properties)
        rows = rows.left_join(a, rows.account == a.a_account).drop("a_account")
    return rows


def _dimension_value(plan: _Plan, rows: Any, dim: Dimension) -> ir.StringValue:
    if dim.scope == "person":
        return property_text(plan.con, rows.p_props, dim.key)
    if dim.scope == "account":
        return property_text(plan.con, rows.a_props, dim.key)
    if dim.column:
        return rows[dim.key].cast("string")
    return property_text(plan.con, rows.e_props, dim.key)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _filter_expr(plan: _Plan, rows: Any, flt: Filter) -> ir.BooleanValue:
    if flt.dimension is not None:
        text = _dimension_value(plan, rows, plan.catalog.dimension(flt.dimension))
    else:
        text = property_text(plan.con, rows.e_props, flt.property or "")
    op, value = flt.op, flt.value
    if op == "is set":
        return text.notnull()
    if op == "is not set":
        return text.isnull()
    if op in (">", ">=", "<", "<="):
        num = text.try_cast("float64")
        lit = ibis.literal(float(value))
        result = {">": num > lit, ">=": num >= lit, "<": num < lit, "<=": num <= lit}[op]
        return result.fill_null(False)
    if op == "contains":
        return text.contains(_as_text(value)).fill_null(False)
    values = list(value) if isinstance(value, tuple) else [value]
    if all(_is_number(v) for v in values):
        subject: ir.Value = text.try_cast("float64")
        literals: list[Any] = [float(v) for v in values]
    else:
        subject = text
        literals = [_as_text(v) for v in values]
    if op in ("=", "in"):
        return subject.isin(literals).fill_null(False)
    # `!=` / `not in`: events without the property are kept, as in PostHog.
    return subject.isnull() | ~subject.isin(literals)


def _time_bounds(plan: _Plan, rows: Any, upper: bool = True) -> Any:
    if plan.start is not None:
        rows = rows.filter(rows.ts >= ibis.literal(dt.datetime.combine(plan.start, dt.time())))
    if upper and plan.end is not None and plan.end < dt.date.max:
        end = dt.datetime.combine(plan.end + dt.timedelta(days=1), dt.time())
        rows = rows.filter(rows.ts < ibis.literal(end))
    return rows


def _matching(
    plan: _Plan,
    events: Sequence[str] | None,
    filters: Sequence[Filter],
    upper: bool = True,
    active: bool = False,
    extra: Collection[str] = (),
) -> Any:
    """Rows of the named events (or of activity events) that pass the filters, within the
    period, with `period` and one `dim__<name>` column per `by` dimension."""
    rows = _event_rows(plan, filters, extra)
    if active:
        definition = plan.catalog.active_user
        if definition.events != "any":
            rows = rows.filter(rows.event.isin(list(definition.events)))
        if definition.exclude_events:
            rows = rows.filter(~rows.event.isin(list(definition.exclude_events)))
        if definition.exclude_types:
            rows = rows.filter(~rows.type.isin(list(definition.exclude_types)))
    elif events:
        rows = rows.filter(rows.event.isin(list(events)))
    rows = _time_bounds(plan, rows, upper)
    for flt in filters:
        rows = rows.filter(_filter_expr(plan, rows, flt))
    extra_cols: dict[str, Any] = {}
    if plan.grain != "all":
        extra_cols["period"] = truncate(rows.ts, check_grain(plan.grain))
    for name in plan.by:
        extra_cols[_DIM_PREFIX + name] = _dimension_value(plan, rows, plan.catalog.dimension(name))
    return rows.mutate(**extra_cols) if extra_cols else rows


def _group_keys(plan: _Plan) -> list[str]:
    return (["period"] if plan.grain != "all" else []) + [_DIM_PREFIX + b for b in plan.by]


def _finish(plan: _Plan, table: Any, value_columns: Sequence[str]) -> Any:
    """Rename `dim__x` to `x`, order columns and rows."""
    select: dict[str, Any] = {}
    if plan.grain != "all":
        select["period"] = table.period
    for name in plan.by:
        select[name] = table[_DIM_PREFIX + name]
    for col in value_columns:
        select[col] = table[col]
    out = table.select(**select)
    keys = plan.keys
    return out.order_by([out[k] for k in keys]) if keys else out


def _compile(plan: _Plan, metric: Metric, depth: int = 0) -> Any:
    """The metric as a table of group keys (`period`, `dim__<name>`) + value columns."""
    if depth > len(plan.catalog.metrics):
        raise MetricQueryError(f"metric '{metric.name}': ratios refer to each other in a cycle")
    keys = _group_keys(plan)
    if metric.type == "ratio":
        return _compile_ratio(plan, metric, depth)
    if metric.type == "conversion":
        return _compile_conversion(plan, metric)
    if metric.type == "active_users":
        rows = _matching(plan, None, metric.filters, active=True)
        return rows.aggregate(value=rows.person_id.nunique(), by=keys)
    extra = ("person",) if metric.type == "unique_accounts" else ()
    rows = _matching(plan, metric.event, metric.filters, extra=extra)
    if metric.type == "count":
        value = rows.count()
    elif metric.type == "unique_users":
        value = rows.person_id.nunique()
    elif metric.type == "unique_accounts":
        value = rows.account.nunique()
    elif metric.type == "sum":
        value = property_number(plan.con, rows.e_props, metric.property or "").sum()
    elif metric.type == "average":
        value = property_number(plan.con, rows.e_props, metric.property or "").mean()
    else:  # pragma: no cover - the catalog refuses other types
        raise MetricQueryError(f"metric '{metric.name}': unknown type '{metric.type}'")
    return rows.aggregate(value=value, by=keys)


def _compile_ratio(plan: _Plan, metric: Metric, depth: int) -> Any:
    keys = _group_keys(plan)
    num_metric = plan.catalog.metric(metric.numerator or "")
    den_metric = plan.catalog.metric(metric.denominator or "")
    den = _compile(plan, den_metric, depth + 1)
    num = _compile(plan, num_metric, depth + 1)
    den = den.select(*keys, denominator=den.value.cast("float64"))
    num = num.select(**{f"n__{k}": num[k] for k in keys}, numerator=num.value.cast("float64"))
    if keys:
        # A NULL dimension value is a group of its own: match it null-safely.
        preds = [den[k].identical_to(num[f"n__{k}"]) for k in keys]
        joined = den.left_join(num, preds)
    else:
        joined = den.cross_join(num)
    numerator = joined.numerator.fill_null(0.0)
    denominator = joined.denominator
    value = ibis.ifelse(
        denominator.isnull() | (denominator == 0), ibis.null("float64"), numerator / denominator
    )
    return joined.select(*keys, numerator=numerator, denominator=denominator, value=value)


def _compile_conversion(plan: _Plan, metric: Metric) -> Any:
    """Each person enters at their first `event` in the period (dimensions as on that event)
    and converts with a later `then` event within `window_days` (which may fall after the
    period's end)."""
    keys = _group_keys(plan)
    entries = _matching(plan, metric.event, metric.filters)
    first_rank = ibis.row_number().over(
        ibis.window(group_by=entries.person_id, order_by=[entries.ts, entries.event_id])
    )
    entries = entries.mutate(_rank=first_rank)
    entries = entries.filter(entries._rank == 0)
    entries = entries.select("person_id", "ts", "event_id", *keys)
    then_plan = _Plan(plan.con, plan.catalog, (), "all", plan.start, plan.end)
    thens = _matching(then_plan, metric.then, metric.then_filters, upper=False)
    thens = thens.select(t_person=thens.person_id, t_ts=thens.ts, t_event_id=thens.event_id)
    window = ibis.interval(days=metric.conversion_window_days())
    joined = entries.left_join(
        thens,
        [
            entries.person_id == thens.t_person,
            thens.t_ts >= entries.ts,
            thens.t_ts <= entries.ts + window,
            thens.t_event_id != entries.event_id,
        ],
    )
    counted = joined.aggregate(
        entered=joined.person_id.nunique(), converted=joined.t_person.nunique(), by=keys
    )
    return counted.mutate(
        value=ibis.ifelse(
            counted.entered == 0,
            ibis.null("float64"),
            counted.converted.cast("float64") / counted.entered.cast("float64"),
        )
    )


_VALUE_COLUMNS = {
    "ratio": ("numerator", "denominator", "value"),
    "conversion": ("entered", "converted", "value"),
}


def compile_metric(
    con: Any,
    catalog: Catalog,
    name: str,
    by: str | Sequence[str] | None = None,
    grain: str = "day",
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
) -> Any:
    """The catalog metric `name` as an Ibis table expression on the backend `con`.

    `by` names catalog dimensions; `grain` is day, week, month or all; `start` and `end` are
    dates, both included.
    """
    if grain not in GRAINS:
        raise MetricQueryError(f"grain '{grain}' is not one of {', '.join(GRAINS)}")
    metric = catalog.metric(name)
    dims = _normalise_by(by)
    for d in dims:
        catalog.dimension(d)
    start_d, end_d = as_date(start, "start"), as_date(end, "end")
    if start_d is not None and end_d is not None and end_d < start_d:
        raise MetricQueryError(f"end {end_d} is before start {start_d}")
    plan = _Plan(con, catalog, dims, grain, start_d, end_d)
    table = _compile(plan, metric)
    return _finish(plan, table, _VALUE_COLUMNS.get(metric.type, ("value",)))


def metric_sql(expr: Any) -> str:
    """The SQL an expression compiles to, in its backend's dialect."""
    return str(ibis.to_sql(expr))


def query_metric(
    ws: Workspace,
    name: str,
    by: str | Sequence[str] | None = None,
    grain: str = "day",
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    catalog: Catalog | None = None,
    filters: Filters | None = None,
) -> MetricResult:
    """Compute a catalog metric over the workspace's events, per period and dimension;
    `filters` (a dashboard's, say) keep only the events that pass them, the metric's own
    definition otherwise unchanged."""
    catalog = catalog if catalog is not None else load_catalog(ws)
    metric = catalog.metric(name)
    with event_backend(ws) as con:
        source = con if filters is None or filters.empty else FilteredBackend(con, filters)
        expr = compile_metric(source, catalog, name, by=by, grain=grain, start=start, end=end)
        sql = metric_sql(expr)
        frame = con.execute(expr)
    if "period" in frame.columns:
        frame["period"] = pd.to_datetime(frame["period"]).dt.date
    return MetricResult(
        metric=metric,
        frame=frame,
        sql=sql,
        grain=grain,
        by=_normalise_by(by),
        start=as_date(start, "start"),
        end=as_date(end, "end"),
        columns=[str(c) for c in frame.columns],
    )


@contextmanager
def event_backend(ws: Workspace) -> Iterator[Any]:
    """The workspace's events as an Ibis backend (see `query.source.event_source`)."""
    from productops.analytics.query.source import event_source

    with event_source(ws) as con:
        yield con


def result_json(result: MetricResult) -> dict[str, Any]:
    """The JSON the API and `--format json` give for a result."""
    return {
        "metric": result.metric.name,
        "label": result.metric.label,
        "type": result.metric.type,
        "grain": result.grain,
        "by": list(result.by),
        "start": result.start.isoformat() if result.start else None,
        "end": result.end.isoformat() if result.end else None,
        "columns": result.columns,
        "rows": result.records(),
        "sql": result.sql,
    }


def dumps(result: MetricResult) -> str:
    return json.dumps(result_json(result), indent=2, default=str)


# --- per unit (experiments) ----------------------------------------------------------------

UNIT_KINDS = {
    "count": "mean",
    "sum": "mean",
    "unique_users": "proportion",
    "unique_accounts": "proportion",
    "active_users": "proportion",
    "average": "ratio",
    "ratio": "ratio",
    "conversion": "ratio",
}


def metric_unit_kind(catalog: Catalog, name: str) -> str:
    """How a catalog metric reads per person: `mean` (a number each: counts, sums),
    `proportion` (did it or not: unique users and accounts, activity) or `ratio` (a
    numerator and a denominator each: averages, ratios, conversions)."""
    return UNIT_KINDS[catalog.metric(name).type]


def metric_per_unit(con: Any, catalog: Catalog, name: str, units: Any) -> Any:
    """The catalog metric `name` per person, counting only each person's events inside their
    own window. `units` is an Ibis table of `person_id`, `start`, `end` (timestamps, the
    window [start, end)); the result has one row per unit: `person_id`, `value` and
    `denominator` (null unless the metric is a ratio; see `metric_unit_kind`). A person with
    no events in the window has 0 (and a ratio's denominator 0)."""
    metric = catalog.metric(name)
    u = units.select(u_person=units.person_id, u_start=units.start, u_end=units.end)
    plan = _Plan(con, catalog, (), "all", None, None)
    table = _per_unit(plan, metric, u, 0)
    joined = u.left_join(table, u.u_person == table.p_person)
    return joined.select(
        person_id=joined.u_person,
        value=joined.value.fill_null(0.0).cast("float64"),
        denominator=(
            joined.denominator.fill_null(0.0).cast("float64")
            if UNIT_KINDS[metric.type] == "ratio"
            else ibis.null("float64")
        ),
    )


def _in_windows(plan: _Plan, rows: Any, u: Any) -> Any:
    j = rows.join(u, [rows.person_id == u.u_person, rows.ts >= u.u_start, rows.ts < u.u_end])
    return j


def _per_unit(plan: _Plan, metric: Metric, u: Any, depth: int) -> Any:
    """`p_person`, `value`, `denominator` for the persons with events in their window."""
    if depth > len(plan.catalog.metrics):
        raise MetricQueryError(f"metric '{metric.name}': ratios refer to each other in a cycle")
    null = ibis.null("float64")
    if metric.type == "ratio":
        num = _per_unit(plan, plan.catalog.metric(metric.numerator or ""), u, depth + 1)
        den = _per_unit(plan, plan.catalog.metric(metric.denominator or ""), u, depth + 1)
        num = num.select(n_person=num.p_person, n_value=num.value)
        den = den.select(d_person=den.p_person, d_value=den.value)
        j = num.outer_join(den, num.n_person == den.d_person)
        return j.select(
            p_person=ibis.coalesce(j.n_person, j.d_person),
            value=j.n_value.fill_null(0.0).cast("float64"),
            denominator=j.d_value.fill_null(0.0).cast("float64"),
        )
    if metric.type == "conversion":
        entries = _in_windows(plan, _matching(plan, metric.event, metric.filters), u)
        first = entries.aggregate(e_ts=entries.ts.min(), by=[entries.person_id])
        thens = _matching(plan, metric.then, metric.then_filters, upper=False)
        thens = thens.select(t_person=thens.person_id, t_ts=thens.ts)
        window = ibis.interval(days=metric.conversion_window_days())
        j = first.left_join(
            thens,
            [
                first.person_id == thens.t_person,
                thens.t_ts > first.e_ts,
                thens.t_ts <= first.e_ts + window,
            ],
        )
        per = j.aggregate(converted=j.t_person.count(), by=[j.person_id])
        return per.select(
            p_person=per.person_id,
            value=ibis.ifelse(per.converted > 0, 1.0, 0.0),
            denominator=ibis.literal(1.0),
        )
    if metric.type == "active_users":
        rows = _in_windows(plan, _matching(plan, None, metric.filters, active=True), u)
    else:
        rows = _in_windows(plan, _matching(plan, metric.event, metric.filters), u)
    if metric.type == "count":
        per = rows.aggregate(value=rows.count().cast("float64"), by=[rows.person_id])
        return per.select(p_person=per.person_id, value=per.value, denominator=null)
    if metric.type in ("unique_users", "unique_accounts", "active_users"):
        per = rows.aggregate(n=rows.count(), by=[rows.person_id])
        return per.select(p_person=per.person_id, value=ibis.literal(1.0), denominator=null)
    number = property_number(plan.con, rows.e_props, metric.property or "")
    rows = rows.mutate(_x=number)
    if metric.type == "sum":
        per = rows.aggregate(value=rows._x.sum().cast("float64"), by=[rows.person_id])
        return per.select(p_person=per.person_id, value=per.value.fill_null(0.0), denominator=null)
    per = rows.aggregate(
        value=rows._x.sum().cast("float64"),
        denominator=rows._x.count().cast("float64"),
        by=[rows.person_id],
    )
    return per.select(
        p_person=per.person_id, value=per.value.fill_null(0.0), denominator=per.denominator
    )
