"""How far each consumer group has applied each partition, kept in the service's database.

The position moves in the same transaction as the state it produced, so a batch
redelivered after a crash or a rebalance is recognised and skipped, dead letters
included. Kafka's own committed offsets are only where fetching resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import BigInteger, Integer, String, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from loyalty_shared.messages import InboundMessage

log = logging.getLogger(__name__)

Position = tuple[str, int]


class ConsumerProgressColumns:
    """Columns of a service's `consumer_progress` table."""

    consumer_group: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


class ConsumerProgress:
    """Inside a unit of work: lock the batch's partitions, drop what was applied, advance."""

    def __init__(self, session: AsyncSession, table: type[ConsumerProgressColumns], group: str):
        self._session, self._table, self._group = session, table, group
        self._pending: dict[Position, int] = {}

    async def unapplied(self, batch: Iterable[InboundMessage]) -> list[InboundMessage]:
        """The messages of `batch` not yet applied; locks their partitions' rows."""
        batch = list(batch)
        positions = sorted({m.position for m in batch})
        t = self._table
        await self._session.execute(
            insert(t)
            .values(
                [
                    {"consumer_group": self._group, "topic": tp, "partition": p, "next_offset": 0}
                    for tp, p in positions
                ]
            )
            .on_conflict_do_nothing()
        )
        rows = await self._session.execute(
            select(t.topic, t.partition, t.next_offset)
            .where(t.consumer_group == self._group, t.topic.in_({tp for tp, _ in positions}))
            .order_by(t.topic, t.partition)
            .with_for_update()
        )
        next_offsets = {(r.topic, r.partition): r.next_offset for r in rows}
        for m in batch:
            if m.log_end is not None and m.log_end < next_offsets[m.position]:
                # The log is shorter than what we applied: the broker lost it (the embedded
                # one keeps it in memory) and counts from 0 again. Skip nothing new.
                log.warning("%s[%d] restarted below the applied position", *m.position)
                next_offsets[m.position] = 0
        self._pending = {}
        fresh = [m for m in batch if m.offset >= next_offsets[m.position]]
        for m in batch:
            self._pending[m.position] = max(self._pending.get(m.position, 0), m.offset + 1)
        return fresh

    async def advance(self) -> None:
        t = self._table
        for (topic, partition), offset in self._pending.items():
            await self._session.execute(
                update(t)
                .where(t.consumer_group == self._group, t.topic == topic, t.partition == partition)
                .where(t.next_offset < offset)
                .values(next_offset=offset)
            )
