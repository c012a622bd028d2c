"""purchase identity: a purchase is (store_id, purchase_id), a refund counts once per
purchase

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:40:00
"""

from collections.abc import Sequence

from loyalty_platform.purchase_identity import key_by_id, key_by_store

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    key_by_store("churn", purchases_had_store=False, refunds_refer=False)


def downgrade() -> None:
    key_by_id("churn", purchases_had_store=False, refunds_refer=False)
