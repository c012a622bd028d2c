"""SIGKILL the points process mid-stream, twice, and start it again: a log of more than
a year (lots vest, are warned of and expire) ends with the very entries and lots an
undisturbed run records, each entry published once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.settings import KafkaSettings, asyncpg_url
from loyalty_points.adapters.orm import ConsumerProgressRow, LedgerEntryRow
from loyalty_points.migrations import MIGRATIONS_DIR
from tests.support import processes
from tests.support.kafka import payloads, publish, read_settled
from tests.support.points import ledger_snapshot, lifecycle_log, undisturbed

START = datetime(2024, 6, 3, 9, tzinfo=UTC)


def spawn(database_url: str, kafka: KafkaSettings, log_path) -> subprocess.Popen[bytes]:
    return processes.spawn(
        "loyalty_points", "POINTS_", database_url, kafka, log_path, batch_size="300",
        relay_takeover_seconds="1", session_timeout_seconds="6",
        clock="event",  # what a sweep adds by the wall clock would race the comparison
    )  # fmt: skip


async def counts(engine) -> tuple[int, int]:
    async with engine.connect() as conn:
        entries = await conn.scalar(select(func.count()).select_from(LedgerEntryRow))
        applied = await conn.scalar(
            select(func.coalesce(func.sum(ConsumerProgressRow.next_offset), 0))
        )
    return entries, applied


async def wait_until(engine, predicate, timeout: float, process) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the points process died on its own; see points.log"
        state = await counts(engine)
        if predicate(*state):
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out; entries, applied = {await counts(engine)}")


async def test_sigkill_mid_batch_loses_nothing_and_counts_nothing_twice(
    points_database, new_database, kafka, tmp_path
):
    log = lifecycle_log(300, 420, seed=8, start=START, mean_gap_hours=1)
    messages = [(m.key, m.value) for m in log]
    total = len(messages)
    await publish(kafka, kafka.topics.purchases, messages)
    expected = await undisturbed(
        await new_database(MIGRATIONS_DIR), messages, kafka.topic_partitions
    )
    engine = create_engine(asyncpg_url(points_database))
    log_path = tmp_path / "points.log"
    try:
        for kill_at in (0.2, 0.55):
            process = spawn(points_database, kafka, log_path)
            try:
                _, applied = await wait_until(
                    engine, lambda e, a, k=kill_at: a >= total * k, 120, process
                )
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait()
            assert applied < total, "the run finished before the kill; nothing was tested"

        process = spawn(points_database, kafka, log_path)
        try:
            await wait_until(engine, lambda e, a: a == total, 180, process)
            async with session_factory(engine)() as session:
                recorded = await ledger_snapshot(session)
            assert recorded == expected
            entries, lots = recorded
            assert {"earned", "clawed_back", "vested", "expiring_soon", "expired"} <= {
                e[1] for e in entries
            }
            assert any(expired for *_, expired, _, _ in lots)
            references = [(e[1], e[5]) for e in entries]
            published = payloads(
                await read_settled(
                    kafka, kafka.topics.points_events, at_least=len(references), timeout=60
                )
            )
            # Each entry once: the relay killed between sending and deleting sends nothing twice.
            assert sorted(e["data"]["reference"] for e in published) == sorted(
                r for _, r in references
            )
        finally:
            process.send_signal(signal.SIGTERM)
            # uvicorn re-raises the signal once it has shut down gracefully.
            assert process.wait(30) in (0, -signal.SIGTERM)
            assert "points service stopped cleanly" in log_path.read_text()
    finally:
        await engine.dispose()
