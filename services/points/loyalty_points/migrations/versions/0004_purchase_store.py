"""purchase store: the store of each recorded purchase, for the refund ingest

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 04:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "purchases", sa.Column("store_id", sa.String(length=128), nullable=True), schema="points"
    )


def downgrade() -> None:
    op.drop_column("purchases", "store_id", schema="points")
