"""Applying purchases and refunds to the ledger, a consumed batch at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty_points.domain.ledger import EntryKind, Ledger, LedgerEntry
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork
from loyalty_shared.events import CloudEvent, derived_event_id
from loyalty_shared.intake import (
    BatchOutcome,
    DeadLetters,
    Inbound,
    PurchaseRuleBroken,
    RecordPurchase,
    unapplied,
)
from loyalty_shared.messages import InboundMessage, Rejection
from loyalty_shared.programme import EarningRule, Programme, TierPolicy
from loyalty_shared.settings import TopicNames

SOURCE = "loyalty/points"
CONSUMER = "points"


@dataclass
class PurchaseHandler:
    """Applies consumed purchases and refunds; one unit of work per batch."""

    uow: Callable[[], PointsUnitOfWork]
    programme: Programme
    topics: TopicNames

    def __post_init__(self) -> None:
        self.tiers = TierPolicy(self.programme.tiers)
        self.earning = EarningRule(self.programme.earning.points_per_unit)
        self.dead_letters = DeadLetters(self.topics.purchases_dlq, CONSUMER)

    async def apply(self, batch: Sequence[Inbound]) -> BatchOutcome:
        """Apply the batch's unapplied messages, commit once, report what happened."""
        async with self.uow() as uow:
            fresh = await unapplied(uow.progress, batch)
            ledgers = await uow.ledgers.for_members(*self._scope(fresh))
            rejections: list[Rejection] = []
            entries = 0
            for item in fresh:
                outcome = self._apply_one(item, ledgers)
                if isinstance(outcome, Rejection):
                    rejections.append(outcome)
                    self.dead_letters.stage(uow, item.message, outcome)
                elif outcome is not None:
                    entries += 1
                    uow.outbox.add(
                        self.topics.points_events, outcome.member_id, points_event(outcome)
                    )
            await uow.ledgers.save(ledgers.values())
            await uow.progress.advance()
            await uow.commit()
        return BatchOutcome(len(fresh), len(batch) - len(fresh), entries, rejections)

    async def reject(self, message: InboundMessage, rejection: Rejection) -> None:
        await self.dead_letters.send_alone(self.uow(), message, rejection)

    def _scope(self, batch: Sequence[Inbound]) -> tuple[dict[str, set[str]], dict[str, datetime]]:
        """The purchases each member's events name, and how far back each member's
        history matters to the tier rule (from their earliest purchase in the batch)."""
        references: dict[str, set[str]] = defaultdict(set)
        lookback: dict[str, datetime] = {}
        for item in batch:
            cmd = item.command
            if isinstance(cmd, Rejection):
                continue
            references[cmd.member_id].add(cmd.purchase_id)
            if isinstance(cmd, RecordPurchase):
                start = cmd.occurred_at - self.tiers.reach
                lookback[cmd.member_id] = min(lookback.get(cmd.member_id, start), start)
        return references, lookback

    def _apply_one(
        self, item: Inbound, ledgers: dict[str, Ledger]
    ) -> LedgerEntry | Rejection | None:
        cmd = item.command
        if isinstance(cmd, Rejection):
            return cmd
        ledger = ledgers[cmd.member_id]
        try:
            if isinstance(cmd, RecordPurchase):
                return ledger.earn(cmd, self.tiers, self.earning)
            return ledger.claw_back(cmd, self.earning)
        except PurchaseRuleBroken as broken:
            return Rejection(broken.reason, str(broken))


POINTS_ADJUSTED = "loyalty.points.adjusted.v1"

_EVENT_TYPES = {
    EntryKind.EARNED: "loyalty.points.earned.v1",
    EntryKind.CLAWED_BACK: "loyalty.points.clawed_back.v1",
    EntryKind.REDEEMED: "loyalty.points.redeemed.v1",
    EntryKind.RESTORED: "loyalty.points.restored.v1",
    EntryKind.ADJUSTED: POINTS_ADJUSTED,
}


def points_event(entry: LedgerEntry) -> CloudEvent:
    data: dict[str, object] = {
        "member_id": entry.member_id,
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "reference": entry.reference,
        "purchase_id": entry.purchase_id,
    }
    if entry.tier is not None:
        data["tier"] = entry.tier
    return CloudEvent(
        specversion="1.0",
        id=derived_event_id(entry.kind.value, entry.reference),
        source=SOURCE,
        type=_EVENT_TYPES[entry.kind],
        time=entry.occurred_at,
        subject=entry.member_id,
        data=data,
    )
