"""The rewards service with the real points service beside it, in one process for the
API tests (the points app answers through an in-process transport), on one database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_platform.access import Kind
from loyalty_platform.settings import KafkaSettings
from loyalty_points.adapters.orm import BalanceRow
from loyalty_points.bootstrap import PointsService
from loyalty_points.entrypoints.app import create_app as points_app
from loyalty_rewards.bootstrap import RewardsService
from loyalty_rewards.entrypoints.app import create_app as rewards_app
from loyalty_rewards.settings import RewardsSettings
from loyalty_tiers.bootstrap import TiersService
from loyalty_tiers.entrypoints.app import create_app as tiers_app
from tests.support.access import SERVICE_SCOPES, issue_key, staff_auth
from tests.support.events import encode
from tests.support.points import points_settings
from tests.support.tiers import tiers_settings


@dataclass
class Stack:
    client: httpx.AsyncClient  # the rewards API
    points: PointsService
    rewards: RewardsService
    tiers: TiersService | None = None
    offset: int = 0

    async def feed(self, *events: dict[str, Any]) -> None:
        """Purchases and refunds into the points ledger, as consumed messages."""
        batch = []
        for event in events:
            message = InboundMessage("purchases", 0, self.offset, event["subject"].encode(),
                                     encode(event), 0, None, "log")  # fmt: skip
            self.offset += 1
            batch.append(translate_purchase(message))
        await self.points.handler.apply(batch)
        if self.tiers is not None:
            await self.tiers.handler.apply(batch)

    async def balance(self, member: str) -> int:
        async with self.points.sessions() as session:
            row = await session.get(BalanceRow, member)
        return row.balance if row else 0


def rewards_settings(database_url: str, kafka: KafkaSettings, **overrides: Any) -> RewardsSettings:
    fields: dict[str, Any] = {"tiers_url": "", "points_url": "http://points"}
    return RewardsSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


@asynccontextmanager
async def rewards_stack(
    database_url: str, kafka: KafkaSettings, *, tiers: bool = False, **overrides: Any
) -> AsyncIterator[Stack]:
    """With `tiers`, the tier service too (event clock), fed the same purchases."""
    async with AsyncExitStack() as apps:
        points = points_app(points_settings(database_url, kafka), consume=False)
        await apps.enter_async_context(points.router.lifespan_context(points))
        transports: dict[str, Any] = {"points_transport": httpx.ASGITransport(app=points)}
        tier_service = None
        if tiers:
            tier_app = tiers_app(tiers_settings(database_url, kafka), consume=False)
            await apps.enter_async_context(tier_app.router.lifespan_context(tier_app))
            transports["tiers_transport"] = httpx.ASGITransport(app=tier_app)
            tier_service = tier_app.state.service
        service_key = await issue_key(database_url, Kind.SERVICE, scopes=SERVICE_SCOPES)
        overrides = {"service_key": service_key} | overrides
        rewards = rewards_app(rewards_settings(database_url, kafka, **overrides), **transports)
        await apps.enter_async_context(rewards.router.lifespan_context(rewards))
        transport = httpx.ASGITransport(app=rewards)
        client = await apps.enter_async_context(
            httpx.AsyncClient(
                transport=transport, base_url="http://rewards", auth=await staff_auth(database_url)
            )
        )
        yield Stack(client, points.state.service, rewards.state.service, tier_service)
