"""Adjusting points by hand on the real database: the balance, the ledger, the record of
who and why, the outbox event, retries, conflicts and concurrent adjustments."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from loyalty_kernel.events.envelope import derived_event_id
from loyalty_kernel.events.points import POINTS_ADJUSTED
from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage, Item
from loyalty_kernel.programme import PointsLifecycle, Programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.settings import asyncpg_url
from loyalty_points.adapters.orm import (
    AdjustmentRow,
    BalanceRow,
    LedgerEntryRow,
    LotRow,
    OutboxRow,
)
from loyalty_points.domain.entries import AdjustmentRefused
from loyalty_points.domain.lots import LotSource, lot_id_for
from loyalty_points.service_layer.adjusting import (
    Adjusting,
    AdjustmentConflict,
    AdjustPoints,
    NoAccount,
)
from loyalty_points.service_layer.handlers import PurchaseHandler
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork
from tests.support.events import encode, purchase

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
TOPICS = TopicNames()
# Points that neither wait nor expire: these tests are about batches, not the lifecycle.
STILL = PointsLifecycle(pending_days=0, expire_after_days=0)


@pytest.fixture
async def adjusting(points_database):
    engine = create_engine(asyncpg_url(points_database))
    sessions = session_factory(engine)

    def uow() -> PointsUnitOfWork:
        return PointsUnitOfWork(sessions, currency="USD", consumer_group="points", lifecycle=STILL)

    # Accounts are opened the way they are in production: by the consumer, at a purchase.
    shop = PurchaseHandler(uow, Programme(), TOPICS)
    await shop.apply([bought("m-1", "p1", "30.00", 0), bought("m-2", "p2", "10.00", 1)])
    yield Adjusting(uow, TOPICS)
    await engine.dispose()


def bought(member: str, purchase_id: str, amount: str, offset: int) -> Item[object]:
    value = encode(purchase(member, purchase_id, amount, T0))
    message = InboundMessage(TOPICS.purchases, 0, offset, member.encode(), value, 0, "log")
    return translate_purchase(message)


def adjust(points: int, adjustment_id: str = "a-1", *, member: str = "m-1",
           reason: str = "goodwill", actor: str = "ops_1") -> AdjustPoints:  # fmt: skip
    return AdjustPoints(adjustment_id, member, points, reason, actor)


async def state(adjusting: Adjusting) -> dict[str, list]:
    """Everything an adjustment may write, to show that a refused one wrote nothing."""
    queries = {
        "balances": select(BalanceRow.member_id, BalanceRow.balance).order_by(BalanceRow.member_id),
        "entries": select(LedgerEntryRow.member_id, LedgerEntryRow.kind, LedgerEntryRow.delta,
                          LedgerEntryRow.reference).order_by(LedgerEntryRow.id),
        "adjustments": select(AdjustmentRow.adjustment_id, AdjustmentRow.points,
                              AdjustmentRow.reason).order_by(AdjustmentRow.adjustment_id),
        "outbox": select(OutboxRow.id).order_by(OutboxRow.id),
    }  # fmt: skip
    async with adjusting.uow() as uow:
        return {name: [tuple(r) for r in await uow.session.execute(query)]
                for name, query in queries.items()}  # fmt: skip


async def adjusted_events(adjusting: Adjusting) -> list[tuple[str, bytes | None, dict]]:
    async with adjusting.uow() as uow:
        rows = await uow.session.scalars(select(OutboxRow).order_by(OutboxRow.id))
        events = [(r.topic, r.key, json.loads(r.value)) for r in rows]
    return [e for e in events if e[2]["type"] == POINTS_ADJUSTED]


async def test_an_adjustment_moves_the_balance_and_records_the_reason_and_actor(adjusting):
    adjustment, made = await adjusting.adjust(adjust(-45, reason="earned on a voided sale"), T0)
    assert made
    assert (adjustment.points, adjustment.balance_after, adjustment.made_at) == (-45, -15, T0)
    after = await state(adjusting)
    assert after["balances"] == [("m-1", -15), ("m-2", 10)]
    assert after["entries"][-1] == ("m-1", "adjusted", -45, "a-1")
    async with adjusting.uow() as uow:
        row = await uow.session.get(AdjustmentRow, "a-1")
        assert row is not None
        recorded = (row.member_id, row.points, row.reason, row.actor, row.made_at,
                    row.balance_after)  # fmt: skip
    assert recorded == ("m-1", -45, "earned on a voided sale", "ops_1", T0, -15)


async def test_an_adjustment_publishes_one_event_through_the_outbox(adjusting):
    await adjusting.adjust(adjust(20, reason="late delivery"), T0)
    [(topic, key, event)] = await adjusted_events(adjusting)
    assert (topic, key) == (TOPICS.points_events, b"m-1")
    assert event["id"] == derived_event_id("adjusted", "a-1")
    assert (event["subject"], event["time"]) == ("m-1", "2026-11-01T12:00:00Z")
    lot = lot_id_for("m-1", LotSource.ADJUSTMENT, None, "a-1")
    assert event["data"] == {
        "member_id": "m-1", "delta": 20, "balance_after": 50, "available_after": 50,
        "reference": "a-1", "reason": "late delivery", "actor": "ops_1", "purchase_id": None,
        "store_id": None, "lots": [{"lot_id": lot, "points": 20}],
    }  # fmt: skip


async def test_a_repeat_with_the_same_facts_is_the_first_adjustment_and_changes_nothing(
    adjusting,
):
    first, _ = await adjusting.adjust(adjust(20), T0)
    before = await state(adjusting)
    # Another key and a later moment: the retry is still the same correction.
    again, made = await adjusting.adjust(adjust(20, actor="ops_2"), T0 + timedelta(hours=1))
    assert (again, made) == (first, False)
    assert await state(adjusting) == before


@pytest.mark.parametrize(
    "other",
    [adjust(21), adjust(20, reason="something else"), adjust(20, member="m-2")],
    ids=["points", "reason", "member"],
)
async def test_a_repeat_with_other_facts_is_a_conflict_and_changes_nothing(adjusting, other):
    await adjusting.adjust(adjust(20), T0)
    before = await state(adjusting)
    with pytest.raises(AdjustmentConflict):
        await adjusting.adjust(other, T0)
    assert await state(adjusting) == before


@pytest.mark.parametrize("points", [0, 1_000_001, -1_000_001])
async def test_a_refused_adjustment_changes_nothing(adjusting, points):
    before = await state(adjusting)
    with pytest.raises(AdjustmentRefused):
        await adjusting.adjust(adjust(points), T0)
    assert await state(adjusting) == before


async def test_a_member_with_no_account_is_refused_and_given_none(adjusting):
    before = await state(adjusting)
    with pytest.raises(NoAccount):
        await adjusting.adjust(adjust(20, member="m-9"), T0)
    assert await state(adjusting) == before


async def test_concurrent_adjustments_of_one_member_and_their_retries_each_apply_once(adjusting):
    asked = [adjust(1, f"a-{n % 20}") for n in range(40)]
    answers = await asyncio.gather(*(adjusting.adjust(cmd, T0) for cmd in asked))
    assert sum(made for _, made in answers) == 20
    after = await state(adjusting)
    assert after["balances"][0] == ("m-1", 50)
    async with adjusting.uow() as uow:
        entries = await uow.session.scalars(
            select(LedgerEntryRow).where(LedgerEntryRow.kind == "adjusted")
        )
        # Serialised by the balance lock: each adjustment saw the one before it.
        assert sorted(e.balance_after for e in entries) == list(range(31, 51))
    assert len(after["adjustments"]) == len(await adjusted_events(adjusting)) == 20


async def test_one_adjustment_id_raced_for_two_members_is_made_once(adjusting):
    answers = await asyncio.gather(
        adjusting.adjust(adjust(5, "a-x"), T0),
        adjusting.adjust(adjust(5, "a-x", member="m-2"), T0),
        return_exceptions=True,
    )
    assert sorted(type(a).__name__ for a in answers) == ["AdjustmentConflict", "tuple"]
    after = await state(adjusting)
    assert len(after["adjustments"]) == len(await adjusted_events(adjusting)) == 1
    assert sum(balance for _, balance in after["balances"]) == 30 + 10 + 5


async def test_a_debt_paid_off_and_owed_again_goes_to_the_same_debt_lot(adjusting):
    """Each adjustment is a unit of work of its own: the paid-off debt lot is loaded
    again, not opened a second time."""
    for n, points in enumerate((-40, 40, -45, 5)):
        made, _ = await adjusting.adjust(adjust(points, f"a-{n}"), T0 + timedelta(hours=n))
        assert made.points == points
    async with adjusting.uow() as uow:
        lots = [(lot.source, lot.remaining) for lot in await uow.session.scalars(
            select(LotRow).where(LotRow.member_id == "m-1"))]  # fmt: skip
        balance = (await uow.session.get(BalanceRow, "m-1")).balance
    assert [left for source, left in lots if source == "debt"] == [-10]
    assert balance == sum(left for _, left in lots) == 30 - 40 + 40 - 45 + 5
