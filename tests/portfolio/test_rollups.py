"""Roll-ups follow the documented rules, each selectable; health sits beside progress; the
quality flags find what leaders act on; the change log says what moved."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.errors import InvalidInput
from productops.core.workspace import Workspace
from productops.portfolio.models import Epic, Snapshot, Update
from productops.portfolio.okrs import service as okrs
from productops.portfolio.rollups.service import Filters, Rule, build
from productops.portfolio.updates import service as updates
from tests.portfolio.builders import small_portfolio


def _epic(ws: Workspace, rule: Rule, epic_id: int):  # type: ignore[no-untyped-def]
    with ws.sessions() as s:
        p = build(s, ws, rule, Filters(include_closed=True))
    return next(e for e in p.every_epic() if e.id == epic_id), p


def test_epic_progress_by_count_and_by_points_with_partial_credit(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    # Issues: done 5 pts, in progress 3, to do 2, canceled 8 (out of scope).
    by_count, _ = _epic(workspace, Rule("count"), ids.epic)
    assert by_count.progress == pytest.approx(1 / 3)
    by_points, _ = _epic(workspace, Rule("points"), ids.epic)
    assert by_points.progress == pytest.approx(5 / 10)
    credit, _ = _epic(workspace, Rule("points", 0.25), ids.epic)
    assert credit.progress == pytest.approx((5 + 0.25 * 3) / 10)


def test_key_result_progress_runs_from_start_to_target_either_way() -> None:
    assert okrs.kr_progress(30, 40, 35) == pytest.approx(0.5)
    assert okrs.kr_progress(5, 3, 4) == pytest.approx(0.5)  # lowering churn from 5 to 3
    assert okrs.kr_progress(30, 40, 50) == 1.0 and okrs.kr_progress(30, 40, 20) == 0.0
    assert okrs.kr_progress(30, 40, None) == 0.0


def test_objectives_move_with_key_results_not_with_work_unless_told(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    with transaction(workspace.sessions) as s:
        okrs.add_key_result(s, ids.objective, "Weekly actives", target=100, weight=3, actor="t")
    _, p = _epic(workspace, Rule("points"), ids.epic)
    o = next(o for o in p.every_objective() if o.id == ids.objective)
    assert o.progress == pytest.approx((0.5 * 1 + 0 * 3) / 4)  # work 50% done does not count
    assert o.work_progress == pytest.approx(0.5)
    with transaction(workspace.sessions) as s:
        okrs.update_objective(s, ids.objective, "t", work_weight=4)
    _, p = _epic(workspace, Rule("points"), ids.epic)
    o = next(o for o in p.every_objective() if o.id == ids.objective)
    assert o.progress == pytest.approx((0.5 * 1 + 0 * 3 + 0.5 * 4) / 8)


def test_child_objectives_roll_up_with_their_weights(workspace: Workspace) -> None:
    with transaction(workspace.sessions) as s:
        parent = okrs.create_objective(s, "Company", "2026-Q4", actor="t")
        a = okrs.create_objective(s, "A", "2026-Q4", parent_id=parent.id, weight=1, actor="t")
        b = okrs.create_objective(s, "B", "2026-Q4", parent_id=parent.id, weight=3, actor="t")
        okrs.check_in(s, okrs.add_key_result(s, a.id, "a", target=10, actor="t").id, 10, actor="t")
        okrs.add_key_result(s, b.id, "b", target=10, actor="t")
        with pytest.raises(InvalidInput, match="under itself"):
            okrs.update_objective(s, parent.id, "t", parent_id=b.id)
    with workspace.sessions() as s:
        p = build(s, workspace, Rule("count"))
    top = next(o for o in p.objectives if o.id == parent.id)
    assert top.progress == pytest.approx(0.25)


def test_health_is_the_latest_update_and_goes_stale(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    e, _ = _epic(workspace, Rule("count"), ids.epic)
    assert e.health is not None and e.health.health == "at_risk" and not e.health.stale
    with transaction(workspace.sessions) as s:
        s.execute(update(Update).values(at=utcnow() - dt.timedelta(days=30)))
    e, _ = _epic(workspace, Rule("count"), ids.epic)
    assert e.health is not None and e.health.stale


def test_quality_flags(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    with transaction(workspace.sessions) as s:
        closed = okrs.create_objective(s, "Nothing linked", "2026-Q4", actor="t")
        s.execute(
            update(Epic)
            .where(Epic.id == ids.epic)
            .values(status_category="done", source_updated_at=utcnow() - dt.timedelta(days=90))
        )
        s.execute(
            update(Epic)
            .where(Epic.id == ids.orphan)
            .values(source_updated_at=utcnow() - dt.timedelta(days=90))
        )
    with workspace.sessions() as s:
        p = build(s, workspace, Rule("count"), Filters(include_closed=True))
    epics = {e.id: e for e in p.every_epic()}
    assert "open_children" in epics[ids.epic].flags  # closed with open issues under it
    assert {"no_objective", "stale", "thin_description", "no_owner"} <= set(epics[ids.orphan].flags)
    objs = {o.id: o for o in p.every_objective()}
    assert "no_active_work" in objs[closed.id].flags and "no_owner" in objs[closed.id].flags
    assert "no_active_work" in objs[ids.objective].flags  # its only epic is closed now
    assert objs[ids.objective].key_results[0].flags == []  # checked in this cycle


def test_filters_narrow_what_is_listed_never_the_numbers(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    with workspace.sessions() as s:
        everything = build(s, workspace, Rule("count"))
        growth = build(s, workspace, Rule("count"), Filters(team_id=ids.team))
        flagged = build(s, workspace, Rule("count"), Filters(flag="no_objective"))
    assert [o.progress for o in growth.objectives] == [o.progress for o in everything.objectives]
    assert growth.unlinked_epics == []
    assert [e.id for e in flagged.unlinked_epics] == [ids.orphan]


def test_the_change_log_says_what_moved_since_last_week(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    today = utcnow().date()
    week_ago = today - dt.timedelta(days=7)
    with transaction(workspace.sessions) as s:
        s.execute(update(Snapshot).values(day=week_ago))
        s.execute(update(Epic).where(Epic.id == ids.epic).values(target_date=dt.date(2027, 1, 20)))
        updates.write_update(s, "epic", ids.epic, "off_track", "Slipped", actor="t")
        updates.take_snapshots(workspace, s, today)
    with workspace.sessions() as s:
        start, end, changes = updates.change_log(s)
    assert (start, end) == (week_ago, today)
    kinds = {(c.kind, c.subject_type, c.subject_id) for c in changes}
    assert ("slipped", "epic", ids.epic) in kinds and ("health", "epic", ids.epic) in kinds
    slipped = next(c for c in changes if c.kind == "slipped")
    assert slipped.describe() == "target date slipped from 2026-12-15 to 2027-01-20"
    # One kind of change, one team's work: the leader's "what slipped in Growth".
    with workspace.sessions() as s:
        _, _, only = updates.change_log(s, kind="slipped", team_id=ids.team)
        _, _, other = updates.change_log(s, team_id=ids.team + 1)
        with pytest.raises(InvalidInput, match="'slip' is not a kind of change"):
            updates.change_log(s, kind="slip")
    assert [(c.kind, c.subject_id) for c in only] == [("slipped", ids.epic)]
    assert other == []


def test_reminders_name_owners_with_no_update_this_cycle(workspace: Workspace) -> None:
    ids = small_portfolio(workspace)
    with transaction(workspace.sessions) as s:
        s.execute(update(Epic).where(Epic.id == ids.epic).values(status_category="indeterminate"))
        s.execute(update(Update).values(at=utcnow() - dt.timedelta(days=10)))
    with workspace.sessions() as s:
        due = updates.reminders(workspace, s)
    assert [(r.owner, r.subject_type, r.subject_id) for r in due] == [
        ("Ana", "epic", ids.epic),
        ("Ana", "initiative", ids.initiative),
    ]
