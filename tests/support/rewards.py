"""The rewards service with the real points service beside it, in one process for the
API tests (the points app answers through an in-process transport), on one database;
and the rewards service layer alone, wired as bootstrap wires it, for its own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage, Item
from loyalty_kernel.programme import Programme
from loyalty_platform.access import Kind
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.service import wall_clock
from loyalty_platform.settings import KafkaSettings
from loyalty_points.adapters.orm import BalanceRow
from loyalty_points.bootstrap import PointsService
from loyalty_points.entrypoints.app import create_app as points_app
from loyalty_rewards import bootstrap
from loyalty_rewards.bootstrap import RewardsService
from loyalty_rewards.entrypoints.app import create_app as rewards_app
from loyalty_rewards.service_layer.cataloguing import Cataloguing
from loyalty_rewards.service_layer.redeeming import Redeeming
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork
from loyalty_rewards.settings import RewardsSettings
from loyalty_tiers.bootstrap import TiersService
from loyalty_tiers.entrypoints.app import create_app as tiers_app
from tests.support.access import SERVICE_SCOPES, issue_key, staff_auth
from tests.support.events import encode
from tests.support.points import SPENDABLE_AT_ONCE, points_settings
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
        batch = consumed(events, self.offset)
        self.offset += len(batch)
        await self.points.handler.apply(batch)
        if self.tiers is not None:
            await self.tiers.handler.apply(batch)

    async def balance(self, member: str) -> int:
        return await balance(self.points, member)


def consumed(events: tuple[dict[str, Any], ...], offset: int) -> list[Item[Any]]:
    """Purchases and refunds as the consumer hands them over, from `offset` on."""
    return [
        translate_purchase(
            InboundMessage("purchases", 0, offset + n, e["subject"].encode(), encode(e), 0, "log")
        )
        for n, e in enumerate(events)
    ]


async def balance(points: PointsService, member: str) -> int:
    """The member's balance, read from the points service's table."""
    async with points.sessions() as session:
        row = await session.get(BalanceRow, member)
    return row.balance if row else 0


@asynccontextmanager
async def points_running(
    database_url: str, kafka: KafkaSettings, programme: Programme = SPENDABLE_AT_ONCE
) -> AsyncIterator[FastAPI]:
    """The points app with its service started (no consumer), to call in-process."""
    app = points_app(points_settings(database_url, kafka, programme=programme), consume=False)
    async with app.router.lifespan_context(app):
        yield app


def rewards_settings(database_url: str, kafka: KafkaSettings, **overrides: Any) -> RewardsSettings:
    fields: dict[str, Any] = {"tiers_url": "", "points_url": "http://points"}
    return RewardsSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


@asynccontextmanager
async def rewards_stack(
    database_url: str,
    kafka: KafkaSettings,
    *,
    tiers: bool = False,
    programme: Programme = SPENDABLE_AT_ONCE,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """With `tiers`, the tier service too (event clock), fed the same purchases. The
    points service runs `programme` (default: points spendable at once)."""
    async with AsyncExitStack() as apps:
        points = await apps.enter_async_context(points_running(database_url, kafka, programme))
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


class Link(httpx.AsyncBaseTransport):
    """The way to an in-process app, which a test can cut (as if the service were
    unreachable) or make run something first when a path is asked for."""

    def __init__(self, app: FastAPI) -> None:
        self._app = httpx.ASGITransport(app=app)
        self.up = True
        self.before: dict[str, Callable[[], Awaitable[None]]] = {}  # path suffix -> work
        # path suffix -> the answer given instead of the app's (a faulty or refusing peer)
        self.answers: dict[str, httpx.Response] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("the link is cut", request=request)
        for suffix, work in self.before.items():
            if request.url.path.endswith(suffix):
                await work()
        for suffix, given in self.answers.items():
            if request.url.path.endswith(suffix):
                return httpx.Response(given.status_code, content=given.content, request=request)
        return await self._app.handle_async_request(request)


@dataclass
class Layer:
    """The rewards service layer, the points service it calls and the way to it."""

    redeeming: Redeeming
    cataloguing: Cataloguing
    points: PointsService
    link: Link
    settings: RewardsSettings
    engine: AsyncEngine
    offset: int = 0

    def uow(self) -> RewardsUnitOfWork:
        return self.redeeming.uow()

    async def feed(self, *events: dict[str, Any]) -> None:
        """Purchases and refunds into the points ledger, as consumed messages."""
        batch = consumed(events, self.offset)
        self.offset += len(batch)
        await self.points.handler.apply(batch)

    async def balance(self, member: str) -> int:
        return await balance(self.points, member)


@asynccontextmanager
async def rewards_layer(
    database_url: str,
    kafka: KafkaSettings,
    clock: Callable[[], datetime] = wall_clock,
    **overrides: Any,
) -> AsyncIterator[Layer]:
    """No tier service (every member holds the lowest tier), no outbox relay: what the
    service layer stages stays in the outbox for the test to read. `clock` is the
    service's wall clock (when a redemption is made, when to try it again)."""
    async with points_running(database_url, kafka) as points:
        service_key = await issue_key(database_url, Kind.SERVICE, scopes=SERVICE_SCOPES)
        settings = rewards_settings(database_url, kafka, service_key=service_key, **overrides)
        link = Link(points)
        calls = bootstrap.upstream(settings, points_transport=link)
        engine = create_engine(settings.database_url)
        try:
            redeeming, cataloguing = bootstrap.handlers(
                settings, session_factory(engine), calls, clock
            )
            yield Layer(redeeming, cataloguing, points.state.service, link, settings, engine)
        finally:
            for client in calls.http:
                await client.aclose()
            await engine.dispose()
