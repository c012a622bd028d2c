"""Wiring for the points service, in one place: the app and the tests both use it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from loyalty_points.adapters.orm import OutboxRow
from loyalty_points.service_layer.handlers import CONSUMER, PurchaseHandler
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork
from loyalty_points.settings import PointsSettings
from loyalty_shared.consumer import ConsumerRunner
from loyalty_shared.db import create_engine, database_reachable, session_factory
from loyalty_shared.intake import PurchaseTopicConsumer
from loyalty_shared.kafka import broker_reachable, make_producer
from loyalty_shared.metrics import ServiceMetrics
from loyalty_shared.outbox import OutboxRelay

log = logging.getLogger(__name__)


@dataclass
class PointsService:
    """Everything the running service holds; started and stopped as one."""

    settings: PointsSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    relay: OutboxRelay
    runner: ConsumerRunner
    metrics: ServiceMetrics
    consuming: bool = False
    _relay_task: asyncio.Task[None] | None = field(default=None)

    async def start(self, *, consume: bool = True) -> None:
        await self.producer.start()
        self.consuming = consume
        self._relay_task = asyncio.create_task(self.relay.run(), name="outbox-relay:points")
        if consume:
            await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()
        self.relay.stop()
        if self._relay_task is not None:
            await self._relay_task
        await self.producer.stop()
        await self.engine.dispose()
        log.info("points service stopped cleanly")

    async def readiness(self) -> dict[str, bool]:
        checks = {
            "database": await database_reachable(self.engine),
            "broker": await broker_reachable(self.producer),
        }
        if self.consuming:
            checks["consumer"] = self.runner.is_healthy()
        return checks


def build(settings: PointsSettings) -> PointsService:
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    metrics = ServiceMetrics("points")
    producer = make_producer(settings.kafka)
    relay = OutboxRelay(sessions, OutboxRow, producer)
    group = settings.consumer_group

    def uow() -> PointsUnitOfWork:
        return PointsUnitOfWork(
            sessions, currency=settings.programme.currency, consumer_group=group
        )

    handler = PurchaseHandler(uow, settings.programme, settings.kafka.topics)
    topic_consumer = PurchaseTopicConsumer(handler, metrics, relay.wake)
    runner = ConsumerRunner(
        name=CONSUMER,
        topics=[settings.kafka.topics.purchases],
        group_id=group,
        kafka=settings.kafka,
        handler=topic_consumer,
        metrics=metrics,
        batch_size=settings.batch_size,
        stall_seconds=settings.stall_seconds,
    )
    return PointsService(settings, engine, sessions, producer, relay, runner, metrics)
