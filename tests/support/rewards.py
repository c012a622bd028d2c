"""The rewards service with the real points service beside it, in one process for the
API tests (the points app answers through an in-process transport), on one database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from loyalty_points.adapters.orm import BalanceRow
from loyalty_points.bootstrap import PointsService
from loyalty_points.entrypoints.app import create_app as points_app
from loyalty_rewards.bootstrap import RewardsService
from loyalty_rewards.entrypoints.app import create_app as rewards_app
from loyalty_rewards.settings import RewardsSettings
from loyalty_shared.intake import Inbound, translate
from loyalty_shared.messages import InboundMessage
from loyalty_shared.settings import KafkaSettings
from tests.support.events import encode
from tests.support.points import points_settings


@dataclass
class Stack:
    client: httpx.AsyncClient  # the rewards API
    points: PointsService
    rewards: RewardsService
    offset: int = 0

    async def feed(self, *events: dict[str, Any]) -> None:
        """Purchases and refunds into the points ledger, as consumed messages."""
        batch = []
        for event in events:
            message = InboundMessage("purchases", 0, self.offset, event["subject"].encode(),
                                     encode(event), 0, None, "log")  # fmt: skip
            self.offset += 1
            batch.append(Inbound(message, translate(message)))
        await self.points.handler.apply(batch)

    async def balance(self, member: str) -> int:
        async with self.points.sessions() as session:
            row = await session.get(BalanceRow, member)
        return row.balance if row else 0


def rewards_settings(database_url: str, kafka: KafkaSettings, **overrides: Any) -> RewardsSettings:
    fields: dict[str, Any] = {"tiers_url": "", "points_url": "http://points"}
    return RewardsSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


@asynccontextmanager
async def rewards_stack(
    database_url: str, kafka: KafkaSettings, **overrides: Any
) -> AsyncIterator[Stack]:
    points = points_app(points_settings(database_url, kafka), consume=False)
    async with points.router.lifespan_context(points):
        rewards = rewards_app(
            rewards_settings(database_url, kafka, **overrides),
            points_transport=httpx.ASGITransport(app=points),
        )
        async with rewards.router.lifespan_context(rewards):
            transport = httpx.ASGITransport(app=rewards)
            async with httpx.AsyncClient(transport=transport, base_url="http://rewards") as c:
                yield Stack(c, points.state.service, rewards.state.service)
