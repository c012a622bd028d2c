"""lots: each earning is a lot that vests and expires; entries say which lots they
touched; balances know what is spendable and when a member's next lot moment is; the
partitions' clocks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_platform.settings import ProgrammeSettings
from loyalty_points.migrations.lots_backfill import backfill

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "points"
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lots",
        sa.Column("lot_id", sa.String(36), nullable=False),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("store_id", sa.String(128), nullable=True),
        sa.Column("earned_at", _TIME, nullable=False),
        sa.Column("vests_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("warn_at", _TIME, nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("vested", sa.Boolean(), nullable=False),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("lot_id", name=op.f("pk_lots")),
        schema=S,
    )
    op.create_index("ix_lots_member", "lots", ["member_id"], schema=S)
    op.create_index(
        "ix_lots_live", "lots", ["member_id"], schema=S, postgresql_where=sa.text("remaining <> 0")
    )
    op.create_table(
        "partition_clocks",
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("watermark", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("partition", name=op.f("pk_partition_clocks")),
        schema=S,
    )
    zero = sa.text("0")
    op.add_column("balances", sa.Column("available", sa.BigInteger(), server_default=zero,
                                        nullable=False), schema=S)  # fmt: skip
    op.add_column("balances", sa.Column("partition", sa.Integer(), nullable=True), schema=S)
    op.add_column("balances", sa.Column("next_moment", _TIME, nullable=True), schema=S)
    op.create_index("ix_balances_due", "balances", ["partition", "next_moment"], schema=S)
    for column in ("available_after", "available_delta"):
        op.add_column("ledger_entries", sa.Column(column, sa.BigInteger(), server_default=zero,
                                                  nullable=False), schema=S)  # fmt: skip
    empty = sa.text("'[]'::jsonb")
    op.add_column("ledger_entries", sa.Column("lots", JSONB(), server_default=empty,
                                              nullable=False), schema=S)  # fmt: skip
    op.add_column("debits", sa.Column("lots", JSONB(), server_default=empty, nullable=False),
                  schema=S)  # fmt: skip
    # The ledgers written so far, replayed under the programme in force (LOYALTY_PROGRAMME).
    backfill(op.get_bind(), ProgrammeSettings().load())


def downgrade() -> None:
    op.drop_column("debits", "lots", schema=S)
    for column in ("lots", "available_delta", "available_after"):
        op.drop_column("ledger_entries", column, schema=S)
    op.drop_index("ix_balances_due", table_name="balances", schema=S)
    for column in ("next_moment", "partition", "available"):
        op.drop_column("balances", column, schema=S)
    op.drop_table("partition_clocks", schema=S)
    op.drop_index("ix_lots_live", table_name="lots", schema=S)
    op.drop_index("ix_lots_member", table_name="lots", schema=S)
    op.drop_table("lots", schema=S)
