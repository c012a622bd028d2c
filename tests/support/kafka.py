"""Publishing to and reading back from the real broker in tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from loyalty_platform.settings import KafkaSettings


async def publish(kafka: KafkaSettings, topic: str, messages: Iterable[tuple[bytes | None, bytes]]):
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        sends = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def post_slowly(
    kafka: KafkaSettings,
    messages: list[tuple[bytes | None, bytes]],
    chunks: int,
    pause: float = 0.2,
) -> None:
    """The messages onto `purchases` in `chunks` parts, `pause` seconds apart, as tills
    post them while a test does something to the platform."""
    size = -(-len(messages) // chunks)
    for i in range(0, len(messages), size):
        await publish(kafka, kafka.topics.purchases, messages[i : i + size])
        await asyncio.sleep(pause)


async def read_topic(
    kafka: KafkaSettings, topic: str, *, expect: int, timeout: float = 30.0
) -> list[Any]:
    """Read `topic` from the start until `expect` messages arrived (or time runs out)."""
    # Assigned partitions, no group: joining a group on the embedded broker takes seconds.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    await consumer.seek_to_beginning()
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expect and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            found.extend(m for msgs in batches.values() for m in msgs)
    finally:
        await consumer.stop()
    return found


async def read_all(kafka: KafkaSettings, topic: str, *, timeout: float = 60.0) -> list[Any]:
    """Every record on `topic`, from the start to the end of each partition's log: for a
    topic nothing writes to any more (its services stopped, their outboxes empty), where
    waiting longer could bring nothing more. A partition is read to its end once a fetch
    answered after its last record brought nothing and the position is at the high-water
    mark that answer gave."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,  # an answer with nothing comes back soon
    )
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    assert partitions, f"{topic} has no partitions"
    consumer.assign(partitions)
    await consumer.seek_to_beginning()
    found: list[Any] = []
    last_record = dict.fromkeys(partitions, time.time() * 1000)  # ms, as the fetcher stamps
    deadline = time.monotonic() + timeout
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=300)
            now = time.time() * 1000
            for tp, records in batches.items():
                found.extend(records)
                last_record[tp] = now
            if not batches:
                ends = [await _read_to_end(consumer, tp, last_record[tp]) for tp in partitions]
                if all(ends):
                    return found
            assert time.monotonic() < deadline, f"{topic} not read to its end in {timeout}s"
    finally:
        await consumer.stop()


async def _read_to_end(consumer: AIOKafkaConsumer, tp: TopicPartition, last_record: float) -> bool:
    answered, end = consumer.last_poll_timestamp(tp), consumer.highwater(tp)
    if answered is None or end is None or answered <= last_record:
        return False
    return bool(await consumer.position(tp) >= end)


def payloads(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


async def read_settled(
    kafka: KafkaSettings, topic: str, *, at_least: int, quiet: float = 1.5, timeout: float = 60.0
) -> list[Any]:
    """Read `topic` from the start until `at_least` messages arrived and then nothing more
    for `quiet` seconds: for tests that count duplicates too."""
    found = await read_topic(kafka, topic, expect=at_least, timeout=timeout)
    while True:
        more = await read_topic(kafka, topic, expect=len(found) + 1, timeout=quiet)
        if len(more) <= len(found):
            return found
        found = more
