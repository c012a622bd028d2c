"""The lot clock on the real database: lots vest, are warned of and expire at their own
moments on the partitions' clocks, whatever the batching; and live, by the sweeper."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_kernel.programme import Programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.kafka import partition_of
from loyalty_points.adapters.orm import (
    BalanceRow,
    LedgerEntryRow,
    LotRow,
    OutboxRow,
    PartitionClockRow,
)
from loyalty_points.bootstrap import in_process_handler
from loyalty_points.migrations import MIGRATIONS_DIR
from loyalty_points.service_layer.handlers import PurchaseHandler
from tests.support.events import encode, purchase, refund
from tests.support.points import ledger_snapshot, lifecycle_log

T0 = datetime(2025, 1, 6, 10, tzinfo=UTC)
TOPICS = TopicNames()
PROGRAMME = Programme()  # 7 days pending, 365 to expiry, warned 30 days before


def handler_on(url: str) -> tuple[PurchaseHandler, AsyncEngine]:
    return in_process_handler(url, PROGRAMME)


async def run(url: str, messages: list, batch: int) -> tuple[list, list, list]:
    handler, engine = handler_on(url)
    try:
        items = [translate_purchase(m) for m in messages]
        for start in range(0, len(items), batch):
            outcome = await handler.apply(items[start : start + batch])
            assert outcome.rejections == []
        async with handler.uow() as uow:
            entries, lots = await ledger_snapshot(uow.session)
            events = sorted(json.loads(r.value)["id"] for r in await uow.session.scalars(
                select(OutboxRow)))  # fmt: skip
        return entries, lots, events
    finally:
        await engine.dispose()


async def test_the_same_log_gives_the_same_lots_entries_and_events_however_it_is_batched(
    new_database,
):
    messages = lifecycle_log(members=12, days=800, start=T0)
    one_go = await run(await new_database(MIGRATIONS_DIR), messages, batch=len(messages))
    singly = await run(await new_database(MIGRATIONS_DIR), messages, batch=1)
    sevens = await run(await new_database(MIGRATIONS_DIR), messages, batch=7)
    assert one_go == singly == sevens
    entries, _, events = one_go
    kinds = {e[1] for e in entries}
    assert {"earned", "clawed_back", "vested", "expiring_soon", "expired"} <= kinds
    assert len(events) == len(entries)
    # Each member's moments come in time order, whatever the partitions' interleaving.
    for member in {e[0] for e in entries}:
        moments = [e[8] for e in entries if e[0] == member and e[1] in ("vested", "expired")]
        assert moments == sorted(moments)


async def test_the_sweeper_lets_quiet_members_points_vest_and_expire_by_the_wall_clock(
    points_database,
):
    handler, engine = handler_on(points_database)
    try:
        on = [InboundMessage(TOPICS.purchases, p, 0, m.encode(), encode(purchase(m, f"{m}-1",
              "40.00", T0)), 0, "log") for p, m in ((0, "m-0"), (1, "m-1"))]  # fmt: skip
        await handler.apply([translate_purchase(on[0])])
        await handler.apply([translate_purchase(on[1])])
        assert await handler.sweep([0], T0 + timedelta(days=7)) == 1  # m-0 vests; m-1 waits
        assert await handler.sweep([0, 1], T0 + timedelta(days=370)) == 5
        async with handler.uow() as uow:
            rows = [
                (r.member_id, r.kind, r.occurred_at, r.available_after)
                for r in await uow.session.scalars(
                    select(LedgerEntryRow).order_by(LedgerEntryRow.id)
                )
            ]
            types = [json.loads(r.value)["type"] for r in await uow.session.scalars(
                select(OutboxRow).order_by(OutboxRow.id))]  # fmt: skip
        mine = [r[1:] for r in rows if r[0] == "m-0"]
        assert mine == [
            ("earned", T0, 0),
            ("vested", T0 + timedelta(days=7), 40),
            ("expiring_soon", T0 + timedelta(days=335), 40),
            ("expired", T0 + timedelta(days=365), 0),
        ]
        assert [r[1] for r in rows if r[0] == "m-1"] == ["earned", "vested",
                                                                  "expiring_soon", "expired"]  # fmt: skip
        assert types.count("loyalty.points.vested.v1") == 2
        assert types.count("loyalty.points.expired.v1") == 2
        assert await handler.sweep([0, 1], T0 + timedelta(days=800)) == 0  # once each
    finally:
        await engine.dispose()


async def test_a_member_from_before_lots_is_placed_on_its_keys_partition_and_then_swept(
    points_database,
):
    handler, engine = handler_on(points_database)
    try:
        member = "m-7"
        home = partition_of(member, 2)
        bought = InboundMessage(TOPICS.purchases, home, 0, member.encode(),
                                encode(purchase(member, "p1", "40.00", T0)), 0, "log")  # fmt: skip
        await handler.apply([translate_purchase(bought)])
        async with handler.uow() as uow:  # as migration 0007 leaves it: no partition, no clock
            await uow.session.execute(update(BalanceRow).values(partition=None))
            await uow.session.execute(delete(PartitionClockRow))
            await uow.commit()
        assert await handler.sweep([0, 1], T0 + timedelta(days=8)) == 0
        assert await handler.place(2) == 1
        assert await handler.place(2) == 0
        async with handler.uow() as uow:
            assert (await uow.session.get(BalanceRow, member)).partition == home
        assert await handler.sweep([home], T0 + timedelta(days=8)) == 1
    finally:
        await engine.dispose()


async def test_a_refused_message_moves_no_clock(points_database):
    handler, engine = handler_on(points_database)
    try:

        def on(offset: int, event: dict) -> object:
            return translate_purchase(InboundMessage(TOPICS.purchases, 0, offset, b"m-0",
                                                     encode(event), 0, "log"))  # fmt: skip

        await handler.apply([on(0, purchase("m-0", "p1", "40.00", T0))])
        unknown = refund("m-0", "r1", "no-such-purchase", "5.00", T0 + timedelta(days=10))
        outcome = await handler.apply([on(1, unknown)])
        assert [r.reason for r in outcome.rejections] == ["unknown_purchase"]
        async with handler.uow() as uow:
            kinds = list(await uow.session.scalars(select(LedgerEntryRow.kind)))
            watermark = await uow.ledgers.clocks.watermark(0)
        assert (kinds, watermark) == (["earned"], T0)
    finally:
        await engine.dispose()


async def sweep_log(url: str, members_per_step: int) -> tuple[list, int]:
    """Nine members of one partition buy on six days (three share a day), and a sweep
    long after lets every lot vest, be warned of and expire."""
    handler, engine = handler_on(url)
    try:
        days = [0, 1, 1, 1, 2, 3, 3, 5, 8]
        bought = [InboundMessage(TOPICS.purchases, 0, i, f"m-{i}".encode(), encode(purchase(
                  f"m-{i}", f"p{i}", "40.00", T0 + timedelta(days=d))), 0, "log")
                  for i, d in enumerate(days)]  # fmt: skip
        await handler.apply([translate_purchase(m) for m in bought])
        staged = await handler.sweep([0], T0 + timedelta(days=400), members=members_per_step)
        async with handler.uow() as uow:
            entries = [(r.member_id, r.kind, r.occurred_at, r.balance_after, r.lots)
                       for r in await uow.session.scalars(select(LedgerEntryRow).order_by(
                           LedgerEntryRow.member_id, LedgerEntryRow.id))]  # fmt: skip
            clock = (await uow.session.get(PartitionClockRow, 0)).watermark
        assert clock == T0 + timedelta(days=400)
        return entries, staged
    finally:
        await engine.dispose()


@pytest.mark.parametrize("per_step", [1, 2])
async def test_a_sweep_in_small_steps_settles_the_same_as_one_in_a_single_step(
    new_database, per_step
):
    """Members due at distinct moments and three at a shared one, fewer per step than
    share it."""
    stepped = await sweep_log(await new_database(MIGRATIONS_DIR), members_per_step=per_step)
    whole = await sweep_log(await new_database(MIGRATIONS_DIR), members_per_step=1000)
    assert stepped == whole
    # Four lots vested as the purchases moved the clock to day 8; the sweep did the rest.
    assert stepped[1] == 9 * 3 - 4
    assert len(stepped[0]) == 9 * 4  # earned, vested, expiring_soon, expired: once per lot
    assert [e[1] for e in stepped[0] if e[0] == "m-2"] == ["earned", "vested", "expiring_soon",
                                                          "expired"]  # fmt: skip


async def test_balance_rows_claiming_a_moment_their_lots_lack_do_not_stall_the_sweep(
    points_database,
):
    handler, engine = handler_on(points_database)
    try:
        bought = [InboundMessage(TOPICS.purchases, 0, i, m.encode(), encode(purchase(
                  m, f"p{i}", "40.00", T0)), 0, "log") for i, m in enumerate(("m-1", "m-2"))]  # fmt: skip
        await handler.apply([translate_purchase(m) for m in bought])
        async with handler.uow() as uow:  # hand-edited rows: their lots are gone
            await uow.session.execute(delete(LotRow))
            await uow.commit()
        # One member per step, both due at one moment: a step that settles nobody and
        # moves no clock ends the sweep instead of repeating for ever.
        sweep = handler.sweep([0], T0 + timedelta(days=9), members=1)
        assert await asyncio.wait_for(sweep, 20) == 0
    finally:
        await engine.dispose()
