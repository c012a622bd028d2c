"""Which log a consumer's records come from, checked before they are applied.

Offsets count within one log. The embedded broker loses its logs when it restarts and
numbers offsets from 0 again, and a topic deleted and made again does the same on any
broker, so a position kept in the database may name a log that is gone. `KnownLogs`
stands beside the consumer runner: it tells when the log under a partition is new, sets
the partition's position back to 0 (through the handler) and has it fetched again, and
holds back records of any partition not yet checked.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from loyalty_platform.consuming import BatchHandler
from loyalty_platform.kafka import described_cluster_id, ensure_topics
from loyalty_platform.progress import Applied
from loyalty_platform.settings import KafkaSettings

log = logging.getLogger(__name__)

# The longest a fetch waits at the broker for records: also how long after a position
# is read a fetch answer is sure to have been asked for after it.
FETCH_WAIT_MS = 300

Records = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


class KnownLogs:
    """The log checks of one consumer group member."""

    def __init__(
        self,
        name: str,
        consumer: AIOKafkaConsumer,
        handler: BatchHandler[object],
        kafka: KafkaSettings,
        admin: AIOKafkaAdminClient,
        log_id: str | None,
    ) -> None:
        self.name, self._consumer, self._handler, self._kafka = name, consumer, handler, kafka
        self._admin = admin
        self.log_id = log_id  # the cluster the last fetch came from
        self._verified: set[TopicPartition] = set()  # owned, and checked against the log
        self._next_fetch: dict[TopicPartition, int] = {}  # where each partition's next fetch starts
        # Partitions given to this member whose stored position is being checked against
        # the log: the position, and the time (ms) after which a fetch answer is fresh.
        self._checks: dict[TopicPartition, tuple[Applied, float]] = {}

    @classmethod
    async def start(
        cls,
        name: str,
        consumer: AIOKafkaConsumer,
        handler: BatchHandler[object],
        kafka: KafkaSettings,
    ) -> KnownLogs:
        """With an admin client of its own, kept open: the cluster is asked after every
        fetch, one metadata round trip."""
        admin = AIOKafkaAdminClient(**kafka.client_options())
        await admin.start()
        return cls(name, consumer, handler, kafka, admin, await described_cluster_id(admin))

    async def close(self) -> None:
        await self._admin.close()

    async def verify(self, owned: set[TopicPartition]) -> None:
        """Check the partitions this member owns against their logs. A log that ends
        before where this member fetched it, or, for a partition just given to it, before
        the position the database holds, was deleted and made again on the same cluster:
        the partition is applied from its start again.

        The log's end is the high-water mark of the consumer's own fetches (the embedded
        broker answers ListOffsets a batch or so short of the end). For a
        position read from the database, only a fetch answered after that read counts:
        a log's end only grows, so such an end cannot be below the position unless the
        log is another one. (An end that came with an earlier fetch can be: another
        replica may have applied past it meanwhile.)"""
        self._verified &= owned
        self._next_fetch = {tp: n for tp, n in self._next_fetch.items() if tp in owned}
        self._checks = {tp: c for tp, c in self._checks.items() if tp in owned}
        for tp in list(self._verified):
            end = self._consumer.highwater(tp)
            if end is not None and end < self._next_fetch.get(tp, 0):
                self._verified.discard(tp)
        new = owned - self._verified - set(self._checks)
        if new:
            applied = await self._handler.positions([(tp.topic, tp.partition) for tp in new])
            answered_after = time.time() * 1000 + FETCH_WAIT_MS + 200
            for tp in new:
                was = applied.get((tp.topic, tp.partition))
                if was is None or was.log_id != self.log_id:
                    self._verified.add(tp)  # nothing applied yet, or from another cluster
                else:
                    self._checks[tp] = (was, answered_after)
        for tp, (was, answered_after) in list(self._checks.items()):
            polled = self._consumer.last_poll_timestamp(tp)
            if polled is None or polled < answered_after:
                continue
            del self._checks[tp]
            self._verified.add(tp)
            end = self._consumer.highwater(tp)
            if end is not None and end < was.next_offset:
                await self._start_again(tp, was, end)

    async def _start_again(self, tp: TopicPartition, was: Applied, end: int) -> None:
        log.warning(
            "%s: %s[%d] ends at %d, before the %d applied: a new log; applying it from 0",
            self.name, tp.topic, tp.partition, end, was.next_offset,
        )  # fmt: skip
        if await self._handler.start_again((tp.topic, tp.partition), was):
            await self._consumer.seek_to_beginning(tp)
            self._next_fetch.pop(tp, None)

    async def known(self, records: Records) -> Records:
        """The fetched records whose log is known: from the cluster this member read
        before, of partitions it has checked. The cluster is asked after the fetch, so a
        broker replaced before or during it is seen (a new cluster id per start); then
        every partition is read again from its start, and the positions in the database,
        which name the old cluster, start at 0 too. Records held back are fetched again."""
        first = {tp: msgs[0].offset for tp, msgs in records.items()}
        try:
            log_id = await described_cluster_id(self._admin)
        except Exception:
            self.rewind(first)
            raise
        if log_id != self.log_id:
            log.warning(
                "%s: the broker is another cluster (%s, was %s): its logs are new; reading "
                "every partition from its start", self.name, log_id, self.log_id,
            )  # fmt: skip
            self.log_id = log_id
            self._verified.clear()
            self._next_fetch.clear()
            await self._recreate_topics()
            owned = self._consumer.assignment()
            if owned:
                await self._consumer.seek_to_beginning(*owned)
            return {}
        for tp, offset in first.items():
            if offset < self._next_fetch.get(tp, 0):
                # The consumer went back by itself: its position was past the log's end
                # (a topic deleted and made again), so it started over. Check again.
                self._verified.discard(tp)
        self.rewind({tp: offset for tp, offset in first.items() if tp not in self._verified})
        known = {tp: msgs for tp, msgs in records.items() if tp in self._verified}
        self._next_fetch.update({tp: msgs[-1].offset + 1 for tp, msgs in known.items()})
        return known

    async def _recreate_topics(self) -> None:
        """A broker that lost its topics (the embedded one keeps them in memory) gets them
        back with the configured partitions, unless a client had them auto-created first."""
        try:
            await ensure_topics(self._kafka, self._kafka.topics.all())
        except KafkaError as exc:
            log.warning("%s: could not create the topics again: %s", self.name, exc)

    def rewind(self, offsets: dict[TopicPartition, int]) -> None:
        """Fetch these partitions again from these offsets (those still owned)."""
        owned = self._consumer.assignment()
        for tp, offset in offsets.items():
            if tp in owned:  # a partition revoked meanwhile is its next owner's to fetch
                self._consumer.seek(tp, offset)
                self._next_fetch[tp] = offset
