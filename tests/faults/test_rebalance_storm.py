"""Three replicas of the points service joining and leaving the group while the tills
keep posting: every partition changes hands again and again, batches are fetched by a
replica that is about to lose them, positions are read by one and advanced by another.
The ledger ends equal to the reference, nothing counted twice, no partition stalled,
and no position ever taken for a new log."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlalchemy import func, select

from loyalty_points.adapters.orm import BalanceRow, ConsumerProgressRow, LedgerEntryRow
from tests.support.kafka import post_slowly
from tests.support.points import points_settings, started, traffic

MEMBERS, PER_MEMBER = 150, 30
STEPS = 6  # a replica started or stopped at each


async def applied(service) -> int:
    async with service.sessions() as session:
        return int(await session.scalar(select(func.sum(ConsumerProgressRow.next_offset))) or 0)


async def test_replicas_joining_and_leaving_mid_stream_keep_the_ledger_exact(
    points_database, kafka, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="loyalty_platform.known_logs")
    messages, expected = traffic(MEMBERS, PER_MEMBER)
    settings = points_settings(
        points_database, kafka, batch_size=200, session_timeout_seconds=6,
        relay_takeover_seconds=1,
    )  # fmt: skip
    replicas = [await started(settings)]
    posting = asyncio.create_task(post_slowly(kafka, messages, chunks=40, pause=0.25))
    began = time.monotonic()
    moves = 0
    try:
        for step in range(STEPS):
            await asyncio.sleep(1.5)
            if step % 3 == 2 and len(replicas) > 1:
                await replicas.pop(0).stop()  # the oldest leaves
            else:
                replicas.append(await started(settings))
            moves += 1
        await posting
        posted_at = time.monotonic()
        deadline = posted_at + 120
        while await applied(replicas[0]) < len(messages):
            assert time.monotonic() < deadline, "a partition stalled"
            await asyncio.sleep(0.2)
        caught_up = time.monotonic() - posted_at
        async with replicas[0].sessions() as session:
            balances = dict(
                (await session.execute(select(BalanceRow.member_id, BalanceRow.balance))).all()
            )
            references = (await session.execute(select(LedgerEntryRow.kind, LedgerEntryRow.reference))).all()  # fmt: skip
    finally:
        posting.cancel()
        for replica in replicas:
            await replica.stop()

    lost = sum(1 for m, b in expected.items() if balances.get(m) != b)
    twice = len(references) - len(set(references))
    restarts = [r for r in caplog.records if "a new log" in r.getMessage()]
    print(
        f"\nrebalance storm: {len(messages)} events, {moves} joins and leaves in "
        f"{posted_at - began:.1f}s; members off the reference {lost}, entries twice {twice}, "
        f"logs taken for new {len(restarts)}; caught up {caught_up:.1f}s after the last post"
    )
    assert balances == expected
    assert twice == 0
    assert restarts == []
