"""The demo company's experimentation: a dozen experiments on its people with known true
effects (some null, one with a sample-ratio mismatch), their exposure and outcome events in
the event store, the flags that run them, a few everyday flags (a kill switch, a rollout, a
targeting rule, a JSON config, stale ones), an SDK connection, and results computed by the
engine (tests/experiments/test_demo_recovery.py checks it recovers the true effects).

Assignment uses the same hash as the flags, so evaluating a flag for a demo person gives the
variation their events say they saw.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from productops import analytics, customers
from productops.core.demo import DemoContext, demo_step
from productops.experiments.flags.evaluate import bucket_ranges, choose_variation, gb_hash

EVENT_PREFIX = "demo-exp-"

CATALOG_ADDITIONS = """\
  # --- experimentation (added by the experiments demo) ---
  - name: onboarding_completed
    label: Onboarding completed
    description: People who finished onboarding
    type: unique_users
    event: Onboarding Completed
  - name: upgrades
    label: Upgraded to a paid plan
    type: unique_users
    event: Plan Upgraded
  - name: upgrade_revenue
    label: Upgrade revenue (USD)
    type: sum
    event: Plan Upgraded
    property: amount
  - name: templates_used
    label: Report templates used
    type: count
    event: Template Used
  - name: invites_accepted
    label: Invites accepted
    type: count
    event: Invite Accepted
  - name: trial_conversions
    label: Trials converted
    type: unique_users
    event: Trial Converted
  - name: digest_opens
    label: Weekly digests opened
    type: count
    event: Digest Opened
  - name: order_value
    label: Average order value (USD)
    description: Order amount per order (a ratio metric, analysed by the delta method)
    type: average
    event: Order Placed
    property: amount
  - name: dashboard_load_ms
    label: Dashboard load time (ms)
    type: average
    event: Dashboard Timing
    property: ms
  - name: support_tickets
    label: Support tickets opened
    type: count
    event: Support Ticket Opened
  - name: summaries_read
    label: AI summaries read
    type: count
    event: Summary Read
  - name: banner_clicks
    label: Banner clicks
    type: unique_users
    event: Banner Clicked
"""


@dataclass(frozen=True)
class Outcome:
    """How one metric's events are drawn per exposed person: `binary` (did it, with
    probability `base`), `count` (Poisson around `base` times the person's propensity),
    `amount` (orders of ~`base` USD each) or `timing` (page timings of ~`base` ms)."""

    event: str
    model: str
    base: float
    effects: tuple[float, ...] = ()  # relative effect per variation (control first: 0)
    prop: str = ""  # the property a sum/average reads
    pre: bool = False  # also draw the same events before exposure (CUPED's covariate)


@dataclass(frozen=True)
class DemoExperiment:
    key: str
    name: str
    hypothesis: str
    variations: tuple[str, ...]
    weights: tuple[float, ...]
    primary: Outcome
    guardrails: tuple[tuple[str, Outcome], ...]
    metric: str
    size: int
    started_days_ago: int
    ran_days: int | None = None  # None: still running
    status: str = "running"
    decision: str | None = None
    winner: str | None = None
    learnings: str = ""
    exposure: str = "growthbook"  # or "posthog" ($feature_flag_called)
    srm_loss: float = 0.0  # share of the last variation's exposures lost (a tracking bug)
    tags: tuple[str, ...] = ()
    test: str = "ttest"

    @property
    def true_effects(self) -> tuple[float, ...]:
        return self.primary.effects or tuple(0.0 for _ in self.variations)


def _o(
    event: str, model: str, base: float, *effects: float, prop: str = "", pre: bool = False
) -> Outcome:
    return Outcome(event, model, base, tuple(effects), prop, pre)


TICKETS = _o("Support Ticket Opened", "count", 0.25, 0.0, 0.0)
EXPERIMENTS: tuple[DemoExperiment, ...] = (
    DemoExperiment(
        "onboarding-checklist",
        "Onboarding checklist",
        "A visible checklist of the first five steps gets more new people through onboarding.",
        ("Control", "Checklist"),
        (0.5, 0.5),
        _o("Onboarding Completed", "binary", 0.30, 0.0, 0.18),
        (("support_tickets", TICKETS),),
        "onboarding_completed",
        4000,
        95,
        28,
        "decided",
        "ship",
        "1",
        "The checklist lifted completion by about a sixth with no rise in tickets; "
        "shipped to everyone.",
        tags=("onboarding", "growth"),
    ),
    DemoExperiment(
        "annual-pricing-toggle",
        "Annual pricing toggle on the pricing page",
        "Showing annual prices first makes more trials upgrade.",
        ("Monthly first", "Annual first"),
        (0.5, 0.5),
        _o("Plan Upgraded", "binary", 0.06, 0.0, 0.0, prop="amount"),
        (("upgrade_revenue", _o("Plan Upgraded", "amount", 0.0)),),
        "upgrades",
        4000,
        80,
        28,
        "decided",
        "rollback",
        None,
        "No measurable change in upgrades; kept monthly first.",
        tags=("pricing",),
    ),
    DemoExperiment(
        "report-templates",
        "Report templates gallery",
        "A gallery of templates gets people to build more reports from templates.",
        ("Control", "Gallery"),
        (0.5, 0.5),
        _o("Template Used", "count", 1.5, 0.0, 0.20, pre=True),
        (("support_tickets", TICKETS),),
        "templates_used",
        3000,
        21,
        tags=("reports",),
    ),
    DemoExperiment(
        "dark-mode",
        "Dark mode",
        "Dark mode makes people open the weekly digest more often.",
        ("Light", "Dark"),
        (0.5, 0.5),
        _o("Digest Opened", "count", 2.0, 0.0, 0.0, pre=True),
        (),
        "digest_opens",
        3000,
        40,
        21,
        "stopped",
        exposure="posthog",
        tags=("ui",),
    ),
    DemoExperiment(
        "invite-nudge",
        "Invite nudge after the first report",
        "Asking to invite a colleague right after the first report gets more invites accepted.",
        ("Control", "Nudge"),
        (0.5, 0.5),
        _o("Invite Accepted", "count", 0.4, 0.0, 0.30),
        (("support_tickets", TICKETS),),
        "invites_accepted",
        5000,
        18,
        tags=("growth",),
    ),
    DemoExperiment(
        "trial-length",
        "Trial length: 14, 21 or 7 days",
        "A longer trial converts more trials; a shorter one converts fewer.",
        ("14 days", "21 days", "7 days"),
        (1 / 3, 1 / 3, 1 / 3),
        _o("Trial Converted", "binary", 0.10, 0.0, 0.25, -0.10),
        (),
        "trial_conversions",
        9000,
        30,
        tags=("pricing", "trial"),
    ),
    DemoExperiment(
        "weekly-digest-redesign",
        "Weekly digest redesign",
        "A digest led by the reader's own numbers gets opened more.",
        ("Current", "Redesign"),
        (0.5, 0.5),
        _o("Digest Opened", "count", 2.0, 0.0, 0.10, pre=True),
        (),
        "digest_opens",
        3000,
        25,
        test="bayesian",
        tags=("engagement",),
    ),
    DemoExperiment(
        "checkout-copy",
        "Checkout copy that names the plan's outcomes",
        "Describing outcomes instead of features raises the average order value.",
        ("Features", "Outcomes"),
        (0.5, 0.5),
        _o("Order Placed", "amount", 80.0, 0.0, 0.05, prop="amount"),
        (),
        "order_value",
        5000,
        26,
        tags=("checkout",),
    ),
    DemoExperiment(
        "promo-banner",
        "Promotion banner on the dashboard",
        "A banner announcing the new integrations gets clicked by more people.",
        ("No banner", "Banner"),
        (0.5, 0.5),
        _o("Banner Clicked", "binary", 0.30, 0.0, 0.0),
        (),
        "banner_clicks",
        4000,
        14,
        srm_loss=0.2,
        tags=("ui",),
    ),
    DemoExperiment(
        "faster-dashboards",
        "Dashboards from the pre-computed cache",
        "Serving dashboards from the cache cuts their load time.",
        ("Live queries", "Cache"),
        (0.5, 0.5),
        _o("Dashboard Timing", "timing", 1200.0, 0.0, -0.15, prop="ms"),
        (),
        "dashboard_load_ms",
        2000,
        70,
        21,
        "decided",
        "ship",
        "1",
        "Load time fell by about 15 %; the cache is now the default.",
        tags=("performance",),
    ),
    DemoExperiment(
        "help-widget",
        "In-app help widget",
        "Answers inside the app mean fewer support tickets.",
        ("No widget", "Widget"),
        (0.5, 0.5),
        _o("Support Ticket Opened", "count", 0.30, 0.0, -0.25),
        (),
        "support_tickets",
        3000,
        45,
        28,
        "stopped",
        exposure="posthog",
        tags=("support",),
    ),
    DemoExperiment(
        "ai-summary",
        "AI summary at the top of reports",
        "A short generated summary gets reports read more.",
        ("Control", "Summary"),
        (0.5, 0.5),
        _o("Summary Read", "count", 1.0, 0.0, 0.0, pre=True),
        (("support_tickets", TICKETS),),
        "summaries_read",
        3000,
        20,
        tags=("reports", "ai"),
    ),
)

DRAFT = {
    "key": "mobile-onboarding",
    "name": "Mobile onboarding in three screens",
    "hypothesis": "Three screens instead of seven get more mobile sign-ups to their first report.",
    "metric": "onboarding_completed",
}


# --- drawing the events ----------------------------------------------------------------------


@dataclass
class _Columns:
    event_id: list[str] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    ts: list[Any] = field(default_factory=list)
    person: list[str] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)

    def add(
        self, eid: str, event: str, ts: Any, person: str, props: dict[str, Any], source: str
    ) -> None:
        self.event_id.append(eid)
        self.event.append(event)
        self.ts.append(ts)
        self.person.append(person)
        self.properties.append(json.dumps(props, separators=(",", ":")))
        self.source.append(source)

    def table(self) -> pa.Table:
        ts = pa.array(self.ts, pa.timestamp("us"))
        nulls = pa.nulls(len(self.event_id), pa.string())
        return pa.table(
            {
                "event_id": self.event_id,
                "event": self.event,
                "type": ["track"] * len(self.event_id),
                "ts": ts,
                "received_at": ts,
                "distinct_id": self.person,
                "user_id": self.person,
                "anonymous_id": nulls,
                "account_id": nulls,
                "source": self.source,
                "properties": self.properties,
            },
            schema=analytics.ARROW_SCHEMA,
        )


def assign(spec: DemoExperiment, person: str) -> int:
    """The variation the flag's experiment rule gives `person` (GrowthBook hash v2)."""
    n = gb_hash(spec.key, person, 2)
    assert n is not None
    return choose_variation(n, bucket_ranges(len(spec.variations), 1.0, list(spec.weights)))


def window(spec: DemoExperiment, anchor: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start = anchor - dt.timedelta(days=spec.started_days_ago)
    end = start + dt.timedelta(days=spec.ran_days) if spec.ran_days else anchor
    return start, min(end, anchor)


def _draw(
    out: _Columns,
    spec: DemoExperiment,
    o: Outcome,
    metric: str,
    who: str,
    arm: int,
    exposed: dt.datetime,
    end: dt.datetime,
    propensity: float,
    rng: np.random.Generator,
    n: int,
) -> None:
    lift = 1 + (o.effects[arm] if arm < len(o.effects) else 0.0)
    horizon = max((end - exposed).total_seconds(), 60.0)

    def at(after: dt.datetime, span: float) -> dt.datetime:
        return after + dt.timedelta(seconds=float(rng.uniform(1, span)))

    prefix = f"{EVENT_PREFIX}{spec.key}-{metric}-{n}"
    if o.model == "binary":
        if rng.random() < min(o.base * lift, 1.0):
            props = {"amount": float(round(rng.choice([29, 49, 99]) * 12, 2))} if o.prop else {}
            out.add(f"{prefix}-0", o.event, at(exposed, horizon), who, props, "segment")
        return
    if o.model == "count":
        if o.pre:
            for k in range(rng.poisson(o.base * propensity)):
                out.add(
                    f"{prefix}-p{k}",
                    o.event,
                    exposed - dt.timedelta(seconds=float(rng.uniform(60, 14 * 86400))),
                    who,
                    {},
                    "segment",
                )
        for k in range(rng.poisson(o.base * propensity * lift)):
            out.add(f"{prefix}-{k}", o.event, at(exposed, horizon), who, {}, "segment")
        return
    if o.model == "amount":
        if o.base == 0:
            return  # a guardrail read from the primary metric's own events
        for k in range(rng.poisson(1.2)):
            amount = float(round(o.base * lift * rng.lognormal(-0.11, 0.47), 2))
            out.add(
                f"{prefix}-{k}",
                o.event,
                at(exposed, horizon),
                who,
                {o.prop or "amount": amount},
                "segment",
            )
        return
    for k in range(1 + rng.poisson(2.0)):  # timing
        ms = float(round(o.base * lift * rng.lognormal(-0.05, 0.3), 1))
        out.add(
            f"{prefix}-{k}", o.event, at(exposed, horizon), who, {o.prop or "ms": ms}, "segment"
        )


def simulate(
    spec: DemoExperiment,
    people: list[str],
    anchor: dt.datetime,
    rng: np.random.Generator,
    out: _Columns,
) -> list[int]:
    """Exposure and outcome events of `spec` for `people`; returns users per variation as
    exposed (before any tracking loss)."""
    start, end = window(spec, anchor)
    exposure_end = min(start + dt.timedelta(days=14), end - dt.timedelta(hours=1))
    span = max((exposure_end - start).total_seconds(), 3600.0)
    counts = [0] * len(spec.variations)
    for i, who in enumerate(people):
        arm = assign(spec, who)
        counts[arm] += 1
        exposed = start + dt.timedelta(seconds=float(rng.uniform(0, span)))
        lost = spec.srm_loss and arm == len(spec.variations) - 1 and rng.random() < spec.srm_loss
        if not lost:
            for k in range(1 + int(rng.poisson(0.6))):
                seen = exposed + dt.timedelta(minutes=float(k * rng.uniform(5, 600)))
                if spec.exposure == "posthog":
                    props: dict[str, Any] = {
                        "$feature_flag": spec.key,
                        "$feature_flag_response": str(arm),
                    }
                    name, source = "$feature_flag_called", "posthog"
                else:
                    props = {"experiment_id": spec.key, "variation_id": str(arm)}
                    name, source = "Experiment Viewed", "segment"
                out.add(f"{EVENT_PREFIX}{spec.key}-x{i}-{k}", name, seen, who, props, source)
        propensity = float(rng.gamma(1.0, 1.0))  # people differ, and keep differing
        _draw(out, spec, spec.primary, spec.metric, who, arm, exposed, end, propensity, rng, i)
        for metric, guard in spec.guardrails:
            _draw(out, spec, guard, metric, who, arm, exposed, end, 1.0, rng, i)
    return counts


def allocate(people: list[str], rng: np.random.Generator) -> list[list[str]]:
    """Disjoint groups of people, one per experiment, scaled down when the company is small."""
    shuffled = list(people)
    rng.shuffle(shuffled)
    wanted = sum(s.size for s in EXPERIMENTS)
    scale = min(1.0, len(shuffled) / wanted)
    groups, at = [], 0
    for spec in EXPERIMENTS:
        n = max(int(spec.size * scale), 2)
        groups.append(shuffled[at : at + n])
        at += n
    return groups


# --- the step ------------------------------------------------------------------------------


def _add_metrics(ws: Any) -> int:
    path = ws.path / "metrics.yml"
    text = path.read_text() if path.exists() else "metrics:\n"
    if "name: onboarding_completed" in text:
        return 0
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + CATALOG_ADDITIONS)
    analytics.load_catalog(ws)  # refuses a broken catalog at once
    return CATALOG_ADDITIONS.count("- name:")


def _clear_events(ws: Any) -> None:
    with analytics.bulk(analytics.events_file(ws)) as con:
        con.execute(f"DELETE FROM events WHERE starts_with(event_id, '{EVENT_PREFIX}')")


@demo_step(
    "experiments.demo",
    "Flags, a dozen experiments and their results",
    after=("analytics.catalog", "house.org"),
    weight=3,
)
def make_experiments(ctx: DemoContext) -> dict[str, Any]:
    ws = ctx.workspace
    rng = ctx.np_rng("experiments.demo")
    anchor = ctx.anchor_datetime.replace(tzinfo=None)
    added = _add_metrics(ws)
    with ws.sessions() as s:
        people = [p["external_id"] for p in customers.profiles(s).people]
    groups = allocate(people, rng)
    out = _Columns()
    exposed = {}
    for i, (spec, group) in enumerate(zip(EXPERIMENTS, groups, strict=True)):
        exposed[spec.key] = simulate(spec, group, anchor, rng, out)
        ctx.progress(300 * (i + 1) // len(EXPERIMENTS), None, f"Events of {spec.name}")
    ctx.on_failure(lambda: _clear_events(ws))
    with analytics.bulk(analytics.events_file(ws)) as con:
        written = analytics.append_arrow(con, out.table())
    ctx.progress(350, None, "Flags and experiments")
    made = _records(ctx, anchor)
    return {
        "metrics_added": added,
        "events": written,
        "experiments": made["experiments"],
        "flags": made["flags"],
        "exposed": exposed,
    }


def _records(ctx: DemoContext, anchor: dt.datetime) -> dict[str, int]:
    """Flags, the SDK connection, the experiments with their lifecycle, and their results."""
    from sqlalchemy import select, update

    from productops.core.db import transaction
    from productops.core.models import User
    from productops.experiments.flags import service as flags
    from productops.experiments.models import Flag, FlagSetting
    from productops.experiments.registry import service as registry
    from productops.experiments.schemas import Analysis, ExperimentCreate, Transition, Variation
    from productops.experiments.sdk import service as sdk

    ws = ctx.workspace
    rng = ctx.rng("experiments.records")
    made_flags = 0
    with transaction(ws.sessions) as s:
        owners = [
            u.email for u in s.scalars(select(User).where(User.role == "editor").order_by(User.id))
        ]
        owners = owners or ["demo"]
        flags.ensure_environments(s, "demo")
        for spec in EXPERIMENTS:
            flag = flags.create_flag(
                s,
                spec.key,
                "string",
                "0",
                "demo",
                description=f"Runs the experiment '{spec.name}'.",
                project="growth" if "growth" in spec.tags else "product",
                owner=rng.choice(owners),
                tags=list(spec.tags),
            )
            made_flags += 1
            rule = {
                "type": "experiment",
                "id": "experiment",
                "experiment_key": spec.key,
                "variations": [
                    {"value": str(i), "name": name, "key": str(i)}
                    for i, name in enumerate(spec.variations)
                ],
                "weights": list(spec.weights),
                "description": spec.hypothesis,
            }
            for env in ("production", "staging"):
                flags.set_rules(s, flag.id, env, [rule], "demo")
            if spec.status == "decided" and spec.winner is not None:
                flags.set_rules(
                    s,
                    flag.id,
                    "production",
                    [
                        {
                            "type": "force",
                            "id": "shipped",
                            "value": spec.winner,
                            "description": "Shipped after the experiment",
                        }
                    ],
                    "demo",
                )
            exp = registry.create_experiment(
                s,
                ExperimentCreate(
                    key=spec.key,
                    name=spec.name,
                    hypothesis=spec.hypothesis,
                    owner=rng.choice(owners),
                    primary_metric=spec.metric,
                    guardrail_metrics=[g for g, _ in spec.guardrails],
                    variations=[
                        Variation(key=str(i), name=name, weight=w)
                        for i, (name, w) in enumerate(
                            zip(spec.variations, spec.weights, strict=True)
                        )
                    ],
                    exposure_event="$feature_flag_called"
                    if spec.exposure == "posthog"
                    else "Experiment Viewed",
                    flag_key=spec.key,
                    analysis=Analysis(test=spec.test),
                    tags=list(spec.tags),
                ),
                "demo",
                ws,
            )
            start, end = window(spec, anchor)
            registry.transition(s, exp.id, Transition(action="start"), "demo")
            exp.started_at = start.replace(tzinfo=dt.UTC)
            if spec.status in ("stopped", "decided"):
                registry.transition(s, exp.id, Transition(action="stop"), "demo")
                exp.stopped_at = end.replace(tzinfo=dt.UTC)
        registry.create_experiment(
            s,
            ExperimentCreate(
                key=DRAFT["key"],
                name=DRAFT["name"],
                hypothesis=DRAFT["hypothesis"],
                owner=rng.choice(owners),
                primary_metric=DRAFT["metric"],
                variations=[
                    Variation(name="Seven screens", weight=0.5),
                    Variation(name="Three screens", weight=0.5),
                ],
                tags=["onboarding", "mobile"],
            ),
            "demo",
            ws,
        )
        everyday = [
            ("maintenance-mode", "boolean", False, "Kill switch: show the maintenance page.", []),
            (
                "new-editor",
                "boolean",
                False,
                "The new report editor, rolled out gradually.",
                [
                    {
                        "type": "force",
                        "id": "staff",
                        "condition": {"email": {"$regex": "@demo\\.productops\\.dev$"}},
                        "value": True,
                    },
                    {"type": "force", "id": "rollout", "value": True, "coverage": 0.25},
                ],
            ),
            (
                "enterprise-sso",
                "boolean",
                False,
                "SSO for enterprise accounts.",
                [
                    {
                        "type": "force",
                        "id": "enterprise",
                        "condition": {"plan": {"$in": ["enterprise"]}},
                        "value": True,
                    }
                ],
            ),
            (
                "dashboard-limits",
                "json",
                {"panels": 12, "refresh_seconds": 300},
                "Limits of a dashboard by plan.",
                [
                    {
                        "type": "force",
                        "id": "free",
                        "condition": {"plan": "free"},
                        "value": {"panels": 4, "refresh_seconds": 3600},
                    }
                ],
            ),
            ("export-rows-max", "number", 100000, "Most rows an export may hold.", []),
            (
                "welcome-headline",
                "string",
                "Welcome back",
                "The home page headline.",
                [
                    {
                        "type": "force",
                        "id": "new",
                        "condition": {"signup_days": {"$lt": 7}},
                        "value": "Let's build your first report",
                    }
                ],
            ),
            (
                "legacy-charts",
                "boolean",
                True,
                "Old charts: rolled out to everyone long ago.",
                [{"type": "force", "id": "all", "value": True}],
            ),
            (
                "csv-v2",
                "boolean",
                True,
                "The new CSV writer: done, remove from the code.",
                [{"type": "force", "id": "all", "value": True}],
            ),
        ]
        for key, kind, default, description, rules in everyday:
            flag = flags.create_flag(
                s,
                key,
                kind,
                default,
                "demo",
                description=description,
                project="platform",
                owner=rng.choice(owners),
            )
            made_flags += 1
            for env in ("production", "staging", "development"):
                if rules:
                    flags.set_rules(s, flag.id, env, rules, "demo")
        flags.set_rules(
            s,
            flags.flag_by_key(s, "new-editor").id,
            "development",
            [{"type": "force", "id": "all", "value": True}],
            "demo",
        )
        # Two flags have served one value to everyone for months: the stale-flag report lists them.
        old = anchor.replace(tzinfo=dt.UTC) - dt.timedelta(days=120)
        stale = [
            f.id
            for f in s.scalars(
                select(Flag).where(Flag.key.in_(["legacy-charts", "csv-v2", "export-rows-max"]))
            )
        ]
        s.execute(update(Flag).where(Flag.id.in_(stale)).values(updated_at=old, created_at=old))
        s.execute(update(FlagSetting).where(FlagSetting.flag_id.in_(stale)).values(updated_at=old))
        sdk.create_connection(s, "Web app (production)", "production", "demo")
    ctx.progress(500, None, "Computing results")
    from productops.experiments.registry.results import compute_results

    done = 0
    specs = {s.key: s for s in EXPERIMENTS}
    with ws.sessions() as s:
        ids = [
            (e.id, e.key)
            for e in registry.list_experiments(s, limit=None)[0]
            if e.status != "draft"
        ]
    for i, (exp_id, key) in enumerate(ids):
        with ws.sessions() as s:
            exp = registry.get_experiment(s, exp_id)
            data = compute_results(ws, exp, now=anchor.replace(tzinfo=dt.UTC))
        with transaction(ws.sessions) as s:
            registry.save_result(s, exp_id, data, "demo")
            spec = specs[key]
            if spec.status == "decided":
                registry.transition(
                    s,
                    exp_id,
                    Transition(
                        action="decide",
                        decision=spec.decision,
                        winner=spec.winner,
                        learnings=spec.learnings,
                    ),
                    "demo",
                )
        done += 1
        ctx.progress(500 + 500 * (i + 1) // len(ids), None, f"Results of {key}")
    return {"experiments": len(EXPERIMENTS) + 1, "flags": made_flags, "results": done}
