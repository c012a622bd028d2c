"""idempotency keys keep the outcome given, not an HTTP answer

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 10:00:00.000000

`response_status` and `response_body` become `outcome_kind` and `outcome` (JSONB):
a 201 is `redeemed` with the redemption as it was answered (the stored body); a 404
or 409 is `refused` with the error's code and message, `missing` for a 404. Keys
without an answer stay without an outcome.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = 'idempotency_keys'
SCHEMA = 'rewards'


def upgrade() -> None:
    op.add_column(TABLE, sa.Column('outcome_kind', sa.String(length=16), nullable=True), schema=SCHEMA)
    op.add_column(TABLE, sa.Column('outcome', postgresql.JSONB(), nullable=True), schema=SCHEMA)
    op.execute(f"""
        update {SCHEMA}.{TABLE}
        set outcome_kind = 'redeemed', outcome = response_body::jsonb
        where response_status between 200 and 299 and response_body is not null
    """)
    op.execute(f"""
        update {SCHEMA}.{TABLE}
        set outcome_kind = 'refused',
            outcome = jsonb_build_object(
                'code', response_body::jsonb -> 'error' ->> 'code',
                'message', response_body::jsonb -> 'error' ->> 'message',
                'missing', response_status = 404
            )
        where response_status >= 400 and response_body is not null
    """)
    op.drop_column(TABLE, 'response_body', schema=SCHEMA)
    op.drop_column(TABLE, 'response_status', schema=SCHEMA)


def downgrade() -> None:
    op.add_column(TABLE, sa.Column('response_status', sa.SmallInteger(), nullable=True), schema=SCHEMA)
    op.add_column(TABLE, sa.Column('response_body', sa.Text(), nullable=True), schema=SCHEMA)
    # json_build_object, not jsonb: it keeps the fields in the order the API answered with.
    op.execute(f"""
        update {SCHEMA}.{TABLE}
        set response_status = 201,
            response_body = json_build_object(
                'redemption_id', outcome ->> 'redemption_id',
                'member_id', outcome ->> 'member_id',
                'reward_id', outcome ->> 'reward_id',
                'points', outcome -> 'points',
                'status', outcome ->> 'status',
                'coupon_code', outcome ->> 'coupon_code',
                'created_at', replace(outcome ->> 'created_at', '+00:00', 'Z')
            )::text
        where outcome_kind = 'redeemed'
    """)
    op.execute(f"""
        update {SCHEMA}.{TABLE}
        set response_status = case when (outcome ->> 'missing')::boolean then 404 else 409 end,
            response_body = json_build_object(
                'error', json_build_object(
                    'code', outcome ->> 'code',
                    'message', outcome ->> 'message',
                    'details', null
                )
            )::text
        where outcome_kind = 'refused'
    """)
    op.drop_column(TABLE, 'outcome', schema=SCHEMA)
    op.drop_column(TABLE, 'outcome_kind', schema=SCHEMA)
