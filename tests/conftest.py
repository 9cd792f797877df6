"""Shared fixtures. Every test that touches the app database runs on SQLite and, when
PRODUCTOPS_TEST_DATABASE_URL is set, on PostgreSQL too."""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from productops.core import auth
from productops.core.db import Base, transaction
from productops.core.models import Role
from productops.core.workspace import Workspace, init_workspace
from productops.web.app import create_app

PG_ENV = "PRODUCTOPS_TEST_DATABASE_URL"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PASSWORD = "correct horse battery"


# `./dev test` spreads the suite over the CPUs with pytest-xdist, a module to a worker
# (`--dist loadfile`): a module's fixtures are built once and its tests run in their order
# (not `loadgroup`: with pytest 9.2 it ignores its groups without a word, xdist issue 1386).
# Each worker is a process with its own session fixtures (so its own PostgreSQL database,
# see `pg_database_url`) and its own tmp_path_factory folder.
_WIDER_THAN_A_TEST = {"class", "module", "package"}


def _heavy_module_first(items: list[pytest.Item], config: pytest.Config) -> None:
    """The modules whose run is long go out first (the workers hand modules out in the
    order they were collected, see `--no-loadscope-reorder` in ./dev), so that no worker
    is left with one at the end while the other idles: first a module with a test that
    asks for a longer timeout than the suite's, then those that build a fixture shared by
    their tests (a served demo, a browser, a Spark session), then the rest as collected."""
    suite_timeout = float(config.getini("timeout") or 0)

    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("timeout")
        if marker is not None and marker.args and float(marker.args[0]) > suite_timeout:
            return 0
        info = getattr(item, "_fixtureinfo", None)
        if info is not None and any(
            definitions[-1].scope in _WIDER_THAN_A_TEST
            for definitions in info.name2fixturedefs.values()
            if definitions
        ):
            return 1
        return 2

    module_rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        module_rank[module] = min(module_rank.get(module, 2), rank(item))
    order = {module: n for n, module in enumerate(module_rank)}
    items.sort(
        key=lambda item: (
            module_rank[item.nodeid.split("::", 1)[0]],
            order[item.nodeid.split("::", 1)[0]],
        )
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "PYTEST_XDIST_WORKER" in os.environ:  # the same order on every worker
        _heavy_module_first(items, config)


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, dropped at the end."""
    admin_url = _pg_admin_url()
    if admin_url is None:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    name = f"productops_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_url.rpartition("/")
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _truncate_postgres(ws: Workspace) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with ws.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def workspace(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Workspace]:
    """A fresh, migrated workspace on the backend under test."""
    kwargs: dict[str, str] = {}
    if db_backend == "postgresql":
        kwargs["database_url"] = request.getfixturevalue("pg_database_url")
    ws = init_workspace(tmp_path / "ws", name="Test Co", **kwargs)
    if db_backend == "postgresql":
        _truncate_postgres(ws)
    try:
        yield ws
    finally:
        if db_backend == "postgresql":
            _truncate_postgres(ws)
        ws.close()


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = init_workspace(tmp_path / "ws", name="Test Co")
    yield ws
    ws.close()


@pytest.fixture
def app(workspace: Workspace) -> TestClient:
    return TestClient(create_app(workspace))


@dataclass
class SignedIn:
    client: TestClient
    csrf: str
    user_id: int
    email: str

    def post(self, url: str, data: dict[str, str] | None = None, **kw: object) -> object:
        return self.client.post(url, data={**(data or {}), "csrf_token": self.csrf}, **kw)


def make_user(ws: Workspace, role: Role | str, email: str | None = None) -> tuple[int, str]:
    email = email or f"{role}-{secrets.token_hex(3)}@example.com"
    with transaction(ws.sessions) as s:
        user = auth.create_user(s, email, f"{str(role).title()} Person", PASSWORD, role)
        return user.id, user.email


def sign_in(ws: Workspace, role: Role | str, email: str | None = None) -> SignedIn:
    """A browser-like client signed in through the real login form."""
    user_id, email = make_user(ws, role, email)
    client = TestClient(create_app(ws), follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
    )
    assert r.status_code == 303, r.text
    home = client.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf is not None
    return SignedIn(client=client, csrf=csrf.group(1), user_id=user_id, email=email)


def api_key(ws: Workspace, scope: str) -> str:
    with transaction(ws.sessions) as s:
        return auth.create_api_key(s, f"{scope} test key", scope, actor="test").secret


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` served by a real uvicorn on a free port of 127.0.0.1 (in a thread): yields its
    base URL once /healthz answers, and stops the server afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the uvicorn server did not answer /healthz")
            time.sleep(0.05)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
