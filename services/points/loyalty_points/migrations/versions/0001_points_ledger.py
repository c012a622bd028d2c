"""points ledger: balances, append-only ledger entries, purchases, refunds, outbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 18:33:20.304571
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


APPEND_ONLY_FUNCTION = """
create function points.refuse_ledger_change() returns trigger language plpgsql as $$
begin
    raise exception 'ledger entries are append-only (% refused)', tg_op;
end $$
"""

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('balances',
    sa.Column('member_id', sa.String(length=128), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_balances')),
    schema='points'
    )
    op.create_table('consumer_progress',
    sa.Column('consumer_group', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('next_offset', sa.BigInteger(), nullable=False),
    sa.Column('log_id', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('consumer_group', 'topic', 'partition', name=op.f('pk_consumer_progress')),
    schema='points'
    )
    op.create_table('ledger_entries',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('member_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=False),
    sa.Column('purchase_id', sa.String(length=128), nullable=True),
    sa.Column('tier', sa.String(length=32), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries')),
    schema='points'
    )
    op.create_index('ix_ledger_entries_member', 'ledger_entries', ['member_id', 'id'], unique=False, schema='points')
    op.create_index('uq_ledger_entries_kind_reference', 'ledger_entries', ['kind', 'reference'], unique=True, schema='points')
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=True),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    schema='points'
    )
    op.create_table('purchases',
    sa.Column('purchase_id', sa.String(length=128), nullable=False),
    sa.Column('member_id', sa.String(length=128), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('points_earned', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('purchase_id', name=op.f('pk_purchases')),
    schema='points'
    )
    op.create_index('ix_purchases_member_time', 'purchases', ['member_id', 'occurred_at'], unique=False, schema='points')
    op.create_table('refunds',
    sa.Column('refund_id', sa.String(length=128), nullable=False),
    sa.Column('purchase_id', sa.String(length=128), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('points_clawed_back', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['purchase_id'], ['points.purchases.purchase_id'], name=op.f('fk_refunds_purchase_id_purchases')),
    sa.PrimaryKeyConstraint('refund_id', name=op.f('pk_refunds')),
    schema='points'
    )
    op.create_index('ix_refunds_purchase', 'refunds', ['purchase_id'], unique=False, schema='points')
    # The ledger is append-only: the database itself refuses to change history.
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(
        "create trigger ledger_entries_append_only before update or delete on points.ledger_entries "
        "for each row execute function points.refuse_ledger_change()"
    )


def downgrade() -> None:
    op.execute("drop trigger ledger_entries_append_only on points.ledger_entries")
    op.execute("drop function points.refuse_ledger_change()")
    op.drop_index('ix_refunds_purchase', table_name='refunds', schema='points')
    op.drop_table('refunds', schema='points')
    op.drop_index('ix_purchases_member_time', table_name='purchases', schema='points')
    op.drop_table('purchases', schema='points')
    op.drop_table('outbox', schema='points')
    op.drop_index('uq_ledger_entries_kind_reference', table_name='ledger_entries', schema='points')
    op.drop_index('ix_ledger_entries_member', table_name='ledger_entries', schema='points')
    op.drop_table('ledger_entries', schema='points')
    op.drop_table('consumer_progress', schema='points')
    op.drop_table('balances', schema='points')
