"""A member's points account: an append-only ledger and the purchases behind it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from itertools import chain

from loyalty_kernel.intake.commands import PurchaseKey, RecordPurchase, RecordRefund
from loyalty_kernel.intake.records import RecordedPurchase, RecordedRefund
from loyalty_kernel.intake.rules import admit_purchase, admit_refund, refunded_purchase
from loyalty_kernel.programme import EarningRule, TierLevel, TierPolicy


class EntryKind(StrEnum):
    EARNED = "earned"
    CLAWED_BACK = "clawed_back"
    REDEEMED = "redeemed"
    RESTORED = "restored"
    ADJUSTED = "adjusted"


MAX_ADJUSTMENT = 1_000_000


class DebitRefused(Exception):
    """Points a member cannot spend; `reason` is the API's error code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Debit:
    """Points taken off a balance for a redemption, and put back if it is cancelled."""

    debit_id: str
    member_id: str
    points: int
    reference: str  # what the points paid for, e.g. the redemption's id
    created_at: datetime
    balance_after: int
    restored_at: datetime | None = None


@dataclass(frozen=True)
class Adjustment:
    """Points added or taken by hand by ops, with the reason and who did it."""

    adjustment_id: str
    member_id: str
    points: int  # signed
    reason: str
    actor: str  # the id of the API key that made it
    made_at: datetime
    balance_after: int


class AdjustmentRefused(ValueError):
    pass


@dataclass(frozen=True)
class LedgerEntry:
    member_id: str
    kind: EntryKind
    delta: int
    balance_after: int
    reference: str
    purchase_id: str | None
    occurred_at: datetime
    tier: str | None = None
    store_id: str | None = None  # with `purchase_id`, the purchase an entry is about


@dataclass(frozen=True)
class Refund(RecordedRefund):
    points_clawed_back: int


@dataclass
class Purchase(RecordedPurchase):
    """A purchase as the ledger remembers it, with the refunds made against it."""

    points_earned: int
    refunds: list[Refund] = field(default_factory=list)

    @property
    def clawed_back(self) -> int:
        return sum(r.points_clawed_back for r in self.refunds)


@dataclass
class Ledger:
    """One member's balance, the purchases that can still move it, and what changed.

    `purchases` holds what the caller loaded: the member's recent purchases (enough
    history for the tier rule) and any older purchase a refund refers to. `batch` is
    shared by the ledgers applied together: the purchases recorded so far by any of
    them, so a receipt two members claim in one batch is refused like one claimed
    across batches, not caught later by the database's unique index.
    """

    member_id: str
    balance: int
    purchases: dict[PurchaseKey, Purchase]
    currency: str
    batch: dict[PurchaseKey, Purchase] = field(default_factory=dict)
    new_entries: list[LedgerEntry] = field(default_factory=list)
    new_purchases: list[Purchase] = field(default_factory=list)
    new_refunds: list[Refund] = field(default_factory=list)

    def earn(self, cmd: RecordPurchase, tiers: TierPolicy, rule: EarningRule) -> LedgerEntry | None:
        """Record a purchase and the points it earns at the tier held just before it.

        Returns None for a redelivery of a purchase already recorded.
        """
        known = self.purchases.get(cmd.key) or self.batch.get(cmd.key)
        if not admit_purchase(cmd, known, self.currency):
            return None
        tier = self.tier_before(cmd.occurred_at, tiers)
        points = rule.points_for(cmd.amount, tier.multiplier)
        purchase = Purchase(
            cmd.purchase_id, cmd.member_id, cmd.amount, cmd.occurred_at, cmd.store_id, points
        )
        self.purchases[purchase.key] = self.batch[purchase.key] = purchase
        self.new_purchases.append(purchase)
        return self._append(
            EntryKind.EARNED, points, cmd.purchase_id, purchase, cmd.occurred_at, tier.name
        )

    def claw_back(self, cmd: RecordRefund, rule: EarningRule) -> LedgerEntry | None:
        """Record a refund and take back its share of the purchase's points.

        Returns None for a redelivery of a refund already recorded.
        """
        others = (
            p for k, p in self.batch.items() if k[1] == cmd.purchase_id and k not in self.purchases
        )
        named = refunded_purchase(chain(self.purchases.values(), others), cmd)
        purchase = admit_refund(cmd, named, self.currency)
        if purchase is None:
            return None
        total = rule.clawback_total(
            purchase.points_earned, purchase.refunded + cmd.amount, purchase.amount
        )
        points = total - purchase.clawed_back
        refund = Refund(
            cmd.refund_id,
            purchase.purchase_id,
            cmd.amount,
            cmd.occurred_at,
            purchase.store_id,
            points,
        )
        purchase.refunds.append(refund)
        self.new_refunds.append(refund)
        return self._append(
            EntryKind.CLAWED_BACK, -points, cmd.refund_id, purchase, cmd.occurred_at
        )

    def debit(self, debit_id: str, points: int, reference: str, at: datetime) -> Debit:
        """Spend points. Never below zero, and nothing while the balance is negative."""
        if self.balance < 0:
            raise DebitRefused(
                "negative_balance", f"the balance is {self.balance}: nothing can be redeemed"
            )
        if points > self.balance:
            raise DebitRefused(
                "insufficient_points", f"{points} points asked, {self.balance} available"
            )
        self._append(EntryKind.REDEEMED, -points, debit_id, None, at)
        return Debit(debit_id, self.member_id, points, reference, at, self.balance)

    def restore(self, debit: Debit, at: datetime) -> Debit:
        """Put a debit's points back (a cancelled redemption)."""
        self._append(EntryKind.RESTORED, debit.points, debit.debit_id, None, at)
        return replace(debit, restored_at=at)

    def adjust(
        self, adjustment_id: str, points: int, reason: str, actor: str, at: datetime
    ) -> Adjustment:
        """A correction by hand. It may take the balance below zero, as a clawback can:
        it corrects points that should not have been there."""
        if points == 0 or abs(points) > MAX_ADJUSTMENT:
            raise AdjustmentRefused(f"an adjustment moves 1 to {MAX_ADJUSTMENT:,} points")
        if not reason.strip():
            raise AdjustmentRefused("an adjustment needs a reason")
        self._append(EntryKind.ADJUSTED, points, adjustment_id, None, at)
        return Adjustment(adjustment_id, self.member_id, points, reason, actor, at, self.balance)

    def tier_before(self, at: datetime, tiers: TierPolicy) -> TierLevel:
        own = (p for p in self.purchases.values() if p.member_id == self.member_id)
        return tiers.tier_before(own, at)

    def _append(
        self,
        kind: EntryKind,
        delta: int,
        reference: str,
        purchase: Purchase | None,
        at: datetime,
        tier: str | None = None,
    ) -> LedgerEntry | None:
        if delta == 0:
            return None  # nothing moved; the purchase or refund itself is still recorded
        self.balance += delta
        pid, store = (purchase.purchase_id, purchase.store_id) if purchase else (None, None)
        entry = LedgerEntry(
            self.member_id, kind, delta, self.balance, reference, pid, at, tier, store
        )
        self.new_entries.append(entry)
        return entry
