"""outbox relay: positions on the log, the lease, parked rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 11:40:00
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
        "outbox_positions",
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("log_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("topic", "partition", name=op.f("pk_outbox_positions")),
        schema="churn",
    )
    op.create_table(
        "outbox_lease",
        sa.Column("relay", sa.String(length=255), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("relay", name=op.f("pk_outbox_lease")),
        schema="churn",
    )
    op.create_table(
        "outbox_parked",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column(
            "parked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_parked")),
        schema="churn",
    )


def downgrade() -> None:
    for table in ("outbox_parked", "outbox_lease", "outbox_positions"):
        op.drop_table(table, schema="churn")
