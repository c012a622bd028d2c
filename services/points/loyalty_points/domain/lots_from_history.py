"""A ledger written before points had lots, replayed in order under the programme's
lifecycle, so it reads as if the lifecycle had always been in force: the same
earnings, clawbacks, redemptions, restores and adjustments, each with the lots it
touched, and between them the vestings, warnings and expiries that fell due.

The amounts are the written entries' own: nothing is recomputed. What the old rules
allowed and the new ones would not is kept: a redemption of points that would still
have been pending takes what is spendable, then from the pending lots themselves, so
a later cancel puts the points back where they came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty_kernel.programme import PointsLifecycle
from loyalty_points.domain.entries import Debit, EntryKind
from loyalty_points.domain.ledger import Ledger
from loyalty_points.domain.lot_book import LotBook
from loyalty_points.domain.lots import LotFacts, LotSource, lot_id_for, open_lot


@dataclass(frozen=True)
class WrittenEntry:
    """A ledger entry as the old code wrote it."""

    kind: str
    delta: int
    reference: str
    purchase_id: str | None
    store_id: str | None
    tier: str | None
    occurred_at: datetime


@dataclass
class Replayed:
    """A member's ledger rebuilt: its entries and lots, each redemption's debit with the
    lots it took, and for each new entry the index of the written one it stands for
    (None for a vesting, warning or expiry the replay added)."""

    ledger: Ledger
    debits: dict[str, Debit]
    written_as: list[int | None]


def replay(
    member_id: str, written: list[WrittenEntry], lifecycle: PointsLifecycle, currency: str
) -> Replayed:
    """The member's ledger rebuilt from `written`, in the order it was written."""
    ledger = Ledger(member_id, LotBook(member_id, lifecycle), {}, currency)
    book = ledger.book
    debits: dict[str, Debit] = {}
    written_as: list[int | None] = []
    for n, old in enumerate(written):
        at, kind = old.occurred_at, EntryKind(old.kind)
        ledger.settle(at)
        written_as += [None] * (len(ledger.new_entries) - len(written_as))
        facts = None
        if kind is EntryKind.EARNED:
            lot = open_lot(member_id, LotSource.PURCHASE, old.reference, old.store_id, at,
                           old.delta, lifecycle)  # fmt: skip
            moved, facts = book.add(lot), LotFacts.of(lot, old.delta)
        elif kind is EntryKind.CLAWED_BACK:
            key = lot_id_for(member_id, LotSource.PURCHASE, old.store_id, old.purchase_id or "")
            moved = book.take(-old.delta, at, first=book.lots.get(key))
        elif kind is EntryKind.REDEEMED:
            moved = book.take_written(-old.delta, at)
            debits[old.reference] = Debit(old.reference, member_id, -old.delta, "", at, 0,
                                          lots=moved)  # fmt: skip
        elif kind is EntryKind.RESTORED:
            moved, gone = book.put_back(debits[old.reference].lots, at)
            ledger.append(kind, old.delta, old.reference, None, at, moved)
            written_as.append(n)
            if gone:
                book.lapse(gone)
                lost = sum(p for _, p in gone)
                ledger.append(EntryKind.EXPIRED, lost, old.reference, None, at, gone)
                written_as.append(None)
            continue
        elif old.delta > 0:  # a positive adjustment
            lot = open_lot(member_id, LotSource.ADJUSTMENT, old.reference, None, at, old.delta,
                           lifecycle)  # fmt: skip
            moved, facts = book.add(lot), LotFacts.of(lot, old.delta)
        else:
            moved = book.take(-old.delta, at)
        about = (old.store_id or "", old.purchase_id) if old.purchase_id is not None else None
        ledger.append(kind, old.delta, old.reference, about, at, moved, old.tier, facts)
        written_as.append(n)
    return Replayed(ledger, debits, written_as)
