"""Live mode with a backlog: a year of history loaded in one go (or a replica catching
up) is assessed on event time until each partition reaches the log's end; only then
does the wall clock move it. Regular shoppers raise nothing on the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from loyalty_churn.adapters.orm import AlertRevisionRow, MemberRow
from tests.support.churn import churn_settings, started, wait_applied
from tests.support.events import encode, purchase
from tests.support.kafka import publish

WEEK = timedelta(days=7)


async def test_a_backlog_of_regular_shoppers_raises_no_alert_while_it_is_applied(
    churn_database, kafka
):
    # 40 members buying every week for a year, up to yesterday
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    messages = [
        (f"regular-{m}".encode(), encode(purchase(f"regular-{m}", f"r{m}-{w}", "30.00", end - w * WEEK)))
        for w in range(52, -1, -1)
        for m in range(40)
    ]  # fmt: skip
    await publish(kafka, kafka.topics.purchases, messages)
    # small batches and a sweep every 50 ms: many sweeps fall while the backlog is applied
    settings = churn_settings(
        churn_database, kafka, clock="wall", batch_size=20, sweep_seconds=0.05
    )
    service = await started(settings)
    try:
        await wait_applied(service, len(messages), timeout=120)
        async with service.sessions() as session:
            revisions = await session.scalar(select(func.count()).select_from(AlertRevisionRow))
            clocks = (await session.scalars(select(MemberRow.clock))).all()
        assert revisions == 0
        assert len(clocks) == 40
        # once caught up, the sweeps move the members to the wall clock
        assert all(c is not None and c >= end for c in clocks)
    finally:
        await service.stop()
