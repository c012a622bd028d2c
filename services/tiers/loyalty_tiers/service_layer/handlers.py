"""Applying purchases and refunds to tier standings, and letting holds run out.

The clock (DESIGN.md section 5: downgrades happen when the hold runs out, published
at that moment's event time). Each `purchases` partition has a watermark: the latest
event time applied from it. Messages are applied in log order; before each one,
every member of its partition whose tier drops by the watermark is downgraded at
the moment the drop falls due. So the events and states follow from the log alone,
however the broker cuts it into batches, and a replay of the same log gives the
same result. In live mode a sweeper also moves the watermarks of the partitions a
replica owns up to the wall clock, so quiet members drop on time.

Each partition's watermark row is locked while a batch or a sweep works on its
members, so two replicas never downgrade the same member twice.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty_shared.events import CloudEvent, derived_event_id, money_text
from loyalty_shared.intake import (
    BatchOutcome,
    DeadLetters,
    Inbound,
    PurchaseRuleBroken,
    RecordPurchase,
    unapplied,
)
from loyalty_shared.messages import InboundMessage, Rejection
from loyalty_shared.programme import Programme, TierPolicy
from loyalty_shared.settings import TopicNames
from loyalty_tiers.adapters.repository import Loaded
from loyalty_tiers.domain.standing import TierChange, TierStanding, TrackedPurchase
from loyalty_tiers.service_layer.unit_of_work import TiersUnitOfWork

SOURCE = "loyalty/tiers"
CONSUMER = "tiers"
TIER_CHANGED = "loyalty.tier.changed.v1"


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
class BatchState:
    standings: dict[str, TierStanding]
    partitions: dict[str, int]
    watermarks: dict[int, datetime | None]
    schedules: dict[int, PartitionSchedule]
    purchases: dict[str, dict[str, TrackedPurchase]]  # loaded, by member

    def settle_partition(self, partition: int, policy: TierPolicy) -> None:
        watermark = self.watermarks[partition]
        if watermark is None:
            return
        for standing in self.schedules[partition].due(watermark, self.standings):
            standing.settle(watermark, policy)
            self.schedules[partition].add(standing)


@dataclass
class TierHandler:
    """Applies consumed purchases and refunds; one unit of work per batch."""

    uow: Callable[[], TiersUnitOfWork]
    programme: Programme
    topics: TopicNames

    def __post_init__(self) -> None:
        self.policy = TierPolicy(self.programme.tiers)
        self.dead_letters = DeadLetters(self.topics.purchases_dlq, CONSUMER)

    async def apply(self, batch: Sequence[Inbound]) -> BatchOutcome:
        """Apply the batch's unapplied messages in log order, commit once."""
        async with self.uow() as uow:
            fresh = await unapplied(uow.progress, batch)
            state = await self._load(uow, fresh)
            rejections: list[Rejection] = []
            for item in fresh:
                rejection = self._apply_one(item, state)
                if rejection is not None:
                    rejections.append(rejection)
                    self.dead_letters.stage(uow, item.message, rejection)
            published = await self._save(uow, state)
            await uow.progress.advance()
            await uow.commit()
        return BatchOutcome(len(fresh), len(batch) - len(fresh), published, rejections)

    async def reject(self, message: InboundMessage, rejection: Rejection) -> None:
        await self.dead_letters.send_alone(self.uow(), message, rejection)

    async def sweep(self, partitions: Iterable[int], now: datetime) -> int:
        """Live mode: move these partitions' watermarks up to `now` and let the holds
        that ran out by then run out. Returns the number of tier changes."""
        async with self.uow() as uow:
            watermarks = await uow.standings.lock_clocks(partitions)
            moved = {p: max(w, now) if w else now for p, w in watermarks.items()}
            due = await uow.standings.due(moved)
            loaded = await uow.standings.load(dict.fromkeys(due), self.policy.reach, {})
            for standing in loaded.standings.values():
                standing.settle(moved[loaded.partitions[standing.member_id]], self.policy)
            state = BatchState(loaded.standings, loaded.partitions, dict(moved), {}, {})
            published = await self._save(uow, state)
            await uow.commit()
        return published

    async def _load(self, uow: TiersUnitOfWork, fresh: Sequence[Inbound]) -> BatchState:
        """Lock the batch's partitions' clocks; load the batch's members and every member
        of those partitions whose drop can fall due before the batch is through."""
        partitions = {i.message.partition for i in fresh}
        watermarks = await uow.standings.lock_clocks(partitions)
        horizon = dict(watermarks)
        first_event: dict[str, datetime | None] = {}
        references: dict[str, set[str]] = defaultdict(set)
        for item in fresh:
            cmd = item.command
            if isinstance(cmd, Rejection):
                continue
            p, t = item.message.partition, cmd.occurred_at
            horizon[p] = max(horizon[p] or t, t)
            first_event[cmd.member_id] = min(first_event.get(cmd.member_id) or t, t)
            if not isinstance(cmd, RecordPurchase):
                references[cmd.member_id].add(cmd.purchase_id)
        due = await uow.standings.due({p: w for p, w in horizon.items() if w is not None})
        for member in due:
            first_event.setdefault(member, None)
        loaded: Loaded = await uow.standings.load(first_event, self.policy.reach, references)
        schedules: dict[int, PartitionSchedule] = defaultdict(PartitionSchedule)
        for member, standing in loaded.standings.items():
            schedules[loaded.partitions[member]].add(standing)
        return BatchState(
            loaded.standings, loaded.partitions, watermarks, schedules, loaded.purchases
        )

    def _apply_one(self, item: Inbound, state: BatchState) -> Rejection | None:
        cmd = item.command
        if isinstance(cmd, Rejection):
            return cmd
        partition = item.message.partition
        standing = state.standings.get(cmd.member_id)
        if standing is None:
            standing = TierStanding.new(
                cmd.member_id, self.policy.lowest, cmd.occurred_at, self.programme.currency
            )
            standing.purchases = state.purchases.get(cmd.member_id, {})
        try:
            if isinstance(cmd, RecordPurchase):
                standing.record_purchase(cmd, self.policy)
            else:
                standing.record_refund(cmd, self.policy)
        except PurchaseRuleBroken as broken:
            return Rejection(broken.reason, str(broken))
        state.standings[cmd.member_id] = standing
        state.partitions[cmd.member_id] = partition
        watermark = state.watermarks[partition]
        state.watermarks[partition] = max(watermark or cmd.occurred_at, cmd.occurred_at)
        state.schedules[partition].add(standing)
        state.settle_partition(partition, self.policy)
        return None

    async def _save(self, uow: TiersUnitOfWork, state: BatchState) -> int:
        changes = [c for s in state.standings.values() for c in s.new_changes]
        for change in changes:
            uow.outbox.add(self.topics.tiers_events, change.member_id, tier_changed_event(change))
        await uow.standings.save(state.standings.values(), state.partitions)
        await uow.standings.save_clocks(state.watermarks)
        return len(changes)


def tier_changed_event(change: TierChange) -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=derived_event_id("tier-change", change.member_id, str(change.sequence)),
        source=SOURCE,
        type=TIER_CHANGED,
        time=change.effective_at,
        subject=change.member_id,
        data={
            "member_id": change.member_id,
            "from_tier": change.from_tier,
            "to_tier": change.to_tier,
            "direction": change.direction.value,
            "qualifying_spend": money_text(change.qualifying_spend),
            "window_spend": money_text(change.window_spend),
            "effective_at": change.effective_at,
            "cause": change.cause.value,
            "reference": change.reference,
            "sequence": change.sequence,
        },
    )
