"""Live mode: time passes by the wall clock, and quiet members are assessed at the
moments they fell due, without waiting for their next purchase."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from loyalty_churn.adapters.orm import AlertRow, OutboxRow
from loyalty_churn.bootstrap import build
from loyalty_kernel.messages import InboundMessage
from tests.support.churn import churn_settings
from tests.support.events import encode, iso, purchase

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


async def test_a_sweep_moves_the_clock_and_alerts_at_the_due_moments(churn_database, kafka):
    service = build(churn_settings(churn_database, kafka, clock="wall"))
    events = [purchase("quiet", f"q{w}", "30.00", START + w * WEEK) for w in range(20)]
    topic = kafka.topics.purchases
    batch = [
        InboundMessage(topic, 1, n, b"quiet", encode(e), 0, "log-1") for n, e in enumerate(events)
    ]
    await service.handler.apply(service.runner.translate(batch))
    async with service.sessions() as session:
        assert (await session.scalars(select(AlertRow))).all() == []

    last = START + 19 * WEEK
    # a sweep on another partition changes nothing for this member
    assert await service.handler.sweep([0], last + 400 * timedelta(days=1)) == 0
    staged = await service.handler.sweep([1], last + 400 * timedelta(days=1))
    async with service.sessions() as session:
        alert = (await session.scalars(select(AlertRow))).one()
        published = [json.loads(v) for v in await session.scalars(select(OutboxRow.value))]
    assert staged == len(published) > 1
    assert alert.opened_at == last + 2 * WEEK  # overdue, at its own moment
    assert {s["code"] for s in alert.signals} >= {"overdue", "lapsed"}
    lapsed = next(e for e in published if "lapsed" in [s["code"] for s in e["data"]["signals"]])
    assert lapsed["time"] == iso(last + timedelta(days=180))
    # sweeping again at the same moment finds nothing more to do
    assert await service.handler.sweep([1], last + 400 * timedelta(days=1)) == 0
    await service.engine.dispose()
