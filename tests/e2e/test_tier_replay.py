"""A log with redeliveries and bad messages, through the real broker into the tier
service: the tier.changed events match the recorded changes one for one, the final
tiers match the reference, and a replay into fresh databases (one replica or two in
one consumer group) gives exactly the same changes."""

from __future__ import annotations

import asyncio
import random

from aiokafka.partitioner import DefaultPartitioner

from loyalty_platform.kafka import ensure_topics
from loyalty_tiers.migrations import MIGRATIONS_DIR
from loyalty_tiers.settings import TiersSettings
from tests.support.histories import Message, bad_messages, good_traffic, with_redeliveries
from tests.support.kafka import payloads, publish, read_all
from tests.support.tiers import (
    expected_tiers,
    snapshot,
    started,
    tiers_settings,
    wait_applied,
    wait_outbox_empty,
)
from tests.support.waiting import until_each_owns_partitions


async def run(
    settings: TiersSettings, messages: list[Message] | None, total: int, *, replicas: int = 1
):
    """Start the replicas; publish `messages` once all of them own partitions. Started
    together, they join the group in one round (one after the other, the first waits for
    the second's)."""
    services = list(await asyncio.gather(*(started(settings) for _ in range(replicas))))
    try:
        if messages is not None:
            await until_each_owns_partitions(services)
            await publish(settings.kafka, settings.kafka.topics.purchases, messages)
        await wait_applied(services[0], total, timeout=180)
        await wait_outbox_empty(services[0])
        changes, members, _ = await snapshot(services[0].handler.uow)
    finally:
        for service in services:
            await service.stop()
    return changes, members


async def test_replays_give_the_same_tier_changes_with_one_replica_or_two(
    tiers_database, new_database, kafka
):
    rng = random.Random(11)
    timeline = good_traffic(rng, members=120)
    good = with_redeliveries(rng, timeline)
    bad = [m for msgs in bad_messages(timeline).values() for m in msgs]
    messages = good[: len(good) // 2] + bad + good[len(good) // 2 :]
    await publish(kafka, kafka.topics.purchases, messages)

    first = await run(tiers_settings(tiers_database, kafka, batch_size=200), None, len(messages))
    changes, members = first
    # the service stopped with its outbox empty: the topic holds all it will ever publish
    published = payloads(await read_all(kafka, kafka.topics.tiers_events))
    assert len(published) == len(changes)  # none missing, none twice
    assert sorted((e["data"]["member_id"], e["data"]["sequence"]) for e in published) == [
        (c[0], c[1]) for c in changes
    ]
    for event in published:
        assert event["type"] == "loyalty.tier.changed.v1"
        assert event["data"]["direction"] in ("up", "down")
        assert event["time"] == event["data"]["effective_at"]

    partitioner = DefaultPartitioner()
    partitions = list(range(kafka.topic_partitions))

    def partition_of(key: bytes) -> int:
        return partitioner(key, partitions, partitions)

    assert {m[0]: m[1] for m in members} == expected_tiers(timeline, partition_of)

    assert {c[3] for c in changes} == {"opal", "pearl", "ruby", "diamond"}

    # Replayed into a fresh database by a new consumer group: the same, to the last field.
    again = tiers_settings(
        await new_database(MIGRATIONS_DIR), kafka, consumer_group="tiers-again", batch_size=37
    )
    # The same log on topics of its own, consumed by two replicas sharing the partitions.
    pair_kafka = kafka.model_copy(update={"topic_prefix": kafka.topic_prefix + "pair."})
    await ensure_topics(pair_kafka, pair_kafka.topics.all())
    pair = tiers_settings(await new_database(MIGRATIONS_DIR), pair_kafka, batch_size=64)
    replayed, two_replicas = await asyncio.gather(
        run(again, None, len(messages)), run(pair, messages, len(messages), replicas=2)
    )
    assert replayed == first
    assert two_replicas == first
