"""Jira Cloud and Server/Data Center syncs against a local stand-in serving real payloads:
paged, incremental and idempotent, every change reflected, and a broken page or a refused
credential leaves the last good state."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from productops.core import secrets
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.errors import BlockedURL
from productops.core.workspace import Workspace
from productops.portfolio.connectors.records import SyncError
from productops.portfolio.models import Connection, Epic, Initiative, Issue, SyncRun
from productops.portfolio.sync import service as sync
from tests.portfolio.fake_sources import (
    JIRA,
    POINTS_FIELD,
    SHARED,
    TOKEN,
    Site,
    jira_issue,
    load,
    serve,
)

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data/portfolio is absent")

ADF = {
    "version": 1,
    "type": "doc",
    "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Why"}]},
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "Speed up "},
                {"type": "text", "text": "imports", "marks": [{"type": "strong"}]},
            ],
        },
        {
            "type": "bulletList",
            "content": [
                {
                    "type": "listItem",
                    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "a"}]}],
                }
            ],
        },
    ],
}


def small_site() -> Site:
    initiative = jira_issue(1, key="PROJ-1", summary="Self-serve growth", level=2)
    epic_a = jira_issue(
        2,
        key="PROJ-2",
        summary="Onboarding checklist",
        level=1,
        parent={"id": "10001", "key": "PROJ-1"},
        description=ADF,
        category="indeterminate",
        labels=["growth"],
        duedate="2026-12-15",
    )
    epic_b = jira_issue(3, key="PROJ-3", summary="Billing revamp", level=1, labels=["billing"])
    stories = [
        jira_issue(10, parent={"id": "10002", "key": "PROJ-2"}, category="done", points=5),
        jira_issue(11, parent={"id": "10002", "key": "PROJ-2"}, category="indeterminate", points=3),
        jira_issue(12, parent={"id": "10002", "key": "PROJ-2"}, points=2),
        jira_issue(13, parent={"id": "10003", "key": "PROJ-3"}, points=None),
        jira_issue(14, parent={"id": "10003", "key": "PROJ-3"}, category="done", points=8),
    ]
    subtask = jira_issue(20, level=-1, parent={"id": "10010", "key": "PROJ-10"}, points=None)
    return Site(jira_issues=[initiative, epic_a, epic_b, *stories, subtask], page_cap=3)


def connect(ws: Workspace, url: str, kind: str = "jira", name: str = "acme") -> int:
    with transaction(ws.sessions) as s:
        row = sync.connect(
            ws,
            s,
            name=name,
            kind=kind,
            url=url,
            token=TOKEN,
            username="bot@example.com" if kind == "jira" else "",
            scope="project = PROJ",
            actor="test",
        )
        return row.id


def counts(ws: Workspace) -> tuple[int, int, int]:
    with ws.sessions() as s:
        return (
            s.scalar(select(func.count(Initiative.id))) or 0,
            s.scalar(select(func.count(Epic.id))) or 0,
            s.scalar(select(func.count(Issue.id))) or 0,
        )


def test_jira_cloud_sync_pages_with_next_page_token_and_builds_the_tree(pws: Workspace) -> None:
    site = small_site()
    with serve(site) as url:
        cid = connect(pws, url)
        outcome = sync.sync(pws, cid)
    assert counts(pws) == (1, 2, 6)
    searches = [r for r in site.requests if r[1].startswith("/rest/api/3/search")]
    assert {r[1] for r in searches} == {"/rest/api/3/search/jql"}  # never the removed /search
    assert len(searches) == 3  # 9 issues, 3 a page
    assert searches[1][2]["nextPageToken"] == "3"
    assert outcome.report.created == 9 and outcome.report.deleted == 0
    with pws.sessions() as s:
        conn = s.get(Connection, cid)
        assert conn is not None and conn.story_points_field == POINTS_FIELD
        onboarding = s.scalar(select(Epic).where(Epic.key == "PROJ-2"))
        assert onboarding is not None
        initiative = s.scalar(select(Initiative).where(Initiative.key == "PROJ-1"))
        assert onboarding.initiative_id == initiative.id and onboarding.initiative_by == "parent"
        assert onboarding.description == "## Why\n\nSpeed up **imports**\n\n- a"
        assert onboarding.status_category == "indeterminate"
        assert str(onboarding.target_date) == "2026-12-15"
        points = {r[0]: r[1] for r in s.execute(select(Issue.key, Issue.story_points))}
        assert points["PROJ-10"] == 5 and points["PROJ-13"] is None
        sub = s.scalar(select(Issue).where(Issue.key == "PROJ-20"))
        assert sub is not None and sub.epic_id == onboarding.id  # a sub-task counts under its epic


def test_syncing_again_changes_nothing_and_duplicates_nothing(pws: Workspace) -> None:
    site = small_site()
    with serve(site) as url:
        cid = connect(pws, url)
        sync.sync(pws, cid)
        again = sync.sync(pws, cid, full=True)
        incremental = sync.sync(pws, cid)
    assert counts(pws) == (1, 2, 6)
    for outcome in (again, incremental):
        r = outcome.report
        assert (r.created, r.updated, r.deleted, r.moved) == (0, 0, 0, 0)


def test_incremental_sync_reflects_changes_deletions_and_moves(pws: Workspace) -> None:
    site = small_site()
    with serve(site) as url:
        cid = connect(pws, url)
        sync.sync(pws, cid)
        newer = (utcnow() + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        by_key = {i["key"]: i for i in site.jira_issues}
        by_key["PROJ-12"]["fields"].update(
            {"status": {"name": "Done", "statusCategory": {"key": "done"}}, "updated": newer}
        )
        by_key["PROJ-11"]["fields"].update(
            {"parent": {"id": "10003", "key": "PROJ-3"}, "updated": newer}
        )
        site.jira_issues.remove(by_key["PROJ-14"])
        site.requests.clear()
        outcome = sync.sync(pws, cid)
    r = outcome.report
    assert (r.created, r.updated, r.deleted, r.moved) == (0, 2, 1, 1)
    assert r.samples["moved"] == ["PROJ-11"] and r.samples["deleted"] == ["PROJ-14"]
    jqls = [body["jql"] for _, path, body in site.requests if path.endswith("/search/jql")]
    assert any('updated >= "' in j for j in jqls)  # only what changed was read in full
    with pws.sessions() as s:
        billing = s.scalar(select(Epic.id).where(Epic.key == "PROJ-3"))
        assert s.scalar(select(Issue.epic_id).where(Issue.key == "PROJ-11")) == billing
        assert s.scalar(select(Issue.status_category).where(Issue.key == "PROJ-12")) == "done"
        assert s.scalar(select(Issue.id).where(Issue.key == "PROJ-14")) is None


def test_real_jira_cli_pages_follow_the_cursor(pws: Workspace) -> None:
    site = Site(fixture_pages=True, fields=load(JIRA / "jiracli_fields.json"))
    with serve(site) as url:
        cid = connect(pws, url)
        sync.sync(pws, cid)
    with pws.sessions() as s:
        epics = s.scalars(select(Epic)).all()
        assert [(e.key, e.labels, e.owner_name) for e in epics] == [
            ("TEST-4", ["roadmap"], "Person B")
        ]
        issues = {r[0]: r[1] for r in s.execute(select(Issue.key, Issue.status_category))}
        assert issues == {"TEST-1": "new", "TEST-2": "indeterminate"}
        # "Original story points" (Advanced Roadmaps) is not the story-points field.
        assert s.get(Connection, cid).story_points_field is None  # type: ignore[union-attr]
    assert site.requests[-1][2]["nextPageToken"] == "token-page-2"


def test_a_real_cloud_epic_is_read_with_its_category_labels_and_components(pws: Workspace) -> None:
    raw = load(JIRA / "airbyte_source-jira_issues_v3.json")["issues"][0]
    for extra in ("projectId", "projectKey", "created", "updated"):
        raw.pop(extra, None)  # Airbyte's additions, not Jira's
    site = Site(jira_issues=[raw])
    with serve(site) as url:
        sync.sync(pws, connect(pws, url))
    with pws.sessions() as s:
        epic = s.scalars(select(Epic)).one()
        assert (epic.key, epic.title, epic.status_category) == ("TESTKEY13-1", "My Summary", "new")
        assert epic.labels == ["test"] and epic.components == ["Component 0"]
        assert epic.description == "Test issue" and epic.owner_name == "integration test"


def test_rate_limits_are_waited_out(pws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    site = small_site()
    site.rate_limit, site.retry_after = 2, "7"
    waits: list[float] = []
    with serve(site) as url:
        cid = connect(pws, url)
        sync.sync(pws, cid, sleep=waits.append)
    assert waits == [7.0, 7.0]
    assert counts(pws) == (1, 2, 6)


def test_a_long_rate_limit_stops_the_sync_by_name(pws: Workspace) -> None:
    site = small_site()
    site.rate_limit, site.retry_after = 1, "3600"
    with serve(site) as url:
        cid = connect(pws, url)
        with pytest.raises(SyncError, match="rate limited for 3600 s"):
            sync.sync(pws, cid, sleep=lambda s: None)
    assert counts(pws) == (0, 0, 0)


def test_server_errors_are_retried_with_a_growing_pause(pws: Workspace) -> None:
    site = small_site()
    site.failures = [503, 502, 504]
    waits: list[float] = []
    with serve(site) as url:
        cid = connect(pws, url)
        outcome = sync.sync(pws, cid, sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]
    assert counts(pws) == (1, 2, 6) and outcome.report.created == 9


def test_a_server_that_keeps_failing_stops_the_sync_and_keeps_the_last_good_state(
    pws: Workspace,
) -> None:
    site = small_site()
    with serve(site) as url:
        cid = connect(pws, url)
        sync.sync(pws, cid)
        site.jira_issues.pop()  # would be deleted
        site.failures = [503] * 10
        with pytest.raises(SyncError, match=r"still failing \(503\) after 5 retries"):
            sync.sync(pws, cid, full=True, sleep=lambda s: None)
        site.failures = [500]
        with pytest.raises(SyncError, match="answered 500"):
            sync.sync(pws, cid, full=True, sleep=lambda s: None)
    assert counts(pws) == (1, 2, 6)
    with pws.sessions() as s:
        runs = s.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [r.status for r in runs] == ["succeeded", "failed", "failed"]


def test_a_malformed_page_stops_the_sync_and_keeps_the_last_good_state(pws: Workspace) -> None:
    site = small_site()
    with serve(site) as url:
        cid = connect(pws, url)
        sync.sync(pws, cid)
        site.jira_issues.pop()  # would be deleted
        site.malformed_page = 2
        with pytest.raises(SyncError, match=r"page 2 of the search, issue 1 \(BROKEN-1\)"):
            sync.sync(pws, cid, full=True)
    assert counts(pws) == (1, 2, 6)
    with pws.sessions() as s:
        runs = s.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [r.status for r in runs] == ["succeeded", "failed"]
        assert "BROKEN-1" in (runs[1].error or "")


def test_a_refused_token_is_named(pws: Workspace) -> None:
    site = small_site()
    with serve(site) as url:
        with transaction(pws.sessions) as s:
            cid = sync.connect(
                pws,
                s,
                name="x",
                kind="jira",
                url=url,
                token="wrong",
                username="a@b.c",
                scope="project = X",
                actor="t",
            ).id
        with pytest.raises(SyncError, match=r"Jira refused the credentials \(401\)"):
            sync.sync(pws, cid)


def test_jira_data_center_pages_with_start_at_and_reads_wiki_markup(pws: Workspace) -> None:
    fields = [
        *load(JIRA / "jiracli_fields.json"),
        {
            "id": "customfield_10100",
            "name": "Epic Link",
            "custom": True,
            "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link"},
        },
        {
            "id": "customfield_10106",
            "name": "Story Points",
            "custom": True,
            "schema": {
                "type": "number",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float",
            },
        },
    ]
    epic = jira_issue(1, key="DC-1", level=1, summary="Mobile offline mode")
    epic["fields"]["description"] = "h2. Goal\n*Offline* first\n* sync queue\n* conflicts"
    stories = []
    for n in range(2, 7):
        story = jira_issue(n, key=f"DC-{n}", points=None)
        story["fields"]["customfield_10100"] = "DC-1"
        story["fields"]["customfield_10106"] = 2
        stories.append(story)
    site = Site(jira_issues=[epic, *stories], fields=fields, page_cap=2)
    with serve(site) as url:
        cid = connect(pws, url, kind="jira-dc")
        sync.sync(pws, cid)
    searches = [b for _, p, b in site.requests if p == "/rest/api/2/search"]
    assert [b["startAt"] for b in searches] == [0, 2, 4]
    with pws.sessions() as s:
        e = s.scalars(select(Epic)).one()
        assert e.description == "## Goal\n**Offline** first\n- sync queue\n- conflicts"
        assert s.scalar(select(func.count(Issue.id)).where(Issue.epic_id == e.id)) == 5
        assert s.scalar(select(func.sum(Issue.story_points))) == 10


def test_a_truncated_page_from_data_center_is_named(pws: Workspace) -> None:
    site = Site(jira_issues=[jira_issue(n) for n in range(1, 6)], page_cap=2, malformed_page=2)
    with serve(site) as url:
        cid = connect(pws, url, kind="jira-dc")
        with pytest.raises(SyncError, match="page 2 of the search is not JSON"):
            sync.sync(pws, cid)
    assert counts(pws) == (0, 0, 0)


def test_the_token_is_encrypted_at_rest(pws: Workspace) -> None:
    with serve(small_site()) as url:
        cid = connect(pws, url)
        with pws.sessions() as s:
            row = s.get(Connection, cid)
            assert row is not None and TOKEN not in row.token_encrypted
            assert secrets.decrypt(pws, row.token_encrypted) == TOKEN
            assert sync.test_connection(pws, s, cid) == "Sync Bot"


def test_the_outbound_guard_refuses_loopback_unless_allowed(workspace: Workspace) -> None:
    # `workspace` has no outbound_allow_hosts: 127.0.0.1 is refused at save and at send.
    with (
        serve(small_site()) as url,
        transaction(workspace.sessions) as s,
        pytest.raises(BlockedURL, match="loopback"),
    ):
        sync.connect(workspace, s, name="x", kind="jira-dc", url=url, token=TOKEN, actor="t")
    targets = (SHARED.parent / "security" / "ssrf_targets.txt").read_text().splitlines()
    with transaction(workspace.sessions) as s:
        for target in filter(None, targets):
            with pytest.raises(BlockedURL):
                sync.connect(
                    workspace, s, name="y", kind="jira-dc", url=target, token=TOKEN, actor="t"
                )


def test_a_url_allowed_at_save_is_checked_again_at_send(pws: Workspace) -> None:
    site = small_site()
    with serve(site) as url:
        cid = connect(pws, url, kind="jira-dc")
    pws.settings.outbound_allow_hosts = []
    with pytest.raises(BlockedURL, match="loopback"):
        sync.sync(pws, cid)


def _issue_json(issue: dict[str, Any]) -> str:
    return json.dumps(issue)


def test_a_scheduled_sync_runs_as_a_job_when_due_and_reports(pws: Workspace) -> None:
    from productops.core import jobs

    site = small_site()
    with serve(site) as url:
        cid = connect(pws, url)
        with transaction(pws.sessions) as s:
            nxt = sync.schedule_sync(s, cid, 6, "test")
        assert nxt is not None
        assert jobs.enqueue_due(pws, now=utcnow()) == []  # not due yet
        queued = jobs.enqueue_due(pws, now=nxt + dt.timedelta(seconds=1))
        with pws.sessions() as s:
            kinds = {jobs.get_job(s, j).kind: j for j in queued}
        # The sync, and the daily refresh a connection brings (snapshots for the change log).
        assert set(kinds) == {"portfolio.sync", "portfolio.refresh_metrics"}
        # While that run waits, the next due time queues nothing more.
        assert jobs.enqueue_due(pws, now=nxt + dt.timedelta(hours=6, seconds=2)) == []
        assert jobs.run_pending(pws) == 2
    with pws.sessions() as s:
        job = jobs.get_job(s, kinds["portfolio.sync"])
        assert job.status == "succeeded", job.error
        assert job.created_by == f"schedule:{sync.schedule_name(cid)}"
        assert job.result is not None and job.result["created"] == 9
        run = s.scalars(select(SyncRun)).one()
        assert run.job_id == job.id and run.status == "succeeded"
        assert run.report is not None
        assert {"created", "updated", "deleted", "moved", "unmapped"} <= set(run.report)
        daily = jobs.get_job(s, kinds["portfolio.refresh_metrics"])
        assert daily.status == "succeeded" and daily.result is not None
        assert "snapshots" in daily.result
    assert counts(pws) == (1, 2, 6)
