"""Live mode with a backlog: months of history loaded in one go, or streamed in over a
few seconds (or a replica catching up), is assessed on event time until each partition
is read to its end and quiet; only then does the wall clock move it. Regular shoppers
raise nothing on the way."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty_churn.adapters.orm import AlertRevisionRow, MemberRow, PartitionClockRow
from loyalty_platform.settling import QUIET_SECONDS
from tests.support.churn import churn_settings, started, wait_applied
from tests.support.events import encode, purchase
from tests.support.kafka import publish

WEEK = timedelta(days=7)


def forty_weeks_of_regulars(end: datetime) -> list[tuple[bytes, bytes]]:
    """20 members buying every week for 40 weeks, up to `end`, in time order."""
    return [
        (f"regular-{m}".encode(), encode(purchase(f"regular-{m}", f"r{m}-{w}", "30.00", end - w * WEEK)))
        for w in range(40, -1, -1)
        for m in range(20)
    ]  # fmt: skip


@pytest.mark.parametrize("streamed", [False, True], ids=["backlog", "streamed"])
async def test_history_of_regular_shoppers_raises_no_alert_while_it_is_applied(
    churn_database, kafka, streamed
):
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    messages = forty_weeks_of_regulars(end)
    if not streamed:
        await publish(kafka, kafka.topics.purchases, messages)
    # small batches and a sweep every 50 ms: many sweeps fall while the history is applied
    settings = churn_settings(
        churn_database, kafka, clock="wall", batch_size=20, sweep_seconds=0.05
    )
    service = await started(settings)
    try:
        if streamed:  # in chunks the consumer keeps up with: read to the end between them
            for start in range(0, len(messages), 140):
                await publish(kafka, kafka.topics.purchases, messages[start : start + 140])
                await asyncio.sleep(0.5)
        await wait_applied(service, len(messages), timeout=120)
        async with service.sessions() as session:
            revisions = await session.scalar(select(func.count()).select_from(AlertRevisionRow))
            members = await session.scalar(select(func.count()).select_from(MemberRow))
        assert revisions == 0
        assert members == 20
        if streamed:
            return
        # once settled, the sweeps move the partitions to the wall clock
        deadline = time.monotonic() + QUIET_SECONDS + 10
        while True:
            async with service.sessions() as session:
                watermarks = (await session.scalars(select(PartitionClockRow.watermark))).all()
            swept = all(w is not None and w > end + timedelta(hours=12) for w in watermarks)
            if (watermarks and swept) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert watermarks
        assert swept
    finally:
        await service.stop()
