"""The outbox relay SIGKILLed mid-stream, again and again: every row reaches the broker
exactly once, each member's rows in order."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.outbox import Outbox
from loyalty_platform.settings import asyncpg_url
from loyalty_points.adapters.orm import OutboxRow
from tests.support.kafka import read_all
from tests.support.relay_process import RUNNING

ROWS, MEMBERS, KILLS = 20_000, 50, 8
# How long a relay waits before it takes over from one that did not let go. The one
# before it here is dead, and was for the second or so a new process takes to start:
# nothing it sent can still be on its way.
TAKEOVER_SECONDS = "0.2"


def event(n: int) -> CloudEvent:
    return CloudEvent(
        specversion="1.0", id=f"e-{n}", source="test", type="test.happened.v1",
        time=datetime(2026, 11, 23, tzinfo=UTC), subject=f"m-{n % MEMBERS}", data={"n": n},
    )  # fmt: skip


def spawn(database_url: str, bootstrap: str, log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.support.relay_process", database_url, bootstrap]
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*command, TAKEOVER_SECONDS],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def running(tmp_path) -> int:
    """How many relay processes have got as far as publishing."""
    return (tmp_path / "relay.log").read_text().count(RUNNING)


async def pending(sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


async def test_a_relay_killed_between_send_and_delete_publishes_each_row_once(
    points_database, kafka, tmp_path
):
    topic = kafka.topics.points_events
    engine = create_engine(asyncpg_url(points_database))
    sessions = session_factory(engine)
    async with sessions() as session:
        outbox = Outbox(session, OutboxRow)
        for n in range(ROWS):
            outbox.add(topic, f"m-{n % MEMBERS}", event(n))
        await outbox.flush()
        await session.commit()

    chance = random.Random(13)
    kills = 0
    log = tmp_path / "relay.log"
    try:
        while kills < KILLS:
            before = await pending(sessions)
            process = spawn(points_database, kafka.bootstrap_servers, log)
            while await pending(sessions) == before:  # wait for it to be under way
                assert process.poll() is None, (tmp_path / "relay.log").read_text()
                await asyncio.sleep(0.01)
            await asyncio.sleep(chance.uniform(0.0, 0.08))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            if await pending(sessions) == 0:
                break
        killed_at = time.monotonic()
        process = spawn(points_database, kafka.bootstrap_servers, log)
        while await pending(sessions) or running(tmp_path) < kills + 1:
            assert process.poll() is None, (tmp_path / "relay.log").read_text()
            await asyncio.sleep(0.05)
        recovered = time.monotonic() - killed_at
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        await engine.dispose()

    records = await read_all(kafka, topic)  # the last relay stopped with the outbox empty
    numbers = [json.loads(r.value)["data"]["n"] for r in records]
    copies = Counter(numbers)
    duplicated = sum(c - 1 for c in copies.values())
    lost = ROWS - len(copies)
    print(
        f"\nrelay SIGKILLed {kills} times: {ROWS} rows sent, {lost} lost, "
        f"{duplicated} published twice, the last run emptied the outbox in {recovered:.1f}s"
    )
    assert kills >= 3, "the relay finished before it could be killed often enough"
    assert (lost, duplicated) == (0, 0)
    by_member: dict[bytes, list[int]] = {}
    for record, n in zip(records, numbers, strict=True):
        by_member.setdefault(record.key, []).append(n)
    assert all(ns == sorted(ns) for ns in by_member.values())
    assert len(by_member) == MEMBERS
