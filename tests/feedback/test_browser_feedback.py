"""Hostile customer text in a real browser: the stored-XSS payloads of ../shared/data/security
go through every importer (and the API, request titles, competitor, theme and tag names);
Debian's chromium then opens every feedback page and nothing may execute: no dialog, no
blocked inline script, no request elsewhere. Then the keyboard triage flow."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright
from sqlalchemy import select

from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import Workspace, init_workspace
from productops.feedback.competitors import service as competitors
from productops.feedback.importers import InputFile
from productops.feedback.items import service as items
from productops.feedback.models import FeedbackItem
from productops.feedback.pipeline import process
from productops.feedback.requests import service as requests
from productops.feedback.schemas import (
    CompetitorCreate,
    FeedbackCreate,
    RequestCreate,
    TagCreate,
    ThemeCreate,
)
from productops.feedback.themes import service as themes
from productops.feedback.themes import tags
from productops.web.app import create_app
from tests.conftest import PASSWORD, make_user, serving
from tests.feedback.support import SECURITY, add_customers
from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Watch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
    pytest.mark.skipif(
        not (SECURITY / "xss_payloads_quick.txt").exists(),
        reason="../shared/data/security is absent: no XSS payloads to feed",
    ),
]
DAY = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)


def _payloads() -> list[str]:
    quick = (SECURITY / "xss_payloads_quick.txt").read_text().splitlines()
    polyglots = (SECURITY / "xss_polyglots.txt").read_text().splitlines()
    # Every payload of both files (markup, attribute breakers, `javascript:` links).
    return [line for line in quick if line.strip()] + [p for p in polyglots if p.strip()]


# A link to "the original" is put in an href: only https links may be kept.
JS_LINK = "javascript:alert(document.domain)//INJECTX"


def _files(payloads: list[str]) -> dict[str, list[InputFile]]:
    """One file (or set) per source, every text field a payload."""
    p = payloads
    zendesk = {
        "tickets": [
            {
                "id": 9000 + i,
                "subject": x,
                "description": x,
                "status": "open",
                "created_at": "2026-10-01T10:00:00Z",
                "requester_id": 1,
                "tags": [x[:50]],
                "via": {
                    "channel": "email",
                    "source": {"from": {"address": f"z{i}@acme.example", "name": x}},
                },
            }
            for i, x in enumerate(p)
        ]
    }
    intercom = {
        "type": "conversation.list",
        "conversations": [
            {
                "type": "conversation",
                "id": f"c{i}",
                "created_at": 1759300000,
                "source": {
                    "body": x,
                    "subject": x,
                    "author": {"type": "user", "name": x, "email": f"i{i}@acme.example"},
                },
                "contacts": {"contacts": []},
                "tags": {"tags": [{"name": x[:40]}]},
            }
            for i, x in enumerate(p)
        ],
    }
    survey = io.StringIO()
    writer = csv.writer(survey)
    writer.writerow(["id", "score", "comment", "respondent", "created_at"])
    for i, x in enumerate(p):
        writer.writerow([f"s{i}", 3, x, f"s{i}@tiny.example", "2026-10-02"])
    delighted = [
        {
            "id": f"d{i}",
            "score": 2,
            "comment": x,
            "created_at": 1759300000,
            "permalink": JS_LINK if i % 2 else x,
            "tags": [x[:30]],
            "person_properties": {"plan": x[:30]},
        }
        for i, x in enumerate(p)
    ]
    typeform = {
        "items": [
            {
                "token": f"t{i}",
                "submitted_at": "2026-10-03T10:00:00Z",
                "hidden": {"plan": x},
                "answers": [{"field": {"type": "long_text"}, "type": "text", "text": x}],
            }
            for i, x in enumerate(p)
        ]
    }
    play = io.StringIO()
    writer = csv.writer(play)
    writer.writerow(
        [
            "Package Name",
            "Review Submit Date and Time",
            "Star Rating",
            "Review Text",
            "Review Title",
            "Device",
            "Review Link",
        ]
    )
    for i, x in enumerate(p):
        writer.writerow(
            ["com.example", f"2026-10-0{1 + i % 9}T10:00:00Z", 1, x, x, x[:20], JS_LINK]
        )
    appstore = {
        "data": [
            {
                "type": "customerReviews",
                "id": f"a{i}",
                "attributes": {
                    "rating": 1,
                    "title": x,
                    "body": x,
                    "reviewerNickname": x,
                    "createdDate": "2026-10-04T10:00:00Z",
                },
            }
            for i, x in enumerate(p)
        ]
    }
    calls = {
        "calls": [
            {
                "metaData": {
                    "id": f"g{i}",
                    "title": x,
                    "started": "2026-10-05T10:00:00Z",
                    "url": "https://app.gong.io/call?id=1" + x,
                },
                "parties": [{"speakerId": "1", "affiliation": "External", "name": x}],
            }
            for i, x in enumerate(p)
        ]
    }
    transcripts = {
        "callTranscripts": [
            {
                "callId": f"g{i}",
                "transcript": [{"speakerId": "1", "topic": x, "sentences": [{"text": x}]}],
            }
            for i, x in enumerate(p)
        ]
    }
    mapped = io.StringIO()
    writer = csv.writer(mapped)
    writer.writerow(["Text", "Title", "Who", "Link"])
    for x in p:
        writer.writerow([x, x, x[:40], JS_LINK])

    def j(name: str, data: Any) -> InputFile:
        return InputFile(name, json.dumps(data).encode())

    return {
        "zendesk": [j("tickets.json", zendesk)],
        "intercom": [j("conversations.json", intercom)],
        "survey": [InputFile("nps.csv", survey.getvalue().encode())],
        "delighted": [j("delighted.json", delighted)],
        "typeform": [j("typeform.json", typeform)],
        "googleplay": [
            InputFile("reviews.csv", codecs.BOM_UTF16_LE + play.getvalue().encode("utf-16-le"))
        ],
        "appstore": [j("reviews.json", appstore)],
        "gong": [j("calls.json", calls), j("transcripts.json", transcripts)],
        "csv": [InputFile("export.csv", mapped.getvalue().encode())],
        "json": [j("export.json", [{"t": x} for x in p])],
    }


def _seed(ws: Workspace) -> dict[str, Any]:
    payloads = _payloads()
    add_customers(ws)
    mappings = {
        "csv": {"text": "Text", "title": "Title", "name": "Who", "url": "Link"},
        "json": {"text": "t"},
    }
    with transaction(ws.sessions) as s:
        for source, files in _files(payloads).items():
            result = items.import_feedback(s, source, files, "test", mapping=mappings.get(source))
            assert result.created > 0, source
        items.create_feedback(
            s,
            [
                FeedbackCreate(
                    external_id=f"api{i}", text=x, title=x[:500], name=x[:300], created_at=DAY
                )
                for i, x in enumerate(payloads)
            ],
            "test",
        )
    process(ws)
    with transaction(ws.sessions) as s:
        first = s.scalar(select(FeedbackItem.id).order_by(FeedbackItem.id))
        req = requests.create_request(
            s, RequestCreate(title=payloads[1], description=payloads[2], from_item_id=first), "t"
        )
        comp = competitors.create_competitor(
            s, CompetitorCreate(name=payloads[3][:200], aliases=["alert"]), "t"
        )
        theme = themes.create_theme(s, ThemeCreate(name=payloads[4][:200]), "t")
        tag = tags.create_tag(s, TagCreate(name=payloads[5][:100]), "t")
        tags.apply_tag(s, first, tag.id, "t")
        all_ids = list(s.scalars(select(FeedbackItem.id)))
        from productops.customers import Account

        account = s.scalar(select(Account.id))
    return {
        "request": req.id,
        "competitor": comp.id,
        "theme": theme.id,
        "items": all_ids,
        "account": account,
    }


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Workspace, dict[str, Any]]]:
    ws = init_workspace(tmp_path_factory.mktemp("fbbrowser") / "ws", name="Hostile Co")
    ids = _seed(ws)
    make_user(ws, Role.admin, "fb-admin@example.com")
    try:
        with serving(create_app(ws)) as base:
            yield base, ws, ids
    finally:
        ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _signed_in(browser: Browser, base: str, watch: Watch, dialogs: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch.attach(page)

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message} on {page.url}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(base + "/login")
    page.fill("#email", "fb-admin@example.com")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")
    return page


def test_hostile_text_from_every_importer_never_executes(
    browser: Browser, site: tuple[str, Workspace, dict[str, Any]]
) -> None:
    base, ws, ids = site
    watch, dialogs = Watch(), []
    page = _signed_in(browser, base, watch, dialogs)
    paths = [
        "/feedback?status=all",
        "/feedback?status=all&q=alert",
        "/feedback?status=all&offset=50",
        "/feedback/themes",
        f"/feedback/themes/{ids['theme']}",
        "/feedback/requests",
        f"/feedback/requests/{ids['request']}",
        "/feedback/competitors",
        f"/feedback/competitors/{ids['competitor']}",
        f"/accounts/{ids['account']}",
        # Items from every source (the ids go source by source).
        *[f"/feedback/items/{i}" for i in ids["items"][:: max(1, len(ids["items"]) // 25)]],
    ]
    for path in paths:
        response = page.goto(base + path, wait_until="networkidle")
        assert response is not None and response.status == 200, path
        # Hover and click what a payload might have made clickable.
        for handle in page.locator(
            "main mark:visible, main blockquote:visible, main .fb-text:visible"
        ).all()[:3]:
            handle.hover(timeout=2_000)
            handle.click(timeout=2_000, position={"x": 2, "y": 2}, no_wait_after=True)
        if page.url != base + path:  # a click followed an ordinary link: come back
            page.goto(base + path, wait_until="networkidle")
    # Every link to an original is https: no `javascript:` link survived an import.
    with ws.sessions() as s:
        links = [u for u in s.scalars(select(FeedbackItem.url)) if u is not None]
    assert links and all(u.startswith("https://") and '"' not in u for u in links)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(base + "/feedback?status=all", wait_until="networkidle")
    page.screenshot(path=str(ARTIFACTS / "feedback-hostile-inbox.png"), full_page=False)
    assert dialogs == []
    assert [p for p in watch.problems if "WARN" not in p] == []


def test_triage_by_keyboard_goes_item_to_item(
    browser: Browser, site: tuple[str, Workspace, dict[str, Any]]
) -> None:
    base, ws, _ = site
    watch, dialogs = Watch(), []
    page = _signed_in(browser, base, watch, dialogs)
    page.goto(base + "/feedback?status=new", wait_until="networkidle")
    rows = page.locator("[data-keyitem]")
    expect(rows.first).to_have_class("key-current")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class("key-current")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url("**/feedback/items/**")
    first = int(page.url.split("/feedback/items/")[1].split("?")[0])
    page.keyboard.press("e")  # done: on to the next new item
    page.wait_for_url(lambda url: f"/feedback/items/{first}?" not in url)
    with ws.sessions() as s:
        assert s.get(FeedbackItem, first).status == "triaged"  # type: ignore[union-attr]
    second = int(page.url.split("/feedback/items/")[1].split("?")[0])
    page.keyboard.press("s")  # spam
    page.wait_for_url(lambda url: f"/feedback/items/{second}?" not in url)
    with ws.sessions() as s:
        assert s.get(FeedbackItem, second).status == "spam"  # type: ignore[union-attr]
    page.keyboard.press("t")
    expect(page.locator("#fb-theme-pick")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("u")
    page.wait_for_url("**/feedback?**")
    page.screenshot(path=str(ARTIFACTS / "feedback-inbox-keyboard.png"))
    assert dialogs == []
    assert [p for p in watch.problems if "WARN" not in p] == []
