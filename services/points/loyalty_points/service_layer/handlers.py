"""Applying purchases and refunds to the ledger, a consumed batch at a time, and
letting lots vest and expire as time passes.

The clock (docs/architecture.md, "Time") is the tier service's: each `purchases`
partition has a watermark, the latest event time applied from it. Before each message
is applied, every member of its partition with a lot moment by then (vesting, the
expiry warning, expiry) is settled at that moment. So the entries and events follow
from the log alone, however it is cut into batches. In live mode a sweeper moves the
watermarks of the partitions a replica owns up to the wall clock, so the points of a
member who never buys again still vest and expire on time. A partition's clock row is
locked while a batch or a sweep works on its members, so two replicas never act on
the same moment twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty_kernel.intake.commands import IntakeCommand, RecordPurchase
from loyalty_kernel.messages import Consumed
from loyalty_kernel.programme import Earnings, Programme, TierPolicy
from loyalty_kernel.topics import TopicNames
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_platform.consuming import ConsumingHandler, DeadLetters
from loyalty_platform.kafka import partition_of
from loyalty_points.domain.partitions import LedgerBatch
from loyalty_points.service_layer.events import entry_event_bytes
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork

log = logging.getLogger(__name__)

CONSUMER = "points"
SWEEP_MEMBERS = 2_000  # per partition and unit of work


@dataclass
class PurchaseHandler(ConsumingHandler[PointsUnitOfWork, LedgerBatch, IntakeCommand]):
    """Applies consumed purchases and refunds to members' ledgers; one unit of work per batch."""

    uow: Callable[[], PointsUnitOfWork]
    programme: Programme
    topics: TopicNames

    def __post_init__(self) -> None:
        self.tiers = TierPolicy(self.programme.tiers)
        self.earnings = Earnings(self.programme)
        # How far back a purchase's earning looks: the tier rule's reach, the caps' windows.
        self.reach = max(self.tiers.reach, self.programme.lookback)
        self.dead_letters = DeadLetters(self.topics.purchases_dlq, CONSUMER)

    async def sweep(
        self, partitions: Iterable[int], now: datetime, members: int = SWEEP_MEMBERS
    ) -> int:
        """Live mode: move these partitions' watermarks up to `now` and settle the
        members whose lots vest, are warned of or expire by then. Returns the number of
        events staged.

        At most `members` due members per partition go into one unit of work, soonest
        first: a partition with more (after an outage, a million lots expiring on one
        night) moves in steps, each up to the moment its chunk reaches, so every member
        of it is always settled up to its watermark and memory stays bounded."""
        staged, behind = 0, set(partitions)
        before: PartitionWatermarks | None = None
        while behind:
            async with self.uow() as uow:
                locked = await uow.ledgers.clocks.lock(behind)
                due, reached, ahead = await uow.ledgers.due_in_steps(locked.swept_to(now), members)
                work = await self._load(uow, {m: set() for m in due}, {}, locked)
                for partition, moment in ahead.items():
                    work.settle_loaded(partition, moment)
                for partition, watermark in reached.known().items():
                    work.let_time_pass(partition, watermark)
                took = await self.save(uow, work)
                await uow.commit()
            if took == 0 and reached == before:
                # No progress: balance rows claim a moment their lots do not have.
                log.warning("sweep stuck at %s: members %s have nothing due", reached, due[:5])
                break
            staged, before = staged + took, reached
            behind = {p for p, at in reached.known().items() if at < now}
        return staged

    async def place(self, partition_count: int, limit: int = 1000) -> int:
        """Give members whose partition is not known yet (ledgers from before lots)
        the partition their key hashes to, so their partition's clock reaches them.
        Returns how many were placed; any replica may do it, the answer is the same."""
        async with self.uow() as uow:
            members = await uow.ledgers.unplaced(limit)
            await uow.ledgers.place({m: partition_of(m, partition_count) for m in members})
            await uow.commit()
        return len(members)

    async def load(
        self, uow: PointsUnitOfWork, batch: Sequence[Consumed[IntakeCommand]]
    ) -> LedgerBatch:
        """Lock the batch's partitions' clocks; load the ledgers of the batch's members
        (with the purchases their events name and as much history as the tier rule
        and the earning rules' caps need) and of every member of those partitions with a lot moment before the
        batch is through."""
        watermarks = await uow.ledgers.clocks.lock({i.message.partition for i in batch})
        references: dict[str, set[str]] = defaultdict(set)
        lookback: dict[str, datetime] = {}
        refunded: set[str] = set()
        for item in batch:
            cmd = item.command
            references[cmd.member_id].add(cmd.purchase_id)
            if isinstance(cmd, RecordPurchase):
                start = cmd.occurred_at - self.reach
                lookback[cmd.member_id] = min(lookback.get(cmd.member_id, start), start)
            else:
                refunded.add(cmd.purchase_id)
        horizon = watermarks.advanced((i.message.partition, i.command.occurred_at) for i in batch)
        for member in await uow.ledgers.due(horizon):
            references.setdefault(member, set())
        return await self._load(uow, references, lookback, watermarks, refunded)

    async def _load(
        self,
        uow: PointsUnitOfWork,
        references: dict[str, set[str]],
        lookback: dict[str, datetime],
        watermarks: PartitionWatermarks,
        refunded: set[str] | None = None,
    ) -> LedgerBatch:
        ledgers, partitions = await uow.ledgers.for_members(references, lookback, refunded or ())
        return LedgerBatch(ledgers, partitions, watermarks)

    def apply_one(self, work: LedgerBatch, item: Consumed[IntakeCommand]) -> None:
        cmd = item.command
        ledger = work.ledgers[cmd.member_id]
        work.apply(ledger, cmd, item.message.partition, self.tiers, self.earnings)

    async def save(self, uow: PointsUnitOfWork, work: LedgerBatch) -> int:
        entries = [e for ledger in work.ledgers.values() for e in ledger.new_entries]
        for entry in entries:
            uow.outbox.add_encoded(
                self.topics.points_events, entry.member_id, entry_event_bytes(entry)
            )
        await uow.ledgers.save(work.ledgers.values(), work.partitions)
        await uow.ledgers.clocks.save(work.watermarks)
        return len(entries)
