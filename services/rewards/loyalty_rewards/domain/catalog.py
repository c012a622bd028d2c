"""Rewards and who may redeem them now: the catalog's rules, without I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

MAX_STOCK = 10_000_000  # a counted stock never goes above this


class StockNotCounted(Exception):
    """A reward whose stock is not counted cannot be restocked."""


class StockLimit(Exception):
    """A restock would take the stock above `MAX_STOCK`."""


class RewardKind(StrEnum):
    PHYSICAL = "physical"  # an item handed over in store: a turkey, a tree
    VOUCHER = "voucher"  # store credit worth `voucher_value`
    COUPON = "coupon"  # a code, unguessable, shown only to its owner


@dataclass(frozen=True)
class Reward:
    reward_id: str
    name: str
    description: str
    kind: RewardKind
    points_cost: int
    stock: int | None  # None: not counted
    min_tier: str | None
    limit_per_member: int | None  # redemptions per member per `limit_period_days`
    limit_period_days: int | None
    available_from: datetime | None
    available_until: datetime | None
    active: bool
    voucher_value: Decimal | None = None

    @property
    def limit_period(self) -> timedelta | None:
        return None if self.limit_period_days is None else timedelta(days=self.limit_period_days)

    def restocked(self, quantity: int) -> Reward:
        """The reward with `quantity` more in stock."""
        if self.stock is None:
            raise StockNotCounted(f"{self.reward_id} has no counted stock")
        if self.stock + quantity > MAX_STOCK:
            raise StockLimit(f"stock cannot go above {MAX_STOCK:,}")
        return replace(self, stock=self.stock + quantity)


@dataclass(frozen=True)
class MemberStanding:
    """What the catalog needs to know of a member at the moment of asking."""

    member_id: str
    available: int  # spendable points; below zero while the member owes points
    tier_rank: int  # the member's tier's place in the programme, 0 = lowest
    redeemed_in_period: int  # this reward's live redemptions within its limit period
    # As pending points vest: (when, what is spendable then), as the points service
    # works it out (counting out what expires first).
    spendable_later: tuple[tuple[datetime, int], ...] = ()

    def spendable_by(self, points: int) -> datetime | None:
        """When `points` will be spendable as pending points vest; None if never."""
        return next((at for at, then in self.spendable_later if then >= points), None)


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


def refusal(reward: Reward, member: MemberStanding, min_rank: int, now: datetime) -> Refusal | None:
    """Why the member cannot redeem the reward now, or None if they can. The checks run
    in a fixed order, so the first reason a member sees is the one to act on."""
    if not reward.active:
        return Refusal("inactive", "this reward is no longer offered")
    if reward.available_from is not None and now < reward.available_from:
        return Refusal("not_yet_available", f"available from {reward.available_from.isoformat()}")
    if reward.available_until is not None and now >= reward.available_until:
        return Refusal(
            "no_longer_available", f"was available until {reward.available_until.isoformat()}"
        )
    if reward.stock is not None and reward.stock <= 0:
        return Refusal("out_of_stock", "none left")
    if member.tier_rank < min_rank:
        return Refusal("tier_too_low", f"for members in tier {reward.min_tier} and above")
    if reward.limit_per_member is not None and member.redeemed_in_period >= reward.limit_per_member:
        return Refusal(
            "limit_reached",
            f"at most {reward.limit_per_member} per member every {reward.limit_period_days} days",
        )
    if member.available < 0:
        return Refusal("negative_balance", f"{-member.available} points are owed")
    if member.available < reward.points_cost:
        cost = f"costs {reward.points_cost} points, {member.available} spendable"
        when = member.spendable_by(reward.points_cost)
        if when is not None:
            return Refusal("points_pending", f"{cost}; enough are pending to vest by "
                           f"{when.isoformat()}")  # fmt: skip
        return Refusal("insufficient_points", cost)
    return None
