"""The experiments pillar's pages and API, gathered from its rooms; `register(app)` adds
them, the navigation entries and the home cards."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.core.workspace import Workspace
from productops.experiments.flags import routes as flag_routes
from productops.experiments.flags import service as flags
from productops.experiments.library import routes as library_routes
from productops.experiments.power import routes as power_routes
from productops.experiments.registry import routes as registry_routes
from productops.experiments.registry import service as registry
from productops.experiments.sdk import routes as sdk_routes
from productops.web.nav import HomeCount, NavEntry, add_home_cards, add_nav


def _counts(db: Session, principal: Principal, ws: Workspace) -> list[HomeCount]:
    counts = registry.counts_by_status(db)
    _, total = flags.list_flags(db, limit=1)
    return [
        HomeCount(
            "Experiments running", f"{counts.get('running', 0):,}", "/experiments?status=running"
        ),
        HomeCount("Experiments decided", f"{counts.get('decided', 0):,}", "/experiments/library"),
        HomeCount("Feature flags", f"{total:,}", "/flags"),
    ]


def register(app: FastAPI) -> None:
    # Fixed paths first: /flags/sdk and /experiments/library are not a flag or experiment key.
    app.include_router(sdk_routes.sdk_api)
    app.include_router(sdk_routes.pages)
    app.include_router(sdk_routes.api)
    app.include_router(power_routes.pages)
    app.include_router(power_routes.api)
    app.include_router(library_routes.pages)
    app.include_router(library_routes.api)
    app.include_router(flag_routes.pages)
    app.include_router(flag_routes.api)
    app.include_router(registry_routes.pages)
    app.include_router(registry_routes.api)
    add_nav(app, NavEntry("Experiments", "/experiments", order=40))
    add_nav(app, NavEntry("Flags", "/flags", order=41))
    add_home_cards(app, _counts, order=40)
