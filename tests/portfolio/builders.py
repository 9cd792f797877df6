"""A small portfolio written through the services, for page, API and roll-up tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert

from productops.core import teams
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.portfolio.models import Issue
from productops.portfolio.okrs import service as okrs
from productops.portfolio.updates import service as updates
from productops.portfolio.work import service as work


@dataclass
class Small:
    team: int
    objective: int
    kr: int
    initiative: int
    epic: int
    orphan: int


def small_portfolio(ws: Workspace, title: str = "Checklist", description: str = "") -> Small:
    with transaction(ws.sessions) as s:
        team = teams.create_team(s, "Growth", "Sign-up to activation")
        o = okrs.create_objective(s, "Grow activation", "2026-Q4", team_id=team.id, actor="t")
        kr = okrs.add_key_result(
            s, o.id, "Activation rate", target=40, start=30, unit="%", actor="t"
        )
        okrs.check_in(s, kr.id, 35, "half way", actor="t")
        i = work.create_initiative(s, "Onboarding", objective_id=o.id, actor="t", owner_name="Ana")
        e = work.create_epic(
            s,
            title,
            initiative_id=i.id,
            team_id=team.id,
            description=description,
            actor="t",
            owner_name="Ana",
            target_date=dt.date(2026, 12, 15),
        )
        orphan = work.create_epic(s, "Orphan work", actor="t")
        rows = [
            {
                "external_id": f"i{n}",
                "key": f"G-{n}",
                "title": f"Issue {n}",
                "epic_id": e.id,
                "status_category": cat,
                "story_points": pts,
            }
            for n, (cat, pts) in enumerate(
                [("done", 5.0), ("indeterminate", 3.0), ("new", 2.0), ("canceled", 8.0)]
            )
        ]
        s.execute(insert(Issue), rows)
        updates.write_update(s, "epic", e.id, "at_risk", "Waiting on design", actor="t")
        updates.take_snapshots(ws, s, utcnow().date())
        return Small(team.id, o.id, kr.id, i.id, e.id, orphan.id)
