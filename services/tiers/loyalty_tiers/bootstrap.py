"""Wiring for the tier service, in one place: the app and the tests both use it."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from loyalty_shared.consumer import ConsumerRunner
from loyalty_shared.programme import TierPolicy
from loyalty_shared.service import Plumbing, RunningService, wall_clock
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
        return {"sweeper": self.every(self.settings.sweep_seconds, self._sweep, "sweep")}

    async def _sweep(self) -> None:
        """Live mode: let holds run out by the wall clock on the partitions we own."""
        topic = self.settings.kafka.topics.purchases
        partitions = sorted(p for t, p in self.runner.assignment() if t == topic)
        if partitions and await self.handler.sweep(partitions, wall_clock()):
            self.relay.wake()


def build(settings: TiersSettings) -> TiersService:
    plumbing = Plumbing.build(CONSUMER, settings, OutboxRow)
    uow = plumbing.units_of_work(TiersUnitOfWork, settings)
    handler = TierHandler(uow, settings.programme, settings.kafka.topics)
    runner = plumbing.purchases_runner(settings, handler)
    return TiersService(plumbing=plumbing, runner=runner, settings=settings, handler=handler)
