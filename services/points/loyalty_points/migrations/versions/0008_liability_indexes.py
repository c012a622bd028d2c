"""indexes the liability report reads by: entries by their moment (the flows of a
period; whether anything happened after the moment asked for) and lots by when they
expire

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "points"


def upgrade() -> None:
    op.create_index("ix_ledger_entries_time", "ledger_entries", ["occurred_at"], schema=S)
    op.create_index("ix_lots_expiry", "lots", ["expires_at"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_lots_expiry", "lots", schema=S)
    op.drop_index("ix_ledger_entries_time", "ledger_entries", schema=S)
