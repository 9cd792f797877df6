"""Browser fixtures for the experiments pages: chromium, pages and the problem watcher of
tests/test_browser.py, over a tiny demo of this module's own served by uvicorn."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from productops.core.demo import DemoScale, build_demo
from productops.core.models import Role
from productops.core.workspace import init_workspace
from productops.web.app import create_app
from tests.conftest import make_user, serving
from tests.test_browser import Site, browser, page, watch

__all__ = ["browser", "page", "site", "watch"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ws = init_workspace(tmp_path_factory.mktemp("experiments-browser") / "ws", name="Browser Co")
    build_demo(ws, seed=7, anchor=dt.date(2026, 11, 1), scale=DemoScale.named("tiny"))
    _, admin_email = make_user(ws, Role.admin, "browser-admin@example.com")
    _, viewer_email = make_user(ws, Role.viewer, "browser-viewer@example.com")
    try:
        with serving(create_app(ws)) as base_url:
            yield Site(base_url, ws, admin_email, viewer_email)
    finally:
        ws.close()
