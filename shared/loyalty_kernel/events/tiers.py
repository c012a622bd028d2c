"""`tiers.events`: a member's tier went up or down."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from loyalty_kernel.events.envelope import CloudEvent, PublishedData, outgoing
from loyalty_kernel.events.money import Money

TIERS_SOURCE = "loyalty/tiers"
TIER_CHANGED = "loyalty.tier.changed.v1"


class TierChanged(PublishedData):
    member_id: str
    from_tier: str
    to_tier: str
    direction: Literal["up", "down"]
    qualifying_spend: Money  # the best window spend of the hold span: what holds to_tier
    effective_at: datetime
    sequence: int  # the member's nth change, from 1
    # Beyond the contract's minimum; the tier service always sends them.
    window_spend: Money | None = None  # the window spend at effective_at
    cause: Literal["purchase", "refund", "hold_expired"] | None = None
    reference: str | None = None  # the purchase or refund that caused it


def tier_changed_event(change: TierChanged) -> CloudEvent:
    """Its id follows from the member and the change's sequence number."""
    return outgoing(
        TIER_CHANGED,
        source=TIERS_SOURCE,
        id_parts=("tier-change", change.member_id, str(change.sequence)),
        time=change.effective_at,
        subject=change.member_id,
        data=change,
    )
