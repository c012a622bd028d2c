"""Broker plumbing: producers, topic creation, message keys."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from loyalty_platform.settings import KafkaSettings

log = logging.getLogger(__name__)


def make_producer(kafka: KafkaSettings, *, linger_ms: int = 5) -> AIOKafkaProducer:
    # No idempotent producer: the embedded broker refuses InitProducerId. Duplicates
    # a retry may cause are absorbed by consumers deduplicating on ids.
    return AIOKafkaProducer(
        **kafka.client_options(),
        acks="all",
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
    )


async def ensure_topics(kafka: KafkaSettings, names: list[str]) -> None:
    """Create the topics that do not exist yet, with the configured partition count."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(n, kafka.topic_partitions, 1) for n in missing])
        await _wait_for_metadata(admin, names)
    finally:
        await admin.close()


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    for _ in range(50):
        if set(names) <= set(await admin.list_topics()):
            return
        await asyncio.sleep(0.1)
    raise KafkaError(f"topics {names} did not appear on the broker")


async def broker_reachable(producer: AIOKafkaProducer) -> bool:
    try:
        await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=2)
    except (KafkaError, TimeoutError, OSError):
        return False
    return True


async def cluster_id(kafka: KafkaSettings) -> str | None:
    """The broker cluster's id, which names the log that consumed offsets count in."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        return await described_cluster_id(admin)
    finally:
        await admin.close()


async def described_cluster_id(admin: AIOKafkaAdminClient) -> str | None:
    """The cluster id, asked with an admin client kept open (one metadata round trip)."""
    found = (await admin.describe_cluster()).get("cluster_id")
    return str(found) if found else None


def member_key(member_id: str) -> bytes:
    """Messages are keyed by member so one member's events stay in order."""
    return member_id.encode()


def partition_of(member_id: str, partitions: int) -> int:
    """The partition a member's messages go to with the default partitioner that
    Kafka clients share (murmur2 of the key), for a topic of `partitions`."""
    hashed: int = murmur2(member_key(member_id))
    return (hashed & 0x7FFFFFFF) % partitions
