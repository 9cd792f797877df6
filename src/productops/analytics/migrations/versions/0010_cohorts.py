"""saved cohorts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 06:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import productops.core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint("name", name=op.f("uq_cohorts_name")),
    )
    op.create_table(
        "cohort_members",
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_cohort_members_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cohort_id", "person_id", name=op.f("pk_cohort_members")),
    )
    op.create_index("ix_cohort_members_person", "cohort_members", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cohort_members_person", table_name="cohort_members")
    op.drop_table("cohort_members")
    op.drop_table("cohorts")
