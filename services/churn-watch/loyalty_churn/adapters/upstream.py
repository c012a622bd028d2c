"""Reading the other services' events: tier changes and reward redemptions.

These topics are the platform's own, written by trusted services with the kernel's
event models, which are read back here. An event of a type the churn watch does not
use is ignored, and a malformed one is logged and ignored (the purchases topic,
written by tills, is the one with a dead-letter contract).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError

from loyalty_churn.domain.behaviour import RewardTaken, TierMove
from loyalty_kernel.events.envelope import CloudEvent
from loyalty_kernel.events.rewards import REDEMPTION_CANCELLED, REWARD_REDEEMED, RedemptionMoved
from loyalty_kernel.events.tiers import TIER_CHANGED, TierChanged
from loyalty_kernel.messages import Consumed, Ignored, InboundMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TierMoved:
    member_id: str
    move: TierMove


@dataclass(frozen=True)
class RewardMoved:
    member_id: str
    kind: str  # "redeemed" | "cancelled"
    reward: RewardTaken


def read_tier_change(message: InboundMessage) -> Consumed[TierMoved] | Ignored:
    """A tier change from `tiers.events`."""
    try:
        event = CloudEvent.model_validate_json(message.value)
        if event.type != TIER_CHANGED:
            return Ignored(message)
        t = TierChanged.model_validate(event.data)
    except ValidationError as exc:
        return _unreadable(message, exc)
    move = TierMove(t.sequence, t.effective_at, t.from_tier, t.to_tier, t.direction == "down")
    return Consumed(message, TierMoved(t.member_id, move))


def read_reward(message: InboundMessage) -> Consumed[RewardMoved] | Ignored:
    """A redemption, or its cancellation, from `rewards.events`."""
    try:
        event = CloudEvent.model_validate_json(message.value)
        if event.type not in (REWARD_REDEEMED, REDEMPTION_CANCELLED):
            return Ignored(message)
        r = RedemptionMoved.model_validate(event.data)
    except ValidationError as exc:
        return _unreadable(message, exc)
    redeemed = event.type == REWARD_REDEEMED
    reward = RewardTaken(r.redemption_id, event.time, r.points if redeemed else -r.points)
    return Consumed(
        message, RewardMoved(r.member_id, "redeemed" if redeemed else "cancelled", reward)
    )


def _unreadable(message: InboundMessage, exc: ValidationError) -> Ignored:
    log.warning(
        "ignoring an unreadable event on %s: %d validation errors",
        message.topic,
        exc.error_count(),
    )
    return Ignored(message)
