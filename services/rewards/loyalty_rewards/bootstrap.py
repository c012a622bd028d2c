"""Wiring for the rewards service, in one place: the app and the tests both use it."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyalty_kernel.programme import TierPolicy
from loyalty_platform.access.limits import SlidingWindow
from loyalty_platform.service import RunningService, ServiceParts, wall_clock
from loyalty_rewards.adapters.clients import PointsClient, TiersClient
from loyalty_rewards.adapters.orm import OutboxRow
from loyalty_rewards.service_layer.cataloguing import Cataloguing
from loyalty_rewards.service_layer.redeeming import Redeeming
from loyalty_rewards.service_layer.standing import Standings
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork
from loyalty_rewards.settings import RewardsSettings

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class RewardsService(RunningService):
    settings: RewardsSettings
    redeeming: Redeeming
    cataloguing: Cataloguing
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
        added = await self.cataloguing.seed(self.settings.catalog)
        if added:
            log.info("catalog: added %s", ", ".join(added))

    async def dependencies(self) -> dict[str, bool]:
        # Without points no redemption can be taken or finished (those answer 503), but
        # the catalog and the redemption history still can: no reason to go unready.
        return {"points": await self.redeeming.points.reachable()}

    def background(self) -> dict[str, Coroutine[Any, Any, None]]:
        seconds = max(1.0, self.settings.pending_grace_seconds / 2)
        return {
            "finisher": self.every(seconds, self._finish_pending, "finishing pending redemptions")
        }

    async def _finish_pending(self) -> None:
        """Redemptions left pending or cancelling by a crash or a points outage are
        finished: at start all of them, then those older than the grace period, every
        few seconds (one the points service did not answer for, when its turn comes)."""
        grace, self._grace = self._grace, timedelta(seconds=self.settings.pending_grace_seconds)
        finished = await self.redeeming.finish_pending(grace)
        if finished:
            log.info("tried to finish %d unfinished redemptions", finished)
            self.relay.wake()
        count, oldest = await self.redeeming.unfinished()
        self.unfinished_gauge.set(count)
        age = (self.redeeming.clock() - oldest).total_seconds() if oldest else 0.0
        self.oldest_unfinished_gauge.set(max(age, 0.0))

    def __post_init__(self) -> None:
        registry = self.metrics.registry
        self.unfinished_gauge = Gauge(
            "loyalty_redemptions_unfinished",
            "Redemptions pending or cancelling: waiting on the points service",
            registry=registry,
        )
        self.oldest_unfinished_gauge = Gauge(
            "loyalty_redemptions_oldest_unfinished_seconds",
            "Age of the oldest redemption pending or cancelling (0 when there is none)",
            registry=registry,
        )


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Upstream:
    """The services the rewards service calls, and the HTTP clients to close at the end."""

    points: PointsClient
    tier_of: Callable[[str], Awaitable[str | None]]
    http: list[httpx.AsyncClient]


def upstream(
    settings: RewardsSettings,
    *,
    points_transport: httpx.AsyncBaseTransport | None = None,
    tiers_transport: httpx.AsyncBaseTransport | None = None,
) -> Upstream:
    """The transports let tests run the points and tier apps in the same process."""
    timeout = httpx.Timeout(settings.call_timeout_seconds)
    key = settings.own_key()
    headers = {"X-API-Key": key} if key is not None else {}
    points_http = httpx.AsyncClient(
        base_url=settings.points_url, timeout=timeout, headers=headers, transport=points_transport
    )
    if not settings.tiers_url and tiers_transport is None:
        return Upstream(PointsClient(points_http), _no_tiers, [points_http])
    tiers_http = httpx.AsyncClient(
        base_url=settings.tiers_url or "http://tiers",
        timeout=timeout,
        headers=headers,
        transport=tiers_transport,
    )
    return Upstream(
        PointsClient(points_http), TiersClient(tiers_http).tier, [points_http, tiers_http]
    )


def handlers(
    settings: RewardsSettings,
    sessions: async_sessionmaker[AsyncSession],
    calls: Upstream,
    clock: Callable[[], datetime] = wall_clock,
) -> tuple[Redeeming, Cataloguing]:
    """The service layer, on these sessions and upstream services."""

    def uow() -> RewardsUnitOfWork:
        return RewardsUnitOfWork(sessions)

    policy = TierPolicy(settings.programme.tiers)
    redeeming = Redeeming(
        uow,
        calls.points,
        Standings(calls.points, calls.tier_of, policy),
        settings.kafka.topics,
        clock,
        after_debit=_crash if settings.failpoint == "after_debit" else lambda: None,
        after_restore=_crash if settings.failpoint == "after_restore" else lambda: None,
    )
    return redeeming, Cataloguing(uow, [level.name for level in policy.levels])


def build(
    settings: RewardsSettings,
    *,
    points_transport: httpx.AsyncBaseTransport | None = None,
    tiers_transport: httpx.AsyncBaseTransport | None = None,
) -> RewardsService:
    parts = ServiceParts.build("rewards", settings, OutboxRow)
    calls = upstream(settings, points_transport=points_transport, tiers_transport=tiers_transport)
    redeeming, cataloguing = handlers(settings, parts.sessions, calls)
    attempts = SlidingWindow(settings.redemptions_per_member, settings.redemption_window_seconds)
    return RewardsService(
        parts=parts,
        settings=settings,
        redeeming=redeeming,
        cataloguing=cataloguing,
        http=calls.http,
        redemption_attempts=attempts,
    )


async def _no_tiers(member_id: str) -> str | None:
    return None
