"""Flags, their per-environment rules, scheduled changes, SDK connections, experiments and
their result snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from productops.core.clock import utcnow
from productops.core.db import Base, UTCDateTime


class Environment(Base):
    """Where flags are served: production, staging, development… Each has its own rules and
    kill switches; an SDK connection reads exactly one."""

    __tablename__ = "experiment_environments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Flag(Base):
    """A feature flag: its key (what SDKs ask for), type, default value, project and the
    prerequisites every environment shares."""

    __tablename__ = "experiment_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    value_type: Mapped[str] = mapped_column(String(20))  # boolean | string | number | json
    default_value: Mapped[Any] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text, default="")
    project: Mapped[str] = mapped_column(String(100), default="", index=True)
    owner: Mapped[str] = mapped_column(String(320), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"flag": key, "condition": {...}}]: the flag is off unless each holds
    prerequisites: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )


class FlagSetting(Base):
    """A flag in one environment: on or killed, and its rules (authoring form, checked at
    save and compiled to GrowthBook's payload when served)."""

    __tablename__ = "experiment_flag_settings"
    __table_args__ = (UniqueConstraint("flag_id", "environment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(
        ForeignKey("experiment_flags.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("experiment_environments.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )


class ScheduledChange(Base):
    """A change to a flag's environment that applies itself at `run_at`: turn it on or off,
    or replace its rules. Checked when scheduled; applied (and audited) by the job."""

    __tablename__ = "experiment_scheduled_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(
        ForeignKey("experiment_flags.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("experiment_environments.id", ondelete="CASCADE")
    )
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    enabled: Mapped[bool | None] = mapped_column(Boolean)
    rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(300), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(Text, default="")


class SdkConnection(Base):
    """A client key for GrowthBook's SDKs and the OpenFeature provider: it reads the flags
    of one environment (and one project, when set) and nothing else. Only the key's SHA-256
    is stored."""

    __tablename__ = "experiment_sdk_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("experiment_environments.id", ondelete="CASCADE")
    )
    project: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str] = mapped_column(String(300), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Experiment(Base):
    """An experiment: what we believe and how we will know (hypothesis, metrics from the
    catalog, variations and their split), where it runs (a flag's experiment rule), its
    lifecycle (draft → running → stopped → decided) and what we decided and learned."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    hypothesis: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    flag_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiment_flags.id", ondelete="SET NULL"), index=True
    )
    feature_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("feature_requests.id", ondelete="SET NULL"), index=True
    )
    epic_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_epics.id", ondelete="SET NULL"), index=True
    )
    primary_metric: Mapped[str] = mapped_column(String(100))
    guardrail_metrics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"key": "0", "name": "Control", "weight": 0.5}, ...]
    variations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    exposure_event: Mapped[str] = mapped_column(String(200), default="Experiment Viewed")
    # stats settings: test, difference, alpha, correction, cuped_days, sequential_tuning
    analysis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(20))  # ship | rollback | iterate | …
    winner: Mapped[str | None] = mapped_column(String(100))  # the variation key shipped
    learnings: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(300), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )


class ResultSnapshot(Base):
    """Results computed from the event store at one moment: the aggregates per variation
    and metric, and the readout. The snapshot taken at the decision is frozen: the learning
    library shows it even after the events change."""

    __tablename__ = "experiment_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
