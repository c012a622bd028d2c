"""A member's points account: an append-only ledger and the purchases behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from itertools import chain

from loyalty_kernel.intake.commands import PurchaseKey, RecordPurchase, RecordRefund
from loyalty_kernel.intake.records import Receipts, RecordedPurchase, RecordedRefund
from loyalty_kernel.intake.rules import admit_purchase, admit_refund, refunded_purchase
from loyalty_kernel.programme import (
    Earned,
    EarningPast,
    Earnings,
    TierLevel,
    TierPolicy,
    clawback_total,
)
from loyalty_points.domain.entries import (
    MAX_ADJUSTMENT,
    Adjustment,
    AdjustmentRefused,
    Debit,
    DebitRefused,
    EntryKind,
    LedgerEntry,
)
from loyalty_points.domain.lot_book import LotBook, Moment
from loyalty_points.domain.lots import (
    Allocation,
    Lot,
    LotFacts,
    LotSource,
    Step,
    lot_id_for,
    open_lot,
)

NO_PAST = EarningPast()  # what a version without rules reads of a member's history
_STEP_ENTRIES = {
    Step.VEST: EntryKind.VESTED,
    Step.WARN: EntryKind.EXPIRING_SOON,
    Step.EXPIRE: EntryKind.EXPIRED,
}


@dataclass(frozen=True)
class Refund(RecordedRefund):
    points_clawed_back: int


@dataclass
class Purchase(RecordedPurchase):
    """A purchase as the ledger remembers it, with the refunds made against it."""

    points_earned: int
    programme_version: str | None = None  # None: earned before versions were kept
    # What each earning rule added (negative: took away), for the rules' caps.
    extras: Mapping[str, Decimal] = field(default_factory=dict)
    refunds: list[Refund] = field(default_factory=list)

    @property
    def clawed_back(self) -> int:
        return sum(r.points_clawed_back for r in self.refunds)


@dataclass(frozen=True)
class Admission:
    """A purchase or refund as the intake rules let it in: `fresh` unless it is a
    redelivery of one recorded; for a refund, the purchase it refunds."""

    command: RecordPurchase | RecordRefund
    fresh: bool
    refunded: Purchase | None = None


@dataclass
class Ledger:
    """One member's points: their lots, the purchases that can still move them, and
    the entries made since loading.

    `purchases` holds what the caller loaded: the member's recent purchases (enough
    history for the tier rule and the earning rules' caps) and any older purchase a
    refund refers to; `purchased` whether the member had any purchase recorded before
    those (the first-purchase bonus). `batch` is
    shared by the ledgers applied together: the purchases recorded so far by any of
    them, so a receipt two members claim in one batch is refused like one claimed
    across batches, not caught later by the database's unique index.
    """

    member_id: str
    book: LotBook
    purchases: dict[PurchaseKey, Purchase]
    currency: str
    batch: Receipts[Purchase] = field(default_factory=Receipts)
    purchased: bool = False
    new_entries: list[LedgerEntry] = field(default_factory=list)
    new_purchases: list[Purchase] = field(default_factory=list)
    new_refunds: list[Refund] = field(default_factory=list)
    _available: int = field(init=False)  # as of the last entry made

    def __post_init__(self) -> None:
        self._available = self.book.available

    @property
    def balance(self) -> int:
        return self.book.balance

    @property
    def available(self) -> int:
        return self.book.available

    def settle(self, until: datetime) -> None:
        """Let time pass up to `until`: lots vest, are warned of, expire."""
        for moment in self.book.steps_until(until):
            self._record_step(moment)

    def next_moment(self) -> datetime | None:
        """When the next lot of this member vests, is warned of or expires."""
        return self.book.next_moment()

    def admit(self, cmd: RecordPurchase | RecordRefund) -> Admission:
        """Whether the purchase or refund is new (not fresh: a redelivery); refused with
        the intake rule's error when it cannot be applied. Changes nothing."""
        if isinstance(cmd, RecordPurchase):
            known = self.purchases.get(cmd.key) or self.batch.get(cmd.key)
            return Admission(cmd, admit_purchase(cmd, known, self.currency))
        refunded = self._refunded(cmd)
        return Admission(cmd, refunded is not None, refunded)

    def record(
        self, admission: Admission, tiers: TierPolicy, earnings: Earnings
    ) -> LedgerEntry | None:
        """Record what `admit` let in: a purchase earns, a refund claws back. None for a
        redelivery, or when no points moved."""
        cmd = admission.command
        if not admission.fresh:
            return None
        if isinstance(cmd, RecordPurchase):
            return self._earn(cmd, tiers, earnings)
        assert admission.refunded is not None
        return self._claw_back(cmd, admission.refunded)

    def earn(
        self, cmd: RecordPurchase, tiers: TierPolicy, earnings: Earnings
    ) -> LedgerEntry | None:
        """Record a purchase and the lot of points it earns: under the programme version
        in force at its time, at the tier held just before it.

        Returns None for a redelivery of a purchase already recorded.
        """
        return self.record(self.admit(cmd), tiers, earnings)

    def claw_back(self, cmd: RecordRefund) -> LedgerEntry | None:
        """Record a refund and take back its share of the purchase's points: from the
        purchase's own lot first, then from spendable lots, the rest as debt.

        Returns None for a redelivery of a refund already recorded.
        """
        refunded = self._refunded(cmd)
        return None if refunded is None else self._claw_back(cmd, refunded)

    def _earn(
        self, cmd: RecordPurchase, tiers: TierPolicy, earnings: Earnings
    ) -> LedgerEntry | None:
        tier = self.tier_before(cmd.occurred_at, tiers)
        policy = earnings.at(cmd.occurred_at)
        earned = policy.earn(cmd, tier, self._past() if policy.has_rules else NO_PAST)
        points = earned.points
        purchase = Purchase(cmd.purchase_id, cmd.member_id, cmd.amount, cmd.occurred_at,
                            cmd.store_id, points, earned.version, earned.extras)  # fmt: skip
        self.purchased = True
        self.purchases[purchase.key] = self.batch[purchase.key] = purchase
        self.new_purchases.append(purchase)
        if points == 0:
            return None  # the purchase is recorded; it earned nothing
        lot = open_lot(self.member_id, LotSource.PURCHASE, cmd.purchase_id, cmd.store_id,
                       cmd.occurred_at, points, self.book.lifecycle)  # fmt: skip
        moved = self.book.add(lot)
        return self.append(EntryKind.EARNED, points, cmd.purchase_id, purchase,
                            cmd.occurred_at, moved, tier.name, LotFacts.of(lot, points),
                            earned)  # fmt: skip

    def _past(self) -> EarningPast:
        """What the earning rules read of the member's history."""
        own = [p for p in self.purchases.values() if p.member_id == self.member_id]
        given = [(p.occurred_at, p.extras) for p in own if p.extras]
        return EarningPast(first_purchase=not (self.purchased or own), given=given)

    def _refunded(self, cmd: RecordRefund) -> Purchase | None:
        others = (p for k, p in self.batch.named(cmd.purchase_id) if k not in self.purchases)
        named = refunded_purchase(chain(self.purchases.values(), others), cmd)
        return admit_refund(cmd, named, self.currency)

    def _claw_back(self, cmd: RecordRefund, purchase: Purchase) -> LedgerEntry | None:
        total = clawback_total(
            purchase.points_earned, purchase.refunded + cmd.amount, purchase.amount
        )
        points = total - purchase.clawed_back
        refund = Refund(cmd.refund_id, purchase.purchase_id, cmd.amount, cmd.occurred_at,
                        purchase.store_id, points)  # fmt: skip
        purchase.refunds.append(refund)
        self.new_refunds.append(refund)
        if points == 0:
            return None
        own = self.book.lots.get(
            lot_id_for(self.member_id, LotSource.PURCHASE, purchase.store_id, purchase.purchase_id)
        )
        moved = self.book.take(points, cmd.occurred_at, first=own)
        return self.append(
            EntryKind.CLAWED_BACK, -points, cmd.refund_id, purchase, cmd.occurred_at, moved
        )

    def debit(self, debit_id: str, points: int, reference: str, at: datetime) -> Debit:
        """Spend points: spendable ones only, soonest-expiring first; nothing while the
        member owes points."""
        available, pending = self.book.available, self.book.pending
        if available < 0 or self.balance < 0:
            raise DebitRefused(
                "negative_balance", f"the balance is {self.balance}: nothing can be redeemed"
            )
        if points > available:
            vests_at = self.book.enough_vested_at(points)
            if vests_at is not None:
                raise DebitRefused(
                    "points_pending",
                    f"{points} points asked, {available} spendable; {pending} more are "
                    f"pending, enough of them by {vests_at.isoformat()}",
                    vests_at,
                )
            raise DebitRefused(
                "insufficient_points", f"{points} points asked, {available} available"
            )
        moved = self.book.spend(points)
        self.append(EntryKind.REDEEMED, -points, debit_id, None, at, moved)
        return Debit(debit_id, self.member_id, points, reference, at, self.balance, lots=moved)

    def restore(self, debit: Debit, at: datetime) -> Debit:
        """Put a debit's points back (a cancelled redemption), into the lots they came
        from; what went back to a lot that expired in between expires at once."""
        back, gone = self.book.put_back(debit.lots, at)
        self.append(EntryKind.RESTORED, debit.points, debit.debit_id, None, at, back)
        if gone:
            self.book.lapse(gone)
            lost = sum(p for _, p in gone)
            self.append(EntryKind.EXPIRED, lost, debit.debit_id, None, at, gone)
        return replace(debit, restored_at=at)

    def adjust(
        self, adjustment_id: str, points: int, reason: str, actor: str, at: datetime
    ) -> Adjustment:
        """A correction by hand: a lot, spendable at once, when it adds points; taken
        like a debit when it removes them, though it may take the balance below zero,
        as a clawback can: it corrects points that should not have been there."""
        if points == 0 or abs(points) > MAX_ADJUSTMENT:
            raise AdjustmentRefused(f"an adjustment moves 1 to {MAX_ADJUSTMENT:,} points")
        if not reason.strip():
            raise AdjustmentRefused("an adjustment needs a reason")
        facts = None
        if points > 0:
            lot = open_lot(self.member_id, LotSource.ADJUSTMENT, adjustment_id, None, at,
                           points, self.book.lifecycle)  # fmt: skip
            moved, facts = self.book.add(lot), LotFacts.of(lot, points)
        else:
            moved = self.book.take(-points, at)
        self.append(EntryKind.ADJUSTED, points, adjustment_id, None, at, moved, lot=facts)
        return Adjustment(adjustment_id, self.member_id, points, reason, actor, at, self.balance)

    def tier_before(self, at: datetime, tiers: TierPolicy) -> TierLevel:
        own = (p for p in self.purchases.values() if p.member_id == self.member_id)
        return tiers.tier_before(own, at)

    def _record_step(self, moment: Moment) -> None:
        lot = moment.lot
        delta = -moment.points if moment.step is Step.EXPIRE else 0
        self.append(_STEP_ENTRIES[moment.step], delta, lot.lot_id, lot, moment.at,
                     moment.allocations, lot=LotFacts.of(lot, moment.points))  # fmt: skip

    def append(
        self,
        kind: EntryKind,
        delta: int,
        reference: str,
        about: Purchase | Lot | PurchaseKey | None,
        at: datetime,
        moved: tuple[Allocation, ...],
        tier: str | None = None,
        lot: LotFacts | None = None,
        earned: Earned | None = None,
    ) -> LedgerEntry:
        """An entry of `kind` at `at`, with the balance and spendable points as the
        book holds them now."""
        pid, store = _purchase_of(about)
        available = self.book.available
        entry = LedgerEntry(self.member_id, kind, delta, self.balance, reference, pid, at, tier,
                            store, available, available - self._available, moved, lot,
                            earned.version if earned else None,
                            earned.rules if earned else ())  # fmt: skip
        self._available = available
        self.new_entries.append(entry)
        return entry


def _purchase_of(about: Purchase | Lot | PurchaseKey | None) -> tuple[str | None, str | None]:
    """The purchase (id, store) an entry is about, if any."""
    if isinstance(about, tuple):
        store_id, purchase_id = about
        return purchase_id, store_id
    if isinstance(about, Purchase):
        return about.purchase_id, about.store_id
    if isinstance(about, Lot) and about.source is LotSource.PURCHASE:
        return about.reference, about.store_id
    return None, None
