"""roadmap & OKRs: connections, objectives, key results, initiatives, epics, issues, updates

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import productops.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portfolio_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("issues_total", sa.Integer(), nullable=False),
        sa.Column("issues_done", sa.Integer(), nullable=False),
        sa.Column("points_total", sa.Float(), nullable=False),
        sa.Column("points_done", sa.Float(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("status_category", sa.String(length=20), nullable=True),
        sa.Column("health", sa.String(length=20), nullable=True),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_snapshots")),
        sa.UniqueConstraint(
            "subject_type", "subject_id", "day", name=op.f("uq_portfolio_snapshots_subject_type")
        ),
    )
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_snapshots_day"), ["day"], unique=False)

    op.create_table(
        "portfolio_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("health", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_updates")),
        sa.UniqueConstraint("external_id", name=op.f("uq_portfolio_updates_external_id")),
    )
    with op.batch_alter_table("portfolio_updates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portfolio_updates_subject", ["subject_type", "subject_id", "at"], unique=False
        )

    op.create_table(
        "portfolio_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("story_points_field", sa.String(length=100), nullable=True),
        sa.Column("last_sync_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_sync_started_at", productops.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_portfolio_connections_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_portfolio_connections_name")),
    )
    op.create_table(
        "portfolio_objectives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("work_weight", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_portfolio_objectives_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["portfolio_objectives.id"],
            name=op.f("fk_portfolio_objectives_parent_id_portfolio_objectives"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_portfolio_objectives_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_objectives")),
    )
    with op.batch_alter_table("portfolio_objectives", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_objectives_parent_id"), ["parent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_portfolio_objectives_period"), ["period"], unique=False
        )

    op.create_table(
        "portfolio_initiatives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("key", sa.String(length=100), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=100), nullable=False),
        sa.Column("status_category", sa.String(length=20), nullable=False),
        sa.Column("owner_name", sa.String(length=300), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("objective_id", sa.Integer(), nullable=True),
        sa.Column("objective_by", sa.String(length=20), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column(
            "source_updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["portfolio_connections.id"],
            name=op.f("fk_portfolio_initiatives_connection_id_portfolio_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["portfolio_objectives.id"],
            name=op.f("fk_portfolio_initiatives_objective_id_portfolio_objectives"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_portfolio_initiatives_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_initiatives")),
        sa.UniqueConstraint(
            "connection_id", "external_id", name=op.f("uq_portfolio_initiatives_connection_id")
        ),
    )
    with op.batch_alter_table("portfolio_initiatives", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_initiatives_objective_id"), ["objective_id"], unique=False
        )

    op.create_table(
        "portfolio_key_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("objective_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=True),
        sa.Column("metric_grain", sa.String(length=10), nullable=False),
        sa.Column("start_value", sa.Float(), nullable=False),
        sa.Column("target_value", sa.Float(), nullable=False),
        sa.Column("current_value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=30), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["portfolio_objectives.id"],
            name=op.f("fk_portfolio_key_results_objective_id_portfolio_objectives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_portfolio_key_results_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_key_results")),
    )
    with op.batch_alter_table("portfolio_key_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_key_results_objective_id"), ["objective_id"], unique=False
        )

    op.create_table(
        "portfolio_sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("started_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["portfolio_connections.id"],
            name=op.f("fk_portfolio_sync_runs_connection_id_portfolio_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_sync_runs")),
    )
    with op.batch_alter_table("portfolio_sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_sync_runs_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "portfolio_checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_result_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_result_id"],
            ["portfolio_key_results.id"],
            name=op.f("fk_portfolio_checkins_key_result_id_portfolio_key_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_checkins")),
    )
    with op.batch_alter_table("portfolio_checkins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_checkins_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_portfolio_checkins_key_result_id"), ["key_result_id"], unique=False
        )

    op.create_table(
        "portfolio_epics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("key", sa.String(length=100), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=100), nullable=False),
        sa.Column("status_category", sa.String(length=20), nullable=False),
        sa.Column("owner_name", sa.String(length=300), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("parent_external_id", sa.String(length=200), nullable=True),
        sa.Column("initiative_id", sa.Integer(), nullable=True),
        sa.Column("initiative_by", sa.String(length=20), nullable=True),
        sa.Column("objective_id", sa.Integer(), nullable=True),
        sa.Column("objective_by", sa.String(length=20), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column(
            "source_created_at", productops.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "source_updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("resolved_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["portfolio_connections.id"],
            name=op.f("fk_portfolio_epics_connection_id_portfolio_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["portfolio_initiatives.id"],
            name=op.f("fk_portfolio_epics_initiative_id_portfolio_initiatives"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["portfolio_objectives.id"],
            name=op.f("fk_portfolio_epics_objective_id_portfolio_objectives"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_portfolio_epics_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_epics")),
        sa.UniqueConstraint(
            "connection_id", "external_id", name=op.f("uq_portfolio_epics_connection_id")
        ),
    )
    with op.batch_alter_table("portfolio_epics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_epics_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_portfolio_epics_initiative_id"), ["initiative_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portfolio_epics_key"), ["key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_portfolio_epics_objective_id"), ["objective_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_portfolio_epics_status_category"), ["status_category"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portfolio_epics_team_id"), ["team_id"], unique=False)

    op.create_table(
        "portfolio_mapping_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("match", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=True),
        sa.Column("objective_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_portfolio_mapping_rules_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["portfolio_connections.id"],
            name=op.f("fk_portfolio_mapping_rules_connection_id_portfolio_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["portfolio_initiatives.id"],
            name=op.f("fk_portfolio_mapping_rules_initiative_id_portfolio_initiatives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["portfolio_objectives.id"],
            name=op.f("fk_portfolio_mapping_rules_objective_id_portfolio_objectives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_mapping_rules")),
        sa.UniqueConstraint(
            "connection_id", "match", "value", name=op.f("uq_portfolio_mapping_rules_connection_id")
        ),
    )
    op.create_table(
        "portfolio_feature_links",
        sa.Column("epic_id", sa.Integer(), nullable=False),
        sa.Column("feature_request_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["epic_id"],
            ["portfolio_epics.id"],
            name=op.f("fk_portfolio_feature_links_epic_id_portfolio_epics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "epic_id", "feature_request_id", name=op.f("pk_portfolio_feature_links")
        ),
    )
    with op.batch_alter_table("portfolio_feature_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_feature_links_feature_request_id"),
            ["feature_request_id"],
            unique=False,
        )

    op.create_table(
        "portfolio_issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("issue_type", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=100), nullable=False),
        sa.Column("status_category", sa.String(length=20), nullable=False),
        sa.Column("story_points", sa.Float(), nullable=True),
        sa.Column("assignee_name", sa.String(length=300), nullable=True),
        sa.Column("epic_id", sa.Integer(), nullable=True),
        sa.Column("parent_external_id", sa.String(length=200), nullable=True),
        sa.Column(
            "source_updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("resolved_at", productops.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["portfolio_connections.id"],
            name=op.f("fk_portfolio_issues_connection_id_portfolio_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["epic_id"],
            ["portfolio_epics.id"],
            name=op.f("fk_portfolio_issues_epic_id_portfolio_epics"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_issues")),
        sa.UniqueConstraint(
            "connection_id", "external_id", name=op.f("uq_portfolio_issues_connection_id")
        ),
    )
    with op.batch_alter_table("portfolio_issues", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portfolio_issues_epic_category", ["epic_id", "status_category"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("portfolio_issues", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_issues_epic_category")

    op.drop_table("portfolio_issues")
    with op.batch_alter_table("portfolio_feature_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_feature_links_feature_request_id"))

    op.drop_table("portfolio_feature_links")
    op.drop_table("portfolio_mapping_rules")
    with op.batch_alter_table("portfolio_epics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_epics_team_id"))
        batch_op.drop_index(batch_op.f("ix_portfolio_epics_status_category"))
        batch_op.drop_index(batch_op.f("ix_portfolio_epics_objective_id"))
        batch_op.drop_index(batch_op.f("ix_portfolio_epics_key"))
        batch_op.drop_index(batch_op.f("ix_portfolio_epics_initiative_id"))
        batch_op.drop_index(batch_op.f("ix_portfolio_epics_connection_id"))

    op.drop_table("portfolio_epics")
    with op.batch_alter_table("portfolio_checkins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_checkins_key_result_id"))
        batch_op.drop_index(batch_op.f("ix_portfolio_checkins_at"))

    op.drop_table("portfolio_checkins")
    with op.batch_alter_table("portfolio_sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_sync_runs_connection_id"))

    op.drop_table("portfolio_sync_runs")
    with op.batch_alter_table("portfolio_key_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_key_results_objective_id"))

    op.drop_table("portfolio_key_results")
    with op.batch_alter_table("portfolio_initiatives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_initiatives_objective_id"))

    op.drop_table("portfolio_initiatives")
    with op.batch_alter_table("portfolio_objectives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_objectives_period"))
        batch_op.drop_index(batch_op.f("ix_portfolio_objectives_parent_id"))

    op.drop_table("portfolio_objectives")
    op.drop_table("portfolio_connections")
    with op.batch_alter_table("portfolio_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_updates_subject")

    op.drop_table("portfolio_updates")
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_snapshots_day"))

    op.drop_table("portfolio_snapshots")
