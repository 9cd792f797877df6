"""The analytics pillar on the web: each room's pages and API, the Insights navigation entry,
the home-page count, and closing the event writer when the app stops."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from productops.analytics import store
from productops.analytics.analyses import routes as analyses_routes
from productops.analytics.catalog import routes as catalog_routes
from productops.analytics.cohorts import routes as cohorts_routes
from productops.analytics.dashboards import routes as dashboards_routes
from productops.analytics.explore import routes as explore_routes
from productops.analytics.ingest import routes as ingest_routes
from productops.analytics.profiles import routes as profiles_routes
from productops.analytics.query.source import event_summary
from productops.analytics.settings import events_file
from productops.analytics.sql import routes as sql_routes
from productops.analytics.tracking import routes as tracking_routes
from productops.core.auth import Principal
from productops.web.nav import HomeCount, NavEntry, add_home_cards, add_nav

ROOMS = (
    ingest_routes,
    # before dashboards: the explorers answer /insights/funnel and /insights/retention
    explore_routes,
    dashboards_routes,
    analyses_routes,
    catalog_routes,
    cohorts_routes,
    sql_routes,
    tracking_routes,
    profiles_routes,
)


def _counts(db: Session, principal: Principal, ws: Any) -> list[HomeCount]:
    s = event_summary(ws)
    return [HomeCount("Events stored", f"{s.events:,}", "/insights")]


def _warm_in_background(ws: Any) -> None:
    """Bring the dashboards' computed panels up to date after a start, off the request path."""
    import logging
    import threading

    from productops.analytics.dashboards.boards import warm

    def run() -> None:
        try:
            warm(ws)
        except Exception:  # a page computes what warming could not
            logging.getLogger(__name__).warning("warming the dashboards failed", exc_info=True)

    threading.Thread(target=run, name="productops-warm-insights", daemon=True).start()


def register(app: FastAPI) -> None:
    for room in ROOMS:
        room.register(app)
    add_nav(app, NavEntry("Insights", "/insights", order=20))
    add_home_cards(app, _counts, order=20)
    ws = app.state.workspace
    path = events_file(ws)
    # A serving process owns the event store from the start (DuckDB has one writer process):
    # every read and write of it in this process goes through this writer, whose index of
    # stored ids loads at once rather than at the first event.
    app.state.startup_hooks.append(lambda: store.writer_for(path).warm())
    app.state.startup_hooks.append(lambda: _warm_in_background(ws))
    app.state.shutdown_hooks.append(lambda: store.close_writer(path))
