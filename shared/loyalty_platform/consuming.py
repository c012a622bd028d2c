"""The consumer contract every consuming service keeps.

The runner fetches a batch and translates each message with its topic's translator
into one of three things: a command to apply (`Consumed`), a message that cannot be
processed (`Unprocessable`), or one this service has no use for (`Ignored`). The
service's handler applies the batch in one unit of work; `ConsumingHandler` is that
skeleton, and each service fills in three hooks: load what the batch touches, apply
one command, save what changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from loyalty_kernel.events.dead_letters import dead_letter_event, dead_letter_key
from loyalty_kernel.messages import (
    Consumed,
    Ignored,
    InboundMessage,
    Item,
    Rejection,
    RuleBroken,
    Unprocessable,
)
from loyalty_platform.progress import Applied, Position
from loyalty_platform.unit_of_work import ConsumingUnitOfWork

C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)
C_contra = TypeVar("C_contra", contravariant=True)
U = TypeVar("U", bound=ConsumingUnitOfWork)
W = TypeVar("W")


class Translator(Protocol[C_co]):
    def __call__(self, message: InboundMessage) -> Consumed[C_co] | Unprocessable | Ignored: ...


@dataclass(frozen=True)
class BatchOutcome:
    """What one handled batch did, for the runner's metrics."""

    applied_by_topic: Counter[str]  # messages handled for the first time
    skipped_by_topic: Counter[str]  # redeliveries recognised and dropped
    ignored_by_topic: Counter[str]  # messages this service has no use for
    published: int  # events staged in the outbox, dead letters not included
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return self.applied_by_topic.total()

    @property
    def skipped(self) -> int:
        return self.skipped_by_topic.total()

    @classmethod
    def of(
        cls,
        batch: Sequence[Item[object]],
        fresh: Sequence[Item[object]],
        published: int,
        rejections: list[Rejection],
    ) -> BatchOutcome:
        applied = Counter(i.message.topic for i in fresh)
        skipped = Counter(i.message.topic for i in batch) - applied
        ignored = Counter(i.message.topic for i in fresh if isinstance(i, Ignored))
        return cls(applied, skipped, ignored, published, rejections)


class BatchHandler(Protocol[C_contra]):
    async def apply(self, batch: Sequence[Item[C_contra]]) -> BatchOutcome:
        """Apply the batch's unapplied messages in one unit of work (or not at all)."""

    async def reject(self, message: InboundMessage, why: Rejection) -> None:
        """Dead-letter one message on its own, in a unit of work of its own."""

    async def positions(self, positions: Sequence[Position]) -> dict[Position, Applied]:
        """How far these partitions were applied, as the service's database says."""

    async def start_again(self, position: Position, was: Applied) -> bool:
        """Apply the partition from 0 again (its log is new), if its position is `was`."""


@dataclass(frozen=True)
class DeadLetters:
    """Where a consumer sends what it cannot process, under its own name."""

    topic: str
    consumer: str

    def stage(self, uow: ConsumingUnitOfWork, message: InboundMessage, why: Rejection) -> None:
        event = dead_letter_event(message, self.consumer, why)
        uow.outbox.add(self.topic, dead_letter_key(message), event)

    async def send_alone(
        self, uow: ConsumingUnitOfWork, message: InboundMessage, why: Rejection
    ) -> None:
        """Dead-letter one message in a unit of work of its own, marking it applied."""
        async with uow:
            if await uow.progress.unapplied([message], key=lambda m: m):
                self.stage(uow, message, why)
            await uow.progress.advance()
            await uow.commit()


class ConsumingHandler(ABC, Generic[U, W, C]):
    """Applies a consumed batch in one unit of work: drop what was applied before, load
    what the rest touches, apply each in log order (dead-lettering what a rule refuses),
    save, move the positions, commit once."""

    uow: Callable[[], U]
    dead_letters: DeadLetters

    async def apply(self, batch: Sequence[Item[C]]) -> BatchOutcome:
        rejections: list[Rejection] = []
        async with self.uow() as uow:
            fresh = await uow.progress.unapplied(batch, key=lambda i: i.message)
            work = await self.load(uow, [i for i in fresh if isinstance(i, Consumed)])
            for item in fresh:
                why = self._apply_item(work, item)
                if why is not None:
                    rejections.append(why)
                    self.dead_letters.stage(uow, item.message, why)
            published = await self.save(uow, work)
            await uow.progress.advance()
            await uow.commit()
        return BatchOutcome.of(batch, fresh, published, rejections)

    async def reject(self, message: InboundMessage, why: Rejection) -> None:
        await self.dead_letters.send_alone(self.uow(), message, why)

    async def positions(self, positions: Sequence[Position]) -> dict[Position, Applied]:
        async with self.uow() as uow:
            return await uow.progress.applied(positions)

    async def start_again(self, position: Position, was: Applied) -> bool:
        async with self.uow() as uow:
            done = await uow.progress.start_again(position, was)
            await uow.commit()
        return done

    def _apply_item(self, work: W, item: Item[C]) -> Rejection | None:
        if isinstance(item, Unprocessable):
            return item.why
        if isinstance(item, Ignored):
            return None
        try:
            self.apply_one(work, item)
        except RuleBroken as broken:
            return broken.rejection
        return None

    @abstractmethod
    async def load(self, uow: U, batch: Sequence[Consumed[C]]) -> W:
        """Lock and load what the batch's commands touch."""

    @abstractmethod
    def apply_one(self, work: W, item: Consumed[C]) -> None:
        """Apply one command; raise a `RuleBroken` to dead-letter its message."""

    @abstractmethod
    async def save(self, uow: U, work: W) -> int:
        """Write what changed and stage its events; returns how many were staged."""
