"""programme versions and earning rules: each earned entry and purchase says which
version of the programme earned it and which rules changed it; a purchase keeps what
each rule added, for the rules' caps

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "points"


def upgrade() -> None:
    # Entries and purchases from before keep NULL: what version earned them is not known.
    op.add_column("ledger_entries", sa.Column("programme_version", sa.String(64)), schema=S)
    op.add_column(
        "ledger_entries",
        sa.Column("rules", ARRAY(sa.String(64)), server_default=sa.text("'{}'"), nullable=False),
        schema=S,
    )
    op.add_column("purchases", sa.Column("programme_version", sa.String(64)), schema=S)
    op.add_column("purchases", sa.Column("extras", JSONB), schema=S)


def downgrade() -> None:
    op.drop_column("purchases", "extras", schema=S)
    op.drop_column("purchases", "programme_version", schema=S)
    op.drop_column("ledger_entries", "rules", schema=S)
    op.drop_column("ledger_entries", "programme_version", schema=S)
