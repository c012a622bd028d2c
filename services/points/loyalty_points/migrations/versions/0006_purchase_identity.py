"""purchase identity: a purchase is (store_id, purchase_id), a refund counts once per
purchase, and each ledger entry names its purchase's store

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from loyalty_platform.purchase_identity import key_by_id, key_by_store

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "points"


def upgrade() -> None:
    key_by_store(S, purchases_had_store=True, refunds_refer=True)
    op.add_column("ledger_entries", sa.Column("store_id", sa.String(128)), schema=S)
    # The one change ever made to written entries: naming the store they already meant.
    op.execute(f"alter table {S}.ledger_entries disable trigger ledger_entries_append_only")
    op.execute(
        f"update {S}.ledger_entries e set store_id = p.store_id "
        f"from {S}.purchases p where p.purchase_id = e.purchase_id"
    )
    op.execute(f"alter table {S}.ledger_entries enable trigger ledger_entries_append_only")
    op.drop_index("uq_ledger_entries_kind_reference", table_name="ledger_entries", schema=S)
    op.create_index(
        "uq_ledger_entries_once",
        "ledger_entries",
        ["kind", "store_id", "purchase_id", "reference"],
        unique=True,
        schema=S,
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.drop_index("uq_ledger_entries_once", table_name="ledger_entries", schema=S)
    op.create_index(
        "uq_ledger_entries_kind_reference",
        "ledger_entries",
        ["kind", "reference"],
        unique=True,
        schema=S,
    )
    op.drop_column("ledger_entries", "store_id", schema=S)
    key_by_id(S, purchases_had_store=True, refunds_refer=True)
