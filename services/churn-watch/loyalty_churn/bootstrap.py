"""Wiring for the churn watch, in one place: the app and the tests both use it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from loyalty_churn.adapters.orm import OutboxRow
from loyalty_churn.service_layer.modelling import fit_and_store
from loyalty_churn.service_layer.unit_of_work import ChurnUnitOfWork
from loyalty_churn.service_layer.views import Rankings
from loyalty_churn.service_layer.watching import CONSUMER, WatchHandler
from loyalty_churn.settings import ChurnWatchSettings
from loyalty_shared.consumer import ConsumerRunner
from loyalty_shared.service import Plumbing, RunningService, wall_clock


@dataclass(kw_only=True)
class ChurnWatchService(RunningService):
    runner: ConsumerRunner
    settings: ChurnWatchSettings
    handler: WatchHandler
    uow: Callable[[], ChurnUnitOfWork]
    rankings: Rankings = field(default_factory=Rankings)

    def background(self) -> dict[str, Coroutine[Any, Any, None]]:
        if self.settings.clock != "wall":
            return {}
        return {
            "sweeper": self.every(self.settings.sweep_seconds, self._sweep, "sweep"),
            "refitter": self.every(self.settings.refit_hours * 3600, self._refit, "refit"),
        }

    async def _sweep(self) -> None:
        """Live mode: let time pass on the partitions we own, by the wall clock."""
        topic = self.settings.kafka.topics.purchases
        partitions = sorted(p for t, p in self.runner.assignment() if t == topic)
        if partitions and await self.handler.sweep(partitions, wall_clock()):
            self.relay.wake()

    async def _refit(self) -> None:
        await fit_and_store(self.uow, self.settings.programme, wall_clock())


def build(settings: ChurnWatchSettings) -> ChurnWatchService:
    plumbing = Plumbing.build(CONSUMER, settings, OutboxRow)
    uow = plumbing.units_of_work(ChurnUnitOfWork, settings)
    topics = settings.kafka.topics
    handler = WatchHandler(uow, settings.programme, topics, plumbing.metrics, plumbing.relay.wake)
    runner = ConsumerRunner(
        name=CONSUMER,
        topics=[topics.purchases, topics.tiers_events, topics.rewards_events],
        group_id=settings.consumer_group,
        kafka=settings.kafka,
        handler=handler,
        metrics=plumbing.metrics,
        batch_size=settings.batch_size,
        stall_seconds=settings.stall_seconds,
    )
    return ChurnWatchService(
        plumbing=plumbing, runner=runner, settings=settings, handler=handler, uow=uow
    )
