"""The demo company: deterministic, realistic in shape, and extendable by each pillar."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from productops.analytics.settings import events_file
from productops.cli import app as cli
from productops.core import demo
from productops.core.models import Team, TeamMember, User
from productops.core.workspace import Workspace, init_workspace
from productops.customers.models import Account, Person

ANCHOR = dt.date(2026, 11, 1)


def _accounts(ws: Workspace) -> list[tuple[object, ...]]:
    with ws.sessions() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    Account.name, Account.plan, Account.segment, Account.region, Account.arr
                ).order_by(Account.id)
            )
        ]


def test_same_seed_gives_the_same_company(tmp_path: Path) -> None:
    a = init_workspace(tmp_path / "a")
    b = init_workspace(tmp_path / "b")
    for ws in (a, b):
        demo.build_demo(ws, seed=11, anchor=ANCHOR, scale=demo.DemoScale.named("tiny"))
    assert _accounts(a) == _accounts(b)
    c = init_workspace(tmp_path / "c")
    demo.build_demo(c, seed=12, anchor=ANCHOR, scale=demo.DemoScale.named("tiny"))
    assert _accounts(a) != _accounts(c)
    for ws in (a, b, c):
        ws.close()


def test_demo_company_has_the_promised_shape(workspace: Workspace) -> None:
    scale = demo.DemoScale(accounts=300, people=6_000, pms=12)
    progress: list[int] = []
    demo.build_demo(
        workspace,
        seed=7,
        anchor=ANCHOR,
        scale=scale,
        progress=lambda done, total, message: progress.append(done),
    )
    with workspace.sessions() as s:
        assert s.scalar(select(func.count(Account.id))) == 300
        assert s.scalar(select(func.count(Person.id))) == 6_000
        # every account has someone; enterprise accounts are bigger and pay more
        assert s.scalar(select(func.count(Account.id)).where(~Account.people.any())) == 0
        arr = dict(
            s.execute(
                select(Account.segment, func.avg(Account.arr)).group_by(Account.segment)
            ).all()
        )
        assert arr["Enterprise"] > arr["Mid-Market"] > arr["SMB"]
        free = s.scalar(select(func.max(Account.arr)).where(Account.plan == "free"))
        assert free == 0
        assert s.scalar(select(func.count(Team.id))) == 6
        assert s.scalar(select(func.count()).select_from(TeamMember)) == 12
        assert s.scalar(select(func.count(User.id))) == 15
        latest = s.scalar(select(func.max(Person.created_at)))
        assert latest is not None and latest.date() <= ANCHOR
    assert (
        progress == sorted(progress)
        and progress[-1] == sum(st.weight for st in demo.steps()) * 1000
    )


def test_full_demo_size_is_a_real_company() -> None:
    full = demo.DemoScale.named("full")
    assert (full.accounts, full.people) == (2_000, 50_000)


def test_a_pillar_adds_its_data_with_a_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    @demo.demo_step("zz.pillar", "A later pillar", after=("customers.people",))
    def _pillar(ctx: demo.DemoContext) -> dict[str, int]:
        seen.append(f"{ctx.data['people']} people ready")
        return {"made": 1}

    try:
        names = [s.name for s in demo.steps()]
        assert names.index("zz.pillar") > names.index("customers.people")
        ws = init_workspace(tmp_path / "w")
        result = demo.build_demo(ws, seed=1, anchor=ANCHOR, scale=demo.DemoScale.named("tiny"))
        assert result.steps["zz.pillar"] == {"made": 1} and seen == ["600 people ready"]
        ws.close()
    finally:
        demo._STEPS.pop("zz.pillar", None)


def test_demo_command_builds_once_and_prints_fresh_credentials(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "demo"
    r1 = runner.invoke(cli, ["demo", str(target), "--no-serve", "--size", "tiny", "--json"])
    assert r1.exit_code == 0, r1.output
    r2 = runner.invoke(cli, ["demo", str(target), "--no-serve", "--size", "tiny", "--json"])
    assert r2.exit_code == 0, r2.output
    import json

    first, second = json.loads(r1.stdout), json.loads(r2.stdout)
    assert first["email"] == second["email"] and first["password"] != second["password"]
    from productops.core import auth
    from productops.core.workspace import open_workspace

    ws = open_workspace(target)
    with ws.sessions() as s:
        assert s.scalar(select(func.count(Account.id))) == 40  # not built twice
        auth.authenticate(s, second["email"], second["password"])
    ws.close()


def test_an_unfinished_demo_is_not_taken_for_a_built_one(tmp_path: Path) -> None:
    from productops.core import auth as core_auth
    from productops.core.db import transaction

    ws = init_workspace(tmp_path / "half")
    with transaction(ws.sessions) as s:  # as if a build stopped after creating users
        core_auth.create_user(s, "admin@demo.productops.dev", "A", "x" * 12, "admin")
    ws.close()
    r = CliRunner().invoke(cli, ["demo", str(tmp_path / "half"), "--no-serve", "--size", "tiny"])
    assert r.exit_code == 1
    assert "unfinished demo build" in r.output


def test_demo_events_have_real_shapes(sqlite_workspace: Workspace) -> None:
    from productops.analytics import store

    demo.build_demo(sqlite_workspace, seed=5, anchor=ANCHOR, scale=demo.DemoScale.named("tiny"))
    store.follow_customers(sqlite_workspace)  # what every analysis does before it reads
    with store.reader(events_file(sqlite_workspace)) as con:
        total, first, last = con.execute("SELECT count(*), min(ts), max(ts) FROM events").fetchone()
        assert total > 20_000
        assert (last - first).days >= 180 and last.date() < ANCHOR
        weekday, weekend = con.execute(
            "SELECT count(*) FILTER (WHERE isodow(ts) <= 5) / 5, "
            "count(*) FILTER (WHERE isodow(ts) > 5) / 2 FROM events"
        ).fetchone()
        assert weekend < 0.5 * weekday  # weekly seasonality
        adoption = dict(
            con.execute(
                """SELECT a.properties->>'plan',
                      count(DISTINCT e.person_id) FILTER (WHERE e.event = 'Report Created')
                      / count(DISTINCT e.person_id)
               FROM events_resolved e JOIN persons p USING (person_id)
               JOIN accounts a ON a.account_id = p.account_id GROUP BY 1"""
            ).fetchall()
        )
        assert adoption["enterprise"] > adoption["free"]  # features differ by plan
        merged = con.execute(
            "SELECT count(DISTINCT person_id) FROM events_resolved WHERE event IN "
            "('Landing Page Viewed', 'Signed Up')"
        ).fetchone()[0]
        signups = con.execute("SELECT count(*) FROM events WHERE event = 'Signed Up'").fetchone()[0]
        assert signups > 0 and merged == signups  # anonymous visits count as the same person
