"""The rooms of productops. Each domain is a package; the shell discovers its web routes
(`routes.register(app)`, which also adds navigation entries and home cards) and its job
handlers (`tasks`) from here. CLI groups are added in `productops/cli.py` and demo steps in
`productops.demo.STEP_MODULES`."""

from __future__ import annotations

import importlib
from types import ModuleType

DOMAINS: tuple[str, ...] = (
    "productops.core",
    "productops.customers",
    "productops.analytics",
    "productops.demo",
)


def _import_all(module: str) -> list[ModuleType]:
    found = []
    for domain in DOMAINS:
        name = f"{domain}.{module}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def load_job_handlers() -> list[ModuleType]:
    """Import every domain's `tasks` module (they register handlers with `@job_handler`)."""
    return _import_all("tasks")


def route_modules() -> list[ModuleType]:
    """Every domain's `routes` module; each has `register(app)`."""
    return _import_all("routes")
