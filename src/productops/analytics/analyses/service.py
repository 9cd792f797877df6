"""Product analyses, written once in Ibis: active users, stickiness, feature adoption by
segment, retention, funnels and lifecycle.

Every function takes a *source*: an Ibis backend whose tables are named like the event
store's (`events_resolved`, `persons`, `accounts`) — the workspace's DuckDB, a PySpark
session — or an `EventTables` (what `warehouse.connect_warehouse` returns for an existing
warehouse table). It returns an `Insight`: a pandas DataFrame plus the Ibis expressions that
computed it, so any number can show the SQL it came from. People are counted by `person_id`,
so an anonymous visit and the sign-up after it are one person. The definitions, and where they
match PostHog's, are in docs/metrics.md.

    with store.reader(ws.settings.events_file) as con:
        weekly = retention(ibis.duckdb.from_connection(con), start, end, grain="week")
        weekly.data          # counts per cohort and period and % of period 0
        weekly.sql()         # {"retention": "SELECT …"}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from productops.analytics.analyses.segments import Breakdown, person_breakdown, person_segments
from productops.analytics.query.activity import (
    ANY_EVENT,
    ActivityFilter,
    activity_predicate,
    check_event_name,
)
from productops.analytics.query.dimensions import (
    Dimension,
    attribute,
)
from productops.analytics.query.dimensions import label as _label
from productops.analytics.query.filtering import filtered
from productops.analytics.query.filters import Filters
from productops.analytics.query.grains import (
    Grain,
    period_index,
    period_number,
    period_start,
)
from productops.analytics.query.grains import check_grain as _check_grain
from productops.analytics.query.grains import periods as _periods
from productops.analytics.query.tables import (
    EventTables,
    Source,
    event_tables,
    person_key,
    with_person_ids,
)
from productops.core.errors import InvalidInput
from productops.core.export import frame_records

RetentionMode = Literal["first_time", "recurring"]
ReturnMode = Literal["on", "on_or_after"]
FunnelOrder = Literal["ordered", "strict"]
Unit = Literal["person", "account"]

"""As a start or return event: any event that counts as activity."""
"""The segment / breakdown value of people without the trait."""
MAX_RANGE_DAYS = 3660
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
MAX_FUNNEL_STEPS = 10
ROLLING_WINDOWS = {"dau": 1, "wau": 7, "mau": 30}


@dataclass
class Insight:
    """One analysis result: `data` (a DataFrame) and the Ibis `queries` that computed it."""

    kind: str
    data: pd.DataFrame
    queries: dict[str, ir.Table]
    dialect: str
    params: dict[str, Any] = field(default_factory=dict)
    raw_sql: dict[str, str] = field(default_factory=dict)

    def sql(self) -> dict[str, str]:
        """The SQL each query compiles to on the backend that ran it."""
        out = {name: str(ibis.to_sql(q, dialect=self.dialect)) for name, q in self.queries.items()}
        return {**out, **self.raw_sql}

    def records(self) -> list[dict[str, Any]]:
        """`data` as JSON-ready rows (dates as ISO strings, missing values as None)."""
        return frame_records(self.data)


@dataclass
class Stickiness:
    """DAU/MAU per day, and PostHog's histogram of how many days (weeks, months) people were
    active in the range."""

    ratio: Insight
    days_active: Insight


# --- building blocks ----------------------------------------------------------------------


def _matches(events: ir.Table, name: str, activity: ActivityFilter | None) -> ir.BooleanValue:
    if name == ANY_EVENT:
        return activity_predicate(events, activity)
    return events.event == name


def _segment_table(base: EventTables, tables: EventTables, b: Breakdown, end: dt.date) -> ir.Table:
    """(`_sp`, `segment`): each person's breakdown value, `_sp` being what `person_key`
    groups people by in `tables`."""
    seg = person_segments(base, b, end, events=tables.events)
    if tables.keyed and tables.keys is not None:
        k = tables.keys.select(_sp=tables.keys.person_key, _kpid=tables.keys.person_id)
        j = seg.join(k, seg.person_id == k._kpid)
        return j.select("_sp", "segment")
    return seg.select(_sp=seg.person_id, segment=seg.segment)


def _with_person_dimension(
    tables: EventTables, people: ir.Table, dim: Dimension, what: str
) -> ir.Table:
    """`people` (person_id, event_account, …) plus a `segment` column from a person or
    account trait. A person's account is their profile's account, else one from their events."""
    if tables.persons is None:
        raise InvalidInput(f"{what} {dim}: this event source has no persons table")
    p = tables.persons
    none = ibis.null("string")
    prof = p.select(
        _pid=p.person_id,
        _pacct=p.account_id.cast("string") if "account_id" in p.columns else none,
        _pval=attribute(p, dim.key, tables.dialect) if dim.scope == "person" else none,
    )
    j = people.left_join(prof, people.person_id == prof._pid)
    if dim.scope == "person":
        return j.mutate(segment=_label(j._pval)).drop("_pid", "_pacct", "_pval")
    return _with_account_dimension(
        tables, j.mutate(_acct=j._pacct.fill_null(j.event_account)), "_acct", dim, what
    ).drop("_pid", "_pacct", "_pval", "_acct")


def _with_account_dimension(
    tables: EventTables, rows: ir.Table, account_col: str, dim: Dimension, what: str
) -> ir.Table:
    if tables.accounts is None:
        raise InvalidInput(f"{what} {dim}: this event source has no accounts table")
    a = tables.accounts
    vals = a.select(_aid=a.account_id.cast("string"), _aval=attribute(a, dim.key, tables.dialect))
    j = rows.left_join(vals, rows[account_col] == vals._aid)
    return j.mutate(segment=_label(j._aval)).drop("_aid", "_aval")


# --- time ---------------------------------------------------------------------------------


def _window(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in naive UTC: both dates are included."""
    if start > end:
        raise InvalidInput(f"the start date {start} is after the end date {end}")
    if start < EARLIEST or end > LATEST:
        raise InvalidInput(f"dates must lie between {EARLIEST} and {LATEST}")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"the date range {start}..{end} is longer than {MAX_RANGE_DAYS} days")
    lo = dt.datetime.combine(start, dt.time())
    return lo, lo + dt.timedelta(days=(end - start).days + 1)


def _in_range(events: ir.Table, lo: dt.datetime, hi: dt.datetime) -> ir.BooleanValue:
    return (events.ts >= ibis.literal(lo, "timestamp")) & (
        events.ts < ibis.literal(hi, "timestamp")
    )


def _count(expr: ir.Value) -> ir.IntegerScalar:
    return expr.cast("int64").sum().fill_null(0)


def _execute(expr: ir.Table) -> pd.DataFrame:
    frame: pd.DataFrame = expr.execute()
    return frame


# --- active users -------------------------------------------------------------------------


def active_users(
    source: Source,
    start: dt.date,
    end: dt.date,
    *,
    grain: Grain = "day",
    activity: ActivityFilter | None = None,
    filters: Filters | None = None,
) -> Insight:
    """Distinct active people per calendar day, week (Monday) or month in the range."""
    tables = filtered(event_tables(source), filters)
    g = _check_grain(grain)
    lo, hi = _window(start, end)
    ev = tables.events
    act = ev.filter(_in_range(ev, lo, hi), activity_predicate(ev, activity))
    expr = (
        act.group_by(period=period_index(act.ts, g, tables.dialect))
        .aggregate(active_persons=person_key(tables, act).nunique())
        .order_by("period")
    )
    frame = _execute(expr)
    data = _fill_periods(frame, _periods(start, end, g), g, ["active_persons"])
    return Insight(
        "active_users",
        data,
        {"active_users": expr},
        tables.dialect,
        {"start": start, "end": end, "grain": g},
    )


def rolling_active_users(
    source: Source,
    start: dt.date,
    end: dt.date,
    *,
    activity: ActivityFilter | None = None,
    filters: Filters | None = None,
) -> Insight:
    """DAU, WAU and MAU per day, PostHog style: distinct people active in the 1, 7 and 30
    days ending that day."""
    tables = filtered(event_tables(source), filters)
    lo, hi = _window(start, end)
    look_lo = lo - dt.timedelta(days=max(ROLLING_WINDOWS.values()) - 1)
    ev = tables.events
    act = ev.filter(_in_range(ev, look_lo, hi), activity_predicate(ev, activity))
    person_days = act.select(
        person_id=person_key(tables, act), day=period_index(act.ts, "day")
    ).distinct()
    nxt = person_days.day.lead().over(ibis.window(group_by="person_id", order_by="day"))
    b = person_days.mutate(next_day=nxt)
    # A person counts for the days [d, d + w) after each active day d; cutting each span at
    # the next active day makes the spans disjoint, so the running sum of +1 at span starts
    # and -1 at span ends is the number of distinct people active in the window.
    one = ibis.literal(1, "int64")
    zero = ibis.literal(0, "int64")
    names = list(ROLLING_WINDOWS)
    parts = [b.select(day=b.day, **dict.fromkeys(names, one))]
    for name, width in ROLLING_WINDOWS.items():
        stop = ibis.least(b.day + width, b.next_day.fill_null(b.day + width))
        parts.append(
            b.select(day=stop.cast("int64"), **{n: -one if n == name else zero for n in names})
        )
    deltas = ibis.union(*parts, distinct=False)
    per_day = deltas.group_by("day").aggregate(**{n: deltas[n].sum() for n in names})
    running = ibis.cumulative_window(order_by="day")
    expr = per_day.select(
        "day", **{n: per_day[n].sum().over(running).cast("int64") for n in names}
    ).order_by("day")
    frame = _execute(expr)
    days = _periods(look_lo.date(), end, "day")
    full = frame.set_index("day").reindex(days).ffill().fillna(0).astype("int64")
    full = full.loc[period_number(start, "day") :]
    data = full.reset_index(names="day")
    data["day"] = [period_start(int(d), "day") for d in data["day"]]
    return Insight(
        "rolling_active_users",
        data,
        {"rolling_active_users": expr},
        tables.dialect,
        {"start": start, "end": end},
    )


def stickiness(
    source: Source,
    start: dt.date,
    end: dt.date,
    *,
    grain: Grain = "day",
    activity: ActivityFilter | None = None,
    event: str | None = None,
    filters: Filters | None = None,
    breakdown: str | Breakdown | None = None,
) -> Stickiness:
    """DAU/MAU per day, and how many people were active on 1, 2, … N distinct days (weeks,
    months) of the range — PostHog's stickiness. `event` counts only that event as activity
    (default: any activity); `breakdown` (a person or account trait, or cohorts) splits the
    histogram, adding a `breakdown` column."""
    base = event_tables(source)
    tables = filtered(base, filters)
    b = person_breakdown(breakdown, "stickiness")
    g = _check_grain(grain)
    lo, hi = _window(start, end)
    if event is not None and event != ANY_EVENT:
        check_event_name(event, "event")
        activity = ActivityFilter(events=[event])
    rolling = rolling_active_users(tables, start, end, activity=activity)
    ratio_data = rolling.data[["day", "dau", "mau"]].copy()
    ratio_data["dau_mau"] = [
        float(d) / float(m) if m else 0.0
        for d, m in zip(ratio_data["dau"], ratio_data["mau"], strict=True)
    ]
    ratio = Insight(
        "dau_mau", ratio_data, rolling.queries, tables.dialect, {"start": start, "end": end}
    )

    ev = tables.events
    act = ev.filter(_in_range(ev, lo, hi), activity_predicate(ev, activity))
    per_person = act.group_by(person_id=person_key(tables, act)).aggregate(
        active_periods=period_index(act.ts, g, tables.dialect).nunique()
    )
    if b is None:
        per_person = per_person.mutate(segment=ibis.literal("all", "string"))
    else:
        seg = _segment_table(base, tables, b, end)
        per_person = per_person.join(seg, per_person.person_id == seg._sp).drop("_sp")
    expr = (
        per_person.group_by(
            "segment", per_person.active_periods.cast("int64").name("active_periods")
        )
        .aggregate(persons=per_person.count())
        .order_by("segment", "active_periods")
    )
    frame = _execute(expr)
    n = len(_periods(start, end, g))
    parts = []
    for sg, part in frame.groupby("segment", sort=True):
        h = (
            part.set_index("active_periods")["persons"]
            .reindex(range(1, n + 1), fill_value=0)
            .astype("int64")
            .reset_index()
        )
        if b is not None:
            h.insert(0, "breakdown", str(sg))
        parts.append(h)
    if parts:
        hist = pd.concat(parts, ignore_index=True)
    else:
        hist = pd.DataFrame({"active_periods": list(range(1, n + 1)), "persons": [0] * n})
        if b is not None:
            hist = hist.iloc[0:0].assign(breakdown=[])[["breakdown", "active_periods", "persons"]]
    days_active = Insight(
        "stickiness",
        hist,
        {"stickiness": expr},
        tables.dialect,
        {"start": start, "end": end, "grain": g},
    )
    return Stickiness(ratio=ratio, days_active=days_active)


# --- feature adoption ---------------------------------------------------------------------


def adoption(
    source: Source,
    feature: str,
    start: dt.date,
    end: dt.date,
    *,
    segment: str | None = "account.plan",
    unit: Unit = "person",
    activity: ActivityFilter | None = None,
    filters: Filters | None = None,
) -> Insight:
    """For each segment value: active people (or accounts) in the range, how many of them
    used `feature` (did that event) in the range, and the share."""
    tables = filtered(event_tables(source), filters)
    check_event_name(feature, "feature")
    if feature == ANY_EVENT:
        raise InvalidInput("feature: name the event that means the feature was used")
    if unit not in {"person", "account"}:
        raise InvalidInput(f"unit {unit!r}: use person or account")
    dim = Dimension.parse(segment, "segment") if segment else None
    if dim is not None and dim.scope == "event":
        raise InvalidInput(f"segment {dim}: segment by a person.TRAIT or an account.TRAIT")
    if dim is not None and unit == "account" and dim.scope != "account":
        raise InvalidInput(f"segment {dim}: accounts are segmented by an account.TRAIT")
    lo, hi = _window(start, end)
    ev = tables.events
    rel = ev.filter(_in_range(ev, lo, hi))
    rel = rel.filter(activity_predicate(rel, activity) | (rel.event == feature))
    people = rel.group_by(person_id=person_key(tables, rel)).aggregate(
        is_active=activity_predicate(rel, activity).any(),
        used=(rel.event == feature).any(),
        event_account=rel.account_id.max().cast("string"),
    )
    people = people.filter(people.is_active)
    if unit == "account" or dim is not None:
        people = with_person_ids(tables, people)
    if unit == "account":
        if dim is None:
            units = people.mutate(segment=ibis.literal("all"))
        else:
            units = _with_person_dimension(tables, people, Dimension("account", dim.key), "segment")
        # The account of a person: their profile's, else one their events carry.
        prof = tables.persons
        if prof is not None and "account_id" in prof.columns:
            pa = prof.select(_pid=prof.person_id, _pacct=prof.account_id.cast("string"))
            units = units.left_join(pa, units.person_id == pa._pid)
            units = units.mutate(unit_id=units._pacct.fill_null(units.event_account)).drop(
                "_pid", "_pacct"
            )
        else:
            units = units.mutate(unit_id=units.event_account)
        units = units.filter(units.unit_id.notnull())
        units = units.group_by("unit_id", "segment").aggregate(used=units.used.any())
    else:
        units = (
            people.mutate(segment=ibis.literal("all"))
            if dim is None
            else _with_person_dimension(tables, people, dim, "segment")
        )
    agg = units.group_by("segment").aggregate(active=units.count(), adopters=_count(units.used))
    expr = agg.mutate(
        adoption_rate=agg.adopters.cast("float64") / agg.active.cast("float64")
    ).order_by("segment")
    data = _execute(expr)
    data["active"] = data["active"].astype("int64")
    data["adopters"] = data["adopters"].astype("int64")
    return Insight(
        "adoption",
        data,
        {"adoption": expr},
        tables.dialect,
        {
            "feature": feature,
            "start": start,
            "end": end,
            "segment": str(dim) if dim else None,
            "unit": unit,
        },
    )


# --- retention ----------------------------------------------------------------------------


def retention(
    source: Source,
    start: dt.date,
    end: dt.date,
    *,
    start_event: str = ANY_EVENT,
    return_event: str | None = None,
    grain: Grain = "week",
    mode: RetentionMode = "first_time",
    return_mode: ReturnMode = "on",
    periods: int = 10,
    activity: ActivityFilter | None = None,
    filters: Filters | None = None,
    breakdown: str | Breakdown | None = None,
) -> Insight:
    """Cohort retention. Cohorts are the periods of the range: with `first_time`, the period
    of each person's first `start_event` ever; with `recurring`, every period in which they
    did it. A cohort member is retained in period N if they did `return_event` (default: the
    start event; `*` = any activity) in period N (`on`), or in N or any later period
    (`on_or_after`). Period 0 is the cohort; `percent` is of period 0.

    `filters` keep only the events (and people) they name; `breakdown` (a person or account
    trait, or cohorts taken on `end`) adds a `breakdown` column: one triangle per value.
    """
    base = event_tables(source)
    tables = filtered(base, filters)
    b = person_breakdown(breakdown, "retention")
    g = _check_grain(grain)
    if mode not in {"first_time", "recurring"}:
        raise InvalidInput(f"mode {mode!r}: use first_time or recurring")
    if return_mode not in {"on", "on_or_after"}:
        raise InvalidInput(f"return_mode {return_mode!r}: use on or on_or_after")
    if not 1 <= periods <= 120:
        raise InvalidInput(f"periods {periods}: choose between 1 and 120")
    check_event_name(start_event, "start_event")
    ret_event = check_event_name(return_event or start_event, "return_event")
    _lo, hi = _window(start, end)
    lo_p, hi_p = period_number(start, g), period_number(end, g)
    ev = tables.events
    before_end = ev.filter(ev.ts < ibis.literal(hi, "timestamp"))

    def person_periods(name: str) -> ir.Table:
        rows = before_end.filter(_matches(before_end, name, activity))
        return rows.select(
            person_id=person_key(tables, rows), p=period_index(rows.ts, g, tables.dialect)
        ).distinct()

    # Returns only count after the cohort's period, which starts on or after `start`, so
    # both sides read the same (person, period) pairs when the events are the same.
    starts = person_periods(start_event)
    if mode == "first_time":
        cohorts = starts.group_by("person_id").aggregate(cohort=starts.p.min())
        cohorts = cohorts.filter(cohorts.cohort.between(lo_p, hi_p))
    else:
        cohorts = starts.filter(starts.p.between(lo_p, hi_p))
        cohorts = cohorts.select("person_id", cohort=cohorts.p)
    if b is None:
        cohorts = cohorts.mutate(segment=ibis.literal("all", "string"))
    else:
        seg = _segment_table(base, tables, b, end)
        cohorts = cohorts.join(seg, cohorts.person_id == seg._sp).drop("_sp")
    returned = starts if ret_event == start_event else person_periods(ret_event)
    returns = returned.select(_rp=returned.person_id, r=returned.p)
    j = cohorts.join(returns, cohorts.person_id == returns._rp)
    j = j.filter(j.r > j.cohort).select(
        "person_id", "cohort", "segment", n=(j.r - j.cohort).cast("int64")
    )

    sizes = cohorts.group_by("segment", "cohort").aggregate(
        period=ibis.literal(0, "int64"), persons=cohorts.count().cast("int64")
    )
    if return_mode == "on":
        on = j.filter(j.n <= periods)
        counts = on.group_by("segment", "cohort", period=on.n).aggregate(
            persons=on.count().cast("int64")
        )
    else:
        furthest = j.group_by("person_id", "cohort", "segment").aggregate(
            n=ibis.least(j.n.max(), periods)
        )
        last = furthest.group_by("segment", "cohort", period=furthest.n).aggregate(
            k=furthest.count()
        )
        later = ibis.cumulative_window(group_by=["segment", "cohort"], order_by=ibis.desc("period"))
        counts = last.select(
            "segment", "cohort", "period", persons=last.k.sum().over(later).cast("int64")
        )
    expr = ibis.union(sizes, counts, distinct=False).order_by("segment", "cohort", "period")
    frame = _execute(expr)

    got = {
        (str(sg), int(c), int(p)): int(n)
        for sg, c, p, n in frame[["segment", "cohort", "period", "persons"]].values
    }
    if return_mode == "on_or_after":
        # The query has a row where someone's furthest return lies; a period in between has
        # the count of the next period with a row.
        for sg, c in {(sg, c) for sg, c, _ in got}:
            for n in range(periods - 1, 0, -1):
                if (sg, c, n) not in got and (sg, c, n + 1) in got:
                    got[sg, c, n] = got[sg, c, n + 1]
    rows = []
    for sg in sorted({sg for sg, _, _ in got}):
        for c in range(lo_p, hi_p + 1):
            size = got.get((sg, c, 0), 0)
            if size == 0:
                continue
            for n in range(periods + 1):
                if c + n > hi_p:  # not observed yet
                    break
                kept = got.get((sg, c, n), 0)
                rows.append((sg, period_start(c, g), size, n, kept, 100.0 * kept / size))
    data = pd.DataFrame(
        rows, columns=["breakdown", "cohort", "cohort_size", "period", "persons", "percent"]
    )
    if b is None:
        data = data.drop(columns=["breakdown"])
    return Insight(
        "retention",
        data,
        {"retention": expr},
        tables.dialect,
        {
            "start": start,
            "end": end,
            "start_event": start_event,
            "return_event": ret_event,
            "grain": g,
            "mode": mode,
            "return_mode": return_mode,
            "periods": periods,
            "breakdown": str(b) if b else None,
            "filters": filters.describe() if filters else [],
        },
    )


def retention_table(result: Insight) -> pd.DataFrame:
    """A retention result as the familiar triangle: one row per cohort, one column per period
    (percent of period 0)."""
    index = ["breakdown", "cohort"] if "breakdown" in result.data.columns else "cohort"
    return result.data.pivot(index=index, columns="period", values="percent")


# --- funnels ------------------------------------------------------------------------------


def funnel(
    source: Source,
    steps: list[str],
    start: dt.date,
    end: dt.date,
    *,
    window: dt.timedelta = dt.timedelta(days=14),
    order: FunnelOrder = "ordered",
    breakdown: str | Breakdown | None = None,
    activity: ActivityFilter | None = None,
    filters: Filters | None = None,
) -> Insight:
    """How many people reached each step, in order, within `window` of entering the funnel.

    `ordered` (PostHog's default): each step happens at or after the previous one, other
    events in between allowed. `strict`: each step is the person's very next event. Steps and
    entry must fall in the date range. A person counts once, at the furthest step any of their
    attempts reached. `breakdown` splits by `person.TRAIT`, `account.TRAIT` or
    `event.PROPERTY` (of the entry event of the attempt that got furthest).
    """
    if isinstance(breakdown, Breakdown):
        if breakdown.cohorts:
            return _funnel_by_cohorts(
                source, steps, start, end, window, order, breakdown, activity, filters
            )
        breakdown = str(breakdown.dimension)
    tables = filtered(event_tables(source), filters)
    if not 2 <= len(steps) <= MAX_FUNNEL_STEPS:
        raise InvalidInput(f"a funnel needs 2 to {MAX_FUNNEL_STEPS} steps, got {len(steps)}")
    for k, name in enumerate(steps, 1):
        check_event_name(name, f"funnel step {k}")
        if name == ANY_EVENT:
            raise InvalidInput(f"funnel step {k}: name an event (* is not a step)")
    if order not in {"ordered", "strict"}:
        raise InvalidInput(f"order {order!r}: use ordered or strict")
    if not dt.timedelta(seconds=1) <= window <= dt.timedelta(days=365):
        raise InvalidInput("the conversion window must be between 1 second and 365 days")
    dim = Dimension.parse(breakdown) if breakdown else None
    lo, hi = _window(start, end)
    ev = tables.events
    ranged = ev.filter(_in_range(ev, lo, hi))
    seconds = int(window.total_seconds())
    within = ibis.interval(seconds=seconds)

    if order == "strict":
        seq = ranged.filter(activity_predicate(ranged, activity) | ranged.event.isin(steps))
        seq = seq.mutate(
            rn=ibis.row_number().over(
                ibis.window(group_by="person_id", order_by=["ts", "event_id"])
            )
        )
    else:
        seq = ranged.filter(ranged.event.isin(steps))
    entry = seq.filter(seq.event == steps[0])
    extra: dict[str, Any] = {}
    if dim is not None and dim.scope == "event":
        extra["bval"] = attribute(entry, dim.key, tables.dialect)
    if order == "strict":
        base = entry.select(person_id=entry.person_id, start=entry.ts, pos=entry.rn, **extra)
        cur = base.select("person_id", "start", "pos")
        key = ["person_id", "pos"]
    else:
        agg = {"bval": extra["bval"].min()} if "bval" in extra else {"n": entry.count()}
        base = entry.group_by(person_id=entry.person_id, start=entry.ts).aggregate(**agg)
        cur = base.select("person_id", "start", t=base.start)
        key = ["person_id", "start"]
    reached = [_attempt_step(cur, key, 1)]
    for k in range(1, len(steps)):
        nxt = seq.filter(seq.event == steps[k])
        if order == "strict":
            s = nxt.select(_p=nxt.person_id, _t=nxt.ts, _pos=nxt.rn)
            j = cur.join(s, [cur.person_id == s._p, s._pos == cur.pos + k])
            j = j.filter(j._t <= j.start + within)
            cur = j.select("person_id", "start", "pos")
        else:
            s = nxt.select(_p=nxt.person_id, _t=nxt.ts)
            j = cur.join(s, cur.person_id == s._p)
            # the same event twice in a row must be two events, so strictly later
            later = j._t > j.t if steps[k] == steps[k - 1] else j._t >= j.t
            j = j.filter(later, j._t <= j.start + within)
            cur = j.group_by("person_id", "start").aggregate(t=j._t.min())
        reached.append(_attempt_step(cur, key, k + 1))
    steps_by_attempt = ibis.union(*reached, distinct=False)
    furthest = steps_by_attempt.group_by(*key).aggregate(step=steps_by_attempt.step.max())
    attempts = furthest.join(base, key).select(
        *key, "step", *[c for c in ("bval",) if c in base.columns]
    )

    if dim is not None and dim.scope == "event":
        first_try = "pos" if order == "strict" else "start"
        best = ibis.window(group_by="person_id", order_by=[ibis.desc("step"), first_try])
        ranked = attempts.mutate(_rank=ibis.row_number().over(best))
        people = ranked.filter(ranked._rank == 0).select(
            "person_id", "step", segment=_label(ranked.bval)
        )
    else:
        people = attempts.group_by("person_id").aggregate(step=attempts.step.max())
        if dim is not None and dim.scope == "account":
            accts = ranged.group_by(_ap=ranged.person_id).aggregate(
                event_account=ranged.account_id.max().cast("string")
            )
            people = people.left_join(accts, people.person_id == accts._ap).drop("_ap")
        if dim is None:
            people = people.mutate(segment=ibis.literal("all"))
        else:
            people = _with_person_dimension(tables, people, dim, "breakdown")
    expr = (
        people.group_by(breakdown=people.segment)
        .aggregate(**{f"step_{k}": _count(people.step >= k) for k in range(1, len(steps) + 1)})
        .order_by("breakdown")
    )
    wide = _execute(expr)
    rows = []
    for rec in wide.to_dict(orient="records"):
        first = int(rec["step_1"])
        prev = first
        for k, name in enumerate(steps, 1):
            n = int(rec[f"step_{k}"])
            rows.append(
                (
                    rec["breakdown"],
                    k,
                    name,
                    n,
                    n / first if first else 0.0,
                    n / prev if prev else 0.0,
                )
            )
            prev = n
    data = pd.DataFrame(
        rows, columns=["breakdown", "step", "event", "persons", "conversion", "step_conversion"]
    )
    return Insight(
        "funnel",
        data,
        {"funnel": expr},
        tables.dialect,
        {
            "steps": list(steps),
            "start": start,
            "end": end,
            "window_seconds": seconds,
            "order": order,
            "breakdown": str(dim) if dim else None,
        },
    )


def _funnel_by_cohorts(
    source: Source,
    steps: list[str],
    start: dt.date,
    end: dt.date,
    window: dt.timedelta,
    order: FunnelOrder,
    breakdown: Breakdown,
    activity: ActivityFilter | None,
    filters: Filters | None,
) -> Insight:
    """One funnel per cohort (its people only), stacked: a person in two cohorts counts in
    both, as in the other analyses' cohort breakdowns."""
    from dataclasses import replace

    base = filters or Filters()
    frames, queries = [], {}
    result: Insight | None = None
    for cohort in breakdown.cohorts:
        only = replace(base, cohorts=(*base.cohorts, cohort))
        result = funnel(
            source, steps, start, end, window=window, order=order, activity=activity, filters=only
        )
        frames.append(result.data.assign(breakdown=cohort.name))
        queries[f"{cohort.name}: funnel"] = result.queries["funnel"]
    assert result is not None
    params = {**result.params, "breakdown": str(breakdown)}
    return Insight("funnel", pd.concat(frames, ignore_index=True), queries, result.dialect, params)


def _attempt_step(cur: ir.Table, key: list[str], step: int) -> ir.Table:
    # the same (nullable) schema for every step, so the steps can be stacked
    cols = {c: cur[c].cast(cur[c].type().copy(nullable=True)) for c in key}
    return cur.select(**cols, step=ibis.literal(step, "int64"))


# --- lifecycle ----------------------------------------------------------------------------

LIFECYCLE_STATUSES = ("new", "returning", "resurrecting", "dormant")


def lifecycle(
    source: Source,
    start: dt.date,
    end: dt.date,
    *,
    grain: Grain = "week",
    activity: ActivityFilter | None = None,
    event: str | None = None,
    filters: Filters | None = None,
    breakdown: str | Breakdown | None = None,
) -> Insight:
    """Per period: `new` (first activity ever in the period), `returning` (active in this and
    the previous period), `resurrecting` (active now, not in the previous period, but
    before), `dormant` (active in the previous period, not now; negative, as PostHog shows it).
    `event` counts only that event as activity; `breakdown` (a person or account trait, or
    cohorts) adds a `breakdown` column with one set of rows per value.
    """
    base = event_tables(source)
    tables = filtered(base, filters)
    b = person_breakdown(breakdown, "lifecycle")
    g = _check_grain(grain)
    _lo, hi = _window(start, end)
    if event is not None and event != ANY_EVENT:
        check_event_name(event, "event")
        activity = ActivityFilter(events=[event])
    lo_p, hi_p = period_number(start, g), period_number(end, g)
    ev = tables.events
    act = ev.filter(ev.ts < ibis.literal(hi, "timestamp"), activity_predicate(ev, activity))
    pp = act.select(
        person_id=person_key(tables, act), p=period_index(act.ts, g, tables.dialect)
    ).distinct()
    w = ibis.window(group_by="person_id", order_by="p")
    x = pp.mutate(prev=pp.p.lag().over(w), nxt=pp.p.lead().over(w))
    if b is None:
        x = x.mutate(segment=ibis.literal("all", "string"))
    else:
        seg = _segment_table(base, tables, b, end)
        x = x.join(seg, x.person_id == seg._sp).drop("_sp")
    status = ibis.cases(
        (x.prev.isnull(), "new"), (x.prev == x.p - 1, "returning"), else_="resurrecting"
    )
    active = x.filter(x.p.between(lo_p, hi_p)).select(
        "segment", period=x.p.cast("int64"), status=status
    )
    gone = x.filter(x.nxt.isnull() | (x.nxt > x.p + 1), (x.p + 1).between(lo_p, hi_p))
    dormant = gone.select(
        "segment", period=(gone.p + 1).cast("int64"), status=ibis.literal("dormant")
    )
    u = ibis.union(active, dormant, distinct=False)
    counted = u.group_by("segment", "period", "status").aggregate(n=u.count().cast("int64"))
    expr = counted.select(
        "segment",
        "period",
        "status",
        persons=ibis.ifelse(counted.status == "dormant", -counted.n, counted.n),
    ).order_by("segment", "period", "status")
    frame = _execute(expr)
    segments = sorted(set(frame["segment"])) if b is not None else ["all"]
    parts = []
    for sg in segments:
        part = frame[frame["segment"] == sg]
        wide = part.pivot_table(index="period", columns="status", values="persons", aggfunc="sum")
        wide = wide.reindex(index=_periods(start, end, g), columns=list(LIFECYCLE_STATUSES))
        wide = wide.fillna(0).astype("int64").reset_index()
        wide.columns.name = None
        wide["period"] = [period_start(int(p), g) for p in wide["period"]]
        if b is not None:
            wide.insert(0, "breakdown", str(sg))
        parts.append(wide)
    data = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return Insight(
        "lifecycle",
        data,
        {"lifecycle": expr},
        tables.dialect,
        {
            "start": start,
            "end": end,
            "grain": g,
            "event": event,
            "breakdown": str(b) if b else None,
            "filters": filters.describe() if filters else [],
        },
    )


# --- helpers ------------------------------------------------------------------------------


def _fill_periods(
    frame: pd.DataFrame, periods: list[int], grain: Grain, columns: list[str]
) -> pd.DataFrame:
    full = frame.set_index("period")[columns].reindex(periods, fill_value=0).astype("int64")
    out = full.reset_index()
    out["period"] = [period_start(int(p), grain) for p in out["period"]]
    return out
