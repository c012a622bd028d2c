"""The migration every consuming service runs once: purchases keyed by their store's
receipt number, `(store_id, purchase_id)`, and refunds counted once per purchase.

A purchase recorded without a store gets the empty store (`UNKNOWN_STORE`), which a
refund naming any store still finds. Called from each service's own Alembic revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty_kernel.intake.records import UNKNOWN_STORE


def key_by_store(schema: str, *, purchases_had_store: bool, refunds_refer: bool) -> None:
    """Purchases keyed by store and id, refunds by their purchase's key and refund id.
    `refunds_refer`: the refunds table has a foreign key to purchases."""
    s = schema
    if refunds_refer:
        op.drop_constraint("fk_refunds_purchase_id_purchases", "refunds", schema=s)
    if not purchases_had_store:
        op.add_column("purchases", sa.Column("store_id", sa.String(128)), schema=s)
    _unknown_store_where_null(f"{s}.purchases")
    op.alter_column("purchases", "store_id", nullable=False, schema=s)
    op.drop_constraint("pk_purchases", "purchases", schema=s)
    op.create_primary_key("pk_purchases", "purchases", ["store_id", "purchase_id"], schema=s)

    op.add_column("refunds", sa.Column("store_id", sa.String(128)), schema=s)
    op.execute(
        f"update {s}.refunds r set store_id = p.store_id "
        f"from {s}.purchases p where p.purchase_id = r.purchase_id"
    )
    _unknown_store_where_null(f"{s}.refunds")  # a refund whose purchase was lost
    op.alter_column("refunds", "store_id", nullable=False, schema=s)
    op.drop_constraint("pk_refunds", "refunds", schema=s)
    op.create_primary_key(
        "pk_refunds", "refunds", ["store_id", "purchase_id", "refund_id"], schema=s
    )
    if refunds_refer:
        op.create_foreign_key(
            "fk_refunds_store_id_purchases",
            "refunds",
            "purchases",
            ["store_id", "purchase_id"],
            ["store_id", "purchase_id"],
            source_schema=s,
            referent_schema=s,
        )


def key_by_id(schema: str, *, purchases_had_store: bool, refunds_refer: bool) -> None:
    """The way back; only while no two stores share a receipt number."""
    s = schema
    if refunds_refer:
        op.drop_constraint("fk_refunds_store_id_purchases", "refunds", schema=s)
    op.drop_constraint("pk_refunds", "refunds", schema=s)
    op.create_primary_key("pk_refunds", "refunds", ["refund_id"], schema=s)
    op.drop_column("refunds", "store_id", schema=s)
    op.drop_constraint("pk_purchases", "purchases", schema=s)
    op.create_primary_key("pk_purchases", "purchases", ["purchase_id"], schema=s)
    if purchases_had_store:
        op.alter_column("purchases", "store_id", nullable=True, schema=s)
    else:
        op.drop_column("purchases", "store_id", schema=s)
    if refunds_refer:
        op.create_foreign_key(
            "fk_refunds_purchase_id_purchases",
            "refunds",
            "purchases",
            ["purchase_id"],
            ["purchase_id"],
            source_schema=s,
            referent_schema=s,
        )


def _unknown_store_where_null(table: str) -> None:
    op.execute(
        sa.text(f"update {table} set store_id = :unknown where store_id is null").bindparams(
            unknown=UNKNOWN_STORE
        )
    )
