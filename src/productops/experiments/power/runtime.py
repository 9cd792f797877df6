"""How long an experiment must run: the users it needs, against how many new people the
event store shows doing the experiment's entry event (or anything) day after day."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis

from productops import analytics
from productops.core.errors import InvalidInput

if TYPE_CHECKING:
    from productops.core.workspace import Workspace


@dataclass(frozen=True)
class Runtime:
    """`days` to reach `users_needed` (None when no one does the event), the cumulative
    distinct people per day of the look-back (`curve`), and the daily rate used past it."""

    users_needed: float
    traffic: float
    days: int | None
    lookback_days: int
    people_in_lookback: int
    new_people_per_day: float
    curve: list[tuple[str, int]] = field(default_factory=list)
    events: tuple[str, ...] = ()


def metric_events(ws: Workspace, metric: str) -> tuple[str, ...]:
    """The events a catalog metric counts (none: any activity)."""
    catalog = analytics.load_catalog(ws)
    m = catalog.metric(metric)
    if m.type == "ratio":
        return metric_events(ws, m.denominator or "")
    return tuple(m.event or ())


def estimate_runtime(
    ws: Workspace,
    users_needed: float,
    *,
    events: tuple[str, ...] = (),
    traffic: float = 1.0,
    lookback_days: int = 28,
) -> Runtime:
    """Days until `users_needed` distinct people (all arms together) have entered, when a
    `traffic` share of the people doing `events` (any event when empty) enter: read off the
    last `lookback_days` of events, extrapolated at the last week's rate of new people."""
    if not 0 < traffic <= 1:
        raise InvalidInput(f"traffic: {traffic:g} is not a share between 0 and 1")
    if not 1 <= lookback_days <= 365:
        raise InvalidInput(f"lookback_days: {lookback_days} is not between 1 and 365")
    if not users_needed > 0 or not math.isfinite(users_needed):
        raise InvalidInput(f"users_needed: {users_needed!r} is not a positive number")
    summary = analytics.event_summary(ws)
    if summary.last_event_time is None:
        return Runtime(users_needed, traffic, None, lookback_days, 0, 0.0, [], events)
    end = summary.last_event_time.replace(tzinfo=None)
    start = end - dt.timedelta(days=lookback_days)
    with analytics.event_source(ws) as con:
        ev = con.table("events_resolved")
        rows = ev.filter((ev.ts > ibis.literal(start)) & (ev.ts <= ibis.literal(end)))
        rows = rows.filter(rows.person_id.notnull())
        if events:
            rows = rows.filter(rows.event.isin(list(events)))
        else:
            rows = rows.filter(~rows.type.isin(["identify", "group", "alias"]))
        first = rows.aggregate(first=rows.ts.min(), by=[rows.person_id])
        per_day = first.aggregate(n=first.count(), by=[first.first.truncate("D").name("day")])
        frame: Any = con.execute(per_day.order_by("day"))
    curve: list[tuple[str, int]] = []
    total = 0
    for row in frame.itertuples():
        total += int(row.n)
        curve.append((str(row.day)[:10], total))
    needed = users_needed / traffic
    days: int | None = None
    for i, (_, cumulative) in enumerate(curve):
        if cumulative >= needed:
            days = i + 1
            break
    recent = curve[-8:] if len(curve) >= 2 else curve
    rate = (
        (recent[-1][1] - recent[0][1]) / max(len(recent) - 1, 1)
        if len(recent) >= 2
        else float(total)
    )
    if days is None and rate > 0:
        days = len(curve) + math.ceil((needed - total) / rate)
    return Runtime(users_needed, traffic, days, lookback_days, total, rate, curve, events)
