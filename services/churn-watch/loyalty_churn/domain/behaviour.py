"""What a member did, and the behaviour features read from it as of a moment.

Everything is by event time: `Behaviour.as_of(history, t)` looks only at facts with a
time at or before `t`, so the same history gives the same features whenever and
however often it is read. Refunds count against the purchase they return, at the
purchase's time (as the tier rule does), once the refund has happened.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from loyalty_kernel.intake.commands import PurchaseKey

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Visit:
    """A purchase."""

    purchase_id: str
    at: datetime
    amount: Decimal
    store_id: str = ""  # with the purchase id, what names it

    @property
    def key(self) -> PurchaseKey:
        return (self.store_id, self.purchase_id)


@dataclass(frozen=True)
class Refund:
    """A refund of part or all of an earlier purchase."""

    refund_id: str
    purchase_id: str
    at: datetime
    amount: Decimal
    store_id: str = ""  # the purchase's

    @property
    def occurred_at(self) -> datetime:
        return self.at

    @property
    def purchase_key(self) -> PurchaseKey:
        return (self.store_id, self.purchase_id)


@dataclass(frozen=True)
class TierMove:
    sequence: int
    at: datetime
    from_tier: str
    to_tier: str
    down: bool


@dataclass(frozen=True)
class RewardTaken:
    """Points the member redeemed (negative points: a cancellation gave them back)."""

    redemption_id: str
    at: datetime
    points: int


@dataclass
class MemberHistory:
    """Everything the churn watch knows about one member, each list in time order."""

    member_id: str
    visits: list[Visit] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    tier_moves: list[TierMove] = field(default_factory=list)
    rewards: list[RewardTaken] = field(default_factory=list)

    def add_visit(self, visit: Visit) -> None:
        _insort(self.visits, visit)

    def add_refund(self, ret: Refund) -> None:
        _insort(self.refunds, ret)

    def add_tier_move(self, move: TierMove) -> None:
        _insort(self.tier_moves, move)

    def add_reward(self, reward: RewardTaken) -> None:
        _insort(self.rewards, reward)

    def last_visit_before(self, at: datetime) -> Visit | None:
        index = bisect.bisect_left(self.visits, at, key=lambda v: v.at)
        return self.visits[index - 1] if index else None

    def first_tier_move_from(self, at: datetime, *, inclusive: bool = True) -> TierMove | None:
        """The earliest tier move at `at` or later (`inclusive`), or strictly later."""
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        index = find(self.tier_moves, at, key=lambda m: m.at)
        return self.tier_moves[index] if index < len(self.tier_moves) else None


_T = TypeVar("_T", Visit, Refund, TierMove, RewardTaken)


def _insort(items: list[_T], item: _T) -> None:
    # Facts mostly arrive in time order: appending is the common case.
    if not items or items[-1].at <= item.at:
        items.append(item)
    else:
        bisect.insort_right(items, item, key=lambda i: i.at)


@dataclass(frozen=True)
class Behaviour:
    """A member's behaviour features as of one moment (days are fractional)."""

    member_id: str
    as_of: datetime
    purchases: int  # purchases up to as_of
    first_at: datetime
    last_at: datetime
    recency_days: float
    age_days: float  # since the first purchase
    repeat_days: int  # distinct purchase days after the first one (BG/NBD's x)
    last_repeat_days: int  # first to last purchase date, in days (BG/NBD's t_x)
    median_gap_days: float | None  # between distinct purchase dates; None under 2 gaps
    last_gap_days: int | None
    spend_total: Decimal  # net of refunds known at as_of
    spend_recent: Decimal  # purchases in (as_of - period, as_of], net
    spend_before: Decimal  # purchases in (as_of - 2 period, as_of - period], net
    baskets_recent: int
    baskets_before: int  # purchases before the last period
    basket_recent: Decimal | None  # average net basket, last period
    basket_before: Decimal | None  # average net basket before the last period
    refunds_recent: int  # refunds made in the last period
    refunded_recent: Decimal  # amount refunded in the last period
    refunded_before: Decimal  # ... in the period before
    tier: str | None  # None: no tier event seen
    last_downgrade_at: datetime | None
    points_redeemed: int

    @property
    def refund_share_recent(self) -> Decimal:
        base = self.spend_recent + self.refunded_recent
        return self.refunded_recent / base if base > 0 else Decimal(0)

    @property
    def refund_share_before(self) -> Decimal:
        base = self.spend_before + self.refunded_before
        return self.refunded_before / base if base > 0 else Decimal(0)

    @property
    def average_basket(self) -> Decimal:
        return self.spend_total / self.purchases if self.purchases else Decimal(0)

    @classmethod
    def of(
        cls,
        history: MemberHistory,
        as_of: datetime,
        period: timedelta,
        rank: Callable[[str | None], int] | None = None,
    ) -> Behaviour | None:
        """The member's behaviour as of `as_of`; None before their first purchase.
        With the programme's tier `rank`, a downgrade counts only while the member is
        still below the tier they lost (a hold running out at the very moment of a
        purchase that lifts them again is no downgrade)."""
        end = bisect.bisect_right(history.visits, as_of, key=lambda v: v.at)
        visits = history.visits[:end]
        if not visits:
            return None
        refunded: dict[PurchaseKey, Decimal] = {}
        recent_start, before_start = as_of - period, as_of - 2 * period
        refunds_recent, refunded_recent, refunded_before = 0, Decimal(0), Decimal(0)
        for ret in history.refunds:
            if ret.at > as_of:
                break
            refunded[ret.purchase_key] = refunded.get(ret.purchase_key, Decimal(0)) + ret.amount
            if ret.at > recent_start:
                refunds_recent += 1
                refunded_recent += ret.amount
            elif ret.at > before_start:
                refunded_before += ret.amount

        total = recent = before = recent_sum = earlier_sum = Decimal(0)
        recent_count = earlier_count = 0
        days: list[int] = []  # distinct purchase dates, as days after the first
        first_date = visits[0].at.date()
        for v in visits:
            net = max(v.amount - refunded.get(v.key, Decimal(0)), Decimal(0))
            total += net
            if v.at > recent_start:
                recent += net
                recent_sum += net
                recent_count += 1
            else:
                earlier_sum += net
                earlier_count += 1
                if v.at > before_start:
                    before += net
            day = (v.at.date() - first_date).days
            if not days or day != days[-1]:
                days.append(day)
        gaps = [b - a for a, b in itertools.pairwise(days)]
        first, last = visits[0].at, visits[-1].at
        moves = [m for m in history.tier_moves if m.at <= as_of]
        tier = moves[-1].to_tier if moves else None
        downgrades = [
            m.at for m in moves if m.down and (rank is None or rank(tier) < rank(m.from_tier))
        ]
        points = sum(r.points for r in history.rewards if r.at <= as_of)
        return cls(
            member_id=history.member_id,
            as_of=as_of,
            purchases=len(visits),
            first_at=first,
            last_at=last,
            recency_days=(as_of - last) / DAY,
            age_days=(as_of - first) / DAY,
            repeat_days=len(days) - 1,
            last_repeat_days=days[-1],
            median_gap_days=statistics.median(gaps) if len(gaps) >= 2 else None,
            last_gap_days=gaps[-1] if gaps else None,
            spend_total=total,
            spend_recent=recent,
            spend_before=before,
            baskets_recent=recent_count,
            baskets_before=earlier_count,
            basket_recent=recent_sum / recent_count if recent_count else None,
            basket_before=earlier_sum / earlier_count if earlier_count else None,
            refunds_recent=refunds_recent,
            refunded_recent=refunded_recent,
            refunded_before=refunded_before,
            tier=tier,
            last_downgrade_at=downgrades[-1] if downgrades else None,
            points_redeemed=max(points, 0),
        )
