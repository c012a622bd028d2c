"""The outbox relay: publishes a service's outbox rows and deletes them once the broker
has them, each row at most once, each member's events in order.

- One relay per service publishes at a time: it holds a session advisory lock on a
  connection of its own for as long as it publishes (the lease). Replicas wait.
- While it holds the lease it publishes round after round (`outbox_rounds`): rows in
  id order, each partition's log a prefix of what was sent there, acknowledged rows
  deleted and each partition's log end recorded (`outbox_positions`) in one
  transaction, rows the broker can never take parked.
- A relay that takes the lease from a holder that did not let go cleanly (a crash, a
  lost connection, a failed send) first reads each partition from its recorded
  position to the end of the log and deletes the rows it finds there, so nothing is
  sent twice. When the holder was another process, it waits `takeover_seconds` first
  (longer than a send may take), since that holder may still be sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_platform.kafka import cluster_id
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.outbox import OutboxColumns
from loyalty_platform.outbox_rounds import DEFAULT_MAX_MESSAGE_BYTES, OutboxRounds
from loyalty_platform.published_log import read_tails
from loyalty_platform.settings import KafkaSettings

log = logging.getLogger(__name__)


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
        self._engine, self._kafka = engine, kafka
        self._batch_size, self._idle = batch_size, idle_seconds
        self._takeover, self._stall = takeover_seconds, stall_seconds
        self.name = str(table.__table__)  # type: ignore[attr-defined]
        self._rounds = OutboxRounds(self.name, producer, batch_size, max_message_bytes, metrics)
        self._lock_id = zlib.crc32(self.name.encode())
        self._holder = uuid.uuid4().hex
        self._wake = asyncio.Event()  # rows were committed
        self._stopped = asyncio.Event()
        self._stopping = False
        self._last_progress = time.monotonic()
        self._log_id: str | None = None  # the broker log, read at each take-over

    @property
    def published_total(self) -> int:
        return self._rounds.published_total

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
            sent = await self._rounds.publish(db, self._log_id)
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
                sent = await self._rounds.publish(db, self._log_id)
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
        for where in await self._rounds.partitions_of(await self._rounds.pending(db)):
            starts.setdefault(where, 0)
        tails = await read_tails(self._kafka, self.name, starts)
        out = sorted({i for tail in tails.values() for i in tail.row_ids})
        async with db.transaction():
            deleted = await db.execute(f"delete from {self.name} where id = any($1::bigint[])", out)
            await self._rounds.save_positions(
                db, {tp: t.next_offset for tp, t in tails.items()}, self._log_id
            )
        log.warning(
            "outbox relay %s: read back %d partitions; %s already on the broker",
            self.name,
            len(tails),
            deleted.split()[-1],
        )
