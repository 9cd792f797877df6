"""Dashboards: the standard product dashboard and saved dashboards, with charts, numbers and
the SQL behind them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.analytics.dashboards.service import (
        ACCENT,
        LIFECYCLE_COLORS,
        PANEL_KEYS,
        Panel,
        dashboard_panels,
        delete_dashboard,
        funnel_chart,
        get_dashboard,
        ibis_desc,
        list_dashboards,
        retention_chart,
        save_dashboard,
        standard_dashboard,
    )

_NAMES = {
    "ACCENT": ".service",
    "LIFECYCLE_COLORS": ".service",
    "PANEL_KEYS": ".service",
    "Panel": ".service",
    "dashboard_panels": ".service",
    "delete_dashboard": ".service",
    "funnel_chart": ".service",
    "get_dashboard": ".service",
    "ibis_desc": ".service",
    "list_dashboards": ".service",
    "retention_chart": ".service",
    "save_dashboard": ".service",
    "standard_dashboard": ".service",
}
__all__ = [
    "ACCENT",
    "LIFECYCLE_COLORS",
    "PANEL_KEYS",
    "Panel",
    "dashboard_panels",
    "delete_dashboard",
    "funnel_chart",
    "get_dashboard",
    "ibis_desc",
    "list_dashboards",
    "retention_chart",
    "save_dashboard",
    "standard_dashboard",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
