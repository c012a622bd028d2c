"""Wiring for the tier service, in one place: the app and the tests both use it."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from loyalty_kernel.programme import TierPolicy
from loyalty_platform.runner import ConsumerRunner
from loyalty_platform.service import RunningService, ServiceParts, wall_clock
from loyalty_tiers.adapters.orm import OutboxRow
from loyalty_tiers.service_layer.handlers import CONSUMER, TierHandler
from loyalty_tiers.service_layer.unit_of_work import TiersUnitOfWork
from loyalty_tiers.service_layer.views import WallClock
from loyalty_tiers.settings import TiersSettings


@dataclass(kw_only=True)
class TiersService(RunningService):
    runner: ConsumerRunner
    settings: TiersSettings
    handler: TierHandler

    @property
    def policy(self) -> TierPolicy:
        return self.handler.policy

    @property
    def wall_clock(self) -> WallClock:
        return wall_clock if self.settings.clock == "wall" else None

    def background(self) -> dict[str, Coroutine[Any, Any, None]]:
        if self.settings.clock != "wall":
            return {}
        sweep = self.every(
            self.settings.sweep_seconds, lambda: self.sweep_owned(self.handler), "sweep"
        )
        return {"sweeper": sweep}


def build(settings: TiersSettings) -> TiersService:
    parts = ServiceParts.build(CONSUMER, settings, OutboxRow)
    uow = parts.units_of_work(TiersUnitOfWork, settings)
    handler = TierHandler(uow, settings.programme, settings.kafka.topics)
    return TiersService(
        parts=parts, runner=parts.runner(settings, handler), settings=settings, handler=handler
    )
