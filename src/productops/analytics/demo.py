"""Six months of product events for the demo company, with real shapes: weekday seasonality,
features adopted differently by plan, sign-ups that start anonymous and are then identified,
and a retention curve that drops and then flattens."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa

from productops import customers
from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.demo import DemoContext, demo_step
from productops.core.errors import InvalidInput

DAYS = 182
# event name -> (share of an active day's events, adoption multiplier by plan)
FEATURES: dict[str, tuple[float, dict[str, float]]] = {
    "Page Viewed": (0.34, {}),
    "Dashboard Viewed": (0.18, {}),
    "Search Performed": (0.10, {}),
    "Report Created": (0.08, {"free": 0.2, "starter": 0.6, "growth": 1.0, "enterprise": 1.6}),
    "Comment Added": (0.09, {"free": 0.6, "starter": 1.0, "growth": 1.2, "enterprise": 1.2}),
    "Invite Sent": (0.03, {"free": 1.4, "starter": 1.2, "growth": 0.9, "enterprise": 0.6}),
    "Export Downloaded": (0.05, {"free": 0.1, "starter": 0.5, "growth": 1.0, "enterprise": 1.8}),
    "Integration Connected": (
        0.02,
        {"free": 0.0, "starter": 0.4, "growth": 1.0, "enterprise": 1.5},
    ),
    "Mobile Session": (0.07, {}),
    "Automation Run": (0.04, {"free": 0.0, "starter": 0.2, "growth": 1.0, "enterprise": 2.0}),
}
# long-run share of weeks a person stays active, by plan (the floor of the retention curve)
STICKINESS = {"free": 0.10, "starter": 0.22, "growth": 0.32, "enterprise": 0.45}
WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.25])  # Monday first


def _people(ctx: DemoContext) -> list[tuple[Any, ...]]:
    """(person id, joined, traits, account id, plan, segment, region) of everyone in an
    account, from the customers pillar."""
    with ctx.workspace.sessions() as s:
        profiles = customers.profiles(s)
    accounts = {a["external_id"]: a["properties"] for a in profiles.accounts}
    rows = []
    for p in profiles.people:
        acct = accounts.get(p["account_external_id"])
        if acct is None:
            continue
        rows.append(
            (
                p["external_id"],
                p["created_at"],
                p["properties"],
                p["account_external_id"],
                acct["plan"],
                acct["segment"],
                acct["region"],
            )
        )
    return rows


def _clear_store(ws: Any) -> None:
    with store.bulk(events_file(ws)) as con:
        for table in ("events", "identities", "persons", "accounts", "quarantine"):
            con.execute(f"DELETE FROM {table}")


@demo_step(
    "analytics.events", "Six months of product events", after=("customers.people",), weight=6
)
def make_events(ctx: DemoContext) -> dict[str, Any]:
    rng = ctx.np_rng("analytics.events")
    rows = _people(ctx)
    n = len(rows)
    end = ctx.anchor_datetime.replace(tzinfo=None)
    start = end - dt.timedelta(days=DAYS)
    plans = np.array([r[4] for r in rows])
    created = np.array([r[1].replace(tzinfo=None) for r in rows], dtype="datetime64[s]")
    created_day = ((created - np.datetime64(start, "s")) // np.timedelta64(1, "D")).astype(int)
    ctx.progress(50, None, "Choosing who is active when")

    # Activity: strong in the first weeks after sign-up, decaying to a plan-specific floor.
    floor = np.vectorize(STICKINESS.get)(plans).astype(float)
    person_factor = rng.gamma(2.0, 0.5, n)  # some people use the product far more than others
    days = np.arange(DAYS)
    age_weeks = np.clip((days[None, :] - created_day[:, None]) / 7.0, 0, None)
    weekly_active = floor[:, None] + (0.85 - floor[:, None]) * np.exp(-age_weeks / 2.5)
    # 1970-01-01 was a Thursday, so +3 makes Monday 0.
    weekday = WEEKDAY[((np.datetime64(start.date(), "D") + days).astype(int) + 3) % 7]
    intensity = np.minimum(person_factor, 2.5)[:, None]
    p_day = np.clip(weekly_active * 0.42 * weekday[None, :] * intensity, 0, 0.95)
    p_day[days[None, :] < created_day[:, None]] = 0.0
    active = rng.random((n, DAYS)) < p_day
    person_idx, day_idx = np.nonzero(active)
    ctx.progress(250, None, "Drawing events")

    per_day = rng.poisson(2.2 + 1.2 * np.minimum(person_factor[person_idx], 3), len(person_idx)) + 1
    ev_person = np.repeat(person_idx, per_day)
    ev_day = np.repeat(day_idx, per_day)
    total = len(ev_person)
    names = list(FEATURES)
    base = np.array([FEATURES[e][0] for e in names])
    ev_code = np.empty(total, dtype=np.int16)
    for plan in STICKINESS:
        weights = base * np.array([FEATURES[e][1].get(plan, 1.0) for e in names])
        weights /= weights.sum()
        mask = plans[ev_person] == plan
        ev_code[mask] = rng.choice(len(names), size=int(mask.sum()), p=weights)
    seconds = rng.normal(14 * 3600, 3 * 3600, total).clip(0, 86399).astype(np.int64)
    ts = (
        np.datetime64(start, "s")
        + ev_day.astype("timedelta64[D]")
        + seconds.astype("timedelta64[s]")
    )
    ctx.progress(450, None, f"Writing {total:,} events")

    people = pa.table(
        {
            "idx": pa.array(np.arange(n)),
            "person_id": [r[0] for r in rows],
            "account_id": [r[3] for r in rows],
            "plan": plans.tolist(),
        }
    )
    events = pa.table(
        {
            "n": pa.array(np.arange(total, dtype=np.int64)),
            "idx": pa.array(ev_person.astype(np.int64)),
            "code": pa.array(ev_code.astype(np.int32)),
            "ts": pa.array(ts.astype("datetime64[us]")),
        }
    )
    event_names = pa.table(
        {"code": pa.array(np.arange(len(names), dtype=np.int32)), "event": names}
    )
    with store.bulk(events_file(ctx.workspace)) as con:
        if con.execute("SELECT count(*) FROM events").fetchone() != (0,):
            raise InvalidInput("the demo's events go into an empty event store; this has events")
        ctx.on_failure(lambda: _clear_store(ctx.workspace))
        signups = _write_events(ctx, con, people, events, event_names, rows, created, start)
    return {"events": int(total) + signups, "people_active": len(np.unique(person_idx))}


def _write_events(
    ctx: DemoContext,
    con: Any,
    people: pa.Table,
    events: pa.Table,
    event_names: pa.Table,
    rows: list[Any],
    created: Any,
    start: dt.datetime,
) -> int:
    """Write the events and the sign-up journeys in one transaction; returns how many
    sign-up journey events there were."""
    con.register("demo_people", people)
    con.register("demo_events", events)
    con.register("demo_names", event_names)
    con.execute("BEGIN TRANSACTION")
    try:
        new_rows = f"""
            SELECT 'demo-' || e.n AS event_id, nm.event, 'track' AS type, e.ts,
                   e.ts + INTERVAL 2 SECOND AS received_at, p.person_id AS distinct_id,
                   p.person_id AS user_id, NULL AS anonymous_id, p.account_id,
                   CASE WHEN e.n % 3 = 0 THEN 'posthog' ELSE 'segment' END AS source,
                   json_object('plan', p.plan,
                               'platform', CASE WHEN nm.event = 'Mobile Session' THEN 'ios'
                                                ELSE 'web' END) AS properties,
                   p.person_id, {store.id_hash_sql("'demo-' || e.n")} AS id_hash
            FROM demo_events e JOIN demo_people p USING (idx) JOIN demo_names nm USING (code)
            """
        con.execute(store.keyed_insert(con, new_rows, "SELECT person_id FROM demo_people"))
        ctx.progress(750, None, "Sign-up journeys")
        signups = _signup_journeys(ctx, con, rows, created, start)
        store.mark_dirty(con, "events")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return signups


def _signup_journeys(
    ctx: DemoContext, con: Any, rows: list[Any], created: Any, start: dt.datetime
) -> int:
    """People who signed up inside the window first browse anonymously, then sign up and are
    identified, so funnels count each of them once."""
    rng = ctx.rng("analytics.signups")
    in_window = [i for i, c in enumerate(created) if c >= np.datetime64(start, "s")]
    out: list[store.Event] = []
    identities: list[tuple[str, str, dt.datetime]] = []
    for i in in_window:
        person_id = rows[i][0]
        signed_up = created[i].astype(dt.datetime)
        anon = f"anon-{person_id}"
        for k, page in enumerate(("Landing Page Viewed", "Pricing Viewed")):
            if k == 1 and rng.random() < 0.35:
                break
            at = signed_up - dt.timedelta(minutes=rng.randint(5, 600) * (2 - k))
            out.append(
                store.Event(
                    event_id=f"demo-anon-{person_id}-{k}",
                    event=page,
                    type="page",
                    ts=at,
                    received_at=at,
                    distinct_id=anon,
                    anonymous_id=anon,
                    source="segment",
                    properties={
                        "utm_source": rng.choice(["google", "linkedin", "direct", "newsletter"])
                    },
                )
            )
        out.append(
            store.Event(
                event_id=f"demo-signup-{person_id}",
                event="Signed Up",
                type="track",
                ts=signed_up,
                received_at=signed_up,
                distinct_id=person_id,
                user_id=person_id,
                anonymous_id=anon,
                account_id=rows[i][3],
                source="segment",
                properties={"plan": rows[i][4]},
            )
        )
        identities.append((anon, person_id, signed_up))
    if out:
        store.append_arrow(con, store.events_to_arrow(out))
    if identities:
        con.register(
            "demo_ids",
            pa.table(
                {
                    "distinct_id": [a for a, _, _ in identities],
                    "person_id": [p for _, p, _ in identities],
                    "created_at": pa.array([t for _, _, t in identities], pa.timestamp("us")),
                }
            ),
        )
        con.execute("INSERT INTO identities SELECT * FROM demo_ids ON CONFLICT DO NOTHING")
        con.execute(
            "UPDATE events SET person_id = d.person_id FROM demo_ids d "
            "WHERE events.distinct_id = d.distinct_id"
        )
        store.rekey(con, "distinct_id IN (SELECT distinct_id FROM demo_ids)")
    return len(out)


DEMO_METRICS = """\
# The demo company's metric catalog: one shared definition of each metric.
active_user:
  events: any
  exclude_events: ["$identify", "$groupidentify", "$create_alias", "Landing Page Viewed",
                   "Pricing Viewed"]
  exclude_types: [identify, group, alias]
dimensions:
  plan: {from: account, trait: plan}
  segment: {from: account, trait: segment}
  region: {from: account, trait: region}
  country: {from: person, trait: country}
  platform: {from: event, property: platform}
metrics:
  - name: active_users
    label: Active users
    description: People who did anything that counts as activity
    type: active_users
  - name: signups
    label: Sign-ups
    description: People who created an account
    type: unique_users
    event: Signed Up
  - name: reports_created
    label: Reports created
    type: count
    event: Report Created
  - name: report_creators
    label: People creating reports
    type: unique_users
    event: Report Created
  - name: automation_accounts
    label: Accounts running automations
    type: unique_accounts
    event: Automation Run
  - name: report_adoption
    label: Report adoption
    description: Share of active users who created a report
    type: ratio
    numerator: report_creators
    denominator: active_users
  - name: activation
    label: Activation (first report within 14 days of sign-up)
    type: conversion
    event: Signed Up
    then: Report Created
    window_days: 14
"""

DEMO_TRACKING_PLAN = """\
# What the product should send. Checked against what it really sends.
naming: Title Case
quarantine: false
events:
  Signed Up:
    properties:
      plan: {type: string, required: true, enum: [free, starter, growth, enterprise]}
  Page Viewed: {properties: {plan: string, platform: string}}
  Dashboard Viewed: {properties: {plan: string, platform: string}}
  Search Performed: {properties: {plan: string, platform: string}}
  Report Created: {properties: {plan: {type: string, required: true}, platform: string}}
  Comment Added: {properties: {plan: string, platform: string}}
  Invite Sent: {properties: {plan: string, platform: string}}
  Export Downloaded: {properties: {plan: string, platform: string}}
  Integration Connected: {properties: {plan: string, platform: string}}
  Mobile Session: {properties: {plan: string, platform: {type: string, enum: [ios, android]}}}
  Automation Run: {properties: {plan: string, platform: string}}
  Landing Page Viewed: {properties: {utm_source: string}}
  Pricing Viewed: {properties: {utm_source: string}}
"""


@demo_step(
    "analytics.catalog",
    "Metric catalog, tracking plan and a saved dashboard",
    after=("analytics.events",),
    weight=1,
)
def make_catalog(ctx: DemoContext) -> dict[str, Any]:
    from productops.analytics.dashboards.service import save_dashboard
    from productops.core.db import transaction

    ws = ctx.workspace
    (ws.path / "metrics.yml").write_text(DEMO_METRICS)
    (ws.path / "tracking-plan.yml").write_text(DEMO_TRACKING_PLAN)
    # An old Android build still sends snake_case names without a plan: the tracking plan's
    # report shows it.
    rng = ctx.rng("analytics.catalog")
    end = ctx.anchor_datetime.replace(tzinfo=None)
    drift = []
    for i in range(400):
        at = end - dt.timedelta(days=rng.uniform(1, 40))
        drift.append(
            store.Event(
                event_id=f"demo-drift-{i}",
                event="report_created",
                type="track",
                ts=at,
                received_at=at,
                distinct_id=f"user_{rng.randint(1, ctx.scale.people):06d}",
                source="posthog",
                properties={"platform": "android", "app_version": "3.2.1"},
            )
        )
    with store.bulk(events_file(ws)) as con:
        store.append_arrow(con, store.events_to_arrow(drift))
    ctx.progress(400, None, "Counting the tracking plan's checks")
    from productops.analytics.tracking import counts

    # Counted now, so the tracking plan's page answers at once on the first visit.
    counts.catch_up(
        ws,
        progress=lambda done, total, message: ctx.progress(
            400 + 100 * done // max(total, 1), None, message
        ),
    )
    ctx.progress(500, None, "Saving insights, a note and a dashboard")
    from productops.analytics import saved
    from productops.analytics.sql.schema import EXAMPLES

    with transaction(ws.sessions) as s:
        by_plan = saved.save_insight(
            s,
            "sql",
            "Weekly active people by plan",
            {"query": EXAMPLES["Active people by plan, weekly"], "chart": {"type": "auto"}},
            actor="demo",
            description="The SQL behind the Monday chart, to copy and change.",
        )
        activation = saved.save_insight(
            s,
            "funnel",
            "Activation funnel",
            {"query": "steps=Signed+Up&steps=Dashboard+Viewed&steps=Report+Created&window=14"},
            actor="demo",
            description="Sign-up to the first report within two weeks.",
        )
        reporting = saved.save_insight(
            s,
            "retention",
            "Do new people keep reporting?",
            {"query": "start_event=Signed+Up&return_event=Report+Created&grain=week&range=90d"},
            actor="demo",
        )
        saved.add_annotation(
            s,
            (end - dt.timedelta(days=45)).date(),
            "Pricing page relaunched",
            actor="demo",
        )
        save_dashboard(
            s,
            ws,
            "Weekly product review",
            "What the Monday review looks at.",
            [
                {"metric": "active_users", "grain": "week", "days": 120, "by": "plan"},
                {"metric": "signups", "grain": "week", "days": 120},
                {"insight": activation.id},
                {"insight": reporting.id},
                {"insight": by_plan.id, "width": "full"},
                {"metric": "report_adoption", "grain": "week", "days": 120, "by": "segment"},
                {"metric": "activation", "grain": "month", "days": 180},
            ],
            actor="demo",
        )
    ctx.progress(700, None, "Computing the dashboards")
    from productops.analytics.dashboards.boards import warm

    panels = warm(ws)  # the first visit finds every chart computed
    return {"metrics": 7, "drift_events": len(drift), "panels": panels}
