"""Funnels in depth: who converted and who dropped at each step, how long each step took,
steps that disqualify (exclusions), and which events and traits go with converting.

The funnel is the ordered one of `analyses.funnel` (each step at or after the previous, in
the window after the entry; a person counts at the furthest step any attempt reached): each
attempt takes, for every step, the earliest event that continues it, which reaches the
furthest step any ordering could. The attempt a person counts by is their furthest, earliest
one; its times give the time to convert. An exclusion (event E between steps a and b) drops
every attempt in which E happened after step a and before step b (or before the window's
end when b was not reached), as PostHog does.

Correlation compares people who converted (reached the last step) with those who entered and
did not: for each event they did in the range (not a step), or each value of a trait, the odds
ratio (with PostHog's +1 smoothing) of converting with it against without it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from productops.analytics.analyses.segments import person_segments
from productops.analytics.analyses.service import (
    MAX_FUNNEL_STEPS,
    Insight,
    _in_range,
    _window,
)
from productops.analytics.query.activity import ActivityFilter, activity_predicate, check_event_name
from productops.analytics.query.dimensions import Dimension
from productops.analytics.query.filtering import filtered
from productops.analytics.query.filters import Filters
from productops.analytics.query.tables import Source, event_tables
from productops.core.errors import InvalidInput

TIME_BINS = [0, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 10**12]
TIME_LABELS = ["< 1 min", "1-5 min", "5-15 min", "15-60 min", "1-4 h", "4-24 h", "1-3 days",
               "3-7 days", "7-14 days", "14+ days"]  # fmt: skip


class Exclusion(BaseModel):
    """Drop attempts where `event` happened between step `from_step` and step `to_step`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str = Field(min_length=1, max_length=200)
    from_step: int = Field(default=1, ge=1, le=MAX_FUNNEL_STEPS)
    to_step: int = Field(default=2, ge=2, le=MAX_FUNNEL_STEPS)


@dataclass
class FunnelPeople:
    """Each person who entered: the furthest step reached and when they reached each step."""

    people: pd.DataFrame  # person_id, step, t1 … tN
    steps: list[str]
    query: Insight


def _people_expr(
    source: Source,
    steps: list[str],
    start: dt.date,
    end: dt.date,
    window: dt.timedelta,
    exclusions: list[Exclusion],
    filters: Filters | None,
) -> ir.Table:
    if not 2 <= len(steps) <= MAX_FUNNEL_STEPS:
        raise InvalidInput(f"a funnel needs 2 to {MAX_FUNNEL_STEPS} steps, got {len(steps)}")
    for k, name in enumerate(steps, 1):
        check_event_name(name, f"funnel step {k}")
    for x in exclusions:
        check_event_name(x.event, "exclusion")
        if not x.from_step < x.to_step <= len(steps):
            raise InvalidInput(
                f"exclusion {x.event}: between a step and a later one of the {len(steps)}"
            )
    if not dt.timedelta(seconds=1) <= window <= dt.timedelta(days=365):
        raise InvalidInput("the conversion window must be between 1 second and 365 days")
    tables = filtered(event_tables(source), filters)
    lo, hi = _window(start, end)
    ev = tables.events
    ranged = ev.filter(_in_range(ev, lo, hi))
    within = ibis.interval(seconds=int(window.total_seconds()))
    entry = ranged.filter(ranged.event == steps[0])
    cur = entry.select(person_id=entry.person_id, t1=entry.ts).distinct()
    for k in range(1, len(steps)):
        s = ranged.filter(ranged.event == steps[k])
        s = s.select(_p=s.person_id, _t=s.ts)
        j = cur.join(s, cur.person_id == s._p)
        later = j._t > j[f"t{k}"] if steps[k] == steps[k - 1] else j._t >= j[f"t{k}"]
        j = j.filter(j[f"t{k}"].notnull(), later, j._t <= j.t1 + within)
        nxt = j.group_by(_np=j.person_id, _nt=j.t1).aggregate(**{f"_n{k + 1}": j._t.min()})
        names = [c for c in cur.columns if c != "person_id"]
        joined = cur.left_join(nxt, [cur.person_id == nxt._np, cur.t1 == nxt._nt])
        cur = joined.select("person_id", *names, **{f"t{k + 1}": joined[f"_n{k + 1}"]})
    step_expr = sum(
        (cur[f"t{k}"].notnull().cast("int64") for k in range(1, len(steps) + 1)),
        ibis.literal(0, "int64"),
    )
    attempts = cur.mutate(step=step_expr)
    for i, x in enumerate(exclusions):
        bad = ranged.filter(ranged.event == x.event).select(_xp=ranged.person_id, _xt=ranged.ts)
        a = attempts
        upper = ibis.coalesce(a[f"t{x.to_step}"], a.t1 + within)
        hit = a.join(bad, a.person_id == bad._xp).filter(
            a[f"t{x.from_step}"].notnull(), bad._xt > a[f"t{x.from_step}"], bad._xt < upper
        )
        hit = hit.select(_hp=hit.person_id, _ht=hit.t1).distinct()
        attempts = a.anti_join(hit, [a.person_id == hit._hp, a.t1 == hit._ht])
        del i
    best = ibis.window(group_by="person_id", order_by=[ibis.desc("step"), "t1"])
    ranked = attempts.mutate(_rank=ibis.row_number().over(best))
    cols = ["person_id", "step", *[f"t{k}" for k in range(1, len(steps) + 1)]]
    return ranked.filter(ranked._rank == 0).select(*cols)


def funnel_people(
    source: Source,
    steps: list[str],
    start: dt.date,
    end: dt.date,
    *,
    window: dt.timedelta = dt.timedelta(days=14),
    exclusions: list[Exclusion] | None = None,
    filters: Filters | None = None,
) -> FunnelPeople:
    """Every person who entered the funnel, their furthest step and each step's time."""
    expr = _people_expr(source, steps, start, end, window, list(exclusions or []), filters)
    frame = expr.order_by("person_id").execute()
    frame["step"] = frame["step"].astype("int64")
    dialect = event_tables(source).dialect
    params = {
        "steps": list(steps),
        "start": start,
        "end": end,
        "window_seconds": int(window.total_seconds()),
    }
    return FunnelPeople(
        frame, list(steps), Insight("funnel_people", frame, {"people": expr}, dialect, params)
    )


def step_counts(result: FunnelPeople) -> pd.DataFrame:
    """Per step: people who reached it, converted to the next, dropped there."""
    rows = []
    n = len(result.steps)
    first = int((result.people["step"] >= 1).sum())
    for k, name in enumerate(result.steps, 1):
        reached = int((result.people["step"] >= k).sum())
        dropped = int((result.people["step"] == k).sum()) if k < n else 0
        rows.append((k, name, reached, dropped, reached / first if first else 0.0))
    return pd.DataFrame(rows, columns=["step", "event", "persons", "dropped", "conversion"])


def times_to_convert(result: FunnelPeople) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per step after the first: the median (and mean) seconds from the previous step, and a
    histogram of those times in readable bins."""
    summary, hist = [], []
    for k in range(2, len(result.steps) + 1):
        done = result.people[result.people["step"] >= k]
        secs = (
            (pd.to_datetime(done[f"t{k}"]) - pd.to_datetime(done[f"t{k - 1}"])).dt.total_seconds()
            if len(done)
            else pd.Series([], dtype="float64")
        )
        summary.append(
            (
                k,
                result.steps[k - 1],
                len(secs),
                float(secs.median()) if len(secs) else None,
                float(secs.mean()) if len(secs) else None,
            )
        )
        binned = pd.cut(secs, TIME_BINS, labels=TIME_LABELS, right=False)
        counts = binned.value_counts().reindex(TIME_LABELS, fill_value=0)
        for label, count in counts.items():
            hist.append((k, result.steps[k - 1], str(label), int(count)))
    return (
        pd.DataFrame(
            summary, columns=["step", "event", "persons", "median_seconds", "mean_seconds"]
        ),
        pd.DataFrame(hist, columns=["step", "event", "time", "persons"]),
    )


def people_at(result: FunnelPeople, step: int, which: str) -> list[str]:
    """The people who `converted` (reached `step`) or `dropped` (stopped at `step`)."""
    if not 1 <= step <= len(result.steps):
        raise InvalidInput(f"step {step}: the funnel has steps 1 to {len(result.steps)}")
    p = result.people
    if which == "converted":
        chosen = p[p["step"] >= step]
    elif which == "dropped":
        chosen = p[p["step"] == step] if step < len(result.steps) else p.iloc[0:0]
    else:
        raise InvalidInput(f"{which!r}: use converted or dropped")
    return sorted(str(x) for x in chosen["person_id"])


def _odds(a: int, b: int, c: int, d: int) -> float:
    return ((a + 1) * (d + 1)) / ((b + 1) * (c + 1))


def correlation(
    source: Source,
    result: FunnelPeople,
    start: dt.date,
    end: dt.date,
    *,
    dimension: str | None = None,
    activity: ActivityFilter | None = None,
    filters: Filters | None = None,
    min_people: int = 2,
) -> Insight:
    """Which events (default) or values of a person/account trait (`dimension`) go with
    converting: for each, converted and dropped people with and without it, and the odds
    ratio. Sorted by how far the odds ratio is from 1."""
    base = event_tables(source)
    tables = filtered(base, filters)
    people = result.people
    n = len(result.steps)
    converted = people[people["step"] >= n]["person_id"].astype(str)
    entered = people["person_id"].astype(str)
    total_conv, total_drop = len(converted), len(entered) - len(converted)
    ids = ibis.memtable(
        {"person_id": list(entered), "converted": list(entered.isin(set(converted)))}
    )
    if dimension:
        dim = Dimension.parse(dimension, "correlation property")
        if dim.scope == "event":
            raise InvalidInput("correlate with a person.TRAIT or an account.TRAIT")
        from productops.analytics.analyses.segments import Breakdown

        seg = person_segments(base, Breakdown(dimension=dim), end, events=tables.events)
        j = ids.join(seg, ids.person_id == seg.person_id)
        expr = j.group_by(value=j.segment).aggregate(
            with_conv=j.converted.cast("int64").sum(), with_all=j.count()
        )
    else:
        lo, hi = _window(start, end)
        ev = tables.events
        did = ev.filter(
            _in_range(ev, lo, hi), activity_predicate(ev, activity), ~ev.event.isin(result.steps)
        )
        did = did.select("person_id", value=did.event).distinct()
        j = ids.join(did, ids.person_id == did.person_id)
        expr = j.group_by("value").aggregate(
            with_conv=j.converted.cast("int64").sum(), with_all=j.count()
        )
    frame = (
        expr.execute() if len(entered) else pd.DataFrame(columns=["value", "with_conv", "with_all"])
    )
    rows = []
    for value, a, w in frame[["value", "with_conv", "with_all"]].values:
        a, w = int(a), int(w)
        c = w - a
        if w < min_people:
            continue
        b, d = total_conv - a, total_drop - c
        odds = _odds(a, b, c, d)
        rows.append((str(value), a, c, b, d, odds))
    data = pd.DataFrame(
        rows,
        columns=[
            "value",
            "converted_with",
            "dropped_with",
            "converted_without",
            "dropped_without",
            "odds_ratio",
        ],
    )
    if len(data):
        import numpy as np

        data = data.assign(_far=np.abs(np.log(data["odds_ratio"])))
        data = data.sort_values(["_far", "value"], ascending=[False, True]).drop(columns="_far")
    kind = "trait" if dimension else "event"
    return Insight(
        "funnel_correlation",
        data.reset_index(drop=True),
        {"correlation": expr},
        tables.dialect,
        {"steps": result.steps, "by": dimension or "event", "kind": kind},
    )


def as_exclusions(specs: list[Any]) -> list[Exclusion]:
    return [x if isinstance(x, Exclusion) else Exclusion.model_validate(x) for x in specs]
