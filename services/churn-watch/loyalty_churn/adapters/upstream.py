"""Reading the other services' events: tier changes and reward redemptions.

These topics are the platform's own, written by trusted services; an event of a type
the churn watch does not use is skipped, and a malformed one is counted and skipped
(the purchases topic, written by tills, is the one with a dead-letter contract).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from loyalty_churn.domain.behaviour import RewardTaken, TierMove
from loyalty_shared.events import CloudEvent
from loyalty_shared.messages import InboundMessage

TIER_CHANGED = "loyalty.tier.changed.v1"
REWARD_REDEEMED = "loyalty.reward.redeemed.v1"
REDEMPTION_CANCELLED = "loyalty.reward.redemption_cancelled.v1"


class _TierChanged(BaseModel):
    model_config = ConfigDict(extra="ignore")
    member_id: str
    from_tier: str
    to_tier: str
    direction: str
    effective_at: datetime
    sequence: int


class _RewardData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    member_id: str
    redemption_id: str
    points: int


@dataclass(frozen=True)
class TierMoved:
    member_id: str
    move: TierMove


@dataclass(frozen=True)
class RewardMoved:
    member_id: str
    kind: str  # "redeemed" | "cancelled"
    reward: RewardTaken


class Unreadable(Exception):
    pass


def read_upstream(message: InboundMessage) -> TierMoved | RewardMoved | None:
    """The fact an upstream event records; None for a type the churn watch ignores."""
    try:
        event = CloudEvent.model_validate_json(message.value)
        if event.type == TIER_CHANGED:
            t = _TierChanged.model_validate(event.data)
            move = TierMove(
                t.sequence, t.effective_at, t.from_tier, t.to_tier, t.direction == "down"
            )
            return TierMoved(t.member_id, move)
        if event.type in (REWARD_REDEEMED, REDEMPTION_CANCELLED):
            r = _RewardData.model_validate(event.data)
            redeemed = event.type == REWARD_REDEEMED
            points = r.points if redeemed else -r.points
            reward = RewardTaken(r.redemption_id, event.time, points)
            return RewardMoved(r.member_id, "redeemed" if redeemed else "cancelled", reward)
    except ValidationError as exc:
        raise Unreadable(f"{message.topic}: {exc.error_count()} validation errors") from exc
    return None
