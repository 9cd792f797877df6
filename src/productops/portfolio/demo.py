"""The demo company's roadmap: six teams, about 300 epics with their issues and story points
(as if synced from Jira), initiatives, OKRs for last quarter and this one (some key results
read from the metric catalog), weekly updates, twelve weeks of history, and the things a
leader should notice: slipped dates, scope creep, stale and thin epics, work nobody owns and
work that serves no objective."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import insert, select

from productops.core.db import transaction
from productops.core.demo import DemoContext, demo_step
from productops.core.models import Team, TeamMember, User
from productops.portfolio.models import (
    CheckIn,
    Connection,
    Epic,
    Initiative,
    Issue,
    KeyResult,
    MappingRule,
    Objective,
    Snapshot,
    Update,
)
from productops.portfolio.okrs.service import (
    ensure_daily_refresh,
    period_bounds,
    period_of,
    shift_period,
)
from productops.portfolio.updates.service import take_snapshots

KEYS = {
    "Growth": "GRO",
    "Collaboration": "COL",
    "Core Platform": "PLT",
    "Integrations": "INT",
    "Insights": "INS",
    "Mobile": "MOB",
}
THEMES: dict[str, list[str]] = {
    "Growth": [
        "Onboarding checklist",
        "Trial-to-paid nudges",
        "Pricing page experiments",
        "Referral program",
        "Self-serve upgrade flow",
        "Signup with Google",
        "Activation emails",
        "Empty-state templates",
        "Usage-based paywall",
    ],
    "Collaboration": [
        "Threaded comments",
        "@mentions in docs",
        "Shared workspaces",
        "Notification digest",
        "Guest access",
        "Real-time presence",
        "Comment reactions",
        "Task assignment",
    ],
    "Core Platform": [
        "SSO with SAML",
        "Audit log export",
        "Permission model v2",
        "Page load under 1 s",
        "Data residency (EU)",
        "Rate limiting",
        "Search index rebuild",
        "Postgres 16 upgrade",
        "SCIM provisioning",
    ],
    "Integrations": [
        "Salesforce sync",
        "Slack app v2",
        "Jira two-way sync",
        "Public API v2",
        "Webhooks retry",
        "Zapier triggers",
        "HubSpot connector",
        "Microsoft Teams app",
    ],
    "Insights": [
        "Custom dashboards",
        "Scheduled reports",
        "CSV export for all tables",
        "Cohort charts",
        "Goal tracking",
        "Report sharing links",
        "Anomaly alerts",
        "Embedded analytics",
    ],
    "Mobile": [
        "Offline mode",
        "Push notification settings",
        "iPad layout",
        "Android widgets",
        "Biometric login",
        "Mobile onboarding",
        "Crash-free sessions 99.9%",
        "Dark mode",
    ],
}
PHASES = ["", " - phase 2", " - beta", " - GA", " - polish", " - rollout"]
KrSpec = tuple[str, str | None, float, float, str]
OBJECTIVES: dict[str, tuple[str, list[KrSpec]]] = {
    "Growth": (
        "Make self-serve the main way customers start",
        [
            ("Activation (first report within 14 days)", "activation", 0.18, 0.30, ""),
            ("Trial-to-paid conversion", None, 4.0, 6.5, "%"),
        ],
    ),
    "Collaboration": (
        "Make productops the place teams decide together",
        [
            ("Weekly active users", "active_users", 2500, 3400, ""),
            ("Docs with 3+ commenters", None, 22, 35, "%"),
        ],
    ),
    "Core Platform": (
        "Be the platform enterprises trust",
        [
            ("p95 page load", None, 1.8, 1.0, " s"),
            ("Enterprise security review pass rate", None, 60, 90, "%"),
        ],
    ),
    "Integrations": (
        "Fit into the tools customers already run",
        [
            ("Accounts with an integration connected", None, 31, 45, "%"),
            ("API calls per week (millions)", None, 12, 20, ""),
        ],
    ),
    "Insights": (
        "Put answers in front of every customer team",
        [
            ("Report adoption", "report_adoption", 0.20, 0.32, ""),
            ("Scheduled reports sent per week", None, 800, 2000, ""),
        ],
    ),
    "Mobile": (
        "A mobile app people choose to use",
        [("App store rating", None, 3.9, 4.5, ""), ("Crash-free sessions", None, 99.2, 99.9, "%")],
    ),
}
INITIATIVES = {
    "Growth": ["Self-serve onboarding", "Monetisation"],
    "Collaboration": ["Commenting everywhere", "Workspaces for teams"],
    "Core Platform": ["Enterprise readiness", "Performance"],
    "Integrations": ["CRM integrations", "Developer platform"],
    "Insights": ["Dashboards 2.0", "Reporting automation"],
    "Mobile": ["Mobile parity", "Mobile quality"],
}
UPDATES = {
    "on_track": [
        "Design signed off, build on schedule.",
        "Beta customers happy; GA next sprint.",
        "Two of three milestones done; no blockers.",
    ],
    "at_risk": [
        "Waiting on the API team for the new endpoints; a week at risk.",
        "Scope grew after customer interviews; re-planning the last milestone.",
        "One engineer out this sprint; QA may slip.",
    ],
    "off_track": [
        "Vendor contract delayed: target moves by a month.",
        "Security review found issues; rework needed before launch.",
    ],
}
POINTS = (1, 2, 3, 3, 5, 5, 8, 13)
WEEKS = 12


def _metric_key_results(
    ctx: DemoContext, session: Any, krs: list[KeyResult], quarter_start: dt.date
) -> None:
    """Metric-driven key results start from the metric's value when the quarter began and aim
    a fifth higher; today's value is checked in from the event store."""
    from productops.core.errors import ProductOpsError
    from productops.portfolio.okrs.service import check_in, read_metric

    for kr in krs:
        try:
            reading = read_metric(ctx.workspace, kr, start=quarter_start - dt.timedelta(days=60))
        except ProductOpsError:
            continue  # the catalog has no such metric: it stays a hand-typed target
        complete = [(d, v) for d, v in reading.points if reading.is_complete(d)]
        if not complete:
            continue
        at_start = [v for d, v in complete if d <= quarter_start] or [complete[0][1]]
        kr.start_value = round(at_start[-1], 4)
        kr.target_value = round(at_start[-1] * 1.2, 4)
        kr.unit = ""
        session.flush()
        check_in(session, kr.id, complete[-1][1], reading.label, actor="demo", source="metric")


def _description(rng: random.Random, title: str, team: str) -> str:
    style = rng.random()
    if style < 0.12:
        return ""  # the thin ones a product-ops lead chases
    if style < 0.22:
        return f"{title}."
    return (
        f"## Why\n{team} customers keep asking for {title.lower()}: it came up in "
        f"{rng.randint(4, 40)} feedback items last quarter.\n\n## What\n- first slice for "
        f"{rng.choice(['admins', 'new users', 'enterprise accounts', 'mobile users'])}\n"
        f"- measure with the {rng.choice(['activation', 'adoption', 'retention'])} dashboard\n\n"
        "## Out of scope\nAnything that needs a data-model change."
    )


@demo_step(
    "portfolio.roadmap",
    "Roadmap, OKRs and the work under them",
    after=("house.org", "analytics.catalog"),
    weight=2,
)
def make_roadmap(ctx: DemoContext) -> dict[str, Any]:
    rng = ctx.rng("portfolio.roadmap")
    ws = ctx.workspace
    today = ctx.anchor
    now = ctx.anchor_datetime
    this_q = period_of(today)
    last_q = shift_period(this_q, -1)
    q_start, q_end = period_bounds(this_q)
    with ws.sessions() as s:
        teams = [(t.id, t.name) for t in s.scalars(select(Team).order_by(Team.id))]
        members: dict[int, list[tuple[int | None, str]]] = {}
        for team_id, user_id, name in s.execute(
            select(TeamMember.team_id, User.id, User.name).join(User, User.id == TeamMember.user_id)
        ):
            members.setdefault(team_id, []).append((user_id, name))
    counts = {"epics": 0, "issues": 0, "objectives": 0, "key_results": 0}
    with transaction(ws.sessions) as s:
        conn = Connection(
            name="Jira (demo)",
            kind="jira-csv",
            url="",
            created_by="demo",
            last_sync_at=now - dt.timedelta(hours=3),
        )
        s.add(conn)
        s.flush()
        objective_ids: dict[tuple[str, str], int] = {}
        kr_rows: list[KeyResult] = []
        for period in (last_q, this_q):
            for team_id, team in teams:
                title, krs = OBJECTIVES.get(team, (f"{team} ships what matters", []))
                people = members.get(team_id) or [(None, "")]
                o = Objective(
                    title=title if period == this_q else f"{title} (foundations)",
                    description=f"{team}'s objective for {period}.",
                    period=period,
                    team_id=team_id,
                    owner_id=people[0][0],
                    status="active" if period == this_q else "closed",
                    work_weight=0.5 if team in ("Core Platform", "Mobile") else 0.0,
                )
                s.add(o)
                s.flush()
                objective_ids[(period, team)] = o.id
                counts["objectives"] += 1
                for kr_title, metric, kr_start, kr_target, unit in krs:
                    kr = KeyResult(
                        objective_id=o.id,
                        title=kr_title,
                        start_value=kr_start,
                        target_value=kr_target,
                        unit=unit,
                        metric=metric if period == this_q else None,
                        owner_id=rng.choice(people)[0],
                    )
                    s.add(kr)
                    kr_rows.append(kr)
                    counts["key_results"] += 1
        s.flush()
        _metric_key_results(ctx, s, [kr for kr in kr_rows if kr.metric], q_start)
        # Hand check-ins: a value every week or two; last quarter's reached most targets.
        checkins = []
        for kr in kr_rows:
            if kr.metric:
                continue
            period = "last" if s.get(Objective, kr.objective_id).status == "closed" else "this"  # type: ignore[union-attr]
            reach = rng.uniform(0.75, 1.05) if period == "last" else rng.uniform(0.2, 0.7)
            weeks = range(WEEKS, 0, -2) if period == "last" else range(6, -1, -1)
            skip_recent = rng.random() < 0.25  # no value this cycle: a flag
            for k, w in enumerate(weeks):
                if w < 2 and skip_recent:
                    continue
                share = reach * (k + 1) / len(weeks)
                value = round(kr.start_value + (kr.target_value - kr.start_value) * share, 2)
                at = now - dt.timedelta(days=7 * w + (91 if period == "last" else 0))
                checkins.append(
                    {
                        "key_result_id": kr.id,
                        "value": value,
                        "at": at,
                        "comment": rng.choice(
                            ["", "from the weekly review", "after the pricing test"]
                        ),
                        "source": "hand",
                        "author": "demo",
                    }
                )
                kr.current_value = value
        if checkins:
            s.execute(insert(CheckIn), checkins)
        initiative_ids: dict[str, list[int]] = {}
        for team_id, team in teams:
            for n, name in enumerate(INITIATIVES.get(team, [f"{team} roadmap"])):
                people = members.get(team_id) or [(None, "Unassigned")]
                i = Initiative(
                    connection_id=conn.id,
                    external_id=f"demo-init-{team_id}-{n}",
                    key=f"{KEYS.get(team, 'DEM')}-{n + 1}",
                    title=name,
                    description=f"{name}: the {team} team's bet for {this_q}.",
                    status="In Progress",
                    status_category="indeterminate",
                    owner_name=people[n % len(people)][1] or None,
                    team_id=team_id,
                    objective_id=objective_ids[(this_q, team)]
                    if n == 0 or rng.random() < 0.6
                    else None,
                    objective_by="hand",
                    target_date=q_end + dt.timedelta(days=30 * n),
                    source_updated_at=now - dt.timedelta(days=rng.randint(1, 9)),
                )
                s.add(i)
                s.flush()
                initiative_ids.setdefault(team, []).append(i.id)
        ctx.progress(200, None, "Epics and issues")
        epic_specs: list[dict[str, Any]] = []
        number = 100
        for team_id, team in teams:
            names = [name for _, name in members.get(team_id, [])] or ["Alex Kim"]
            themes = THEMES.get(team, ["Improvements"])
            for k in range(50):
                title = themes[k % len(themes)] + PHASES[k // len(themes) % len(PHASES)]
                number += 1
                # When it runs: a third finished last quarter, a third now, a third later.
                slot = rng.random()
                if slot < 0.32:
                    start = q_start - dt.timedelta(days=rng.randint(40, 120))
                    target = start + dt.timedelta(days=rng.randint(21, 63))
                    category, progress = "done", 1.0
                elif slot < 0.68:
                    start = today - dt.timedelta(days=rng.randint(5, 60))
                    target = today + dt.timedelta(days=rng.randint(-10, 70))
                    category, progress = "indeterminate", rng.uniform(0.1, 0.85)
                else:
                    start = today + dt.timedelta(days=rng.randint(7, 200))
                    target = start + dt.timedelta(days=rng.randint(21, 70))
                    category, progress = "new", 0.0
                slipped = category == "indeterminate" and rng.random() < 0.3
                labels = [team.lower().replace(" ", "-")]
                if rng.random() < 0.3:
                    labels.append(rng.choice(["customer-ask", "tech-debt", "q-bet", "security"]))
                link = rng.random()
                initiative = None
                objective = None
                if category != "done":
                    if link < 0.62:
                        initiative = rng.choice(initiative_ids[team])
                    elif link < 0.8:
                        objective = objective_ids[(this_q, team)]
                    # else: unlinked work, what leaders ask about
                elif link < 0.7:
                    objective = objective_ids[(last_q, team)]
                owner = None if rng.random() < 0.07 else rng.choice(names)
                stale = category != "done" and rng.random() < 0.12
                epic_specs.append(
                    {
                        "team_id": team_id,
                        "team": team,
                        "title": title,
                        "number": number,
                        "start": start,
                        "target": target,
                        "category": category,
                        "progress": progress,
                        "slipped": slipped,
                        "labels": labels,
                        "initiative": initiative,
                        "objective": objective,
                        "owner": owner,
                        "stale": stale,
                    }
                )
        epics: list[tuple[Epic, dict[str, Any]]] = []
        for spec in epic_specs:
            key = f"{KEYS.get(str(spec['team']), 'DEM')}-{spec['number']}"
            status = {"done": "Done", "indeterminate": "In Progress", "new": "To Do"}[
                spec["category"]
            ]
            updated = now - dt.timedelta(
                days=rng.randint(50, 90) if spec["stale"] else rng.randint(0, 12)
            )
            e = Epic(
                connection_id=conn.id,
                external_id=f"demo-{key}",
                key=key,
                title=spec["title"],
                description=_description(rng, spec["title"], spec["team"]),
                status=status,
                status_category=spec["category"],
                owner_name=spec["owner"],
                team_id=spec["team_id"],
                project=KEYS.get(spec["team"], "DEM"),
                labels=spec["labels"],
                components=[],
                initiative_id=spec["initiative"],
                initiative_by="parent" if spec["initiative"] else None,
                objective_id=spec["objective"],
                objective_by="hand" if spec["objective"] else None,
                start_date=spec["start"],
                target_date=spec["target"],
                url=f"https://demo.atlassian.invalid/browse/{key}",
                source_created_at=now - dt.timedelta(days=rng.randint(60, 200)),
                source_updated_at=updated,
                resolved_at=now - dt.timedelta(days=rng.randint(5, 80))
                if spec["category"] == "done"
                else None,
            )
            s.add(e)
            epics.append((e, spec))
        s.flush()
        counts["epics"] = len(epics)
        issue_rows: list[dict[str, Any]] = []
        for e, spec in epics:
            n = rng.randint(5, 22)
            done = round(n * spec["progress"])
            for j in range(n):
                if j < done:
                    cat = "done"
                elif j < done + (2 if spec["category"] == "indeterminate" else 0):
                    cat = "indeterminate"
                else:
                    cat = "new"
                # A closed epic with work left open under it: now and then.
                if spec["category"] == "done" and j == n - 1 and rng.random() < 0.06:
                    cat = "new"
                issue_rows.append(
                    {
                        "connection_id": conn.id,
                        "external_id": f"demo-{e.key}-{j}",
                        "key": f"{e.key}-{j + 1}" if e.key else None,
                        "title": rng.choice(
                            ["Build", "Design", "Test", "Spec", "Instrument", "Migrate", "Document"]
                        )
                        + f" {e.title.lower()} part {j + 1}",
                        "issue_type": rng.choice(["Story", "Story", "Task", "Bug"]),
                        "status": {"done": "Done", "indeterminate": "In Progress", "new": "To Do"}[
                            cat
                        ],
                        "status_category": cat,
                        "story_points": None if rng.random() < 0.08 else float(rng.choice(POINTS)),
                        "assignee_name": spec["owner"] if rng.random() < 0.5 else None,
                        "epic_id": e.id,
                        "source_updated_at": e.source_updated_at,
                    }
                )
        for chunk in range(0, len(issue_rows), 1000):
            s.execute(insert(Issue), issue_rows[chunk : chunk + 1000])
        counts["issues"] = len(issue_rows)
        ctx.progress(600, None, "Updates and history")
        # Written updates: most owners of work in progress wrote one this week or last.
        update_rows = []
        for e, spec in epics:
            if spec["category"] != "indeterminate" or spec["owner"] is None:
                continue
            health = (
                "off_track"
                if spec["slipped"] and rng.random() < 0.4
                else ("at_risk" if spec["slipped"] or rng.random() < 0.15 else "on_track")
            )
            for w in (2, 1, 0):
                if rng.random() < 0.25:
                    continue
                h = "on_track" if w == 2 else health
                update_rows.append(
                    {
                        "subject_type": "epic",
                        "subject_id": e.id,
                        "health": h,
                        "body": rng.choice(UPDATES[h]),
                        "author": spec["owner"],
                        "source": "hand",
                        "at": now
                        - dt.timedelta(days=7 * w + rng.randint(0, 2), hours=rng.randint(1, 8)),
                    }
                )
        for team, ids in initiative_ids.items():
            for iid in ids:
                update_rows.append(
                    {
                        "subject_type": "initiative",
                        "subject_id": iid,
                        "health": rng.choice(["on_track", "on_track", "at_risk"]),
                        "body": rng.choice(UPDATES["on_track"]),
                        "author": f"{team} lead",
                        "source": "hand",
                        "at": now - dt.timedelta(days=rng.randint(1, 12)),
                    }
                )
        for (period, _team), oid in objective_ids.items():
            if period == this_q:
                update_rows.append(
                    {
                        "subject_type": "objective",
                        "subject_id": oid,
                        "health": rng.choice(["on_track", "at_risk", "on_track"]),
                        "body": "Key results moving; see the epics for detail.",
                        "author": "demo",
                        "source": "hand",
                        "at": now - dt.timedelta(days=rng.randint(2, 20)),
                    }
                )
        s.execute(insert(Update), update_rows)
        s.add(
            MappingRule(
                match="label",
                value="security",
                team_id=None,
                initiative_id=initiative_ids.get("Core Platform", [None])[0],
                created_by="demo",
            )
        )
        # Today's snapshot from the real roll-up, then twelve weeks of history behind it:
        # progress that grew, and the dates that slipped (the change log reads these).
        take_snapshots(ws, s, today)
        ensure_daily_refresh(s, "demo")
        current = list(s.scalars(select(Snapshot).where(Snapshot.day == today)))
        slipped_ids = {e.id for e, spec in epics if spec["slipped"]}
        history = []
        for w in range(1, WEEKS + 1):
            day = today - dt.timedelta(days=7 * w)
            for snap in current:
                back = max(0.0, 1 - w / rng.uniform(8, 16))
                was_due = snap.target_date
                if snap.subject_type == "epic" and snap.subject_id in slipped_ids and was_due:
                    was_due = was_due - dt.timedelta(days=14 + (snap.subject_id % 4) * 7)
                points_total = snap.points_total
                if snap.subject_type == "epic" and snap.subject_id % 9 == 0 and w <= 2:
                    points_total = max(0.0, points_total - 8)  # scope added this week
                history.append(
                    {
                        "subject_type": snap.subject_type,
                        "subject_id": snap.subject_id,
                        "day": day,
                        "progress": None
                        if snap.progress is None
                        else round(snap.progress * back, 4),
                        "issues_total": snap.issues_total,
                        "issues_done": int(snap.issues_done * back),
                        "points_total": points_total,
                        "points_done": round(snap.points_done * back, 1),
                        "target_date": was_due,
                        "status_category": snap.status_category,
                        # Half of what is at risk or off track now was on track before.
                        "health": "on_track"
                        if snap.health in ("at_risk", "off_track") and snap.subject_id % 2 == 0
                        else snap.health,
                        "is_open": snap.is_open or w > 3,
                    }
                )
        for chunk in range(0, len(history), 2000):
            s.execute(insert(Snapshot), history[chunk : chunk + 2000])
    ctx.progress(1000, None, "Roadmap ready")
    return counts
