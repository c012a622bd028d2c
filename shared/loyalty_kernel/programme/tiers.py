"""The tier rule: which tier a member holds at a moment, from their purchases.

The tier as of T is the highest tier whose threshold the window spend met at some
moment s in [T - hold, T], the window at s being (s - window, s], each purchase
counted net of the refunds known at T. Window spend only rises at a purchase and
only falls when a purchase leaves the window, so its maximum over [T - hold, T]
is reached at T - hold or at one of the purchases inside that span: those are
the only moments we need to look at.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from loyalty_kernel.programme.model import TierLevel, TierSettings

_NOTHING = Decimal(0)


class CountedPurchase(Protocol):
    """What the tier rule needs of a purchase: when, and how much is left of it at a moment."""

    @property
    def occurred_at(self) -> datetime: ...

    def net_as_of(self, at: datetime) -> Decimal: ...


@dataclass(frozen=True)
class QualifyingPurchase:
    """A purchase as the tier rule sees it: when, how much, and its refunds."""

    occurred_at: datetime
    amount: Decimal
    refunds: tuple[tuple[datetime, Decimal], ...] = ()

    def net_as_of(self, at: datetime) -> Decimal:
        """The amount less the refunds known at `at`."""
        if not self.refunds:
            return self.amount
        return self.amount - sum((r for t, r in self.refunds if t <= at), Decimal(0))


class TierPolicy:
    """Pure tier arithmetic for one programme; shared by the points and tier services."""

    def __init__(self, settings: TierSettings) -> None:
        self.settings = settings
        self.levels: Sequence[TierLevel] = settings.levels
        # How far back a purchase can still affect the tier held now.
        self._window, self._hold = settings.window, settings.hold
        self.reach = self._window + self._hold
        # Tiers are told apart by name: comparing the models field by field is slow.
        self._ranks = {level.name: rank for rank, level in enumerate(self.levels)}

    @property
    def lowest(self) -> TierLevel:
        return self.levels[0]

    def level_named(self, name: str) -> TierLevel:
        """The tier of that name; the lowest for a name the programme no longer has."""
        return self.levels[self._ranks.get(name, 0)]

    def rank(self, level: TierLevel) -> int:
        return self._ranks[level.name]

    def above(self, level: TierLevel) -> TierLevel | None:
        """The next tier up, None at the top."""
        rank = self.rank(level)
        return self.levels[rank + 1] if rank + 1 < len(self.levels) else None

    def level_for_spend(self, spend: Decimal) -> TierLevel:
        """The highest tier whose threshold `spend` meets."""
        reached = self.lowest
        for level in self.levels:
            if spend >= level.threshold:
                reached = level
        return reached

    def window_spend(self, purchases: Iterable[CountedPurchase], at: datetime) -> Decimal:
        """Net spend in the window (at - window, at], refunds known at `at` applied."""
        start = at - self._window
        return sum((p.net_as_of(at) for p in purchases if start < p.occurred_at <= at), Decimal(0))

    def best_spend(
        self, purchases: Iterable[CountedPurchase], at: datetime, *, before: bool = False
    ) -> Decimal:
        """The highest window spend at any moment in [at - hold, at]; with `before`, of
        the purchases strictly before `at` only."""
        # Asked once for every purchase a service applies: kept lean.
        window, hold_start = self._window, at - self._hold
        earliest = hold_start - window
        if before:
            relevant = [(p.occurred_at, p.net_as_of(at)) for p in purchases
                        if earliest < p.occurred_at < at]  # fmt: skip
        else:
            relevant = [(p.occurred_at, p.net_as_of(at)) for p in purchases
                        if earliest < p.occurred_at <= at]  # fmt: skip
        if not relevant:
            return _NOTHING
        relevant.sort()
        count = len(relevant)
        best = total = Decimal(0)
        added = removed = 0
        for s in [hold_start] + [t for t, _ in relevant if t > hold_start]:
            while added < count and relevant[added][0] <= s:
                total += relevant[added][1]
                added += 1
            cut = s - window
            while removed < added and relevant[removed][0] <= cut:
                total -= relevant[removed][1]
                removed += 1
            if total > best:
                best = total
        return best

    def tier_as_of(self, purchases: Iterable[CountedPurchase], at: datetime) -> TierLevel:
        """The tier a member holds at `at`."""
        return self.level_for_spend(self.best_spend(purchases, at))

    def tier_before(self, purchases: Iterable[CountedPurchase], at: datetime) -> TierLevel:
        """The tier held just before a purchase at `at`: earlier purchases only."""
        return self.level_for_spend(self.best_spend(purchases, at, before=True))

    def drops_at(
        self, purchases: Iterable[CountedPurchase], at: datetime, held: TierLevel | None = None
    ) -> datetime | None:
        """When the tier held at `at` (`held`, if the caller knows it) runs out if nothing
        more is bought or refunded: `hold` after the window spend last met its threshold.
        None for the lowest tier.

        Every purchase must have happened by `at`. The window spend is a step function,
        up by a purchase's net amount at its time and down by it `window` later.
        """
        purchases = list(purchases)
        level = held or self.tier_as_of(purchases, at)
        if self.rank(level) == 0:
            return None
        steps: dict[datetime, Decimal] = defaultdict(Decimal)
        for p in purchases:
            net = p.net_as_of(at)
            steps[p.occurred_at] += net
            steps[p.occurred_at + self._window] -= net
        moments = sorted(steps)
        total, qualified_until = Decimal(0), moments[-1]
        for moment, following in itertools.pairwise(moments):
            total += steps[moment]
            if total >= level.threshold:
                qualified_until = following
        return qualified_until + self._hold
