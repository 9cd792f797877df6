"""accounts and people: updated_at, which other pillars follow

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import productops.core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("accounts", "people"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("updated_at", productops.core.db.UTCDateTime(timezone=True)))
        op.execute(f"UPDATE {table} SET updated_at = created_at")
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "updated_at",
                existing_type=productops.core.db.UTCDateTime(timezone=True),
                nullable=False,
            )
            batch.create_index(f"ix_{table}_updated_at", ["updated_at"])


def downgrade() -> None:
    for table in ("accounts", "people"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_updated_at")
            batch.drop_column("updated_at")
