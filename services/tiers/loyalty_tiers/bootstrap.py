"""Wiring for the tier service, in one place: the app and the tests both use it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from loyalty_shared.consumer import ConsumerRunner, is_transient
from loyalty_shared.db import create_engine, database_reachable, session_factory
from loyalty_shared.intake import PurchaseTopicConsumer
from loyalty_shared.kafka import broker_reachable, make_producer
from loyalty_shared.metrics import ServiceMetrics
from loyalty_shared.outbox import OutboxRelay
from loyalty_shared.programme import TierPolicy
from loyalty_tiers.adapters.orm import OutboxRow
from loyalty_tiers.service_layer.handlers import CONSUMER, TierHandler
from loyalty_tiers.service_layer.unit_of_work import TiersUnitOfWork
from loyalty_tiers.service_layer.views import WallClock
from loyalty_tiers.settings import TiersSettings

log = logging.getLogger(__name__)


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class TiersService:
    """Everything the running service holds; started and stopped as one."""

    settings: TiersSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    relay: OutboxRelay
    runner: ConsumerRunner
    handler: TierHandler
    metrics: ServiceMetrics
    consuming: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def policy(self) -> TierPolicy:
        return self.handler.policy

    @property
    def wall_clock(self) -> WallClock:
        return wall_clock if self.settings.clock == "wall" else None

    async def start(self, *, consume: bool = True) -> None:
        await self.producer.start()
        self.consuming = consume
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay:tiers"))
        if consume:
            await self.runner.start()
            if self.settings.clock == "wall":
                self._tasks.append(asyncio.create_task(self._sweep(), name="sweeper:tiers"))

    async def stop(self) -> None:
        self._stopping.set()
        await self.runner.stop()
        self.relay.stop()
        for task in self._tasks:
            await task
        await self.producer.stop()
        await self.engine.dispose()
        log.info("tier service stopped cleanly")

    async def _sweep(self) -> None:
        """Live mode: let holds run out by the wall clock on the partitions we own."""
        topic = self.settings.kafka.topics.purchases
        while not self._stopping.is_set():
            partitions = sorted(p for t, p in self.runner.assignment() if t == topic)
            if partitions:
                try:
                    if await self.handler.sweep(partitions, wall_clock()):
                        self.relay.wake()
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    log.warning("sweep failed, retrying: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.sweep_seconds)

    async def readiness(self) -> dict[str, bool]:
        checks = {
            "database": await database_reachable(self.engine),
            "broker": await broker_reachable(self.producer),
        }
        if self.consuming:
            checks["consumer"] = self.runner.is_healthy()
            checks["sweeper"] = all(not t.done() for t in self._tasks)
        return checks


def build(settings: TiersSettings) -> TiersService:
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    metrics = ServiceMetrics("tiers")
    producer = make_producer(settings.kafka)
    relay = OutboxRelay(sessions, OutboxRow, producer)
    group = settings.consumer_group

    def uow() -> TiersUnitOfWork:
        return TiersUnitOfWork(sessions, currency=settings.programme.currency, consumer_group=group)

    handler = TierHandler(uow, settings.programme, settings.kafka.topics)
    runner = ConsumerRunner(
        name=CONSUMER,
        topics=[settings.kafka.topics.purchases],
        group_id=group,
        kafka=settings.kafka,
        handler=PurchaseTopicConsumer(handler, metrics, relay.wake),
        metrics=metrics,
        batch_size=settings.batch_size,
        stall_seconds=settings.stall_seconds,
    )
    return TiersService(settings, engine, sessions, producer, relay, runner, handler, metrics)
