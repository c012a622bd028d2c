"""unfinished redemptions: attempts, when to try again, the last error

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 11:30:00
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
        "redemptions",
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        schema="rewards",
    )
    op.add_column(
        "redemptions",
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        schema="rewards",
    )
    op.add_column(
        "redemptions",
        sa.Column("last_error", sa.String(length=500), nullable=True),
        schema="rewards",
    )
    op.create_index(
        "ix_redemptions_unfinished",
        "redemptions",
        ["next_attempt_at"],
        schema="rewards",
        postgresql_where=sa.text("status in ('pending', 'cancelling')"),
    )


def downgrade() -> None:
    op.drop_index("ix_redemptions_unfinished", table_name="redemptions", schema="rewards")
    for column in ("last_error", "next_attempt_at", "attempts"):
        op.drop_column("redemptions", column, schema="rewards")
