"""Roadmap & OKRs: objectives and key results, initiatives, epics and issues imported from
Jira and Linear, rolled up so leaders see what is built, by whom, toward which objective, and
whether it is on track.

This is the pillar's public Python API; other pillars use only what `__all__` names. Inside,
the pillar is cut into rooms: `connectors/` (Jira Cloud, Jira Server/DC, Linear, their CSV
exports: reading only), `work/` (initiatives, epics, issues, mapping rules, links), `sync/`
(connections, syncs, imports, schedules), `okrs/`, `rollups/` (progress, health, flags),
`updates/` (the update cadence, snapshots, the change log), `views/` (roadmap, timeline,
team pages, charts) and `routes/` (the web).

    from productops import portfolio

    with ws.sessions() as s:
        p = portfolio.build(s, ws, portfolio.Rule.of(ws))
        since, until, moved = portfolio.change_log(s)   # what the weekly digest sends
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.portfolio.okrs.service import (
        add_key_result,
        check_in,
        create_objective,
        kr_progress,
        refresh_metric_key_results,
    )
    from productops.portfolio.rollups.service import Filters, Portfolio, Rule, build
    from productops.portfolio.sync.service import connect, import_file, schedule_sync, sync
    from productops.portfolio.updates.service import (
        Change,
        Reminder,
        change_log,
        reminders,
        take_snapshots,
        write_update,
    )
    from productops.portfolio.work.service import (
        epics_for_feature,
        link_epic,
        link_feature,
        unlink_feature,
    )

_NAMES = {
    "Change": ".updates.service",
    "Filters": ".rollups.service",
    "Portfolio": ".rollups.service",
    "Reminder": ".updates.service",
    "Rule": ".rollups.service",
    "add_key_result": ".okrs.service",
    "build": ".rollups.service",
    "change_log": ".updates.service",
    "check_in": ".okrs.service",
    "connect": ".sync.service",
    "create_objective": ".okrs.service",
    "epics_for_feature": ".work.service",
    "import_file": ".sync.service",
    "kr_progress": ".okrs.service",
    "link_epic": ".work.service",
    "link_feature": ".work.service",
    "refresh_metric_key_results": ".okrs.service",
    "reminders": ".updates.service",
    "schedule_sync": ".sync.service",
    "sync": ".sync.service",
    "take_snapshots": ".updates.service",
    "unlink_feature": ".work.service",
    "write_update": ".updates.service",
}
__all__ = [
    "Change",
    "Filters",
    "Portfolio",
    "Reminder",
    "Rule",
    "add_key_result",
    "build",
    "change_log",
    "check_in",
    "connect",
    "create_objective",
    "epics_for_feature",
    "import_file",
    "kr_progress",
    "link_epic",
    "link_feature",
    "refresh_metric_key_results",
    "reminders",
    "schedule_sync",
    "sync",
    "take_snapshots",
    "unlink_feature",
    "write_update",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
