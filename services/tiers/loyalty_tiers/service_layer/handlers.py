"""Applying purchases and refunds to tier standings, and letting holds run out.

The clock (docs/architecture.md, "Time"): downgrades happen when the hold runs out,
published at that moment's event time. Each `purchases` partition has a watermark:
the latest event time applied from it. Messages are applied in log order; before
each one, every member of its partition whose tier drops by the watermark is
downgraded at the moment the drop falls due. So the events and states follow from
the log alone, however the broker cuts it into batches, and a replay of the same log
gives the same result. In live mode a sweeper also moves the watermarks of the
partitions a replica owns up to the wall clock, so quiet members drop on time.

Each partition's watermark row is locked while a batch or a sweep works on its
members, so two replicas never downgrade the same member twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty_kernel.events.tiers import tier_changed_event
from loyalty_kernel.intake.commands import IntakeCommand, RecordPurchase
from loyalty_kernel.messages import Consumed
from loyalty_kernel.programme import Programme, TierPolicy
from loyalty_kernel.topics import TopicNames
from loyalty_platform.consuming import ConsumingHandler, DeadLetters
from loyalty_tiers.domain.partitions import TierBatch
from loyalty_tiers.service_layer.events import change_published
from loyalty_tiers.service_layer.unit_of_work import TiersUnitOfWork

CONSUMER = "tiers"


@dataclass
class TierHandler(ConsumingHandler[TiersUnitOfWork, TierBatch, IntakeCommand]):
    """Applies consumed purchases and refunds to tier standings; one unit of work per batch."""

    uow: Callable[[], TiersUnitOfWork]
    programme: Programme
    topics: TopicNames

    def __post_init__(self) -> None:
        self.policy = TierPolicy(self.programme.tiers)
        self.dead_letters = DeadLetters(self.topics.purchases_dlq, CONSUMER)

    async def sweep(self, partitions: Iterable[int], now: datetime) -> int:
        """Live mode: move these partitions' watermarks up to `now` and let the holds
        that ran out by then run out. Returns the number of tier changes."""
        async with self.uow() as uow:
            moved = (await uow.standings.clocks.lock(partitions)).swept_to(now)
            due = await uow.standings.due(moved)
            batch = await uow.standings.load(dict.fromkeys(due), self.policy.reach, {}, moved)
            marks = moved.known()
            for member, standing in batch.standings.items():
                standing.settle(marks[batch.partitions[member]], self.policy)
            published = await self.save(uow, batch)
            await uow.commit()
        return published

    async def load(
        self, uow: TiersUnitOfWork, batch: Sequence[Consumed[IntakeCommand]]
    ) -> TierBatch:
        """Lock the batch's partitions' clocks; load the batch's members and every member
        of those partitions whose drop can fall due before the batch is through."""
        watermarks = await uow.standings.clocks.lock({i.message.partition for i in batch})
        first_event: dict[str, datetime | None] = {}
        references: dict[str, set[str]] = defaultdict(set)
        for item in batch:
            cmd = item.command
            t = cmd.occurred_at
            first_event[cmd.member_id] = min(first_event.get(cmd.member_id) or t, t)
            if not isinstance(cmd, RecordPurchase):
                references[cmd.member_id].add(cmd.purchase_id)
        horizon = watermarks.advanced((i.message.partition, i.command.occurred_at) for i in batch)
        for member in await uow.standings.due(horizon):
            first_event.setdefault(member, None)
        work = await uow.standings.load(first_event, self.policy.reach, references, watermarks)
        for member, standing in work.standings.items():
            work.schedules[work.partitions[member]].add(standing)
        return work

    def apply_one(self, work: TierBatch, item: Consumed[IntakeCommand]) -> None:
        work.apply(item.command, item.message.partition, self.policy, self.programme.currency)

    async def save(self, uow: TiersUnitOfWork, work: TierBatch) -> int:
        changes = [c for s in work.standings.values() for c in s.new_changes]
        for change in changes:
            event = tier_changed_event(change_published(change))
            uow.outbox.add(self.topics.tiers_events, change.member_id, event)
        await uow.standings.save(work.standings.values(), work.partitions)
        await uow.standings.clocks.save(work.watermarks)
        return len(changes)
