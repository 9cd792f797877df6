"""Shared pieces of the ingest tests: an app with the ingest endpoints and event counts."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import FastAPI

from productops.analytics import store
from productops.analytics.ingest import routes as ingest_routes
from productops.analytics.settings import events_file
from productops.core.workspace import Workspace
from productops.web.app import create_app


def ingest_app(ws: Workspace) -> FastAPI:
    """The productops app with the ingest endpoints (registering twice is a no-op)."""
    app = create_app(ws)
    ingest_routes.register(app)
    return app


def basic(key: str) -> dict[str, str]:
    """Segment's header: HTTP Basic auth with the write key as the username."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def rows(ws: Workspace, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Query the event store through this process's writer (which creates its tables)."""
    with store.writer_for(events_file(ws)).read() as con:
        return [tuple(r) for r in con.execute(sql, params or []).fetchall()]


def count(ws: Workspace, where: str = "TRUE", params: list[Any] | None = None) -> int:
    return int(rows(ws, f"SELECT count(*) FROM events WHERE {where}", params)[0][0])


def close_store(ws: Workspace) -> None:
    store.close_writer(events_file(ws))
