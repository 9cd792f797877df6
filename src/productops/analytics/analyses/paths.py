"""Paths: what people do after (or before) an event, step by step, as a flow.

Each person's events in the range (those that count as activity, after the filters) are put
in order (time, then id) and repeats in a row are folded into one (`report, report, export`
is `report → export`). The anchor is the person's first `event` in the range (or their first
event at all when none is named). With `after`, step 1 is the anchor and steps 2…depth are
the events that follow; with `before`, the anchor is the last step and the steps before it
are the events that led there. A person counts once per step.

The result has `nodes` (step, event, people, people who went no further) and `edges` (step,
source, target, people). Per step the most frequent `max_per_step` events are kept and the
rest shown as `(other)`; an edge carried by fewer than `min_share` of the people at the anchor
is left out (its people still count in their nodes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from productops.analytics.analyses.segments import OTHER_LABEL
from productops.analytics.analyses.service import Insight, _in_range, _window
from productops.analytics.query.activity import ActivityFilter, activity_predicate, check_event_name
from productops.analytics.query.filtering import filtered
from productops.analytics.query.filters import Filters
from productops.analytics.query.tables import Source, event_tables
from productops.core.errors import InvalidInput

Direction = Literal["after", "before"]
MAX_DEPTH = 10
END_LABEL = "(end)"


@dataclass
class PathsResult:
    nodes: Insight
    edges: Insight
    anchor_people: int


def _steps(
    source: Source,
    start: dt.date,
    end: dt.date,
    event: str | None,
    direction: Direction,
    depth: int,
    filters: Filters | None,
    activity: ActivityFilter | None,
) -> ir.Table:
    """(person_id, step, event) for every person with an anchor: one row per step."""
    if direction not in ("after", "before"):
        raise InvalidInput(f"direction {direction!r}: use after or before")
    if not 2 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth {depth}: choose 2 to {MAX_DEPTH} steps")
    if event is not None:
        check_event_name(event, "path event")
    if direction == "before" and event is None:
        raise InvalidInput("paths before an event need the event")
    tables = filtered(event_tables(source), filters)
    lo, hi = _window(start, end)
    ev = tables.events
    rows = ev.filter(
        _in_range(ev, lo, hi), activity_predicate(ev, activity) | (ev.event == (event or ""))
    )
    rows = rows.select("person_id", "event", "ts", "event_id")
    order = ibis.window(group_by="person_id", order_by=["ts", "event_id"])
    rows = rows.mutate(_prev=rows.event.lag().over(order))
    folded = rows.filter(rows._prev.isnull() | (rows.event != rows._prev))
    seq = folded.select("person_id", "event", pos=ibis.row_number().over(order))
    if event is None:
        anchors = seq.group_by("person_id").aggregate(_p0=seq.pos.min())
    else:
        hits = seq.filter(seq.event == event)
        anchors = hits.group_by("person_id").aggregate(_p0=hits.pos.min())
    anchors = anchors.select(_ap=anchors.person_id, _p0=anchors._p0)
    j = seq.join(anchors, seq.person_id == anchors._ap)
    if direction == "after":
        j = j.filter(j.pos >= j._p0, j.pos < j._p0 + depth)
        step = j.pos - j._p0 + 1
    else:
        j = j.filter(j.pos <= j._p0, j.pos > j._p0 - depth)
        step = j.pos - j._p0 + depth
    return j.select("person_id", step=step.cast("int64"), event=j.event)


def paths(
    source: Source,
    start: dt.date,
    end: dt.date,
    *,
    event: str | None = None,
    direction: Direction = "after",
    depth: int = 5,
    min_share: float = 0.0,
    max_per_step: int = 8,
    filters: Filters | None = None,
    activity: ActivityFilter | None = None,
) -> PathsResult:
    """The flow of people after (or before) `event` (see the module docstring)."""
    if not 0.0 <= min_share <= 1.0:
        raise InvalidInput("the minimum share is between 0 and 1 (0 % and 100 %)")
    if not 1 <= max_per_step <= 50:
        raise InvalidInput("keep 1 to 50 events per step")
    steps = _steps(source, start, end, event, direction, depth, filters, activity)
    w = ibis.window(group_by="person_id", order_by="step")
    with_next = steps.mutate(target=steps.event.lead().over(w))
    expr = (
        with_next.group_by("step", source=with_next.event, target=with_next.target)
        .aggregate(people=with_next.count().cast("int64"))
        .order_by("step", ibis.desc("people"), "source", "target")
    )
    raw = expr.execute()
    raw["target"] = raw["target"].astype(object).where(raw["target"].notna(), None)
    nodes, edges, anchor = _shape(raw, depth, direction, min_share, max_per_step)
    dialect = event_tables(source).dialect
    params = {
        "start": start,
        "end": end,
        "event": event,
        "direction": direction,
        "depth": depth,
        "min_share": min_share,
        "max_per_step": max_per_step,
        "filters": filters.describe() if filters else [],
    }
    return PathsResult(
        Insight("path_nodes", nodes, {"paths": expr}, dialect, params),
        Insight("path_edges", edges, {"paths": expr}, dialect, params),
        anchor,
    )


def _shape(
    raw: pd.DataFrame, depth: int, direction: str, min_share: float, max_per_step: int
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    if raw.empty:
        nodes = pd.DataFrame(columns=["step", "event", "people", "ended", "share"])
        edges = pd.DataFrame(columns=["step", "source", "target", "people", "share"])
        return nodes, edges, 0
    raw = raw.copy()
    raw["step"] = raw["step"].astype("int64")
    node_counts = raw.groupby(["step", "source"], as_index=False)["people"].sum()
    keep: dict[int, set[str]] = {}
    for step, part in node_counts.groupby("step"):
        top = part.sort_values(["people", "source"], ascending=[False, True])["source"]
        keep[int(step)] = set(top.head(max_per_step))

    def fold(step: int, name: object) -> object:
        if name is None:
            return None
        return name if name in keep.get(step, set()) else OTHER_LABEL

    raw["source"] = [fold(int(s), e) for s, e in zip(raw["step"], raw["source"], strict=True)]
    raw["target"] = [fold(int(s) + 1, e) for s, e in zip(raw["step"], raw["target"], strict=True)]
    anchor_step = 1 if direction == "after" else depth
    anchor = int(raw[raw["step"] == anchor_step]["people"].sum())
    grouped = raw.groupby(["step", "source"], as_index=False, dropna=False)
    nodes = grouped["people"].sum()
    ended = raw[raw["target"].isna()].groupby(["step", "source"], as_index=False)["people"].sum()
    nodes = nodes.merge(
        ended.rename(columns={"people": "ended"}), on=["step", "source"], how="left"
    )
    nodes["ended"] = nodes["ended"].fillna(0).astype("int64")
    nodes.loc[nodes["step"] == depth, "ended"] = 0  # the flow stops there for everyone
    nodes = nodes.rename(columns={"source": "event"})
    nodes["share"] = nodes["people"] / anchor if anchor else 0.0
    nodes = nodes.sort_values(["step", "people", "event"], ascending=[True, False, True])
    edges = (
        raw[raw["target"].notna()]
        .groupby(["step", "source", "target"], as_index=False)["people"]
        .sum()
    )
    edges["share"] = edges["people"] / anchor if anchor else 0.0
    edges = edges[edges["share"] >= min_share]
    edges = edges.sort_values(
        ["step", "people", "source", "target"], ascending=[True, False, True, True]
    )
    return nodes.reset_index(drop=True), edges.reset_index(drop=True), anchor


def path_people(
    source: Source,
    start: dt.date,
    end: dt.date,
    step: int,
    node_event: str,
    *,
    event: str | None = None,
    direction: Direction = "after",
    depth: int = 5,
    filters: Filters | None = None,
    activity: ActivityFilter | None = None,
    limit: int = 1000,
) -> tuple[list[str], int]:
    """The people at one node of the flow (their `step`-th event is `node_event`): the first
    `limit` person ids, sorted, and how many there are."""
    if not 1 <= step <= depth:
        raise InvalidInput(f"step {step}: the flow has steps 1 to {depth}")
    steps = _steps(source, start, end, event, direction, depth, filters, activity)
    at = steps.filter(steps.step == step, steps.event == node_event).select("person_id")
    total = int(at.count().execute())
    people = [str(p) for p in at.order_by("person_id").limit(limit).execute()["person_id"]]
    return people, total
