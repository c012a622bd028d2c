"""A whole purchase log applied to tier standings held in memory, exactly as the tier
consumer applies it (the same `TierBatch.apply`, the same partition clocks), with no
database: the tier side of the what-if replay."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_kernel.intake.commands import IntakeCommand
from loyalty_kernel.intake.records import PurchaseTimeline, Receipts
from loyalty_kernel.messages import RuleBroken
from loyalty_kernel.programme import Programme, TierPolicy
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_tiers.domain.partitions import TierBatch
from loyalty_tiers.domain.standing import Purchase, TierChange


@dataclass
class TierReplay:
    """Every member's standing, and every tier change, as the log makes them."""

    programme: Programme
    changes: list[TierChange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.policy = TierPolicy(self.programme.tiers)
        self.work = TierBatch({}, {}, PartitionWatermarks.of({}), recorded=Receipts())
        self._bought: dict[str, PurchaseTimeline[Purchase]] = {}

    def apply(self, cmd: IntakeCommand, partition: int) -> None:
        """Apply one purchase or refund; one the consumer would dead-letter changes
        nothing."""
        # What the consumer would load: the member's purchases within the tier rule's
        # reach of this command (a refund finds older ones in the receipts).
        bought = self._bought.get(cmd.member_id)
        window = bought.since(cmd.occurred_at - self.policy.reach) if bought else {}
        standing = self.work.standings.get(cmd.member_id)
        if standing is None:
            self.work.purchases[cmd.member_id] = window
        else:
            standing.purchases = window
        try:
            self.work.apply(cmd, partition, self.policy, self.programme.currency)
        except RuleBroken:
            return
        self._collect()

    def finish(self, at: datetime, partitions: Iterable[int]) -> None:
        """Let every partition's clock run on to `at`: the holds that ran out by then."""
        for partition in partitions:
            self.work.watermarks.advance(partition, at)
            self.work.settle_partition(partition, self.policy)
        self._collect()

    def tier_of(self, member_id: str) -> str | None:
        standing = self.work.standings.get(member_id)
        return None if standing is None else standing.tier

    def _collect(self) -> None:
        for member in self.work.moved:
            standing = self.work.standings[member]
            self.changes += standing.new_changes
            for p in standing.new_purchases:
                self._bought.setdefault(member, PurchaseTimeline()).add(p)
            standing.new_changes, standing.new_purchases, standing.new_refunds = [], [], []
        self.work.moved.clear()
