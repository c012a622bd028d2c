"""How far each consumer group has applied each partition, kept in the service's database.

The position moves in the same transaction as the state it produced, so a batch
redelivered after a crash or a rebalance is recognised and skipped, dead letters
included. Kafka's own committed offsets are only where fetching resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import BigInteger, Integer, String, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from loyalty_kernel.messages import InboundMessage

log = logging.getLogger(__name__)

Position = tuple[str, int]
T = TypeVar("T")


class Applied(NamedTuple):
    """How far a partition was applied, and in which log."""

    next_offset: int
    log_id: str | None


class ConsumerProgressColumns:
    """Columns of a service's `consumer_progress` table."""

    consumer_group: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    # Which log the offsets count in: the broker cluster's id.
    log_id: Mapped[str | None] = mapped_column(String(128))


class ConsumerProgress:
    """Inside a unit of work: lock the batch's partitions, drop what was applied, advance."""

    def __init__(self, session: AsyncSession, table: type[ConsumerProgressColumns], group: str):
        self._session, self._table, self._group = session, table, group
        self._next: dict[Position, tuple[int, str | None]] = {}

    async def unapplied(self, batch: Sequence[T], key: Callable[[T], InboundMessage]) -> list[T]:
        """The items of `batch` whose message (`key`) was not applied yet; locks their
        partitions' rows."""
        messages = [key(item) for item in batch]
        latest = {m.position: m for m in messages}  # log id and end are the same per partition
        if not latest:
            return []
        starts = await self._locked_starts(latest)
        ends = dict(starts)
        for m in messages:
            ends[m.position] = max(ends[m.position], m.offset + 1)
        self._next = {pos: (ends[pos], m.log_id) for pos, m in latest.items()}
        return [
            item for item, m in zip(batch, messages, strict=True) if m.offset >= starts[m.position]
        ]

    async def _locked_starts(self, latest: dict[Position, InboundMessage]) -> dict[Position, int]:
        t = self._table
        positions = sorted(latest)
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
            select(t.topic, t.partition, t.next_offset, t.log_id)
            .where(t.consumer_group == self._group, tuple_(t.topic, t.partition).in_(positions))
            .order_by(t.topic, t.partition)
            .with_for_update()
        )
        starts = {}
        for topic, partition, next_offset, log_id in rows:
            message = latest[(topic, partition)]
            if _log_restarted(message, log_id):
                log.warning("%s[%d] is a new log; applying it from its start", topic, partition)
                next_offset = 0
            starts[(topic, partition)] = next_offset
        return starts

    async def applied(self, positions: Sequence[Position]) -> dict[Position, Applied]:
        """How far each of these partitions was applied (those never applied are absent)."""
        t = self._table
        rows = await self._session.execute(
            select(t.topic, t.partition, t.next_offset, t.log_id).where(
                t.consumer_group == self._group, tuple_(t.topic, t.partition).in_(positions)
            )
        )
        return {(topic, p): Applied(n, log_id) for topic, p, n, log_id in rows}

    async def start_again(self, position: Position, was: Applied) -> bool:
        """Apply the partition from offset 0 again, its log being new; only if its
        position is still `was` (else another replica moved it, and it is not lost)."""
        t = self._table
        topic, partition = position
        result: Any = await self._session.execute(
            update(t)
            .where(t.consumer_group == self._group, t.topic == topic, t.partition == partition)
            .where(t.next_offset == was.next_offset, t.log_id.is_not_distinct_from(was.log_id))
            .values(next_offset=0)
        )
        return bool(result.rowcount)

    async def advance(self) -> None:
        t = self._table
        for (topic, partition), (offset, log_id) in self._next.items():
            await self._session.execute(
                update(t)
                .where(t.consumer_group == self._group, t.topic == topic, t.partition == partition)
                .values(next_offset=offset, log_id=log_id)
            )


def _log_restarted(message: InboundMessage, log_id: str | None) -> bool:
    """The broker lost the log we applied (the embedded one keeps logs in memory) and
    numbers offsets from 0 again: the message comes from another cluster.

    A log shorter than the position on the same cluster (a topic deleted and made
    again) is told by the runner when it is given the partition, from the log's end
    as the broker says it then: an end read with the fetch may be stale by the time
    the position's lock is had, another replica having applied past it meanwhile."""
    return log_id is not None and message.log_id is not None and log_id != message.log_id
