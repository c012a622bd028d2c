"""Per-partition event-time clocks of the `purchases` topic, kept in a service's schema.

A service whose rules run on time (tier holds, churn signals) moves each partition's
watermark to the latest event time it consumed there (or to the wall clock, live).
A partition's row is locked while a batch or a sweep works on its members, so two
replicas never act on the same moment twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import DateTime, Integer
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_platform.database import driver_connection


class PartitionClockColumns:
    """Columns of a service's `partition_clocks` table: per `purchases` partition, the
    latest event time consumed there (or the wall clock, in live mode)."""

    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PartitionClocks:
    def __init__(self, session: AsyncSession, schema: str) -> None:
        self._session = session
        self._ensure = f"""
            insert into {schema}.partition_clocks (partition)
            select * from unnest($1::int[]) on conflict do nothing"""
        self._lock = f"""
            select partition, watermark from {schema}.partition_clocks
            where partition = any($1::int[]) order by partition for update"""
        self._save = f"""
            update {schema}.partition_clocks c set watermark = n.watermark
            from unnest($1::int[], $2::timestamptz[]) as n(partition, watermark)
            where c.partition = n.partition"""
        self._one = f"select watermark from {schema}.partition_clocks where partition = $1"
        self._latest = f"select max(watermark) from {schema}.partition_clocks"

    async def lock(self, partitions: Iterable[int]) -> PartitionWatermarks:
        """The partitions' clocks, locked: one writer per partition at a time."""
        db = await driver_connection(self._session)
        wanted = sorted(set(partitions))
        await db.execute(self._ensure, wanted)
        return PartitionWatermarks.of(dict(await db.fetch(self._lock, wanted)))

    async def watermark(self, partition: int) -> datetime | None:
        db = await driver_connection(self._session)
        return await db.fetchval(self._one, partition)  # type: ignore[no-any-return]

    async def save(self, watermarks: PartitionWatermarks) -> None:
        moved = sorted(watermarks.known().items())
        if moved:
            db = await driver_connection(self._session)
            await db.execute(self._save, [p for p, _ in moved], [w for _, w in moved])

    async def latest(self) -> datetime | None:
        """The furthest any partition's clock has gone."""
        db = await driver_connection(self._session)
        return await db.fetchval(self._latest)  # type: ignore[no-any-return]
