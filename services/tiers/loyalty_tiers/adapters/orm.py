"""The tier service's tables (schema `tiers`). Wire schemas live elsewhere."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, Index, Integer, Numeric, String, text
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

SCHEMA = "tiers"


class Base(DeclarativeBase):
    metadata = metadata_for(SCHEMA)


class MemberRow(Base):
    """Each member's standing; `drops_at` schedules the next downgrade."""

    __tablename__ = "members"
    __table_args__ = (
        Index(
            "ix_members_partition_drops_at",
            "partition",
            "drops_at",
            postgresql_where=text("drops_at is not null"),
        ),
        Index("ix_members_tier", "tier"),
    )

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # The `purchases` partition the member's events arrive on: whose clock moves them.
    partition: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    clock: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    drops_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    changes_made: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PurchaseRow(PurchaseColumns, Base):
    __tablename__ = "purchases"
    __table_args__ = (Index("ix_purchases_member_time", "member_id", "occurred_at"),)


class RefundRow(RefundColumns, Base):
    __tablename__ = "refunds"
    __table_args__ = (Index("ix_refunds_purchase", "purchase_id"),)


class TierChangeRow(Base):
    """Every tier change, as published: the history the report reads."""

    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_effective_at", "effective_at"),)

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_tier: Mapped[str] = mapped_column(String(32))
    to_tier: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    qualifying_spend: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    window_spend: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cause: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(128))


class PartitionClockRow(PartitionClockColumns, Base):
    """Downgrades on the partition happen when it passes them."""

    __tablename__ = "partition_clocks"


class OutboxRow(OutboxColumns, Base):
    __tablename__ = "outbox"


class OutboxPositionRow(OutboxPositionColumns, Base):
    __tablename__ = "outbox_positions"


class OutboxLeaseRow(OutboxLeaseColumns, Base):
    __tablename__ = "outbox_lease"


class OutboxParkedRow(OutboxParkedColumns, Base):
    __tablename__ = "outbox_parked"


class ConsumerProgressRow(ConsumerProgressColumns, Base):
    __tablename__ = "consumer_progress"
