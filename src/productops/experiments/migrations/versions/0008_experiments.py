"""experiments: environments, flags, settings, scheduled changes, SDK connections, results

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 04:37:01.685795
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import productops.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "experiment_environments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_environments")),
        sa.UniqueConstraint("key", name=op.f("uq_experiment_environments_key")),
    )
    op.create_table(
        "experiment_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value_type", sa.String(length=20), nullable=False),
        sa.Column("default_value", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("prerequisites", sa.JSON(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_flags")),
        sa.UniqueConstraint("key", name=op.f("uq_experiment_flags_key")),
    )
    with op.batch_alter_table("experiment_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiment_flags_project"), ["project"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_experiment_flags_updated_at"), ["updated_at"], unique=False
        )

    op.create_table(
        "experiment_flag_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["experiment_environments.id"],
            name=op.f("fk_experiment_flag_settings_environment_id_experiment_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["experiment_flags.id"],
            name=op.f("fk_experiment_flag_settings_flag_id_experiment_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_flag_settings")),
        sa.UniqueConstraint(
            "flag_id", "environment_id", name=op.f("uq_experiment_flag_settings_flag_id")
        ),
    )
    with op.batch_alter_table("experiment_flag_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experiment_flag_settings_environment_id"),
            ["environment_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_experiment_flag_settings_flag_id"), ["flag_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experiment_flag_settings_updated_at"), ["updated_at"], unique=False
        )

    op.create_table(
        "experiment_scheduled_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("run_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["experiment_environments.id"],
            name=op.f("fk_experiment_scheduled_changes_environment_id_experiment_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["experiment_flags.id"],
            name=op.f("fk_experiment_scheduled_changes_flag_id_experiment_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_scheduled_changes")),
    )
    with op.batch_alter_table("experiment_scheduled_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experiment_scheduled_changes_flag_id"), ["flag_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experiment_scheduled_changes_run_at"), ["run_at"], unique=False
        )

    op.create_table(
        "experiment_sdk_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_prefix", sa.String(length=20), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["experiment_environments.id"],
            name=op.f("fk_experiment_sdk_connections_environment_id_experiment_environments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_sdk_connections")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_experiment_sdk_connections_key_hash")),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("hypothesis", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=True),
        sa.Column("feature_request_id", sa.Integer(), nullable=True),
        sa.Column("epic_id", sa.Integer(), nullable=True),
        sa.Column("primary_metric", sa.String(length=100), nullable=False),
        sa.Column("guardrail_metrics", sa.JSON(), nullable=False),
        sa.Column("variations", sa.JSON(), nullable=False),
        sa.Column("exposure_event", sa.String(length=200), nullable=False),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("started_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("winner", sa.String(length=100), nullable=True),
        sa.Column("learnings", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["epic_id"],
            ["portfolio_epics.id"],
            name=op.f("fk_experiments_epic_id_portfolio_epics"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["feature_request_id"],
            ["feature_requests.id"],
            name=op.f("fk_experiments_feature_request_id_feature_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["experiment_flags.id"],
            name=op.f("fk_experiments_flag_id_experiment_flags"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("key", name=op.f("uq_experiments_key")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_epic_id"), ["epic_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_experiments_feature_request_id"), ["feature_request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_experiments_flag_id"), ["flag_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "experiment_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_results_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_results")),
    )
    with op.batch_alter_table("experiment_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experiment_results_experiment_id"), ["experiment_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("experiment_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiment_results_experiment_id"))

    op.drop_table("experiment_results")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_updated_at"))
        batch_op.drop_index(batch_op.f("ix_experiments_status"))
        batch_op.drop_index(batch_op.f("ix_experiments_flag_id"))
        batch_op.drop_index(batch_op.f("ix_experiments_feature_request_id"))
        batch_op.drop_index(batch_op.f("ix_experiments_epic_id"))

    op.drop_table("experiments")
    op.drop_table("experiment_sdk_connections")
    with op.batch_alter_table("experiment_scheduled_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiment_scheduled_changes_run_at"))
        batch_op.drop_index(batch_op.f("ix_experiment_scheduled_changes_flag_id"))

    op.drop_table("experiment_scheduled_changes")
    with op.batch_alter_table("experiment_flag_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiment_flag_settings_updated_at"))
        batch_op.drop_index(batch_op.f("ix_experiment_flag_settings_flag_id"))
        batch_op.drop_index(batch_op.f("ix_experiment_flag_settings_environment_id"))

    op.drop_table("experiment_flag_settings")
    with op.batch_alter_table("experiment_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiment_flags_updated_at"))
        batch_op.drop_index(batch_op.f("ix_experiment_flags_project"))

    op.drop_table("experiment_flags")
    op.drop_table("experiment_environments")
