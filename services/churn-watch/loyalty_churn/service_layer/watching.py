"""Applying consumed facts to the watched members, and letting time pass.

The consumer reads `purchases`, `tiers.events` and `rewards.events`; each batch is
one unit of work. Each `purchases` partition has a watermark, the latest event time
consumed there (the tier service's clock, docs/architecture.md "Time"). After a
batch, every member of its partitions whose next assessment falls due by the
watermark is assessed at that assessment's own moment; in live mode a sweeper moves
the watermarks of the partitions a replica owns to the wall clock. Member rows are
locked while a batch or a sweep works on them, so replicas never alert twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_churn.adapters.repository import NewFacts
from loyalty_churn.adapters.upstream import RewardMoved, TierMoved
from loyalty_churn.domain.behaviour import MemberHistory, Refund, Visit
from loyalty_churn.domain.risk import RiskModel, prior_model
from loyalty_churn.domain.watch import MemberWatch, Scorer
from loyalty_churn.service_layer.events import alert_event
from loyalty_churn.service_layer.unit_of_work import ChurnUnitOfWork
from loyalty_kernel.intake.commands import (
    IntakeCommand,
    PurchaseKey,
    RecordPurchase,
    RecordRefund,
)
from loyalty_kernel.intake.records import RecordedPurchase
from loyalty_kernel.intake.rules import admit_purchase, admit_refund, refunded_purchase
from loyalty_kernel.messages import Consumed
from loyalty_kernel.programme import Programme
from loyalty_kernel.topics import TopicNames
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_platform.consuming import ConsumingHandler, DeadLetters

CONSUMER = "churn-watch"
WatchedFact = IntakeCommand | TierMoved | RewardMoved


@dataclass
class KnownPurchase(RecordedPurchase):
    """A recorded purchase as the shared refund rules see it."""

    refunds: Sequence[Refund] = ()


def known_purchase(history: MemberHistory, key: PurchaseKey) -> KnownPurchase | None:
    visit = next((v for v in history.visits if v.key == key), None)
    if visit is None:
        return None
    refunds = [r for r in history.refunds if r.purchase_key == key]
    store, pid = key
    return KnownPurchase(pid, history.member_id, visit.amount, visit.at, store, refunds)


@dataclass
class WatchBatch:
    """What one unit of work holds while it applies a batch or a sweep."""

    watches: dict[str, MemberWatch]
    partitions: dict[str, int]
    watermarks: PartitionWatermarks
    scorer: Scorer
    owners: dict[PurchaseKey, str] = field(default_factory=dict)  # purchase -> member
    facts: NewFacts = field(default_factory=NewFacts)

    def known(self, key: PurchaseKey) -> KnownPurchase | None:
        owner = self.owners.get(key)
        return known_purchase(self.watches[owner].history, key) if owner else None

    def numbered(self, purchase_id: str) -> list[KnownPurchase]:
        """The recorded purchases with this id, at any store."""
        found = (self.known(k) for k in self.owners if k[1] == purchase_id)
        return [p for p in found if p is not None]


@dataclass
class WatchHandler(ConsumingHandler[ChurnUnitOfWork, WatchBatch, WatchedFact]):
    """Applies what the churn watch consumes to the watched members; one unit of work
    per batch."""

    uow: Callable[[], ChurnUnitOfWork]
    programme: Programme
    topics: TopicNames

    def __post_init__(self) -> None:
        self.dead_letters = DeadLetters(self.topics.purchases_dlq, CONSUMER)
        names = [level.name for level in self.programme.tiers.levels]
        self.tier_rank = lambda tier: names.index(tier) if tier in names else 0

    def scorer(self, model: RiskModel | None) -> Scorer:
        return Scorer(
            model or prior_model(self.programme.churn), self.programme.churn, self.tier_rank
        )

    async def sweep(self, partitions: Iterable[int], now: datetime) -> int:
        """Live mode: move these partitions' watermarks up to `now` and assess whoever
        falls due by then. Returns the number of alert events staged."""
        async with self.uow() as uow:
            moved = (await uow.watch.clocks.lock(partitions)).swept_to(now)
            watches, known = await uow.watch.load(await uow.watch.due(moved))
            batch = WatchBatch(watches, known, moved, self.scorer(await uow.current_model()))
            published = await self.save(uow, batch)
            await uow.commit()
        return published

    async def load(
        self, uow: ChurnUnitOfWork, batch: Sequence[Consumed[WatchedFact]]
    ) -> WatchBatch:
        """Lock the batch's partitions' clocks and the members it touches, with
        everyone of those partitions who falls due before the batch is through."""
        intake = [
            (i.message.partition, i.command)
            for i in batch
            if isinstance(i.command, RecordPurchase | RecordRefund)
        ]
        watermarks = await uow.watch.clocks.lock({p for p, _ in intake})
        horizon = watermarks.advanced((p, cmd.occurred_at) for p, cmd in intake)
        members = {i.command.member_id for i in batch}
        members.update(await uow.watch.due(horizon))
        owners = await uow.watch.owners({cmd.purchase_id for _, cmd in intake})
        members.update(owners.values())
        watches, known = await uow.watch.load(members)
        scorer = self.scorer(await uow.current_model())
        return WatchBatch(watches, known, watermarks, scorer, owners)

    def apply_one(self, work: WatchBatch, item: Consumed[WatchedFact]) -> None:
        fact = item.command
        if isinstance(fact, TierMoved):
            self._tier_moved(work, fact)
        elif isinstance(fact, RewardMoved):
            self._reward_moved(work, fact)
        elif self._intake(work, fact):
            partition = item.message.partition
            work.partitions[fact.member_id] = partition
            work.watermarks.advance(partition, fact.occurred_at)

    async def save(self, uow: ChurnUnitOfWork, work: WatchBatch) -> int:
        """Assess everyone loaded whose moments fall due by their partition's watermark,
        then write the facts, the members and their alerts' moves."""
        for member, watch in work.watches.items():
            partition = work.partitions.get(member)
            watermark = work.watermarks.at(partition) if partition is not None else None
            if watermark is not None:
                watch.catch_up(watermark, work.scorer)
        alerts = [
            alert
            for watch in work.watches.values()
            for alert in [*watch.closed, *([watch.alert] if watch.alert else [])]
            if alert.refreshed
        ]
        for alert in alerts:
            for revision in alert.new_revisions:
                uow.outbox.add(self.topics.churn_alerts, alert.member_id, alert_event(revision))
        await uow.watch.save(work.watches.values(), work.partitions, work.facts)
        await uow.watch.clocks.save(work.watermarks)
        published = sum(len(a.new_revisions) for a in alerts)
        for alert in alerts:
            alert.new_revisions, alert.refreshed = [], False
        return published

    @staticmethod
    def _tier_moved(work: WatchBatch, fact: TierMoved) -> None:
        watch = work.watches[fact.member_id]
        if all(m.sequence != fact.move.sequence for m in watch.history.tier_moves):
            watch.record_tier_move(fact.move)
            work.facts.tier_moves.append((fact.member_id, fact.move))

    @staticmethod
    def _reward_moved(work: WatchBatch, fact: RewardMoved) -> None:
        history = work.watches[fact.member_id].history
        key = (fact.reward.redemption_id, fact.reward.points > 0)
        if all((r.redemption_id, r.points > 0) != key for r in history.rewards):
            history.add_reward(fact.reward)
            work.facts.rewards.append((fact.member_id, fact.kind, fact.reward))

    def _intake(self, work: WatchBatch, cmd: IntakeCommand) -> bool:
        """Apply a purchase or refund; False for a redelivery. Raises PurchaseRuleBroken."""
        currency = self.programme.currency
        if isinstance(cmd, RecordPurchase):
            if not admit_purchase(cmd, work.known(cmd.key), currency):
                return False
            visit = Visit(cmd.purchase_id, cmd.occurred_at, cmd.amount, cmd.store_id)
            work.watches[cmd.member_id].record_visit(visit, work.scorer)
            work.owners[cmd.key] = cmd.member_id
            work.facts.visits.append((cmd.member_id, visit))
            return True
        named = refunded_purchase(work.numbered(cmd.purchase_id), cmd)
        purchase = admit_refund(cmd, named, currency)
        if purchase is None:
            return False
        refund = Refund(
            cmd.refund_id, cmd.purchase_id, cmd.occurred_at, cmd.amount, purchase.store_id
        )
        work.watches[cmd.member_id].record_refund(refund, work.scorer)
        work.facts.refunds.append((cmd.member_id, refund))
        return True
