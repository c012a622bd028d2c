"""One round of the outbox relay: the oldest pending rows sent to the broker, then, in
one transaction, the acknowledged rows deleted, the unsendable ones parked and the end
of each partition's log recorded.

- Rows go out in id order, batched per partition. A partition's next batch is sent
  only once the broker has acknowledged the one before, so what reached the log of a
  partition is always a prefix of what was sent there.
- Each message carries a header naming its row, which is how a relay taking over reads
  back what was already sent.
- A row the broker can never take (larger than a message may be) is moved to
  `outbox_parked` with its reason, counted and logged, and the rest keep flowing.

The rounds hold no lease: `OutboxRelay` calls them only while it holds one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.published_log import row_header

log = logging.getLogger(__name__)

# The broker's default limit on a message (Apache Kafka `message.max.bytes`), less room
# for the record's own framing.
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588 - 512

Partition = tuple[str, int]  # topic, partition


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    key: bytes | None
    value: bytes


@dataclass
class _PartitionSend:
    """What one partition's share of a round came to."""

    sent: list[int]  # row ids the broker acknowledged
    next_offset: int | None = None  # the log's end after the last acknowledged batch
    unsendable: tuple[int, str] | None = None  # a row the broker refused outright, and why
    error: BaseException | None = None


@dataclass
class OutboxRounds:
    """Rounds over the outbox table `name` (and its `_parked` and `_positions` tables)."""

    name: str
    producer: AIOKafkaProducer
    batch_size: int
    max_message_bytes: int
    metrics: ServiceMetrics | None = None
    published_total: int = 0
    # The producer's own partitioner: each key lands where a plain send would put it.
    _partitioner: DefaultPartitioner = field(default_factory=DefaultPartitioner)
    # Where each key went, by topic and partition count: members' events repeat keys,
    # and the partitioner hashes in Python.
    _placed: dict[tuple[str, int, bytes], int] = field(default_factory=dict)

    async def publish(self, db: Any, log_id: str | None) -> int:
        """Publish the oldest pending rows; returns how many left the outbox (sent or
        parked). A failed send is raised once what did go out is recorded."""
        rows = await self.pending(db)
        if not rows:
            return 0
        too_large = {r.id: "too_large" for r in rows if self._size(r) > self.max_message_bytes}
        by_partition: dict[Partition, list[OutboxRow]] = defaultdict(list)
        for row, where in zip(rows, await self.partitions_of(rows), strict=True):
            if row.id not in too_large:
                by_partition[where].append(row)
        sends = dict(
            zip(
                by_partition,
                await asyncio.gather(*(self._send(tp, rs) for tp, rs in by_partition.items())),
                strict=True,
            )
        )
        parked = too_large | {
            s.unsendable[0]: s.unsendable[1] for s in sends.values() if s.unsendable
        }
        sent = [i for s in sends.values() for i in s.sent]
        positions = {tp: s.next_offset for tp, s in sends.items() if s.next_offset is not None}
        async with db.transaction():
            await self._park(db, parked)
            await db.execute(f"delete from {self.name} where id = any($1::bigint[])", sent)
            await self.save_positions(db, positions, log_id)
        self._count(len(sent), len(parked))
        failed = [s.error for s in sends.values() if s.error is not None]
        if failed:
            raise failed[0]
        return len(sent) + len(parked)

    async def pending(self, db: Any) -> list[OutboxRow]:
        rows = await db.fetch(
            f"select id, topic, key, value from {self.name} order by id limit $1",
            self.batch_size,
        )
        return [OutboxRow(*r) for r in rows]

    async def partitions_of(self, rows: Sequence[OutboxRow]) -> list[Partition]:
        """Where each row goes: where a plain send of its key would put it."""
        partitions: dict[str, list[int]] = {}
        for topic in {r.topic for r in rows}:
            partitions[topic] = sorted(await self.producer.partitions_for(topic))
        if len(self._placed) > 200_000:
            self._placed.clear()
        out: list[Partition] = []
        for r in rows:
            known = partitions[r.topic]
            where = (r.topic, len(known), r.key or b"")
            partition = self._placed.get(where)
            if partition is None:
                partition = self._partitioner(r.key, known, known)
                if r.key is not None:  # a keyless message goes anywhere, each time anew
                    self._placed[where] = partition
            out.append((r.topic, partition))
        return out

    async def save_positions(
        self, db: Any, positions: dict[Partition, int], log_id: str | None
    ) -> None:
        # Named by the log read at take-over: a broker that lost its log since makes
        # the next recovery read the partition whole, which errs on the safe side.
        if positions:
            await db.executemany(
                f"insert into {self.name}_positions (topic, partition, next_offset, log_id) "
                "values ($1, $2, $3, $4) on conflict (topic, partition) do update "
                "set next_offset = excluded.next_offset, log_id = excluded.log_id",
                [(t, p, offset, log_id) for (t, p), offset in positions.items()],
            )

    def _size(self, row: OutboxRow) -> int:
        return len(row.value) + len(row.key or b"") + len(row_header(self.name, row.id)[1]) + 64

    async def _send(self, where: Partition, rows: Sequence[OutboxRow]) -> _PartitionSend:
        """Send one partition's rows in order, a batch at a time; stop at the first failure."""
        topic, partition = where
        result = _PartitionSend(sent=[])
        pending = list(rows)
        while pending:
            batch, in_batch = self.producer.create_batch(), []
            for row in pending:
                header = [row_header(self.name, row.id)]
                if (
                    batch.append(key=row.key, value=row.value, timestamp=None, headers=header)
                    is None
                ):
                    break  # full
                in_batch.append(row)
            try:
                acked = await (await self.producer.send_batch(batch, topic, partition=partition))
            except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
                if len(in_batch) == 1:
                    result.unsendable = (in_batch[0].id, f"refused by the broker: {exc}")
                else:
                    result.error = exc
                return result
            except Exception as exc:  # kept, and raised once the round is saved
                result.error = exc
                return result
            result.sent.extend(r.id for r in in_batch)
            result.next_offset = acked.offset + len(in_batch)
            pending = pending[len(in_batch) :]
        return result

    async def _park(self, db: Any, parked: dict[int, str]) -> None:
        if not parked:
            return
        ids, reasons = list(parked), list(parked.values())
        await db.execute(
            f"insert into {self.name}_parked (id, topic, key, value, created_at, reason) "
            f"select o.id, o.topic, o.key, o.value, o.created_at, p.reason from {self.name} o "
            "join unnest($1::bigint[], $2::text[]) as p(id, reason) on p.id = o.id",
            ids,
            reasons,
        )
        await db.execute(f"delete from {self.name} where id = any($1::bigint[])", ids)
        for row_id, reason in parked.items():
            log.error("outbox relay %s: parked row %d: %s", self.name, row_id, reason)

    def _count(self, sent: int, parked: int) -> None:
        self.published_total += sent
        if self.metrics is not None:
            self.metrics.outbox_published.inc(sent)
            self.metrics.outbox_parked.inc(parked)
