"""The experiments pages in a real browser (Debian's chromium through Playwright) over a tiny
demo: charts drawn, warnings shown, the rule builder and kill switch working from the page,
no console error or foreign request, and every page fitting a 390 px phone. Screenshots land
in test-artifacts/experiments-*.png."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from productops.experiments.flags import service as flags
from tests.test_browser import ARTIFACTS, Site, Watch, sign_in
from tests.test_browser import pytestmark as pytestmark  # browser marker, chromium or skip

PAGES = [
    "/experiments",
    "/experiments/onboarding-checklist",
    "/experiments/promo-banner",
    "/experiments/trial-length",
    "/experiments/library",
    "/experiments/calculator?kind=proportion&baseline=0.1&mde=10&metric=onboarding_completed",
    "/flags",
    "/flags/new-editor",
    "/flags/stale",
    "/flags/sdk",
    "/experiments/onboarding-checklist/doc",
]


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"experiments-{name}.png"), full_page=True)


def test_experiment_pages_draw_their_charts_and_warnings(
    page: Page, site: Site, watch: Watch
) -> None:
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    page.wait_for_url(site.url("/experiments"))
    expect(page.locator("table tbody tr")).to_have_count(13)
    page.goto(site.url("/experiments/promo-banner"))
    expect(page.locator("table.numbers")).to_contain_text("Banner clicks")
    expect(page.locator("[data-chart='intervals-spec'] svg.marks")).to_be_visible()
    expect(page.locator("[data-chart='exposures-spec'] svg.marks")).to_be_visible()
    _shot(page, "promo-banner")
    page.goto(site.url("/experiments/onboarding-checklist"))
    expect(page.locator("table.numbers")).to_contain_text("Onboarding completed")
    expect(page.locator("[data-chart='intervals-spec'] svg.marks")).to_be_visible()
    _shot(page, "onboarding-checklist")
    assert watch.problems == []


def test_the_rule_builder_and_the_kill_switch_from_the_page(
    page: Page, site: Site, watch: Watch
) -> None:
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    page.goto(site.url("/flags/welcome-headline?env=staging"))
    page.get_by_text("Add a rule").click()
    form = page.get_by_role("form", name="Add a rule")
    form.get_by_label("Roll a value out to a share of them").check()
    form.get_by_label("Attribute").fill("country")
    form.get_by_label("Test").select_option("in")
    form.get_by_label("Value", exact=True).fill("US, CA")
    form.get_by_label("Value served (string)").fill("Hello from the rollout")
    form.get_by_label("Share (%, rollouts and experiments)").fill("30")
    form.get_by_role("button", name="Add rule to staging").click()
    expect(page.locator("#env-heading")).to_have_text("staging")
    expect(page.locator("section.panel table")).to_contain_text("Rollout to 30.0 %")
    # a bad pattern is refused with the reason, on the page
    page.get_by_text("Add a rule").click()
    form = page.get_by_role("form", name="Add a rule")
    form.get_by_label("Attribute").fill("email")
    form.get_by_label("Test").select_option("regex")
    form.get_by_label("Value", exact=True).fill("([oops")
    form.get_by_label("Value served (string)").fill("x")
    form.get_by_role("button", name="Add rule to staging").click()
    expect(page.get_by_role("alert")).to_contain_text("does not compile")
    _shot(page, "rule-refused")
    page.goto(site.url("/flags/welcome-headline?env=production"))
    page.get_by_role("button", name="Kill switch: serve the default to everyone").click()
    expect(page.locator("section.panel")).to_contain_text("killed")
    with site.ws.sessions() as s:
        flag = flags.flag_by_key(s, "welcome-headline")
        settings = flags.settings_of(s, flag.id)
    assert not settings["production"].enabled
    assert settings["staging"].rules[-1]["coverage"] == 0.3
    # the refusal above answers 422 (the HTTP status and chromium's console line for it)
    watch.problems = [p for p in watch.problems if "422" not in p or "/rules/add" not in p]
    assert watch.problems == []


def test_every_page_works_and_fits_a_phone(browser: Browser, site: Site) -> None:
    for width in (1280, 390):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, timezone_id="America/New_York"
        )
        p = context.new_page()
        w = Watch()
        w.attach(p)
        sign_in(p, site, site.admin_email)
        p.wait_for_url(site.url("/"))
        for path in PAGES:
            p.goto(site.url(path))
            p.wait_for_load_state("networkidle")
            if width == 390:
                overflow = p.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, (path, overflow)
            name = path.strip("/").replace("/", "_").split("?")[0]
            _shot(p, f"{width}-{name}")
        assert w.problems == [], w.problems
        context.close()
