"""A whole purchase log applied to ledgers held in memory, exactly as the points
consumer applies it (the same `LedgerBatch.apply`, the same partition clocks), with no
database: what the what-if replay runs under each programme it compares."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_kernel.intake.commands import IntakeCommand
from loyalty_kernel.intake.records import PurchaseTimeline, Receipts
from loyalty_kernel.programme import Earnings, Programme, TierPolicy
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_points.domain.entries import LedgerEntry
from loyalty_points.domain.ledger import Ledger, Purchase
from loyalty_points.domain.lot_book import LotBook
from loyalty_points.domain.partitions import LedgerBatch

Made = tuple[list[LedgerEntry], list[Purchase]]


@dataclass
class PointsReplay:
    """Every member's ledger, built up one command at a time. `entries` are handed to
    the caller as they are made (and then forgotten), so memory holds the ledgers'
    state, not their history."""

    programme: Programme
    work: LedgerBatch = field(init=False)
    receipts: Receipts[Purchase] = field(default_factory=Receipts)

    def __post_init__(self) -> None:
        self.tiers = TierPolicy(self.programme.tiers)
        self.earnings = Earnings(self.programme)
        self.work = LedgerBatch({}, {}, PartitionWatermarks.of({}))
        self.reach = max(self.tiers.reach, self.programme.lookback)
        self._bought: dict[str, PurchaseTimeline[Purchase]] = {}

    @property
    def ledgers(self) -> dict[str, Ledger]:
        return self.work.ledgers

    def apply(self, cmd: IntakeCommand, partition: int) -> Made:
        """Apply one purchase or refund from `partition`; the entries it made (with the
        lot moments time brought on before it, for any member of the partition) and
        the purchase it recorded. Raises RuleBroken, changing nothing, for what the
        consumer would dead-letter."""
        ledger = self.ledgers.get(cmd.member_id) or self._open(cmd.member_id)
        # What the consumer would load for this command: the member's purchases within
        # the rules' reach of it (older ones, which a refund may name, are in receipts).
        bought = self._bought.get(cmd.member_id)
        ledger.purchases = bought.since(cmd.occurred_at - self.reach) if bought else {}
        self.work.apply(ledger, cmd, partition, self.tiers, self.earnings)
        return self._taken()

    def finish(self, at: datetime, partitions: Iterable[int]) -> Made:
        """Let every partition's clock run on to `at`, as the live sweeper does."""
        for partition in partitions:
            self.work.let_time_pass(partition, at)
        return self._taken()

    def _open(self, member_id: str) -> Ledger:
        book = LotBook(member_id, self.programme.points)
        ledger = Ledger(member_id, book, {}, self.programme.currency, self.receipts)
        self.ledgers[member_id] = ledger
        return ledger

    def _taken(self) -> Made:
        entries: list[LedgerEntry] = []
        purchases: list[Purchase] = []
        for member in self.work.moved:
            ledger = self.ledgers[member]
            entries += ledger.new_entries
            purchases += ledger.new_purchases
            for p in ledger.new_purchases:
                self._bought.setdefault(member, PurchaseTimeline()).add(p)
            ledger.new_entries, ledger.new_purchases, ledger.new_refunds = [], [], []
            ledger.book.changed.clear()
            ledger.book.opened.clear()
        self.work.moved.clear()
        return entries, purchases
