"""Tables of saved insights and annotations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from productops.core.clock import utcnow
from productops.core.db import Base, UTCDateTime


class SavedInsight(Base):
    """One explorer question kept under a title: its kind (sql, funnel, retention, ...) and
    the parameters the explorer ran it with."""

    __tablename__ = "saved_insights"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Annotation(Base):
    """A dated note ("pricing page launched"), drawn on every time chart that holds its day."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    text: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
