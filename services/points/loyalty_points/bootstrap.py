"""Wiring for the points service, in one place: the app and the tests both use it."""

from __future__ import annotations

from dataclasses import dataclass

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


def build(settings: PointsSettings) -> PointsService:
    parts = ServiceParts.build(CONSUMER, settings, OutboxRow)
    uow = parts.units_of_work(PointsUnitOfWork, settings)
    handler = PurchaseHandler(uow, settings.programme, settings.kafka.topics)
    return PointsService(
        parts=parts,
        runner=parts.runner(settings, handler),
        settings=settings,
        handler=handler,
        spending=Spending(uow, settings.kafka.topics),
        adjusting=Adjusting(uow, settings.kafka.topics),
    )
