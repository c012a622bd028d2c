"""Wiring for the rewards service, in one place: the app and the tests both use it."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from loyalty_kernel.programme import TierPolicy
from loyalty_platform.access.limits import SlidingWindow
from loyalty_platform.service import RunningService, ServiceParts, wall_clock
from loyalty_rewards.adapters.clients import PointsClient, TiersClient
from loyalty_rewards.adapters.orm import OutboxRow
from loyalty_rewards.entrypoints.catalog_file import load_catalog
from loyalty_rewards.service_layer.redeeming import Redeeming
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork
from loyalty_rewards.settings import RewardsSettings

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class RewardsService(RunningService):
    settings: RewardsSettings
    redeeming: Redeeming
    http: list[httpx.AsyncClient]
    redemption_attempts: SlidingWindow
    # Finishing runs first on every pending redemption, then on those past the grace.
    _grace: timedelta = timedelta(0)

    async def start(self, *, consume: bool = True) -> None:
        await self.seed_catalog()
        await super().start(consume=consume)

    async def stop(self) -> None:
        await super().stop()
        for client in self.http:
            await client.aclose()

    async def seed_catalog(self) -> None:
        """The catalog file's rewards that the database does not have yet."""
        rewards = load_catalog(
            self.settings.catalog, {t.name for t in self.redeeming.policy.levels}
        )
        async with self.redeeming.uow() as uow:
            added = [r.reward_id for r in rewards if await uow.catalog.add(r)]
            await uow.commit()
        if added:
            log.info("catalog: added %s", ", ".join(added))

    async def readiness(self) -> dict[str, bool]:
        # Without the points service no redemption can be taken or finished.
        return await super().readiness() | {"points": await self.redeeming.points.reachable()}

    def background(self) -> dict[str, Coroutine[Any, Any, None]]:
        seconds = max(1.0, self.settings.pending_grace_seconds / 2)
        return {
            "finisher": self.every(seconds, self._finish_pending, "finishing pending redemptions")
        }

    async def _finish_pending(self) -> None:
        """Redemptions left pending by a crash or a points outage are finished: at
        start all of them, then those older than the grace period, every few seconds."""
        grace, self._grace = self._grace, timedelta(seconds=self.settings.pending_grace_seconds)
        finished = await self.redeeming.finish_pending(grace)
        if finished:
            log.info("finished %d pending redemptions", finished)
            self.relay.wake()


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def build(
    settings: RewardsSettings,
    *,
    points_transport: httpx.AsyncBaseTransport | None = None,
    tiers_transport: httpx.AsyncBaseTransport | None = None,
) -> RewardsService:
    """The transports let tests run the points and tier apps in the same process."""
    parts = ServiceParts.build("rewards", settings, OutboxRow)
    timeout = httpx.Timeout(settings.call_timeout_seconds)
    key = settings.own_key()
    headers = {"X-API-Key": key} if key is not None else {}
    points_http = httpx.AsyncClient(base_url=settings.points_url, timeout=timeout,
                                    headers=headers, transport=points_transport)  # fmt: skip
    clients = [points_http]
    tier_of = _no_tiers
    if settings.tiers_url or tiers_transport is not None:
        tiers_http = httpx.AsyncClient(base_url=settings.tiers_url or "http://tiers",
                                       timeout=timeout, headers=headers,
                                       transport=tiers_transport)  # fmt: skip
        clients.append(tiers_http)
        tier_of = TiersClient(tiers_http).tier

    def uow() -> RewardsUnitOfWork:
        return RewardsUnitOfWork(parts.sessions)

    redeeming = Redeeming(
        uow,
        PointsClient(points_http),
        tier_of,
        TierPolicy(settings.programme.tiers),
        settings.kafka.topics,
        wall_clock,
        after_debit=_crash if settings.failpoint == "after_debit" else lambda: None,
    )
    attempts = SlidingWindow(settings.redemptions_per_member, settings.redemption_window_seconds)
    return RewardsService(
        parts=parts,
        settings=settings,
        redeeming=redeeming,
        http=clients,
        redemption_attempts=attempts,
    )


async def _no_tiers(member_id: str) -> str | None:
    return None
