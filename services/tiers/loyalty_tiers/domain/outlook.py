"""What a member's app shows: the tier now, what keeps it, what reaches the next one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from loyalty_kernel.programme import TierLevel, TierPolicy
from loyalty_tiers.domain.standing import TierStanding


@dataclass(frozen=True)
class TierOutlook:
    member_id: str
    as_of: datetime
    tier: TierLevel
    since: datetime
    window_spend: Decimal  # in the window ending now
    qualifying_spend: Decimal  # best window spend of the hold span: what holds the tier
    drops_at: datetime | None  # if nothing more is bought
    drops_to: TierLevel | None
    next_tier: TierLevel | None
    spend_to_next: Decimal | None  # spent now, it reaches the next tier at once
    spend_to_keep: Decimal | None  # spent before drops_at, it keeps the tier for a new hold


def outlook(standing: TierStanding, policy: TierPolicy, now: datetime) -> TierOutlook:
    """The standing as of `now` (never before its own clock). Settles it in memory."""
    standing.settle(now, policy)
    as_of = max(now, standing.clock)
    counted = standing.counted
    tier = policy.level_named(standing.tier)
    spend = policy.window_spend(counted, as_of)
    drops_at = standing.drops_at
    next_tier = policy.above(tier)
    return TierOutlook(
        member_id=standing.member_id,
        as_of=as_of,
        tier=tier,
        since=standing.since,
        window_spend=spend,
        qualifying_spend=policy.best_spend(counted, as_of),
        drops_at=drops_at,
        drops_to=None if drops_at is None else policy.tier_as_of(counted, drops_at),
        next_tier=next_tier,
        spend_to_next=None if next_tier is None else max(next_tier.threshold - spend, Decimal(0)),
        spend_to_keep=None if drops_at is None else max(tier.threshold - spend, Decimal(0)),
    )
