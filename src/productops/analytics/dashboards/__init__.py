"""Dashboards: the standard product dashboard and saved dashboards, with charts, numbers and
the SQL behind them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.analytics.dashboards.boards import (
        dashboard_panels,
        set_panels,
        set_scope,
        warm,
    )
    from productops.analytics.dashboards.service import (
        PANEL_KEYS,
        PANELS,
        UNITS,
        Panel,
        base_version,
        delete_dashboard,
        get_dashboard,
        insights_cache,
        list_dashboards,
        palette,
        save_dashboard,
        standard_dashboard,
    )

_NAMES = {
    "PANELS": ".service",
    "PANEL_KEYS": ".service",
    "Panel": ".service",
    "UNITS": ".service",
    "base_version": ".service",
    "dashboard_panels": ".boards",
    "delete_dashboard": ".service",
    "get_dashboard": ".service",
    "insights_cache": ".service",
    "list_dashboards": ".service",
    "palette": ".service",
    "save_dashboard": ".service",
    "set_panels": ".boards",
    "set_scope": ".boards",
    "warm": ".boards",
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
    "get_dashboard",
    "insights_cache",
    "list_dashboards",
    "palette",
    "save_dashboard",
    "set_panels",
    "set_scope",
    "standard_dashboard",
    "warm",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
