"""saved insights (SQL queries among them), annotations, dashboard-wide settings

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import productops.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_insights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_insights")),
    )
    op.create_index(op.f("ix_saved_insights_kind"), "saved_insights", ["kind"], unique=False)
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    op.create_index(op.f("ix_annotations_day"), "annotations", ["day"], unique=False)
    with op.batch_alter_table("dashboards") as batch:
        batch.add_column(sa.Column("settings", sa.JSON(), server_default="{}", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("dashboards") as batch:
        batch.drop_column("settings")
    op.drop_index(op.f("ix_annotations_day"), table_name="annotations")
    op.drop_table("annotations")
    op.drop_index(op.f("ix_saved_insights_kind"), table_name="saved_insights")
    op.drop_table("saved_insights")
