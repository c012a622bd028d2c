"""The rewards service's tables (schema `rewards`). Wire schemas live elsewhere."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loyalty_platform.database import metadata_for
from loyalty_platform.outbox import (
    OutboxColumns,
    OutboxLeaseColumns,
    OutboxParkedColumns,
    OutboxPositionColumns,
)

SCHEMA = "rewards"


class Base(DeclarativeBase):
    metadata = metadata_for(SCHEMA)


class RewardRow(Base):
    __tablename__ = "rewards"

    reward_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    points_cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)
    min_tier: Mapped[str | None] = mapped_column(String(32))
    limit_per_member: Mapped[int | None] = mapped_column(Integer)
    limit_period_days: Mapped[int | None] = mapped_column(Integer)
    available_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    available_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean)
    voucher_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class RedemptionRow(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        Index("ix_redemptions_member_reward", "member_id", "reward_id", "created_at"),
        Index("ix_redemptions_status", "status", "created_at"),
        Index(
            "ix_redemptions_unfinished",
            "next_attempt_at",
            postgresql_where=text("status in ('pending', 'cancelling')"),
        ),
    )

    redemption_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    reward_id: Mapped[str] = mapped_column(String(128))
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    coupon_code: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(String(64))
    # Unanswered calls to the points service while pending or cancelling, and when to
    # call again (null: due once the grace period after `created_at` has passed).
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))


class IdempotencyRow(Base):
    """One per member and `Idempotency-Key`: the request it stood for, and the outcome
    it was first given (its kind, and its data as JSON)."""

    __tablename__ = "idempotency_keys"

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    redemption_id: Mapped[str] = mapped_column(String(64))
    outcome_kind: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutboxRow(OutboxColumns, Base):
    __tablename__ = "outbox"


class OutboxPositionRow(OutboxPositionColumns, Base):
    __tablename__ = "outbox_positions"


class OutboxLeaseRow(OutboxLeaseColumns, Base):
    __tablename__ = "outbox_lease"


class OutboxParkedRow(OutboxParkedColumns, Base):
    __tablename__ = "outbox_parked"
