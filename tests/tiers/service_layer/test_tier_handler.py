"""The tier handler on the real database: the same log gives the same tier changes
however it is cut into batches; holds run out by the partition's clock; a sweep by
the wall clock downgrades each member once."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from loyalty_kernel.messages import Item
from loyalty_kernel.programme import Programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.settings import asyncpg_url
from loyalty_tiers.adapters.orm import MemberRow
from loyalty_tiers.migrations import MIGRATIONS_DIR
from loyalty_tiers.service_layer.handlers import TierHandler
from loyalty_tiers.service_layer.unit_of_work import TiersUnitOfWork
from tests.support.events import encode, purchase
from tests.support.histories import START, bad_messages, good_traffic, with_redeliveries
from tests.support.tiers import as_inbound, expected_tiers, partition_of, snapshot

TOPICS = TopicNames()
DAY = timedelta(days=1)


async def make_handler(url: str) -> tuple[TierHandler, Any]:
    engine = create_engine(asyncpg_url(url))
    sessions = session_factory(engine)
    handler = TierHandler(
        lambda: TiersUnitOfWork(sessions, currency="USD", consumer_group="tiers"),
        Programme(),
        TOPICS,
    )
    return handler, engine


async def apply_in_batches(
    handler: TierHandler, batch: list[Item[object]], sizes: list[int]
) -> None:
    i, n = 0, 0
    while i < len(batch):
        size = sizes[n % len(sizes)]
        # By partition, as the broker hands them out: each partition's order kept.
        chunk = sorted(batch[i : i + size], key=lambda x: x.message.partition)
        await handler.apply(chunk)
        i, n = i + size, n + 1


async def test_any_cut_into_batches_gives_the_same_changes_and_the_reference_tiers(
    tiers_database, new_database
):
    rng = random.Random(7)
    timeline = good_traffic(rng, members=60)
    good = with_redeliveries(rng, timeline)
    bad = [m for msgs in bad_messages(timeline).values() for m in msgs]
    batch = as_inbound(good[: len(good) // 2] + bad + good[len(good) // 2 :])

    whole, engine_a = await make_handler(tiers_database)
    cut, engine_b = await make_handler(await new_database(MIGRATIONS_DIR))
    try:
        outcome = await whole.apply(batch)
        assert len(outcome.rejections) == len(bad)
        await apply_in_batches(cut, batch, [1, 7, 31, 3, 150])
        first, second = await snapshot(whole.uow), await snapshot(cut.uow)
    finally:
        await engine_a.dispose()
        await engine_b.dispose()

    assert first == second
    changes, members, events = first
    assert len(events) == len(changes) == outcome.published
    assert {c[5] for c in changes} == {"purchase", "refund", "hold_expired"}
    assert {c[3] for c in changes} == {"opal", "pearl", "ruby", "diamond"}
    assert {m[0]: m[1] for m in members} == expected_tiers(timeline, partition_of)


async def test_holds_run_out_by_the_partitions_clock_and_a_sweep_downgrades_once(
    tiers_database,
):
    handler, engine = await make_handler(tiers_database)
    diamond, other = b"m-diamond", b"m-other"
    assert partition_of(diamond) != partition_of(other)  # the clocks are per partition
    try:
        await handler.apply(
            as_inbound([(diamond, encode(purchase("m-diamond", "p1", "100", START)))])
        )
        # Another partition's time passing does not move this member.
        late = START + 40 * DAY
        await handler.apply(as_inbound([(other, encode(purchase("m-other", "p2", "5", late)))]))
        async with handler.uow() as uow:
            assert (await uow.session.get(MemberRow, "m-diamond")).tier == "diamond"

        p = partition_of(diamond)
        assert await handler.sweep([p], START + 35 * DAY - timedelta(seconds=1)) == 0
        assert await handler.sweep([p], START + 60 * DAY) == 1
        assert await handler.sweep([p], START + 61 * DAY) == 0
        changes, _, events = await snapshot(handler.uow)
    finally:
        await engine.dispose()
    down = [c for c in changes if c[0] == "m-diamond"][-1]
    assert down[2:6] == ("diamond", "opal", START + 35 * DAY, "hold_expired")
    assert len(events) == 2


async def test_a_receipt_two_members_claim_in_one_batch_is_refused_without_a_retry(
    tiers_database,
):
    handler, engine = await make_handler(tiers_database)
    try:
        claims = [
            (b"m-1", encode(purchase("m-1", "r-7", "40.00", START, store_id="store-1"))),
            (b"m-2", encode(purchase("m-2", "r-7", "40.00", START, store_id="store-1"))),
        ]
        outcome = await handler.apply(as_inbound(claims))
    finally:
        await engine.dispose()
    assert [r.reason for r in outcome.rejections] == ["conflicting_duplicate"]
