"""The broker loses its log under a running points service: restarted with its topics
gone (the embedded broker keeps them in memory), or a topic deleted and made again.
Every purchase of either log is counted once; none is skipped because the new log
numbers its offsets like the old one."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from loyalty_cli.stack import EmbeddedBroker
from loyalty_platform.kafka import ensure_topics
from loyalty_platform.settings import KafkaSettings, asyncpg_url
from loyalty_points.adapters.orm import LedgerEntryRow
from tests.support.events import encode, purchase
from tests.support.kafka import post_slowly, publish
from tests.support.points import points_settings, started

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def own_broker(tmp_path):
    """A broker of this test's own: it is killed and started again."""
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    broker.start()
    yield broker
    broker.stop()


def settings_for(broker: EmbeddedBroker) -> KafkaSettings:
    # One partition: where the consumer stands in the old log and the length of the new
    # one are then known exactly.
    return KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_partitions=1)


def purchases(tag: str, n: int) -> list[tuple[bytes, bytes]]:
    return [
        (f"m-{tag}{i}".encode(), encode(purchase(f"m-{tag}{i}", f"{tag}{i}", "10.00", T0)))
        for i in range(n)
    ]


async def counted(service) -> dict[str, int]:
    """How many ledger entries each purchase has."""
    async with service.sessions() as session:
        rows = await session.execute(
            select(LedgerEntryRow.purchase_id, func.count()).group_by(LedgerEntryRow.purchase_id)
        )
    return {str(purchase_id): int(n) for purchase_id, n in rows.all()}


async def until_counted(service, expected: set[str], timeout: float = 60.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        found = await counted(service)
        if set(found) >= expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def judge(scenario: str, expected: set[str], found: dict[str, int], recovery: str) -> None:
    """Print the scenario's figures with what was lost and counted twice; neither may be."""
    lost = expected - set(found)
    twice = {p for p, n in found.items() if n > 1}
    print(
        f"\n{scenario}: sent {len(expected)}, lost {len(lost)}, counted twice {len(twice)}, "
        f"all counted {recovery}"
    )
    assert lost == set()
    assert twice == set()


@asynccontextmanager
async def positions_locked(database_url: str):
    """Hold the points service's consumer positions: its next batch waits on them."""
    connection = await asyncpg.connect(asyncpg_url(database_url).replace("+asyncpg", ""))
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("select * from points.consumer_progress for update")
    try:
        yield
    finally:
        await transaction.rollback()
        await connection.close()


async def test_a_restarted_broker_whose_new_log_grew_past_the_old_position_is_read_whole(
    points_database, own_broker, tmp_path
):
    kafka = settings_for(own_broker)
    await ensure_topics(kafka, kafka.topics.all())
    service = await started(points_settings(points_database, kafka, session_timeout_seconds=6))
    started_at = time.monotonic()
    try:
        await publish(kafka, kafka.topics.purchases, purchases("a", 20))
        assert set(await until_counted(service, {f"a{i}" for i in range(20)})) >= {"a0"}
        async with positions_locked(points_database):
            # Five more reach the old broker; the service fetches them and waits on its
            # positions while the broker dies and a new one takes 30 from the tills.
            await publish(kafka, kafka.topics.purchases, purchases("b", 5))
            await asyncio.sleep(2)
            own_broker.kill()
            restarted_at = time.monotonic()
            own_broker.start()
            await ensure_topics(kafka, kafka.topics.all())
            await publish(kafka, kafka.topics.purchases, purchases("c", 30))
        expected = {f"{tag}{i}" for tag, n in (("a", 20), ("b", 5), ("c", 30)) for i in range(n)}
        found = await until_counted(service, expected)
        recovered = time.monotonic() - restarted_at
    finally:
        await service.stop()

    took = time.monotonic() - started_at
    judge("broker restart (25 before, 30 after)", expected, found,
          f"{recovered:.1f}s after the restart ({took:.1f}s in all)")  # fmt: skip


async def test_a_topic_deleted_and_made_again_is_read_from_its_start(points_database, own_broker):
    kafka = settings_for(own_broker)
    await ensure_topics(kafka, kafka.topics.all())
    service = await started(points_settings(points_database, kafka, session_timeout_seconds=6))
    try:
        await publish(kafka, kafka.topics.purchases, purchases("a", 20))
        await until_counted(service, {f"a{i}" for i in range(20)})
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics([kafka.topics.purchases])
        finally:
            await admin.close()
        await ensure_topics(kafka, [kafka.topics.purchases])
        deleted_at = time.monotonic()
        # Fewer than were applied: the new log ends before the position the service holds.
        await publish(kafka, kafka.topics.purchases, purchases("d", 5))
        expected = {f"a{i}" for i in range(20)} | {f"d{i}" for i in range(5)}
        found = await until_counted(service, expected)
        recovered = time.monotonic() - deleted_at
    finally:
        await service.stop()

    judge("topic made again (20 before, 5 after)", expected, found,
          f"{recovered:.1f}s after the deletion")  # fmt: skip


async def test_a_broker_frozen_mid_stream_loses_nothing_and_counts_nothing_twice(
    points_database, own_broker
):
    kafka = settings_for(own_broker)
    await ensure_topics(kafka, kafka.topics.all())
    service = await started(points_settings(points_database, kafka, session_timeout_seconds=6))
    try:
        tills = asyncio.create_task(post_slowly(kafka, purchases("e", 600), chunks=30))
        await asyncio.sleep(1.5)
        own_broker.pause()
        await asyncio.sleep(8)  # past the session timeout: the group forgets the consumer
        own_broker.resume()
        resumed_at = time.monotonic()
        await tills
        expected = {f"e{i}" for i in range(600)}
        found = await until_counted(service, expected, timeout=90)
        recovered = time.monotonic() - resumed_at
    finally:
        own_broker.resume()
        await service.stop()

    judge("broker frozen 8 s", expected, found, f"{recovered:.1f}s after it went on")
