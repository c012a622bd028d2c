"""`rewards.events`: a reward redeemed, and a redemption cancelled."""

from __future__ import annotations

from datetime import datetime

from loyalty_kernel.events.envelope import CloudEvent, PublishedData, outgoing

REWARDS_SOURCE = "loyalty/rewards"
REWARD_REDEEMED = "loyalty.reward.redeemed.v1"
REDEMPTION_CANCELLED = "loyalty.reward.redemption_cancelled.v1"


class RedemptionMoved(PublishedData):
    member_id: str
    redemption_id: str
    reward_id: str
    points: int  # what the redemption cost (and, cancelled, gave back)


def redemption_event(kind: str, data: RedemptionMoved, at: datetime) -> CloudEvent:
    """`kind` is REWARD_REDEEMED or REDEMPTION_CANCELLED; the id follows from it and the
    redemption."""
    return outgoing(
        kind,
        source=REWARDS_SOURCE,
        id_parts=(kind, data.redemption_id),
        time=at,
        subject=data.member_id,
        data=data,
    )
