"""A redemption's life: pending while the points are being taken, then confirmed,
rejected (nothing taken) or cancelled (points and stock given back)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from loyalty_rewards.domain.catalog import Reward, RewardKind


class Status(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# Stock and per-member limits count these.
LIVE = (Status.PENDING, Status.CONFIRMED)


@dataclass(frozen=True)
class Redemption:
    redemption_id: str
    member_id: str
    reward_id: str
    points: int
    status: Status
    created_at: datetime
    coupon_code: str | None = None
    failure: str | None = None  # the reason code of a rejection

    def confirmed(self) -> Redemption:
        return replace(self, status=Status.CONFIRMED)

    def rejected(self, reason: str | None) -> Redemption:
        """Nothing taken: `reason` is the points service's code."""
        return replace(self, status=Status.REJECTED, failure=reason)

    def cancelled(self) -> Redemption:
        return replace(self, status=Status.CANCELLED)


def new_redemption(redemption_id: str, member_id: str, reward: Reward, now: datetime) -> Redemption:
    # 128 random bits: a code cannot be guessed from the ones a member has seen.
    code = secrets.token_urlsafe(16) if reward.kind is RewardKind.COUPON else None
    return Redemption(
        redemption_id, member_id, reward.reward_id, reward.points_cost, Status.PENDING, now, code
    )
