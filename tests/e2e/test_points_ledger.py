"""A few thousand purchases and refunds, every one redelivered, with every kind of bad
message mixed in: the ledger ends exactly where an independent computation says."""

from __future__ import annotations

import base64
import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from loyalty_kernel.events.dead_letters import KEPT_OF_OVERSIZED
from loyalty_kernel.messages import MAX_MESSAGE_BYTES
from loyalty_points.adapters.orm import BalanceRow, LedgerEntryRow
from tests.support.events import encode, purchase
from tests.support.histories import START, bad_messages, good_traffic, with_redeliveries
from tests.support.kafka import payloads, publish, read_topic
from tests.support.points import points_settings, started, wait_applied, wait_outbox_empty
from tests.support.programme import ReferenceLedger


def kept_of(value: bytes) -> bytes:
    """What a dead letter keeps of the original."""
    return value[:KEPT_OF_OVERSIZED] if len(value) > MAX_MESSAGE_BYTES else value


def expected_balances(timeline: list[Any]) -> dict[str, int]:
    reference = ReferenceLedger()
    for at, member, event in timeline:
        d = event["data"]
        if event["type"].endswith("completed.v1"):
            reference.purchase(member, d["purchase_id"], Decimal(d["amount"]), at)
        else:
            reference.refund(member, d["purchase_id"], Decimal(d["amount"]), at)
    return reference.balances


async def test_balances_match_an_independent_computation(points_database, kafka):
    rng = random.Random(20261123)
    timeline = good_traffic(rng, members=300)
    good = with_redeliveries(rng, timeline)
    bad = bad_messages(timeline)
    bad_flat = [m for msgs in bad.values() for m in msgs]
    messages = good[: len(good) // 2] + bad_flat + good[len(good) // 2 :]
    assert len(timeline) > 2500

    service = await started(points_settings(points_database, kafka, batch_size=500))
    try:
        await publish(kafka, kafka.topics.purchases, messages)
        await wait_applied(service, len(messages), timeout=120)
        await wait_outbox_empty(service)

        async with service.sessions() as session:
            rows = await session.execute(select(BalanceRow.member_id, BalanceRow.balance))
            balances = dict(rows.all())
            rows = await session.execute(
                select(LedgerEntryRow.member_id, func.sum(LedgerEntryRow.delta)).group_by(
                    LedgerEntryRow.member_id
                )
            )
            sums = dict(rows.all())
            entries = await session.scalar(select(func.count()).select_from(LedgerEntryRow))
            tiers = set(await session.scalars(select(LedgerEntryRow.tier).distinct()))
        # Earning ran at every tier's multiplier, so the comparison covers the tier rule.
        assert {"opal", "pearl", "ruby", "diamond"} <= tiers
        expected = expected_balances(timeline)
        assert {m: b for m, b in expected.items() if b != 0 or m in balances} == balances
        assert sums == balances

        dead = payloads(await read_topic(kafka, kafka.topics.purchases_dlq, expect=len(bad_flat)))
        by_reason: dict[str, list[bytes]] = {}
        for letter in dead:
            assert letter["data"]["consumer"] == "points"
            original = base64.b64decode(letter["data"]["original"]["value_base64"])
            by_reason.setdefault(letter["data"]["reason"], []).append(original)
        assert {r: sorted(v) for r, v in by_reason.items()} == {
            r: sorted(kept_of(value) for _, value in msgs) for r, msgs in bad.items()
        }

        earned = payloads(await read_topic(kafka, kafka.topics.points_events, expect=entries))
        assert len(earned) == entries
        assert len({e["id"] for e in earned}) == entries

        # Still consuming: one more purchase lands.
        late = START + timedelta(days=300)
        await publish(
            kafka,
            kafka.topics.purchases,
            [(b"m0", encode(purchase("m0", "late-p", "10.00", late)))],
        )
        await wait_applied(service, len(messages) + 1)
        async with service.sessions() as session:
            assert (await session.get(BalanceRow, "m0")).balance == balances["m0"] + 10
    finally:
        await service.stop()
