"""The consumer runner's batch handler for the `purchases` topic, for any service.

It translates each message, hands the batch to the service's handler (one unit of
work), counts what happened and wakes the outbox relay when there is news.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from loyalty_shared.intake.commands import IntakeCommand
from loyalty_shared.intake.translation import translate
from loyalty_shared.messages import InboundMessage, Rejection, dead_letter
from loyalty_shared.metrics import ServiceMetrics
from loyalty_shared.progress import ConsumerProgress
from loyalty_shared.unit_of_work import ConsumingUnitOfWork


@dataclass(frozen=True)
class Inbound:
    """A consumed message and what it asks: a command, or why it can't be processed."""

    message: InboundMessage
    command: IntakeCommand | Rejection


@dataclass(frozen=True)
class BatchOutcome:
    applied: int
    skipped: int
    published: int  # events staged in the outbox, dead letters not included
    rejections: list[Rejection]


async def unapplied(progress: ConsumerProgress, batch: Sequence[Inbound]) -> list[Inbound]:
    """The batch's items not applied before; locks their partitions' positions."""
    fresh = {id(m) for m in await progress.unapplied(i.message for i in batch)}
    return [i for i in batch if id(i.message) in fresh]


class IntakeHandler(Protocol):
    async def apply(self, batch: Sequence[Inbound]) -> BatchOutcome:
        """Apply the batch's unapplied messages in one unit of work."""

    async def reject(self, message: InboundMessage, rejection: Rejection) -> None:
        """Dead-letter one message on its own, marking it applied."""


@dataclass(frozen=True)
class DeadLetters:
    """Where a consumer sends what it cannot process, under its own name."""

    topic: str
    consumer: str

    def stage(
        self, uow: ConsumingUnitOfWork, message: InboundMessage, rejection: Rejection
    ) -> None:
        uow.outbox.add(self.topic, message.key_text, dead_letter(message, self.consumer, rejection))

    async def send_alone(
        self, uow: ConsumingUnitOfWork, message: InboundMessage, rejection: Rejection
    ) -> None:
        """Dead-letter one message in a unit of work of its own, marking it applied."""
        async with uow:
            if await uow.progress.unapplied([message]):
                self.stage(uow, message, rejection)
            await uow.progress.advance()
            await uow.commit()


class PurchaseTopicConsumer:
    def __init__(
        self, handler: IntakeHandler, metrics: ServiceMetrics, on_commit: Callable[[], None]
    ) -> None:
        self._handler, self._metrics, self._on_commit = handler, metrics, on_commit

    async def handle(self, batch: Sequence[InboundMessage]) -> None:
        outcome = await self._handler.apply([Inbound(m, translate(m)) for m in batch])
        if batch:
            topic = batch[0].topic
            self._metrics.messages_applied(topic).inc(outcome.applied)
            self._metrics.messages_skipped(topic).inc(outcome.skipped)
        for rejection in outcome.rejections:
            self._metrics.dead_letters(rejection.reason).inc()
        if outcome.published or outcome.rejections:
            self._on_commit()

    async def dead_letter(self, message: InboundMessage, rejection: Rejection) -> None:
        await self._handler.reject(message, rejection)
        self._metrics.dead_letters(rejection.reason).inc()
        self._on_commit()
