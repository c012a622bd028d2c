"""The ledgers a batch or a sweep works on, and the clock that lets their lots vest and
expire: docs/architecture.md, "Time". The same clock as the tier service's: each
`purchases` partition has a watermark, the latest event time applied from it (or the
wall clock, live); before each message, every member of its partition with a lot
moment due by the watermark is settled up to it."""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_kernel.intake.commands import RecordPurchase, RecordRefund
from loyalty_kernel.programme import Earnings, TierPolicy
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_points.domain.ledger import Ledger


class MomentSchedule:
    """The loaded ledgers of one partition, by when their next lot moment is."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._pushed: dict[str, datetime] = {}  # each member's latest entry in the heap

    def add(self, ledger: Ledger) -> None:
        moment = ledger.next_moment()
        if moment is not None and self._pushed.get(ledger.member_id) != moment:
            self._pushed[ledger.member_id] = moment
            heapq.heappush(self._heap, (moment, ledger.member_id))

    def settle(self, watermark: datetime, ledgers: dict[str, Ledger], moved: set[str]) -> None:
        """Settle every ledger whose next moment falls by `watermark` (adding it to
        `moved`); an entry is stale once the ledger's next moment has moved, and is
        skipped."""
        while self._heap and self._heap[0][0] <= watermark:
            moment, member = heapq.heappop(self._heap)
            if self._pushed.get(member) == moment:
                del self._pushed[member]
            ledger = ledgers[member]
            if ledger.next_moment() == moment:
                ledger.settle(watermark)
                moved.add(member)
                self.add(ledger)


@dataclass
class LedgerBatch:
    """What one unit of work holds while it applies a batch or a sweep."""

    ledgers: dict[str, Ledger]
    partitions: dict[str, int]  # each member's partition of `purchases`, where known
    watermarks: PartitionWatermarks
    schedules: dict[int, MomentSchedule] = field(
        default_factory=lambda: defaultdict(MomentSchedule)
    )
    moved: set[str] = field(default_factory=set)  # members applied or settled since cleared

    def __post_init__(self) -> None:
        for member, ledger in self.ledgers.items():
            if member in self.partitions:
                self.schedules[self.partitions[member]].add(ledger)

    def let_time_pass(self, partition: int, to: datetime) -> None:
        """Move the partition's watermark up to `to` (never back) and settle its
        members up to it."""
        self.watermarks.advance(partition, to)
        watermark = self.watermarks.at(partition)
        if watermark is not None:
            self.schedules[partition].settle(watermark, self.ledgers, self.moved)

    def apply(
        self,
        ledger: Ledger,
        cmd: RecordPurchase | RecordRefund,
        partition: int,
        tiers: TierPolicy,
        earnings: Earnings,
    ) -> None:
        """One purchase or refund from `partition` on `ledger`. A message that is refused
        moves no clock (as in the tier service), so it is refused (RuleBroken) before
        time passes; a redelivery is a fact of the log, and moves it."""
        admission = ledger.admit(cmd)
        self.place(ledger, partition)
        self.let_time_pass(partition, cmd.occurred_at)
        ledger.record(admission, tiers, earnings)
        self.track(ledger, partition)

    def settle_loaded(self, partition: int, until: datetime) -> None:
        """Settle the loaded members of `partition` up to `until` without moving its
        clock (a sweep step that takes only some of the members due at one moment)."""
        self.schedules[partition].settle(until, self.ledgers, self.moved)

    def place(self, ledger: Ledger, partition: int) -> None:
        """Before a message of `partition` reaches `ledger`: its clock is the one that
        settles the member from now on (new members, and those placed before lots)."""
        if self.partitions.get(ledger.member_id) != partition:
            self.track(ledger, partition)

    def track(self, ledger: Ledger, partition: int) -> None:
        """After a message changed `ledger`: its partition and its next moment."""
        self.partitions[ledger.member_id] = partition
        self.moved.add(ledger.member_id)
        self.schedules[partition].add(ledger)
