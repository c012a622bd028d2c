"""The points service reaches PostgreSQL through a proxy that turns slow, cuts every
connection mid-batch, and refuses connections for a while as a restarting server does,
all while the tills post. The ledger ends equal to the reference, nothing counted twice,
and no valid purchase is dead-lettered for what the database did."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from loyalty_cli.dlq import read_letters
from loyalty_points.adapters.orm import BalanceRow, ConsumerProgressRow, LedgerEntryRow
from tests.support.db_proxy import DatabaseProxy
from tests.support.kafka import post_slowly
from tests.support.points import points_settings, started, traffic


async def applied(service) -> int:
    async with service.sessions() as session:
        return int(await session.scalar(select(func.sum(ConsumerProgressRow.next_offset))) or 0)


async def faults(proxy: DatabaseProxy) -> None:
    """Three cuts, a slow spell, and a restart: two seconds refusing, every link cut."""
    for _ in range(3):
        await asyncio.sleep(0.8)
        proxy.reset()
    proxy.latency = 0.03
    await asyncio.sleep(2)
    proxy.latency = 0.0
    proxy.refusing = True
    proxy.reset()
    await asyncio.sleep(2)
    proxy.refusing = False


async def test_a_slow_cut_and_restarted_database_loses_nothing_and_letters_nothing(
    points_database, kafka
):
    proxy = DatabaseProxy(points_database)
    await proxy.start()
    database = urlsplit(points_database).path.lstrip("/")
    settings = points_settings(
        proxy.url_for(database), kafka, batch_size=200, relay_takeover_seconds=1
    )
    messages, expected = traffic(members=150, per_member=20)
    service = await started(settings)
    try:
        await asyncio.gather(post_slowly(kafka, messages, chunks=30), faults(proxy))
        faults_over = time.monotonic()
        deadline = faults_over + 120
        while True:
            try:
                if await applied(service) == len(messages):
                    break
            except (OSError, DBAPIError):  # the pool may still hold a cut connection
                pass
            assert time.monotonic() < deadline, "the service did not recover"
            await asyncio.sleep(0.2)
        recovered = time.monotonic() - faults_over
        async with service.sessions() as session:
            balances = dict(
                (await session.execute(select(BalanceRow.member_id, BalanceRow.balance))).all()
            )
            references = (await session.execute(select(LedgerEntryRow.kind, LedgerEntryRow.reference))).all()  # fmt: skip
        letters = await read_letters(kafka, timeout=10)
        retried = service.metrics.registry.get_sample_value("loyalty_batch_retries_total") or 0
    finally:
        await service.stop()
        await proxy.stop()

    lost = sum(1 for m, b in expected.items() if balances.get(m) != b)
    twice = len(references) - len(set(references))
    print(
        f"\ndatabase faults: {len(messages)} events through {proxy.resets} cuts, a 30 ms "
        f"spell and a 2 s restart; members off the reference {lost}, entries twice {twice}, "
        f"dead letters {len(letters)}, batches retried {retried:.0f}; all applied "
        f"{recovered:.1f}s after the last fault"
    )
    assert retried > 0, "no fault reached a batch: nothing was tested"
    assert balances == expected
    assert twice == 0
    assert letters == []
