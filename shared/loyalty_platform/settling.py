"""Whether a consumer's partitions are *settled*: read to the end of the log, with
nothing fetched waiting to be applied and nothing new for a few seconds. What arrives on
a settled partition is live, so a live sweep may move its clock to the wall clock; on
one that is still busy with a backlog or a stream of history, it must keep to event
time (docs/architecture.md, "Live mode and sweepers")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

# A partition read to its end that has brought nothing new for this long is settled.
QUIET_SECONDS = 5.0


class Settling:
    """Kept by the consumer runner as it fetches and applies."""

    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self._quiet = quiet_seconds
        self.in_hand = False  # records fetched and not yet applied (or rewound)
        self._last_record: dict[TopicPartition, float] = {}  # when each last brought one

    def brought(self, partitions: Iterable[TopicPartition]) -> None:
        self._last_record.update(dict.fromkeys(partitions, time.monotonic()))

    async def settled(self, consumer: AIOKafkaConsumer | None, topic: str) -> list[int]:
        """The partitions of `topic` the consumer owns, has applied to the log's end (by
        its latest fetch's high-water mark) and has had no new record on for the quiet
        time: nothing older is on its way."""
        if consumer is None or self.in_hand:
            return []
        found, now = [], time.monotonic()
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            recent = now - self._last_record.get(tp, 0.0) < self._quiet
            if tp.topic != topic or end is None or recent:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), 1.0)
            except (TimeoutError, KafkaError):  # revoked meanwhile, or not yet placed
                continue
            if position >= end and not self.in_hand:
                found.append(tp.partition)
        return sorted(found)
