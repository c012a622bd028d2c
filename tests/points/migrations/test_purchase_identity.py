"""Migration 0006: purchases keyed by store and receipt number. What was recorded
before it keeps counting: a purchase kept without a store gets the unknown store, and
a refund naming any store still finds it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_kernel.programme import PointsLifecycle, Programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.migrations import alembic_config, upgrade
from loyalty_platform.settings import asyncpg_url
from loyalty_points.migrations import MIGRATIONS_DIR
from loyalty_points.service_layer.handlers import PurchaseHandler
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork
from tests.support.events import encode, refund

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def execute(url: str, statement: str) -> list:
    engine = create_engine(asyncpg_url(url))
    try:
        async with engine.begin() as conn:
            rows: list = []
            for one in filter(str.strip, statement.split(";")):
                result = await conn.execute(text(one))
                rows = list(result) if result.returns_rows else []
            return rows
    finally:
        await engine.dispose()


async def test_purchases_kept_before_become_store_keyed_and_refundable(new_database):
    url = await new_database(None)
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url, "0005")
    await execute(
        url,
        """insert into points.purchases (purchase_id, member_id, amount, occurred_at,
                                         points_earned, store_id)
           values ('p-old', 'm-1', 40.00, '2026-10-01T12:00:00Z', 40, null),
                  ('p-new', 'm-1', 20.00, '2026-10-02T12:00:00Z', 20, 'store-17');
           insert into points.refunds (refund_id, purchase_id, amount, occurred_at,
                                       points_clawed_back)
           values ('x-1', 'p-new', 5.00, '2026-10-03T12:00:00Z', 5);
           insert into points.ledger_entries (member_id, kind, delta, balance_after,
                                              reference, purchase_id, occurred_at)
           values ('m-1', 'earned', 40, 40, 'p-old', 'p-old', '2026-10-01T12:00:00Z'),
                  ('m-1', 'earned', 20, 60, 'p-new', 'p-new', '2026-10-02T12:00:00Z'),
                  ('m-1', 'clawed_back', -5, 55, 'x-1', 'p-new', '2026-10-03T12:00:00Z');
           insert into points.balances (member_id, balance) values ('m-1', 55);""",
    )
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url)

    keys = await execute(url, "select store_id, purchase_id from points.purchases order by 2")
    assert [tuple(k) for k in keys] == [("store-17", "p-new"), ("", "p-old")]
    refunds = await execute(url, "select store_id, purchase_id, refund_id from points.refunds")
    assert [tuple(r) for r in refunds] == [("store-17", "p-new", "x-1")]
    entries = await execute(url, "select store_id from points.ledger_entries order by id")
    assert [e[0] for e in entries] == ["", "store-17", "store-17"]

    # A refund of the old purchase, named at the store that sold it, claws back.
    event = refund("m-1", "x-2", "p-old", "10.00", T0 + timedelta(days=1))
    event["data"]["store_id"] = "store-3"
    message = InboundMessage("purchases", 0, 0, b"m-1", encode(event), 0, "log-1")
    engine = create_engine(asyncpg_url(url))
    sessions = session_factory(engine)
    handler = PurchaseHandler(
        lambda: PointsUnitOfWork(
            sessions, currency="USD", consumer_group="points", lifecycle=PointsLifecycle()
        ),
        Programme(),
        TopicNames(),
    )
    try:
        outcome = await handler.apply([translate_purchase(message)])
    finally:
        await engine.dispose()
    assert outcome.rejections == []
    assert await execute(url, "select balance from points.balances") == [(45,)]

    await asyncio.to_thread(
        command.downgrade, alembic_config(MIGRATIONS_DIR, url), "0005"
    )  # and back, while no receipt number is shared
    assert len(await execute(url, "select * from points.purchases")) == 2
