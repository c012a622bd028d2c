"""How far event time has gone on each partition of `purchases`.

A service whose rules run on time (tier holds, churn signals) keeps one watermark per
partition: the latest event time applied from it, or the wall clock in live mode. A
watermark only moves forward, so what falls due by it falls due once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class PartitionWatermarks:
    marks: dict[int, datetime | None] = field(default_factory=dict)

    @classmethod
    def of(cls, marks: Mapping[int, datetime | None]) -> PartitionWatermarks:
        return cls(dict(marks))

    def at(self, partition: int) -> datetime | None:
        """The partition's watermark; None before anything was applied from it."""
        return self.marks.get(partition)

    def advance(self, partition: int, to: datetime) -> None:
        """Move the partition's watermark up to `to`, never back."""
        current = self.marks.get(partition)
        self.marks[partition] = to if current is None or to > current else current

    def advanced(self, moments: Iterable[tuple[int, datetime]]) -> PartitionWatermarks:
        """A copy moved by these (partition, event time) pairs."""
        ahead = PartitionWatermarks(dict(self.marks))
        for partition, at in moments:
            ahead.advance(partition, at)
        return ahead

    def swept_to(self, now: datetime) -> PartitionWatermarks:
        """A copy with the watermark of every partition that has one at least `now`
        (live mode). A partition that never had a purchase keeps none: it holds no
        member to let time pass for, and moved to now it would make a history loaded
        into a fresh deployment arrive late."""
        return self.advanced((p, now) for p, w in self.marks.items() if w is not None)

    def known(self) -> dict[int, datetime]:
        """The partitions that have a watermark, with it."""
        return {p: w for p, w in self.marks.items() if w is not None}
