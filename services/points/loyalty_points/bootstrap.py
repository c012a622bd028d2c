"""Wiring for the points service, in one place: the app and the tests both use it."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from loyalty_platform.runner import ConsumerRunner
from loyalty_platform.service import RunningService, ServiceParts
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


def build(settings: PointsSettings) -> PointsService:
    parts = ServiceParts.build(CONSUMER, settings, OutboxRow)
    programme = settings.programme

    def uow() -> PointsUnitOfWork:
        return PointsUnitOfWork(parts.sessions, currency=programme.currency,
                                consumer_group=settings.consumer_group,
                                lifecycle=programme.points)  # fmt: skip

    handler = PurchaseHandler(uow, settings.programme, settings.kafka.topics)
    return PointsService(
        parts=parts,
        runner=parts.runner(settings, handler),
        settings=settings,
        handler=handler,
        spending=Spending(uow, settings.kafka.topics),
        adjusting=Adjusting(uow, settings.kafka.topics),
    )
