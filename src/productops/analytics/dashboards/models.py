"""App-database tables of the analytics pillar (the events themselves live in DuckDB)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from productops.core.clock import utcnow
from productops.core.db import Base, UTCDateTime


class Dashboard(Base):
    """A saved dashboard: panels of catalog metrics or saved insights, in order, each a third,
    half, two thirds or the full width, with a dashboard-wide date range and filters."""

    __tablename__ = "dashboards"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    panels: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The dashboard-wide range and filters every panel is drawn with ({"days": 30}, ...).
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
