"""An independent, deliberately plain model of the default programme (docs/contracts/programme.md),
written from the rules' text, to check the services against."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

WINDOW, HOLD = timedelta(days=7), timedelta(days=28)
TIERS = [("opal", 0, Decimal("1.0")), ("pearl", 20, Decimal("1.25")),
         ("ruby", 50, Decimal("1.5")), ("diamond", 100, Decimal("2.0"))]  # fmt: skip


@dataclass
class ReferencePurchase:
    at: datetime
    amount: Decimal
    refunds: list[tuple[datetime, Decimal]] = field(default_factory=list)


def window_spend(purchases: list[ReferencePurchase], s: datetime, known_at: datetime) -> Decimal:
    total = Decimal(0)
    for p in purchases:
        if s - WINDOW < p.at <= s:
            total += p.amount - sum((a for t, a in p.refunds if t <= known_at), Decimal(0))
    return total


def tier_as_of(purchases: list[ReferencePurchase], at: datetime) -> str:
    """Try every moment where the window spend can change, inside [at - hold, at]."""
    moments = {at - HOLD, at}
    for p in purchases:
        moments.update({p.at, p.at + WINDOW - timedelta(microseconds=1)})
    best = max(
        (window_spend(purchases, s, at) for s in moments if at - HOLD <= s <= at),
        default=Decimal(0),
    )
    return [name for name, threshold, _ in TIERS if best >= threshold][-1]


def multiplier(tier: str) -> Decimal:
    return next(m for name, _, m in TIERS if name == tier)


@dataclass
class ReferenceLedger:
    """Balances by member, fed purchases and refunds in log order."""

    purchases: dict[str, tuple[str, ReferencePurchase, int]] = field(default_factory=dict)
    history: dict[str, list[ReferencePurchase]] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)

    def purchase(self, member: str, purchase_id: str, amount: Decimal, at: datetime) -> None:
        if purchase_id in self.purchases:
            return
        earlier = [p for p in self.history.get(member, []) if p.at < at]
        tier = tier_as_of(earlier, at)
        points = math.floor(amount * multiplier(tier))
        record = ReferencePurchase(at, amount)
        self.history.setdefault(member, []).append(record)
        self.purchases[purchase_id] = (member, record, points)
        self.balances[member] = self.balances.get(member, 0) + points

    def refund(self, member: str, purchase_id: str, amount: Decimal, at: datetime) -> None:
        _, record, earned = self.purchases[purchase_id]
        before = sum((a for _, a in record.refunds), Decimal(0))
        taken_before = math.floor(earned * before / record.amount)
        record.refunds.append((at, amount))
        taken_after = math.floor(earned * (before + amount) / record.amount)
        self.balances[member] = self.balances.get(member, 0) - (taken_after - taken_before)
