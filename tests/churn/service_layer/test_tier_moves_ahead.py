"""The tier service runs ahead: its tier changes for a member can arrive before the
churn watch has read that member's purchases up to them. A tier change waits for the
member's partition clock; it never moves the member ahead of their own purchases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from loyalty_churn.adapters.orm import AlertRevisionRow, AlertRow
from loyalty_churn.bootstrap import build
from loyalty_kernel.messages import InboundMessage
from tests.support.churn import churn_settings, tier_changed
from tests.support.events import encode, purchase

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


async def test_a_tier_change_ahead_of_the_purchases_raises_nothing_early(churn_database, kafka):
    service = build(churn_settings(churn_database, kafka))
    topics = kafka.topics
    weekly = [purchase("steady", f"s{w}", "40.00", START + w * WEEK) for w in range(40)]

    def on(topic: str, events: list[dict], first: int) -> list[InboundMessage]:
        return [
            InboundMessage(topic, 0, first + n, b"steady", encode(e), 0, "log-1")
            for n, e in enumerate(events)
        ]

    async def apply(messages: list[InboundMessage]) -> None:
        await service.handler.apply(service.runner.translate(messages))

    # Ten weeks of purchases read; the tier service, ahead, already lifted them at week 30.
    await apply(on(topics.purchases, weekly[:10], 0))
    lift = tier_changed("steady", 1, START + 30 * WEEK, "opal", "ruby")
    lift["data"]["direction"] = "up"
    await apply(on(topics.tiers_events, [lift], 0))
    # ... and then the rest of the purchases arrive, a week apart as ever.
    await apply(on(topics.purchases, weekly[10:], 10))
    async with service.sessions() as session:
        alerts = (await session.scalars(select(AlertRow))).all()
        revisions = await session.scalar(select(func.count()).select_from(AlertRevisionRow))
    assert alerts == []  # not overdue, not lapsed: they never stopped buying
    assert revisions == 0
    await service.engine.dispose()
