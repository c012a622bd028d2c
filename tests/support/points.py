"""Running the points service in-process for tests, on the real database and broker."""

from __future__ import annotations

from functools import partial

from loyalty_platform.settings import KafkaSettings
from loyalty_points.adapters.orm import ConsumerProgressRow, OutboxRow
from loyalty_points.bootstrap import PointsService, build
from loyalty_points.settings import PointsSettings
from tests.support import waiting


def points_settings(database_url: str, kafka: KafkaSettings, **overrides: object) -> PointsSettings:
    """A consumer group of the test's own: the broker need not rebalance other tests away."""
    fields: dict[str, object] = {"consumer_group": f"points-{kafka.topic_prefix}"}
    return PointsSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


async def started(settings: PointsSettings) -> PointsService:
    service = build(settings)
    await service.start()
    return service


wait_applied = partial(waiting.wait_applied, progress_table=ConsumerProgressRow)
wait_outbox_empty = partial(waiting.wait_outbox_empty, outbox_table=OutboxRow)
