"""The roadmap pages in a real browser (Debian's chromium through Playwright) over the tiny
demo: charts draw, nothing fails in the console, hostile titles stay text, a viewer sees no
forms that change mappings, and the pages fit a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from productops.core.db import transaction
from productops.portfolio.work import service as work
from tests.test_browser import (  # noqa: F401 - fixtures
    ARTIFACTS,
    CHROMIUM,
    Site,
    Watch,
    browser,
    page,
    sign_in,
    site,
    watch,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]
PAYLOAD = '<img src=x onerror="window.__xss=1">"><script>window.__xss=2</script>'


def test_a_leader_reads_the_portfolio(page: Page, site: Site, watch: Watch) -> None:  # noqa: F811
    with transaction(site.ws.sessions) as s:
        epic = work.create_epic(s, PAYLOAD, description=PAYLOAD, actor="test")
        epic_id = epic.id
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, site, site.admin_email)
    page.goto(site.url("/portfolio"))
    expect(page.get_by_role("heading", name="Portfolio", exact=True)).to_be_visible()
    expect(page.locator(".objective-block").first).to_be_visible()
    expect(page.locator("[data-chart] svg").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "portfolio.png"), full_page=True)
    page.get_by_label("Health").select_option("at_risk")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(lambda url: "health=at_risk" in url)  # type: ignore[arg-type]
    page.goto(site.url("/portfolio/roadmap"))
    for column in ("Now", "Next", "Later"):
        expect(page.get_by_role("heading", name=column)).to_be_visible()
    page.goto(site.url("/portfolio/timeline"))
    expect(page.locator("[data-chart] svg").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "portfolio-timeline.png"), full_page=True)
    page.goto(site.url(f"/portfolio/epics/{epic_id}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("<img src=x")
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert watch.problems == []


def test_a_viewer_reads_but_does_not_change(browser: Browser, site: Site) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 900})
    phone = context.new_page()
    sign_in(phone, site, site.viewer_email)
    phone.goto(site.url("/portfolio/mapping"))
    expect(phone.get_by_text("Viewers can read the rules")).to_be_visible()
    phone.goto(site.url("/portfolio/connections"))
    expect(phone.get_by_text("Connect Jira or Linear")).to_have_count(0)
    for path in ("/portfolio", "/portfolio/roadmap", "/portfolio/flags", "/portfolio/updates"):
        phone.goto(site.url(path))
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    context.close()
