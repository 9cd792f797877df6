"""The insights pages in a real browser (Debian's chromium through Playwright, one served app
and one signed-in editor for the whole module): the SQL page (run, table, chart, CSV, save),
a person's profile (timeline, filtered, paged), an account's profile (people, activity chart)
and a saved insight (saved from the trends explorer, opened by its link). No console error,
no failed request, no dialog from the hostile properties; every Vega chart draws.

Screenshots land in /work/tmp/shots/ (or `PRODUCTOPS_SHOTS`) for a person to look at."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    Request,
    expect,
    sync_playwright,
)

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.models import Role
from productops.core.workspace import Workspace, init_workspace
from productops.web.app import create_app
from tests.analytics.test_profiles import SCRIPT, _fill
from tests.conftest import PASSWORD, make_user, serving
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Watch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]
SHOTS = Path(os.environ.get("PRODUCTOPS_SHOTS", "/work/tmp/shots"))
OCTOBER = "start=2026-10-01&end=2026-10-31"


@dataclass
class Site:
    base_url: str
    ws: Workspace
    context: BrowserContext

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ws = init_workspace(tmp_path_factory.mktemp("insights-browser") / "ws", name="Insights Co")
    _fill(ws)  # acme with ana (120 events, hostile properties) and ben
    _, email = make_user(ws, Role.editor, "insights-editor@example.com")
    try:
        with serving(create_app(ws, start_worker=False)) as base_url, sync_playwright() as pw:
            browser: Browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
            context.set_default_timeout(10_000)
            page = context.new_page()
            page.goto(base_url + "/login")
            page.fill("#email", email)
            page.fill("#password", PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(base_url + "/")
            page.close()
            yield Site(base_url, ws, context)
            browser.close()
    finally:
        store.close_writer(events_file(ws))
        ws.close()


class PageWatch(Watch):
    def _failed(self, request: Request) -> None:
        # A download ends its request in the browser's own way (ERR_ABORTED), not as a failure.
        if request.url.endswith("/insights/sql/export") and "ERR_ABORTED" in str(request.failure):
            return
        super()._failed(request)


@pytest.fixture
def page(site: Site) -> Iterator[tuple[Page, Watch]]:
    watch = PageWatch()
    p = site.context.new_page()
    watch.attach(p)

    def dialog(d: Dialog) -> None:
        watch.problems.append(f"a dialog opened: {d.message}")
        d.dismiss()

    p.on("dialog", dialog)
    yield p, watch
    p.close()
    assert watch.problems == []


def shot(page: Page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def drawn(page: Page, where: str) -> None:
    """The Vega chart under `where` drew its marks."""
    expect(page.locator(f"{where} .chart svg.marks").first).to_be_visible()


def test_the_sql_page_runs_charts_exports_and_saves(site: Site, page: tuple[Page, Watch]) -> None:
    p, _ = page
    p.goto(site.url("/insights/sql"))
    p.fill(
        "#sql-query", "SELECT event, count(*) AS uses FROM events GROUP BY event ORDER BY uses DESC"
    )
    p.click("#sql-run")
    table = p.locator("#sql-result table")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.locator("thead th")).to_have_text(["event", "uses"])
    expect(table.locator("tbody tr").first).to_contain_text("Report Created")
    drawn(p, "#sql-result")
    shot(p, "sql-result")
    with p.expect_download() as got:
        p.get_by_role("button", name="Download CSV").click()
    lines = Path(got.value.path()).read_text().splitlines()
    assert lines[0] == "event,uses" and len(lines) == 5, lines
    p.locator("details.sql-save summary").click()
    p.fill("#sql-title", "Uses by event")
    p.fill("#sql-description", "How often each event is sent")
    p.get_by_role("button", name="Save as new query").click()
    p.wait_for_url(re.compile(r"/insights/sql\?insight=\d+$"))
    expect(p.locator(".saved-list a[aria-current=page]")).to_have_text("Uses by event")
    expect(p.locator("#editor-heading")).to_have_text("Uses by event")
    expect(p.locator("#sql-result tbody tr")).to_have_count(4)  # a saved query opens with its rows
    drawn(p, "#sql-result")
    shot(p, "sql-saved")


def test_a_persons_timeline_is_filtered_and_paged(site: Site, page: tuple[Page, Watch]) -> None:
    p, _ = page
    p.goto(site.url("/insights/people/ana"))
    items = p.locator("#timeline > li:has(time)")
    expect(items).to_have_count(50)
    expect(p.locator("#tl-event option")).to_have_count(5)  # any event + the 4 she did
    shot(p, "person", full_page=False)
    p.select_option("#tl-event", "Report Created")
    p.fill("#tl-prop", "n")
    p.select_option("#tl-op", "gte")
    p.fill("#tl-value", "30")
    p.click("#tl-go")
    p.wait_for_url(re.compile(r"prop=n&op=gte&value=30"))
    # ana's event n is Report Created when n % 3 == 0 and n % 4 != 0
    expect(items).to_have_count(sum(1 for n in range(30, 120) if n % 3 == 0 and n % 4))
    expect(p.locator("#timeline-more")).to_have_count(0)
    p.fill("#tl-prop", "plan")
    p.select_option("#tl-op", "eq")
    p.fill("#tl-value", "free")
    p.select_option("#tl-event", "")
    p.click("#tl-go")
    expect(items).to_have_count(50)
    p.click("#timeline-more a")
    expect(items).to_have_count(60)  # plan free: n 60..119, the older page kept the filter
    expect(p.locator("#timeline-more")).to_have_count(0)
    first = items.first
    first.locator("summary").click()
    expect(first.locator("dd", has_text="alert('timeline')")).to_have_text(SCRIPT)  # as text
    p.locator("#timeline-heading").scroll_into_view_if_needed()
    shot(p, "person-filtered", full_page=False)


def test_an_accounts_profile_lists_people_and_draws_activity(
    site: Site, page: tuple[Page, Watch]
) -> None:
    p, _ = page
    p.goto(site.url("/insights/accounts/acme"))
    people = p.locator("section[aria-labelledby=people-heading] tbody tr")
    expect(people).to_have_count(2)
    expect(people.locator("a")).to_have_text(["ana", "ben"])
    drawn(p, "section[aria-labelledby=activity-heading]")
    shot(p, "account")
    people.locator("a", has_text="ben").click()
    p.wait_for_url(site.url("/insights/people/ben"))
    expect(p.locator("#timeline > li:has(time)")).to_have_count(1)


def test_a_saved_insight_has_its_page_and_share_link(site: Site, page: tuple[Page, Watch]) -> None:
    p, _ = page
    p.goto(site.url(f"/insights/trends?s_event=Report+Created&grain=week&{OCTOBER}"))
    drawn(p, "#explore-result")
    shot(p, "trends")
    p.locator("details.save-insight summary").click()
    p.fill("#save-title", "Reports by week")
    p.fill("#save-description", "Reports created in October <b>not bold</b>")
    p.locator("details.save-insight button[type=submit]").click()
    p.wait_for_url(re.compile(r"/insights/saved/\d+$"))
    insight_url = p.url
    expect(p.locator("h1")).to_have_text("Reports by week")
    description = p.get_by_text("Reports created in October <b>not bold</b>", exact=True)
    expect(description.first).to_be_visible()  # as text: no <b> made of it
    expect(p.locator("main b", has_text="not bold")).to_have_count(0)
    drawn(p, "main")
    share = p.get_by_role("link", name=insight_url)
    expect(share).to_have_attribute("href", insight_url.removeprefix(site.base_url))
    shot(p, "saved-insight")
    p.goto(site.url("/insights/saved"))
    p.get_by_role("link", name="Reports by week").click()
    p.wait_for_url(insight_url)
    p.get_by_role("link", name="open in the explorer").click()
    p.wait_for_url(re.compile(r"/insights/trends\?.*s_event=Report"))
    drawn(p, "#explore-result")
