"""alert revisions: every change of an alert's band or signals, and when it was last
revised

Alerts raised before this revision keep their current state; their history starts
with the next revision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alerts", sa.Column("revised_at", sa.DateTime(timezone=True)), schema="churn"
    )
    op.execute("update churn.alerts set revised_at = updated_at")
    op.create_table(
        "alert_revisions",
        sa.Column("alert_id", sa.BigInteger, sa.ForeignKey("churn.alerts.alert_id")),
        sa.Column("revision", sa.Integer),
        sa.Column("move", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("signals", JSONB, nullable=False),
        sa.Column("tier", sa.String(32)),
        sa.Column("value_at_risk", sa.Numeric(14, 2), nullable=False),
        sa.Column("last_purchase_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("severity_from", sa.String(8)),
        sa.Column("severity_to", sa.String(8)),
        sa.Column("signals_added", JSONB, nullable=False),
        sa.Column("signals_removed", JSONB, nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "revision"),
        schema="churn",
    )


def downgrade() -> None:
    op.drop_table("alert_revisions", schema="churn")
    op.drop_column("alerts", "revised_at", schema="churn")
