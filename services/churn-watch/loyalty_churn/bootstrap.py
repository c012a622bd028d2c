"""Wiring for the churn watch, in one place: the app and the tests both use it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from loyalty_churn.adapters.orm import OutboxRow
from loyalty_churn.service_layer.modelling import fit_and_store
from loyalty_churn.service_layer.unit_of_work import ChurnUnitOfWork
from loyalty_churn.service_layer.views import Rankings
from loyalty_churn.service_layer.watching import CONSUMER, WatchHandler
from loyalty_churn.settings import ChurnWatchSettings
from loyalty_shared.consumer import ConsumerRunner, is_transient
from loyalty_shared.service import Plumbing, RunningService, wall_clock

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ChurnWatchService(RunningService):
    runner: ConsumerRunner
    settings: ChurnWatchSettings
    handler: WatchHandler
    uow: Callable[[], ChurnUnitOfWork]
    rankings: Rankings = field(default_factory=Rankings)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def background(self) -> dict[str, Coroutine[Any, Any, None]]:
        if self.settings.clock != "wall":
            return {}
        return {
            "sweeper": self._every(self.settings.sweep_seconds, self._sweep),
            "refitter": self._every(self.settings.refit_hours * 3600, self._refit),
        }

    def _stopping(self) -> None:
        self._stop.set()

    async def _every(self, seconds: float, work: Callable[[], Awaitable[None]]) -> None:
        while not self._stop.is_set():
            try:
                await work()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("background work failed, retrying: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)

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
