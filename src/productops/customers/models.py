"""Accounts and the people in them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from productops.core.clock import utcnow
from productops.core.db import Base, UTCDateTime


class Account(Base):
    """A customer company, with its revenue and the traits used to segment it."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    domain: Mapped[str | None] = mapped_column(String(300))
    plan: Mapped[str] = mapped_column(String(50), index=True)
    segment: Mapped[str] = mapped_column(String(50), index=True)
    region: Mapped[str] = mapped_column(String(50))
    arr: Mapped[float] = mapped_column(Numeric(14, 2, asdecimal=False), default=0)
    traits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Every change stamps this; other pillars (the event store's account dimension) follow it.
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )

    people: Mapped[list[Person]] = relationship(back_populates="account")


class Person(Base):
    """Someone who uses the customer's product: the `userId` that events and feedback carry."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(300))
    traits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )

    account: Mapped[Account | None] = relationship(back_populates="people")
