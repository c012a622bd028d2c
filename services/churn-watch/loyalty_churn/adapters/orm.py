"""The churn watch's tables (schema `churn`). Wire schemas live elsewhere."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
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

SCHEMA = "churn"


class Base(DeclarativeBase):
    metadata = metadata_for(SCHEMA)


class MemberRow(Base):
    """Each watched member; `due_at` schedules their next assessment by time alone."""

    __tablename__ = "members"
    __table_args__ = (
        Index(
            "ix_members_partition_due_at",
            "partition",
            "due_at",
            postgresql_where=text("due_at is not null"),
        ),
    )

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # The `purchases` partition the member's purchases arrive on: whose clock moves them.
    partition: Mapped[int] = mapped_column(Integer)
    clock: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    score: Mapped[float | None] = mapped_column(Double)


class PurchaseRow(PurchaseColumns, Base):
    __tablename__ = "purchases"
    __table_args__ = (Index("ix_purchases_member_time", "member_id", "occurred_at"),)


class RefundRow(RefundColumns, Base):
    __tablename__ = "refunds"
    __table_args__ = (Index("ix_refunds_member", "member_id"),)

    member_id: Mapped[str] = mapped_column(String(128))


class TierMoveRow(Base):
    """Tier changes as the tier service published them."""

    __tablename__ = "tier_moves"

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_tier: Mapped[str] = mapped_column(String(32))
    to_tier: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RewardTakenRow(Base):
    """Redemptions (positive points) and their cancellations (negative), from `rewards.events`."""

    __tablename__ = "rewards_taken"
    __table_args__ = (Index("ix_rewards_taken_member", "member_id"),)

    redemption_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    points: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertRow(Base):
    """Every alert; at most one open (unresolved) per member."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "ux_alerts_open_member",
            "member_id",
            unique=True,
            postgresql_where=text("resolved_at is null"),
        ),
        Index(
            "ix_alerts_open_value", "value_at_risk", postgresql_where=text("resolved_at is null")
        ),
    )

    alert_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Double)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    tier: Mapped[str | None] = mapped_column(String(32))
    value_at_risk: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    last_purchase_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AlertRevisionRow(Base):
    """Each revision of an alert: the alert as it stood, and what changed."""

    __tablename__ = "alert_revisions"

    alert_id: Mapped[int] = mapped_column(ForeignKey(AlertRow.alert_id), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    move: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    severity: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Double)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    tier: Mapped[str | None] = mapped_column(String(32))
    value_at_risk: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    last_purchase_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    severity_from: Mapped[str | None] = mapped_column(String(8))
    severity_to: Mapped[str | None] = mapped_column(String(8))
    signals_added: Mapped[list[str]] = mapped_column(JSONB)
    signals_removed: Mapped[list[str]] = mapped_column(JSONB)
    cause: Mapped[str] = mapped_column(String(16))


class RiskModelRow(Base):
    """Fitted risk models; the newest is the one in use."""

    __tablename__ = "risk_models"

    version: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    fitted_as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)


class PartitionClockRow(PartitionClockColumns, Base):
    """Members' assessments fall due as it passes them."""

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
