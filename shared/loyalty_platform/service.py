"""What every consuming service runs: database, producer, outbox relay, the consumer of
`purchases`, its metrics; started and stopped as one, and asked whether it is ready."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from loyalty_kernel.intake.translation import PurchaseTranslator
from loyalty_platform.consuming import BatchHandler, Translator
from loyalty_platform.database import create_engine, database_reachable, session_factory
from loyalty_platform.kafka import broker_reachable, make_producer
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.outbox import OutboxColumns
from loyalty_platform.relay import OutboxRelay
from loyalty_platform.runner import ConsumerRunner, is_transient
from loyalty_platform.settings import ConsumingSettings, ServiceSettings
from loyalty_platform.unit_of_work import ConsumingUnitOfWork

log = logging.getLogger(__name__)
ConsumingUnitOfWorkT = TypeVar("ConsumingUnitOfWorkT", bound=ConsumingUnitOfWork)


def wall_clock() -> datetime:
    """Now, for what runs by the wall clock rather than event time (live sweeps, the
    moment a redemption is made)."""
    return datetime.now(UTC)


@dataclass
class ServiceParts:
    """What a service is built from, before its own handler exists: the database, the
    producer and its outbox relay, the metrics."""

    name: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    relay: OutboxRelay
    metrics: ServiceMetrics

    @classmethod
    def build(
        cls, name: str, settings: ServiceSettings, outbox_table: type[OutboxColumns]
    ) -> ServiceParts:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        producer = make_producer(settings.kafka)
        metrics = ServiceMetrics(name)
        relay = OutboxRelay(
            engine,
            outbox_table,
            producer,
            settings.kafka,
            metrics=metrics,
            takeover_seconds=settings.relay_takeover_seconds,
        )
        return cls(name, engine, sessions, producer, relay, metrics)

    def units_of_work(
        self, kind: type[ConsumingUnitOfWorkT], settings: ConsumingSettings
    ) -> Callable[[], ConsumingUnitOfWorkT]:
        """A factory of the service's unit of work, one per handled batch or request."""

        def uow() -> ConsumingUnitOfWorkT:
            return kind(
                self.sessions,
                currency=settings.programme.currency,
                consumer_group=settings.consumer_group,
            )

        return uow

    def runner(
        self,
        settings: ConsumingSettings,
        handler: BatchHandler[Any],
        translators: Mapping[str, Translator[Any]] | None = None,
    ) -> ConsumerRunner:
        """The service's consumer, applying batches with `handler`; by default it reads
        `purchases` alone."""
        return ConsumerRunner(
            name=self.name,
            translators=translators or {settings.kafka.topics.purchases: purchase_reader(settings)},
            group_id=settings.consumer_group,
            kafka=settings.kafka,
            handler=handler,
            metrics=self.metrics,
            on_commit=self.relay.wake,
            batch_size=settings.batch_size,
            stall_seconds=settings.stall_seconds,
            poison_run_limit=settings.poison_run_limit,
            session_timeout_seconds=settings.session_timeout_seconds,
        )


def purchase_reader(settings: ServiceSettings) -> PurchaseTranslator:
    """How a consuming service reads `purchases`: nothing stamped further ahead of its own
    wall clock than the programme allows."""
    return PurchaseTranslator(settings.programme.max_future, wall_clock)


class Sweeping(Protocol):
    async def sweep(self, partitions: Iterable[int], now: datetime) -> int:
        """Move these partitions' watermarks up to `now` and act on what fell due;
        returns the number of events staged."""


@dataclass(kw_only=True)
class RunningService:
    """A service's running parts. Subclasses add their handler and any background work."""

    parts: ServiceParts
    settings: ServiceSettings
    runner: ConsumerRunner | None = None  # None: a service that consumes no topic
    consuming: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def engine(self) -> AsyncEngine:
        return self.parts.engine

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.parts.sessions

    @property
    def producer(self) -> AIOKafkaProducer:
        return self.parts.producer

    @property
    def relay(self) -> OutboxRelay:
        return self.parts.relay

    @property
    def metrics(self) -> ServiceMetrics:
        return self.parts.metrics

    def background(self) -> dict[str, Coroutine[Any, Any, None]]:
        """Work that runs beside the consumer while it consumes, by name."""
        return {}

    async def start(self, *, consume: bool = True) -> None:
        await self.producer.start()
        self.consuming = consume
        name = self.parts.name
        self._tasks.append(asyncio.create_task(self.relay.run(), name=f"outbox-relay:{name}"))
        if consume:
            if self.runner is not None:
                await self.runner.start()
            for task, work in self.background().items():
                self._tasks.append(asyncio.create_task(work, name=f"{task}:{name}"))

    async def stop(self) -> None:
        """Finish the batch in hand, stop the background work, publish what is staged."""
        if self.runner is not None:
            await self.runner.stop()
        self.relay.stop()
        self._stopping()
        for task in self._tasks:
            await task
        await self.producer.stop()
        await self.engine.dispose()
        log.info("%s service stopped cleanly", self.parts.name)

    def _stopping(self) -> None:
        self._stop.set()

    async def sweep_owned(self, handler: Sweeping) -> None:
        """Live mode: let time pass by the wall clock on the `purchases` partitions this
        replica owns that are settled: read to the end, and quiet for a few seconds. A
        partition with a backlog or a stream of history (a replica catching up, a year
        loaded in one go) keeps to event time until it settles: moved to now first,
        every member in it would look lapsed as of now until their later purchases
        arrived. A busy live partition's own event time is the present anyway."""
        if self.runner is None:
            return
        partitions = await self.runner.settled(self.settings.kafka.topics.purchases)
        if partitions and await handler.sweep(partitions, wall_clock()):
            self.relay.wake()

    async def every(self, seconds: float, work: Callable[[], Awaitable[None]], what: str) -> None:
        """Background work: `work` now and then every `seconds` until the service
        stops. Nothing ends the loop but the service stopping: a failure of the database
        or the broker is logged and retried; any other failure is logged with its
        traceback and retried after a growing pause (up to a minute)."""
        backoff = seconds
        while not self._stop.is_set():
            try:
                await work()
                backoff = seconds
            except Exception as exc:
                if is_transient(exc):
                    log.warning("%s failed, retrying: %s", what, exc)
                else:
                    log.exception("%s failed; retrying in %.0fs", what, backoff)
                    backoff = min(max(backoff, 1.0) * 2, 60.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(seconds, backoff))

    async def dependencies(self) -> dict[str, bool]:
        """Other services some requests need; see `Readiness.dependencies`."""
        return {}

    async def readiness(self) -> dict[str, bool]:
        checks = {
            "database": await database_reachable(self.engine),
            "broker": await broker_reachable(self.producer),
            "relay": self.relay.is_healthy(),
        }
        if self.consuming:
            if self.runner is not None:
                checks["consumer"] = self.runner.is_healthy()
            checks["background"] = all(not task.done() for task in self._tasks)
        return checks
