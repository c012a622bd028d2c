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

    def settle(self, watermark: datetime, ledgers: dict[str, Ledger]) -> None:
        """Settle every ledger whose next moment falls by `watermark`; an entry is
        stale once the ledger's next moment has moved, and is skipped."""
        while self._heap and self._heap[0][0] <= watermark:
            moment, member = heapq.heappop(self._heap)
            if self._pushed.get(member) == moment:
                del self._pushed[member]
            ledger = ledgers[member]
            if ledger.next_moment() == moment:
                ledger.settle(watermark)
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
            self.schedules[partition].settle(watermark, self.ledgers)

    def settle_loaded(self, partition: int, until: datetime) -> None:
        """Settle the loaded members of `partition` up to `until` without moving its
        clock (a sweep step that takes only some of the members due at one moment)."""
        self.schedules[partition].settle(until, self.ledgers)

    def place(self, ledger: Ledger, partition: int) -> None:
        """Before a message of `partition` reaches `ledger`: its clock is the one that
        settles the member from now on (new members, and those placed before lots)."""
        if self.partitions.get(ledger.member_id) != partition:
            self.track(ledger, partition)

    def track(self, ledger: Ledger, partition: int) -> None:
        """After a message changed `ledger`: its partition and its next moment."""
        self.partitions[ledger.member_id] = partition
        self.schedules[partition].add(ledger)
