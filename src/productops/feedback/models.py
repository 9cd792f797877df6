"""Feedback: items from every channel, their vectors, themes, tags, feature requests (with
evidence, votes and who was told), competitors and saved searches.

Full-text search indexes are not tables here: the migration adds them per database (an FTS5
table on SQLite, a GIN index on PostgreSQL) and `DERIVED` names them for the schema check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from productops.core.clock import utcnow
from productops.core.db import Base, UTCDateTime

# Schema objects the migration creates beside the tables (full-text indexes), which the
# models do not describe; the models-versus-migrations check leaves them alone.
DERIVED = frozenset(
    {
        "feedback_fts",
        "feedback_fts_data",
        "feedback_fts_idx",
        "feedback_fts_docsize",
        "feedback_fts_config",
        "ix_feedback_items_fts",
    }
)
Base.metadata.info.setdefault("derived", set()).update(DERIVED)

STATUSES = ("new", "triaged", "duplicate", "spam")
REQUEST_STATUSES = ("under_review", "planned", "in_progress", "shipped", "declined")
IMPORTANCE = ("unknown", "nice_to_have", "important", "critical")


class FeedbackItem(Base):
    """One piece of feedback as a channel gave it: a ticket, a conversation, a survey answer,
    an app review, a sales call, or anything sent through the API."""

    __tablename__ = "feedback_items"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str | None] = mapped_column(String(500))
    # As received (HTML and quoted replies included); `text` is what processing made of it.
    body: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(1000))
    author_email: Mapped[str | None] = mapped_column(String(320), index=True)
    author_name: Mapped[str | None] = mapped_column(String(300))
    author_external_id: Mapped[str | None] = mapped_column(String(200))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )
    # The source's own score: NPS 0-10, CSAT 1-5, stars 1-5 (score_kind says which).
    score: Mapped[float | None] = mapped_column(Float)
    score_kind: Mapped[str | None] = mapped_column(String(20))
    # -1 (negative) .. 1 (positive); from the source's score when it has one, else the model.
    sentiment: Mapped[float | None] = mapped_column(Float, index=True)
    sentiment_source: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[str | None] = mapped_column(String(12), index=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("feedback_items.id", ondelete="SET NULL"), index=True
    )
    duplicate_similarity: Mapped[float | None] = mapped_column(Float)
    theme_id: Mapped[int | None] = mapped_column(
        ForeignKey("feedback_themes.id", ondelete="SET NULL"), index=True
    )
    # "auto" (discovery put it there) or "manual" (a person did; discovery leaves it).
    theme_source: Mapped[str | None] = mapped_column(String(10))
    theme_similarity: Mapped[float | None] = mapped_column(Float)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FeedbackVector(Base):
    """An item's sentence embedding (float32, L2-normalised), computed offline."""

    __tablename__ = "feedback_vectors"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_items.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(80))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Theme(Base):
    """A group of feedback about one thing: found by discovery or made by a person."""

    __tablename__ = "feedback_themes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_phrases: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default="discovered")  # or "curated"
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    # Someone renamed it: rediscovery keeps the name.
    named_by_person: Mapped[bool] = mapped_column(Boolean, default=False)
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Tag(Base):
    """A curated tag the team applies to feedback."""

    __tablename__ = "feedback_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ItemTag(Base):
    """A tag on an item: applied (by a person, or confirmed) or suggested by auto-tagging
    with a confidence, waiting for a person."""

    __tablename__ = "feedback_item_tags"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_items.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    state: Mapped[str] = mapped_column(String(20), default="applied")  # or "suggested"
    confidence: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeatureRequest(Base):
    """Something customers ask the product to do, with the feedback that asks for it."""

    __tablename__ = "feature_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="under_review", index=True)
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("feature_requests.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    shipped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RequestLink(Base):
    """A request's link to planned work elsewhere: an epic or an objective of the roadmap
    pillar (by kind and id; that pillar points here, this one does not import it)."""

    __tablename__ = "feature_request_links"
    __table_args__ = (UniqueConstraint("request_id", "target_kind", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("feature_requests.id", ondelete="CASCADE"), index=True
    )
    target_kind: Mapped[str] = mapped_column(String(30))  # "epic", "objective", "initiative"
    target_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Evidence(Base):
    """Feedback attached to a request: the excerpt that asks, and how much it matters."""

    __tablename__ = "feature_request_evidence"
    __table_args__ = (UniqueConstraint("request_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("feature_requests.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_items.id", ondelete="CASCADE"), index=True
    )
    excerpt: Mapped[str | None] = mapped_column(Text)
    importance: Mapped[str] = mapped_column(String(20), default="unknown")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Vote(Base):
    """A person's vote for a request (public-portal style: one per person)."""

    __tablename__ = "feature_request_votes"
    __table_args__ = (UniqueConstraint("request_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("feature_requests.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """Someone who asked was told that their request shipped (once per person and request)."""

    __tablename__ = "feature_request_notifications"
    __table_args__ = (UniqueConstraint("request_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("feature_requests.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(20))  # "email" or "export"
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Competitor(Base):
    """A competitor, with the other names customers use for it."""

    __tablename__ = "competitors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    website: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mention(Base):
    """Feedback that names a competitor."""

    __tablename__ = "competitor_mentions"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_items.id", ondelete="CASCADE"), primary_key=True
    )
    competitor_id: Mapped[int] = mapped_column(
        ForeignKey("competitors.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    matched: Mapped[str] = mapped_column(String(200))


class SavedView(Base):
    """A saved search: its words and filters, kept under a name."""

    __tablename__ = "feedback_saved_views"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_feedback_items_account_created", FeedbackItem.account_id, FeedbackItem.created_at)
Index("ix_feedback_items_theme_created", FeedbackItem.theme_id, FeedbackItem.created_at)
