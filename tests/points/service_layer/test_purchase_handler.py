"""The batch handler on the real database: one transaction per batch, positions, dead letters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_kernel.programme import PointsLifecycle, Programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.progress import Applied
from loyalty_platform.settings import asyncpg_url
from loyalty_points.adapters.orm import BalanceRow, LedgerEntryRow, OutboxRow
from loyalty_points.service_layer.handlers import PurchaseHandler
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork
from tests.support.events import encode, purchase, refund

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
TOPICS = TopicNames()
# Points that neither wait nor expire: these tests are about batches, not the lifecycle.
STILL = PointsLifecycle(pending_days=0, expire_after_days=0)


@pytest.fixture
async def handler(points_database):
    engine = create_engine(asyncpg_url(points_database))
    sessions = session_factory(engine)
    yield PurchaseHandler(
        lambda: PointsUnitOfWork(
            sessions, currency="USD", consumer_group="points", lifecycle=STILL
        ),
        Programme(),
        TOPICS,
    )
    await engine.dispose()


def messages(n: int, *, first_offset=0, log_id="cluster-a", tag="p", start=T0):
    out = []
    for i in range(n):
        # Eight days apart: the window never holds two, so every purchase earns at opal.
        value = encode(purchase("m-1", f"{tag}{i}", "10.00", start + timedelta(days=8 * i)))
        message = InboundMessage(TOPICS.purchases, 0, first_offset + i, b"m-1", value, 0, log_id)
        out.append(translate_purchase(message))
    return out


async def balance(handler: PurchaseHandler) -> int:
    async with handler.uow() as uow:
        row = await uow.session.get(BalanceRow, "m-1")
        return row.balance if row else 0


async def count(handler: PurchaseHandler, table) -> int:
    async with handler.uow() as uow:
        return await uow.session.scalar(select(func.count()).select_from(table))


async def test_a_batch_applies_in_one_go_and_a_redelivered_batch_is_skipped(handler):
    batch = messages(5)
    first = await handler.apply(batch)
    again = await handler.apply(batch)
    assert (first.applied, first.published) == (5, 5)
    assert (again.applied, again.skipped) == (0, 5)
    assert await balance(handler) == 50
    assert await count(handler, OutboxRow) == 5


async def test_a_rejected_message_is_dead_lettered_once_even_when_redelivered(handler):
    bad = InboundMessage(TOPICS.purchases, 0, 0, b"m-1", b"{oops", 0)
    batch = [translate_purchase(bad)]
    outcome = await handler.apply(batch)
    await handler.apply(batch)
    assert [r.reason for r in outcome.rejections] == ["invalid_json"]
    async with handler.uow() as uow:
        rows = (await uow.session.execute(select(OutboxRow.topic))).scalars().all()
    assert rows == [TOPICS.purchases_dlq]


async def test_a_new_broker_log_is_applied_from_its_start(handler):
    await handler.apply(messages(5, log_id="cluster-a"))
    # The embedded broker restarted: new cluster id, offsets from 0, other purchases.
    outcome = await handler.apply(messages(3, log_id="cluster-b", tag="q", start=T0 + 365 * DAY))
    assert outcome.applied == 3
    assert await balance(handler) == 80


async def test_a_replica_behind_another_skips_what_the_other_applied(handler):
    """Replica B fetched offsets 0-1 when the log ended at 2, then waited on the position
    lock while A applied up to 5: B's batch is a redelivery, not the sign of a new log."""
    await handler.apply(messages(5))
    outcome = await handler.apply(messages(2))
    assert (outcome.applied, outcome.skipped) == (0, 2)
    assert await count(handler, LedgerEntryRow) == 5
    async with handler.uow() as uow:
        assert await uow.progress.applied([(TOPICS.purchases, 0)]) == {
            (TOPICS.purchases, 0): Applied(5, "cluster-a")
        }


async def test_a_position_is_started_again_only_from_what_it_was(handler):
    await handler.apply(messages(5))
    position = (TOPICS.purchases, 0)
    assert not await handler.start_again(position, Applied(4, "cluster-a"))  # moved on since
    assert await handler.start_again(position, Applied(5, "cluster-a"))
    outcome = await handler.apply(messages(2, tag="q", start=T0 + 365 * DAY))
    assert outcome.applied == 2
    assert await count(handler, LedgerEntryRow) == 7


def on_topic(events: list[dict], start_offset: int = 0) -> list:
    """Each event as its member's message on partition 0, offsets in order."""
    out = []
    for n, event in enumerate(events):
        key = event["subject"].encode()
        message = InboundMessage(TOPICS.purchases, 0, start_offset + n, key, encode(event), 0)
        out.append(translate_purchase(message))
    return out


def at_store(event: dict, store: str | None) -> dict:
    event["data"]["store_id"] = store
    if store is None:
        del event["data"]["store_id"]
    return event


async def balances(handler: PurchaseHandler) -> dict[str, int]:
    async with handler.uow() as uow:
        rows = await uow.session.execute(select(BalanceRow.member_id, BalanceRow.balance))
        return dict(rows.all())


@pytest.mark.parametrize("one_batch", [False, True])
async def test_two_stores_numbering_a_receipt_alike_both_earn_and_refund_their_own(
    handler, one_batch
):
    events = [
        purchase("m-1", "r-1001", "40.00", T0, store_id="store-1"),
        purchase("m-2", "r-1001", "60.00", T0 + DAY, store_id="store-2"),
        at_store(refund("m-2", "x-1", "r-1001", "30.00", T0 + 2 * DAY), "store-2"),
        at_store(refund("m-1", "x-1", "r-1001", "20.00", T0 + 3 * DAY), "store-1"),
    ]
    batch = on_topic(events)
    outcomes = [await handler.apply(batch)] if one_batch else [
        await handler.apply([item]) for item in batch
    ]  # fmt: skip
    assert [r for o in outcomes for r in o.rejections] == []
    assert await balances(handler) == {"m-1": 20, "m-2": 30}


async def test_a_reused_identity_with_other_facts_and_a_refund_naming_no_store_are_refused(
    handler,
):
    setup = [
        purchase("m-1", "r-1", "40.00", T0, store_id="store-1"),
        purchase("m-1", "r-1", "60.00", T0 + DAY, store_id="store-2"),
        purchase("m-1", "r-2", "10.00", T0 + DAY, store_id="store-1"),
    ]
    await handler.apply(on_topic(setup))
    before = await balances(handler)
    refused = [
        purchase("m-2", "r-2", "10.00", T0 + DAY, store_id="store-1"),  # another member
        purchase("m-1", "r-2", "10.00", T0 + 2 * DAY, store_id="store-1"),  # another time
        at_store(refund("m-1", "x-1", "r-1", "5.00", T0 + 2 * DAY), None),  # which r-1?
        at_store(refund("m-1", "x-2", "r-1", "5.00", T0 + 2 * DAY), "store-9"),
    ]
    outcome = await handler.apply(on_topic(refused, start_offset=len(setup)))
    assert [r.reason for r in outcome.rejections] == [
        "conflicting_duplicate", "conflicting_duplicate", "ambiguous_purchase",
        "unknown_purchase",
    ]  # fmt: skip
    assert await balances(handler) == before


async def test_a_new_members_events_on_two_partitions_at_once_both_count(points_database):
    """Tills hashing keys another way, or a partition count changed: one new member's
    purchases arrive on two partitions, applied by two consumers at the same moment."""
    engine = create_engine(asyncpg_url(points_database))
    sessions = session_factory(engine)

    def consumer() -> PurchaseHandler:
        def uow() -> PointsUnitOfWork:
            return PointsUnitOfWork(
                sessions, currency="USD", consumer_group="points", lifecycle=STILL
            )

        return PurchaseHandler(uow, Programme(), TOPICS)

    def on(partition: int, offset: int, member: str) -> list:
        value = encode(purchase(member, f"{member}-{partition}", "10.00", T0 + DAY * partition))
        message = InboundMessage(TOPICS.purchases, partition, offset, member.encode(), value, 0)
        return [translate_purchase(message)]

    try:
        members = [f"new-{n}" for n in range(20)]
        for n, m in enumerate(members):
            await asyncio.gather(consumer().apply(on(0, n, m)), consumer().apply(on(1, n, m)))
        async with sessions() as session:
            rows = await session.execute(select(BalanceRow.member_id, BalanceRow.balance))
            found = dict(rows.all())
    finally:
        await engine.dispose()
    assert found == dict.fromkeys(members, 20)


async def test_a_receipt_two_members_claim_in_one_batch_is_refused_without_a_retry(handler):
    """The first claim earns; the second, and a refund of it by the second member, are
    refused by the rules in the same batch (the database's unique index never fires, so
    the batch is not taken apart and applied message by message)."""
    events = [
        purchase("m-1", "r-7", "40.00", T0, store_id="store-1"),
        purchase("m-2", "r-7", "40.00", T0, store_id="store-1"),
        at_store(refund("m-2", "x-7", "r-7", "10.00", T0 + DAY), "store-1"),
        purchase("m-2", "r-8", "15.00", T0, store_id="store-1"),
    ]
    outcome = await handler.apply(on_topic(events))
    assert [r.reason for r in outcome.rejections] == ["conflicting_duplicate", "member_mismatch"]
    assert await balances(handler) == {"m-1": 40, "m-2": 15}
