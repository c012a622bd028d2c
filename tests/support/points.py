"""Running the points service in-process for tests, on the real database and broker."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from loyalty_points.adapters.orm import ConsumerProgressRow
from loyalty_points.bootstrap import PointsService, build
from loyalty_points.settings import PointsSettings
from loyalty_shared.settings import KafkaSettings


def points_settings(database_url: str, kafka: KafkaSettings, **overrides: object) -> PointsSettings:
    """A consumer group of the test's own: the broker need not rebalance other tests away."""
    fields: dict[str, object] = {"consumer_group": f"points-{kafka.topic_prefix}"}
    return PointsSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


async def started(settings: PointsSettings) -> PointsService:
    service = build(settings)
    await service.start()
    return service


async def wait_applied(service: PointsService, total: int, timeout: float = 60.0) -> None:
    """Wait until the consumer's recorded positions cover `total` messages."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with service.sessions() as session:
            applied = await session.scalar(select(func.sum(ConsumerProgressRow.next_offset)))
        if applied == total:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {applied} of {total} messages applied after {timeout}s")


async def wait_outbox_empty(service: PointsService, timeout: float = 30.0) -> None:
    from loyalty_points.adapters.orm import OutboxRow

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with service.sessions() as session:
            if not await session.scalar(select(func.count()).select_from(OutboxRow)):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the outbox was not drained")
