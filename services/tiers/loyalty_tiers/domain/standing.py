"""A member's tier standing: the tier held, the purchases behind it, and its changes.

The standing moves along the member's own timeline. Its clock is the latest moment
it reflects (its last purchase, refund or tier change) and never goes back: a
purchase that arrives late is judged at that clock, so a tier is never changed
retroactively and every change is published at or after the one before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from itertools import chain

from loyalty_kernel.intake.commands import PurchaseKey, RecordPurchase, RecordRefund
from loyalty_kernel.intake.records import Receipts, RecordedPurchase, RecordedRefund
from loyalty_kernel.intake.rules import admit_purchase, admit_refund, refunded_purchase
from loyalty_kernel.programme import TierLevel, TierPolicy


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class Cause(StrEnum):
    PURCHASE = "purchase"
    REFUND = "refund"
    HOLD_EXPIRED = "hold_expired"


@dataclass
class Purchase(RecordedPurchase):
    """A purchase as the tier rule counts it: net of the refunds known at a moment."""

    refunds: list[RecordedRefund] = field(default_factory=list)


@dataclass(frozen=True)
class TierChange:
    member_id: str
    sequence: int  # the member's nth change, from 1
    from_tier: str
    to_tier: str
    direction: Direction
    qualifying_spend: Decimal  # the best window spend of the hold span: what holds to_tier
    window_spend: Decimal  # the window spend at effective_at
    effective_at: datetime
    cause: Cause
    reference: str | None  # the purchase or refund that caused it


@dataclass
class TierStanding:
    """One member's tier. `purchases` holds what the caller loaded: the member's
    purchases within the tier rule's reach, and any older one a refund names. `batch`
    is shared by the standings applied together: the purchases recorded so far by any
    of them, so a receipt two members claim in one batch is refused by the rules."""

    member_id: str
    tier: str
    since: datetime
    clock: datetime
    drops_at: datetime | None
    changes_made: int
    purchases: dict[PurchaseKey, Purchase]
    currency: str
    new_purchases: list[Purchase] = field(default_factory=list)
    new_refunds: list[RecordedRefund] = field(default_factory=list)
    new_changes: list[TierChange] = field(default_factory=list)
    batch: Receipts[Purchase] = field(default_factory=Receipts)

    @classmethod
    def new(
        cls, member_id: str, lowest: TierLevel, first_seen: datetime, currency: str
    ) -> TierStanding:
        return cls(member_id, lowest.name, first_seen, first_seen, None, 0, {}, currency)

    @property
    def counted(self) -> list[Purchase]:
        return [p for p in self.purchases.values() if p.member_id == self.member_id]

    def record_purchase(self, cmd: RecordPurchase, policy: TierPolicy) -> bool:
        """Count a purchase; False for a redelivery. Raises PurchaseRuleBroken."""
        known = self.purchases.get(cmd.key) or self.batch.get(cmd.key)
        if not admit_purchase(cmd, known, self.currency):
            return False
        self.settle(cmd.occurred_at, policy, inclusive=False)
        purchase = Purchase(
            cmd.purchase_id, cmd.member_id, cmd.amount, cmd.occurred_at, cmd.store_id
        )
        self.purchases[purchase.key] = self.batch[purchase.key] = purchase
        self.new_purchases.append(purchase)
        self._reassess(cmd.occurred_at, policy, Cause.PURCHASE, cmd.purchase_id)
        return True

    def record_refund(self, cmd: RecordRefund, policy: TierPolicy) -> bool:
        """Take a refund off its purchase; False for a redelivery. Raises PurchaseRuleBroken."""
        others = (p for k, p in self.batch.named(cmd.purchase_id) if k not in self.purchases)
        named = refunded_purchase(chain(self.purchases.values(), others), cmd)
        purchase = admit_refund(cmd, named, self.currency)
        if purchase is None:
            return False
        self.settle(cmd.occurred_at, policy, inclusive=False)
        refund = RecordedRefund(
            cmd.refund_id, purchase.purchase_id, cmd.amount, cmd.occurred_at, purchase.store_id
        )
        purchase.refunds.append(refund)
        self.new_refunds.append(refund)
        self._reassess(cmd.occurred_at, policy, Cause.REFUND, cmd.refund_id)
        return True

    def settle(self, until: datetime, policy: TierPolicy, *, inclusive: bool = True) -> None:
        """Let the holds that run out by `until` (or before it) run out."""
        while self.drops_at is not None and (
            self.drops_at <= until if inclusive else self.drops_at < until
        ):
            self._reassess(self.drops_at, policy, Cause.HOLD_EXPIRED, None)

    def _reassess(
        self, at: datetime, policy: TierPolicy, cause: Cause, reference: str | None
    ) -> None:
        self.clock = max(self.clock, at)
        counted = self.counted
        held = policy.level_named(self.tier)
        best = policy.best_spend(counted, self.clock)
        level = policy.level_for_spend(best)
        if level.name != held.name:
            self.changes_made += 1
            direction = Direction.UP if policy.rank(level) > policy.rank(held) else Direction.DOWN
            if direction is Direction.DOWN and cause is Cause.PURCHASE:
                # A purchase never lowers a tier: a hold ran out at its very moment.
                cause = Cause.HOLD_EXPIRED
            self.new_changes.append(
                TierChange(
                    self.member_id,
                    self.changes_made,
                    held.name,
                    level.name,
                    direction,
                    best,
                    policy.window_spend(counted, self.clock),
                    self.clock,
                    cause,
                    reference,
                )
            )
            self.tier, self.since = level.name, self.clock
        self.drops_at = policy.drops_at(counted, self.clock, level)
