"""The demo roadmap has the promised shape, the public API is what `__all__` says, and the
command line connects (token from the environment, never an argument), syncs as a job and
imports exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from productops import portfolio
from productops.cli import app as cli
from productops.core.demo import DemoScale, build_demo
from productops.core.models import Team
from productops.core.workspace import Workspace, init_workspace
from productops.portfolio.models import Connection, Epic, Issue, KeyResult, Objective, Snapshot
from productops.portfolio.rollups.service import Filters, Rule, build
from productops.portfolio.updates.service import change_log
from tests.portfolio.fake_sources import SHARED, TOKEN, serve
from tests.portfolio.test_sync_jira import small_site


def test_the_public_api_is_what_all_names() -> None:
    for name in portfolio.__all__:
        assert getattr(portfolio, name) is not None


def test_the_demo_roadmap_has_the_promised_shape(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    build_demo(ws, scale=DemoScale.named("tiny"))
    with ws.sessions() as s:
        assert s.scalar(select(func.count(Team.id))) == 6
        assert 280 <= (s.scalar(select(func.count(Epic.id))) or 0) <= 320
        assert (s.scalar(select(func.count(Issue.id))) or 0) > 3000
        assert s.scalar(select(func.count(Issue.id)).where(Issue.story_points.is_not(None)))
        assert len(set(s.scalars(select(Objective.period)))) == 2
        assert s.scalar(select(func.count(KeyResult.id)).where(KeyResult.metric.is_not(None)))
        assert len(set(s.scalars(select(Snapshot.day)))) >= 12
        p = build(s, ws, Rule.of(ws), Filters())
        flags = p.flag_counts()
        for flag in ("no_objective", "stale", "thin_description", "no_owner", "no_checkin"):
            assert flags.get(flag), flag
        _, _, moved = change_log(s)
        kinds = {c.kind for c in moved}
        assert {"slipped", "scope_added", "health"} <= kinds
    ws.close()


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data/portfolio is absent")
def test_cli_connects_with_a_token_from_the_environment_and_syncs(
    pws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    site = small_site()
    with serve(site) as url:
        monkeypatch.setenv("PRODUCTOPS_PORTFOLIO_TOKEN", TOKEN)
        r = runner.invoke(
            cli,
            [
                "portfolio",
                "connect",
                str(pws.path),
                "jira",
                "--url",
                url,
                "--email",
                "a@b.c",
                "--jql",
                "project = PROJ",
                "--name",
                "acme",
                "--json",
            ],
        )
        assert r.exit_code == 0, r.output
        assert TOKEN not in r.output
        r = runner.invoke(cli, ["portfolio", "sync", str(pws.path), "--json"])
        assert r.exit_code == 0, r.output
        report = json.loads(r.output[r.output.index("{") :])["acme"]
        assert report["created"] == 9 and report["deleted"] == 0
        r = runner.invoke(cli, ["portfolio", "schedule", str(pws.path), "acme", "--every", "6"])
        assert r.exit_code == 0 and "every 6 h" in r.output
    with pws.sessions() as s:
        row = s.scalar(select(Connection).where(Connection.name == "acme"))
        assert row is not None and TOKEN not in row.token_encrypted


def test_cli_asks_for_the_token_when_none_is_in_the_environment(
    sqlite_workspace: Workspace,
) -> None:
    r = CliRunner().invoke(
        cli,
        ["portfolio", "connect", str(sqlite_workspace.path), "linear", "--name", "lin"],
        input="lin_api_typed_secret\n",
        env={"PRODUCTOPS_PORTFOLIO_TOKEN": ""},
    )
    assert r.exit_code == 0, r.output
    assert "lin_api_typed_secret" not in r.output
    r = CliRunner().invoke(cli, ["portfolio", "connections", str(sqlite_workspace.path), "--json"])
    assert "lin_api_typed_secret" not in r.output and '"lin"' in r.output


def test_cli_imports_an_export_and_names_bad_rows(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    good = tmp_path / "jira.csv"
    good.write_text("Summary,Issue key,Issue Type,Status\nShip it,A-1,Epic,In Progress\n")
    r = CliRunner().invoke(cli, ["portfolio", "import", str(sqlite_workspace.path), str(good)])
    assert r.exit_code == 0 and "1 created" in r.output, r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("Summary,Issue key,Created\nX,A-2,31/Foo/24 10:00\n")
    r = CliRunner().invoke(cli, ["portfolio", "import", str(sqlite_workspace.path), str(bad)])
    assert r.exit_code == 1 and "bad.csv: row 2, column 'Created'" in r.output
