"""Violation counts kept current as events arrive, so the tracking plan's report answers at
once instead of checking every stored event on every load.

Per day, two tables hold what the report needs: `event_counts` (events by name, source and
whether quarantined: the name-level rules) and `tracking_counts` (broken property rules, by
event, property, kind and source, with the latest offending value). Every write to the store
notes the days it touched in `dirty_days` (in its own transaction); `catch_up` recounts those
days, through the store's writer so it never races ingest. When the plan changes (its text
hash differs from the one the counts were made with) every day is recounted: a job with
progress (`analytics.recount_tracking`), while the report shows the name-level rules at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.analytics.tracking import service as plan_service
from productops.analytics.tracking.service import TrackingPlan

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

PLAN_KEY = "tracking_plan_hash"
# Recount while a page waits when it is at most this many events; more goes to a job.
INLINE_EVENTS = 300_000
CHUNK_DAYS = 7


def plan_hash(ws: Workspace) -> str:
    """The hash of the plan's text ('' when the workspace has no plan)."""
    path = plan_service.plan_path(ws)
    if not path.exists():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:24]


def _meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM productops_meta WHERE key = ?", [key]).fetchone()
    return str(row[0]) if row else None


def _set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute(
        "INSERT INTO productops_meta VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


@dataclass(frozen=True)
class CountsState:
    """How current the counts are: days still to recount and the events in them, and
    whether the plan they were made with is the plan now."""

    dirty_days: int
    plan_current: bool
    pending_events: int = 0

    @property
    def current(self) -> bool:
        return self.dirty_days == 0 and self.plan_current


def state(ws: Workspace) -> CountsState:
    path = events_file(ws)
    if not path.exists():
        return CountsState(0, True)
    with store.reader(path) as con:
        stored = _meta(con, PLAN_KEY)
        plan_current = stored == plan_hash(ws)
        if plan_current:
            row = con.execute(
                "SELECT (SELECT count(DISTINCT day) FROM dirty_days), count(*) FROM events "
                "WHERE CAST(ts AS DATE) IN (SELECT day FROM dirty_days)"
            ).fetchone()
        else:
            row = con.execute(
                "SELECT count(DISTINCT CAST(ts AS DATE)), count(*) FROM events"
            ).fetchone()
    days, events = (int(v) for v in (row or (0, 0)))
    return CountsState(days, plan_current, events)


def _recount(
    con: duckdb.DuckDBPyConnection, plan: TrackingPlan | None, days: list[dt.date] | None
) -> None:
    """Redo both tables for `days` (None: every day, in one pass) from the events and
    quarantine of those days."""
    if days is not None and not days:
        return
    if days is None:
        con.execute("DELETE FROM event_counts")
        con.execute("DELETE FROM tracking_counts")
        where = ""
    else:
        con.execute("CREATE TEMP TABLE IF NOT EXISTS recount_days (day DATE)")
        con.execute("DELETE FROM recount_days")
        con.executemany("INSERT INTO recount_days VALUES (?)", [[d] for d in days])
        con.execute("DELETE FROM event_counts WHERE day IN (SELECT day FROM recount_days)")
        con.execute("DELETE FROM tracking_counts WHERE day IN (SELECT day FROM recount_days)")
        lo = min(days)
        hi = max(days) + dt.timedelta(days=1)
        # The range lets DuckDB skip row groups; the list keeps only the days asked for.
        where = (
            f"WHERE ts >= TIMESTAMP '{lo.isoformat()}' AND ts < TIMESTAMP '{hi.isoformat()}' "
            "AND CAST(ts AS DATE) IN (SELECT day FROM recount_days)"
        )
    source = (
        f"SELECT event, source, ts, properties, false AS quarantined FROM events {where} "
        f"UNION ALL SELECT event, source, ts, properties, true FROM quarantine {where}"
    )
    con.execute(
        f"""
        INSERT INTO event_counts
        SELECT CAST(ts AS DATE), event, source, quarantined, count(*), min(ts), max(ts)
        FROM ({source}) GROUP BY ALL
        """
    )
    if plan is not None:
        specs = [s for s in plan.events.values() if s.properties]
        if specs:
            con.execute(
                f"INSERT INTO tracking_counts {plan_service.property_counts_sql(specs, source)}"
            )


def catch_up(
    ws: Workspace,
    max_days: int | None = None,
    progress: Callable[[int, int, str], object] | None = None,
) -> CountsState:
    """Recount the days that changed (all of them when the plan changed), through the
    store's writer; at most `max_days` when given. Returns the state afterwards."""
    path = events_file(ws)
    if not path.exists():
        return CountsState(0, True)
    try:
        plan = plan_service.load_plan(ws)
    except plan_service.TrackingPlanError:
        plan = None
    wanted = plan_hash(ws)

    def reset_if_plan_changed(con: duckdb.DuckDBPyConnection) -> None:
        if _meta(con, PLAN_KEY) == wanted:
            return
        con.execute("DELETE FROM tracking_counts")
        con.execute("DELETE FROM event_counts")
        con.execute(
            "INSERT INTO dirty_days SELECT DISTINCT CAST(ts AS DATE) FROM events "
            "UNION SELECT DISTINCT CAST(ts AS DATE) FROM quarantine"
        )
        _set_meta(con, PLAN_KEY, wanted)

    store.write_through(path, reset_if_plan_changed)
    with store.reader(path) as con:
        pending = [
            r[0] for r in con.execute("SELECT DISTINCT day FROM dirty_days ORDER BY 1").fetchall()
        ]
    todo = pending if max_days is None else pending[:max_days]
    total = len(todo)
    for start in range(0, total, CHUNK_DAYS):
        chunk = todo[start : start + CHUNK_DAYS]

        def recount(con: duckdb.DuckDBPyConnection, chunk: list[dt.date] = chunk) -> None:
            # Only the markers this transaction sees are cleared: a day a concurrent write
            # marks again stays to be recounted.
            marked = con.execute(
                "SELECT rowid FROM dirty_days WHERE day IN (SELECT unnest(?))", [chunk]
            ).fetchall()
            _recount(con, plan, chunk)
            if marked:
                con.execute(
                    "DELETE FROM dirty_days WHERE rowid IN (SELECT unnest(?))",
                    [[r[0] for r in marked]],
                )

        store.write_through(path, recount)
        if progress is not None:
            progress(min(start + CHUNK_DAYS, total), total, "recounting tracking-plan checks")
    return state(ws)


RECOUNT_KIND = "analytics.recount_tracking"


def ensure_recount_job(ws: Workspace) -> int:
    """Queue the recount job unless one is queued or running; returns its id."""
    from sqlalchemy import select

    from productops.core import jobs
    from productops.core.db import transaction
    from productops.core.models import Job, JobStatus

    with transaction(ws.sessions) as s:
        running = s.scalar(
            select(Job.id).where(
                Job.kind == RECOUNT_KIND, Job.status.in_([JobStatus.queued, JobStatus.running])
            )
        )
        if running is not None:
            return int(running)
        return jobs.enqueue(s, RECOUNT_KIND, {}, created_by="system").id


def recount_job_state(ws: Workspace) -> dict[str, object] | None:
    """The recount job under way (id, done, total), for the page's notice."""
    from sqlalchemy import select

    from productops.core.models import Job, JobStatus

    with ws.sessions() as s:
        job = s.scalar(
            select(Job)
            .where(Job.kind == RECOUNT_KIND, Job.status.in_([JobStatus.queued, JobStatus.running]))
            .order_by(Job.id.desc())
        )
        if job is None:
            return None
        return {"id": job.id, "done": job.progress_done, "total": job.progress_total}


# --- the report -------------------------------------------------------------------------


def violations_report(
    ws: Workspace,
    start: dt.datetime | dt.date | None = None,
    end: dt.datetime | dt.date | None = None,
) -> list[plan_service.ViolationSummary]:
    """How the stored events break the workspace's tracking plan, most frequent first.

    Covers events with `start <= ts < end` (UTC), quarantined ones included (see
    `ViolationSummary.quarantined`). Without a plan there is nothing to check: []. Whole days
    are answered from the per-day counts (brought up to date first, see `counts.py`); a range
    that starts or ends inside a day is checked on the events themselves.
    """
    return violations(ws, start, end).violations


@dataclass(frozen=True)
class Report:
    """The violations report and how current its counts are."""

    violations: list[plan_service.ViolationSummary]
    recounting: bool = False  # the plan changed or many days changed: a job is on it
    properties_pending: bool = False  # property rules not counted yet for this plan


def violations(
    ws: Workspace,
    start: dt.datetime | dt.date | None = None,
    end: dt.datetime | dt.date | None = None,
) -> Report:
    """`violations_report` with its state (see `Report`)."""
    plan = plan_service.load_plan(ws)
    if plan is None:
        return Report([])
    path = events_file(ws)
    if not path.exists():
        return Report([])
    days = [_whole_day(v) for v in (start, end)]
    if any(v is not None and d is None for v, d in zip((start, end), days, strict=True)):
        with store.reader(path) as con:
            return Report(plan_service.report_from(con, plan, start, end))
    st = state(ws)
    recounting = False
    if st.pending_events > INLINE_EVENTS:
        ensure_recount_job(ws)
        recounting = True
    elif not st.current:
        st = catch_up(ws)
    with store.reader(path) as con:
        found = plan_service.report_from_counts(
            con, plan, days[0], days[1], properties=st.plan_current
        )
    return Report(found, recounting=recounting, properties_pending=not st.plan_current)


def _whole_day(value: dt.datetime | dt.date | None) -> dt.date | None:
    """The day a bound falls on when it is a whole day (midnight UTC), else None."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        return value
    naive = plan_service._naive_utc(value)
    assert naive is not None
    return naive.date() if naive.time() == dt.time(0) else None
