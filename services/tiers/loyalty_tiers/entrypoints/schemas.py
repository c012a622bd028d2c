"""Response bodies of the tier API (separate from tables and events). Money is a
decimal string, as on the topics."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from loyalty_kernel.events.money import Money


class NextTier(BaseModel):
    tier: str
    spend_needed: Money  # spent now, it reaches this tier at once


class KeepTier(BaseModel):
    spend_needed: Money  # spent before `before`, it keeps the tier for a new hold
    before: datetime
    otherwise_drops_to: str


class MemberTierOut(BaseModel):
    member_id: str
    as_of: datetime
    tier: str
    multiplier: Decimal
    since: datetime
    qualifying_spend: Money  # in the window ending now
    best_spend_in_hold: Money  # the window spend that holds the tier
    window_days: int
    drops_at: datetime | None  # when it drops if nothing more is bought; null for the lowest
    next: NextTier | None  # null at the top tier
    keep: KeepTier | None  # null for the lowest tier


class TierDefinitionOut(BaseModel):
    name: str
    threshold: Money
    multiplier: Decimal
    members: int


class TierTableOut(BaseModel):
    window_days: int
    hold_days: int
    currency: str
    tiers: list[TierDefinitionOut]


class TierMovementOut(BaseModel):
    from_tier: str
    to_tier: str
    direction: str
    changes: int


class TierRetentionOut(BaseModel):
    tier: str
    members_at_start: int
    members_at_end: int
    retained: int
    retention: Decimal | None  # retained / members_at_start; null when none were there


class TierReportOut(BaseModel):
    start: datetime
    end: datetime
    tiers: list[TierRetentionOut]
    upgrades: int
    downgrades: int
    movements: list[TierMovementOut]
