"""The web shell: health, home counts, navigation, escaping, headers, API docs, and the
header's layout in a real browser (one line on a laptop, a working menu on a phone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import insert

from productops.core import auth
from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import Workspace, init_workspace
from productops.customers.models import Account
from productops.web.app import create_app
from tests.conftest import PASSWORD, serving, sign_in
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

BUILT = ("Feedback", "Insights", "Research", "Roadmap", "Experiments", "Flags")
NOT_YET = ("Playbooks", "Reports")


def _add_accounts(ws: Workspace, rows: list[dict[str, object]]) -> None:
    with transaction(ws.sessions) as s:
        s.execute(insert(Account), rows)


def _account(i: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "external_id": f"a{i}",
        "name": f"Account {i}",
        "plan": "growth",
        "segment": "SMB",
        "region": "EMEA",
        "arr": 1000.0 * i,
        "traits": {},
    }
    row.update(kw)
    return row


def test_healthz_answers_json(workspace: Workspace) -> None:
    r = TestClient(create_app(workspace)).get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["schema_revision"]
    assert body["database"] == workspace.engine.dialect.name


def test_home_shows_live_counts(workspace: Workspace) -> None:
    _add_accounts(workspace, [_account(i) for i in range(1, 4)])
    user = sign_in(workspace, Role.viewer)
    page = user.client.get("/").text
    cards = dict(
        zip(
            re.findall(r'card-label">([^<]+)', page),
            re.findall(r'card-value">(?:<a[^>]*>)?([^<]+)', page),
            strict=True,
        )
    )
    assert cards["Accounts"] == "3"
    assert cards["Total ARR"] == "$6,000"
    assert cards["productops users"] == "1"
    _add_accounts(workspace, [_account(4)])
    assert 'card-value"><a href="/accounts">4<' in user.client.get("/").text


def test_navigation_lists_only_what_exists(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.viewer)
    header = user.client.get("/").text.split("<main")[0]
    labels = re.findall(r'<li><a href="[^"]+"[^>]*>([^<]+)</a></li>', header)
    assert "Home" in labels and "Accounts" in labels
    for pillar in BUILT:
        assert pillar in labels
    for pillar in NOT_YET:
        assert pillar not in labels, f"no nav entry for {pillar} until that pillar exists"


def test_untrusted_text_is_escaped(workspace: Workspace) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    _add_accounts(workspace, [_account(1, name=hostile, domain='"><svg onload=alert(1)>')])
    user = sign_in(workspace, Role.viewer)
    for url in ("/accounts", "/accounts?q=script"):
        page = user.client.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<svg onload" not in user.client.get("/accounts/1").text


def test_security_headers_on_every_page(workspace: Workspace) -> None:
    client = TestClient(create_app(workspace))
    r = client.get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "no-store" in r.headers["cache-control"]


def test_api_docs_use_vendored_assets(workspace: Workspace) -> None:
    client = TestClient(create_app(workspace))
    page = client.get("/api/docs").text
    assert "/static/vendor/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/accounts" in spec["paths"] and "/api/v1/jobs" in spec["paths"]
    assert client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200


def test_accounts_filter_and_page(workspace: Workspace) -> None:
    _add_accounts(
        workspace, [_account(i, plan="enterprise" if i % 2 else "starter") for i in range(1, 61)]
    )
    user = sign_in(workspace, Role.viewer)
    page = user.client.get("/accounts?plan=enterprise").text
    assert "30 accounts" in page
    table = user.client.get("/accounts?q=Account 5", headers={"HX-Request": "true"}).text
    assert "<html" not in table  # htmx gets just the table
    assert "Account 5<" in table and "Account 50<" in table and "Account 6<" not in table


def test_accounts_api_pages_and_filters(workspace: Workspace) -> None:
    _add_accounts(workspace, [_account(i) for i in range(1, 8)])
    user = sign_in(workspace, Role.viewer)
    body = user.client.get("/api/v1/accounts?limit=3&offset=0").json()
    assert body["total"] == 7 and len(body["items"]) == 3
    assert [a["name"] for a in body["items"]] == ["Account 7", "Account 6", "Account 5"]


def test_missing_things_are_404_with_a_reason(workspace: Workspace) -> None:
    user = sign_in(workspace, Role.viewer)
    r = user.client.get("/api/v1/accounts/999")
    assert r.status_code == 404 and r.json() == {"detail": "no account 999"}
    assert user.client.get("/accounts/999").status_code == 404


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_the_header_is_one_line_on_a_laptop_and_its_menu_works_on_a_phone(
    tmp_path: Path,
) -> None:
    """At 1280 px the brand, the pillars and the user menu share one line, a long workspace
    name and a long user name cut short; at 390 px the menu opens inside the screen and
    nothing scrolls sideways."""
    workspace = init_workspace(tmp_path / "ws", name="Konstantinopoulou Holdings International")
    with transaction(workspace.sessions) as s:
        name = "Maximiliana Konstantinopoulou-Fairweather"
        auth.create_user(s, "long-name@example.com", name, PASSWORD, Role.admin)
    with (
        serving(create_app(workspace, start_worker=False)) as base_url,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(base_url + "/login")
        page.fill("#email", "long-name@example.com")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(base_url + "/")
        boxes = page.locator("header nav > ul > li").evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return [e.textContent.trim().split(/\\s+/)[0], r.top + r.height / 2]; })"
        )
        middles = [float(m) for _, m in boxes]
        assert max(middles) - min(middles) < 16, f"the header wraps at 1280 px: {boxes}"
        page.set_viewport_size({"width": 390, "height": 844})
        menu = page.locator("header details.dropdown")
        menu.locator("summary").click()
        sign_out = menu.get_by_role("button", name="Sign out")
        expect(sign_out).to_be_visible()
        box = sign_out.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        browser.close()
    workspace.close()
