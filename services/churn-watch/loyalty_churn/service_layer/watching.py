"""Applying consumed facts to the watched members, and letting time pass.

The consumer reads `purchases`, `tiers.events` and `rewards.events`; each batch is
one unit of work. Each `purchases` partition has a watermark, the latest event time
consumed there (the tier service's clock, README "The churn clock"). After a batch,
every member of its partitions whose next assessment falls due by the watermark is
assessed at that assessment's own moment; in live mode a sweeper moves the
watermarks of the partitions a replica owns to the wall clock. Member rows are
locked while a batch or a sweep works on them, so replicas never alert twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from loyalty_churn.adapters.repository import NewFacts
from loyalty_churn.adapters.upstream import RewardMoved, TierMoved, Unreadable, read_upstream
from loyalty_churn.domain.behaviour import MemberHistory, Return, Visit
from loyalty_churn.domain.risk import RiskModel, prior_model
from loyalty_churn.domain.watch import MemberWatch, Scorer
from loyalty_churn.service_layer.events import alert_event
from loyalty_churn.service_layer.unit_of_work import ChurnUnitOfWork
from loyalty_shared.intake import (
    DeadLetters,
    PurchaseRuleBroken,
    RecordPurchase,
    RecordRefund,
    admit_purchase,
    admit_refund,
    translate,
)
from loyalty_shared.intake.rules import RefundTally
from loyalty_shared.messages import InboundMessage, Rejection
from loyalty_shared.metrics import ServiceMetrics
from loyalty_shared.programme import Programme
from loyalty_shared.settings import TopicNames

log = logging.getLogger(__name__)
CONSUMER = "churn-watch"


@dataclass
class KnownPurchase(RefundTally):
    """A recorded purchase as the shared refund rules see it."""

    purchase_id: str
    member_id: str
    amount: Decimal
    occurred_at: datetime
    refunds: Sequence[Return] = ()


def known_purchase(history: MemberHistory, purchase_id: str) -> KnownPurchase | None:
    visit = next((v for v in history.visits if v.purchase_id == purchase_id), None)
    if visit is None:
        return None
    refunds = [r for r in history.returns if r.purchase_id == purchase_id]
    return KnownPurchase(purchase_id, history.member_id, visit.amount, visit.at, refunds)


@dataclass
class Batch:
    """What one unit of work holds while it applies a batch."""

    watches: dict[str, MemberWatch]
    partitions: dict[str, int]
    watermarks: dict[int, datetime | None]
    owners: dict[str, str]  # purchase id -> member, for the batch's purchase ids
    facts: NewFacts = field(default_factory=NewFacts)


@dataclass
class WatchHandler:
    """The consumer runner's batch handler for the churn watch."""

    uow: Callable[[], ChurnUnitOfWork]
    programme: Programme
    topics: TopicNames
    metrics: ServiceMetrics
    on_commit: Callable[[], None] = lambda: None

    def __post_init__(self) -> None:
        self.dead_letters = DeadLetters(self.topics.purchases_dlq, CONSUMER)
        names = [level.name for level in self.programme.tiers.levels]
        self.tier_rank = lambda tier: names.index(tier) if tier in names else 0

    def scorer(self, model: RiskModel | None) -> Scorer:
        return Scorer(
            model or prior_model(self.programme.churn), self.programme.churn, self.tier_rank
        )

    async def handle(self, batch: Sequence[InboundMessage]) -> None:
        """Apply the batch's unapplied messages in log order; commit once."""
        published, rejections = 0, 0
        async with self.uow() as uow:
            fresh = await uow.progress.unapplied(batch)
            scorer = self.scorer(await uow.current_model())
            items = [(m, self._read(m)) for m in fresh]
            state = await self._load(uow, items)
            for message, read in items:
                rejection = self._apply(message, read, state, scorer)
                if rejection is not None:
                    rejections += 1
                    self.dead_letters.stage(uow, message, rejection)
                    self.metrics.dead_letters(rejection.reason).inc()
            self._settle(state, scorer)
            published = await self._save(uow, state)
            await uow.progress.advance()
            await uow.commit()
        for topic in {m.topic for m in batch}:
            self.metrics.messages_applied(topic).inc(sum(m.topic == topic for m in fresh))
        if published or rejections:
            self.on_commit()

    async def dead_letter(self, message: InboundMessage, rejection: Rejection) -> None:
        await self.dead_letters.send_alone(self.uow(), message, rejection)
        self.metrics.dead_letters(rejection.reason).inc()
        self.on_commit()

    async def sweep(self, partitions: Iterable[int], now: datetime) -> int:
        """Live mode: move these partitions' watermarks up to `now` and assess whoever
        falls due by then. Returns the number of alert events staged."""
        async with self.uow() as uow:
            watermarks = await uow.watch.clocks.lock(partitions)
            moved: dict[int, datetime | None] = {
                p: max(w, now) if w else now for p, w in watermarks.items()
            }
            due = await uow.watch.due({p: w for p, w in moved.items() if w is not None})
            watches, known = await uow.watch.load(due)
            state = Batch(watches, known, moved, {})
            self._settle(state, self.scorer(await uow.current_model()))
            published = await self._save(uow, state)
            await uow.commit()
        return published

    def _read(
        self, message: InboundMessage
    ) -> RecordPurchase | RecordRefund | TierMoved | RewardMoved | Rejection | None:
        if message.topic == self.topics.purchases:
            return translate(message)
        try:
            return read_upstream(message)
        except Unreadable as exc:
            log.warning("skipping an unreadable upstream event: %s", exc)
            self.metrics.messages_skipped(message.topic).inc()
            return None

    async def _load(
        self,
        uow: ChurnUnitOfWork,
        items: Sequence[tuple[InboundMessage, object]],
    ) -> Batch:
        """Lock the batch's partitions' clocks and the members it touches, with
        everyone of those partitions who falls due before the batch is through."""
        partitions = {m.partition for m, _ in items if m.topic == self.topics.purchases}
        watermarks = await uow.watch.clocks.lock(partitions)
        horizon = dict(watermarks)
        members: set[str] = set()
        purchase_ids: set[str] = set()
        for message, read in items:
            if isinstance(read, RecordPurchase | RecordRefund):
                p, t = message.partition, read.occurred_at
                horizon[p] = max(horizon[p] or t, t)
                purchase_ids.add(read.purchase_id)
            if isinstance(read, RecordPurchase | RecordRefund | TierMoved | RewardMoved):
                members.add(read.member_id)
        members.update(await uow.watch.due({p: w for p, w in horizon.items() if w is not None}))
        owners = await uow.watch.owners(purchase_ids)
        members.update(owners.values())
        watches, known = await uow.watch.load(members)
        return Batch(watches, known, watermarks, owners)

    def _apply(
        self, message: InboundMessage, read: object, state: Batch, scorer: Scorer
    ) -> Rejection | None:
        if read is None:
            return None
        if isinstance(read, Rejection):
            return read
        if isinstance(read, TierMoved):
            watch = state.watches[read.member_id]
            if all(m.sequence != read.move.sequence for m in watch.history.tier_moves):
                watch.record_tier_move(read.move, scorer)
                state.facts.tier_moves.append((read.member_id, read.move))
            return None
        if isinstance(read, RewardMoved):
            history = state.watches[read.member_id].history
            key = (read.reward.redemption_id, read.reward.points > 0)
            if all((r.redemption_id, r.points > 0) != key for r in history.rewards):
                history.add_reward(read.reward)
                state.facts.rewards.append((read.member_id, read.kind, read.reward))
            return None
        assert isinstance(read, RecordPurchase | RecordRefund)
        try:
            applied = self._apply_purchase_topic(read, state, scorer)
        except PurchaseRuleBroken as broken:
            return Rejection(broken.reason, str(broken))
        if applied:
            p = message.partition
            state.partitions[read.member_id] = p
            watermark = state.watermarks[p]
            state.watermarks[p] = max(watermark or read.occurred_at, read.occurred_at)
        return None

    def _apply_purchase_topic(
        self, cmd: RecordPurchase | RecordRefund, state: Batch, scorer: Scorer
    ) -> bool:
        currency = self.programme.currency
        if isinstance(cmd, RecordPurchase):
            owner = state.owners.get(cmd.purchase_id)
            known = known_purchase(state.watches[owner].history, cmd.purchase_id) if owner else None
            if not admit_purchase(cmd, known, currency):
                return False
            visit = Visit(cmd.purchase_id, cmd.occurred_at, cmd.amount)
            state.watches[cmd.member_id].record_visit(visit, scorer)
            state.owners[cmd.purchase_id] = cmd.member_id
            state.facts.visits.append((cmd.member_id, visit))
            return True
        owner = state.owners.get(cmd.purchase_id)
        purchase = known_purchase(state.watches[owner].history, cmd.purchase_id) if owner else None
        if admit_refund(cmd, purchase, currency) is None:
            return False
        ret = Return(cmd.refund_id, cmd.purchase_id, cmd.occurred_at, cmd.amount)
        state.watches[cmd.member_id].record_return(ret, scorer)
        state.facts.returns.append((cmd.member_id, ret))
        return True

    def _settle(self, state: Batch, scorer: Scorer) -> None:
        """Assess everyone loaded whose moments fall due by their partition's watermark."""
        for member, watch in state.watches.items():
            partition = state.partitions.get(member)
            watermark = state.watermarks.get(partition) if partition is not None else None
            if watermark is not None:
                watch.catch_up(watermark, scorer)

    async def _save(self, uow: ChurnUnitOfWork, state: Batch) -> int:
        alerts = [
            alert
            for watch in state.watches.values()
            for alert in [*watch.closed, *([watch.alert] if watch.alert else [])]
            if alert.new_moves
        ]
        for alert in alerts:
            for move, as_then in alert.new_moves:
                event = alert_event(as_then, move)
                uow.outbox.add(self.topics.churn_alerts, alert.member_id, event)
        await uow.watch.save(state.watches.values(), state.partitions, state.facts)
        await uow.watch.clocks.save(state.watermarks)
        published = sum(len(a.new_moves) for a in alerts)
        for alert in alerts:
            alert.new_moves = []
        return published
