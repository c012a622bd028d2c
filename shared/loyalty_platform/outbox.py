"""The transactional outbox: events are written with the state change that caused
them and published afterwards by a relay, so none is lost to a crash between the
two. A re-publish after a crash carries the same event id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    LargeBinary,
    String,
    func,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_platform.database import driver_connection

log = logging.getLogger(__name__)


class OutboxColumns:
    """Columns of a service's `outbox` table."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Outbox:
    """Inside a unit of work: stage events, written when the unit of work flushes them."""

    def __init__(self, session: AsyncSession, table: type[OutboxColumns]) -> None:
        self._session, self._table = session, table
        self._staged: list[tuple[str, bytes | None, bytes]] = []

    def add(self, topic: str, key: str | None, event: CloudEvent) -> None:
        self._staged.append((topic, key.encode() if key else None, event.to_bytes()))

    async def flush(self) -> None:
        if self._staged:
            table = self._table.__table__  # type: ignore[attr-defined]
            db = await driver_connection(self._session)
            await db.copy_records_to_table(
                table.name,
                schema_name=table.schema,
                columns=["topic", "key", "value"],
                records=self._staged,
            )
            self._staged = []


class OutboxRelay:
    """Publishes outbox rows in id order and deletes them once the broker has them.

    One relay per service publishes at a time (an advisory lock), which keeps each
    member's events in order across replicas.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: type[OutboxColumns],
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 2000,
        idle_seconds: float = 0.5,
    ) -> None:
        self._sessions, self._table, self._producer = sessions, table, producer
        self._batch_size, self._idle = batch_size, idle_seconds
        name = str(table.__table__)  # type: ignore[attr-defined]
        self._lock_id = zlib.crc32(name.encode())
        self._select = f"select id, topic, key, value from {name} order by id limit $1"
        self._delete = f"delete from {name} where id = any($1::bigint[])"
        # The producer's own partitioner: a key lands where a plain send would put it.
        self._partitioner = DefaultPartitioner()
        self._wake = asyncio.Event()
        self._stopping = False
        self.published_total = 0

    def wake(self) -> None:
        """Called after a commit that added rows, so they go out without waiting."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.publish_pending()
            except Exception:  # the broker or database is away: retry, never die
                log.exception("outbox relay failed; retrying")
                sent = 0
                await asyncio.sleep(1)
            if sent < self._batch_size:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle)

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many went out."""
        async with self._sessions() as session, session.begin():
            db = await driver_connection(session)
            if not await db.fetchval("select pg_try_advisory_xact_lock($1)", self._lock_id):
                return 0
            rows = await db.fetch(self._select, self._batch_size)
            if not rows:
                return 0
            await self._send([(topic, key, value) for _, topic, key, value in rows])
            await db.execute(self._delete, [row[0] for row in rows])
        self.published_total += len(rows)
        return len(rows)

    async def _send(self, messages: list[tuple[str, bytes | None, bytes]]) -> None:
        """Send in order and wait for the broker: one batch per partition at a time, which
        costs far less than a send (and a future) per message."""
        open_batches: dict[tuple[str, int], Any] = {}
        partitions: dict[str, list[int]] = {}
        sent = []
        for topic, key, value in messages:
            if topic not in partitions:
                partitions[topic] = sorted(await self._producer.partitions_for(topic))
            where = (topic, self._partitioner(key, partitions[topic], partitions[topic]))
            batch = open_batches.get(where) or self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full
                sent.append(await self._producer.send_batch(batch, topic, partition=where[1]))
                batch = self._producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            open_batches[where] = batch
        for (topic, partition), batch in open_batches.items():
            sent.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*sent)
