"""Reading back what a relay has already put on the broker.

Every message the relay sends carries a header naming its outbox row. After a relay
died between sending rows and deleting them, its successor reads the partitions from
where the last acknowledged send ended and finds which rows are already out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

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
    # The end is the high-water mark a fetch reports (the embedded broker's answer to
    # ListOffsets lags behind it), so read until the position reaches it.
    ids: dict[TopicPartition, set[int]] = {tp: set() for tp in parts}
    done: dict[TopicPartition, PartitionTail] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"reading back {len(ids) - len(done)} partitions took over {timeout}s"
            )
        pending = [tp for tp in ids if tp not in done]
        records = await consumer.getmany(*pending, timeout_ms=200, max_records=10_000)
        for tp, messages in records.items():
            for m in messages:
                for name, value in m.headers or ():
                    if name == ROW_HEADER and value.startswith(prefix):
                        ids[tp].add(int(value[len(prefix) :]))
        for tp in pending:
            end = consumer.highwater(tp)
            if end is None:
                continue
            position = await consumer.position(tp)
            if position > end:  # not every broker answers OffsetOutOfRange
                await consumer.seek_to_beginning(tp)
            elif position == end:
                done[tp] = PartitionTail(frozenset(ids[tp]), end)
    return done
