"""What the explorer pages show: each analysis run for the page's question and shaped as
panels (data, chart, SQL), kept for the data version so a page seen again is answered from
memory while nothing changed."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

from productops.analytics.catalog.service import catalog_path
from productops.analytics.query.source import event_summary
from productops.analytics.store.customers import customers_version
from productops.core.clock import utcnow
from productops.core.export import frame_records, readable
from productops.core.workspace import Workspace

T = TypeVar("T")
MEMORY = 64


@dataclass
class Shown:
    """One panel of an explorer page (the shape `_panel.html` draws)."""

    key: str
    title: str
    description: str
    data: pd.DataFrame
    chart: dict[str, Any] | None
    sql: dict[str, str] = field(default_factory=dict)
    computed_at: dt.datetime | None = None
    refreshing: bool = False

    def records(self) -> list[dict[str, Any]]:
        return frame_records(self.data)

    def rows(self, limit: int = 200) -> list[list[str]]:
        columns = [str(c) for c in self.data.columns]
        return [[readable(row.get(c), c) for c in columns] for row in self.records()[:limit]]


def data_version(ws: Workspace) -> str:
    """Changes when events arrive, accounts or people change, or the catalog is edited."""
    path = catalog_path(ws)
    catalog = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "-"
    return f"{event_summary(ws).version}|{customers_version(ws)}|{catalog}"


_LOCK = threading.Lock()


def remembered(ws: Workspace, key: Any, compute: Callable[[], T]) -> tuple[T, dt.datetime]:
    """`compute()` once per question and data version (a small memory per workspace)."""
    memo: OrderedDict[str, tuple[T, dt.datetime]] = ws.extras.setdefault(
        "explore.memo", OrderedDict()
    )
    digest = hashlib.sha256(
        json.dumps([data_version(ws), key], sort_keys=True, default=str).encode()
    ).hexdigest()
    with _LOCK:
        hit = memo.get(digest)
        if hit is not None:
            memo.move_to_end(digest)
            return hit
    value = compute()
    at = utcnow()
    with _LOCK:
        memo[digest] = (value, at)
        while len(memo) > MEMORY:
            memo.popitem(last=False)
    return value, at
