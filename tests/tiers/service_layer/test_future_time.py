"""A purchase stamped in the future is dead-lettered as `time_in_future` and moves
nothing: not the partition's clock, not anyone's tier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from loyalty_kernel.intake.translation import PurchaseTranslator
from loyalty_kernel.messages import InboundMessage, Unprocessable
from loyalty_kernel.programme import Programme, TierPolicy
from loyalty_tiers.adapters.orm import OutboxRow, PartitionClockRow
from loyalty_tiers.service_layer import views
from tests.support.events import encode, purchase
from tests.support.tiers import partition_of
from tests.tiers.service_layer.test_tier_handler import TOPICS, make_handler

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
FAR_AHEAD = datetime(8999, 1, 1, tzinfo=UTC)


def same_partition_as(key: bytes) -> bytes:
    """Another member's key that lands on the same partition."""
    n = 0
    while partition_of(f"other-{n}".encode()) != partition_of(key):
        n += 1
    return f"other-{n}".encode()


async def test_a_future_purchase_is_dead_lettered_and_leaves_the_clock_and_tiers_alone(
    tiers_database,
):
    handler, engine = await make_handler(tiers_database)
    translate = PurchaseTranslator(timedelta(seconds=300), clock=lambda: NOW)
    diamond, liar = b"diamond-1", same_partition_as(b"diamond-1")
    p = partition_of(diamond)
    bought = NOW - timedelta(days=1)
    messages = [
        InboundMessage("purchases", p, 0, diamond, encode(purchase("diamond-1", "p-1", "150.00", bought)), 0),
        InboundMessage("purchases", p, 1, liar, encode(purchase(liar.decode(), "p-2", "5.00", FAR_AHEAD)), 0),
    ]  # fmt: skip
    batch = [translate(m) for m in messages]
    assert isinstance(batch[1], Unprocessable)
    assert batch[1].why.reason == "time_in_future"

    outcome = await handler.apply(batch)

    assert [r.reason for r in outcome.rejections] == ["time_in_future"]
    async with handler.uow() as uow:
        watermark = await uow.session.scalar(
            select(PartitionClockRow.watermark).where(PartitionClockRow.partition == p)
        )
        dead = (await uow.session.scalars(select(OutboxRow.topic))).all()
        found = await views.member_outlook(
            uow.session, "diamond-1", TierPolicy(Programme().tiers), None, "USD"
        )
        liar_found = await views.member_outlook(
            uow.session, liar.decode(), TierPolicy(Programme().tiers), None, "USD"
        )
    await engine.dispose()
    assert watermark == bought
    assert found is not None
    assert found.tier.name == "diamond"
    assert liar_found is None
    assert dead.count(TOPICS.purchases_dlq) == 1
