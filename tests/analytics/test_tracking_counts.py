"""The tracking plan's report is answered from per-day counts kept current as events arrive:
the same numbers as checking every event, new events recount only their days, and a changed
plan is rechecked by a job with progress."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest

from productops.analytics import store
from productops.analytics import tracking as tp
from productops.analytics.ingest.service import ingest_posthog
from productops.analytics.settings import events_file
from productops.analytics.tracking import counts
from productops.core import jobs
from productops.core.workspace import Workspace
from tests.analytics.test_tracking_plan import PLAN, ev, put, write_plan

T0 = dt.datetime(2025, 3, 1, 12, 0)


def _random_events(n: int, seed: int = 3) -> list[store.Event]:
    rng = random.Random(seed)
    names = ["signed_up", "order_completed", "logged_out", "page_viewed", "Signed Up", "$pageview"]
    plans = ["free", "pro", "gold", None, 7]
    out = []
    for i in range(n):
        props: dict[str, object] = {}
        if rng.random() < 0.8:
            props["plan"] = rng.choice(plans)
        if rng.random() < 0.3:
            props["total"] = rng.choice([1, 2.5, "9.50", None])
        if rng.random() < 0.2:
            props["seats"] = rng.choice([1, 2.0, 2.5, "3"])
        out.append(
            ev(
                rng.choice(names),
                props,
                source=rng.choice(["segment", "posthog", "import"]),
                ts=T0 + dt.timedelta(hours=rng.randint(0, 24 * 20)),
                event_id=f"r{seed}-{i}",
            )
        )
    return out


def _live(ws: Workspace, start: dt.date | None = None, end: dt.date | None = None) -> list:
    plan = tp.load_plan(ws)
    assert plan is not None
    with store.reader(events_file(ws)) as con:
        return tp.report_from(con, plan, start, end)


def _same(a: list[tp.ViolationSummary], b: list[tp.ViolationSummary]) -> None:
    def rows(found: list[tp.ViolationSummary]) -> list[dict[str, object]]:
        return sorted((dataclasses.asdict(s) for s in found), key=str)

    assert rows(a) == rows(b)


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Workspace:
    write_plan(sqlite_workspace, PLAN)
    yield sqlite_workspace
    store.close_writer(events_file(sqlite_workspace))


def test_the_counts_give_the_numbers_of_a_full_check(ws: Workspace) -> None:
    put(ws, _random_events(3000))
    report = tp.violations(ws)
    assert not report.recounting and report.violations
    _same(report.violations, _live(ws))
    # and for a range of whole days
    start, end = dt.date(2025, 3, 4), dt.date(2025, 3, 9)
    _same(tp.violations_report(ws, start, end), _live(ws, start, end))


def test_new_events_recount_only_their_days(ws: Workspace) -> None:
    put(ws, _random_events(2000))
    assert counts.catch_up(ws).current
    late = T0 + dt.timedelta(days=30)
    ingest_posthog(
        ws,
        {
            "batch": [
                {
                    "event": "signed_up",
                    "distinct_id": "u-late",
                    "uuid": "late-1",
                    "timestamp": late.isoformat() + "Z",
                    "properties": {"plan": "platinum"},
                }
            ],
            "historical_migration": True,
        },
    )
    with store.reader(events_file(ws)) as con:
        dirty = {r[0] for r in con.execute("SELECT day FROM dirty_days").fetchall()}
    assert dirty == {late.date()}  # only the day that changed waits to be recounted
    found = {(r.event, r.property, r.kind.value): r for r in tp.violations_report(ws)}
    assert found["signed_up", "plan", "value_not_allowed"].last_seen == late
    assert counts.state(ws).current
    _same(tp.violations_report(ws), _live(ws))


def test_a_changed_plan_is_rechecked_by_a_job(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(ws, _random_events(1500))
    assert counts.catch_up(ws).current
    write_plan(ws, PLAN.replace("enum: [free, pro]", "enum: [free, pro, gold]"))
    monkeypatch.setattr(counts, "INLINE_EVENTS", 100)  # as if the store were large
    report = tp.violations(ws)
    assert report.recounting and report.properties_pending
    # the name-level rules are answered at once, the property rules wait for the job
    assert {r.property for r in report.violations} == {None}
    assert jobs.run_pending(ws) == 1
    after = tp.violations(ws)
    assert not after.recounting and not after.properties_pending
    _same(after.violations, _live(ws))


def test_releasing_quarantine_keeps_the_counts_right(ws: Workspace) -> None:
    write_plan(ws, PLAN + "quarantine: [unknown_event]\n")
    put(ws, _random_events(500))
    ingest_posthog(
        ws,
        {
            "batch": [
                {
                    "event": "mystery",
                    "distinct_id": f"q{i}",
                    "uuid": f"q-{i}",
                    "timestamp": (T0 + dt.timedelta(days=i)).isoformat() + "Z",
                }
                for i in range(5)
            ],
            "historical_migration": True,
        },
    )
    before = {(r.event, r.kind.value): r for r in tp.violations_report(ws)}
    assert before["mystery", "unknown_event"].quarantined == 5
    tp.release_quarantine(ws, "all")
    after = {(r.event, r.kind.value): r for r in tp.violations_report(ws)}
    assert after["mystery", "unknown_event"].count == 5
    assert after["mystery", "unknown_event"].quarantined == 0
    _same(tp.violations_report(ws), _live(ws))
