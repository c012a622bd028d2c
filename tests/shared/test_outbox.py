"""The outbox relay on the real database and broker (the points service's outbox table)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.kafka import make_producer
from loyalty_platform.outbox import Outbox, OutboxRelay
from loyalty_platform.settings import asyncpg_url
from loyalty_points.adapters.orm import OutboxRow
from tests.support.kafka import payloads, read_topic


def event(n: int) -> CloudEvent:
    return CloudEvent(
        specversion="1.0", id=f"e-{n}", source="test", type="test.happened.v1",
        time=datetime(2026, 11, 23, tzinfo=UTC), subject=f"member-{n % 3}", data={"n": n},
    )  # fmt: skip


async def test_rows_are_published_in_order_once_and_then_removed(points_database, kafka):
    engine = create_engine(asyncpg_url(points_database))
    sessions = session_factory(engine)
    producer = make_producer(kafka)
    await producer.start()
    try:
        async with sessions() as session:
            outbox = Outbox(session, OutboxRow)
            for n in range(300):
                outbox.add(kafka.topics.points_events, f"member-{n % 3}", event(n))
            await outbox.flush()
            await session.commit()

        relays = [OutboxRelay(sessions, OutboxRow, producer, batch_size=50) for _ in range(2)]
        # Two relays racing publish each row once between them.
        while sum(await asyncio.gather(*(r.publish_pending() for r in relays))):
            pass
        assert sum(r.published_total for r in relays) == 300

        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(OutboxRow)) == 0
        records = await read_topic(kafka, kafka.topics.points_events, expect=300)
        published = payloads(records)
        assert len(published) == 300
        # The relay batches by partition itself: each key lands where a plain send puts it.
        for member in range(3):
            key = f"member-{member}".encode()
            plain = await producer.send_and_wait(kafka.topics.points_events, b"probe", key=key)
            assert {r.partition for r in records if r.key == key} == {plain.partition}
        for member in range(3):
            ns = [
                e["data"]["n"]
                for e, r in zip(published, records, strict=True)
                if r.key == f"member-{member}".encode()
            ]
            assert ns == sorted(ns)
            assert len(ns) == 100
    finally:
        await producer.stop()
        await engine.dispose()


async def test_nothing_is_published_from_a_transaction_that_rolled_back(points_database, kafka):
    engine = create_engine(asyncpg_url(points_database))
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            outbox = Outbox(session, OutboxRow)
            outbox.add(kafka.topics.points_events, "member-1", event(1))
            await outbox.flush()
            await session.rollback()
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(OutboxRow)) == 0
    finally:
        await engine.dispose()
