"""Sixteen months of purchases and refunds of a few hundred members, through the real broker
into the points service on the event clock: replayed into a fresh database, and with
two replicas sharing the partitions, the lots, the entries and the events are the same
to the last field."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from loyalty_platform.kafka import ensure_topics
from loyalty_points.migrations import MIGRATIONS_DIR
from loyalty_points.settings import PointsSettings
from tests.support.kafka import payloads, publish, read_topic
from tests.support.points import (
    Snapshot,
    ledger_snapshot,
    lifecycle_log,
    points_settings,
    started,
    wait_applied,
    wait_outbox_empty,
)
from tests.support.waiting import until_each_owns_partitions

START = datetime(2024, 6, 3, 9, tzinfo=UTC)


async def run(
    settings: PointsSettings, messages: list | None, total: int, *, replicas: int = 1
) -> Snapshot:
    services = [await started(settings) for _ in range(replicas)]
    try:
        if messages is not None:
            await until_each_owns_partitions(services)
            await publish(settings.kafka, settings.kafka.topics.purchases, messages)
        await wait_applied(services[0], total, timeout=180)
        await wait_outbox_empty(services[0])
        async with services[0].sessions() as session:
            return await ledger_snapshot(session)
    finally:
        for service in services:
            await service.stop()


async def test_replays_give_the_same_lots_entries_and_events_with_one_replica_or_two(
    points_database, new_database, kafka
):
    log = lifecycle_log(200, 500, seed=21, start=START, mean_gap_hours=6)
    messages = [(m.key, m.value) for m in log]
    await publish(kafka, kafka.topics.purchases, messages)
    settings = points_settings(points_database, kafka, clock="event", batch_size=200)
    first = await run(settings, None, len(messages))
    entries, _ = first
    kinds = {e[1] for e in entries}
    assert {"earned", "clawed_back", "vested", "expiring_soon", "expired"} <= kinds
    assert len({e[0] for e in entries}) == 200
    published = payloads(
        await read_topic(kafka, kafka.topics.points_events, expect=len(entries) + 1, timeout=10)
    )
    assert len(published) == len({e["id"] for e in published}) == len(entries)

    again = points_settings(await new_database(MIGRATIONS_DIR), kafka, clock="event",
                            consumer_group="points-again", batch_size=37)  # fmt: skip
    pair_kafka = kafka.model_copy(update={"topic_prefix": kafka.topic_prefix + "pair."})
    await ensure_topics(pair_kafka, pair_kafka.topics.all())
    pair = points_settings(await new_database(MIGRATIONS_DIR), pair_kafka, clock="event",
                           batch_size=64)  # fmt: skip
    replayed, two_replicas = await asyncio.gather(
        run(again, None, len(messages)), run(pair, messages, len(messages), replicas=2)
    )
    assert replayed == first
    assert two_replicas == first
    pair_events = payloads(await read_topic(pair_kafka, pair_kafka.topics.points_events,
                                            expect=len(entries) + 1, timeout=10))  # fmt: skip
    assert sorted(json.dumps(e, sort_keys=True) for e in pair_events) == sorted(
        json.dumps(e, sort_keys=True) for e in published)  # fmt: skip
