"""Browser fixtures for the experiments pages: chromium, pages and the problem watcher of
tests/test_browser.py, over a tiny demo of this module's own served by uvicorn."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from productops.core.demo import DemoScale, build_demo
from productops.core.models import Role
from productops.core.workspace import init_workspace
from productops.web.app import create_app
from tests.conftest import make_user
from tests.test_browser import Site, _free_socket, browser, page, watch

__all__ = ["browser", "page", "site", "watch"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ws = init_workspace(tmp_path_factory.mktemp("experiments-browser") / "ws", name="Browser Co")
    build_demo(ws, seed=7, anchor=dt.date(2026, 11, 1), scale=DemoScale.named("tiny"))
    _, admin_email = make_user(ws, Role.admin, "browser-admin@example.com")
    _, viewer_email = make_user(ws, Role.viewer, "browser-viewer@example.com")
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(ws), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("the uvicorn server did not answer /healthz")
        time.sleep(0.05)
    try:
        yield Site(base_url, ws, admin_email, viewer_email)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        ws.close()
