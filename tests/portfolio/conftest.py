"""Workspaces for the portfolio tests: outbound requests may reach 127.0.0.1 (the fake Jira
and Linear), on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from productops.core.workspace import Workspace, init_workspace
from tests.conftest import _truncate_postgres


@pytest.fixture
def pws(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """A workspace whose outbound guard lets 127.0.0.1 through (`outbound_allow_hosts`)."""
    kwargs: dict[str, object] = {"outbound_allow_hosts": ["127.0.0.1"]}
    if db_backend == "postgresql":
        kwargs["database_url"] = request.getfixturevalue("pg_database_url")
    ws = init_workspace(tmp_path / "ws", name="Portfolio Co", **kwargs)
    if db_backend == "postgresql":
        _truncate_postgres(ws)
    try:
        yield ws
    finally:
        if db_backend == "postgresql":
            _truncate_postgres(ws)
        ws.close()
