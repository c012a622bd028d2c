"""debits: points spent on redemptions, and their restoring

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 21:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "debits",
        sa.Column("debit_id", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("debit_id", name=op.f("pk_debits")),
        schema="points",
    )
    op.create_index("ix_debits_member", "debits", ["member_id"], unique=False, schema="points")


def downgrade() -> None:
    op.drop_index("ix_debits_member", table_name="debits", schema="points")
    op.drop_table("debits", schema="points")
