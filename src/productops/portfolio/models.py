"""Roadmap & OKRs: objectives and key results, initiatives, epics and their issues (imported
from Jira or Linear, or made by hand), written updates, the rules that map imported work to
strategy, and daily snapshots for charts and the change log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from productops.core.clock import utcnow
from productops.core.db import Base, UTCDateTime


class Connection(Base):
    """A Jira Cloud, Jira Server/Data Center or Linear site that work is synced from. The
    token is stored encrypted (`core.secrets`) and never shown back."""

    __tablename__ = "portfolio_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # jira | jira-dc | linear | jira-csv | linear-csv
    url: Mapped[str] = mapped_column(String(500), default="")
    username: Mapped[str] = mapped_column(String(320), default="")  # Jira Cloud: the account email
    token_encrypted: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[str] = mapped_column(Text, default="")  # JQL (Jira) or team keys (Linear)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    story_points_field: Mapped[str | None] = mapped_column(String(100))
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_sync_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncRun(Base):
    """One sync of a connection: when, and its report (created, updated, deleted, moved,
    unmapped), or the error that stopped it."""

    __tablename__ = "portfolio_sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("portfolio_connections.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class Objective(Base):
    """An objective for a quarter (or a longer period); objectives may nest."""

    __tablename__ = "portfolio_objectives"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    period: Mapped[str] = mapped_column(String(20), index=True)  # 2026-Q1
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_objectives.id", ondelete="SET NULL"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    # How much the linked work's progress counts beside the key results (0: it does not).
    work_weight: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | closed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KeyResult(Base):
    """A measurable result of an objective: progress = (current - start) / (target - start).
    Driven by a catalog metric (`metric`) or updated by hand with a comment."""

    __tablename__ = "portfolio_key_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    objective_id: Mapped[int] = mapped_column(
        ForeignKey("portfolio_objectives.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    metric: Mapped[str | None] = mapped_column(String(100))
    metric_grain: Mapped[str] = mapped_column(String(10), default="week")
    start_value: Mapped[float] = mapped_column(Float, default=0.0)
    target_value: Mapped[float] = mapped_column(Float)
    current_value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(30), default="")
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CheckIn(Base):
    """A key result's value at a moment: typed by hand (with a comment) or read from the
    metric catalog."""

    __tablename__ = "portfolio_checkins"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_result_id: Mapped[int] = mapped_column(
        ForeignKey("portfolio_key_results.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="hand")  # hand | metric
    author: Mapped[str] = mapped_column(String(200), default="system")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Initiative(Base):
    """A body of work above epics (a Linear initiative, a Jira issue above the epic level, or
    one made here), serving an objective."""

    __tablename__ = "portfolio_initiatives"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_connections.id", ondelete="CASCADE")
    )
    external_id: Mapped[str | None] = mapped_column(String(200))
    key: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(100), default="")
    status_category: Mapped[str] = mapped_column(String(20), default="new")
    owner_name: Mapped[str | None] = mapped_column(String(300))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    objective_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_objectives.id", ondelete="SET NULL"), index=True
    )
    objective_by: Mapped[str | None] = mapped_column(String(20))  # hand | rule
    target_date: Mapped[dt.date | None] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(String(1000))
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Epic(Base):
    """A deliverable: a Jira epic or a Linear project, with the issues under it."""

    __tablename__ = "portfolio_epics"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_connections.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(200))
    key: Mapped[str | None] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(100), default="")
    status_category: Mapped[str] = mapped_column(String(20), default="new", index=True)
    owner_name: Mapped[str | None] = mapped_column(String(300))
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    project: Mapped[str | None] = mapped_column(String(200))
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    parent_external_id: Mapped[str | None] = mapped_column(String(200))
    initiative_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_initiatives.id", ondelete="SET NULL"), index=True
    )
    initiative_by: Mapped[str | None] = mapped_column(String(20))  # parent | rule | hand
    objective_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_objectives.id", ondelete="SET NULL"), index=True
    )
    objective_by: Mapped[str | None] = mapped_column(String(20))  # rule | hand
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    target_date: Mapped[dt.date | None] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(String(1000))
    source_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Issue(Base):
    """A story, task or bug (a sub-task counts under its parent's epic)."""

    __tablename__ = "portfolio_issues"
    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        Index("ix_portfolio_issues_epic_category", "epic_id", "status_category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_connections.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(200))
    key: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    issue_type: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(100), default="")
    status_category: Mapped[str] = mapped_column(String(20), default="new")
    story_points: Mapped[float | None] = mapped_column(Float)
    assignee_name: Mapped[str | None] = mapped_column(String(300))
    epic_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_epics.id", ondelete="SET NULL")
    )
    parent_external_id: Mapped[str | None] = mapped_column(String(200))
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    url: Mapped[str | None] = mapped_column(String(1000))


class Update(Base):
    """A short written update on an objective, initiative or epic: health and narrative."""

    __tablename__ = "portfolio_updates"
    __table_args__ = (Index("ix_portfolio_updates_subject", "subject_type", "subject_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))  # objective | initiative | epic
    subject_id: Mapped[int] = mapped_column(Integer)
    health: Mapped[str] = mapped_column(String(20))  # on_track | at_risk | off_track
    body: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(300), default="system")
    source: Mapped[str] = mapped_column(String(20), default="hand")  # hand | linear
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MappingRule(Base):
    """Imported epics whose label, component, project, team or Jira parent matches `value`
    are linked to an initiative, an objective and/or a team (a link made by hand wins)."""

    __tablename__ = "portfolio_mapping_rules"
    __table_args__ = (UniqueConstraint("connection_id", "match", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_connections.id", ondelete="CASCADE")
    )
    match: Mapped[str] = mapped_column(String(20))  # label | component | project | parent | team
    value: Mapped[str] = mapped_column(String(300))
    initiative_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_initiatives.id", ondelete="CASCADE")
    )
    objective_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_objectives.id", ondelete="CASCADE")
    )
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeatureLink(Base):
    """An epic delivers a feature request of the feedback hub. The reference waits here
    without a foreign key: the feedback pillar owns its ids."""

    __tablename__ = "portfolio_feature_links"

    epic_id: Mapped[int] = mapped_column(
        ForeignKey("portfolio_epics.id", ondelete="CASCADE"), primary_key=True
    )
    feature_request_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Snapshot(Base):
    """How an epic, initiative or objective stood on a day: the history behind the
    progress-over-time charts and the weekly change log."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    progress: Mapped[float | None] = mapped_column(Float)
    issues_total: Mapped[int] = mapped_column(Integer, default=0)
    issues_done: Mapped[int] = mapped_column(Integer, default=0)
    points_total: Mapped[float] = mapped_column(Float, default=0.0)
    points_done: Mapped[float] = mapped_column(Float, default=0.0)
    target_date: Mapped[dt.date | None] = mapped_column(Date)
    status_category: Mapped[str | None] = mapped_column(String(20))
    health: Mapped[str | None] = mapped_column(String(20))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
