"""The members of the partitions a batch or a sweep works on, and when each one's tier
drops: the tier clock of docs/architecture.md, "Time"."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_kernel.intake.commands import PurchaseKey
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
    recorded: dict[PurchaseKey, Purchase] = field(default_factory=dict)
    schedules: dict[int, PartitionSchedule] = field(
        default_factory=lambda: defaultdict(PartitionSchedule)
    )

    def settle_partition(self, partition: int, policy: TierPolicy) -> None:
        watermark = self.watermarks.at(partition)
        if watermark is None:
            return
        for standing in self.schedules[partition].due(watermark, self.standings):
            standing.settle(watermark, policy)
            self.schedules[partition].add(standing)
