"""SIGKILL the tier process mid-stream, twice, and start it again: the tier changes
are exactly those of an uninterrupted run, and each is published under one id."""

from __future__ import annotations

import asyncio
import random
import signal
import time

from sqlalchemy import func, select

from loyalty_kernel.events.envelope import derived_event_id
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.settings import asyncpg_url
from loyalty_tiers.adapters.orm import ConsumerProgressRow
from loyalty_tiers.migrations import MIGRATIONS_DIR
from loyalty_tiers.service_layer.unit_of_work import TiersUnitOfWork
from tests.support import processes
from tests.support.histories import good_traffic, with_redeliveries
from tests.support.kafka import payloads, publish, read_all
from tests.support.tiers import snapshot, started, tiers_settings, wait_applied


async def applied(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(
            select(func.coalesce(func.sum(ConsumerProgressRow.next_offset), 0))
        )


async def test_sigkill_mid_stream_gives_the_changes_of_an_uninterrupted_run(
    tiers_database, new_database, kafka, tmp_path
):
    rng = random.Random(3)
    messages = with_redeliveries(rng, good_traffic(rng, members=300))
    total = len(messages)
    await publish(kafka, kafka.topics.purchases, messages)
    log_path = tmp_path / "tiers.log"
    engine = create_engine(asyncpg_url(tiers_database))

    def spawn():
        return processes.spawn("loyalty_tiers", "TIERS_", tiers_database, kafka, log_path,
                               batch_size="200", clock="event", relay_takeover_seconds="1",
                               session_timeout_seconds="6")  # fmt: skip

    try:
        for kill_at in (0.25, 0.6):
            process = spawn()
            try:
                deadline = time.monotonic() + 120
                while await applied(engine) < total * kill_at:
                    assert process.poll() is None, "the tier process died on its own"
                    assert time.monotonic() < deadline, "timed out before the kill"
                    await asyncio.sleep(0.02)
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait()
            assert await applied(engine) < total, "finished before the kill; nothing tested"
        process = spawn()
        try:
            deadline = time.monotonic() + 180
            while await applied(engine) < total:
                assert time.monotonic() < deadline, "the restarted process did not finish"
                await asyncio.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) in (0, -signal.SIGTERM)
    finally:
        await engine.dispose()

    # Reference: the same log, uninterrupted, in process, into a fresh database.
    clean = tiers_settings(await new_database(MIGRATIONS_DIR), kafka, consumer_group="tiers-clean")
    service = await started(clean)
    try:
        await wait_applied(service, total, timeout=120)
        expected = await snapshot(service.handler.uow)
    finally:
        await service.stop()
    engine = create_engine(asyncpg_url(tiers_database))
    sessions = session_factory(engine)
    try:
        changes, members, _ = await snapshot(
            lambda: TiersUnitOfWork(sessions, currency="USD", consumer_group="tiers")
        )
    finally:
        await engine.dispose()
    assert (changes, members) == expected[:2]

    # Both runs published to the same topic, each event once (a relay killed between
    # sending and deleting sends nothing again), with the same id and content. Both have
    # stopped: the topic holds all they will ever publish.
    records = await read_all(kafka, kafka.topics.tiers_events)
    by_id: dict[str, list[bytes]] = {}
    for event, record in zip(payloads(records), records, strict=True):
        by_id.setdefault(event["id"], []).append(record.value)
    assert set(by_id) == {derived_event_id("tier-change", c[0], str(c[1])) for c in changes}
    assert all(len(copies) == 2 and len(set(copies)) == 1 for copies in by_id.values())
