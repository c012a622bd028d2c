"""api keys: tills', ops' and services' keys, stored as digests

Revision ID: 0001
Revises:
Create Date: 2026-11-24 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.String(length=128), nullable=True),
        sa.Column("till_id", sa.String(length=128), nullable=True),
        sa.Column("scopes", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("development", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind in ('till', 'ops', 'service')", name=op.f("ck_api_keys_known_kind")
        ),
        sa.CheckConstraint(
            "(kind = 'till') = (store_id is not null)", name=op.f("ck_api_keys_till_has_store")
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
        schema="access",
    )


def downgrade() -> None:
    op.drop_table("api_keys", schema="access")
