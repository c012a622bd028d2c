"""The outbox relay on the real database and broker (the points service's outbox table)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.kafka import make_producer
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.outbox import Outbox
from loyalty_platform.published_log import PartitionTail, read_tails, row_header
from loyalty_platform.relay import OutboxRelay
from loyalty_platform.settings import asyncpg_url
from loyalty_points.adapters.orm import OutboxParkedRow, OutboxRow
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

        relays = [OutboxRelay(engine, OutboxRow, producer, kafka, batch_size=50) for _ in range(2)]
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


async def test_a_row_too_large_for_the_broker_is_parked_and_the_rest_flow(points_database, kafka):
    engine = create_engine(asyncpg_url(points_database))
    sessions = session_factory(engine)
    producer = make_producer(kafka)
    await producer.start()
    metrics = ServiceMetrics("points")
    try:
        async with sessions() as session:
            outbox = Outbox(session, OutboxRow)
            for n in range(5):
                huge = event(n).model_copy(update={"data": {"n": n, "pad": "x" * 20_000}})
                outbox.add(kafka.topics.points_events, "member-0", huge if n == 2 else event(n))
            await outbox.flush()
            await session.commit()
        relay = OutboxRelay(
            engine, OutboxRow, producer, kafka, metrics=metrics, max_message_bytes=10_000
        )
        assert await relay.publish_pending() == 5
        records = await read_topic(kafka, kafka.topics.points_events, expect=4)
        assert [e["data"]["n"] for e in payloads(records)] == [0, 1, 3, 4]
        async with sessions() as session:
            parked = (await session.execute(select(OutboxParkedRow))).scalars().all()
            assert await session.scalar(select(func.count()).select_from(OutboxRow)) == 0
        assert [(p.reason, json.loads(p.value)["data"]["n"]) for p in parked] == [("too_large", 2)]
        assert metrics.outbox_parked._value.get() == 1
        assert metrics.outbox_published._value.get() == 4
    finally:
        await producer.stop()
        await engine.dispose()


async def test_reading_back_a_log_begun_again_reads_it_from_its_start(kafka):
    topic = kafka.topics.points_events
    producer = make_producer(kafka)
    await producer.start()
    try:
        for n in (7, 8, 9):
            await producer.send_and_wait(
                topic, b"v", partition=1, headers=[row_header("points.outbox", n)]
            )
        await producer.send_and_wait(topic, b"v", partition=1, headers=[row_header("x.outbox", 1)])
    finally:
        await producer.stop()
    # A stored position past the log's end: the broker lost the log and began another.
    tails = await read_tails(kafka, "points.outbox", {(topic, 1): 1_000, (topic, 0): 0})
    assert tails[(topic, 1)] == PartitionTail(frozenset({7, 8, 9}), 4)
    assert tails[(topic, 0)] == PartitionTail(frozenset(), 0)
    tails = await read_tails(kafka, "points.outbox", {(topic, 1): 2})
    assert tails[(topic, 1)] == PartitionTail(frozenset({9}), 4)


async def test_a_relay_that_keeps_failing_turns_unhealthy(database_url, kafka):
    engine = create_engine(asyncpg_url(database_url))  # no tables: every round fails
    producer = make_producer(kafka)
    await producer.start()
    relay = OutboxRelay(engine, OutboxRow, producer, kafka, stall_seconds=0.5)
    running = asyncio.create_task(relay.run())
    try:
        assert relay.is_healthy()
        await asyncio.sleep(1.0)
        assert not relay.is_healthy()
        assert not running.done()  # it keeps retrying
    finally:
        relay.stop()
        await running
        await producer.stop()
        await engine.dispose()
