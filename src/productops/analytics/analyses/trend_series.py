"""Trends: one or more series over time (event counts, unique people, a property's sum,
average, minimum, maximum or percentiles, catalog metrics), formulas across them, broken down
by any dimension or by cohorts (top N values and `(other)`), and compared with the period
before.

    trends(con, [Series(event="export"), Series(kind="people", event="*")],
           start, end, grain="week", formulas=["A / B"], breakdown="account.plan")

The result (`TrendsResult.series.data`) has one row per series, breakdown value and period:
`series` (A, B… or F1… for formulas), `label`, `breakdown`, `period`, `value`, and with
`compare` a `compare` column (`current` / `previous`; previous rows carry the period of the
current range they line up with, and their own in `previous_period`). `totals` is each series
over the whole range (unique people counted once).
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from productops.analytics.analyses.formula import evaluate, parse_formula
from productops.analytics.analyses.segments import OTHER_LABEL, Breakdown, as_breakdown
from productops.analytics.analyses.service import Insight, _in_range, _window
from productops.analytics.query.activity import (
    ANY_EVENT,
    ActivityFilter,
    activity_predicate,
    check_event_name,
)
from productops.analytics.query.cohorts import segments as cohort_segments
from productops.analytics.query.dimensions import check_property_name, property_number
from productops.analytics.query.dimensions import label as _label
from productops.analytics.query.filtering import filtered
from productops.analytics.query.filters import (
    Filters,
    PropertyFilter,
    event_value,
    with_profile_values,
)
from productops.analytics.query.grains import (
    Grain,
    check_grain,
    period_index,
    period_start,
    periods,
)
from productops.analytics.query.tables import EventTables, Source, event_tables, person_key
from productops.core.errors import InvalidInput

SeriesKind = Literal[
    "events", "people", "sum", "avg", "min", "max", "median", "p75", "p90", "p95", "p99", "metric"
]
PROPERTY_KINDS = ("sum", "avg", "min", "max", "median", "p75", "p90", "p95", "p99")
QUANTILES = {"median": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}
LETTERS = string.ascii_uppercase[:10]
MAX_SERIES = 10
MAX_FORMULAS = 5
# counts are 0 where nothing happened; averages and percentiles have no value there
ZERO_KINDS = ("events", "people", "sum")

MetricSource = Callable[[str, str | None, Grain, dt.date, dt.date], tuple[pd.DataFrame, str]]
"""A catalog metric for a trends series: (name, catalog dimension or None, grain, start,
end) → (frame with `period`, the dimension's column if any, `value`; its SQL)."""


class Series(BaseModel):
    """One line of a trend: what is counted (`kind`) of which event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SeriesKind = "events"
    event: str = Field(default=ANY_EVENT, max_length=200, description="* = any activity")
    property: str | None = Field(
        default=None, max_length=200, description="the numeric event property of sum/avg/pNN"
    )
    metric: str | None = Field(default=None, max_length=200, description="a catalog metric")
    label: str = Field(default="", max_length=200)
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)

    @field_validator("event")
    @classmethod
    def _event(cls, value: str) -> str:
        try:
            return check_event_name(value, "series event")
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    def check(self, letter: str) -> None:
        if self.kind == "metric":
            if not self.metric:
                raise InvalidInput(f"series {letter}: name the catalog metric")
            return
        if self.kind in PROPERTY_KINDS:
            if not self.property:
                raise InvalidInput(f"series {letter}: {self.kind} of which numeric property?")
            check_property_name(self.property)

    def describe(self) -> str:
        if self.label:
            return self.label
        what = "any activity" if self.event == ANY_EVENT else self.event
        if self.kind == "metric":
            return str(self.metric)
        if self.kind == "events":
            text = f"{what} (events)"
        elif self.kind == "people":
            text = f"{what} (people)"
        else:
            text = f"{self.kind} of {self.property} on {what}"
        if self.filters:
            text += " where " + " and ".join(f.describe() for f in self.filters)
        return text


@dataclass
class TrendsResult:
    """The series per period (`series`) and each over the whole range (`totals`)."""

    series: Insight
    totals: Insight | None


def _value_expr(kind: str, rows: ir.Table, prop: ir.FloatingValue | None) -> ir.Value:
    if kind == "events":
        return rows.count().cast("float64")
    if kind == "people":
        return rows.person_id.nunique().cast("float64")
    assert prop is not None
    if kind == "sum":
        return prop.sum().cast("float64")
    if kind == "avg":
        return prop.mean()
    if kind == "min":
        return prop.min().cast("float64")
    if kind == "max":
        return prop.max().cast("float64")
    return prop.quantile(QUANTILES[kind]).cast("float64")


def _series_rows(
    tables: EventTables,
    base: EventTables,
    s: Series,
    breakdown: Breakdown | None,
    lo: dt.datetime,
    hi: dt.datetime,
    activity: ActivityFilter | None,
    as_of: dt.date,
) -> ir.Table:
    """The series' events in [lo, hi) with `_bval` (the breakdown value) and `_num` (the
    property as a number, for the property kinds)."""
    t = filtered(tables, Filters(properties=tuple(s.filters))) if s.filters else tables
    ev = t.events
    rows = ev.filter(_in_range(ev, lo, hi))
    if s.event == ANY_EVENT:
        rows = rows.filter(activity_predicate(rows, activity))
    else:
        rows = rows.filter(rows.event == s.event)
    cols: dict[str, Any] = {}
    if s.kind in PROPERTY_KINDS:
        cols["_num"] = property_number(t.dialect, rows.properties, s.property or "")
    if breakdown is None:
        cols["_bval"] = ibis.literal("all", "string")
        return rows.mutate(**cols)
    if breakdown.cohorts:
        seg = cohort_segments(base, list(breakdown.cohorts), as_of)
        seg = seg.select(_sp=seg.person_id, _bval=seg.segment)
        rows = rows.mutate(**cols) if cols else rows
        return rows.join(seg, rows.person_id == seg._sp).drop("_sp")
    dim = breakdown.dimension
    assert dim is not None
    if dim.scope == "event":
        cols["_bval"] = _label(event_value(t, rows, dim))
        return rows.mutate(**cols)
    rows, names = with_profile_values(t, rows, [dim], "_bv")
    cols["_bval"] = _label(rows[names[0]])
    return rows.mutate(**cols).drop(names[0])


def _folded(rows: ir.Table, top: ir.Table | None) -> ir.Table:
    """`rows` with `_bval` outside the `top` values as `(other)`."""
    assert top is not None
    keep = top.select(_top=top._bval)
    j = rows.left_join(keep, rows._bval == keep._top)
    return j.mutate(_bval=ibis.ifelse(j._top.isnull(), ibis.literal(OTHER_LABEL), j._bval)).drop(
        "_top"
    )


def _aggregate(rows: ir.Table, kind: str, g: Grain, dialect: str) -> ir.Table:
    prop = rows._num if "_num" in rows.columns else None
    return (
        rows.group_by(period=period_index(rows.ts, g, dialect), breakdown=rows._bval)
        .aggregate(value=_value_expr(kind, rows, prop))
        .order_by("breakdown", "period")
    )


def _total(rows: ir.Table, kind: str) -> ir.Table:
    prop = rows._num if "_num" in rows.columns else None
    return rows.group_by(breakdown=rows._bval).aggregate(value=_value_expr(kind, rows, prop))


def _run_cached(
    rows: ir.Table,
    s: Series,
    limit: int,
    top_values: list[str] | None,
    g: Grain,
    with_total: bool,
    dialect: str,
) -> tuple[pd.DataFrame, pd.DataFrame | None, list[str]]:
    cached = rows.cache()
    try:
        if top_values is None:
            top_values = [str(v) for v in _top_values(cached, s, limit).execute()["_bval"]]
        inside = cached._bval.isin(top_values) if top_values else ibis.literal(False)
        folded = cached.mutate(_bval=ibis.ifelse(inside, cached._bval, ibis.literal(OTHER_LABEL)))
        frame = _aggregate(folded, s.kind, g, dialect).execute()
        total = _total(folded, s.kind).execute() if with_total else None
    finally:
        cached.release()
    return frame, total, top_values


def _top_values(rows: ir.Table, s: Series, limit: int) -> ir.Table:
    prop = rows._num if "_num" in rows.columns else None
    kind = s.kind if s.kind in ("events", "people", "sum") else "events"
    return (
        rows.group_by("_bval")
        .aggregate(_rank_value=_value_expr(kind, rows, prop))
        .order_by([ibis.desc("_rank_value"), "_bval"])
        .limit(limit)
    )


def trends(
    source: Source,
    series: list[Series],
    start: dt.date,
    end: dt.date,
    *,
    grain: Grain = "day",
    formulas: list[str] | None = None,
    breakdown: str | Breakdown | None = None,
    compare: bool = False,
    filters: Filters | None = None,
    activity: ActivityFilter | None = None,
    metric_source: MetricSource | None = None,
    totals: bool = True,
) -> TrendsResult:
    """Series over time (see the module docstring). `filters` apply to every event series;
    each series may add its own. Catalog metrics keep their own definition and filters."""
    if not 1 <= len(series) <= MAX_SERIES:
        raise InvalidInput(f"a trend has 1 to {MAX_SERIES} series, got {len(series)}")
    formulas = [f for f in (formulas or []) if f.strip()]
    if len(formulas) > MAX_FORMULAS:
        raise InvalidInput(f"at most {MAX_FORMULAS} formulas")
    letters = list(LETTERS[: len(series)])
    for letter, s in zip(letters, series, strict=True):
        s.check(letter)
        if s.kind == "metric" and metric_source is None:
            raise InvalidInput(f"series {letter}: catalog metrics need the workspace's catalog")
    trees = [parse_formula(f, set(letters)) for f in formulas]
    g = check_grain(grain)
    b = as_breakdown(breakdown)
    if b is not None and any(s.kind == "metric" for s in series) and b.cohorts:
        raise InvalidInput("catalog metrics break down by a catalog dimension, not by cohorts")
    base = event_tables(source)
    tables = filtered(base, filters)
    _lo, _hi = _window(start, end)
    ranges = [("current", start, end)]
    if compare:
        ranges.append(("previous", *previous_range(start, end, g)))
    frames: list[pd.DataFrame] = []
    total_frames: list[pd.DataFrame] = []
    queries: dict[str, Any] = {}
    metric_sql: dict[str, str] = {}
    top: ir.Table | None = None
    top_values: list[str] | None = None
    current_values: dict[str, list[str]] = {}
    for which, r_start, r_end in ranges:
        r_lo, r_hi = _window(r_start, r_end)
        periods(r_start, r_end, g)
        for letter, s in zip(letters, series, strict=True):
            name = letter if which == "current" else f"{letter} (previous)"
            if s.kind == "metric":
                frame, sql = _metric_frame(metric_source, s, b, g, r_start, r_end)  # type: ignore[arg-type]
                metric_sql[name] = sql
            else:
                rows = _series_rows(tables, base, s, b, r_lo, r_hi, activity, end)
                keep_cols = ["ts", "_bval", *(["_num"] if "_num" in rows.columns else [])]
                # people are counted by the store's integer key when it has one
                rows = rows.select(*keep_cols, person_id=person_key(tables, rows))
                fold = b is not None and b.dimension is not None
                if fold and top is None:
                    # the top values of the first series in the current range, for every
                    # series and range
                    top = _top_values(rows, s, b.limit)  # type: ignore[union-attr]
                shown = _folded(rows, top) if fold else rows
                expr = _aggregate(shown, s.kind, g, tables.dialect)
                queries[name] = expr
                t_expr = None
                if totals and which == "current":
                    t_expr = _total(shown, s.kind)
                    queries[f"{letter} total"] = t_expr
                if b is not None and b.dimension is not None and tables.dialect == "duckdb":
                    # DuckDB computes a subquery once per reference: the events of the
                    # series are kept in a temporary table for the top values, the series
                    # and the total (the SQL shown is the one statement that does it all)
                    frame, tf, top_values = _run_cached(
                        rows, s, b.limit, top_values, g, t_expr is not None, tables.dialect
                    )
                else:
                    frame = expr.execute()
                    tf = t_expr.execute() if t_expr is not None else None
                frame["period"] = [period_start(int(p), g) for p in frame["period"]]
                if tf is not None:
                    tf.insert(0, "series", letter)
                    total_frames.append(tf)
            seen = current_values.get(letter) if which == "previous" else None
            frame = _complete(frame, r_start, r_end, g, s.kind, seen)
            if which == "current":
                current_values[letter] = sorted(set(frame["breakdown"]))
            frame.insert(0, "series", letter)
            frame.insert(1, "label", s.describe())
            frame["compare"] = which
            frames.append(frame)
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    data = _with_formulas(data, trees, formulas)
    data = _line_up(data, start, end, g) if compare else data.drop(columns=["compare"])
    data = data.sort_values(["series", "breakdown", "period"], kind="stable").reset_index(drop=True)
    if b is None:
        data = data.drop(columns=["breakdown"])
    dialect = tables.dialect
    totals_insight = None
    if totals and total_frames:
        tot = pd.concat(total_frames, ignore_index=True)
        tot = tot.sort_values(["series", "breakdown"], kind="stable").reset_index(drop=True)
        if b is None:
            tot = tot.drop(columns=["breakdown"])
        totals_queries = {k: v for k, v in queries.items() if k.endswith(" total")}
        totals_insight = Insight("trends_totals", tot, totals_queries, dialect, {})
    params = {
        "start": start,
        "end": end,
        "grain": g,
        "series": [s.model_dump(exclude_defaults=True) for s in series],
        "formulas": formulas,
        "breakdown": str(b) if b else None,
        "compare": compare,
        "filters": filters.describe() if filters else [],
    }
    result = Insight("trends", data, queries, dialect, params, raw_sql=metric_sql)
    return TrendsResult(result, totals_insight)


def _metric_frame(
    metric_source: MetricSource,
    s: Series,
    b: Breakdown | None,
    g: Grain,
    start: dt.date,
    end: dt.date,
) -> tuple[pd.DataFrame, str]:
    by = str(b.dimension) if b is not None and b.dimension is not None else None
    frame, sql = metric_source(s.metric or "", by, g, start, end)
    if frame.empty:
        return pd.DataFrame({"period": [], "breakdown": [], "value": []}), sql
    out = pd.DataFrame({"period": [_as_date(p) for p in frame["period"]]})
    if by is not None:
        column = [c for c in frame.columns if c not in ("period", "value")]
        out["breakdown"] = frame[column[0]].astype(object).where(frame[column[0]].notna(), "(none)")
    else:
        out["breakdown"] = "all"
    out["value"] = frame["value"].astype("float64")
    return out, sql


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    day: dt.date = pd.Timestamp(value).date()
    return day


def _complete(
    frame: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    g: Grain,
    kind: str,
    also: list[str] | None = None,
) -> pd.DataFrame:
    """Every period of the range for every breakdown value (0 for counts, no value else);
    `also` are values to show even without events (the current range's, for the previous)."""
    days = [period_start(p, g) for p in periods(start, end, g)]
    values = sorted({str(v) for v in frame["breakdown"]} | set(also or []))
    if not values:
        values = ["all"]
    full = pd.MultiIndex.from_product([values, days], names=["breakdown", "period"])
    frame = frame.assign(breakdown=frame["breakdown"].astype(str))
    indexed = frame.set_index(["breakdown", "period"])["value"].astype("float64")
    indexed = indexed[~indexed.index.duplicated()]
    out = indexed.reindex(full)
    if kind in ZERO_KINDS or kind == "metric":
        out = out.fillna(0.0) if kind != "metric" else out
    return out.reset_index()


def _with_formulas(data: pd.DataFrame, trees: list[Any], formulas: list[str]) -> pd.DataFrame:
    if not trees or data.empty:
        return data
    keys = ["compare", "breakdown", "period"]
    wide = data.drop_duplicates([*keys, "series"]).set_index([*keys, "series"])["value"]
    wide = wide.unstack("series")
    out = [data]
    for i, (tree, text) in enumerate(zip(trees, formulas, strict=True), 1):
        values = {c: wide[c] for c in wide.columns}
        result = evaluate(tree, values).rename("value").reset_index()
        result.insert(0, "series", f"F{i}")
        result.insert(1, "label", text.strip())
        out.append(result[data.columns])
    return pd.concat(out, ignore_index=True)


def _months_back(day: dt.date, n: int) -> dt.date:
    month = day.year * 12 + day.month - 1 - n
    year, mon = divmod(month, 12)
    last = (dt.date(year + (mon + 1) // 12, (mon + 1) % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, mon + 1, min(day.day, last))


def previous_range(start: dt.date, end: dt.date, grain: Grain) -> tuple[dt.date, dt.date]:
    """The range before [start, end], as many periods back as the range spans: the 30 days
    before 30 days, the month before a month (whatever its length), the weeks before weeks."""
    n = len(periods(start, end, grain))
    if grain == "month":
        return _months_back(start, n), _months_back(end, n)
    days = n * 7 if grain == "week" else (end - start).days + 1
    return start - dt.timedelta(days=days), end - dt.timedelta(days=days)


def _line_up(data: pd.DataFrame, start: dt.date, end: dt.date, g: Grain) -> pd.DataFrame:
    """Previous rows take the period of the current range at the same position."""
    cur = [period_start(p, g) for p in periods(start, end, g)]
    prev = [period_start(p, g) for p in periods(*previous_range(start, end, g), g)]
    to_current = {p: cur[i] for i, p in enumerate(prev) if i < len(cur)}
    data = data.copy()
    data["previous_period"] = [
        p if c == "previous" else None for p, c in zip(data["period"], data["compare"], strict=True)
    ]
    data["period"] = [
        to_current.get(p) if c == "previous" else p
        for p, c in zip(data["period"], data["compare"], strict=True)
    ]
    return data[data["period"].notna()]
