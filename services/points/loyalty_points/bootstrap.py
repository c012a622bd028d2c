"""Wiring for the points service, in one place: the app and the tests both use it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from loyalty_kernel.programme import Programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.runner import ConsumerRunner
from loyalty_platform.service import RunningService, ServiceParts
from loyalty_platform.settings import asyncpg_url
from loyalty_points.adapters.orm import OutboxRow
from loyalty_points.service_layer.adjusting import Adjusting
from loyalty_points.service_layer.handlers import CONSUMER, PurchaseHandler
from loyalty_points.service_layer.spending import Spending
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork
from loyalty_points.settings import PointsSettings


@dataclass(kw_only=True)
class PointsService(RunningService):
    runner: ConsumerRunner
    settings: PointsSettings
    handler: PurchaseHandler
    spending: Spending
    adjusting: Adjusting
    _all_placed: bool = False

    def background(self) -> dict[str, Coroutine[Any, Any, None]]:
        if self.settings.clock != "wall":
            return {}
        return {"sweeper": self.every(self.settings.sweep_seconds, self._sweep, "sweep")}

    async def _sweep(self) -> None:
        """Place members no partition knows yet (while there are any), then sweep."""
        count = self.runner.partition_count(self.settings.kafka.topics.purchases)
        if count and not self._all_placed:
            self._all_placed = await self.handler.place(count) == 0
        await self.sweep_owned(self.handler)


def units_of_work(
    sessions: async_sessionmaker[AsyncSession], programme: Programme, consumer_group: str
) -> Callable[[], PointsUnitOfWork]:
    def uow() -> PointsUnitOfWork:
        return PointsUnitOfWork(sessions, currency=programme.currency,
                                consumer_group=consumer_group,
                                lifecycle=programme.points,
                                asks_first_purchase=programme.asks_first_purchase)  # fmt: skip

    return uow


def in_process_handler(
    database_url: str, programme: Programme | None = None
) -> tuple[PurchaseHandler, AsyncEngine]:
    """The consumer's handler on that database with no broker or service around it (a
    test, a benchmark), under the built-in programme unless another is given; the
    caller disposes of the engine."""
    programme = programme or Programme()
    engine = create_engine(asyncpg_url(database_url))
    uow = units_of_work(session_factory(engine), programme, CONSUMER)
    return PurchaseHandler(uow, programme, TopicNames()), engine


def build(settings: PointsSettings) -> PointsService:
    parts = ServiceParts.build(CONSUMER, settings, OutboxRow)
    uow = units_of_work(parts.sessions, settings.programme, settings.consumer_group)
    handler = PurchaseHandler(uow, settings.programme, settings.kafka.topics)
    return PointsService(
        parts=parts,
        runner=parts.runner(settings, handler),
        settings=settings,
        handler=handler,
        spending=Spending(uow, settings.kafka.topics),
        adjusting=Adjusting(uow, settings.kafka.topics),
    )
