"""Wiring for the churn watch, in one place: the app and the tests both use it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from loyalty_churn.adapters.orm import OutboxRow
from loyalty_churn.adapters.upstream import read_reward, read_tier_change
from loyalty_churn.service_layer.modelling import fit_and_store
from loyalty_churn.service_layer.unit_of_work import ChurnUnitOfWork
from loyalty_churn.service_layer.views import Rankings
from loyalty_churn.service_layer.watching import CONSUMER, WatchHandler
from loyalty_churn.settings import ChurnWatchSettings
from loyalty_platform.consuming import Translator
from loyalty_platform.runner import ConsumerRunner
from loyalty_platform.service import RunningService, ServiceParts, purchase_reader, wall_clock


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
            "sweeper": self.every(
                self.settings.sweep_seconds, lambda: self.sweep_owned(self.handler), "sweep"
            ),
            "refitter": self.every(self.settings.refit_hours * 3600, self._refit, "refit"),
        }

    async def _refit(self) -> None:
        await fit_and_store(self.uow, self.settings.programme, wall_clock())


def build(settings: ChurnWatchSettings) -> ChurnWatchService:
    parts = ServiceParts.build(CONSUMER, settings, OutboxRow)
    uow = parts.units_of_work(ChurnUnitOfWork, settings)
    topics = settings.kafka.topics
    handler = WatchHandler(uow, settings.programme, topics)
    translators: dict[str, Translator[Any]] = {
        topics.purchases: purchase_reader(settings),
        topics.tiers_events: read_tier_change,
        topics.rewards_events: read_reward,
    }
    return ChurnWatchService(
        parts=parts,
        runner=parts.runner(settings, handler, translators),
        settings=settings,
        handler=handler,
        uow=uow,
    )
