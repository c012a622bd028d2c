"""A receipt two members claim in one batch: the first is watched, the second refused
by the rules (`conflicting_duplicate`), not by the database."""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty_churn.bootstrap import build
from loyalty_kernel.messages import InboundMessage
from tests.support.churn import churn_settings
from tests.support.events import encode, purchase

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)


async def test_a_receipt_two_members_claim_in_one_batch_is_refused_by_the_rules(
    churn_database, kafka
):
    service = build(churn_settings(churn_database, kafka, clock="event"))
    topic = kafka.topics.purchases
    claims = [
        (b"m-1", purchase("m-1", "r-7", "40.00", START, store_id="store-1")),
        (b"m-2", purchase("m-2", "r-7", "40.00", START, store_id="store-1")),
    ]
    batch = [
        InboundMessage(topic, 0, n, key, encode(e), 0, "log-1") for n, (key, e) in enumerate(claims)
    ]
    try:
        outcome = await service.handler.apply(service.runner.translate(batch))
    finally:
        await service.engine.dispose()
    assert [r.reason for r in outcome.rejections] == ["conflicting_duplicate"]
