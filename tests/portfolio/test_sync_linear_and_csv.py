"""Linear (GraphQL with cursors) and the CSV exports of Jira and Linear: read into the same
model, idempotent, and bad input named by row and column with nothing written."""

from __future__ import annotations

import codecs

import pytest
from sqlalchemy import func, select

from productops.core.csvfile import CsvError
from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.portfolio.connectors.jira_csv import JiraDates
from productops.portfolio.connectors.records import SyncError
from productops.portfolio.models import Epic, Initiative, Issue, Update
from productops.portfolio.sync import service as sync
from tests.portfolio.fake_sources import LINEAR, SHARED, TOKEN, Site, linear_fixture_site, serve

# The Linear tests read Linear's responses and CSV header from shared/data (absent in CI's
# clone); the Jira CSV tests carry their own data and always run.
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data/portfolio is absent")


def _linear(ws: Workspace, url: str) -> int:
    with transaction(ws.sessions) as s:
        return sync.connect(ws, s, name="linear", kind="linear", url=url, token=TOKEN, actor="t").id


@needs_shared
def test_linear_sync_reads_initiatives_projects_issues_and_updates(
    pws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        pws.settings, "portfolio", pws.settings.portfolio.model_copy(update={"page_size": 1})
    )  # type: ignore[attr-defined]
    site = Site(linear=linear_fixture_site())
    with serve(site) as url:
        cid = _linear(pws, url)
        first = sync.sync(pws, cid)
        again = sync.sync(pws, cid)
    graphql = [b for _, p, b in site.requests if p == "/graphql"]
    assert any(b["variables"]["after"] == "1" for b in graphql)  # cursor paging
    assert first.report.created == 7 and first.report.updates == 2
    assert (again.report.created, again.report.updated, again.report.updates) == (0, 0, 0)
    with pws.sessions() as s:
        voc = s.scalar(select(Initiative).where(Initiative.title == "Voice of the customer, H2"))
        assert voc is not None and voc.status_category == "indeterminate"
        reviews = s.scalar(select(Epic).where(Epic.title == "Reviews Importer"))
        assert reviews is not None and reviews.initiative_id == voc.id
        assert (reviews.owner_name, str(reviews.target_date)) == ("Ana Silva", "2024-06-28")
        health = s.scalars(
            select(Update.health).where(Update.subject_id == reviews.id).order_by(Update.at)
        ).all()
        assert health == ["on_track", "at_risk"]
        cats = {r[0]: r[1] for r in s.execute(select(Issue.key, Issue.status_category))}
        assert cats["ENG-142"] == "indeterminate"
        assert "canceled" in cats.values() and "new" in cats.values()
        eng142 = s.scalar(select(Issue).where(Issue.key == "ENG-142"))
        assert eng142 is not None and eng142.epic_id == reviews.id and eng142.story_points == 3


@needs_shared
def test_linear_reflects_deleted_and_moved_issues(pws: Workspace) -> None:
    site = Site(linear=linear_fixture_site())
    with serve(site) as url:
        cid = _linear(pws, url)
        sync.sync(pws, cid)
        issues = {n["identifier"]: n for n in site.linear["issues"]}
        gong = site.linear["projects"][1]
        issues["ENG-142"]["project"] = {"id": gong["id"], "name": gong["name"]}
        site.linear["issues"].remove(issues["ENG-98"])
        outcome = sync.sync(pws, cid)
    r = outcome.report
    assert (r.created, r.deleted, r.moved) == (0, 1, 1)
    assert r.samples["moved"] == ["ENG-142"] and r.samples["deleted"] == ["ENG-98"]
    with pws.sessions() as s:
        gong_epic = s.scalar(select(Epic.id).where(Epic.title == "Gong call insights"))
        assert s.scalar(select(Issue.epic_id).where(Issue.key == "ENG-142")) == gong_epic
        assert s.scalar(select(Issue.id).where(Issue.key == "ENG-98")) is None


@needs_shared
def test_linear_rate_limits_are_waited_out_until_their_reset(pws: Workspace) -> None:
    site = Site(linear=linear_fixture_site(), linear_rate_limit=2, linear_reset_in=3.0)
    waits: list[float] = []
    with serve(site) as url:
        cid = _linear(pws, url)
        outcome = sync.sync(pws, cid, sleep=waits.append)
    assert len(waits) == 2 and all(1.5 < w <= 3.0 for w in waits), waits
    assert outcome.report.created == 7


@needs_shared
def test_a_malformed_linear_page_stops_the_sync(pws: Workspace) -> None:
    site = Site(linear=linear_fixture_site(), malformed_page=1)
    with serve(site) as url:
        cid = _linear(pws, url)
        with pytest.raises(SyncError, match=r"Linear: page 1 of the issues, node 1 \(x\)"):
            sync.sync(pws, cid)
    with pws.sessions() as s:
        assert s.scalar(select(func.count(Epic.id))) == 0


JIRA_CSV = (
    "Summary,Issue key,Issue id,Issue Type,Status,Assignee,Created,Updated,Resolved,Due date,"
    "Labels,Labels,Component/s,Custom field (Story Points),Custom field (Epic Link),Description,"
    "Parent id\r\n"
    "Checkout redesign,SHOP-1,100,Epic,In Progress,Ana Silva,03/Dez/24 2:05 PM,"
    '10/Dez/24 9:00 AM,,31/Jan/25,growth,q1,Web,,,"h2. Why\n*Faster* checkout\n* one page",\r\n'
    '"Pay with, Apple Pay",SHOP-2,101,Story,Done,Raj Patel,04/Dez/24 10:00 AM,'
    "05/Dez/24 11:30 AM,05/Dez/24 11:30 AM,,,,,5,SHOP-1,,\r\n"
    '=HYPERLINK("http://x"),SHOP-3,102,Story,To Do,,04/Dez/24 10:00 AM,'
    "04/Dez/24 10:00 AM,,,,,,3,,,100\r\n"
)


def test_a_jira_csv_export_is_read_with_its_quirks(pws: Workspace) -> None:
    data = codecs.BOM_UTF8 + JIRA_CSV.encode()
    outcome = sync.import_file(
        pws, data, kind="jira", connection="jira export", name="x.csv", actor="t"
    )
    assert outcome.report.created == 3
    with pws.sessions() as s:
        epic = s.scalars(select(Epic)).one()
        assert epic.labels == ["growth", "q1"] and epic.components == ["Web"]
        assert epic.description == "## Why\n**Faster** checkout\n- one page"
        assert str(epic.target_date) == "2025-01-31"
        assert epic.source_created_at is not None and epic.source_created_at.hour == 14
        issues = {i.key: i for i in s.scalars(select(Issue))}
        assert issues["SHOP-2"].title == "Pay with, Apple Pay"
        assert issues["SHOP-2"].epic_id == epic.id and issues["SHOP-2"].story_points == 5
        assert issues["SHOP-3"].epic_id == epic.id  # by the parent id column
        assert issues["SHOP-3"].title == '=HYPERLINK("http://x")'  # stored as text
    again = sync.import_file(pws, data, kind="jira", connection="jira export", actor="t")
    assert (again.report.created, again.report.updated, again.report.deleted) == (0, 0, 0)
    shorter = codecs.BOM_UTF8 + JIRA_CSV.rsplit("\r\n", 2)[0].encode() + b"\r\n"
    removed = sync.import_file(pws, shorter, kind="jira", connection="jira export", actor="t")
    assert removed.report.deleted == 1


def test_a_bad_date_in_a_jira_csv_is_named_and_nothing_is_written(pws: Workspace) -> None:
    bad = JIRA_CSV.replace("04/Dez/24 10:00 AM", "31/Foo/24 10:00", 1)
    with pytest.raises(CsvError, match=r"bad.csv: row 5, column 'Created': '31/Foo/24 10:00'"):
        sync.import_file(pws, bad.encode(), kind="jira", connection="j", name="bad.csv", actor="t")
    with pws.sessions() as s:
        assert s.scalar(select(func.count(Issue.id))) == 0


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("03/Dec/20 2:05 PM", "auto", "2020-12-03T14:05"),
        ("03.12.2020 14:05", "auto", "2020-12-03T14:05"),
        ("12/03/2020 02:05 PM", "mdy", "2020-12-03T14:05"),
        ("2020-12-03 14:05", "auto", "2020-12-03T14:05"),
        ("03/déc./20 14:05", "auto", "2020-12-03T14:05"),
        ("03/Dez/20 12:05 AM", "auto", "2020-12-03T00:05"),
    ],
)
def test_jira_dates_in_the_exporting_locale(text: str, order: str, expected: str) -> None:
    parsed = JiraDates(order).parse(text)
    assert parsed is not None and parsed.isoformat()[:16] == expected


def test_numeric_dates_are_read_as_the_file_shows() -> None:
    dates = JiraDates("auto")
    dates.settle(["12/03/2020 10:00", "12/25/2020 10:00"])  # a 25th month cannot be
    assert dates.order == "mdy"


@needs_shared
def test_a_linear_csv_export_loses_its_formula_guard(pws: Workspace) -> None:
    header = (LINEAR / "linear_csv_export_header.csv").read_text().strip()
    rows = [
        "ENG-1,Engineering,'=1+1 looks like a formula,'-leading dash,In Progress,3,High,"
        'Reviews Importer,Raj,Ana,"bug, \'@mention",18,,,,2024-05-02T09:20:11.512Z,'
        "2024-05-08T16:03:44.090Z,2024-05-06T08:00:02.114Z,,,,,",
        "ENG-2,Engineering,Second,,Done,2,Low,Reviews Importer,Raj,,,,,,,"
        "2024-05-02T09:20:11.512Z,2024-05-08T16:03:44.090Z,,2024-05-07T08:00:00.000Z,,,,",
    ]
    data = ("\n".join([header, *rows]) + "\n").encode()
    sync.import_file(pws, data, kind="linear", connection="linear export", actor="t")
    with pws.sessions() as s:
        issues = {i.key: i for i in s.scalars(select(Issue))}
        assert issues["ENG-1"].title == "=1+1 looks like a formula"
        assert issues["ENG-1"].status_category == "indeterminate"
        assert issues["ENG-2"].status_category == "done"
        epic = s.scalars(select(Epic)).one()
        assert epic.title == "Reviews Importer" and epic.status_category == "indeterminate"
        assert issues["ENG-1"].epic_id == epic.id
