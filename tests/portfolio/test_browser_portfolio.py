"""The roadmap pages in a real browser (Debian's chromium through Playwright) over the tiny
demo: charts draw, nothing fails in the console, hostile titles stay text, a viewer sees no
forms that change mappings, and the pages fit a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from productops.core import jobs
from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import init_workspace
from productops.portfolio.work import service as work
from productops.web.app import create_app
from tests.conftest import make_user, serving
from tests.test_browser import (  # noqa: F401 - fixtures
    ARTIFACTS,
    CHROMIUM,
    Site,
    Watch,
    browser,
    page,
    sign_in,
    watch,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The tiny demo served by uvicorn (the demo's own follow-up jobs run too)."""
    ws = init_workspace(tmp_path_factory.mktemp("roadmap") / "ws", name="Roadmap Co")
    with transaction(ws.sessions) as s:
        jobs.enqueue(s, "demo.build", {"size": "tiny", "seed": 7, "anchor": "2026-11-01"})
    assert jobs.run_pending(ws) >= 1
    _, admin_email = make_user(ws, Role.admin, "roadmap-admin@example.com")
    _, viewer_email = make_user(ws, Role.viewer, "roadmap-viewer@example.com")
    try:
        with serving(create_app(ws)) as base_url:
            yield Site(base_url, ws, admin_email, viewer_email)
    finally:
        ws.close()


PAYLOAD = '<img src=x onerror="window.__xss=1">"><script>window.__xss=2</script>'


def test_a_leader_reads_the_portfolio(page: Page, site: Site, watch: Watch) -> None:  # noqa: F811
    with transaction(site.ws.sessions) as s:
        epic = work.create_epic(s, PAYLOAD, description=PAYLOAD, actor="test")
        epic_id = epic.id
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    page.goto(site.url("/portfolio"))
    expect(page.get_by_role("heading", name="Portfolio", exact=True)).to_be_visible()
    expect(page.locator(".objective-block").first).to_be_visible()
    expect(page.locator("[data-chart] svg").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "portfolio.png"), full_page=True)
    page.get_by_label("Health").select_option("at_risk")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile("health=at_risk"))
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
    phone.wait_for_url(site.url("/"))
    phone.goto(site.url("/portfolio/mapping"))
    expect(phone.get_by_text("Viewers can read the rules")).to_be_visible()
    phone.goto(site.url("/portfolio/connections"))
    expect(phone.get_by_text("Connect Jira or Linear")).to_have_count(0)
    for path in ("/portfolio", "/portfolio/roadmap", "/portfolio/flags", "/portfolio/updates"):
        phone.goto(site.url(path))
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    context.close()
