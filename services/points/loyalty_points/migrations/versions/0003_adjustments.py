"""adjustments: points moved by hand by ops, with reason and actor

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 04:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "adjustments",
        sa.Column("adjustment_id", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("adjustment_id", name=op.f("pk_adjustments")),
        schema="points",
    )
    op.create_index(
        "ix_adjustments_member", "adjustments", ["member_id"], unique=False, schema="points"
    )


def downgrade() -> None:
    op.drop_index("ix_adjustments_member", table_name="adjustments", schema="points")
    op.drop_table("adjustments", schema="points")
