"""Reading back what a relay has already put on the broker.

Every message the relay sends carries a header naming its outbox row. After a relay
died between sending rows and deleting them, its successor reads the partitions from
where the last acknowledged send ended and finds which rows are already out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from loyalty_platform.settings import KafkaSettings

ROW_HEADER = "loyalty-outbox-row"


def row_header(outbox: str, row_id: int) -> tuple[str, bytes]:
    """The header that names outbox row `row_id` of table `outbox` (schema-qualified)."""
    return ROW_HEADER, f"{outbox}:{row_id}".encode()


@dataclass(frozen=True)
class PartitionTail:
    """What a partition holds from a given offset on, as far as one outbox is concerned."""

    row_ids: frozenset[int]  # this outbox's rows found on the log
    next_offset: int  # where the log ended when it was read


async def read_tails(
    kafka: KafkaSettings,
    outbox: str,
    starts: Mapping[tuple[str, int], int],
    *,
    timeout: float = 60.0,
) -> dict[tuple[str, int], PartitionTail]:
    """Read each (topic, partition) from its start offset to the end of the log and
    collect the outbox rows found there. A start past the end (a log that was lost and
    begun again) reads the partition from its beginning."""
    if not starts:
        return {}
    consumer = AIOKafkaConsumer(
        **kafka.client_options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        parts = {TopicPartition(t, p): offset for (t, p), offset in starts.items()}
        consumer.assign(list(parts))
        for tp, offset in parts.items():
            consumer.seek(tp, offset)
        found = await _read_to_end(consumer, parts, f"{outbox}:".encode(), timeout)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): tail for tp, tail in found.items()}


async def _read_to_end(
    consumer: AIOKafkaConsumer,
    parts: Iterable[TopicPartition],
    prefix: bytes,
    timeout: float,
) -> dict[TopicPartition, PartitionTail]:
    ids: dict[TopicPartition, set[int]] = {tp: set() for tp in parts}

    def collect(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        for name, value in record.headers or ():
            if name == ROW_HEADER and value.startswith(prefix):
                ids[tp].add(int(value[len(prefix) :]))

    ends = await read_to_end(consumer, list(ids), collect, timeout=timeout)
    return {tp: PartitionTail(frozenset(ids[tp]), end) for tp, end in ends.items()}


async def read_to_end(
    consumer: AIOKafkaConsumer,
    parts: Sequence[TopicPartition],
    each: Callable[[TopicPartition, ConsumerRecord[bytes, bytes]], None],
    *,
    timeout: float,
) -> dict[TopicPartition, int]:
    """Hand every record from each partition's position to the end of its log to
    `each`; returns where each log ended. The end is the high-water mark a fetch
    reports (the embedded broker answers ListOffsets short of it), so each partition is
    read until its position reaches that."""
    done: dict[TopicPartition, int] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(parts):
        if time.monotonic() > deadline:
            raise TimeoutError(f"reading {len(parts) - len(done)} partitions took over {timeout}s")
        pending = [tp for tp in parts if tp not in done]
        records = await consumer.getmany(*pending, timeout_ms=200, max_records=10_000)
        for tp, messages in records.items():
            for m in messages:
                each(tp, m)
        for tp in pending:
            end = consumer.highwater(tp)
            if end is None:
                continue
            position = await consumer.position(tp)
            if position > end:  # not every broker answers OffsetOutOfRange
                await consumer.seek_to_beginning(tp)
            elif position == end:
                done[tp] = end
    return done
