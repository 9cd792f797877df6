"""App-database tables of saved cohorts: the definition (a dynamic cohort is recomputed from
the events at every use) and the members of a static one (an uploaded list, or the people of
a funnel step kept as they were)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from productops.core.clock import utcnow
from productops.core.db import Base, UTCDateTime


class Cohort(Base):
    """A saved group of people: `dynamic` (rules over events and traits, recomputed) or
    `static` (a fixed list of person ids in `cohort_members`)."""

    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="dynamic")
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CohortMember(Base):
    """One person of a static cohort (the event store's `person_id`)."""

    __tablename__ = "cohort_members"
    __table_args__ = (Index("ix_cohort_members_person", "person_id"),)

    cohort_id: Mapped[int] = mapped_column(
        ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[str] = mapped_column(String(200), primary_key=True)
