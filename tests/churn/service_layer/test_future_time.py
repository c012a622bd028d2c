"""A purchase stamped in the future never moves the churn watch's clock: it is
dead-lettered as `time_in_future`, and the partition's watermark stays where the
members' real purchases put it, so nobody is assessed years early."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from loyalty_churn.adapters.orm import AlertRow, OutboxRow, PartitionClockRow
from loyalty_churn.bootstrap import build
from loyalty_kernel.messages import InboundMessage
from tests.support.churn import churn_settings
from tests.support.events import encode, purchase

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


async def test_a_future_purchase_is_dead_lettered_and_the_clock_stays(churn_database, kafka):
    service = build(churn_settings(churn_database, kafka, clock="event"))
    topic = kafka.topics.purchases
    weekly = [purchase("steady", f"s{w}", "30.00", START + w * WEEK) for w in range(10)]
    liar = purchase("liar", "l-1", "1.00", datetime(8999, 1, 1, tzinfo=UTC))
    events = [*weekly, liar]
    keys = [b"steady"] * len(weekly) + [b"liar"]
    batch = [
        InboundMessage(topic, 2, n, key, encode(e), 0, "log-1")
        for n, (key, e) in enumerate(zip(keys, events, strict=True))
    ]
    await service.handler.apply(service.runner.translate(batch))

    async with service.sessions() as session:
        watermark = await session.scalar(
            select(PartitionClockRow.watermark).where(PartitionClockRow.partition == 2)
        )
        alerts = (await session.scalars(select(AlertRow))).all()
        staged = [json.loads(v) for v in await session.scalars(select(OutboxRow.value))]
    await service.engine.dispose()
    assert watermark == START + 9 * WEEK
    assert alerts == []  # without the guard: 'steady' looks lapsed for 7,000 years
    [dead] = [e for e in staged if e["type"] == "loyalty.message.dead_lettered.v1"]
    assert dead["data"]["reason"] == "time_in_future"
    assert dead["data"]["original"]["key"] == "liar"
