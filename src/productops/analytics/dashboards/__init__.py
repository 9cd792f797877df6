"""Dashboards: the standard product dashboard and saved dashboards, with charts, numbers and
the SQL behind them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.analytics.dashboards.service import (
        PANEL_KEYS,
        PANELS,
        UNITS,
        Panel,
        base_version,
        dashboard_panels,
        delete_dashboard,
        funnel_panel,
        get_dashboard,
        insights_cache,
        list_dashboards,
        palette,
        retention_panel,
        save_dashboard,
        standard_dashboard,
    )

_NAMES = {
    "PANELS": ".service",
    "PANEL_KEYS": ".service",
    "Panel": ".service",
    "UNITS": ".service",
    "base_version": ".service",
    "dashboard_panels": ".service",
    "delete_dashboard": ".service",
    "funnel_panel": ".service",
    "get_dashboard": ".service",
    "insights_cache": ".service",
    "list_dashboards": ".service",
    "palette": ".service",
    "retention_panel": ".service",
    "save_dashboard": ".service",
    "standard_dashboard": ".service",
}
__all__ = [
    "PANELS",
    "PANEL_KEYS",
    "UNITS",
    "Panel",
    "base_version",
    "dashboard_panels",
    "delete_dashboard",
    "funnel_panel",
    "get_dashboard",
    "insights_cache",
    "list_dashboards",
    "palette",
    "retention_panel",
    "save_dashboard",
    "standard_dashboard",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
