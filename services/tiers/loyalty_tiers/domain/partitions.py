"""The members of the partitions a batch or a sweep works on, and when each one's tier
drops: the tier clock of docs/architecture.md, "Time"."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_kernel.intake.commands import IntakeCommand, PurchaseKey, RecordPurchase
from loyalty_kernel.intake.records import Receipts
from loyalty_kernel.programme import TierPolicy
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_tiers.domain.standing import Purchase, TierStanding


class PartitionSchedule:
    """The loaded members of one partition, by when their tier drops."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []

    def add(self, standing: TierStanding) -> None:
        if standing.drops_at is not None:
            heapq.heappush(self._heap, (standing.drops_at, standing.member_id))

    def due(
        self, watermark: datetime, standings: dict[str, TierStanding]
    ) -> Iterable[TierStanding]:
        """Members whose drop falls due by `watermark`; an entry is stale once the
        member's drop has moved, and is skipped."""
        while self._heap and self._heap[0][0] <= watermark:
            drops_at, member = heapq.heappop(self._heap)
            if standings[member].drops_at == drops_at:
                yield standings[member]


@dataclass
class TierBatch:
    """What one unit of work holds while it applies a batch or a sweep."""

    standings: dict[str, TierStanding]
    partitions: dict[str, int]  # each member's partition of `purchases`
    watermarks: PartitionWatermarks
    # Loaded, by member, then by store and id.
    purchases: dict[str, dict[PurchaseKey, Purchase]] = field(default_factory=dict)
    # What the batch records, whoever's: shared by its standings.
    recorded: Receipts[Purchase] = field(default_factory=Receipts)
    schedules: dict[int, PartitionSchedule] = field(
        default_factory=lambda: defaultdict(PartitionSchedule)
    )
    moved: set[str] = field(default_factory=set)  # members applied or settled since cleared

    def apply(self, cmd: IntakeCommand, partition: int, policy: TierPolicy, currency: str) -> None:
        """One purchase or refund from `partition`: counted on the member's standing
        (a new member starts at the lowest tier), then the partition's clock moves and
        the holds that ran out by it run out. Raises RuleBroken, changing nothing."""
        standing = self.standings.get(cmd.member_id)
        if standing is None:
            standing = TierStanding.new(cmd.member_id, policy.lowest, cmd.occurred_at, currency)
            standing.purchases = self.purchases.get(cmd.member_id, {})
            standing.batch = self.recorded
        if isinstance(cmd, RecordPurchase):
            standing.record_purchase(cmd, policy)
        else:
            standing.record_refund(cmd, policy)
        self.standings[cmd.member_id] = standing
        self.partitions[cmd.member_id] = partition
        self.moved.add(cmd.member_id)
        self.watermarks.advance(partition, cmd.occurred_at)
        self.schedules[partition].add(standing)
        self.settle_partition(partition, policy)

    def settle_partition(self, partition: int, policy: TierPolicy) -> None:
        watermark = self.watermarks.at(partition)
        if watermark is None:
            return
        for standing in self.schedules[partition].due(watermark, self.standings):
            standing.settle(watermark, policy)
            self.schedules[partition].add(standing)
            self.moved.add(standing.member_id)
