"""Wiring for the points service, in one place: the app and the tests both use it."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty_points.adapters.orm import OutboxRow
from loyalty_points.service_layer.adjusting import Adjusting
from loyalty_points.service_layer.handlers import CONSUMER, PurchaseHandler
from loyalty_points.service_layer.spending import Spending
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork
from loyalty_points.settings import PointsSettings
from loyalty_shared.consumer import ConsumerRunner
from loyalty_shared.service import Plumbing, RunningService


@dataclass(kw_only=True)
class PointsService(RunningService):
    runner: ConsumerRunner
    settings: PointsSettings
    handler: PurchaseHandler
    spending: Spending
    adjusting: Adjusting


def build(settings: PointsSettings) -> PointsService:
    plumbing = Plumbing.build(CONSUMER, settings, OutboxRow)
    uow = plumbing.units_of_work(PointsUnitOfWork, settings)
    handler = PurchaseHandler(uow, settings.programme, settings.kafka.topics)
    runner = plumbing.purchases_runner(settings, handler)
    spending = Spending(uow, settings.kafka.topics)
    adjusting = Adjusting(uow, settings.kafka.topics)
    return PointsService(
        plumbing=plumbing,
        runner=runner,
        settings=settings,
        handler=handler,
        spending=spending,
        adjusting=adjusting,
    )
