"""Applying purchases and refunds to the ledger, a consumed batch at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty_kernel.intake.commands import IntakeCommand, RecordPurchase
from loyalty_kernel.messages import Consumed
from loyalty_kernel.programme import EarningRule, Programme, TierPolicy
from loyalty_kernel.topics import TopicNames
from loyalty_platform.consuming import ConsumingHandler, DeadLetters
from loyalty_points.domain.ledger import Ledger
from loyalty_points.service_layer.events import entry_event
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork

CONSUMER = "points"

Ledgers = dict[str, Ledger]


@dataclass
class PurchaseHandler(ConsumingHandler[PointsUnitOfWork, Ledgers, IntakeCommand]):
    """Applies consumed purchases and refunds to members' ledgers; one unit of work per batch."""

    uow: Callable[[], PointsUnitOfWork]
    programme: Programme
    topics: TopicNames

    def __post_init__(self) -> None:
        self.tiers = TierPolicy(self.programme.tiers)
        self.earning = EarningRule(self.programme.earning.points_per_unit)
        self.dead_letters = DeadLetters(self.topics.purchases_dlq, CONSUMER)

    async def load(
        self, uow: PointsUnitOfWork, batch: Sequence[Consumed[IntakeCommand]]
    ) -> Ledgers:
        """The ledgers of the batch's members, balance rows locked, with the purchases
        their events name and as much history as the tier rule needs."""
        references: dict[str, set[str]] = defaultdict(set)
        lookback: dict[str, datetime] = {}
        for item in batch:
            cmd = item.command
            references[cmd.member_id].add(cmd.purchase_id)
            if isinstance(cmd, RecordPurchase):
                start = cmd.occurred_at - self.tiers.reach
                lookback[cmd.member_id] = min(lookback.get(cmd.member_id, start), start)
        return await uow.ledgers.for_members(references, lookback)

    def apply_one(self, work: Ledgers, item: Consumed[IntakeCommand]) -> None:
        cmd = item.command
        ledger = work[cmd.member_id]
        if isinstance(cmd, RecordPurchase):
            ledger.earn(cmd, self.tiers, self.earning)
        else:
            ledger.claw_back(cmd, self.earning)

    async def save(self, uow: PointsUnitOfWork, work: Ledgers) -> int:
        entries = [e for ledger in work.values() for e in ledger.new_entries]
        for entry in entries:
            uow.outbox.add(self.topics.points_events, entry.member_id, entry_event(entry))
        await uow.ledgers.save(work.values())
        return len(entries)
