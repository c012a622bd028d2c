"""A redemption's life: pending while the points are being taken, then confirmed,
rejected (nothing taken) or, once cancelling has been asked for, cancelled (points and
stock given back). Pending and cancelling are the two states a crash or an outage can
leave a redemption in: each is recorded before the call to the points service it
waits on, so it is always finished from where it stands."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from loyalty_rewards.domain.catalog import Reward, RewardKind


class Status(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


# Stock and per-member limits count these.
LIVE = (Status.PENDING, Status.CONFIRMED, Status.CANCELLING)
# Waiting on the points service: a debit to take, or one to give back.
UNFINISHED = (Status.PENDING, Status.CANCELLING)


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

    def cancelling(self) -> Redemption:
        return replace(self, status=Status.CANCELLING)

    def cancelled(self) -> Redemption:
        return replace(self, status=Status.CANCELLED)


# A redemption the points service did not answer for is tried again after this long,
# doubling with each attempt up to the last: stuck ones do not crowd out the others.
FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(hours=1)


def next_attempt(attempts: int, now: datetime) -> datetime:
    """When to try again after `attempts` unanswered tries (1 or more)."""
    wait = FIRST_RETRY * (1 << min(max(attempts - 1, 0), 20))
    return now + min(wait, LAST_RETRY)


def new_redemption(redemption_id: str, member_id: str, reward: Reward, now: datetime) -> Redemption:
    # 128 random bits: a code cannot be guessed from the ones a member has seen.
    code = secrets.token_urlsafe(16) if reward.kind is RewardKind.COUPON else None
    return Redemption(
        redemption_id, member_id, reward.reward_id, reward.points_cost, Status.PENDING, now, code
    )
