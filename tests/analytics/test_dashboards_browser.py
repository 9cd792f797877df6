"""A saved dashboard in a real browser (Debian's chromium through Playwright, a real uvicorn):
panels of several kinds — a funnel, a paths flow, retention and lifecycle broken down by plan,
stickiness, a catalog metric and a SQL query — all draw; the reader's range changes every
panel; a panel is resized to a third and another removed from the page; and the page logs no
error on the way. Screenshots go to `test-artifacts/` (or `$PRODUCTOPS_SHOTS`) for a person
to look at."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from productops.analytics import dashboards, saved, store
from productops.analytics.dashboards.insights import check_params
from productops.analytics.settings import events_file
from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import init_workspace
from productops.web.app import create_app
from tests.analytics.test_analyses import write_story
from tests.conftest import make_user, serving
from tests.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    VIEWPORT,
    Site,
    Watch,
    browser,
    page,
    sign_in,
    watch,
)

__all__ = ["browser", "page", "watch"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]
SHOTS = Path(os.environ.get("PRODUCTOPS_SHOTS") or ARTIFACTS)
METRICS = """\
metrics:
  - name: reports
    label: Reports created
    type: count
    event: report
"""
INSIGHTS = [
    ("funnel", "Activation", "steps=signup&steps=report&window=14", "half"),
    ("paths", "After sign-up", "event=signup&direction=after&depth=3&min_share=0", "full"),
    (
        "retention",
        "Retention by plan",
        "start_event=signup&grain=week&breakdown=account.plan",
        "half",
    ),
    ("lifecycle", "Lifecycle by plan", "grain=week&breakdown=account.plan", "half"),
    ("stickiness", "Report stickiness", "event=report&grain=day", "third"),
    ("sql", "Events per day", "", "two-thirds"),
]
SQL = "SELECT ts::DATE AS day, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ws = init_workspace(tmp_path_factory.mktemp("dashboards-browser") / "ws", name="Browser Co")
    write_story(events_file(ws))
    (ws.path / "metrics.yml").write_text(METRICS)
    panels: list[dict[str, object]] = []
    with transaction(ws.sessions) as s:
        for kind, title, query, width in INSIGHTS:
            params = {"query": SQL} if kind == "sql" else {"query": query}
            row = saved.save_insight(s, kind, title, check_params(kind, params), actor="t")
            panels.append({"insight": row.id, "width": width})
        panels.append({"metric": "reports", "grain": "week", "width": "third"})
        board = dashboards.save_dashboard(s, ws, "Product", "All kinds", panels, actor="t")
        dashboards.set_scope(s, board.id, {"start": "2024-01-01", "end": "2024-01-31"}, "t")
        saved.add_annotation(s, dt.date(2024, 1, 16), "Pricing launched", "t")
    _, editor = make_user(ws, Role.editor, "dash-editor@example.com")
    _, viewer = make_user(ws, Role.viewer, "dash-viewer@example.com")
    try:
        with serving(create_app(ws)) as base_url:
            yield Site(base_url, ws, editor, viewer)
    finally:
        store.close_writer(events_file(ws))
        ws.close()


def _board_url(site: Site) -> str:
    with site.ws.sessions() as s:
        return site.url(f"/insights/dashboards/{dashboards.list_dashboards(s)[0].id}")


def _charts_drawn(page: Page) -> int:
    """Waits until every Vega panel holds its drawing; returns how many there are."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')]"
        ".every(el => el.querySelector('svg, canvas'))",
        timeout=20_000,
    )
    failed = page.locator("[data-chart]", has_text="could not be drawn")
    expect(failed).to_have_count(0)
    return page.locator("[data-chart]").count()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)


def test_a_dashboard_of_every_kind_draws_is_resized_and_pruned(
    page: Page, site: Site, watch: Watch
) -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # "Remove … from the dashboard?"
    sign_in(page, site, site.admin_email)  # the editor
    page.wait_for_url(site.url("/"))
    url = _board_url(site)
    page.goto(url)
    articles = page.locator(".dashboard-grid article.panel")
    expect(articles).to_have_count(len(INSIGHTS) + 1)
    expect(page.get_by_text("This insight cannot be drawn")).to_have_count(0)
    # every panel but the paths flow is a Vega chart; the flow is the explorer's drawing
    assert _charts_drawn(page) == len(INSIGHTS)
    flow = page.locator("#panel-1 .paths-flow")
    expect(flow).to_be_visible()
    assert flow.locator("rect.flow-node").count() >= 2
    # the note of Jan 16 on every time chart whose range holds it (SQL, catalog metric), and
    # in every small chart of the lifecycle by plan (#panel-3)
    notes = page.locator("[data-chart] svg text", has_text="Pricing launched")
    lifecycle = page.locator("#panel-3 [data-chart] svg")
    plans = lifecycle.locator("g.mark-rect.role-mark").count()  # a bar mark per small chart
    assert plans >= 2
    expect(lifecycle.locator("text", has_text="Pricing launched")).to_have_count(plans)
    expect(notes).to_have_count(2 + plans)
    _shot(page, "all-kinds")
    page.locator("#panel-3").screenshot(path=str(SHOTS / "leftover-lifecycle-notes.png"))

    # A range of the reader's own: the address keeps it, every panel follows.
    page.select_option("#view-range", "custom")
    page.fill("#view-start", "2024-01-01")
    page.fill("#view-end", "2024-01-05")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**start=2024-01-01**")
    expect(page.locator("#range-override")).to_contain_text("for you only")
    expect(page.locator("#panel-0")).to_contain_text("2024-01-01 to 2024-01-05")
    assert _charts_drawn(page) >= len(INSIGHTS) - 1
    _shot(page, "own-range")

    # Resize the funnel to a third of the width: it takes about a third of the grid.
    page.goto(url)
    grid = page.locator(".dashboard-grid").bounding_box()
    page.locator("#slot-0").get_by_role("button", name="third width").click()
    page.wait_for_load_state()
    expect(page.locator("#slot-0")).to_have_class("panel-third")
    box = page.locator("#slot-0").bounding_box()
    assert grid is not None and box is not None
    assert 0.25 < box["width"] / grid["width"] < 0.4, (box, grid)
    _charts_drawn(page)

    # Move the paths flow up, rename it on this dashboard.
    page.locator("#slot-1").get_by_role("button", name="Move up").click()
    page.wait_for_load_state()
    expect(page.locator("#panel-0")).to_contain_text("After sign-up")
    page.locator("#slot-0 details.rename summary").click()
    page.fill("#title-0", "Where sign-ups go")
    page.locator("#slot-0").get_by_role("button", name="Save title").click()
    page.wait_for_load_state()
    expect(page.locator("#panel-0-title")).to_have_text("Where sign-ups go")
    page.locator("#slot-0").get_by_role("button", name="Move down").click()
    page.wait_for_load_state()
    expect(page.locator("#panel-1-title")).to_have_text("Where sign-ups go")

    # Drag the catalog metric (the last panel) by its handle onto the first: it moves there
    # (a window tall enough for both: a drag does not scroll the page).
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 4200})
    with page.expect_navigation():
        page.drag_and_drop("#slot-6 .drag-handle", "#slot-0")
    page.set_viewport_size(VIEWPORT)
    expect(page.locator("#panel-0-title")).to_have_text("Reports created")
    expect(page.locator("#panel-1-title")).to_have_text("Activation")
    page.locator("#slot-0").get_by_role("button", name="Move down").click()
    page.wait_for_load_state()
    expect(page.locator("#panel-0-title")).to_have_text("Activation")

    # Remove the SQL panel from the page.
    sql_slot = page.locator(".dashboard-grid > div", has=page.get_by_text("Events per day"))
    sql_slot.get_by_role("button", name="Remove").click()
    page.wait_for_load_state()
    expect(articles).to_have_count(len(INSIGHTS))
    expect(page.locator(".dashboard-grid")).not_to_contain_text("Events per day")
    _charts_drawn(page)
    _shot(page, "resized-and-pruned")
    with site.ws.sessions() as s:
        row = dashboards.list_dashboards(s)[0]
        assert row.panels[0]["width"] == "third" and len(row.panels) == len(INSIGHTS)
    assert watch.problems == []


def test_a_viewer_reads_the_dashboard_and_picks_a_range(
    page: Page, site: Site, watch: Watch
) -> None:
    sign_in(page, site, site.viewer_email)
    page.wait_for_url(site.url("/"))
    page.goto(_board_url(site) + "?range=7d")
    expect(page.locator("#range-override")).to_contain_text("for you only")
    expect(page.get_by_role("button", name="Save this range for everyone")).to_have_count(0)
    expect(page.locator(".panel-tools")).to_have_count(0)
    _charts_drawn(page)
    _shot(page, "viewer")
    assert watch.problems == []


def test_an_editor_keeps_their_range_and_a_saved_insight_reads_once(
    page: Page, site: Site, watch: Watch
) -> None:
    sign_in(page, site, site.admin_email)
    page.wait_for_url(site.url("/"))
    own = _board_url(site) + "?start=2024-01-01&end=2024-01-05"
    page.goto(own)
    _charts_drawn(page)
    page.locator("#slot-1").get_by_role("button", name="half width").click()
    page.wait_for_load_state()
    assert page.url.startswith(own + "#panel-1"), page.url
    expect(page.locator("#range-override")).to_contain_text("for you only")
    expect(page.locator("#slot-1")).to_have_class("panel-half")
    _charts_drawn(page)
    page.screenshot(path=str(SHOTS / "leftover-own-range-kept.png"), full_page=True)

    # A saved insight's page: its title and description once, the panel under them.
    with site.ws.sessions() as s:
        first = saved.list_insights(s)[0]
    page.goto(site.url(f"/insights/saved/{first.id}"))
    _charts_drawn(page)
    expect(page.get_by_role("heading", name=first.title)).to_have_count(1)
    page.screenshot(path=str(SHOTS / "leftover-saved-insight-once.png"), full_page=True)

    # The trends explorer: two series by browser, each line its own colour, the week cut by
    # the range dashed.
    page.goto(
        site.url(
            "/insights/trends?s_kind=events&s_event=%24pageview&s_kind=people&s_event=%24pageview"
            "&breakdown=event.%24browser&grain=week&start=2024-01-01&end=2024-01-17"
        )
    )
    _charts_drawn(page)
    dashed = page.locator("[data-chart] svg path[stroke-dasharray='5,4']")
    assert dashed.count() >= 2
    page.locator("[data-chart]").first.screenshot(path=str(SHOTS / "leftover-trends-explorer.png"))
    assert watch.problems == []
