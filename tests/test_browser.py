"""End-to-end checks in a real browser: Debian's chromium driven by Playwright against a real
uvicorn server over a tiny demo workspace.

Screenshots land in `test-artifacts/` (gitignored) so that a person can look at the pages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)
from sqlalchemy import func, select

from productops.core import jobs
from productops.core.db import transaction
from productops.core.models import Job, JobStatus, Role
from productops.core.workspace import Workspace, init_workspace
from productops.customers import service as customers
from productops.customers.models import Account, Person
from productops.web.app import create_app
from tests.conftest import PASSWORD, make_user, serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
# Pillars that have no pages yet: the shell must not advertise them.
UNBUILT_PILLARS = ("Playbooks", "Reports")
ADMIN_LINKS = ("Users", "API keys", "Audit log")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: browser tests need Debian's chromium"
    ),
]


@dataclass
class Site:
    base_url: str
    ws: Workspace
    admin_email: str
    viewer_email: str

    def url(self, path: str) -> str:
        return self.base_url + path


@dataclass
class Watch:
    """What a page did that it should not have: console errors, failed or foreign requests."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("request", self._request)
        page.on("response", self._response)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url')})")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _failed(self, request: Request) -> None:
        # The browser drops a favicon fetch still under way when the page navigates on.
        if request.url.endswith("/favicon.svg") and "ERR_ABORTED" in str(request.failure):
            return
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"data", "blob"}:
            return
        if parts.hostname != "127.0.0.1":
            self.problems.append(f"request to a foreign host: {request.url}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ws = init_workspace(tmp_path_factory.mktemp("browser") / "ws", name="Browser Co")
    # Build the demo through the job queue, so the jobs pages have a finished job to show.
    with transaction(ws.sessions) as s:
        jobs.enqueue(s, "demo.build", {"size": "tiny", "seed": 7, "anchor": "2026-11-01"})
    # The demo queues the pillars' follow-up jobs (vectors, results), which run here too.
    assert jobs.run_pending(ws) >= 1
    with ws.sessions() as s:
        ran = s.execute(select(Job.kind, Job.status, Job.error)).tuples().all()
    assert {status for _, status, _ in ran} == {JobStatus.succeeded}, ran
    assert "demo.build" in {kind for kind, _, _ in ran}
    _, admin_email = make_user(ws, Role.admin, "browser-admin@example.com")
    _, viewer_email = make_user(ws, Role.viewer, "browser-viewer@example.com")

    try:
        with serving(create_app(ws, start_worker=False)) as base_url:
            yield Site(base_url, ws, admin_email, viewer_email)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Browser, watch: Watch) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    p = context.new_page()
    watch.attach(p)
    yield p
    context.close()


def sign_in(page: Page, site: Site, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form with the keyboard only (the email field has the focus)."""
    page.goto(site.url("/login"))
    expect(page.locator("#email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")


def _db_counts(ws: Workspace) -> dict[str, str]:
    with ws.sessions() as s:
        summary = customers.summary(s)
        accounts = s.scalar(select(func.count(Account.id))) or 0
        arr = s.scalar(select(func.coalesce(func.sum(Account.arr), 0))) or 0
        people = s.scalar(select(func.count(Person.id))) or 0
    assert accounts == summary.accounts
    return {
        "Accounts": f"{accounts:,}",
        "People in accounts": f"{people:,}",
        "Total ARR": f"${arr:,.0f}",
    }


def _a_search_matching_several(ws: Workspace) -> tuple[str, int, list[str]]:
    """The commonest last word of the demo's account names ('Ltd', 'Inc', ...): it matches
    several accounts but not all of them."""
    with ws.sessions() as s:
        names = s.scalars(select(Account.name)).all()
        words = Counter(n.split()[-1] for n in names if " " in n)
        query = words.most_common(1)[0][0]
        rows, total = customers.list_accounts(s, q=query, limit=100)
    assert 1 < total < len(names), f"'{query}' should match several accounts but not all"
    return query, total, [a.name for a in rows]


def test_sign_in_with_the_keyboard_lands_on_home(page: Page, site: Site, watch: Watch) -> None:
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    expect(page.locator("h1")).to_have_text("Browser Co")

    labels = page.locator(".card-label").all_inner_texts()
    values = page.locator(".card-value").all_inner_texts()
    cards = dict(zip(labels, values, strict=True))
    expected = _db_counts(site.ws)
    assert int(expected["Accounts"]) == 40
    for label, value in expected.items():
        assert cards.get(label) == value, (label, cards)

    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Accounts", exact=True)).to_be_visible()
    header_links = [t.strip() for t in page.locator("header a").all_text_contents()]
    for pillar in UNBUILT_PILLARS:
        assert pillar not in header_links, f"nav advertises '{pillar}', which is not built yet"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
    assert watch.problems == []


def test_wrong_password_shows_an_alert_and_stays_on_login(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin_email, "not the password")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).not_to_be_empty()
    assert urlsplit(page.url).path == "/login"
    expect(page.locator("#email")).to_have_value(site.admin_email)
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")


def test_account_search_filters_the_table_in_place(page: Page, site: Site, watch: Watch) -> None:
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    page.wait_for_url(site.url("/accounts"))
    count = page.locator("#accounts-table > p.muted")
    expect(count).to_have_text("40 accounts")

    query, total, expected_names = _a_search_matching_several(site.ws)

    page.evaluate("window.__noReload = true")
    with page.expect_response(
        lambda r: "/accounts?" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.locator("#account-q").press_sequentially(query, delay=15)
    expect(count).to_have_text(f"{total} accounts")
    expect(page.locator("#accounts-table tbody tr")).to_have_count(total)
    names = page.locator("#accounts-table tbody tr td:first-child a").all_inner_texts()
    assert sorted(names) == sorted(expected_names)
    assert page.evaluate("window.__noReload") is True, "the page reloaded instead of swapping"
    assert f"q={query}" in page.url  # hx-push-url keeps the filter in the address

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "accounts.png"), full_page=True)
    assert watch.problems == []


def test_back_after_a_search_shows_the_whole_page(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    page.goto(site.url("/accounts"))
    query, total, _ = _a_search_matching_several(site.ws)
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.locator("#account-q").press_sequentially(query, delay=15)
    expect(page.locator("#accounts-table > p.muted")).to_have_text(f"{total} accounts")
    page.goto(site.url("/teams"))
    page.go_back()
    assert f"q={query}" in page.url
    expect(page.locator("header nav")).to_have_count(1, timeout=3_000)
    expect(page.locator("h1")).to_have_text("Accounts")


def test_pages_load_cleanly(page: Page, site: Site, watch: Watch) -> None:
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    for path, heading in [
        ("/", "Browser Co"),
        ("/accounts", "Accounts"),
        ("/teams", "Product teams"),
        ("/jobs", "Jobs"),
    ]:
        response = page.goto(site.url(path), wait_until="networkidle")
        assert response is not None and response.status == 200, path
        expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("main table")).to_contain_text("succeeded")

    page.goto(site.url("/api/docs"), wait_until="networkidle")
    title = page.locator(".swagger-ui .info .title")
    expect(title).to_contain_text("productops")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    assert watch.problems == []


def test_viewer_gets_403_on_admin_pages_and_no_admin_links(
    page: Page, site: Site, watch: Watch
) -> None:
    sign_in(page, site, site.viewer_email)
    page.wait_for_url(site.url("/"))
    menu = page.locator("header details.dropdown")
    menu.locator("summary").click()
    expect(menu.get_by_role("button", name="Sign out")).to_be_visible()
    expect(menu.get_by_role("link", name="Teams")).to_be_visible()
    for label in ADMIN_LINKS:
        expect(page.locator("header").get_by_role("link", name=label, exact=True)).to_have_count(0)

    response = page.goto(site.url("/admin/users"))
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("may not do this")
    expect(page.locator("main")).not_to_contain_text(site.admin_email)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "forbidden.png"))
    # The 403 itself is logged by chromium as a failed resource load; nothing else may be.
    assert [p for p in watch.problems if "403" not in p] == []


def test_sign_out_from_the_user_menu(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    menu = page.locator("header details.dropdown")
    menu.locator("summary").click()
    for label in ADMIN_LINKS:
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "user-menu.png"))
    menu.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.url("/login"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.goto(site.url("/"))
    assert urlsplit(page.url).path == "/login"
    expect(page.locator("#email")).to_be_visible()


# --- insights in the browser ---------------------------------------------------------------


@pytest.fixture
def new_york_page(browser: Browser, watch: Watch) -> Iterator[Page]:
    """A reader in New York (UTC-5), where UTC dates read as local midnight fall a day early."""
    context = browser.new_context(viewport=VIEWPORT, timezone_id="America/New_York")
    context.set_default_timeout(15_000)
    p = context.new_page()
    watch.attach(p)
    yield p
    context.close()


def _axis_labels(page: Page, panel: str) -> list[str]:
    chart = page.locator(f"#{panel} .chart svg.marks")
    expect(chart).to_be_visible()
    labels = chart.locator("g.role-axis-label text").evaluate_all(
        "els => els.map(e => e.textContent || '')"
    )
    return [str(t) for t in labels if str(t).strip()]


def test_chart_dates_are_the_days_of_the_data_in_any_time_zone(
    new_york_page: Page, site: Site, watch: Watch
) -> None:
    import datetime as dt

    from productops.analytics.dashboards.service import standard_dashboard

    page = new_york_page
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    page.goto(site.url("/insights"), wait_until="networkidle")
    panels = {p.key: p for p in standard_dashboard(site.ws)}
    days = sorted(panels["active-users"].data["day"])
    labels = _axis_labels(page, "active-users")
    expected = {f"{d:%b} {d.day}" for d in days}
    dated = [t for t in labels if t[:3].isalpha() and t[-1].isdigit()]
    assert dated and set(dated) <= expected, (dated, sorted(expected)[:5])
    # the last label is the last day of the data, not the day before
    last: dt.date = days[-1]
    assert dated[-1] == f"{last:%b} {last.day}"
    # the lifecycle's weeks start on Mondays
    weekly = [t for t in _axis_labels(page, "lifecycle") if t[:3].isalpha() and t[-1].isdigit()]
    year = last.year
    for text in weekly:
        day = dt.datetime.strptime(f"{text} {year}", "%b %d %Y").date()
        if day > last:
            day = day.replace(year=year - 1)
        assert day.weekday() == 0, f"{text} is not a Monday"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "insights-new-york.png"), full_page=True)
    assert [p for p in watch.problems if "WARN" not in p] == []


def test_insights_fit_a_phone(browser: Browser, site: Site, watch: Watch) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    watch.attach(page)
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    for path in (
        "/insights",
        "/insights/funnel?steps=Signed+Up&steps=Page+Viewed&steps=Report+Created"
        "&steps=Comment+Added&steps=Invite+Sent&breakdown=account.plan",
        "/insights/retention",
        "/insights/dashboards/1",
    ):
        page.goto(site.url(path), wait_until="networkidle")
        page.wait_for_timeout(500)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "funnel-phone.png"), full_page=True)
    context.close()
    assert [p for p in watch.problems if "WARN" not in p] == []
