"""The outbox relay: publishes a service's outbox rows and deletes them once the broker
has them, each row at most once, each member's events in order.

- One relay per service publishes at a time: it holds a session advisory lock on a
  connection of its own for as long as it publishes (the lease). Replicas wait.
- Rows go out in id order, batched per partition. A partition's next batch is sent
  only once the broker has acknowledged the one before, so what reached the log of a
  partition is always a prefix of what was sent there.
- Each message carries a header naming its row. Acknowledged rows are deleted, and
  the end of each partition's log recorded (`outbox_positions`), in one transaction.
- A relay that takes the lease from a holder that did not let go cleanly (a crash, a
  lost connection, a failed send) first reads each partition from its recorded
  position to the end of the log and deletes the rows it finds there, so nothing is
  sent twice. When the holder was another process, it waits `takeover_seconds` first
  (longer than a send may take), since that holder may still be sending.
- A row the broker can never take (larger than a message may be) is moved to
  `outbox_parked` with its reason, counted and logged, and the rest keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_platform.kafka import cluster_id
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.outbox import OutboxColumns
from loyalty_platform.published_log import read_tails, row_header
from loyalty_platform.settings import KafkaSettings

log = logging.getLogger(__name__)

# The broker's default limit on a message (Apache Kafka `message.max.bytes`), less room
# for the record's own framing.
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588 - 512


@dataclass(frozen=True)
class _Row:
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


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        table: type[OutboxColumns],
        producer: AIOKafkaProducer,
        kafka: KafkaSettings,
        *,
        metrics: ServiceMetrics | None = None,
        batch_size: int = 2000,
        idle_seconds: float = 0.5,
        takeover_seconds: float = 20.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        stall_seconds: float = 30.0,
    ) -> None:
        self._engine, self._producer, self._kafka = engine, producer, kafka
        self._metrics = metrics
        self._batch_size, self._idle = batch_size, idle_seconds
        self._takeover, self._max_bytes = takeover_seconds, max_message_bytes
        self._stall = stall_seconds
        self.name = str(table.__table__)  # type: ignore[attr-defined]
        self._lock_id = zlib.crc32(self.name.encode())
        self._holder = uuid.uuid4().hex
        self._partitioner = DefaultPartitioner()  # the producer's own: keys land as a plain send
        self._wake = asyncio.Event()  # rows were committed
        self._stopped = asyncio.Event()
        self._stopping = False
        self._last_progress = time.monotonic()
        self._log_id: str | None = None  # the broker log, read at each take-over
        self.published_total = 0

    def wake(self) -> None:
        """Called after a commit that added rows, so they go out without waiting."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    def is_healthy(self) -> bool:
        """Published a round, or waited as a standby, within the stall limit: a relay
        that keeps failing (the broker away, the database away) turns readiness red."""
        return time.monotonic() - self._last_progress < self._stall

    async def run(self) -> None:
        """Hold the lease and publish until stopped; any failure drops the lease, and
        the next holder (this relay again, or a replica's) starts by recovering."""
        while not self._stopping:
            try:
                await self._hold_lease()
            except Exception:  # the broker or the database is away: retry, never die
                log.exception("outbox relay %s failed; retrying", self.name)
                await self._sleep(1.0)

    async def publish_pending(self) -> int:
        """Take the lease, publish one round, let go: for tests and one-off runs."""
        async with self._lease() as db:
            if db is None or not await self._take_over(db):
                return 0
            sent = await self._publish_round(db)
            await self._release(db)
            return sent

    async def _hold_lease(self) -> None:
        async with self._lease() as db:
            if db is None:
                self._last_progress = time.monotonic()  # a standby is healthy
                await self._sleep(2.0)
                return
            if not await self._take_over(db):
                return  # stopped while waiting: the next holder recovers
            while True:
                self._wake.clear()
                sent = await self._publish_round(db)
                self._last_progress = time.monotonic()
                if self._stopping:
                    break  # after one last round, for what the last batches staged
                if sent < self._batch_size:
                    await self._pause(self._idle)
            await self._release(db)

    @contextlib.asynccontextmanager
    async def _lease(self) -> AsyncIterator[Any]:
        """A connection of the relay's own holding the lease, or None if another holds it."""
        async with self._engine.connect() as conn:
            db: Any = (await conn.get_raw_connection()).driver_connection
            try:
                held = await db.fetchval("select pg_try_advisory_lock($1)", self._lock_id)
                yield db if held else None
            finally:
                await conn.invalidate()  # closing the connection lets go of the lock

    async def _pause(self, seconds: float) -> None:
        """Wait for rows to be committed, or `seconds`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _sleep(self, seconds: float) -> None:
        """Wait `seconds`, or until stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    async def _take_over(self, db: Any) -> bool:
        """Record this relay as the holder and recover if the last one did not let go;
        False if the relay was stopped before it could."""
        self._log_id = await cluster_id(self._kafka)
        lease = await db.fetchrow(
            f"select holder, released from {self.name}_lease where relay = $1", self.name
        )
        await db.execute(
            f"insert into {self.name}_lease (relay, holder, released, taken_at) "
            "values ($1, $2, false, now()) on conflict (relay) do update "
            "set holder = excluded.holder, released = false, taken_at = now()",
            self.name,
            self._holder,
        )
        if lease is None or lease["released"]:
            return True
        if lease["holder"] != self._holder:
            log.warning(
                "outbox relay %s: the last holder did not let go; waiting %.0fs, then "
                "reading back what it sent",
                self.name,
                self._takeover,
            )
            deadline = time.monotonic() + self._takeover
            while time.monotonic() < deadline and not self._stopping:
                self._last_progress = time.monotonic()
                await self._sleep(min(1.0, deadline - time.monotonic()))
            if self._stopping:
                return False
        await self._recover(db)
        return True

    async def _release(self, db: Any) -> None:
        await db.execute(
            f"update {self.name}_lease set released = true where relay = $1 and holder = $2",
            self.name,
            self._holder,
        )

    async def _recover(self, db: Any) -> None:
        """Delete the rows already on the broker, and move the positions to the log's end."""
        starts = {
            (r["topic"], r["partition"]): r["next_offset"] if r["log_id"] == self._log_id else 0
            for r in await db.fetch(
                f"select topic, partition, next_offset, log_id from {self.name}_positions"
            )
        }
        for where in await self._partitions_of(await self._pending(db)):
            starts.setdefault(where, 0)
        tails = await read_tails(self._kafka, self.name, starts)
        out = sorted({i for tail in tails.values() for i in tail.row_ids})
        async with db.transaction():
            deleted = await db.execute(f"delete from {self.name} where id = any($1::bigint[])", out)
            await self._save_positions(db, {tp: t.next_offset for tp, t in tails.items()})
        log.warning(
            "outbox relay %s: read back %d partitions; %s already on the broker",
            self.name,
            len(tails),
            deleted.split()[-1],
        )

    async def _pending(self, db: Any) -> list[_Row]:
        rows = await db.fetch(
            f"select id, topic, key, value from {self.name} order by id limit $1",
            self._batch_size,
        )
        return [_Row(*r) for r in rows]

    async def _partitions_of(self, rows: Sequence[_Row]) -> list[tuple[str, int]]:
        """Where each row goes: where a plain send of its key would put it."""
        partitions: dict[str, list[int]] = {}
        for topic in {r.topic for r in rows}:
            partitions[topic] = sorted(await self._producer.partitions_for(topic))
        return [
            (r.topic, self._partitioner(r.key, partitions[r.topic], partitions[r.topic]))
            for r in rows
        ]

    async def _publish_round(self, db: Any) -> int:
        """Publish the oldest pending rows; returns how many left the outbox."""
        rows = await self._pending(db)
        if not rows:
            return 0
        too_large = {r.id: "too_large" for r in rows if self._size(r) > self._max_bytes}
        by_partition: dict[tuple[str, int], list[_Row]] = defaultdict(list)
        for row, where in zip(rows, await self._partitions_of(rows), strict=True):
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
            await self._save_positions(db, positions)
        self._count(len(sent), len(parked))
        failed = [s.error for s in sends.values() if s.error is not None]
        if failed:
            raise failed[0]
        return len(sent) + len(parked)

    def _size(self, row: _Row) -> int:
        return len(row.value) + len(row.key or b"") + len(row_header(self.name, row.id)[1]) + 64

    async def _send(self, where: tuple[str, int], rows: Sequence[_Row]) -> _PartitionSend:
        """Send one partition's rows in order, a batch at a time; stop at the first failure."""
        topic, partition = where
        result = _PartitionSend(sent=[])
        pending = list(rows)
        while pending:
            batch, in_batch = self._producer.create_batch(), []
            for row in pending:
                header = [row_header(self.name, row.id)]
                if (
                    batch.append(key=row.key, value=row.value, timestamp=None, headers=header)
                    is None
                ):
                    break  # full
                in_batch.append(row)
            try:
                acked = await (await self._producer.send_batch(batch, topic, partition=partition))
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

    async def _save_positions(self, db: Any, positions: dict[tuple[str, int], int]) -> None:
        # Named by the log read at take-over: a broker that lost its log since makes
        # the next recovery read the partition whole, which errs on the safe side.
        if positions:
            await db.executemany(
                f"insert into {self.name}_positions (topic, partition, next_offset, log_id) "
                "values ($1, $2, $3, $4) on conflict (topic, partition) do update "
                "set next_offset = excluded.next_offset, log_id = excluded.log_id",
                [(t, p, offset, self._log_id) for (t, p), offset in positions.items()],
            )

    def _count(self, sent: int, parked: int) -> None:
        self.published_total += sent
        if self._metrics is not None:
            self._metrics.outbox_published.inc(sent)
            self._metrics.outbox_parked.inc(parked)
