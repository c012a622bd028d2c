"""The points service's tables (schema `points`). Wire schemas live elsewhere."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loyalty_platform.clocks import PartitionClockColumns
from loyalty_platform.database import metadata_for
from loyalty_platform.outbox import (
    OutboxColumns,
    OutboxLeaseColumns,
    OutboxParkedColumns,
    OutboxPositionColumns,
)
from loyalty_platform.progress import ConsumerProgressColumns
from loyalty_platform.purchase_history import PurchaseColumns, RefundColumns

SCHEMA = "points"


class Base(DeclarativeBase):
    metadata = metadata_for(SCHEMA)


class BalanceRow(Base):
    """The running balance; always equal to the sum of the member's ledger entries and
    to the sum of their lots' remainders. `next_moment`: when one of their lots next
    vests, is warned of or expires, on the clock of their `partition` of `purchases`."""

    __tablename__ = "balances"
    __table_args__ = (Index("ix_balances_due", "partition", "next_moment"),)

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)
    available: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    partition: Mapped[int | None] = mapped_column(Integer)
    next_moment: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class LedgerEntryRow(Base):
    """Append-only: never updated, never deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_member", "member_id", "id"),
        Index("ix_ledger_entries_time", "occurred_at"),  # the liability report's periods
        # One entry per purchase, per refund of a purchase, per debit, restore, adjustment.
        Index(
            "uq_ledger_entries_once",
            "kind",
            "store_id",
            "purchase_id",
            "reference",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    delta: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(128))
    purchase_id: Mapped[str | None] = mapped_column(String(128))
    store_id: Mapped[str | None] = mapped_column(String(128))  # the purchase's
    tier: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    available_after: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    available_delta: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # [[lot_id, points], ...]: the lots it put points into (+) or took them from (-)
    lots: Mapped[list[list[str | int]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # An earning's: the programme version it earned under and the rules that changed it.
    programme_version: Mapped[str | None] = mapped_column(String(64))
    rules: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))


class LotRow(Base):
    """A lot of points: what one earning (or positive adjustment) put in, and what is
    left of it. One debt lot per member who owes points, with a negative remainder."""

    __tablename__ = "lots"
    __table_args__ = (
        Index("ix_lots_member", "member_id"),
        # What a ledger loads: the lots that still hold points or owe them.
        Index("ix_lots_live", "member_id", postgresql_where=text("remaining <> 0")),
        Index("ix_lots_expiry", "expires_at"),  # what expires in the next 30/60/90 days
    )

    lot_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(128))
    store_id: Mapped[str | None] = mapped_column(String(128))
    earned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    vests_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    vested: Mapped[bool] = mapped_column(Boolean)
    warned: Mapped[bool] = mapped_column(Boolean)
    expired: Mapped[bool] = mapped_column(Boolean)


class PurchaseRow(PurchaseColumns, Base):
    __tablename__ = "purchases"
    __table_args__ = (Index("ix_purchases_member_time", "member_id", "occurred_at"),)

    points_earned: Mapped[int] = mapped_column(Integer)
    programme_version: Mapped[str | None] = mapped_column(String(64))
    # {rule id: decimal string}: what each earning rule added, for the rules' caps.
    extras: Mapped[dict[str, str] | None] = mapped_column(JSONB)


class RefundRow(RefundColumns, Base):
    __tablename__ = "refunds"
    __table_args__ = (
        Index("ix_refunds_purchase", "purchase_id"),
        ForeignKeyConstraint(
            ["store_id", "purchase_id"], [PurchaseRow.store_id, PurchaseRow.purchase_id]
        ),
    )

    points_clawed_back: Mapped[int] = mapped_column(Integer)


class DebitRow(Base):
    """Points spent on redemptions, one row per debit id; `restored_at` once put back."""

    __tablename__ = "debits"
    __table_args__ = (Index("ix_debits_member", "member_id"),)

    debit_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    points: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(128))
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    restored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # what it took from which lots, as in the ledger entry
    lots: Mapped[list[list[str | int]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # An earning's: the programme version it earned under and the rules that changed it.
    programme_version: Mapped[str | None] = mapped_column(String(64))
    rules: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))


class AdjustmentRow(Base):
    """Points moved by hand by ops: the reason and the key that did it."""

    __tablename__ = "adjustments"
    __table_args__ = (Index("ix_adjustments_member", "member_id"),)

    adjustment_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    points: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(64))
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    balance_after: Mapped[int] = mapped_column(BigInteger)


class OutboxRow(OutboxColumns, Base):
    __tablename__ = "outbox"


class OutboxPositionRow(OutboxPositionColumns, Base):
    __tablename__ = "outbox_positions"


class OutboxLeaseRow(OutboxLeaseColumns, Base):
    __tablename__ = "outbox_lease"


class OutboxParkedRow(OutboxParkedColumns, Base):
    __tablename__ = "outbox_parked"


class PartitionClockRow(PartitionClockColumns, Base):
    __tablename__ = "partition_clocks"


class ConsumerProgressRow(ConsumerProgressColumns, Base):
    __tablename__ = "consumer_progress"
